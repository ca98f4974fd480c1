//! Input nobody here wrote, through the real binary against the test server: names that look
//! like plan-file structure, names that are not file names, names longer than PostgreSQL
//! keeps, and an inverse whose proof failed. Each case is something a user or an attacker
//! controls (a table name, a schema name, an annotation) and each once broke a promise: a plan
//! `apply` could not read or read differently, a dump that wrote outside `--out` or that the
//! loader skipped, a rename that was not found, an unproven inverse written silently.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::schemaplan as run;

use common::exit_code as code;
use common::output_text as text;
/// A working directory with `schema/<name>` holding `sql`.
fn workdir(name: &str, sql: &str) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("schema")).unwrap();
    std::fs::write(tmp.path().join("schema").join(name), sql).unwrap();
    tmp
}

fn plan(cwd: &Path, url: &str, dev: &str, out: &str) -> Output {
    run(cwd, &["plan", "--db", url, "--dev-url", dev, "--out", out])
}

/// Table names holding ` | hazards: none`, a line break, `--`, `/*` and `*/`: the plan's step
/// lines name them, and `apply` must read back exactly the plan that was proven (here: the
/// `data-loss` hazard of dropping a column is still there and refused).
#[test]
fn names_that_look_like_plan_structure_read_back_as_themselves() {
    let server = common::server();
    let (db, url) = server.fresh_db("input_structure_names");
    let tables = ["t | hazards: none", "n\nl -- x */ /* y", "s | lock: none"];
    let mut c = server.connect(&db);
    for t in tables {
        let q = t.replace('"', "\"\"");
        c.batch_execute(&format!(
            "CREATE TABLE public.\"{q}\" (id int PRIMARY KEY, old int);
             INSERT INTO public.\"{q}\" VALUES (1, 1);"
        ))
        .unwrap();
    }
    let schema: String = tables
        .iter()
        .map(|t| format!("CREATE TABLE public.\"{t}\" (id int PRIMARY KEY);\n"))
        .collect();
    let tmp = workdir("t.sql", &schema);
    let dev = server.admin_url();
    let o = plan(tmp.path(), &url, &dev, "p");
    assert_eq!(code(&o), 0, "{}", text(&o));
    let sql = std::fs::read_to_string(tmp.path().join("p/plan.sql")).unwrap();
    assert!(
        sql.contains("lock: ACCESS EXCLUSIVE on public.\"t | hazards: none\" | lock_timeout:"),
        "the lock target is quoted:\n{sql}"
    );
    let o = run(tmp.path(), &["apply", "--db", &url, "p", "--phase", "all"]);
    let t = text(&o);
    assert_eq!(code(&o), 1, "{t}");
    assert!(
        t.contains("hazards that were not allowed")
            && t.contains(
                "step 3 (drop column public.t | hazards: none.old): data-loss, irreversible"
            ),
        "apply reads the step's hazards, not the name's `hazards: none`: {t}"
    );
    let o = run(
        tmp.path(),
        &[
            "apply",
            "--db",
            &url,
            "p",
            "--phase",
            "all",
            "--allow-hazards",
            "all",
        ],
    );
    assert_eq!(code(&o), 0, "{}", text(&o));
    let o = run(tmp.path(), &["drift", "--db", &url, "--dev-url", &dev]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    drop(c);
    server.drop_db(&db);
}

/// Every file under `dir`, recursively.
fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// Schema and table names that are not file names (`..`, `.`, `.hidden`, `/`, `\`, a line
/// break, names differing only in case): `dump` writes every file inside `--out`, none that the
/// loader skips, and the dump loads back in sync.
#[test]
fn dump_of_names_that_are_not_file_names_stays_inside_and_loads_back() {
    let server = common::server();
    let (db, url) = server.fresh_db("input_dump_names");
    let mut c = server.connect(&db);
    c.batch_execute(
        "CREATE SCHEMA \"..\";
         CREATE TABLE \"..\".\"..\" (id int);
         CREATE SCHEMA \".hidden\";
         CREATE TABLE \".hidden\".\".\" (id int);
         CREATE SCHEMA \"a/b\";
         CREATE TABLE \"a/b\".\"c\\d\" (id int);
         CREATE TABLE public.\"line\nbreak\" (id int);
         CREATE TABLE public.\"Users\" (id int);
         CREATE TABLE public.users (id int, name text);
         CREATE VIEW public.\"%2E%2E\" AS SELECT 1 AS one;",
    )
    .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    std::fs::create_dir(&root).unwrap();
    let dev = server.admin_url();
    let o = run(
        &root,
        &["dump", "--db", &url, "--dev-url", &dev, "--out", "d"],
    );
    assert_eq!(code(&o), 0, "{}", text(&o));
    let mut written = Vec::new();
    files(tmp.path(), &mut written);
    for p in &written {
        let rel = p
            .strip_prefix(root.join("d"))
            .unwrap_or_else(|_| panic!("{} was written outside --out: {written:?}", p.display()));
        assert!(
            !rel.components()
                .any(|c| c.as_os_str().to_string_lossy().starts_with('.')),
            "{} is hidden from the loader",
            rel.display()
        );
    }
    let o = run(
        &root,
        &["drift", "--db", &url, "--schema", "d", "--dev-url", &dev],
    );
    assert_eq!(code(&o), 0, "the dump loads back in sync: {}", text(&o));
    drop(c);
    server.drop_db(&db);
}

/// PostgreSQL cuts identifiers to 63 bytes: a table created with a 70-byte name is called by
/// its first 63 bytes, and `@renamed from=` with the 70-byte name names that table.
#[test]
fn renamed_from_a_name_longer_than_postgresql_keeps_names_the_cut_table() {
    let server = common::server();
    let (db, url) = server.fresh_db("input_long_rename");
    // 70 bytes; the cut at 63 falls inside the é, so PostgreSQL keeps the 62 a's.
    let long = format!("{}é{}", "a".repeat(62), "b".repeat(6));
    let mut c = server.connect(&db);
    c.batch_execute(&format!(
        "CREATE TABLE public.\"{long}\" (id int); INSERT INTO public.\"{long}\" VALUES (1);"
    ))
    .unwrap();
    let tmp = workdir(
        "t.sql",
        &format!("-- @renamed from=\"{long}\"\nCREATE TABLE public.short (id int);\n"),
    );
    let o = plan(tmp.path(), &url, &server.admin_url(), "p");
    assert_eq!(code(&o), 0, "{}", text(&o));
    let sql = std::fs::read_to_string(tmp.path().join("p/plan.sql")).unwrap();
    assert!(
        sql.contains(&format!(
            "ALTER TABLE public.{} RENAME TO short;",
            "a".repeat(62)
        )),
        "{sql}"
    );
    assert!(!sql.contains("DROP TABLE"), "{sql}");
    drop(c);
    server.drop_db(&db);
}

/// `@using to_timestamp(a)` converts bigint to timestamptz; back, there is no cast and the
/// expression cannot be reused, so the inverse does not prove out. It is written marked
/// `proven: no (...)`, and `rollback` refuses it (changing nothing) unless `--allow-unproven`.
#[test]
fn unproven_inverse_is_marked_and_rollback_refuses_it() {
    let server = common::server();
    let (db, url) = server.fresh_db("input_unproven_inverse");
    let mut c = server.connect(&db);
    c.batch_execute(
        "CREATE TABLE public.e (id int PRIMARY KEY, a bigint NOT NULL);
         INSERT INTO public.e VALUES (1, 86400);",
    )
    .unwrap();
    let tmp = workdir(
        "e.sql",
        "CREATE TABLE public.e (\n    id int PRIMARY KEY,\n    -- @using to_timestamp(a)\n    a timestamptz NOT NULL\n);\n",
    );
    let o = plan(tmp.path(), &url, &server.admin_url(), "p");
    let t = text(&o);
    assert_eq!(code(&o), 0, "{t}");
    assert!(t.contains("the inverse plan did not prove out"), "{t}");
    let inverse = std::fs::read_to_string(tmp.path().join("p/inverse.sql")).unwrap();
    assert!(inverse.contains("\n-- proven: no ("), "{inverse}");
    let forward = std::fs::read_to_string(tmp.path().join("p/plan.sql")).unwrap();
    assert!(!forward.contains("-- proven:"), "{forward}");
    let o = run(
        tmp.path(),
        &["apply", "--db", &url, "p", "--allow-hazards", "all"],
    );
    assert_eq!(code(&o), 0, "{}", text(&o));
    let o = run(
        tmp.path(),
        &["rollback", "--db", &url, "p", "--allow-hazards", "all"],
    );
    let t = text(&o);
    assert_eq!(code(&o), 1, "{t}");
    assert!(
        t.contains("inverse.sql: this plan was not proven") && t.contains("--allow-unproven"),
        "{t}"
    );
    let kind: String = c
        .query_one(
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute \
             WHERE attrelid = 'public.e'::regclass AND attname = 'a'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(kind, "timestamp with time zone", "rollback changed nothing");
    drop(c);
    server.drop_db(&db);
}

/// A plain aggregate in `@backfill` (`sum(a)`) looks like any function call to the loader; the
/// server refuses it when the proof replays the plan, so `plan` fails and writes nothing.
#[test]
fn aggregate_backfill_is_refused_by_the_proof() {
    let server = common::server();
    let (db, url) = server.fresh_db("input_aggregate_backfill");
    let mut c = server.connect(&db);
    c.batch_execute(
        "CREATE TABLE public.t (id int PRIMARY KEY, a int); INSERT INTO public.t VALUES (1, 1);",
    )
    .unwrap();
    let tmp = workdir(
        "t.sql",
        "CREATE TABLE public.t (\n    id int PRIMARY KEY,\n    a int,\n    -- @backfill sum(a)\n    b int NOT NULL\n);\n",
    );
    let o = plan(tmp.path(), &url, &server.admin_url(), "p");
    let t = text(&o);
    assert_eq!(code(&o), 1, "{t}");
    assert!(
        t.contains("aggregate functions are not allowed in UPDATE"),
        "{t}"
    );
    assert!(!tmp.path().join("p").exists(), "{t}");
    drop(c);
    server.drop_db(&db);
}
