//! PostgreSQL 18's grammar in schema files, through the binary: on an older server the shadow
//! refuses 18's syntax and the error says what needs PostgreSQL 18, at its `file:line:col`;
//! on 18 (`scripts/pg-matrix 18`) a foreign key's enforcement changes in place and the rows
//! stay. The plans of VIRTUAL columns and NOT ENFORCED constraints are fixtures
//! (`fixtures/*/*` with `min-version 18`).

mod common;

use common::{output_text, schemaplan, schemaplan_expect};
use std::path::Path;

const PG18: u32 = 180000;

/// A working directory with `schema/<name>` holding `sql`, and `plans/`.
fn workdir(name: &str, sql: &str) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(tmp.path().join("schema")).unwrap();
    std::fs::create_dir_all(tmp.path().join("plans")).unwrap();
    std::fs::write(tmp.path().join("schema").join(name), sql).unwrap();
    tmp
}

fn plan_args<'a>(url: &'a str, dev: &'a str) -> [&'a str; 7] {
    ["plan", "--db", url, "--dev-url", dev, "--out", "plans/p"]
}

#[test]
fn postgresql_18_syntax_on_an_older_shadow_says_what_needs_18_and_where() {
    let server = common::server();
    if server.version_num() >= PG18 {
        eprintln!("skipped: the server is PostgreSQL 18 or newer, which accepts this syntax");
        return;
    }
    let (db, url) = server.fresh_db("pg18_older_shadow");
    let tmp = workdir(
        "items.sql",
        "-- written for PostgreSQL 18\n\
         CREATE TABLE public.items (\n    id integer PRIMARY KEY,\n    price integer NOT NULL,\n\
         \x20   doubled integer GENERATED ALWAYS AS (price * 2) VIRTUAL,\n\
         \x20   CONSTRAINT items_price_positive CHECK (price > 0) NOT ENFORCED\n);\n",
    );
    let t = schemaplan_expect(tmp.path(), &plan_args(&url, &server.admin_url()), 1);
    // PostgreSQL's own error, at its place in the file.
    assert!(
        t.contains("schema/items.sql:5:") && t.contains("syntax error"),
        "{t}"
    );
    // What needs 18, each at its place.
    assert!(
        t.contains("schema/items.sql:5:21: VIRTUAL generated column needs PostgreSQL 18"),
        "{t}"
    );
    assert!(
        t.contains("schema/items.sql:6:5: ENFORCED / NOT ENFORCED constraint needs PostgreSQL 18"),
        "{t}"
    );
    assert!(!t.contains("panicked"), "{t}");
    assert!(!tmp.path().join("plans/p").exists(), "{t}");
    server.drop_db(&db);
}

#[test]
fn foreign_key_enforcement_changes_in_place_and_keeps_every_row() {
    let server = common::server();
    if server.version_num() < PG18 {
        eprintln!("skipped: NOT ENFORCED foreign keys are PostgreSQL 18 syntax");
        return;
    }
    let (db, url) = server.fresh_db("pg18_fk_enforced");
    let before = "CREATE TABLE public.customers (id integer PRIMARY KEY);\n\
        CREATE TABLE public.orders (id integer PRIMARY KEY, customer_id integer NOT NULL,\n\
        \x20   CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) REFERENCES public.customers (id));\n";
    let mut c = server.connect(&db);
    c.batch_execute(before).unwrap();
    c.batch_execute(
        "INSERT INTO public.customers SELECT g FROM generate_series(1, 3) g;\n\
         INSERT INTO public.orders SELECT g, 1 + g % 3 FROM generate_series(1, 9) g;",
    )
    .unwrap();
    let after = before.replace(
        "REFERENCES public.customers (id));",
        "REFERENCES public.customers (id) NOT ENFORCED);",
    );
    let tmp = workdir("shop.sql", &after);
    let dev = server.admin_url();
    schemaplan_expect(tmp.path(), &plan_args(&url, &dev), 0);
    let plan = std::fs::read_to_string(tmp.path().join("plans/p/plan.sql")).unwrap();
    assert!(
        plan.contains(
            "ALTER TABLE public.orders ALTER CONSTRAINT orders_customer_fk NOT ENFORCED;"
        ),
        "{plan}"
    );
    assert!(!plan.contains("DROP CONSTRAINT"), "{plan}");
    apply(tmp.path(), &url);
    // Not checked any more: an order of a customer that does not exist is accepted.
    c.batch_execute("INSERT INTO public.orders VALUES (100, 42)")
        .unwrap();
    let n: i64 = c
        .query_one("SELECT count(*) FROM public.orders", &[])
        .unwrap()
        .get(0);
    assert_eq!(n, 10);
    // Planning again finds nothing to do.
    let again = schemaplan(
        tmp.path(),
        &[
            "plan",
            "--db",
            &url,
            "--dev-url",
            &dev,
            "--out",
            "plans/q",
            "--exit-code",
        ],
    );
    assert_eq!(again.status.code(), Some(0), "{}", output_text(&again));
    server.drop_db(&db);
}

fn apply(cwd: &Path, url: &str) {
    schemaplan_expect(
        cwd,
        &[
            "apply",
            "plans/p",
            "--db",
            url,
            "--phase",
            "all",
            "--allow-hazards",
            "all",
        ],
        0,
    );
}
