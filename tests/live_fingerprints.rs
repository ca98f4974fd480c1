//! The live schema's fingerprint kept between plans (`catalog::fingerprints`, issue 9): a plan
//! fingerprints the live schema it starts from (its `from`); a later plan of a live database
//! whose catalog rows are exactly the same takes the kept fingerprint instead of computing it.
//! It must never stand for a live schema that changed: the plan files are always those a plan
//! without any cache writes.

mod common;

use common::plan_logged;

use std::path::Path;

const SCHEMA: &str = "
CREATE TABLE people (id bigint PRIMARY KEY, name text NOT NULL, born date);
CREATE INDEX people_name ON people (lower(name));
COMMENT ON TABLE people IS 'everyone';
";

/// How many schemas a run fingerprinted: its `fingerprint and object digests` stages (the live
/// schema's, unless it was kept) and its `target fingerprint, first part` stage (the target's,
/// `catalog::printed_head`): a plan computes two unless the live one was kept.
fn fingerprinted(log: &str) -> usize {
    log.lines()
        .map(str::trim_start)
        .filter(|l| {
            l.starts_with("fingerprint and object digests ")
                || l.starts_with("target fingerprint, first part ")
        })
        .count()
}

/// A live database `db` made by `live_sql`, a cache folder, and a work folder whose
/// `schema/schema.sql` is [`SCHEMA`].
struct Setup {
    url: String,
    live: postgres::Client,
    cache: tempfile::TempDir,
    work: tempfile::TempDir,
}

fn setup(db: &str, live_sql: &str) -> Setup {
    let (_, url) = common::server().fresh_db(db);
    let mut live = schemaplan::db::connect(&url).unwrap();
    live.batch_execute(live_sql).unwrap();
    let cache = common::shadow_cache_dir("sp-livefp-");
    let work = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(work.path().join("schema")).unwrap();
    std::fs::write(work.path().join("schema/schema.sql"), SCHEMA).unwrap();
    Setup {
        url,
        live,
        cache,
        work,
    }
}

#[test]
fn a_kept_live_fingerprint_is_used_only_while_the_live_catalog_rows_are_the_same() {
    let Setup {
        url,
        mut live,
        cache,
        work,
    } = setup(
        "live_fingerprints",
        "CREATE TABLE people (id bigint PRIMARY KEY, name text NOT NULL);
         INSERT INTO people VALUES (1, 'a'), (2, 'b');
         COMMENT ON TABLE people IS 'some';",
    );
    let (w, c) = (work.path(), cache.path());

    let first = plan_logged(w, c, &url, "first/p", &[]);
    assert_eq!(fingerprinted(&first), 2, "nothing kept yet:\n{first}");
    let second = plan_logged(w, c, &url, "second/p", &[]);
    assert_eq!(fingerprinted(&second), 1, "the live one is kept:\n{second}");
    let cold = plan_logged(w, c, &url, "cold/p", &["--no-cache"]);
    assert_eq!(fingerprinted(&cold), 2, "--no-cache keeps nothing:\n{cold}");
    assert_eq!(
        common::files_of(&w.join("second/p")),
        common::files_of(&w.join("first/p"))
    );
    assert_eq!(
        common::files_of(&w.join("second/p")),
        common::files_of(&w.join("cold/p"))
    );

    // One catalog row changes (a comment, nothing else): the kept fingerprint is of other
    // rows, so it is computed again, and the plan is the one of the changed live schema.
    live.batch_execute("COMMENT ON TABLE people IS 'others'")
        .unwrap();
    let changed = plan_logged(w, c, &url, "changed/p", &[]);
    assert_eq!(
        fingerprinted(&changed),
        2,
        "the live catalog changed:\n{changed}"
    );
    plan_logged(w, c, &url, "changed_cold/p", &["--no-cache"]);
    assert_eq!(
        common::files_of(&w.join("changed/p")),
        common::files_of(&w.join("changed_cold/p"))
    );
    assert_ne!(
        common::files_of(&w.join("changed/p")),
        common::files_of(&w.join("first/p")),
        "the live schema changed: so does the plan's `from`"
    );
    // ... and that one is kept in turn.
    let again = plan_logged(w, c, &url, "again/p", &[]);
    assert_eq!(fingerprinted(&again), 1, "kept for the new rows:\n{again}");
    assert_eq!(
        common::files_of(&w.join("again/p")),
        common::files_of(&w.join("changed_cold/p"))
    );
}

/// The fingerprint files of cache folder `cache` (`catalog::fingerprints`' place).
fn kept_files(cache: &Path) -> Vec<String> {
    match std::fs::read_dir(cache.join("fingerprints")) {
        Ok(dir) => dir
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Only an unscoped `plan` keeps the live fingerprint: a scoped plan fingerprints the part in
/// scope (not what the rows' digest is of) and `drift` fingerprints nothing, so neither keeps
/// a file nor takes one.
#[test]
fn scoped_plans_and_drift_keep_no_live_fingerprint() {
    let Setup {
        url, cache, work, ..
    } = setup(
        "live_fingerprints_scoped",
        "CREATE TABLE people (id bigint PRIMARY KEY, name text NOT NULL);
         CREATE SCHEMA audit;
         CREATE TABLE audit.log (at timestamptz);
         INSERT INTO people VALUES (1, 'a');",
    );
    let (w, c) = (work.path(), cache.path());

    let scoped = ["--exclude", "schema:audit"];
    for out in ["scoped1/p", "scoped2/p"] {
        let log = plan_logged(w, c, &url, out, &scoped);
        assert_eq!(
            fingerprinted(&log),
            2,
            "a scoped plan keeps nothing:\n{log}"
        );
    }
    assert_eq!(
        kept_files(c),
        Vec::<String>::new(),
        "scoped plans kept a file"
    );

    let drift = common::schemaplan_command(w, &["drift", "--db", &url])
        .env("SCHEMAPLAN_CACHE_DIR", c)
        .output()
        .expect("run schemaplan drift");
    // drift exits 2 here: the live schema is not the desired one
    assert_eq!(
        common::exit_code(&drift),
        2,
        "{}",
        common::output_text(&drift)
    );
    assert_eq!(kept_files(c), Vec::<String>::new(), "drift kept a file");

    // The same cache folder does keep one for an unscoped plan (the check above looks in
    // the right place), which a scoped plan then does not take.
    let whole = plan_logged(w, c, &url, "whole/p", &[]);
    assert_eq!(fingerprinted(&whole), 2, "{whole}");
    assert_eq!(kept_files(c).len(), 1);
    let scoped_after = plan_logged(w, c, &url, "scoped3/p", &scoped);
    assert_eq!(fingerprinted(&scoped_after), 2, "{scoped_after}");
    assert_eq!(
        common::files_of(&w.join("scoped3/p")),
        common::files_of(&w.join("scoped1/p"))
    );
}
