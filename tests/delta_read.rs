//! The delta read (`src/catalog/delta.rs`): after DDL ran on a database whose reading is known,
//! reading only the objects whose catalog rows changed gives exactly what a full read gives.
//!
//! The invariant is checked on the whole `Schema` (its `Debug` text, dependency edges,
//! owners and unmodeled objects included; only the plan-time table sizes are left out), after
//! hand-picked changes that reach objects through another one (a rename rendered in a view, an
//! index dropped by a cascade, a comment on an untouched object ...), after seeded random DDL
//! sequences (some statements of which fail and roll back), and after the plan of every
//! fixture. Each hand-picked case also checks that the read really was a delta read (a full
//! read would pass the comparison trivially), and that a second delta read with nothing
//! changed reads nothing again.

mod common;

use common::LoadedDb;
use schemaplan::catalog::{self, delta};
use schemaplan::model::Schema;
use schemaplan::shadow::reading;
use std::path::{Path, PathBuf};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Role names are rendered in owners, grants and policies, so a delta read is full when roles
/// were created, dropped or renamed anywhere on the server. The tests that do that (and the
/// fixtures, some of which create roles) run alone; the others share this lock.
static ROLES: RwLock<()> = RwLock::new(());

fn shared() -> RwLockReadGuard<'static, ()> {
    common::server().ensure_roles(&["reader", "app_user"]);
    ROLES.read().unwrap_or_else(|e| e.into_inner())
}

fn alone() -> RwLockWriteGuard<'static, ()> {
    common::server().ensure_roles(&["reader", "app_user"]);
    ROLES.write().unwrap_or_else(|e| e.into_inner())
}

/// The comparable text of a schema: everything but the sizes (data, not catalog).
fn text(s: &Schema) -> String {
    let mut s = s.clone();
    s.sizes.clear();
    format!("{s:#?}")
}

fn assert_same(delta: &Schema, full: &Schema, what: &str) {
    let (d, f) = (text(delta), text(full));
    if d != f {
        let diff = similar::TextDiff::from_lines(&f, &d)
            .unified_diff()
            .header("full read", "delta read")
            .to_string();
        panic!("{what}: the delta read differs from a full read:\n{diff}");
    }
}

/// A schema with something of every kind the big queries read, referring to each other.
const BASE: &str = r#"
CREATE SCHEMA app;
CREATE TYPE app.status AS ENUM ('new', 'paid', 'gone');
CREATE DOMAIN app.money AS numeric(12,2) CHECK (VALUE >= 0);
CREATE TYPE app.pair AS (a int, b text);
CREATE SEQUENCE app.ticket_seq START 100;
CREATE TABLE app.customers (
  id bigint PRIMARY KEY,
  name text NOT NULL,
  email text,
  kind app.status NOT NULL DEFAULT 'new'
);
CREATE TABLE app.orders (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  customer_id bigint NOT NULL REFERENCES app.customers (id),
  total app.money NOT NULL DEFAULT 0,
  status app.status NOT NULL DEFAULT 'new',
  ticket bigint DEFAULT nextval('app.ticket_seq'),
  note text,
  qty int CHECK (qty > 0),
  tags app.status[]
);
CREATE INDEX orders_customer ON app.orders (customer_id);
CREATE INDEX orders_note ON app.orders (note) WHERE note IS NOT NULL;
CREATE UNIQUE INDEX customers_email ON app.customers (email);
ALTER TABLE app.customers ALTER COLUMN email SET NOT NULL;
ALTER TABLE app.customers REPLICA IDENTITY USING INDEX customers_email;
CREATE VIEW app.open_orders AS
  SELECT o.id, o.customer_id, c.name FROM app.orders o JOIN app.customers c ON c.id = o.customer_id
  WHERE o.status = 'new';
CREATE VIEW app.open_names AS SELECT name FROM app.open_orders;
CREATE MATERIALIZED VIEW app.totals AS SELECT customer_id, sum(total) AS total FROM app.orders GROUP BY 1;
CREATE FUNCTION app.f(x int) RETURNS int LANGUAGE sql AS 'SELECT x + 1';
CREATE FUNCTION app.g(p app.pair) RETURNS text LANGUAGE sql AS 'SELECT p.b';
CREATE FUNCTION app.touch() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;
CREATE TRIGGER orders_touch BEFORE UPDATE ON app.orders FOR EACH ROW EXECUTE FUNCTION app.touch();
CREATE INDEX customers_lower_name ON app.customers (lower(name));
ALTER TABLE app.orders ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_orders ON app.orders FOR SELECT TO reader USING (customer_id > 0);
CREATE TABLE app.events (id bigint, at date NOT NULL, what text) PARTITION BY RANGE (at);
CREATE TABLE app.events_2024 PARTITION OF app.events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE INDEX events_at ON app.events (at);
CREATE TABLE app.parent (id int, x int);
CREATE TABLE app.child (y int) INHERITS (app.parent);
COMMENT ON TABLE app.orders IS 'orders';
COMMENT ON COLUMN app.customers.name IS 'full name';
COMMENT ON CONSTRAINT orders_qty_check ON app.orders IS 'positive';
GRANT SELECT ON app.orders TO reader;
GRANT USAGE ON SCHEMA app TO reader;
GRANT SELECT (name) ON app.customers TO reader;
CREATE TABLE public.loose (id int PRIMARY KEY, v text);
INSERT INTO app.customers VALUES (1, 'a', 'a@x', 'new'), (2, 'b', 'b@x', 'paid');
INSERT INTO app.orders (customer_id, total, qty) VALUES (1, 5, 1), (2, 500, 2);
INSERT INTO app.events VALUES (1, '2024-05-01', 'x');
"#;

/// Loads `before`, reads it keeping the delta state, runs `change`, and compares the delta
/// read with a full read; then a second delta read with nothing changed. The first read's
/// outcome is returned.
fn check(tag: &str, before: &str, change: &str) -> delta::Outcome {
    check_built(tag, before, change).0
}

/// [`check`], also giving how the delta read built its schema (spliced into the first
/// reading, or all of it: `catalog::splice`).
fn check_built(tag: &str, before: &str, change: &str) -> (delta::Outcome, delta::Build) {
    let mut db = LoadedDb::with(tag, before);
    let (first, mut state) = delta::read_full(&mut db.client).expect("full read");
    assert_same(&first, &catalog::read(&mut db.client).unwrap(), "read_full");
    db.client
        .batch_execute(change)
        .unwrap_or_else(|e| panic!("{change}: {e:?}"));
    let (got, outcome) = delta::read_delta(&mut db.client, &mut state).expect("delta read");
    let built = state.last_build().clone();
    let want = catalog::read(&mut db.client).expect("full read");
    assert_same(&got, &want, change);
    let (again, unchanged) = delta::read_delta(&mut db.client, &mut state).expect("delta read");
    assert_eq!(unchanged, delta::Outcome::Delta { changed: 0 }, "{change}");
    assert_same(&again, &want, "a second delta read");
    // nothing changed: nothing to build, spliced into the last reading
    assert_eq!(
        state.last_build(),
        &delta::Build::Spliced { roots: 0 },
        "{change}: the second delta read"
    );
    (outcome, built)
}

/// [`check`] on [`BASE`], asserting the read was a delta read that read few objects again,
/// and built only them, spliced into the first reading (`catalog::splice`).
fn check_delta(tag: &str, change: &str) {
    check_delta_on(tag, BASE, change);
}

/// [`check_delta`] on another schema than [`BASE`].
fn check_delta_on(tag: &str, before: &str, change: &str) {
    let _roles = shared();
    let (outcome, built) = check_built(tag, before, change);
    match outcome {
        delta::Outcome::Delta { changed } => assert!(changed > 0, "{change}: nothing re-read"),
        other => panic!("{change}: not a delta read: {other:?}"),
    }
    // (`roots` counts the earlier reading's objects read again: 0 for a new object alone)
    assert!(
        matches!(built, delta::Build::Spliced { .. }),
        "{change}: not spliced: {built:?}"
    );
}

#[test]
fn comment_added_on_an_untouched_object() {
    check_delta(
        "comment_add",
        "COMMENT ON INDEX app.orders_customer IS 'by customer'",
    );
}

#[test]
fn comment_removed_deletes_a_row_of_a_catalog_without_oids() {
    check_delta("comment_del", "COMMENT ON TABLE app.orders IS NULL");
    check_delta(
        "comment_col_del",
        "COMMENT ON COLUMN app.customers.name IS NULL",
    );
}

#[test]
fn privileges_granted_and_revoked() {
    check_delta(
        "acl_grant",
        "GRANT INSERT, UPDATE ON app.customers TO reader",
    );
    check_delta("acl_revoke", "REVOKE SELECT ON app.orders FROM reader");
    check_delta(
        "acl_column",
        "REVOKE SELECT (name) ON app.customers FROM reader",
    );
    check_delta(
        "acl_function",
        "REVOKE EXECUTE ON FUNCTION app.f(int) FROM PUBLIC",
    );
    check_delta("acl_schema", "REVOKE USAGE ON SCHEMA app FROM reader");
}

#[test]
fn column_default_changed_and_dropped() {
    check_delta(
        "default_set",
        "ALTER TABLE app.orders ALTER COLUMN note SET DEFAULT 'none'",
    );
    check_delta(
        "default_drop",
        "ALTER TABLE app.orders ALTER COLUMN ticket DROP DEFAULT",
    );
}

#[test]
fn index_dropped_by_the_cascade_of_another_object() {
    check_delta(
        "cascade_col",
        "ALTER TABLE app.orders DROP COLUMN note CASCADE",
    );
    check_delta(
        "cascade_fn",
        "DROP FUNCTION app.g(app.pair); DROP TYPE app.pair CASCADE",
    );
    check_delta("cascade_view", "DROP VIEW app.open_orders CASCADE");
}

#[test]
fn alter_type_rewriting_a_column() {
    check_delta(
        "retype",
        "ALTER TABLE app.orders ALTER COLUMN qty TYPE bigint",
    );
    check_delta(
        "retype_text",
        "ALTER TABLE app.orders ALTER COLUMN note TYPE varchar(200)",
    );
}

#[test]
fn owner_changed() {
    check_delta("owner_table", "ALTER TABLE app.customers OWNER TO app_user");
    check_delta(
        "owner_function",
        "ALTER FUNCTION app.f(int) OWNER TO app_user",
    );
    check_delta("owner_schema", "ALTER SCHEMA app OWNER TO app_user");
}

#[test]
fn function_replaced() {
    check_delta(
        "fn_replace",
        "CREATE OR REPLACE FUNCTION app.f(x int) RETURNS int LANGUAGE sql AS 'SELECT x + 2'",
    );
    check_delta(
        "fn_trigger",
        "CREATE OR REPLACE FUNCTION app.touch() RETURNS trigger LANGUAGE plpgsql \
         AS $$BEGIN NEW.note = 'x'; RETURN NEW; END$$",
    );
}

#[test]
fn sequence_and_identity_options() {
    check_delta(
        "seq_opt",
        "ALTER SEQUENCE app.ticket_seq INCREMENT BY 5 CACHE 10",
    );
    check_delta(
        "identity_opt",
        "ALTER TABLE app.orders ALTER COLUMN id SET INCREMENT BY 2",
    );
    check_delta(
        "seq_owned",
        "ALTER SEQUENCE app.ticket_seq OWNED BY app.orders.ticket",
    );
}

#[test]
fn renames_show_in_what_renders_the_name() {
    // the view definitions, the foreign key and the index definitions render these names
    check_delta("ren_table", "ALTER TABLE app.customers RENAME TO clients");
    check_delta(
        "ren_column",
        "ALTER TABLE app.customers RENAME COLUMN name TO full_name",
    );
    check_delta("ren_schema", "ALTER SCHEMA app RENAME TO shop");
    // the table renders the name of its replica identity index
    check_delta(
        "ren_index",
        "ALTER INDEX app.customers_email RENAME TO customers_mail",
    );
    check_delta("ren_type", "ALTER TYPE app.status RENAME TO state");
    check_delta(
        "ren_enum_value",
        "ALTER TYPE app.status RENAME VALUE 'new' TO 'fresh'",
    );
    check_delta(
        "ren_function",
        "ALTER FUNCTION app.touch() RENAME TO touched",
    );
    check_delta(
        "ren_constraint",
        "ALTER TABLE app.orders RENAME CONSTRAINT orders_qty_check TO qty_positive",
    );
    check_delta("set_schema", "ALTER TABLE app.customers SET SCHEMA public");
}

#[test]
fn partitions_attached_and_detached() {
    check_delta(
        "attach",
        "CREATE TABLE app.events_2025 (id bigint, at date NOT NULL, what text); \
         ALTER TABLE app.events ATTACH PARTITION app.events_2025 \
           FOR VALUES FROM ('2025-01-01') TO ('2026-01-01')",
    );
    check_delta(
        "detach",
        "ALTER TABLE app.events DETACH PARTITION app.events_2024",
    );
    check_delta("inherit", "ALTER TABLE app.child NO INHERIT app.parent");
}

#[test]
fn enum_domain_and_composite_changes() {
    check_delta(
        "enum_add",
        "ALTER TYPE app.status ADD VALUE 'held' BEFORE 'paid'",
    );
    check_delta(
        "domain_check",
        "ALTER DOMAIN app.money ADD CONSTRAINT small CHECK (VALUE < 1000000)",
    );
    check_delta("composite_attr", "ALTER TYPE app.pair ADD ATTRIBUTE c date");
}

/// Extended statistics and rules (their queries are read again in full on every delta read,
/// but the objects they hang on are spliced): created, changed, dropped.
#[test]
fn statistics_and_rules_created_changed_and_dropped() {
    check_delta(
        "stats_new",
        "CREATE STATISTICS app.orders_qty_total (ndistinct, dependencies) ON qty, total \
         FROM app.orders",
    );
    check_delta(
        "rule_new",
        "CREATE RULE loose_log AS ON UPDATE TO public.loose DO ALSO NOTIFY loose_changed",
    );
    let with = format!(
        "{BASE}\nCREATE STATISTICS app.orders_qty_total (ndistinct) ON qty, total FROM app.orders;\n\
         CREATE RULE loose_log AS ON UPDATE TO public.loose DO ALSO NOTIFY loose_changed;"
    );
    check_delta_on(
        "stats_target",
        &with,
        "ALTER STATISTICS app.orders_qty_total SET STATISTICS 200",
    );
    check_delta_on("stats_drop", &with, "DROP STATISTICS app.orders_qty_total");
    check_delta_on(
        "rule_replace",
        &with,
        "CREATE OR REPLACE RULE loose_log AS ON UPDATE TO public.loose \
         DO ALSO NOTIFY loose_touched",
    );
    check_delta_on(
        "rule_disable",
        &with,
        "ALTER TABLE public.loose DISABLE RULE loose_log",
    );
    check_delta_on("rule_drop", &with, "DROP RULE loose_log ON public.loose");
    check_delta_on("rule_table_dropped", &with, "DROP TABLE public.loose");
}

#[test]
fn triggers_policies_and_table_options() {
    check_delta(
        "trigger_off",
        "ALTER TABLE app.orders DISABLE TRIGGER orders_touch",
    );
    check_delta(
        "policy",
        "ALTER POLICY own_orders ON app.orders USING (customer_id > 1)",
    );
    check_delta(
        "rls_off",
        "ALTER TABLE app.orders DISABLE ROW LEVEL SECURITY",
    );
    check_delta(
        "storage",
        "ALTER TABLE app.orders SET (fillfactor = 70, toast.autovacuum_enabled = off)",
    );
    check_delta(
        "not_null",
        "ALTER TABLE app.orders ALTER COLUMN qty SET NOT NULL",
    );
    check_delta(
        "fk_new",
        "ALTER TABLE public.loose ADD COLUMN o bigint REFERENCES app.orders (id)",
    );
}

#[test]
fn objects_created_and_dropped() {
    check_delta(
        "create_table",
        "CREATE TABLE app.more (id int PRIMARY KEY, c bigint REFERENCES app.customers (id)); \
         CREATE VIEW app.more_v AS SELECT * FROM app.more",
    );
    check_delta("drop_table", "DROP TABLE app.orders CASCADE");
    check_delta("drop_schema", "DROP SCHEMA app CASCADE");
    check_delta("drop_index", "DROP INDEX app.orders_note");
    check_delta(
        "matview",
        "DROP MATERIALIZED VIEW app.totals; \
         CREATE MATERIALIZED VIEW app.totals AS SELECT 1 AS one",
    );
}

#[test]
fn objects_dropped_and_created_again_with_the_same_name() {
    check_delta(
        "again_table",
        "DROP TABLE public.loose; CREATE TABLE public.loose (id int PRIMARY KEY, v text, w int)",
    );
    check_delta(
        "again_index",
        "DROP INDEX app.orders_note; CREATE INDEX orders_note ON app.orders (qty)",
    );
    check_delta(
        "again_view",
        "DROP VIEW app.open_names; CREATE VIEW app.open_names AS SELECT id FROM app.open_orders",
    );
    check_delta(
        "again_function",
        "DROP FUNCTION app.f(int); CREATE FUNCTION app.f(x int) RETURNS int LANGUAGE sql AS 'SELECT x'",
    );
}

#[test]
fn names_swapped_and_constraints_moved_between_tables() {
    check_delta(
        "swap_tables",
        "ALTER TABLE app.parent RENAME TO tmp; ALTER TABLE app.child RENAME TO parent; \
         ALTER TABLE app.tmp RENAME TO child",
    );
    check_delta(
        "move_constraint",
        "ALTER TABLE app.orders DROP CONSTRAINT orders_qty_check; \
         ALTER TABLE public.loose ADD CONSTRAINT orders_qty_check CHECK (id > 0)",
    );
    check_delta(
        "swap_columns",
        "ALTER TABLE app.orders RENAME COLUMN note TO tmp; \
         ALTER TABLE app.orders RENAME COLUMN ticket TO note; \
         ALTER TABLE app.orders RENAME COLUMN tmp TO ticket",
    );
}

#[test]
fn dependencies_added_and_removed() {
    check_delta(
        "dep_add",
        "ALTER TABLE public.loose ALTER COLUMN v SET DEFAULT app.f(1)::text",
    );
    check_delta(
        "dep_remove",
        "ALTER TABLE app.customers ALTER COLUMN kind DROP DEFAULT",
    );
    check_delta(
        "dep_view",
        "CREATE OR REPLACE VIEW app.open_names AS SELECT name, app.f(1) AS one FROM app.open_orders",
    );
}

#[test]
fn functions_overloaded_and_one_dropped() {
    check_delta(
        "overload",
        "CREATE FUNCTION app.f(x text) RETURNS text LANGUAGE sql AS 'SELECT x'; \
         COMMENT ON FUNCTION app.f(text) IS 'the text one'",
    );
    check_delta_on(
        "overload_drop",
        &format!("{BASE}\nCREATE FUNCTION app.f(x text) RETURNS text LANGUAGE sql AS 'SELECT x';"),
        "DROP FUNCTION app.f(int)",
    );
}

/// Partitioned keys and their copies on the partitions (a foreign key to a partition uses
/// the partition's copy of the key's index, which stands for the parent's constraint).
const PARTITIONED: &str = r#"
CREATE TABLE m (id int, at int, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
CREATE TABLE m1 PARTITION OF m FOR VALUES FROM (0) TO (10) PARTITION BY RANGE (at);
CREATE TABLE m11 PARTITION OF m1 FOR VALUES FROM (0) TO (5);
CREATE TABLE m2 PARTITION OF m FOR VALUES FROM (10) TO (20);
CREATE TABLE r (id int, at int, FOREIGN KEY (id, at) REFERENCES m11 (id, at));
CREATE TABLE r2 (id int, at int, FOREIGN KEY (id, at) REFERENCES m (id, at));
INSERT INTO m VALUES (1, 1), (2, 12);
INSERT INTO r VALUES (1, 1);
"#;

#[test]
fn partition_keys_renamed_attached_and_detached() {
    check_delta_on(
        "pk_attach",
        PARTITIONED,
        "CREATE TABLE m3 (id int NOT NULL, at int NOT NULL); \
         ALTER TABLE m ATTACH PARTITION m3 FOR VALUES FROM (20) TO (30)",
    );
    check_delta_on(
        "pk_detach",
        PARTITIONED,
        "ALTER TABLE m DETACH PARTITION m2",
    );
    check_delta_on(
        "pk_sub_attach",
        PARTITIONED,
        "CREATE TABLE m12 PARTITION OF m1 FOR VALUES FROM (5) TO (10)",
    );
    check_delta_on("pk_table_rename", PARTITIONED, "ALTER TABLE m RENAME TO mm");
    // The key's constraint renamed: the partitions' key indexes, not read again, stand for
    // it under its old name. Either the splice sees that, or the read is built in full;
    // both give what a full read gives.
    let _roles = shared();
    check(
        "pk_rename",
        PARTITIONED,
        "ALTER TABLE m RENAME CONSTRAINT m_pkey TO m_key",
    );
}

#[test]
fn postgresql_18_virtual_columns_and_not_enforced_constraints() {
    if common::server().version_num() < 180000 {
        eprintln!("skipped: needs PostgreSQL 18");
        return;
    }
    check_delta(
        "pg18_virtual",
        "ALTER TABLE app.orders ADD COLUMN twice int GENERATED ALWAYS AS (qty * 2) VIRTUAL",
    );
    check_delta(
        "pg18_not_enforced",
        "ALTER TABLE public.loose ADD CONSTRAINT v_short CHECK (length(v) < 10) NOT ENFORCED",
    );
}

#[test]
fn a_transaction_running_during_the_last_read_is_not_missed() {
    // Its transaction id is older than rows the last read saw, and it updates a row in place
    // of another (same count): only "not seen by the last read's snapshot" catches it.
    let _roles = shared();
    let mut db = LoadedDb::with("concurrent", BASE);
    let mut other = common::server().connect(&db.name);
    other
        .batch_execute("BEGIN; SELECT pg_current_xact_id();")
        .unwrap();
    db.client
        .batch_execute("ALTER TABLE app.orders SET (fillfactor = 80)")
        .unwrap();
    let (_, mut state) = delta::read_full(&mut db.client).unwrap();
    other
        .batch_execute("ALTER TABLE app.orders SET (fillfactor = 60); COMMIT;")
        .unwrap();
    let (got, outcome) = delta::read_delta(&mut db.client, &mut state).unwrap();
    assert!(
        matches!(outcome, delta::Outcome::Delta { .. }),
        "{outcome:?}"
    );
    let want = catalog::read(&mut db.client).unwrap();
    assert_same(
        &got,
        &want,
        "fillfactor set by a transaction older than the read",
    );
    assert!(text(&got).contains("fillfactor=60"));
}

#[test]
fn roles_renamed_make_the_read_full_and_say_why() {
    let _roles = alone();
    let server = common::server();
    let mut admin = server.connect("postgres");
    admin
        .batch_execute("DROP ROLE IF EXISTS delta_tmp_role; CREATE ROLE delta_tmp_role")
        .unwrap();
    let outcome = check(
        "roles",
        &format!("{BASE}\nALTER TABLE app.customers OWNER TO delta_tmp_role;"),
        "ALTER ROLE delta_tmp_role RENAME TO delta_tmp_role2; \
         ALTER ROLE delta_tmp_role2 RENAME TO delta_tmp_role",
    );
    // renamed there and back: the names are the same, the read can be a delta one
    assert!(
        matches!(outcome, delta::Outcome::Delta { .. }),
        "{outcome:?}"
    );
    let mut db = LoadedDb::with(
        "roles2",
        &format!("{BASE}\nALTER TABLE app.customers OWNER TO delta_tmp_role;"),
    );
    let (_, mut state) = delta::read_full(&mut db.client).unwrap();
    admin
        .batch_execute("ALTER ROLE delta_tmp_role RENAME TO delta_tmp_role3")
        .unwrap();
    let (got, outcome) = delta::read_delta(&mut db.client, &mut state).unwrap();
    admin
        .batch_execute("ALTER ROLE delta_tmp_role3 RENAME TO delta_tmp_role")
        .unwrap();
    match outcome {
        delta::Outcome::Full { why } => assert!(why.contains("roles"), "{why}"),
        other => panic!("a role rename was not noticed: {other:?}"),
    }
    assert!(
        text(&got).contains("delta_tmp_role3"),
        "the owner's new name is not in the reading"
    );
}

/// A tiny deterministic generator (no dependency on a seedable RNG's stream across versions).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// One random DDL statement over a small pool of names (schemas p and q, tables t0..t5,
/// columns c0..c4, indexes i0..i5, views v0..v3), wrapped so that a failing one rolls back
/// (its catalog rows are written and then invisible: the census must not be fooled either).
fn random_statement(r: &mut Rng) -> String {
    let s = ["p", "q"][r.below(2)];
    let t = format!("{s}.t{}", r.below(6));
    let t2 = format!("{}.t{}", ["p", "q"][r.below(2)], r.below(6));
    let c = format!("c{}", r.below(5));
    let c2 = format!("c{}", r.below(5));
    let n = r.below(1000);
    let i = format!("i{}", r.below(6));
    let v = format!("{s}.v{}", r.below(4));
    let sql = match r.below(30) {
        0 => format!("CREATE TABLE {t} (id int PRIMARY KEY, c0 int, c1 text)"),
        1 => format!("DROP TABLE {t} CASCADE"),
        2 => format!("ALTER TABLE {t} ADD COLUMN {c} int DEFAULT {n}"),
        3 => format!("ALTER TABLE {t} DROP COLUMN {c} CASCADE"),
        4 => format!("ALTER TABLE {t} RENAME COLUMN {c} TO {c2}"),
        5 => format!("ALTER TABLE {t} RENAME TO t{}", r.below(6)),
        6 => format!("CREATE INDEX {i} ON {t} ({c})"),
        7 => format!("DROP INDEX {s}.{i}"),
        8 => format!("ALTER INDEX {s}.{i} RENAME TO i{}", r.below(6)),
        9 => format!("CREATE VIEW {v} AS SELECT * FROM {t}"),
        10 => format!("DROP VIEW {v} CASCADE"),
        11 => format!("COMMENT ON TABLE {t} IS 'note {n}'"),
        12 => format!("COMMENT ON TABLE {t} IS NULL"),
        13 => format!("GRANT SELECT ON {t} TO reader"),
        14 => format!("REVOKE SELECT ON {t} FROM reader"),
        15 => format!("ALTER TABLE {t} ALTER COLUMN {c} SET DEFAULT {n}"),
        16 => format!("ALTER TABLE {t} ALTER COLUMN {c} TYPE bigint"),
        17 => format!("ALTER TABLE {t} ALTER COLUMN {c} SET NOT NULL"),
        18 => format!("ALTER TABLE {t} ADD CONSTRAINT k{n} CHECK ({c} > 0)"),
        19 => format!("ALTER TABLE {t} ADD COLUMN r{n} int REFERENCES {t2} (id)"),
        20 => format!("ALTER TABLE {t} OWNER TO app_user"),
        21 => format!(
            "ALTER TABLE {t} SET SCHEMA {}",
            if s == "p" { "q" } else { "p" }
        ),
        22 => ["ALTER SCHEMA p RENAME TO z", "ALTER SCHEMA z RENAME TO p"][r.below(2)].to_string(),
        23 => format!("COMMENT ON COLUMN {t}.{c} IS 'col {n}'"),
        24 => format!("CREATE SEQUENCE {s}.s{} OWNED BY {t}.{c}", r.below(3)),
        25 => format!("ALTER SEQUENCE {s}.s{} INCREMENT BY {}", r.below(3), n + 1),
        26 => format!(
            "CREATE OR REPLACE FUNCTION {s}.f{}() RETURNS int LANGUAGE sql AS 'SELECT {n}'",
            r.below(2)
        ),
        27 => format!(
            "CREATE TRIGGER tr{n} BEFORE INSERT ON {t} FOR EACH ROW EXECUTE FUNCTION p.tg()"
        ),
        28 => format!("ALTER TABLE {t} REPLICA IDENTITY USING INDEX {i}"),
        _ => format!("CREATE UNIQUE INDEX {i} ON {t} ({c})"),
    };
    format!("DO $do$ BEGIN EXECUTE $q${sql}$q$; EXCEPTION WHEN others THEN NULL; END $do$;")
}

const RANDOM_BASE: &str = "
CREATE SCHEMA p; CREATE SCHEMA q;
CREATE FUNCTION p.tg() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;
CREATE TABLE p.t0 (id int PRIMARY KEY, c0 int, c1 text);
CREATE TABLE p.t1 (id int PRIMARY KEY, c0 int REFERENCES p.t0 (id), c2 int);
CREATE TABLE q.t2 (id int PRIMARY KEY, c1 text, c3 int);
CREATE VIEW q.v0 AS SELECT t0.id, t1.c2 FROM p.t0 JOIN p.t1 ON t1.c0 = t0.id;
CREATE VIEW q.v1 AS SELECT * FROM q.t2 WHERE c3 > 0;
CREATE VIEW p.v2 AS SELECT t2.c1, v0.c2 FROM q.t2 JOIN q.v0 ON v0.id = t2.id;
CREATE INDEX i0 ON p.t0 (c0);
CREATE INDEX i1 ON q.t2 (c1);
INSERT INTO p.t0 VALUES (1, 1, 'a');
";

#[test]
fn random_ddl_sequences_read_by_delta_equal_full_reads() {
    let _roles = shared();
    let seeds: u64 = std::env::var("SCHEMAPLAN_DELTA_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(24);
    let (mut deltas, mut spliced) = (0, 0);
    for seed in 1..=seeds {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let mut db = LoadedDb::with(&format!("random{seed}"), RANDOM_BASE);
        let (_, mut state) = delta::read_full(&mut db.client).unwrap();
        for round in 0..4 {
            let statements: Vec<String> = (0..1 + rng.below(6))
                .map(|_| random_statement(&mut rng))
                .collect();
            let sql = statements.join("\n");
            db.client.batch_execute(&sql).unwrap();
            let (got, outcome) = delta::read_delta(&mut db.client, &mut state).unwrap();
            let want = catalog::read(&mut db.client).unwrap();
            assert_same(&got, &want, &format!("seed {seed} round {round}:\n{sql}"));
            if matches!(outcome, delta::Outcome::Delta { .. }) {
                deltas += 1;
            }
            if matches!(state.last_build(), delta::Build::Spliced { .. }) {
                spliced += 1;
            }
        }
    }
    assert_eq!(deltas, seeds * 4, "some reads were not delta reads");
    eprintln!("{spliced} of {deltas} delta reads spliced");
    assert!(spliced * 2 >= deltas, "most delta reads should splice");
}

/// Every fixture: load `before.sql`, read it, run the steps of the plan to `after.sql` (as the
/// proof does; a step that fails is skipped, the invariant holds whatever ran), then delta
/// read == full read. `SCHEMAPLAN_FIXTURE=pat[,pat]` selects cases as in `tests/fixtures.rs`;
/// `SCHEMAPLAN_FIXTURE_JOBS` cases run at once (default 2).
#[test]
fn every_fixture_plan_read_by_delta_equals_a_full_read() {
    let _roles = alone();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let filter: Option<Vec<String>> = std::env::var("SCHEMAPLAN_FIXTURE")
        .ok()
        .map(|f| f.split(',').map(str::to_string).collect());
    let mut cases: Vec<(String, PathBuf)> = Vec::new();
    for cat in sorted(&root) {
        for case in sorted(&cat) {
            let name = case
                .strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .to_string();
            let selected = filter
                .as_ref()
                .is_none_or(|f| f.iter().any(|p| name.contains(p.as_str())));
            if selected && case.join("before.sql").is_file() && case.join("after.sql").is_file() {
                cases.push((name, case));
            }
        }
    }
    let jobs: usize = std::env::var("SCHEMAPLAN_FIXTURE_JOBS")
        .ok()
        .and_then(|j| j.parse().ok())
        .unwrap_or(2)
        .max(1);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<(String, Result<bool, String>)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..jobs)
            .map(|_| {
                scope.spawn(|| {
                    let mut out = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        let Some((name, dir)) = cases.get(i) else {
                            break;
                        };
                        out.push((name.clone(), fixture_case(name, dir)));
                    }
                    out
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("worker"))
            .collect()
    });
    let checked = results.iter().filter(|(_, r)| *r == Ok(true)).count();
    let skipped: Vec<&String> = results
        .iter()
        .filter(|(_, r)| *r == Ok(false))
        .map(|(n, _)| n)
        .collect();
    let failed: Vec<String> = results
        .iter()
        .filter_map(|(n, r)| r.as_ref().err().map(|e| format!("{n}: {e}")))
        .collect();
    eprintln!(
        "{checked} fixtures checked; {} not loadable here: {skipped:?}",
        skipped.len()
    );
    assert!(failed.is_empty(), "{}", failed.join("\n\n"));
    assert!(checked > 0 || filter.is_some(), "no fixture was checked");
}

/// One fixture case: `Ok(false)` when its files do not load on this server.
fn fixture_case(name: &str, dir: &Path) -> Result<bool, String> {
    let server = common::server();
    let before = std::fs::read_to_string(dir.join("before.sql")).unwrap();
    let after = std::fs::read_to_string(dir.join("after.sql")).unwrap();
    let (bname, _) = server.fresh_db("delta_fx");
    let (aname, _) = server.fresh_db("delta_fx");
    let result = (|| {
        let mut b = server.connect(&bname);
        let mut a = server.connect(&aname);
        if b.batch_execute(&before).is_err() || a.batch_execute(&after).is_err() {
            return Ok(false);
        }
        let (current, mut state) = delta::read_full(&mut b).map_err(|e| e.to_string())?;
        let desired = catalog::read(&mut a).map_err(|e| e.to_string())?;
        let steps = schemaplan::workflow::schema_statements(
            &current,
            &desired,
            &schemaplan::plan::PlanOptions::default(),
        );
        for step in &steps {
            let _ = b.batch_execute(&step.sql);
        }
        let (got, outcome) = delta::read_delta(&mut b, &mut state).map_err(|e| e.to_string())?;
        let want = catalog::read(&mut b).map_err(|e| e.to_string())?;
        let (g, w) = (text(&got), text(&want));
        if g != w {
            return Err(similar::TextDiff::from_lines(&w, &g)
                .unified_diff()
                .header("full read", "delta read")
                .to_string());
        }
        match outcome {
            delta::Outcome::Delta { .. } => {}
            // a case loading meanwhile on the other worker created a role
            delta::Outcome::Full { why } if why.contains("roles") => {}
            other => return Err(format!("{name}: not a delta read: {other:?}")),
        }
        Ok(true)
    })();
    server.drop_db(&bname);
    server.drop_db(&aname);
    result
}

fn sorted(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    v.retain(|p| p.is_dir());
    v.sort();
    v
}

/// A role that is no superuser cannot read pg_user_mapping (its rows hold the mappings'
/// options, passwords among them): the census leaves that catalog out instead of failing,
/// and the delta read still equals a full read by the same role. Failed before with
/// "permission denied for table pg_user_mapping" (a `--dev-url` role without superuser).
#[test]
fn delta_read_by_a_role_that_is_no_superuser() {
    let _roles = alone();
    let mut db = LoadedDb::with("delta_plain", BASE);
    db.client
        .batch_execute(
            "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'delta_plain') \
             THEN CREATE ROLE delta_plain NOLOGIN; END IF; END $$;
             CREATE FOREIGN DATA WRAPPER delta_w;
             CREATE SERVER delta_s FOREIGN DATA WRAPPER delta_w;
             CREATE USER MAPPING FOR PUBLIC SERVER delta_s OPTIONS (user 'u', password 'p');
             GRANT USAGE ON SCHEMA app TO delta_plain;",
        )
        .unwrap();
    db.client.batch_execute("SET ROLE delta_plain").unwrap();
    let (_, mut state) = delta::read_full(&mut db.client).expect("full read, no superuser");
    db.client
        .batch_execute(
            "RESET ROLE; COMMENT ON TABLE public.loose IS 'changed';
             ALTER USER MAPPING FOR PUBLIC SERVER delta_s OPTIONS (SET user 'v');
             SET ROLE delta_plain;",
        )
        .unwrap();
    let (got, outcome) = delta::read_delta(&mut db.client, &mut state).expect("delta read");
    assert!(
        matches!(outcome, delta::Outcome::Delta { .. }),
        "{outcome:?}"
    );
    let want = catalog::read(&mut db.client).expect("full read");
    assert_same(&got, &want, "as a role that is no superuser");
    db.client
        .batch_execute(
            "RESET ROLE; DROP SERVER delta_s CASCADE; DROP FOREIGN DATA WRAPPER delta_w;",
        )
        .unwrap();
}

/// Readability is asked of every catalog the census counts, not known case by case: a catalog
/// the role may not read (here pg_init_privs, revoked in this database; no catalog query reads
/// it, so a full read still works) makes the read full, saying which catalog, and the result is
/// what a full read gives. Failed before with "permission denied for table pg_init_privs" in
/// the census.
#[test]
fn a_catalog_the_role_cannot_read_makes_the_read_full_and_names_it() {
    let _roles = alone();
    let mut db = LoadedDb::with("delta_blind", BASE);
    db.client
        .batch_execute(
            "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'delta_plain') \
             THEN CREATE ROLE delta_plain NOLOGIN; END IF; END $$;
             GRANT USAGE ON SCHEMA app TO delta_plain;
             REVOKE SELECT ON pg_catalog.pg_init_privs FROM PUBLIC;",
        )
        .unwrap();
    db.client.batch_execute("SET ROLE delta_plain").unwrap();
    let (_, mut state) = delta::read_full(&mut db.client).expect("full read, pg_init_privs hidden");
    db.client
        .batch_execute(
            "RESET ROLE; COMMENT ON TABLE public.loose IS 'changed'; SET ROLE delta_plain;",
        )
        .unwrap();
    let (got, outcome) = delta::read_delta(&mut db.client, &mut state).expect("read");
    match &outcome {
        delta::Outcome::Full { why } => assert!(why.contains("pg_catalog.pg_init_privs"), "{why}"),
        other => panic!("an unreadable catalog was not noticed: {other:?}"),
    }
    let want = catalog::read(&mut db.client).expect("full read");
    assert_same(&got, &want, "as a role that cannot read pg_init_privs");
    assert!(text(&got).contains("changed"));
    db.client.batch_execute("RESET ROLE").unwrap();
}

// ---------------------------------------------------------------------------------------------
// Inside one transaction: the proof in place (`workflow::prove`) reads its database between
// batches of steps inside a transaction it rolls back (`delta::read_full_in`,
// `delta::read_delta_in`), each batch in a savepoint of its own.

/// The hand-picked changes of the tests above (those that need no role of their own).
const HAND_PICKED: &[(&str, &str)] = &[
    (
        "comment_add",
        "COMMENT ON INDEX app.orders_customer IS 'by customer'",
    ),
    ("comment_del", "COMMENT ON TABLE app.orders IS NULL"),
    (
        "acl_grant",
        "GRANT INSERT, UPDATE ON app.customers TO reader",
    ),
    (
        "acl_column",
        "REVOKE SELECT (name) ON app.customers FROM reader",
    ),
    (
        "default_set",
        "ALTER TABLE app.orders ALTER COLUMN note SET DEFAULT 'none'",
    ),
    (
        "cascade_col",
        "ALTER TABLE app.orders DROP COLUMN note CASCADE",
    ),
    (
        "cascade_fn",
        "DROP FUNCTION app.g(app.pair); DROP TYPE app.pair CASCADE",
    ),
    ("cascade_view", "DROP VIEW app.open_orders CASCADE"),
    (
        "retype",
        "ALTER TABLE app.orders ALTER COLUMN qty TYPE bigint",
    ),
    ("owner_table", "ALTER TABLE app.customers OWNER TO app_user"),
    (
        "fn_replace",
        "CREATE OR REPLACE FUNCTION app.f(x int) RETURNS int LANGUAGE sql AS 'SELECT x + 2'",
    ),
    (
        "seq_opt",
        "ALTER SEQUENCE app.ticket_seq INCREMENT BY 5 CACHE 10",
    ),
    (
        "identity_opt",
        "ALTER TABLE app.orders ALTER COLUMN id SET INCREMENT BY 2",
    ),
    ("ren_table", "ALTER TABLE app.customers RENAME TO clients"),
    (
        "ren_column",
        "ALTER TABLE app.customers RENAME COLUMN name TO full_name",
    ),
    ("ren_schema", "ALTER SCHEMA app RENAME TO shop"),
    (
        "ren_index",
        "ALTER INDEX app.customers_email RENAME TO customers_mail",
    ),
    (
        "ren_enum_value",
        "ALTER TYPE app.status RENAME VALUE 'new' TO 'fresh'",
    ),
    ("set_schema", "ALTER TABLE app.customers SET SCHEMA public"),
    (
        "attach",
        "CREATE TABLE app.events_2025 (id bigint, at date NOT NULL, what text); \
         ALTER TABLE app.events ATTACH PARTITION app.events_2025 \
           FOR VALUES FROM ('2025-01-01') TO ('2026-01-01')",
    ),
    (
        "detach",
        "ALTER TABLE app.events DETACH PARTITION app.events_2024",
    ),
    ("inherit", "ALTER TABLE app.child NO INHERIT app.parent"),
    (
        "enum_add",
        "ALTER TYPE app.status ADD VALUE 'held' BEFORE 'paid'",
    ),
    (
        "domain_check",
        "ALTER DOMAIN app.money ADD CONSTRAINT small CHECK (VALUE < 1000000)",
    ),
    ("composite_attr", "ALTER TYPE app.pair ADD ATTRIBUTE c date"),
    (
        "trigger_off",
        "ALTER TABLE app.orders DISABLE TRIGGER orders_touch",
    ),
    (
        "policy",
        "ALTER POLICY own_orders ON app.orders USING (customer_id > 1)",
    ),
    (
        "storage",
        "ALTER TABLE app.orders SET (fillfactor = 70, toast.autovacuum_enabled = off)",
    ),
    (
        "not_null",
        "ALTER TABLE app.orders ALTER COLUMN qty SET NOT NULL",
    ),
    (
        "fk_new",
        "ALTER TABLE public.loose ADD COLUMN o bigint REFERENCES app.orders (id)",
    ),
    (
        "create_table",
        "CREATE TABLE app.more (id int PRIMARY KEY, c bigint REFERENCES app.customers (id)); \
         CREATE VIEW app.more_v AS SELECT * FROM app.more",
    ),
    ("drop_table", "DROP TABLE app.orders CASCADE"),
    ("drop_schema", "DROP SCHEMA app CASCADE"),
    (
        "matview",
        "DROP MATERIALIZED VIEW app.totals; CREATE MATERIALIZED VIEW app.totals AS SELECT 1 AS one",
    ),
];

/// How a change runs inside the transaction.
#[derive(Clone, Copy, PartialEq)]
enum Batch {
    /// In a savepoint of its own, as the proof in place runs its steps.
    Savepoint,
    /// Directly in the transaction, under the id it got before the last reading.
    Bare,
}

/// The proof's pattern on [`BASE`]: one READ COMMITTED transaction whose id is assigned before
/// the first reading (a first batch writes), another transaction of the server that gets an id
/// and commits meanwhile (so the reading's snapshot has an `xmax` above this transaction's id,
/// which it then counts as seen: the case the savepoints are for), a full reading, `change`
/// run as `batch` says, and a delta reading; returned with a full reading inside the same
/// transaction. Rolled back at the end.
fn in_transaction(tag: &str, change: &str, batch: Batch) -> (Schema, Schema, delta::Outcome) {
    let mut db = LoadedDb::with(tag, BASE);
    let mut other = common::server().connect(&db.name);
    let mut tx = db
        .client
        .build_transaction()
        .isolation_level(postgres::IsolationLevel::ReadCommitted)
        .start()
        .unwrap();
    let mut sp = tx.savepoint("first").unwrap();
    sp.batch_execute("COMMENT ON TABLE public.loose IS 'first batch'")
        .unwrap();
    sp.commit().unwrap();
    other.batch_execute("SELECT pg_current_xact_id()").unwrap();
    let (_, mut state) = delta::read_full_in(&mut tx).expect("full read in the transaction");
    match batch {
        Batch::Savepoint => {
            let mut sp = tx.savepoint("change").unwrap();
            sp.batch_execute(change)
                .unwrap_or_else(|e| panic!("{change}: {e:?}"));
            sp.commit().unwrap();
        }
        Batch::Bare => tx
            .batch_execute(change)
            .unwrap_or_else(|e| panic!("{change}: {e:?}")),
    }
    let (got, outcome) = delta::read_delta_in(&mut tx, &mut state).expect("delta read");
    let (want, _) = delta::read_full_in(&mut tx).expect("full read in the transaction");
    drop(tx);
    (got, want, outcome)
}

#[test]
fn inside_one_transaction_with_a_savepoint_per_batch_delta_reads_equal_full_reads() {
    let _roles = shared();
    for (tag, change) in HAND_PICKED {
        let (got, want, outcome) = in_transaction(&format!("tx_{tag}"), change, Batch::Savepoint);
        assert_same(&got, &want, change);
        match outcome {
            delta::Outcome::Delta { changed } => assert!(changed > 0, "{change}: nothing re-read"),
            other => panic!("{change}: not a delta read: {other:?}"),
        }
    }
}

#[test]
fn inside_one_transaction_a_change_without_its_own_savepoint_can_pass_for_seen() {
    // Why the proof in place runs every batch in a savepoint (`delta::read_delta_in`): a
    // change written under the transaction's own id, which the last reading's snapshot
    // counts as seen, and that changes a row in place (same count), is not found.
    let _roles = shared();
    let change = "ALTER TABLE app.orders SET (fillfactor = 60)";
    let (got, want, outcome) = in_transaction("tx_bare", change, Batch::Bare);
    assert!(text(&want).contains("fillfactor=60"));
    assert!(
        !text(&got).contains("fillfactor=60"),
        "found although written under an id the snapshot counts as seen ({outcome:?}): the \
         savepoints would not be needed"
    );
    let (got, want, _) = in_transaction("tx_saved", change, Batch::Savepoint);
    assert_same(&got, &want, change);
}

// ---------------------------------------------------------------------------------------------
// A state stored with a kept database's reading (`shadow::reading`) and restored by a later
// run: the copy of that database an update changed, and the database itself changed inside
// the proof's transaction, are read as deltas of it (`workflow::desired_load`, `prove`).

/// [`BASE`] loaded into a database of its own, read in full, its reading and delta state
/// stored in `folder` (as a kept database's are: the reading as a desired schema is, without
/// sizes and without the owners the files do not declare, here every owner that is the
/// session's role, `workflow::desired::read_loaded`) and every session on it closed (it is a
/// template).
fn stored_base(tag: &str, folder: &Path) -> (String, reading::Identity) {
    let (name, id, schema, state) = base_and_state(tag);
    reading::save(folder, &id, &desired_reading(&schema), Some(&state));
    (name, id)
}

/// [`stored_base`] before storing: the database, its identity, its full reading and state.
fn base_and_state(tag: &str) -> (String, reading::Identity, Schema, delta::DeltaState) {
    let server = common::server();
    let (name, _) = server.fresh_db(tag);
    let mut c = server.connect(&name);
    c.batch_execute(BASE).unwrap();
    let (schema, state) = delta::read_full(&mut c).expect("full read");
    assert_same(&schema, &catalog::read(&mut c).unwrap(), "read_full");
    drop(c);
    let id = reading::Identity {
        system: "test".into(),
        database: name.clone(),
        oid: 1,
    };
    (name, id, schema, state)
}

/// A reading as `workflow::desired::read_loaded` keeps a desired schema: no sizes, and no owner that
/// is the role the tests connect as (the objects of [`BASE`] are all its own).
fn desired_reading(schema: &Schema) -> Schema {
    let role: String = common::server()
        .connect("postgres")
        .query_one("SELECT current_user::text", &[])
        .unwrap()
        .get(0);
    let mut reading = schema.clone();
    reading.sizes.clear();
    let owners = reading.owners.len();
    reading.owners.retain(|_, o| *o != role);
    assert!(reading.owners.len() < owners, "no owner is {role}");
    reading
}

#[test]
fn a_restored_state_reads_a_changed_copy_and_the_database_in_a_transaction_as_deltas() {
    let _roles = shared();
    let server = common::server();
    let folder = tempfile::tempdir().unwrap();
    let (base, id) = stored_base("restored_base", folder.path());
    let mut admin = server.connect("postgres");
    for (i, (tag, change)) in HAND_PICKED.iter().enumerate() {
        // (a) A copy (`CREATE DATABASE ... TEMPLATE` keeps the rows' xmins), changed in
        // transactions of its own, as an incremental update changes it.
        let copy = format!("{base}_c{i}");
        admin
            .batch_execute(&format!("CREATE DATABASE \"{copy}\" TEMPLATE \"{base}\""))
            .unwrap();
        let mut c = server.connect(&copy);
        c.batch_execute(change)
            .unwrap_or_else(|e| panic!("{change}: {e:?}"));
        let mut state = reading::load_delta(folder.path(), &id).expect("the stored state");
        let (got, outcome) = delta::read_delta(&mut c, &mut state).expect("delta read");
        assert_same(
            &got,
            &catalog::read(&mut c).unwrap(),
            &format!("copy: {change}"),
        );
        match outcome {
            delta::Outcome::Delta { changed } => assert!(changed > 0, "{tag}: nothing re-read"),
            other => panic!("{tag}: the copy was not read as a delta: {other:?}"),
        }
        drop(c);
        server.drop_db(&copy);
        // (b) The database itself, changed in a savepoint of a transaction that is rolled
        // back, as the proof in place changes it.
        let mut c = server.connect(&base);
        let mut tx = c
            .build_transaction()
            .isolation_level(postgres::IsolationLevel::ReadCommitted)
            .start()
            .unwrap();
        let mut sp = tx.savepoint("change").unwrap();
        sp.batch_execute(change)
            .unwrap_or_else(|e| panic!("{change}: {e:?}"));
        sp.commit().unwrap();
        let mut state = reading::load_delta(folder.path(), &id).expect("the stored state");
        let (got, outcome) = delta::read_delta_in(&mut tx, &mut state).expect("delta read");
        let (want, _) = delta::read_full_in(&mut tx).expect("full read");
        assert_same(&got, &want, &format!("in a transaction: {change}"));
        match outcome {
            delta::Outcome::Delta { changed } => assert!(changed > 0, "{tag}: nothing re-read"),
            other => panic!("{tag}: not read as a delta in the transaction: {other:?}"),
        }
        drop(tx);
    }
    // Nothing changed: nothing read again, and the same as a full read.
    let mut c = server.connect(&base);
    let mut state = reading::load_delta(folder.path(), &id).unwrap();
    let (got, outcome) = delta::read_delta(&mut c, &mut state).unwrap();
    assert_eq!(outcome, delta::Outcome::Delta { changed: 0 });
    assert_same(&got, &catalog::read(&mut c).unwrap(), "unchanged");
    drop(c);
    server.drop_db(&base);
}

/// The first delta read of a restored state splices into the stored reading (its base is
/// stored with it, but for the schema: `catalog::splice::StoredRef`), and gives exactly what
/// a full read gives, owners (left out of the reading, restored from the state) included:
/// for an edit that changes a root, one that removes one and one that adds one, on a copy of
/// the stored database (an incremental update's) and on the database itself in a
/// transaction (the proof's). The next read splices into what the first one gave.
#[test]
fn a_restored_state_splices_its_first_delta_read_into_the_stored_reading() {
    let _roles = shared();
    let server = common::server();
    let folder = tempfile::tempdir().unwrap();
    let (base, id) = stored_base("restored_splice", folder.path());
    let mut admin = server.connect("postgres");
    let edits = [
        // a root changed: a column of a table others reference, and its comment
        (
            "changed",
            "ALTER TABLE app.customers ADD COLUMN phone text; \
             COMMENT ON COLUMN app.customers.phone IS 'phone'",
        ),
        // a root removed (and one that depended on it)
        ("removed", "DROP VIEW app.open_orders CASCADE"),
        // a root added, referring to an existing one
        (
            "added",
            "CREATE TABLE app.added (id int PRIMARY KEY, c bigint REFERENCES app.customers (id)); \
             CREATE INDEX added_c ON app.added (c); GRANT SELECT ON app.added TO reader",
        ),
    ];
    let spliced = |state: &delta::DeltaState, what: &str| {
        assert!(
            matches!(state.last_build(), delta::Build::Spliced { .. }),
            "{what}: not spliced: {:?}",
            state.last_build()
        );
    };
    for (i, (tag, edit)) in edits.iter().enumerate() {
        let copy = format!("{base}_s{i}");
        admin
            .batch_execute(&format!("CREATE DATABASE \"{copy}\" TEMPLATE \"{base}\""))
            .unwrap();
        let mut c = server.connect(&copy);
        c.batch_execute(edit)
            .unwrap_or_else(|e| panic!("{edit}: {e:?}"));
        let mut state = reading::load_delta(folder.path(), &id).expect("the stored state");
        let (got, outcome) = delta::read_delta(&mut c, &mut state).expect("delta read");
        assert!(
            matches!(outcome, delta::Outcome::Delta { changed } if changed > 0),
            "{tag}: {outcome:?}"
        );
        spliced(&state, &format!("copy, {tag}"));
        let want = catalog::read(&mut c).unwrap();
        assert_same(&got, &want, &format!("copy, {tag}"));
        assert!(!got.owners.is_empty(), "{tag}: no owners");
        // the next read splices into the restored one's result
        c.batch_execute("COMMENT ON TABLE public.loose IS 'again'")
            .unwrap();
        let (again, _) = delta::read_delta(&mut c, &mut state).expect("delta read");
        spliced(&state, &format!("copy, {tag}, again"));
        assert_same(&again, &catalog::read(&mut c).unwrap(), "again");
        drop(c);
        server.drop_db(&copy);
        // the database itself, in a savepoint of a transaction rolled back (the proof's way)
        let mut c = server.connect(&base);
        let mut tx = c
            .build_transaction()
            .isolation_level(postgres::IsolationLevel::ReadCommitted)
            .start()
            .unwrap();
        let mut sp = tx.savepoint("edit").unwrap();
        sp.batch_execute(edit).unwrap();
        sp.commit().unwrap();
        // (the proof's way to restore it: the reading loaded again on a thread, waited for
        // by the read once its census ran)
        let (_, stored) = reading::load_with_delta(folder.path(), &id).unwrap();
        let (mut state, mut base_reading) = stored.expect("the stored state");
        base_reading.load_aside();
        base_reading.restore_later(&mut state);
        let (got, _) = delta::read_delta_in(&mut tx, &mut state).expect("delta read");
        spliced(&state, &format!("in a transaction, {tag}"));
        let (want, _) = delta::read_full_in(&mut tx).expect("full read");
        assert_same(&got, &want, &format!("in a transaction, {tag}"));
        drop(tx);
    }
    server.drop_db(&base);
}

/// A state is used only with the reading file it was stored with, and its base only when
/// that reading fits it: a reading written over it alone leaves no state; a reading written
/// with it whose owners are not the stored base's leaves a state whose first delta read
/// builds in full (and is still exact).
#[test]
fn a_stored_base_is_used_only_with_its_own_reading() {
    let _roles = shared();
    let server = common::server();
    let folder = tempfile::tempdir().unwrap();
    let (base, id, schema, state) = base_and_state("base_reading");
    let reading = desired_reading(&schema);
    reading::save(folder.path(), &id, &reading, Some(&state));
    assert!(reading::load_delta(folder.path(), &id).is_some());
    // Another reading written alone over the one the state was stored with: no state.
    let mut other = reading.clone();
    other.comments.insert(
        schemaplan::model::ObjectId::Schema("app".into()),
        "x".into(),
    );
    let path = reading::file(folder.path(), &id.database);
    reading::save_with_key(folder.path(), &path, &id.key(), &other).unwrap();
    assert!(reading::load_delta(folder.path(), &id).is_none());
    let (loaded, none) = reading::load_with_delta(folder.path(), &id).unwrap();
    assert_eq!(loaded, other);
    assert!(none.is_none());
    // A reading written again between loading the state and restoring its base (the proof
    // restores it last): the base is not restored, the read builds in full.
    reading::save(folder.path(), &id, &reading, Some(&state));
    let (_, stored) = reading::load_with_delta(folder.path(), &id).unwrap();
    let (mut restored, base_reading) = stored.expect("the stored state");
    reading::save_with_key(folder.path(), &path, &id.key(), &other).unwrap();
    base_reading.restore(&mut restored);
    {
        let mut c = server.connect(&base);
        let (got, _) = delta::read_delta(&mut c, &mut restored).unwrap();
        assert!(
            matches!(restored.last_build(), delta::Build::All { .. }),
            "{:?}",
            restored.last_build()
        );
        assert_same(&got, &catalog::read(&mut c).unwrap(), "a base not restored");
    }
    // The same when the base is restored by the read itself (the proof's way): the reading
    // is written again after the state was taken and before the read loads it.
    reading::save(folder.path(), &id, &reading, Some(&state));
    let (_, stored) = reading::load_with_delta(folder.path(), &id).unwrap();
    let (mut restored, base_reading) = stored.expect("the stored state");
    base_reading.restore_later(&mut restored);
    reading::save_with_key(folder.path(), &path, &id.key(), &other).unwrap();
    {
        let mut c = server.connect(&base);
        c.batch_execute("COMMENT ON SCHEMA app IS 'later'").unwrap();
        let (got, _) = delta::read_delta(&mut c, &mut restored).unwrap();
        assert!(
            matches!(restored.last_build(), delta::Build::All { .. }),
            "{:?}",
            restored.last_build()
        );
        assert_same(
            &got,
            &catalog::read(&mut c).unwrap(),
            "a base restored later, not used",
        );
        c.batch_execute("COMMENT ON SCHEMA app IS NULL").unwrap();
    }
    // Written together, but the reading names an owner the stored base does not: the state
    // is used, its base is not.
    let mut foreign = reading.clone();
    foreign.owners.insert(
        schemaplan::model::ObjectId::Schema("app".into()),
        "someone_else".into(),
    );
    reading::save(folder.path(), &id, &foreign, Some(&state));
    let mut state = reading::load_delta(folder.path(), &id).expect("the state");
    let mut c = server.connect(&base);
    c.batch_execute("COMMENT ON TABLE public.loose IS 'changed'")
        .unwrap();
    let (got, outcome) = delta::read_delta(&mut c, &mut state).unwrap();
    assert!(
        matches!(outcome, delta::Outcome::Delta { .. }),
        "{outcome:?}"
    );
    assert!(
        matches!(state.last_build(), delta::Build::All { .. }),
        "{:?}",
        state.last_build()
    );
    assert_same(&got, &catalog::read(&mut c).unwrap(), "a base not restored");
    drop(c);
    server.drop_db(&base);
}

#[test]
fn a_damaged_or_foreign_stored_state_is_no_state_and_a_stale_one_reads_in_full() {
    let folder = tempfile::tempdir().unwrap();
    let (base, id) = {
        let _roles = shared();
        stored_base("stale_base", folder.path())
    };
    let path = reading::delta_file(folder.path(), &id.database);
    let good = std::fs::read(&path).unwrap();
    assert!(reading::load_delta(folder.path(), &id).is_some());
    // Damaged: truncated anywhere, or one bit flipped.
    for cut in [0, 10, good.len() / 2, good.len() - 1] {
        std::fs::write(&path, &good[..cut]).unwrap();
        assert!(
            reading::load_delta(folder.path(), &id).is_none(),
            "cut at {cut}"
        );
    }
    let mut flipped = good.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x01;
    std::fs::write(&path, &flipped).unwrap();
    assert!(reading::load_delta(folder.path(), &id).is_none());
    // Of another database (an evicted kept database made again under the same name has
    // another OID), another cluster or another build: another key.
    std::fs::write(&path, &good).unwrap();
    for other in [
        reading::Identity {
            oid: 2,
            ..id.clone()
        },
        reading::Identity {
            system: "other".into(),
            ..id.clone()
        },
    ] {
        assert!(reading::load_delta(folder.path(), &other).is_none());
    }
    // A stale state (roles changed since it was stored: their names render in owners and
    // grants) restores but cannot vouch for the database: a full read, which says why.
    let _roles = alone();
    let server = common::server();
    let mut c = server.connect(&base);
    let role = format!("stale_role_{}", std::process::id());
    c.batch_execute(&format!(
        "CREATE ROLE {role}; GRANT SELECT ON app.orders TO {role}"
    ))
    .unwrap();
    let mut state = reading::load_delta(folder.path(), &id).unwrap();
    let (got, outcome) = delta::read_delta(&mut c, &mut state).unwrap();
    assert_same(&got, &catalog::read(&mut c).unwrap(), "stale state");
    assert!(
        matches!(&outcome, delta::Outcome::Full { why } if why.contains("roles")),
        "{outcome:?}"
    );
    c.batch_execute(&format!(
        "REVOKE ALL ON app.orders FROM {role}; DROP ROLE {role}"
    ))
    .unwrap();
    drop(c);
    server.drop_db(&base);
}
