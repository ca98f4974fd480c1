//! `shadow::load` against a real server: deferral of statements whose dependencies come later,
//! and errors placed at their origin in the schema files.

mod common;

use schemaplan::shadow::{load, LoadError, LoadStatement};

fn st(sql: &str, origin: &str) -> LoadStatement {
    LoadStatement {
        sql: sql.to_string(),
        origin: origin.to_string(),
    }
}

#[test]
fn view_before_its_table_is_deferred_and_loaded() {
    let (name, _url) = common::server().fresh_db("load_defer");
    let mut c = common::server().connect(&name);
    let statements = vec![
        st(
            "CREATE VIEW app.v AS SELECT id, f(id) AS y FROM app.t",
            "schema/v.sql:1:1",
        ),
        st("CREATE SCHEMA app", "schema/a.sql:1:1"),
        st(
            "CREATE TABLE app.t (id int PRIMARY KEY)",
            "schema/t.sql:1:1",
        ),
        // A function body is not checked at load (check_function_bodies = off).
        st(
            "CREATE FUNCTION f(int) RETURNS int LANGUAGE sql AS 'SELECT $1 + nothing_here'",
            "schema/f.sql:1:1",
        ),
    ];
    load(&mut c, &statements).unwrap_or_else(|e| panic!("{e}"));
    let n: i64 = c
        .query_one(
            "SELECT count(*) FROM pg_class WHERE relname IN ('t', 'v') \
             AND relnamespace = 'app'::regnamespace",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(n, 2);
}

#[test]
fn error_names_origin_line_and_column() {
    let (name, _url) = common::server().fresh_db("load_error");
    let mut c = common::server().connect(&name);
    let statements = vec![
        st("CREATE TABLE t (id int)", "schema/t.sql:1:1"),
        st(
            "CREATE TABLE u (\n    id int,\n    x numeric(3, 4, 5)\n)",
            "schema/u.sql:10:1",
        ),
    ];
    let err = load(&mut c, &statements).unwrap_err();
    let text = err.to_string();
    eprintln!("{text}");
    let LoadError::Statement(e) = &err else {
        panic!("unexpected {err:?}");
    };
    assert_eq!(e.statement_origin, "schema/u.sql:10:1");
    // Line 3 of the statement is line 12 of the file.
    assert!(e.origin.starts_with("schema/u.sql:12:"), "{text}");
    assert!(text.contains("x numeric(3, 4, 5)"), "{text}");
    assert!(text.contains('^'), "{text}");
}

#[test]
fn undefined_object_that_never_appears_is_reported() {
    let (name, _url) = common::server().fresh_db("load_missing");
    let mut c = common::server().connect(&name);
    let statements = vec![
        st("CREATE TABLE a (id int)", "s.sql:1:1"),
        st("CREATE VIEW v AS SELECT * FROM missing_table", "s.sql:3:5"),
    ];
    let err = load(&mut c, &statements).unwrap_err();
    let text = err.to_string();
    assert!(text.starts_with("s.sql:3:"), "{text}");
    assert!(text.contains("missing_table"), "{text}");
    assert!(text.contains("42P01"), "{text}");
}

#[test]
fn non_deferrable_error_stops_at_once_with_hint() {
    let (name, _url) = common::server().fresh_db("load_hint");
    let mut c = common::server().connect(&name);
    let statements = vec![
        st("CREATE TABLE a (id int)", "s.sql:1:1"),
        st("CREATE TABLE a (id int)", "s.sql:2:1"),
        st("CREATE TABLE never_reached (id int)", "s.sql:3:1"),
    ];
    let err = load(&mut c, &statements).unwrap_err();
    let text = err.to_string();
    assert!(text.starts_with("s.sql:2:1"), "{text}");
    assert!(text.contains("already exists"), "{text}");
    let n: i64 = c
        .query_one(
            "SELECT count(*) FROM pg_class WHERE relname = 'never_reached'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(n, 0);
}
