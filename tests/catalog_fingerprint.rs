//! Fingerprints of schemas read from real databases: independent of statement order and of
//! everything not modeled (oids, data), sensitive to every modeled change.

use schemaplan::catalog;
use schemaplan::model::*;

mod scratch {
    //! Scratch databases on the test server.
    use std::sync::atomic::{AtomicUsize, Ordering};

    pub fn server_url() -> String {
        std::env::var("SCHEMAPLAN_TEST_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5433/postgres".to_string())
    }

    fn url_for(db: &str) -> String {
        let mut u = url::Url::parse(&server_url()).expect("SCHEMAPLAN_TEST_URL is a URL");
        u.set_path(&format!("/{db}"));
        u.to_string()
    }

    /// A database created for one test and dropped when this is dropped.
    pub struct ScratchDb {
        pub name: String,
        pub client: postgres::Client,
    }

    impl ScratchDb {
        pub fn with(tag: &str, sql: &str) -> ScratchDb {
            static N: AtomicUsize = AtomicUsize::new(0);
            let name = format!(
                "catalog_{tag}_{}_{}",
                std::process::id(),
                N.fetch_add(1, Ordering::SeqCst)
            );
            let mut admin = postgres::Client::connect(&server_url(), postgres::NoTls)
                .expect("connect to test server");
            admin
                .batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))
                .expect("drop leftover scratch database");
            admin
                .batch_execute(&format!("CREATE DATABASE {name}"))
                .expect("create scratch database");
            let mut client =
                postgres::Client::connect(&url_for(&name), postgres::NoTls).expect("connect");
            client
                .batch_execute(sql)
                .unwrap_or_else(|e| panic!("loading fixture into {name}: {e:?}"));
            ScratchDb { name, client }
        }
    }

    impl Drop for ScratchDb {
        fn drop(&mut self) {
            if let Ok(mut admin) = postgres::Client::connect(&server_url(), postgres::NoTls) {
                let _ = admin.batch_execute(&format!(
                    "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                    self.name
                ));
            }
        }
    }
}

use scratch::ScratchDb;

fn read(sql: &str) -> Schema {
    let mut db = ScratchDb::with("fp", sql);
    catalog::read(&mut db.client).expect("catalog read")
}

/// The same schema written in two statement orders (objects created in a different order get
/// different oids and attnums of other objects, comments and grants land in another order).
const ORDER_A: &str = r#"
CREATE SCHEMA app;
CREATE TYPE app.status AS ENUM ('new', 'done');
CREATE SEQUENCE app.ticket_seq START 100;
CREATE TABLE app.customers (id bigint PRIMARY KEY, name text NOT NULL);
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
CREATE TABLE app.customers (id bigint PRIMARY KEY, name text NOT NULL);
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
    assert_eq!(a, b);
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
    eprintln!("{s:#?}");
}
