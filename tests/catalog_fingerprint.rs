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

/// A plan's target is the desired schema with the live database's unmodeled objects
/// (`catalog::with_unmodeled_of`); its fingerprint and object digests are printed from the
/// desired schema without that copy (`catalog::fingerprint_and_digests_with_unmodeled_of`,
/// issue 9: on a thread beside the proof, which still reads the desired schema). They must be
/// the copy's values: with unmodeled objects on neither side, on one, on the other, on both
/// (the desired side's own are replaced, not added to).
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
        let (fingerprint, digests) =
            catalog::fingerprint_and_digests_with_unmodeled_of(&desired, &live);
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
