//! The warm shadow: the embedded shadow keeps the loaded desired database between runs
//! (`Shadow::warm_keep`) and a run with the same statements, roles, server and settings
//! starts from a copy of it instead of loading the files again. The result must be what a
//! fresh load gives: the same `Schema`, byte-identical plan files. Any change to the files is
//! a fresh load; `--no-cache` bypasses the cache.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use schemaplan::shadow::{Shadow, ShadowOptions};
use schemaplan::workflow;

const SCHEMA: &str = "
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TABLE people (id bigint PRIMARY KEY, name text NOT NULL, mood mood DEFAULT 'ok');
CREATE INDEX people_name ON people (lower(name));
CREATE VIEW happy_people AS SELECT id, name FROM people WHERE mood = 'happy';
COMMENT ON TABLE people IS 'everyone';
";

fn embedded(cache: &Path, no_cache: bool) -> Shadow {
    Shadow::start(&ShadowOptions {
        cache_dir: Some(cache.to_path_buf()),
        no_cache,
        ..Default::default()
    })
    .unwrap_or_else(|e| panic!("{e}"))
}

fn source(dir: &Path, sql: &str) -> schemaplan::source::SourceSet {
    let schema = dir.join("schema");
    std::fs::create_dir_all(&schema).unwrap();
    std::fs::write(schema.join("schema.sql"), sql).unwrap();
    schemaplan::source::load_dir(&schema).unwrap()
}

#[test]
fn same_files_reuse_the_kept_database_and_read_the_same_schema() {
    let cache = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let src = source(files.path(), SCHEMA);
    let cold = {
        let shadow = embedded(cache.path(), false);
        let d = workflow::desired_db(&shadow, &src, &[], &workflow::Context::default()).unwrap();
        assert!(!d.warm, "an empty cache was warm");
        d.schema
    };
    // A new process would start the cluster again; a new Shadow is the closest in a test.
    let shadow = embedded(cache.path(), false);
    let warm = workflow::desired_db(&shadow, &src, &[], &workflow::Context::default()).unwrap();
    assert!(warm.warm, "the same files were loaded again");
    assert_eq!(warm.schema, cold);
    // The warm copy serves the proof like a fresh load: it is a database of its own.
    let mut c = warm.db.connect().unwrap();
    let n: i64 = c
        .query_one("SELECT count(*) FROM people", &[])
        .unwrap()
        .get(0);
    assert_eq!(n, 0);
    drop(c);

    // An edit, other roles, --no-cache: each loads afresh (and the result is the new schema).
    let edited = source(
        files.path(),
        &SCHEMA.replace("'everyone'", "'everyone, really'"),
    );
    let d = workflow::desired_db(&shadow, &edited, &[], &workflow::Context::default()).unwrap();
    assert!(!d.warm, "an edited file reused the old load");
    assert_ne!(d.schema, cold);
    let d = workflow::desired_db(
        &shadow,
        &src,
        &["warm_test_role".to_string()],
        &workflow::Context::default(),
    )
    .unwrap();
    assert!(!d.warm, "other roles reused the load of the old ones");
    let uncached = embedded(cache.path(), true);
    let d = workflow::desired_db(&uncached, &src, &[], &workflow::Context::default()).unwrap();
    assert!(!d.warm, "--no-cache used the cache");
    assert_eq!(d.schema, cold);
}

#[test]
fn a_failed_load_is_not_kept() {
    let cache = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let bad = source(
        files.path(),
        "CREATE TABLE t (id int);\nCREATE INDEX t_x ON t (no_such_column);\n",
    );
    let shadow = embedded(cache.path(), false);
    for _ in 0..2 {
        assert!(workflow::desired_db(&shadow, &bad, &[], &workflow::Context::default()).is_err());
    }
    let mut c = schemaplan::db::connect(&shadow.admin_url()).unwrap();
    let kept: i64 = c
        .query_one(
            "SELECT count(*) FROM pg_database WHERE datname LIKE 'schemaplan\\_warm\\_%'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(kept, 0);
}

#[test]
fn concurrent_runs_on_one_cache_agree() {
    let cache = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let src = source(files.path(), SCHEMA);
    let shadow = embedded(cache.path(), false);
    let schemas: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..3)
            .map(|_| {
                s.spawn(|| {
                    workflow::desired_db(&shadow, &src, &[], &workflow::Context::default())
                        .unwrap()
                        .schema
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(schemas.windows(2).all(|w| w[0] == w[1]));
    let warm = workflow::desired_db(&shadow, &src, &[], &workflow::Context::default()).unwrap();
    assert!(warm.warm);
    assert_eq!(warm.schema, schemas[0]);
}

fn plan(cwd: &Path, cache: &Path, db: &str, out: &str, extra: &[&str]) -> PathBuf {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_schemaplan"));
    cmd.args(["plan", "--db", db, "--out", out])
        .args(extra)
        .current_dir(cwd)
        .env("SCHEMAPLAN_CACHE_DIR", cache)
        .env_remove("DATABASE_URL")
        .env_remove("SCHEMAPLAN_DEV_URL")
        .env_remove("SCHEMAPLAN_ENV")
        .env_remove("SCHEMAPLAN_CONFIG")
        .stdin(std::process::Stdio::null());
    let o = cmd.output().unwrap();
    assert_eq!(
        common::exit_code(&o),
        0,
        "plan {out}:\n{}",
        common::output_text(&o)
    );
    cwd.join(out)
}

fn files_of(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().to_string(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn warm_plan_files_are_byte_identical_to_a_cold_plan() {
    let server = common::server();
    let (_, url) = server.fresh_db("warm_plan");
    let mut c = schemaplan::db::connect(&url).unwrap();
    c.batch_execute(
        "CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
         CREATE TABLE people (id bigint PRIMARY KEY, name text NOT NULL);
         INSERT INTO people VALUES (1, 'a'), (2, 'b');",
    )
    .unwrap();
    let cache = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    source(work.path(), SCHEMA);
    let cold = plan(work.path(), cache.path(), &url, "cold/p", &["--no-cache"]);
    let first = plan(work.path(), cache.path(), &url, "first/p", &[]);
    let warm = plan(work.path(), cache.path(), &url, "warm/p", &[]);
    assert_eq!(files_of(&first), files_of(&cold));
    assert_eq!(files_of(&warm), files_of(&cold));
}
