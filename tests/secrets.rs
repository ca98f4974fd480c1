//! A password never leaves schemaplan: plan, status, apply, drift, dump and rollback run
//! against a server that really checks a SCRAM password (tests/common/secure.rs), once with
//! the password in the URL and once in `PGPASSWORD`, and stdout, stderr, every file written
//! (plans, dumps) and the bookkeeping tables are searched for it, raw and
//! percent-encoded. Error paths (a refused hazard, a failed connection) are part of the run.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::secure::{secure_server, ALICE_PASSWORD};

fn run(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_schemaplan"));
    cmd.args(args)
        .current_dir(cwd)
        .env_remove("DATABASE_URL")
        .env_remove("SCHEMAPLAN_DEV_URL")
        .env_remove("PGPASSWORD")
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run schemaplan")
}

/// Every form the password could be printed in.
fn forms() -> Vec<String> {
    vec![
        ALICE_PASSWORD.to_string(),
        schemaplan::db::percent_encode(ALICE_PASSWORD),
        // The part before the first URL-special character, in case of a cut.
        ALICE_PASSWORD.split('/').next().unwrap().to_string() + "/",
    ]
}

fn assert_clean(what: &str, text: &str) {
    for f in forms() {
        assert!(
            !text.contains(&f),
            "{what} contains the password ({f}):\n{text}"
        );
    }
}

/// Every file under `dir`, recursively.
fn files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn workflow(tag: &str, url: &str, dev: &str, env: &[(&str, &str)]) {
    let s = secure_server();
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    std::fs::create_dir(cwd.join("schema")).unwrap();
    std::fs::write(
        cwd.join("schema/users.sql"),
        "CREATE TABLE public.users (id bigint PRIMARY KEY, email text NOT NULL);\n",
    )
    .unwrap();
    let mut steps = 0;
    let mut step = |args: &[&str], want: i32| -> String {
        let o = run(cwd, args, env);
        let out = String::from_utf8_lossy(&o.stdout).into_owned();
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert_clean(&format!("{tag}: stdout of {}", args[0]), &out);
        assert_clean(&format!("{tag}: stderr of {}", args[0]), &err);
        assert_eq!(
            o.status.code(),
            Some(want),
            "{tag}: {}: {out}{err}",
            args[0]
        );
        steps += 1;
        out + &err
    };
    step(&["drift", "--db", url, "--dev-url", dev], 2);
    step(
        &["plan", "--db", url, "--dev-url", dev, "--out", "plans/p1"],
        0,
    );
    step(&["status", "--db", url], 0);
    step(&["apply", "--db", url, "plans/p1", "--dry-run"], 0);
    step(&["apply", "--db", url, "plans/p1"], 0);
    step(&["drift", "--db", url, "--dev-url", dev], 0);
    step(
        &["dump", "--db", url, "--dev-url", dev, "--out", "dumped"],
        0,
    );
    std::fs::write(
        cwd.join("schema/users.sql"),
        "CREATE TABLE public.users (id bigint PRIMARY KEY);\n",
    )
    .unwrap();
    step(
        &["plan", "--db", url, "--dev-url", dev, "--out", "plans/p2"],
        0,
    );
    // Refused (data-loss), then allowed (the drop is in the contract phase).
    let t = step(&["apply", "--db", url, "plans/p2", "--phase", "all"], 1);
    assert!(t.contains("data-loss"), "{t}");
    step(
        &[
            "apply",
            "--db",
            url,
            "plans/p2",
            "--phase",
            "all",
            "--allow-hazards",
            "all",
        ],
        0,
    );
    step(
        &[
            "rollback",
            "--db",
            url,
            "plans/p2",
            "--allow-hazards",
            "all",
        ],
        0,
    );
    step(&["status", "--db", url], 0);
    // An error that names the connection: a database that does not exist.
    let missing = url.replacen(&format!("/{}", db_of(url)), "/no_such_db", 1);
    let t = step(&["status", "--db", &missing], 1);
    assert!(t.contains("no_such_db"), "{t}");
    assert_eq!(steps, 13, "every command ran");

    let mut written = Vec::new();
    files(cwd, &mut written);
    assert!(
        written.iter().any(|p| p.ends_with("plan.sql")) && written.len() > 6,
        "{written:?}"
    );
    for p in &written {
        let text = String::from_utf8_lossy(&std::fs::read(p).unwrap()).into_owned();
        assert_clean(&format!("{tag}: {}", p.display()), &text);
    }
    let book: String = s
        .admin_db(&db_of(url))
        .query_one(
            "SELECT (SELECT string_agg(r::text, E'\\n') FROM schemaplan.runs r) || E'\\n' || \
                    (SELECT string_agg(s::text, E'\\n') FROM schemaplan.steps s)",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(book.contains("alice"), "{book}");
    assert_clean(&format!("{tag}: the bookkeeping"), &book);
}

/// The database name of a test URL (`.../DB?...`).
fn db_of(url: &str) -> String {
    let path = url.rsplit('/').next().unwrap();
    path.split('?').next().unwrap().to_string()
}

#[test]
fn password_in_the_url_appears_nowhere() {
    let s = secure_server();
    let db = s.fresh_db("secrets_url", "alice");
    let url = s.url(
        "alice",
        Some(ALICE_PASSWORD),
        "127.0.0.1",
        &db,
        "sslmode=require",
    );
    let dev = s.url(
        "alice",
        Some(ALICE_PASSWORD),
        "127.0.0.1",
        "postgres",
        "sslmode=require",
    );
    assert!(url.contains(&schemaplan::db::percent_encode(ALICE_PASSWORD)));
    workflow("password in URL", &url, &dev, &[]);
}

#[test]
fn password_in_pgpassword_appears_nowhere() {
    let s = secure_server();
    let db = s.fresh_db("secrets_env", "alice");
    let url = s.url("alice", None, "127.0.0.1", &db, "sslmode=require");
    let dev = s.url("alice", None, "127.0.0.1", "postgres", "sslmode=require");
    workflow("PGPASSWORD", &url, &dev, &[("PGPASSWORD", ALICE_PASSWORD)]);
}

/// The bookkeeping tables (schema `schemaplan`) belong to the role that applied first, with no
/// grants: another role can neither read nor change them.
#[test]
fn bookkeeping_is_not_readable_by_other_roles() {
    let s = secure_server();
    let db = s.fresh_db("secrets_book", "alice");
    let url = s.url(
        "alice",
        Some(ALICE_PASSWORD),
        "127.0.0.1",
        &db,
        "sslmode=require",
    );
    let dev = s.url(
        "alice",
        Some(ALICE_PASSWORD),
        "127.0.0.1",
        "postgres",
        "sslmode=require",
    );
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("schema")).unwrap();
    std::fs::write(
        tmp.path().join("schema/t.sql"),
        "CREATE TABLE public.t (id int);\n",
    )
    .unwrap();
    for args in [
        vec!["plan", "--db", &url, "--dev-url", &dev, "--out", "plans/p"],
        vec!["apply", "--db", &url, "plans/p"],
    ] {
        let o = run(tmp.path(), &args, &[]);
        assert_eq!(o.status.code(), Some(0), "{o:?}");
    }
    let mut admin = s.admin_db(&db);
    admin
        .batch_execute(
            "DO $$BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'mallory') \
             THEN CREATE ROLE mallory LOGIN; END IF; END$$; \
             GRANT ALL ON SCHEMA public TO mallory",
        )
        .unwrap();
    let owners: String = admin
        .query_one(
            "SELECT string_agg(x, ', ' ORDER BY x) FROM ( \
               SELECT nspname || ' ' || pg_get_userbyid(nspowner) || ' ' || \
                      coalesce(nspacl::text, '(default)') AS x \
               FROM pg_namespace WHERE nspname = 'schemaplan' \
               UNION ALL SELECT relname || ' ' || pg_get_userbyid(relowner) || ' ' || \
                      coalesce(relacl::text, '(default)') \
               FROM pg_class WHERE relnamespace = 'schemaplan'::regnamespace \
                 AND relkind = 'r') o",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(
        owners, "runs alice (default), schemaplan alice (default), steps alice (default)",
        "owner only, no grants"
    );
    let mallory = s.url("mallory", None, "127.0.0.1", &db, "sslmode=require");
    let mut m = schemaplan::db::connect(&mallory).unwrap_or_else(|e| panic!("{e}"));
    for sql in [
        "SELECT * FROM schemaplan.runs",
        "UPDATE schemaplan.runs SET outcome = 'failed'",
        "DELETE FROM schemaplan.steps",
        "DROP TABLE schemaplan.runs CASCADE",
        "CREATE TABLE schemaplan.x (id int)",
    ] {
        let err = m.batch_execute(sql).expect_err(sql);
        let text = schemaplan::db::error_text(&err);
        assert!(
            text.contains("permission denied") || text.contains("must be owner"),
            "{sql}: {text}"
        );
    }
}
