//! Fingerprints of schemas read from real databases: independent of statement order and of
//! everything not modeled (oids, data), sensitive to every modeled change.

use schemaplan::catalog;
use schemaplan::model::*;

mod common;

use common::LoadedDb as ScratchDb;

fn read(sql: &str) -> Schema {
    let mut db = ScratchDb::with("fp", sql);
    catalog::read(&mut db.client).expect("catalog read")
}

/// The same schema written in two statement orders (objects created in a different order get
/// different oids, comments and grants land in another order, storage parameters are stored in
/// another order).
const ORDER_A: &str = r#"
CREATE SCHEMA app;
CREATE TYPE app.status AS ENUM ('new', 'done');
CREATE SEQUENCE app.ticket_seq START 100;
CREATE TABLE app.customers (id bigint PRIMARY KEY, name text NOT NULL)
  WITH (fillfactor = 70, autovacuum_enabled = false);
CREATE TABLE app.orders (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  customer_id bigint REFERENCES app.customers (id),
  status app.status NOT NULL DEFAULT 'new',
  ticket bigint DEFAULT nextval('app.ticket_seq')
);
CREATE INDEX orders_customer ON app.orders (customer_id);
CREATE VIEW app.open_orders AS SELECT id, customer_id FROM app.orders WHERE status = 'new';
CREATE FUNCTION app.f(x int) RETURNS int LANGUAGE sql AS 'SELECT x';
COMMENT ON TABLE app.orders IS 'orders';
COMMENT ON COLUMN app.customers.name IS 'full name';
GRANT SELECT ON app.orders TO reader;
GRANT SELECT ON app.customers TO reader;
"#;

const ORDER_B: &str = r#"
CREATE FUNCTION public.dummy() RETURNS int LANGUAGE sql AS 'SELECT 1';
DROP FUNCTION public.dummy();
CREATE SCHEMA app;
CREATE FUNCTION app.f(x int) RETURNS int LANGUAGE sql AS 'SELECT x';
CREATE TABLE app.customers (id bigint PRIMARY KEY, name text NOT NULL)
  WITH (autovacuum_enabled = false);
ALTER TABLE app.customers SET (fillfactor = 70);
COMMENT ON COLUMN app.customers.name IS 'full name';
GRANT SELECT ON app.customers TO reader;
CREATE TYPE app.status AS ENUM ('new', 'done');
CREATE SEQUENCE app.ticket_seq START 100;
CREATE TABLE app.orders (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  customer_id bigint REFERENCES app.customers (id),
  status app.status NOT NULL DEFAULT 'new',
  ticket bigint DEFAULT nextval('app.ticket_seq')
);
GRANT SELECT ON app.orders TO reader;
COMMENT ON TABLE app.orders IS 'orders';
CREATE VIEW app.open_orders AS SELECT id, customer_id FROM app.orders WHERE status = 'new';
CREATE INDEX orders_customer ON app.orders (customer_id);
INSERT INTO app.customers VALUES (1, 'data is not schema');
"#;

#[test]
fn statement_order_does_not_change_the_fingerprint() {
    let a = read(ORDER_A);
    let b = read(ORDER_B);
    // Storage options stay in the order written (what pg_dump prints); they compare as a set.
    assert_eq!(a.canonical(), b.canonical());
    assert_eq!(catalog::fingerprint(&a), catalog::fingerprint(&b));
    assert_eq!(catalog::fingerprint(&a).len(), 64);
}

#[test]
fn a_changed_default_changes_the_fingerprint() {
    let a = read(ORDER_A);
    let changed = ORDER_A.replace("DEFAULT 'new'", "DEFAULT 'done'");
    let b = read(&changed);
    assert_ne!(catalog::fingerprint(&a), catalog::fingerprint(&b));
    let col = |s: &Schema| {
        s.tables[&QName::new("app", "orders")].columns[2]
            .default
            .clone()
    };
    assert_eq!(col(&b).as_deref(), Some("'done'::app.status"));
}

/// A plan takes its schemas' fingerprints and object digests from one printing of each
/// (`catalog::fingerprint_and_digests`, issue 9): the values must be those of `fingerprint`
/// and `object_digests` (plan files store them; `apply` and `drift` compare them), over every
/// kind printed one object at a time (types, sequences, tables, indexes, views, functions,
/// triggers, policies) and the rest.
#[test]
fn fingerprint_and_digests_together_are_the_values_of_each_alone() {
    let extra = r#"
CREATE FUNCTION app.touch() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;
CREATE TRIGGER orders_touch BEFORE UPDATE ON app.orders FOR EACH ROW EXECUTE FUNCTION app.touch();
ALTER TABLE app.orders ENABLE ROW LEVEL SECURITY;
CREATE POLICY mine ON app.orders USING (customer_id = 1);
CREATE MATERIALIZED VIEW app.totals WITH (fillfactor = 50) AS SELECT count(*) AS n FROM app.orders;
CREATE TYPE app.pair AS (a int, "b c" text);
CREATE DOMAIN app.positive AS int CHECK (VALUE > 0);
CREATE TABLE app."odd ""name""" (z int, a app.positive, "line
break" text) WITH (autovacuum_enabled = false, fillfactor = 60);
CREATE TABLE app.events (id bigint, at date NOT NULL) PARTITION BY RANGE (at);
CREATE TABLE app.events_2024 PARTITION OF app.events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
"#;
    for sql in ["", ORDER_A, &format!("{ORDER_A}{extra}")] {
        let s = read(sql);
        let (fingerprint, digests) = catalog::fingerprint_and_digests(&s);
        assert_eq!(fingerprint, catalog::fingerprint(&s));
        assert_eq!(digests, catalog::object_digests(&s));
    }
}

/// The fingerprint as it was first defined: SHA-256 of `{:#?}` of the canonical schema, each
/// line followed by a line break, the lines of fields holding their empty value left out (the
/// printer and filter of `catalog` before the one-pass printer of issue 9, kept here as the
/// reference). Every plan file's `from`/`to` fingerprints are these bytes' digest: `apply`
/// compares them with the live database's, so a printer that writes the text another way
/// must hash exactly these bytes.
fn fingerprint_as_first_defined(s: &Schema) -> String {
    use sha2::{Digest, Sha256};
    fn empty_field(line: &str) -> bool {
        let Some((name, value)) = line.trim_start().split_once(": ") else {
            return false;
        };
        let named = name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            && name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_');
        named && matches!(value, "[]," | "{}," | "None," | "false," | "\"\"," | "0,")
    }
    let text = format!("{:#?}", s.canonical());
    let mut h = Sha256::new();
    for line in text.lines().filter(|l| !empty_field(l)) {
        h.update(line.as_bytes());
        h.update(b"\n");
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// More of every kind than [`ORDER_A`]: what `catalog_read`'s schema holds and the kinds it
/// leaves out (publications, event triggers, foreign servers and tables, casts, text search,
/// operators, conversions, access methods), strings with quotes and line breaks, empty and
/// non-empty values of the same fields side by side.
const EVERY_KIND: &str = r#"
CREATE SCHEMA other;
COMMENT ON SCHEMA app IS 'application
schema: "quoted", {braced}, [bracketed], None,';
CREATE EXTENSION citext SCHEMA public;
CREATE COLLATION app.nocase (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
CREATE TYPE app.floatrange AS RANGE (subtype = float8, subtype_diff = float8mi);
CREATE DOMAIN app.posint AS integer NOT NULL DEFAULT 1 CONSTRAINT posint_positive CHECK (VALUE > 0);
CREATE SEQUENCE app.counter AS integer START 10 INCREMENT 5 MINVALUE 10 MAXVALUE 1000 CACHE 3 CYCLE;
CREATE TABLE app.users (
  id bigint GENERATED ALWAYS AS IDENTITY (START WITH 100 INCREMENT BY 2) PRIMARY KEY,
  email public.citext NOT NULL,
  name text COLLATE "C" DEFAULT '',
  age app.posint,
  flag boolean DEFAULT false,
  zero int DEFAULT 0,
  created timestamptz NOT NULL DEFAULT now(),
  name_len integer GENERATED ALWAYS AS (length(name)) STORED,
  CONSTRAINT users_email_key UNIQUE (email),
  CONSTRAINT users_age_check CHECK (age < 200)
) WITH (fillfactor = 90);
COMMENT ON COLUMN app.users.email IS '';
CREATE UNLOGGED TABLE app.scratch (k int NOT NULL, v text);
CREATE UNIQUE INDEX scratch_k ON app.scratch (k);
ALTER TABLE app.scratch REPLICA IDENTITY USING INDEX scratch_k;
CREATE TABLE app.base (id int, note text CHECK (note <> ''));
CREATE TABLE app.child (extra int) INHERITS (app.base);
CREATE VIEW app.active_users WITH (security_barrier = true) AS
  SELECT id, email, name FROM app.users WHERE age > 0;
CREATE PROCEDURE app.poke(p_id bigint) LANGUAGE sql AS $$ UPDATE app.users SET name = name WHERE id = p_id $$;
CREATE FUNCTION app.sum_state(s integer, v integer) RETURNS integer LANGUAGE sql AS $$ SELECT s + v $$;
CREATE AGGREGATE app.total(integer) (SFUNC = app.sum_state, STYPE = integer, INITCOND = '0');
GRANT SELECT (body), UPDATE (body) ON app.customers TO reader WITH GRANT OPTION;
REVOKE USAGE ON TYPE app.status FROM PUBLIC;
ALTER DEFAULT PRIVILEGES IN SCHEMA app GRANT SELECT ON TABLES TO reader;
CREATE STATISTICS app.users_stats (dependencies) ON name, age FROM app.users;
CREATE RULE users_no_delete AS ON DELETE TO app.users DO INSTEAD NOTHING;
CREATE PUBLICATION pub_orders FOR TABLE app.orders;
CREATE PUBLICATION pub_none;
CREATE FUNCTION app.on_ddl() RETURNS event_trigger LANGUAGE plpgsql AS $$BEGIN END$$;
CREATE EVENT TRIGGER fp_on_ddl ON ddl_command_end EXECUTE FUNCTION app.on_ddl();
CREATE FOREIGN DATA WRAPPER fp_fdw;
CREATE SERVER fp_archive FOREIGN DATA WRAPPER fp_fdw OPTIONS (host 'old.internal');
CREATE USER MAPPING FOR reader SERVER fp_archive OPTIONS (user 'r');
CREATE FOREIGN TABLE app.remote (id int NOT NULL, note text OPTIONS (column_name 'n'))
  SERVER fp_archive OPTIONS (table_name 'remote');
CREATE TYPE app.span AS (lo int, hi int);
CREATE FUNCTION app.span_text(app.span) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT $1.lo || '-' || $1.hi $$;
CREATE CAST (app.span AS text) WITH FUNCTION app.span_text(app.span);
CREATE TEXT SEARCH DICTIONARY app.simple_dict (TEMPLATE = simple, STOPWORDS = english, ACCEPT = false);
CREATE TEXT SEARCH CONFIGURATION app.cfg (COPY = pg_catalog.simple);
CREATE FUNCTION app.span_eq(app.span, app.span) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$ SELECT $1.lo = $2.lo $$;
CREATE OPERATOR app.=== (LEFTARG = app.span, RIGHTARG = app.span, FUNCTION = app.span_eq);
CREATE OPERATOR FAMILY app.span_ops USING btree;
CREATE CONVERSION app.latin_to_utf8 FOR 'LATIN1' TO 'UTF8' FROM iso8859_1_to_utf8;
CREATE ACCESS METHOD fp_heap TYPE TABLE HANDLER heap_tableam_handler;
"#;

/// The fingerprints a plan takes (`catalog::fingerprint_and_digests` for its `from` schema and
/// `catalog::printed_head`, finished with the live side's unmodeled objects, for its target) and
/// `catalog::fingerprint` hash exactly the bytes they hashed when plan files first stored them
/// ([`fingerprint_as_first_defined`]), and the object digests stay those of
/// `catalog::object_digests`: on an empty database, a schema with every kind, and the
/// plan-scale benchmark's generated schemas (issue 9, a fingerprint printed in one pass).
#[test]
fn fingerprints_hash_the_bytes_plan_files_were_written_with() {
    let extra = r#"
CREATE FUNCTION app.touch() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;
CREATE TRIGGER orders_touch BEFORE UPDATE ON app.orders FOR EACH ROW EXECUTE FUNCTION app.touch();
ALTER TABLE app.orders ENABLE ROW LEVEL SECURITY;
CREATE POLICY mine ON app.orders USING (customer_id = 1);
CREATE MATERIALIZED VIEW app.totals WITH (fillfactor = 50) AS SELECT count(*) AS n FROM app.orders;
CREATE TYPE app.pair AS (a int, "b c" text);
CREATE TABLE app."odd ""name""" (z int, "line
break" text) WITH (autovacuum_enabled = false, fillfactor = 60);
CREATE TABLE app.events (id bigint, at date NOT NULL) PARTITION BY RANGE (at);
CREATE TABLE app.events_2024 PARTITION OF app.events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
ALTER TABLE app.customers ADD COLUMN body text;
"#;
    let mut cases = vec![
        ("empty".to_string(), String::new()),
        ("order_a".to_string(), ORDER_A.to_string()),
        (
            "every kind".to_string(),
            format!("{ORDER_A}{extra}{EVERY_KIND}"),
        ),
    ];
    for (tables, seed) in [(12, 1), (40, 7)] {
        cases.push((
            format!("plan_scale {tables} tables, seed {seed}"),
            plan_scale_schema(tables, seed),
        ));
    }
    for (what, sql) in &cases {
        let s = read(sql);
        let want = fingerprint_as_first_defined(&s);
        assert_eq!(catalog::fingerprint(&s), want, "{what}: fingerprint");
        let (fingerprint, digests) = catalog::fingerprint_and_digests(&s);
        assert_eq!(fingerprint, want, "{what}: fingerprint_and_digests");
        assert_eq!(
            digests,
            catalog::object_digests(&s),
            "{what}: object digests"
        );
        // the target's: this schema with another one's unmodeled objects
        let mut live = Schema::default();
        live.unmodeled.insert(Unmodeled {
            kind: "foreign table".into(),
            identity: "app.elsewhere".into(),
        });
        let target = catalog::with_unmodeled_of(s.clone(), &live);
        assert_eq!(
            catalog::printed_head(&s).finish(&live.unmodeled),
            (
                fingerprint_as_first_defined(&target),
                catalog::object_digests(&target)
            ),
            "{what}: the target's, printed in two parts"
        );
        if what == "every kind" {
            // the schema does hold what the case is for
            assert!(
                !s.publications.is_empty() && !s.operators.is_empty(),
                "{s:#?}"
            );
            assert!(
                !s.casts.is_empty() && !s.foreign_servers.is_empty(),
                "{s:#?}"
            );
        }
    }
}

/// The SQL of the plan-scale benchmark's base schema of `tables` tables
/// (`benches/plan_scale/generate.py`), its files in the order the benchmark loads them.
fn plan_scale_schema(tables: usize, seed: u64) -> String {
    let out = tempfile::tempdir().unwrap();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let status = std::process::Command::new("python3")
        .arg(root.join("benches/plan_scale/generate.py"))
        .args(["--tables", &tables.to_string(), "--seed", &seed.to_string()])
        .args(["--variant", "base", "--out"])
        .arg(out.path())
        .stdout(std::process::Stdio::null())
        .status()
        .expect("run python3 benches/plan_scale/generate.py");
    assert!(status.success(), "generate.py: {status}");
    let mut files = Vec::new();
    let mut dirs = vec![out.path().join("base")];
    while let Some(dir) = dirs.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else {
                files.push(p);
            }
        }
    }
    files.sort();
    files
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

/// A plan's target is the desired schema with the live database's unmodeled objects
/// (`catalog::with_unmodeled_of`); its fingerprint and object digests are printed from the
/// desired schema without that copy, in two parts, the first before the live side is read
/// (`catalog::printed_head`), finished with the live side's unmodeled objects (issue 9: beside
/// the proof, which still reads the desired schema). They must be the copy's values: with
/// unmodeled objects on neither side, on one, on the other, on both (the desired side's own
/// are replaced, not added to).
#[test]
fn the_target_printed_without_a_copy_has_the_values_of_the_copy() {
    let desired = read(ORDER_A);
    let unmodeled = |names: &[&str]| {
        let mut s = Schema::default();
        for n in names {
            s.unmodeled.insert(Unmodeled {
                kind: "foreign table".into(),
                identity: format!("app.{n}"),
            });
        }
        s
    };
    for (mine, theirs) in [
        (&[][..], &[][..]),
        (&[][..], &["x", "y"][..]),
        (&["x"][..], &[][..]),
        (&["x", "z"][..], &["y"][..]),
    ] {
        let mut desired = desired.clone();
        desired.unmodeled = unmodeled(mine).unmodeled;
        let live = unmodeled(theirs);
        let (fingerprint, digests) = catalog::printed_head(&desired).finish(&live.unmodeled);
        let target = catalog::with_unmodeled_of(desired.clone(), &live);
        assert_eq!(
            (fingerprint, digests),
            catalog::fingerprint_and_digests(&target),
            "{mine:?} / {theirs:?}"
        );
        if mine != theirs {
            assert_ne!(
                catalog::fingerprint(&target),
                catalog::fingerprint(&desired),
                "the unmodeled objects are fingerprinted"
            );
        }
    }
}

#[test]
fn depends_is_not_fingerprinted() {
    let mut a = read(ORDER_A);
    let before = catalog::fingerprint(&a);
    a.depends.clear();
    assert_eq!(before, catalog::fingerprint(&a));
}

/// What an empty database reads as: the baseline every comparison starts from.
#[test]
fn empty_database_reads_as_public_and_plpgsql_only() {
    let s = read("");
    assert_eq!(s.schemas.keys().collect::<Vec<_>>(), ["public"]);
    assert_eq!(s.extensions.keys().collect::<Vec<_>>(), ["plpgsql"]);
    assert!(s.tables.is_empty() && s.functions.is_empty() && s.types.is_empty());
    assert!(s.unmodeled.is_empty(), "{:?}", s.unmodeled);
    // `public`'s ACL beyond its owner's default: USAGE for PUBLIC, and before 15 CREATE too.
    let mut public_grants: Vec<(&str, &str, bool)> = s
        .grants
        .iter()
        .filter(|g| g.on == schemaplan::model::ObjectId::Schema("public".into()))
        .map(|g| (g.privilege.as_str(), g.grantee.as_str(), g.granted))
        .collect();
    public_grants.sort();
    let want: &[(&str, &str, bool)] = if common::server().version_num() >= 150000 {
        &[("USAGE", "public", true)]
    } else {
        &[("CREATE", "public", true), ("USAGE", "public", true)]
    };
    assert_eq!(public_grants, want, "{:?}", s.grants);
    eprintln!("{s:#?}");
}
