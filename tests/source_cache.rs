//! The cached parse of schema files (`source::cache`) and the live catalog read overlapping the
//! source stage and the desired load (`workflow::sides`), through the binary on a real server
//! with rows in the live tables: `drift` and `plan` say exactly what a `--no-cache` run says; a
//! file edited between two runs is parsed again, also when its size and modification time stay
//! the same; a damaged store is ignored; a syntax error says file:line:col on every run (an
//! error is never stored); a file holding a secret (a user mapping's password) is never
//! stored, so the password is nowhere in the store; when both sides fail, the error of the
//! earlier stage is reported.

mod common;

use common::cached::{drift, run, seen};
use std::path::{Path, PathBuf};
use std::process::Output;

/// Three files, in an order the dependency sort must fix, with annotations.
const FILES: &[(&str, &str)] = &[
    (
        "a_views.sql",
        "CREATE VIEW app.happy AS SELECT id, name FROM app.people WHERE mood = 'happy';\n",
    ),
    (
        "b_tables.sql",
        "CREATE TABLE app.people (\n    id bigint PRIMARY KEY,\n    name text NOT NULL,\n    \
         mood app.mood DEFAULT 'ok'\n);\nCOMMENT ON TABLE app.people IS 'everyone';\n\
         CREATE INDEX people_name ON app.people (lower(name));\n",
    ),
    (
        "c_types.sql",
        "CREATE SCHEMA app;\nCREATE TYPE app.mood AS ENUM ('sad', 'ok', 'happy');\n",
    ),
];

/// The live database: the files' objects in a loadable order, with rows.
fn live_sql() -> String {
    format!(
        "{}{}{}INSERT INTO app.people VALUES (1, 'ann', 'happy'), (2, 'bob', 'sad');\n",
        FILES[2].1, FILES[1].1, FILES[0].1
    )
}

/// A live database with rows, and a work folder whose `schema/` holds [`FILES`].
fn setup(tag: &str) -> (String, tempfile::TempDir) {
    let server = common::server();
    let (name, url) = server.fresh_db(tag);
    server.connect(&name).batch_execute(&live_sql()).unwrap();
    let work = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(work.path().join("schema")).unwrap();
    for (file, sql) in FILES {
        write(work.path(), file, sql);
    }
    (url, work)
}

fn write(work: &Path, file: &str, sql: &str) {
    std::fs::write(work.join("schema").join(file), sql).unwrap();
}

/// `drift -v`'s note on how many files were parsed: `(unchanged, parsed)`, `None` without the
/// note (no cache used).
fn parsed_counts(cwd: &Path, cache: &Path, url: &str) -> Option<(usize, usize)> {
    let o = run(cwd, cache, &["drift", "--db", url, "-v"]);
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    let line = err
        .lines()
        .find(|l| l.starts_with("note: schema files: "))?;
    let words: Vec<&str> = line.split_whitespace().collect();
    // note: schema files: N unchanged since the last run, M parsed
    Some((words[3].parse().unwrap(), words[9].parse().unwrap()))
}

/// The store files of `cache` (`<cache>/sources/*.parsed`).
fn stores(cache: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(cache.join("sources"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "parsed"))
        .collect();
    v.sort();
    v
}

/// Every file of a plan directory, by name.
fn plan_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| {
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
fn drift_and_plan_say_the_same_with_and_without_the_source_cache() {
    let (url, work) = setup("srccache_same");
    // The files differ from the live database: a column, and the comment.
    write(
        work.path(),
        "b_tables.sql",
        &FILES[1]
            .1
            .replace("name text NOT NULL,", "name text NOT NULL,\n    nick text,")
            .replace("'everyone'", "'everyone, really'"),
    );
    let cache = common::shadow_cache_dir("sp-srccache-");
    let cold = drift(work.path(), cache.path(), &url, &["--no-cache"]);
    assert_eq!(cold[0].0, 2, "{}", cold[0].1);
    assert!(cold[0].1.contains("nick"), "{}", cold[0].1);
    assert!(stores(cache.path()).is_empty(), "--no-cache stored parses");
    // The first cached run parses and stores; the next ones parse nothing.
    assert_eq!(drift(work.path(), cache.path(), &url, &[]), cold);
    assert_eq!(stores(cache.path()).len(), 1);
    assert_eq!(parsed_counts(work.path(), cache.path(), &url), Some((3, 0)));
    assert_eq!(drift(work.path(), cache.path(), &url, &[]), cold);
    // Plans: byte for byte the same files (same plan id: same directory name).
    let plan = |out: &str, extra: &[&str]| {
        let out = work.path().join(out).join("p1");
        let args: Vec<&str> = [
            &["plan", "--db", &url, "--out", out.to_str().unwrap()][..],
            extra,
        ]
        .concat();
        let o = run(work.path(), cache.path(), &args);
        assert_eq!(common::exit_code(&o), 0, "{}", common::output_text(&o));
        (
            seen(&o).1.replace(out.to_str().unwrap(), "OUT"),
            plan_files(&out),
        )
    };
    let uncached = plan("a", &["--no-cache"]);
    assert!(!uncached.1.is_empty());
    assert_eq!(plan("b", &[]), uncached);
    assert_eq!(plan("c", &[]), uncached);
}

#[test]
fn a_file_edited_between_two_runs_is_parsed_again_even_with_the_same_size_and_mtime() {
    let (url, work) = setup("srccache_edit");
    let cache = common::shadow_cache_dir("sp-srccache-");
    let in_sync = drift(work.path(), cache.path(), &url, &[]);
    assert_eq!(in_sync[0].0, 0, "{}", in_sync[0].1);
    let path = work.path().join("schema").join("b_tables.sql");
    let before = std::fs::metadata(&path).unwrap();
    // Same length, same modification time, other bytes: the comment says `everyune`.
    let edited = FILES[1].1.replace("'everyone'", "'everyune'");
    assert_eq!(edited.len(), FILES[1].1.len());
    let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    std::io::Write::write_all(&mut &f, edited.as_bytes()).unwrap();
    f.set_modified(before.modified().unwrap()).unwrap();
    drop(f);
    let after = std::fs::metadata(&path).unwrap();
    assert_eq!(
        (after.len(), after.modified().unwrap()),
        (before.len(), before.modified().unwrap())
    );
    let drifted = drift(work.path(), cache.path(), &url, &[]);
    assert_eq!(drifted[0].0, 2, "the edit was not seen: {}", drifted[0].1);
    assert!(drifted[0].1.contains("everyune"), "{}", drifted[0].1);
    assert_eq!(
        drifted,
        drift(work.path(), cache.path(), &url, &["--no-cache"])
    );
    // The edited file alone was parsed again, and is stored: the next run parses nothing.
    assert_eq!(parsed_counts(work.path(), cache.path(), &url), Some((3, 0)));
}

#[test]
fn a_damaged_or_truncated_store_is_ignored_and_written_again() {
    let (url, work) = setup("srccache_damaged");
    let cache = common::shadow_cache_dir("sp-srccache-");
    let in_sync = drift(work.path(), cache.path(), &url, &[]);
    assert_eq!(in_sync[0].0, 0, "{}", in_sync[0].1);
    let store = stores(cache.path()).into_iter().next().expect("a store");
    let good = std::fs::read(&store).unwrap();
    let mut flipped = good.clone();
    let at = good.len() / 2;
    flipped[at] ^= 0x20;
    for bad in [
        flipped,
        good[..good.len() - 1].to_vec(),
        Vec::new(),
        b"junk".to_vec(),
    ] {
        std::fs::write(&store, &bad).unwrap();
        assert_eq!(
            parsed_counts(work.path(), cache.path(), &url),
            Some((0, 3)),
            "a damaged store was used"
        );
        // Written again, whole: the next run takes everything from it.
        assert_eq!(parsed_counts(work.path(), cache.path(), &url), Some((3, 0)));
        assert_eq!(drift(work.path(), cache.path(), &url, &[]), in_sync);
    }
}

#[test]
fn a_syntax_error_says_file_line_col_on_every_run_and_is_never_stored() {
    let (url, work) = setup("srccache_syntax");
    let cache = common::shadow_cache_dir("sp-srccache-");
    assert_eq!(drift(work.path(), cache.path(), &url, &[])[0].0, 0);
    let broken = FILES[1]
        .1
        .replace("name text NOT NULL,", "name text NOT NULL,,");
    write(work.path(), "b_tables.sql", &broken);
    let first = run(work.path(), cache.path(), &["drift", "--db", &url]);
    let first_text = common::output_text(&first);
    assert_eq!(common::exit_code(&first), 1, "{first_text}");
    assert!(
        first_text.contains("schema/b_tables.sql:3:"),
        "no file:line:col: {first_text}"
    );
    // Again (the other files from the store): the same error, not a stored success.
    let again = run(work.path(), cache.path(), &["drift", "--db", &url]);
    assert_eq!(common::exit_code(&again), 1);
    assert_eq!(common::output_text(&again), first_text);
    let uncached = run(
        work.path(),
        cache.path(),
        &["drift", "--db", &url, "--no-cache"],
    );
    assert_eq!(common::output_text(&uncached), first_text);
    // Fixed: parsed, in sync again.
    write(work.path(), "b_tables.sql", FILES[1].1);
    assert_eq!(parsed_counts(work.path(), cache.path(), &url), Some((2, 1)));
    assert_eq!(drift(work.path(), cache.path(), &url, &[])[0].0, 0);
}

/// Every file under `dir` but PostgreSQL's own data directories (the embedded cluster keeps
/// the loaded desired schema, mapping and all, as any database holding it does), with its bytes.
fn files_outside_clusters(dir: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
    if dir.join("PG_VERSION").is_file() {
        return;
    }
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = entry.path();
        if p.is_dir() {
            files_outside_clusters(&p, out);
        } else if let Ok(bytes) = std::fs::read(&p) {
            out.push((p, bytes));
        }
    }
}

#[test]
fn a_schema_file_holding_a_password_is_never_written_to_the_source_cache() {
    const PLANTED: &str = "Planted-Secret-5e91c7";
    let (url, work) = setup("srccache_secret");
    // The live database has the server and mapping (another password: secrets compare by key).
    let remote = |password: &str| {
        format!(
            "CREATE FOREIGN DATA WRAPPER plain_fdw;\n\
             CREATE SERVER archive FOREIGN DATA WRAPPER plain_fdw OPTIONS (host 'a.internal');\n\
             CREATE USER MAPPING FOR PUBLIC SERVER archive\n  \
             OPTIONS (user 'app', password '{password}');\n"
        )
    };
    schemaplan::db::connect(&url)
        .unwrap()
        .batch_execute(&remote("Live-Other-0a1b"))
        .unwrap();
    write(work.path(), "d_remote.sql", &remote(PLANTED));
    let cache = common::shadow_cache_dir("sp-srccache-");
    let first = drift(work.path(), cache.path(), &url, &[]);
    assert_eq!(first[0].0, 0, "{}", first[0].1);
    // The three other files come from the store; the one with the password is parsed again.
    assert_eq!(parsed_counts(work.path(), cache.path(), &url), Some((3, 1)));
    assert_eq!(drift(work.path(), cache.path(), &url, &[]), first);
    assert!(!stores(cache.path()).is_empty(), "no store written");
    let mut files = Vec::new();
    files_outside_clusters(cache.path(), &mut files);
    let needle = PLANTED.as_bytes();
    for (path, bytes) in &files {
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle),
            "{} holds the schema file's password",
            path.display()
        );
    }
}

#[test]
fn when_both_sides_fail_the_earlier_stage_error_is_reported() {
    let (_, work) = setup("srccache_errors");
    let cache = common::shadow_cache_dir("sp-srccache-");
    // A live database that does not exist: the live read fails at once.
    let gone = common::server().url("srccache_no_such_database");
    let live_error = |o: &Output| common::output_text(o).contains("srccache_no_such_database");
    // The schema files fail in the source stage (a syntax error): that is reported, as a run
    // that reads the files before the live database says; every time.
    write(work.path(), "d_bad.sql", "CREATE TABLE oops (a int,);\n");
    for args in [
        &["drift", "--db", &gone][..],
        &["plan", "--db", &gone, "--check"][..],
    ] {
        for _ in 0..3 {
            let o = run(work.path(), cache.path(), args);
            let t = common::output_text(&o);
            assert_eq!(common::exit_code(&o), 1, "{t}");
            assert!(t.contains("schema/d_bad.sql:1:"), "{args:?}: {t}");
            assert!(!live_error(&o), "{args:?}: {t}");
        }
    }
    // The files parse but fail to load in the shadow: the live read's error is reported (the
    // live side is read before the load), not the load's; every time.
    write(
        work.path(),
        "d_bad.sql",
        "CREATE TABLE oops (a no_such_type);\n",
    );
    for args in [
        &["drift", "--db", &gone][..],
        &["plan", "--db", &gone, "--check"][..],
    ] {
        for _ in 0..3 {
            let o = run(work.path(), cache.path(), args);
            let t = common::output_text(&o);
            assert_eq!(common::exit_code(&o), 1, "{t}");
            assert!(live_error(&o), "{args:?}: {t}");
            assert!(!t.contains("no_such_type"), "{args:?}: {t}");
        }
    }
    // With a live database, the load error is the one.
    let (_, url) = common::server().fresh_db("srccache_errors_live");
    let o = run(work.path(), cache.path(), &["drift", "--db", &url]);
    let t = common::output_text(&o);
    assert_eq!(common::exit_code(&o), 1, "{t}");
    assert!(t.contains("no_such_type"), "{t}");
}

#[test]
fn verbose_drift_and_plan_still_time_every_stage() {
    let (url, work) = setup("srccache_stages");
    let cache = common::shadow_cache_dir("sp-srccache-");
    for args in [
        &["drift", "--db", &url, "-v"][..],
        &["plan", "--db", &url, "--check", "-v"][..],
    ] {
        let o = run(work.path(), cache.path(), args);
        let err = String::from_utf8_lossy(&o.stderr).to_string();
        assert_eq!(common::exit_code(&o), 0, "{err}");
        for stage in [
            "source",
            "shadow start",
            "catalog reads",
            "shadow load",
            "diff",
        ] {
            assert!(
                err.lines()
                    .any(|l| l.starts_with(&format!("timing: {stage} "))),
                "{args:?}: no {stage} line in\n{err}"
            );
        }
    }
}

/// Library level, no server: for every source fixture, loading through the store (first
/// filling it, then from it) gives exactly what a plain load gives, errors included.
#[test]
fn the_cached_load_of_every_source_fixture_equals_the_plain_load() {
    let cache = tempfile::tempdir().unwrap();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("fixtures/source")
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 5);
    let shown = |r: Result<schemaplan::source::SourceSet, schemaplan::source::SourceError>| match r
    {
        Ok(set) => Ok(set),
        Err(e) => Err(e.to_string()),
    };
    for dir in dirs {
        let plain = shown(schemaplan::source::load_dir(&dir));
        for round in 0..2 {
            let cached = shown(schemaplan::source::load_dir_cached(
                &dir,
                Some(cache.path()),
            ));
            assert_eq!(cached, plain, "{} (round {round})", dir.display());
        }
    }
}
