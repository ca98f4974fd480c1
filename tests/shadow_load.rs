//! `shadow::load` against a real server: deferral of statements whose dependencies come later,
//! errors placed at their origin in the schema files, and the batching of plain DDL into one
//! transaction per message (with its statement-by-statement fallback and, for
//! `load_tracked`, exact OID ranges per statement).

mod common;

use schemaplan::shadow::{load, load_tracked, LoadError, LoadStatement, OidRange};

fn st(sql: &str, origin: &str) -> LoadStatement<'static> {
    LoadStatement {
        sql: sql.to_string().into(),
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

/// A cast has no name the ordering could follow: what uses it (an explicit cast in a CHECK
/// and an index, an assignment cast in a default) may come first and fails with "cannot cast"
/// or a datatype mismatch, which are deferred like an undefined object.
#[test]
fn a_cast_written_after_what_uses_it_is_deferred_and_loaded() {
    let (name, _url) = common::server().fresh_db("load_defer_cast");
    let mut c = common::server().connect(&name);
    let statements = vec![
        st(
            "CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy')",
            "schema/a.sql:1:1",
        ),
        st(
            "CREATE FUNCTION score(m mood) RETURNS integer LANGUAGE sql IMMUTABLE STRICT \
             AS $$ SELECT CASE m WHEN 'sad' THEN -1 WHEN 'ok' THEN 0 ELSE 1 END $$",
            "schema/a.sql:2:1",
        ),
        st(
            "CREATE TABLE t (id int PRIMARY KEY, m mood NOT NULL, \
             fallback integer DEFAULT 'ok'::mood, CHECK (m::integer BETWEEN -1 AND 1))",
            "schema/b.sql:1:1",
        ),
        st(
            "CREATE INDEX t_score ON t ((m::integer))",
            "schema/b.sql:2:1",
        ),
        st(
            "CREATE CAST (mood AS integer) WITH FUNCTION score(mood) AS ASSIGNMENT",
            "schema/c.sql:1:1",
        ),
    ];
    load(&mut c, &statements).unwrap_or_else(|e| panic!("{e}"));
    let n: i64 = c
        .query_one(
            "SELECT count(*) FROM pg_class WHERE relname IN ('t', 't_score')",
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

/// Distinct creating transactions (`xmin`) of the tables named `prefix%` in schema `public`.
fn creating_transactions(c: &mut postgres::Client, prefix: &str) -> i64 {
    c.query_one(
        "SELECT count(DISTINCT xmin::text) FROM pg_class \
         WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace AND relname LIKE $1",
        &[&format!("{prefix}%")],
    )
    .unwrap()
    .get(0)
}

#[test]
fn consecutive_ddl_statements_load_in_one_transaction() {
    let (name, _url) = common::server().fresh_db("load_batched");
    let mut c = common::server().connect(&name);
    let statements: Vec<LoadStatement> = (0..30)
        .flat_map(|k| {
            [
                st(
                    &format!("CREATE TABLE bt_{k} (id int PRIMARY KEY, x text) -- trailing"),
                    &format!("s.sql:{}:1", 2 * k + 1),
                ),
                st(
                    &format!("COMMENT ON TABLE bt_{k} IS 'table {k}'"),
                    &format!("s.sql:{}:1", 2 * k + 2),
                ),
            ]
        })
        .collect();
    load(&mut c, &statements).unwrap_or_else(|e| panic!("{e}"));
    let comments: i64 = c
        .query_one(
            "SELECT count(*) FROM pg_description d JOIN pg_class r ON r.oid = d.objoid \
             WHERE d.classoid = 'pg_class'::regclass AND r.relname LIKE 'bt_%' AND d.objsubid = 0",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(comments, 30);
    // One statement per transaction would give 30; the batches of plain DDL give one here.
    let xacts = creating_transactions(&mut c, "bt_");
    assert!(xacts <= 2, "30 tables created in {xacts} transactions");
    // Data goes in as usual afterwards.
    c.batch_execute("INSERT INTO bt_0 VALUES (1, 'a'), (2, 'b')")
        .unwrap();
}

#[test]
fn batch_that_fails_runs_again_statement_by_statement() {
    let (name, _url) = common::server().fresh_db("load_fallback");
    let mut c = common::server().connect(&name);
    // An enum value cannot be used in the transaction that added it, and CREATE INDEX
    // CONCURRENTLY refuses to run in a transaction block: both fail inside a batch (the comment
    // hides the ADD VALUE from the batching's guess) and load one statement at a time.
    c.batch_execute("CREATE TYPE mood AS ENUM ('a')").unwrap();
    let statements = vec![
        st("CREATE TABLE f_a (id int)", "s.sql:1:1"),
        st("ALTER TYPE mood ADD /* new */ VALUE 'b'", "s.sql:2:1"),
        st("CREATE TABLE f_b (m mood DEFAULT 'b')", "s.sql:3:1"),
        st("CREATE INDEX CONCURRENTLY f_a_id ON f_a (id)", "s.sql:4:1"),
        st("CREATE VIEW f_v AS SELECT * FROM f_late", "s.sql:5:1"),
        st("CREATE TABLE f_late (y int)", "s.sql:6:1"),
    ];
    load(&mut c, &statements).unwrap_or_else(|e| panic!("{e}"));
    let n: i64 = c
        .query_one(
            "SELECT count(*) FROM pg_class WHERE relname IN ('f_a', 'f_b', 'f_a_id', 'f_v', 'f_late')",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(n, 5);
    c.batch_execute("INSERT INTO f_b DEFAULT VALUES").unwrap();
    let m: String = c.query_one("SELECT m::text FROM f_b", &[]).unwrap().get(0);
    assert_eq!(m, "b");
}

#[test]
fn error_deep_in_a_batch_keeps_its_position_and_nothing_after_it_loads() {
    let (name, _url) = common::server().fresh_db("load_batch_error");
    let mut c = common::server().connect(&name);
    let mut statements: Vec<LoadStatement> = (0..20)
        .map(|k| {
            st(
                &format!("CREATE TABLE e_{k} (id int)"),
                &format!("s.sql:{}:1", k + 1),
            )
        })
        .collect();
    statements.insert(
        12,
        st(
            "CREATE TABLE bad (\n  id int,\n  x numeric(3, 4, 5)\n)",
            "bad.sql:40:3",
        ),
    );
    let err = load(&mut c, &statements).unwrap_err();
    let text = err.to_string();
    let LoadError::Statement(e) = &err else {
        panic!("unexpected {err:?}");
    };
    assert_eq!(e.statement_origin, "bad.sql:40:3");
    assert!(e.origin.starts_with("bad.sql:42:"), "{text}");
    assert!(text.contains("x numeric(3, 4, 5)"), "{text}");
    let names: Vec<String> = c
        .query(
            "SELECT relname::text FROM pg_class WHERE relname LIKE 'e\\_%' ORDER BY oid",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let expected: Vec<String> = (0..12).map(|k| format!("e_{k}")).collect();
    assert_eq!(names, expected);
}

#[test]
fn tracked_ranges_stay_exact_across_batches_and_fallbacks() {
    let (name, _url) = common::server().fresh_db("load_tracked");
    let mut c = common::server().connect(&name);
    let mut statements = vec![
        st("CREATE TYPE tr_mood AS ENUM ('a')", "s.sql:1:1"),
        st("CREATE VIEW tr_v AS SELECT * FROM tr_late", "s.sql:2:1"),
        st("ALTER TYPE tr_mood ADD VALUE 'b'", "s.sql:3:1"),
        st("CREATE TABLE tr_m (m tr_mood DEFAULT 'b')", "s.sql:4:1"),
    ];
    for k in 0..120 {
        statements.push(st(
            &format!(
                "CREATE TABLE tr_{k} (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, t text)"
            ),
            &format!("t.sql:{k}:1"),
        ));
        statements.push(st(
            &format!("CREATE INDEX tr_{k}_t ON tr_{k} (lower(t))"),
            &format!("t.sql:{k}:2"),
        ));
    }
    statements.push(st("CREATE TABLE tr_late (y int)", "s.sql:9:1"));
    let ranges = load_tracked(&mut c, &statements).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(ranges.len(), statements.len());
    // Ranges of successive statements do not overlap (in the order they ran).
    let mut sorted: Vec<OidRange> = ranges.clone();
    sorted.sort_by_key(|r| r.lo);
    for w in sorted.windows(2) {
        assert!(w[0].lo < w[0].hi && w[0].hi <= w[1].lo, "{:?}", w);
    }
    // Every object a statement made has its OID in that statement's range, and only there.
    let owner = |oid: u32| -> Vec<usize> {
        (0..ranges.len())
            .filter(|&i| ranges[i].contains(oid))
            .collect()
    };
    let rows = c
        .query(
            "SELECT relname::text, oid, reltype FROM pg_class \
             WHERE relnamespace = 'public'::regnamespace AND relname LIKE 'tr\\_%'",
            &[],
        )
        .unwrap();
    assert!(rows.len() >= 120 * 3 + 3, "{} relations", rows.len());
    for r in &rows {
        let rel: String = r.get(0);
        let oid: u32 = r.get(1);
        let expected = if rel == "tr_v" {
            1
        } else if rel == "tr_m" {
            3
        } else if rel == "tr_late" {
            statements.len() - 1
        } else {
            let k: usize = rel
                .trim_start_matches("tr_")
                .split('_')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            // The table, its sequence and primary key come from the CREATE TABLE; the
            // expression index from the CREATE INDEX after it.
            4 + 2 * k + usize::from(rel.ends_with("_t"))
        };
        assert_eq!(owner(oid), vec![expected], "{rel} (oid {oid})");
        let reltype: u32 = r.get(2);
        if reltype != 0 {
            assert_eq!(owner(reltype), vec![expected], "row type of {rel}");
        }
    }
    let b: u32 = c
        .query_one("SELECT oid FROM pg_enum WHERE enumlabel = 'b'", &[])
        .unwrap()
        .get(0);
    assert_eq!(owner(b), vec![2]);
}
