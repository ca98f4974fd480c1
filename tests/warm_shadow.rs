//! The warm shadow: the embedded shadow keeps the loaded desired database between runs
//! (`Shadow::warm_keep`, by renaming it) and a run with the same statements, roles, server and
//! settings uses it in place instead of loading the files again (its proof runs there, in a
//! transaction it rolls back); a run with edited files takes the kept database sharing the
//! most statements over (renamed, no copy) and re-runs in one transaction only the changed
//! statements and those that depend on them (`shadow::warm`); when another run uses it, or the
//! transaction fails, a copy of it is updated instead. The result must be what a fresh load gives: the same
//! `Schema` (and fingerprint), byte-identical plan files. Whatever the incremental path cannot
//! be sure of is a fresh load; `--no-cache` bypasses the cache.

mod common;

use std::path::{Path, PathBuf};

use schemaplan::shadow::{Role, Shadow, ShadowOptions};
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
    let cache = common::shadow_cache_dir("sp-warm-");
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
    // The kept database itself serves the proof, in place (in a transaction it rolls back),
    // connected to under a borrow: no copy of it is made.
    assert!(warm.db.is_kept());
    let borrowed = warm.db.borrow().unwrap();
    let mut c = borrowed.connect().unwrap();
    let n: i64 = c
        .query_one("SELECT count(*) FROM people", &[])
        .unwrap()
        .get(0);
    assert_eq!(n, 0);
    drop(c);
    drop(borrowed);

    // An edit is an incremental update (of the commented table and what depends on it);
    // other roles and --no-cache load afresh (and the result is the new schema).
    let edited = source(
        files.path(),
        &SCHEMA.replace("'everyone'", "'everyone, really'"),
    );
    let d = workflow::desired_db(&shadow, &edited, &[], &workflow::Context::default()).unwrap();
    assert!(!d.warm, "an edited file reused the old load as it was");
    assert!(d.incremental.is_some(), "not updated: {:?}", d.fallback);
    assert_ne!(d.schema, cold);
    let plain = [Role::plain("warm_test_role")];
    let d = workflow::desired_db(&shadow, &src, &plain, &workflow::Context::default()).unwrap();
    assert!(!d.warm, "other roles reused the load of the old ones");
    // A role's SUPERUSER attribute is context too (issue 14), both ways.
    let superuser = [Role {
        name: "warm_test_role".to_string(),
        superuser: true,
    }];
    let d = workflow::desired_db(&shadow, &src, &superuser, &workflow::Context::default()).unwrap();
    assert!(
        !d.warm,
        "a role turned superuser reused the load of the plain one"
    );
    let d = workflow::desired_db(&shadow, &src, &plain, &workflow::Context::default()).unwrap();
    assert!(d.warm, "the plain role's load was not kept");
    let uncached = embedded(cache.path(), true);
    let d = workflow::desired_db(&uncached, &src, &[], &workflow::Context::default()).unwrap();
    assert!(!d.warm, "--no-cache used the cache");
    assert_eq!(d.schema, cold);
}

#[test]
fn a_failed_load_is_not_kept() {
    let cache = common::shadow_cache_dir("sp-warm-");
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
    let cache = common::shadow_cache_dir("sp-warm-");
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
    let args = [&["plan", "--db", db, "--out", out], extra].concat();
    let o = common::schemaplan_command(cwd, &args)
        .env("SCHEMAPLAN_CACHE_DIR", cache)
        .output()
        .unwrap();
    assert_eq!(
        common::exit_code(&o),
        0,
        "plan {out}:\n{}",
        common::output_text(&o)
    );
    cwd.join(out)
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
    let cache = common::shadow_cache_dir("sp-warm-");
    let work = tempfile::tempdir().unwrap();
    source(work.path(), SCHEMA);
    let cold = plan(work.path(), cache.path(), &url, "cold/p", &["--no-cache"]);
    let first = plan(work.path(), cache.path(), &url, "first/p", &[]);
    let warm = plan(work.path(), cache.path(), &url, "warm/p", &[]);
    assert_eq!(common::files_of(&first), common::files_of(&cold));
    assert_eq!(common::files_of(&warm), common::files_of(&cold));
}

// ---------------------------------------------------------------------------------------------
// Incremental updates: every result is compared with a fresh load of the same files.

/// Writes `files` (name, text) as the only files of `dir`/schema and reads them.
fn source_files(dir: &Path, files: &[(&str, String)]) -> schemaplan::source::SourceSet {
    let schema = dir.join("schema");
    let _ = std::fs::remove_dir_all(&schema);
    std::fs::create_dir_all(&schema).unwrap();
    for (name, text) in files {
        std::fs::write(schema.join(name), text).unwrap();
    }
    schemaplan::source::load_dir(&schema).unwrap()
}

/// Loads `src` on the warm shadow and afresh on the uncached one and checks they agree (the
/// same `Schema` and fingerprint, or the same error). Returns how many statements the warm
/// side re-ran (`None`: it did not update incrementally) and why it fell back.
fn warm_equals_cold(
    warm: &Shadow,
    cold: &Shadow,
    src: &schemaplan::source::SourceSet,
    what: &str,
) -> (Option<usize>, Option<String>) {
    let ctx = workflow::Context::default();
    let w = workflow::desired_db(warm, src, &[], &ctx);
    let c = workflow::desired_db(cold, src, &[], &ctx);
    match (w, c) {
        (Ok(w), Ok(c)) => {
            assert!(
                !c.warm && c.incremental.is_none(),
                "{what}: --no-cache was warm"
            );
            if w.schema != c.schema {
                let changes = schemaplan::diff::diff(&c.schema, &w.schema);
                panic!(
                    "{what}: the warm load (incremental: {:?}, fallback: {:?}) differs from a \
                     fresh one: {changes:#?}",
                    w.incremental, w.fallback
                );
            }
            assert_eq!(
                schemaplan::catalog::fingerprint(&w.schema),
                schemaplan::catalog::fingerprint(&c.schema),
                "{what}"
            );
            (w.incremental, w.fallback)
        }
        (Err(w), Err(c)) => {
            assert_eq!(w.to_string(), c.to_string(), "{what}: different errors");
            (None, None)
        }
        (w, c) => panic!(
            "{what}: warm {:?} but fresh {:?}",
            w.map(|d| d.schema).err(),
            c.map(|d| d.schema).err()
        ),
    }
}

const TABLES: &str = "
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE FUNCTION default_name() RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT 'nobody' $$;
CREATE FUNCTION valid_name(n text) RETURNS boolean LANGUAGE sql IMMUTABLE
  AS $$ SELECT length(n) > 0 $$;
CREATE TABLE people (
  id bigint PRIMARY KEY,
  name text NOT NULL DEFAULT default_name() CHECK (valid_name(name)),
  mood mood DEFAULT 'ok'
);
CREATE INDEX people_name ON people (lower(name));
CREATE TABLE orders (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  person bigint NOT NULL REFERENCES people (id),
  total numeric(10, 2)
);
COMMENT ON TABLE people IS 'everyone';
COMMENT ON COLUMN orders.total IS 'with tax';
";

const VIEWS: &str = "
CREATE VIEW happy_people AS SELECT id, name FROM people WHERE mood = 'happy';
CREATE VIEW big_orders AS SELECT o.id, p.name FROM orders o JOIN people p ON p.id = o.person
  WHERE o.total > 100;
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER orders_touch BEFORE UPDATE ON orders FOR EACH ROW EXECUTE FUNCTION touch();
";

#[test]
fn edits_update_the_kept_database_incrementally_and_give_what_a_fresh_load_gives() {
    let cache = common::shadow_cache_dir("sp-warm-");
    let files = tempfile::tempdir().unwrap();
    let warm = embedded(cache.path(), false);
    let cold = embedded(cache.path(), true);
    let f = |tables: &str, views: &str| {
        vec![
            ("tables.sql", tables.to_string()),
            ("views.sql", views.to_string()),
        ]
    };
    let base = source_files(files.path(), &f(TABLES, VIEWS));
    let (n, _) = warm_equals_cold(&warm, &cold, &base, "first load");
    assert_eq!(n, None, "an empty cache updated something");

    // (what, files, whether the update must be incremental, most statements it may re-run)
    type Step<'a> = (&'a str, Vec<(&'a str, String)>, bool, usize);
    let steps: Vec<Step> = vec![
        (
            "a column added to a table with a view over it",
            f(
                &TABLES.replace(
                    "mood mood DEFAULT 'ok'",
                    "mood mood DEFAULT 'ok', born date",
                ),
                VIEWS,
            ),
            true,
            // people, its index, comment, orders (FK), comment, both views, trigger
            8,
        ),
        (
            "the function of a default edited",
            f(
                &TABLES
                    .replace(
                        "mood mood DEFAULT 'ok'",
                        "mood mood DEFAULT 'ok', born date",
                    )
                    .replace("SELECT 'nobody'", "SELECT 'no one'"),
                VIEWS,
            ),
            true,
            9,
        ),
        (
            "the function of a CHECK edited",
            f(&TABLES.replace("length(n) > 0", "length(n) > 1"), VIEWS),
            true,
            10,
        ),
        ("back to the start", f(TABLES, VIEWS), true, 10),
        (
            "a comment edited",
            f(&TABLES.replace("'with tax'", "'without tax'"), VIEWS),
            true,
            // orders, its comment, the view and the trigger over it
            4,
        ),
        (
            "a comment removed",
            f(
                &TABLES.replace("COMMENT ON COLUMN orders.total IS 'with tax';", ""),
                VIEWS,
            ),
            true,
            4,
        ),
        (
            "a view's dependency changed",
            f(
                TABLES,
                &VIEWS.replace(
                    "SELECT id, name FROM people WHERE mood = 'happy'",
                    "SELECT id, total FROM orders WHERE total > 0",
                ),
            ),
            true,
            // both versions of the comment statement, orders, the view, ...
            5,
        ),
        (
            "a table added",
            f(
                &format!("{TABLES}\nCREATE TABLE audit (at timestamptz DEFAULT now());"),
                VIEWS,
            ),
            true,
            // the new table, and from the base sharing the most (the one without the column
            // comment: fewest statements left over) the comment, orders, its view and trigger
            5,
        ),
        ("a table removed", f(TABLES, VIEWS), true, 1),
        (
            "a declared rename",
            f(
                &TABLES
                    .replace(
                        "CREATE TABLE orders",
                        "-- @renamed from=orders\nCREATE TABLE purchases",
                    )
                    .replace("ON COLUMN orders.total", "ON COLUMN purchases.total"),
                &VIEWS
                    .replace("FROM orders o", "FROM purchases o")
                    .replace("ON orders", "ON purchases"),
            ),
            true,
            6,
        ),
        (
            "an annotation changed",
            f(
                &TABLES.replace(
                    "mood mood DEFAULT 'ok'",
                    "mood mood DEFAULT 'ok' -- @backfill 'ok'",
                ),
                VIEWS,
            ),
            true,
            usize::MAX,
        ),
        (
            "files merged and reordered",
            vec![("all.sql", format!("{VIEWS}\n{TABLES}"))],
            true,
            usize::MAX,
        ),
        (
            "files split",
            vec![
                ("a.sql", TABLES.to_string()),
                (
                    "b.sql",
                    VIEWS.replace("CREATE FUNCTION touch", "\nCREATE FUNCTION touch"),
                ),
            ],
            true,
            usize::MAX,
        ),
        (
            "a DO block: loaded afresh",
            f(
                TABLES,
                &format!("{VIEWS}\nDO $$ BEGIN CREATE TABLE made_by_do (x int); END $$;"),
            ),
            false,
            0,
        ),
        ("and back", f(TABLES, VIEWS), false, 0),
        (
            "a statement that fails: the same error as a fresh load",
            f(
                TABLES,
                &format!("{VIEWS}\nCREATE INDEX bad ON orders (no_such_column);"),
            ),
            false,
            0,
        ),
        (
            "after the failure, an edit still updates",
            f(&TABLES.replace("'everyone'", "'all'"), VIEWS),
            true,
            usize::MAX,
        ),
    ];
    for (what, files_now, incremental, at_most) in steps {
        let src = source_files(files.path(), &files_now);
        let (n, why) = warm_equals_cold(&warm, &cold, &src, what);
        if incremental {
            let n = n.unwrap_or_else(|| panic!("{what}: loaded afresh: {why:?}"));
            assert!(n <= at_most, "{what}: {n} statements re-ran");
            assert!(
                n < src.statements.len() || at_most == usize::MAX,
                "{what}: everything re-ran"
            );
        } else {
            assert_eq!(n, None, "{what}: updated incrementally");
        }
    }
}

/// The manifest a kept database carries is written as a string literal of its JSON
/// (`quote::push_literal`): names holding quotes and backslashes, which the JSON carries as
/// they are, must come back from the server intact, else the next run has no manifest and
/// loads afresh (only slower, so nothing else would notice).
#[test]
fn names_with_quotes_and_backslashes_keep_the_manifest_usable() {
    let cache = common::shadow_cache_dir("sp-warm-");
    let files = tempfile::tempdir().unwrap();
    let warm = embedded(cache.path(), false);
    let cold = embedded(cache.path(), true);
    let sql = |comment: &str| {
        vec![(
            "schema.sql",
            format!(
                "CREATE TABLE \"o'brien\\x\" (id int PRIMARY KEY, \"it's\" text);\n\
                 CREATE VIEW \"v'\\\" AS SELECT \"it's\" FROM \"o'brien\\x\";\n\
                 COMMENT ON TABLE \"o'brien\\x\" IS E'{comment}';\n"
            ),
        )]
    };
    let base = source_files(files.path(), &sql("a \\\\ b ''c''"));
    let (n, _) = warm_equals_cold(&warm, &cold, &base, "first load");
    assert_eq!(n, None);
    let edited = source_files(files.path(), &sql("a \\\\ b ''d''"));
    let (n, why) = warm_equals_cold(&warm, &cold, &edited, "the comment edited");
    assert!(n.is_some(), "not updated incrementally: {why:?}");
}

/// A kept database updated to hold no object of its own (schema files without a statement):
/// the update reads the objects after it as arrays (`shadow::warm::read_objects` before it),
/// which are NULL when there is nothing to aggregate.
#[test]
fn an_update_that_leaves_the_kept_database_without_objects() {
    let cache = common::shadow_cache_dir("sp-warm-");
    let files = tempfile::tempdir().unwrap();
    let warm = embedded(cache.path(), false);
    let cold = embedded(cache.path(), true);
    let nothing = || vec![("schema.sql", "-- nothing yet\n".to_string())];
    let one = || {
        vec![(
            "schema.sql",
            "CREATE TABLE t (id int PRIMARY KEY);\n".to_string(),
        )]
    };
    let table = source_files(files.path(), &one());
    warm_equals_cold(&warm, &cold, &table, "first load");
    let empty = source_files(files.path(), &nothing());
    let (n, why) = warm_equals_cold(&warm, &cold, &empty, "the table removed");
    assert!(n.is_some(), "not updated incrementally: {why:?}");
    // Files without a statement keep no database to update: the table comes back by a load.
    let table = source_files(files.path(), &one());
    warm_equals_cold(&warm, &cold, &table, "a table added to nothing");
}

/// A text search dictionary made again (its template changed) takes the configurations
/// mapping to it along (`DROP ... CASCADE`): the `ALTER TEXT SEARCH CONFIGURATION ... ADD
/// MAPPING` statements must re-run with them. They named nothing the incremental path could
/// follow, so the warm load lost the mappings (found by the random edit sequences).
#[test]
fn a_dictionary_made_again_reruns_the_mappings_of_its_configurations() {
    let cache = common::shadow_cache_dir("sp-warm-");
    let files = tempfile::tempdir().unwrap();
    let warm = embedded(cache.path(), false);
    let cold = embedded(cache.path(), true);
    let schema = |template: &str| {
        format!(
            "CREATE TEXT SEARCH CONFIGURATION docs_cfg (PARSER = pg_catalog.\"default\");
             ALTER TEXT SEARCH CONFIGURATION docs_cfg ADD MAPPING FOR asciiword WITH stemmer;
             CREATE TEXT SEARCH DICTIONARY stemmer (TEMPLATE = {template});
             CREATE TABLE docs (id int PRIMARY KEY);"
        )
    };
    let first = source_files(files.path(), &[("s.sql", schema("pg_catalog.simple"))]);
    warm_equals_cold(&warm, &cold, &first, "first load");
    let edited = source_files(
        files.path(),
        &[("s.sql", schema("snowball, language = english"))],
    );
    let (n, why) = warm_equals_cold(&warm, &cold, &edited, "dictionary template changed");
    assert!(n.is_some(), "not updated incrementally: {why:?}");
}

/// A cast is used by expressions with no `pg_depend` record of it (only of its function): a
/// cast removed while a CHECK still uses it must fail as a fresh load fails, and a cast added
/// or changed must give what a fresh load gives. The warm load dropped the cast and kept the
/// CHECK (found by the random edit sequences on `casts/created_before_what_uses_it`).
#[test]
fn casts_added_changed_or_removed_give_what_a_fresh_load_gives() {
    let cache = common::shadow_cache_dir("sp-warm-");
    let files = tempfile::tempdir().unwrap();
    let warm = embedded(cache.path(), false);
    let cold = embedded(cache.path(), true);
    let types = "CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
        CREATE FUNCTION score(m mood) RETURNS integer LANGUAGE sql IMMUTABLE STRICT
          AS $$ SELECT CASE m WHEN 'sad' THEN -1 WHEN 'ok' THEN 0 ELSE 1 END $$;
        CREATE FUNCTION score2(m mood) RETURNS integer LANGUAGE sql IMMUTABLE STRICT
          AS $$ SELECT 2 $$;";
    let table = "CREATE TABLE t (id int PRIMARY KEY, m mood NOT NULL,
          CONSTRAINT scored CHECK (m::integer BETWEEN -1 AND 1));";
    let with_cast = |f: &str| {
        format!("{types}\nCREATE CAST (mood AS integer) WITH FUNCTION {f}(mood);\n{table}")
    };
    let steps = [
        ("with the cast", with_cast("score")),
        ("cast removed, CHECK kept", format!("{types}\n{table}")),
        ("cast back", with_cast("score")),
        ("cast changed", with_cast("score2")),
    ];
    for (what, sql) in steps {
        let src = source_files(files.path(), &[("s.sql", sql)]);
        warm_equals_cold(&warm, &cold, &src, what);
    }
}

/// A rule or trigger made again (its statement changed) comes back enabled: the unchanged
/// `ALTER TABLE ... DISABLE RULE / TRIGGER` naming it must run again. It named only the
/// table, so the warm load left the rule enabled (found by the random edit sequences on
/// `rules/redirect_replace_and_enable`).
#[test]
fn a_rule_or_trigger_made_again_keeps_its_enabled_state() {
    let cache = common::shadow_cache_dir("sp-warm-");
    let files = tempfile::tempdir().unwrap();
    let warm = embedded(cache.path(), false);
    let cold = embedded(cache.path(), true);
    let schema = |kind: &str| {
        format!(
            "CREATE TABLE events (id int PRIMARY KEY, kind text);
             CREATE TABLE archive (id int, kind text);
             CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
             CREATE RULE old_ones AS ON INSERT TO events WHERE new.kind = '{kind}'
               DO INSTEAD INSERT INTO archive VALUES (new.id, new.kind);
             CREATE TRIGGER touch BEFORE UPDATE ON events FOR EACH ROW
               WHEN (new.kind <> '{kind}') EXECUTE FUNCTION touch();
             ALTER TABLE events DISABLE RULE old_ones;
             ALTER TABLE events DISABLE TRIGGER touch;"
        )
    };
    let first = source_files(files.path(), &[("s.sql", schema("old"))]);
    warm_equals_cold(&warm, &cold, &first, "first load");
    // The rule's and the trigger's conditions change (both made again), their DISABLE
    // statements stay as they are.
    let edited = source_files(files.path(), &[("s.sql", schema("stale"))]);
    let (n, why) = warm_equals_cold(&warm, &cold, &edited, "rule and trigger made again");
    assert!(n.is_some(), "not updated incrementally: {why:?}");
}

#[test]
fn concurrent_updates_of_one_kept_database_agree_and_the_old_files_load_again() {
    let cache = common::shadow_cache_dir("sp-warm-");
    let files = tempfile::tempdir().unwrap();
    let warm = embedded(cache.path(), false);
    let before = source_files(files.path(), &[("s.sql", TABLES.to_string())]);
    let first = workflow::desired_db(&warm, &before, &[], &workflow::Context::default()).unwrap();
    let edited = source_files(
        files.path(),
        &[(
            "s.sql",
            TABLES.replace("total numeric(10, 2)", "total numeric(12, 2)"),
        )],
    );
    // Two updates of the same base at once (one takes it over, the other copies it, or loads
    // afresh when it is gone by then), then the old files again: all as fresh loads.
    std::thread::scope(|s| {
        let hs: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| {
                    workflow::desired_db(&warm, &edited, &[], &workflow::Context::default())
                        .unwrap()
                })
            })
            .collect();
        for h in hs {
            let d = h.join().unwrap();
            assert!(d.warm || d.incremental.is_some(), "{:?}", d.fallback);
        }
    });
    let again = workflow::desired_db(&warm, &before, &[], &workflow::Context::default()).unwrap();
    assert!(
        again.warm || again.incremental.is_some(),
        "loaded afresh: {:?}",
        again.fallback
    );
    assert_eq!(again.schema, first.schema);
}

/// Property: chains of loads through the fixtures' before/after schemas and random variations
/// of them (statements dropped, files split and shuffled) on one warm cache give what a fresh
/// load gives, every time. `SCHEMAPLAN_WARM_CASES=N` sets how many fixtures (default 12;
/// `all`), `SCHEMAPLAN_WARM_SEED` the seed.
#[test]
fn warm_loads_of_random_edit_sequences_equal_fresh_loads() {
    use rand::seq::SliceRandom;
    use rand::{Rng, SeedableRng};
    let seed: u64 = std::env::var("SCHEMAPLAN_WARM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(9);
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let mut cases: Vec<PathBuf> = Vec::new();
    for cat in std::fs::read_dir(&root).unwrap().flatten() {
        if !cat.path().is_dir()
            || ["source", "errors"].contains(&cat.file_name().to_str().unwrap_or(""))
        {
            continue;
        }
        for case in std::fs::read_dir(cat.path()).unwrap().flatten() {
            if case.path().join("before.sql").exists() && case.path().join("after.sql").exists() {
                cases.push(case.path());
            }
        }
    }
    cases.sort();
    cases.shuffle(&mut rng);
    let wanted = match std::env::var("SCHEMAPLAN_WARM_CASES").ok().as_deref() {
        Some("all") => cases.len(),
        Some(n) => n.parse().unwrap_or(12),
        None => 12,
    };
    cases.truncate(wanted);
    let cache = common::shadow_cache_dir("sp-warm-");
    let warm = embedded(cache.path(), false);
    let cold = embedded(cache.path(), true);
    let (mut updated, mut fresh) = (0, 0);
    for case in &cases {
        let name = case.strip_prefix(&root).unwrap().display().to_string();
        let files = tempfile::tempdir().unwrap();
        let read = |f: &str| std::fs::read_to_string(case.join(f)).unwrap();
        let (before, after) = (read("before.sql"), read("after.sql"));
        // Some fixtures need roles or fail on purpose: both sides must agree either way.
        let mut chain: Vec<(String, Vec<(&str, String)>)> = vec![
            ("before".into(), vec![("s.sql", before.clone())]),
            ("after".into(), vec![("s.sql", after.clone())]),
        ];
        let statements = schemaplan::source::parse_text(Path::new("s.sql"), &after)
            .map(|v| v.into_iter().map(|s| s.sql).collect::<Vec<_>>())
            .unwrap_or_default();
        for round in 0..2 {
            let mut v = statements.clone();
            if !v.is_empty() && rng.gen_bool(0.5) {
                let k = rng.gen_range(0..v.len());
                v.remove(k);
            }
            v.shuffle(&mut rng);
            let cut = rng.gen_range(0..=v.len());
            let (a, b) = v.split_at(cut);
            let text = |s: &[String]| s.iter().map(|x| format!("{x};\n")).collect::<String>();
            chain.push((
                format!("variation {round}"),
                vec![("a.sql", text(a)), ("b.sql", text(b))],
            ));
        }
        chain.push(("before again".into(), vec![("s.sql", before.clone())]));
        for (what, files_now) in chain {
            let schema = files.path().join("schema");
            let _ = std::fs::remove_dir_all(&schema);
            std::fs::create_dir_all(&schema).unwrap();
            for (f, text) in &files_now {
                std::fs::write(schema.join(f), text).unwrap();
            }
            // Shown only when the test fails: the files of the step that failed are the last.
            eprintln!("{name}, {what}: {files_now:#?}");
            let Ok(src) = schemaplan::source::load_dir(&schema) else {
                continue;
            };
            let (n, _) = warm_equals_cold(&warm, &cold, &src, &format!("{name}, {what}"));
            match n {
                Some(_) => updated += 1,
                None => fresh += 1,
            }
        }
    }
    eprintln!(
        "{} fixtures: {updated} incremental updates, {fresh} other loads",
        cases.len()
    );
    assert!(updated > 0, "nothing was updated incrementally");
}

#[test]
fn an_edited_plan_from_the_warm_cache_is_byte_identical_to_a_cold_plan() {
    let server = common::server();
    let (_, url) = server.fresh_db("warm_edit_plan");
    let mut c = schemaplan::db::connect(&url).unwrap();
    c.batch_execute(
        "CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
         CREATE TABLE people (id bigint PRIMARY KEY, name text NOT NULL);
         INSERT INTO people VALUES (1, 'a'), (2, 'b');",
    )
    .unwrap();
    let cache = common::shadow_cache_dir("sp-warm-");
    let work = tempfile::tempdir().unwrap();
    source(work.path(), SCHEMA);
    plan(work.path(), cache.path(), &url, "first/p", &[]);
    // An edit of the table under the view: the warm run updates the kept database.
    source(
        work.path(),
        &SCHEMA.replace("name text NOT NULL,", "name text NOT NULL, nick text,"),
    );
    let cold = plan(work.path(), cache.path(), &url, "cold/p", &["--no-cache"]);
    let warm = plan(work.path(), cache.path(), &url, "warm/p", &[]);
    let strip = |files: Vec<(String, Vec<u8>)>| -> Vec<(String, String)> {
        files
            .into_iter()
            .map(|(n, b)| {
                let text = String::from_utf8(b).unwrap();
                // The plan id is the output directory's, which differs by design.
                (n, text.replace("warm/p", "X").replace("cold/p", "X"))
            })
            .collect()
    };
    assert_eq!(
        strip(common::files_of(&warm)),
        strip(common::files_of(&cold))
    );
}

// ---------------------------------------------------------------------------------------------
// No copies: a loaded or updated database is kept by renaming it, and the proof runs in place
// on the kept database, in one transaction it rolls back (`workflow::prove`).

/// How many databases a run copied: the `database copy` stages of its timings table.
fn copies(log: &str) -> usize {
    log.lines()
        .filter(|l| l.trim_start().starts_with("database copy "))
        .count()
}

/// The notes of a run whose catalog reads of the shadow were full where they could have been
/// delta reads (`catalog::delta`): the update's reading of its copy, the proof's readings.
fn full_reads(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|l| {
            l.starts_with("note: ") && (l.contains("read in full") || l.contains("is full"))
        })
        .collect()
}

fn live_people(tag: &str) -> String {
    let server = common::server();
    let (_, url) = server.fresh_db(tag);
    schemaplan::db::connect(&url)
        .unwrap()
        .batch_execute(
            "CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
             CREATE TABLE people (id bigint PRIMARY KEY, name text NOT NULL);
             INSERT INTO people VALUES (1, 'a'), (2, 'b');",
        )
        .unwrap();
    url
}

/// [`SCHEMA`] without its index: the inverse of a plan that adds an index to a table with
/// rows drops it `CONCURRENTLY` (the desired side has no sizes), which no transaction block
/// runs, so that proof is on a copy. Every step of this plan and its inverse can run in one.
fn schema_in_place() -> String {
    SCHEMA.replace("CREATE INDEX people_name ON people (lower(name));\n", "")
}

#[test]
fn warm_plans_copy_no_database_when_loaded_reused_or_updated() {
    let url = live_people("warm_copies");
    let cache = common::shadow_cache_dir("sp-warm-");
    let work = tempfile::tempdir().unwrap();
    let schema = schema_in_place();
    assert_ne!(schema, SCHEMA);
    source(work.path(), &schema);
    let fresh = common::plan_logged(work.path(), cache.path(), &url, "fresh/p", &[]);
    assert_eq!(copies(&fresh), 0, "a fresh load was copied:\n{fresh}");
    assert!(fresh.contains("note: proof in place"), "{fresh}");
    let same = common::plan_logged(work.path(), cache.path(), &url, "same/p", &[]);
    assert_eq!(copies(&same), 0, "the kept database was copied:\n{same}");
    assert!(same.contains("note: proof in place"), "{same}");
    source(
        work.path(),
        &schema.replace("name text NOT NULL,", "name text NOT NULL, nick text,"),
    );
    let base_oid = kept_databases(cache.path());
    assert_eq!(base_oid.len(), 1, "{base_oid:?}");
    let edited = common::plan_logged(work.path(), cache.path(), &url, "edited/p", &[]);
    assert_eq!(
        copies(&edited),
        0,
        "the update's base was copied:\n{edited}"
    );
    // Updated in place: the base under its new name, with its OID.
    let updated = kept_databases(cache.path());
    assert_eq!(updated.len(), 1, "{updated:?}");
    assert_ne!(updated[0].0, base_oid[0].0);
    assert_eq!(updated[0].1, base_oid[0].1);
    assert!(edited.contains("note: proof in place"), "{edited}");
    // No full read of the shadow: a fresh load's reading gives the proof its delta state; the
    // kept database's stored state serves the proof of the same files and the read of the
    // updated copy, whose reading in turn gives that proof its state.
    for log in [&fresh, &same, &edited] {
        assert!(full_reads(log).is_empty(), "{log}");
    }
    // The proof's first reading splices into a copy of the desired schema the run holds (no
    // scope: it is the stored reading itself), not the file decoded again; the splice is
    // used, not built in full.
    for log in [&fresh, &same, &edited] {
        assert!(
            log.lines()
                .any(|l| l.trim_start().starts_with("splice base copy ")),
            "{log}"
        );
        assert!(!log.contains("built in full"), "{log}");
        assert!(!log.contains("splice base is not used"), "{log}");
    }
    // Without the stored states, the same plans, each of those reads full and saying so.
    for major in std::fs::read_dir(cache.path()).unwrap().flatten() {
        let folder = schemaplan::shadow::reading::folder(&major.path());
        for f in std::fs::read_dir(folder).into_iter().flatten().flatten() {
            if f.path().extension().is_some_and(|e| e == "delta") {
                std::fs::write(f.path(), b"damaged").unwrap();
            }
        }
    }
    let again = common::plan_logged(work.path(), cache.path(), &url, "again/p", &[]);
    assert_eq!(
        full_reads(&again),
        [
            "note: the proof's first reading is full: no delta state of the desired database's \
          reading (none stored with the kept database's reading, or an earlier proof of this \
          run used it)"
        ],
        "{again}"
    );
    let strip = |out: &str| -> Vec<(String, String)> {
        common::files_of(&work.path().join(out))
            .into_iter()
            .map(|(n, b)| (n, String::from_utf8(b).unwrap().replace(out, "X")))
            .collect()
    };
    assert_eq!(strip("again/p"), strip("edited/p"));
    // The same plans as before: the warm plan equals a cold one (the other tests check that
    // byte for byte); here, that the proofs in place left every kept database as it was kept:
    // each reads exactly as its reading cached when it was kept (before any proof ran on it).
    let shadow = embedded(cache.path(), false);
    let kept = kept_databases(cache.path());
    assert_eq!(kept.len(), 1, "{kept:?}");
    for (name, oid) in kept {
        let cached = shadow
            .warm_reading(&schemaplan::shadow::Kept {
                name: name.clone(),
                oid,
            })
            .unwrap_or_else(|| panic!("no cached reading of {name}"));
        let url = schemaplan::db::with_database(&shadow.admin_url(), &name);
        let mut c = schemaplan::db::connect(&url).unwrap();
        let mut now = schemaplan::catalog::read(&mut c).unwrap();
        // What `workflow::desired::read_loaded` leaves out of a desired reading: sizes, and the owners
        // that are the shadow's own role (no file declared them).
        let me: String = c
            .query_one("SELECT current_user::text", &[])
            .unwrap()
            .get(0);
        now.sizes.clear();
        now.owners.retain(|_, o| *o != me);
        assert_eq!(
            schemaplan::catalog::fingerprint(&now),
            schemaplan::catalog::fingerprint(&cached),
            "{name} changed"
        );
        assert_eq!(format!("{now:?}"), format!("{cached:?}"), "{name} changed");
    }
}

#[test]
fn concurrent_warm_plans_agree_and_leave_the_kept_database_as_it_was() {
    // Three runs at once on one primed cache: one proves in place on the kept database, the
    // others copy it once that run's session ended (or also in place, one after the other):
    // all succeed with the same files.
    let url = live_people("warm_concurrent");
    let cache = common::shadow_cache_dir("sp-warm-");
    let work = tempfile::tempdir().unwrap();
    source(work.path(), &schema_in_place());
    let cold = plan(work.path(), cache.path(), &url, "cold/p", &["--no-cache"]);
    plan(work.path(), cache.path(), &url, "prime/p", &[]);
    let outs: Vec<PathBuf> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..3)
            .map(|i| {
                let (work, cache, url) = (work.path(), cache.path(), url.as_str());
                s.spawn(move || plan(work, cache, url, &format!("run{i}/p"), &[]))
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let strip = |dir: &Path| -> Vec<(String, String)> {
        common::files_of(dir)
            .into_iter()
            .map(|(n, b)| {
                let mut text = String::from_utf8(b).unwrap();
                for i in 0..3 {
                    text = text.replace(&format!("run{i}/p"), "X");
                }
                (n, text.replace("cold/p", "X"))
            })
            .collect()
    };
    for out in &outs {
        assert_eq!(strip(out), strip(&cold));
    }
    let again = common::plan_logged(work.path(), cache.path(), &url, "again/p", &[]);
    assert_eq!(copies(&again), 0, "{again}");
}

#[test]
fn a_run_connected_to_a_kept_database_makes_an_update_from_it_wait_not_load_afresh() {
    let cache = common::shadow_cache_dir("sp-warm-");
    let files = tempfile::tempdir().unwrap();
    let shadow = embedded(cache.path(), false);
    let src = source_files(files.path(), &[("s.sql", TABLES.to_string())]);
    let d = workflow::desired_db(&shadow, &src, &[], &workflow::Context::default()).unwrap();
    assert!(
        d.db.is_kept(),
        "the loaded database is not the kept one in place"
    );
    let edited = source_files(
        files.path(),
        &[(
            "s.sql",
            TABLES.replace("total numeric(10, 2)", "total numeric(12, 2)"),
        )],
    );
    // A session on the kept database (as a proof in place holds): PostgreSQL refuses to copy
    // a database with sessions, so the update waits for it instead of loading afresh.
    let borrowed = d.db.borrow().unwrap();
    let client = borrowed.connect().unwrap();
    std::thread::scope(|s| {
        let h = s.spawn(|| {
            workflow::desired_db(&shadow, &edited, &[], &workflow::Context::default()).unwrap()
        });
        // Not a timing assertion: the pause only lets the update reach its copy while the
        // session is open (when it gets there later, it copies at once; the result is the
        // same).
        std::thread::sleep(std::time::Duration::from_millis(300));
        drop(client);
        drop(borrowed);
        let u = h.join().unwrap();
        assert!(
            u.incremental.is_some(),
            "loaded afresh instead of updating: {:?}",
            u.fallback
        );
    });
}

#[test]
fn a_kept_database_in_use_is_not_evicted() {
    let cache = common::shadow_cache_dir("sp-warm-");
    let files = tempfile::tempdir().unwrap();
    let shadow = embedded(cache.path(), false);
    let load = |sql: String| {
        let src = source_files(files.path(), &[("s.sql", sql)]);
        workflow::desired_db(&shadow, &src, &[], &workflow::Context::default()).unwrap()
    };
    let exists = |name: &str| -> bool {
        let mut c = schemaplan::db::connect(&shadow.admin_url()).unwrap();
        c.query_one(
            "SELECT count(*) FROM pg_database WHERE datname = $1",
            &[&name],
        )
        .unwrap()
        .get::<_, i64>(0)
            == 1
    };
    let first = load("CREATE TABLE t0 (id int);".to_string());
    let name = first.db.name.clone();
    assert!(first.db.is_kept());
    // Four more kept databases of unrelated files (fresh loads): more than the three kept.
    for i in 1..=4 {
        drop(load(format!("CREATE TABLE other{i} (id int, v{i} text);")));
    }
    assert!(exists(&name), "evicted while in use");
    drop(first);
    drop(load("CREATE TABLE last (id int);".to_string()));
    assert!(!exists(&name), "not evicted once let go of");
}

/// The kept databases of the embedded cluster in `cache`: (name, OID), by name.
fn kept_databases(cache: &Path) -> Vec<(String, u32)> {
    let shadow = embedded(cache, false);
    let mut admin = schemaplan::db::connect(&shadow.admin_url()).unwrap();
    admin
        .query(
            "SELECT datname::text, oid FROM pg_database \
             WHERE datname LIKE 'schemaplan\\_warm\\_%' ORDER BY datname",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Updates in place: the base is taken over (renamed, no copy) and updated in one transaction;
// a failed transaction leaves it as it was and gives it back.

/// A warm cache whose one kept database was loaded from [`TABLES`], and an uncached shadow to
/// compare with.
struct Primed {
    cache: tempfile::TempDir,
    _cold_cache: tempfile::TempDir,
    files: tempfile::TempDir,
    warm: Shadow,
    cold: Shadow,
    before: schemaplan::source::SourceSet,
    /// The kept database: (name, OID).
    base: Vec<(String, u32)>,
}

fn primed() -> Primed {
    let cache = common::shadow_cache_dir("sp-warm-");
    let cold_cache = common::shadow_cache_dir("sp-cold-");
    let files = tempfile::tempdir().unwrap();
    let (warm, cold) = (
        embedded(cache.path(), false),
        embedded(cold_cache.path(), true),
    );
    let before = source_files(files.path(), &[("s.sql", TABLES.to_string())]);
    drop(workflow::desired_db(&warm, &before, &[], &workflow::Context::default()).unwrap());
    let base = kept_databases(cache.path());
    assert_eq!(base.len(), 1, "{base:?}");
    Primed {
        cache,
        _cold_cache: cold_cache,
        files,
        warm,
        cold,
        before,
        base,
    }
}

#[test]
fn an_update_no_transaction_block_runs_is_made_on_a_copy_and_the_base_given_back() {
    // Bound first, dropped last: the folders outlive the shadows' servers.
    let Primed {
        cache,
        _cold_cache,
        files,
        warm,
        cold,
        before,
        base,
    } = primed();
    // `CREATE INDEX CONCURRENTLY` refuses a transaction block: the update in place fails,
    // the base is given back, and a copy of it is updated (each statement in its own
    // implicit transaction, as a fresh load runs it).
    let edited = source_files(
        files.path(),
        &[(
            "s.sql",
            format!("{TABLES}\nCREATE INDEX CONCURRENTLY orders_total ON orders (total);\n"),
        )],
    );
    let (n, why) = warm_equals_cold(&warm, &cold, &edited, "index made concurrently");
    assert!(n.is_some(), "not updated incrementally: {why:?}");
    let now = kept_databases(cache.path());
    assert!(now.contains(&base[0]), "the base is gone: {now:?}");
    assert_eq!(now.len(), 2, "{now:?}");
    // Given back with its OID, so with its cached reading: the old files reuse it as it was.
    let again = workflow::desired_db(&warm, &before, &[], &workflow::Context::default()).unwrap();
    assert!(again.warm, "the base was not reused");
}

#[test]
fn a_failed_update_in_place_gives_the_base_back_and_the_fix_updates_it_in_place() {
    // Bound first, dropped last: the folders outlive the shadows' servers.
    let Primed {
        cache,
        _cold_cache,
        files,
        warm,
        cold,
        base,
        before: _,
    } = primed();
    // An edit with an error: the same error as a fresh load, and the base as it was.
    let broken = source_files(
        files.path(),
        &[(
            "s.sql",
            TABLES.replace(
                "total numeric(10, 2)",
                "total numeric(10, 2) CHECK (nope > 0)",
            ),
        )],
    );
    let (n, _) = warm_equals_cold(&warm, &cold, &broken, "broken edit");
    assert_eq!(n, None);
    assert_eq!(kept_databases(cache.path()), base, "the base changed");
    // The fix: an update of the base in place (its OID under the new name).
    let fixed = source_files(
        files.path(),
        &[(
            "s.sql",
            TABLES.replace(
                "total numeric(10, 2)",
                "total numeric(10, 2) CHECK (total > 0)",
            ),
        )],
    );
    let (n, why) = warm_equals_cold(&warm, &cold, &fixed, "fixed edit");
    assert!(n.is_some(), "not updated incrementally: {why:?}");
    let now = kept_databases(cache.path());
    assert_eq!(now.len(), 1, "{now:?}");
    assert_ne!(now[0].0, base[0].0);
    assert_eq!(now[0].1, base[0].1, "not updated in place");
}

#[test]
fn the_database_kept_last_is_evicted_last_though_its_oid_is_older() {
    let cache = common::shadow_cache_dir("sp-warm-");
    let files = tempfile::tempdir().unwrap();
    let shadow = embedded(cache.path(), false);
    let load = |sql: String| {
        let src = source_files(files.path(), &[("s.sql", sql)]);
        let d = workflow::desired_db(&shadow, &src, &[], &workflow::Context::default()).unwrap();
        (d.warm, d.incremental)
    };
    load(TABLES.to_string());
    let first = kept_databases(cache.path());
    for i in 1..=2 {
        load(format!("CREATE TABLE other{i} (id int, v{i} text);"));
    }
    // The first files edited: their kept database updated in place, with the oldest OID.
    let (_, incremental) = load(TABLES.replace("total numeric(10, 2)", "total numeric(12, 2)"));
    assert!(incremental.is_some());
    let oids: Vec<u32> = kept_databases(cache.path()).iter().map(|k| k.1).collect();
    assert!(oids.contains(&first[0].1), "{oids:?}");
    // One more kept database: the one kept longest ago goes (other1), not the updated one.
    load("CREATE TABLE last (id int);".to_string());
    let now = kept_databases(cache.path());
    assert_eq!(now.len(), 3, "{now:?}");
    assert!(now.iter().any(|k| k.1 == first[0].1), "evicted: {now:?}");
    let (warm, _) = load(TABLES.replace("total numeric(10, 2)", "total numeric(12, 2)"));
    assert!(warm, "the updated files' kept database is gone");
}

#[test]
fn an_update_of_a_thousand_tables_runs_in_place() {
    // One transaction locks every object it drops and makes: with PostgreSQL's default lock
    // table, an edit of some 500 tables ran out of lock slots and was done again on a
    // copy (the embedded cluster's `max_locks_per_transaction`).
    let cache = common::shadow_cache_dir("sp-warm-");
    let files = tempfile::tempdir().unwrap();
    let shadow = embedded(cache.path(), false);
    let tables = |extra: &str| -> String {
        (0..1000)
            .map(|i| {
                format!(
                    "CREATE TABLE t{i} (id bigint PRIMARY KEY, v text{extra});\n\
                     CREATE INDEX t{i}_v ON t{i} (v);\n"
                )
            })
            .collect()
    };
    let load = |sql: String| {
        let src = source_files(files.path(), &[("s.sql", sql)]);
        workflow::desired_db(&shadow, &src, &[], &workflow::Context::default()).unwrap()
    };
    drop(load(tables("")));
    let base = kept_databases(cache.path());
    let edited = load(tables(", w int UNIQUE"));
    assert!(edited.incremental.is_some(), "{:?}", edited.fallback);
    drop(edited);
    let now = kept_databases(cache.path());
    assert_eq!(now.len(), 1, "updated on a copy: {now:?}");
    assert_eq!(now[0].1, base[0].1, "not updated in place");
}

/// A kept database's manifest (~10 MiB of JSON at 5,000 tables, stored as the database's
/// comment) is compressed by schemaplan, not the server: the comment is a fraction of the
/// JSON, and it reads back as the manifest of every statement loaded (issue 9: the server's
/// pglz took ~0.4 s at every keep, and the JSON was held three times over while sent).
#[test]
fn the_manifest_of_a_kept_database_is_stored_compressed_and_reads_back() {
    let cache = common::shadow_cache_dir("sp-warm-");
    let dir = tempfile::tempdir().unwrap();
    let shadow = embedded(cache.path(), false);
    let mut admin = schemaplan::db::connect(&shadow.admin_url()).unwrap();
    let sql: String = (0..60)
        .map(|i| format!("CREATE TABLE t{i} (id int PRIMARY KEY, v text);\n"))
        .collect();
    let files = source_files(dir.path(), &[("s.sql", sql)]);
    drop(workflow::desired_db(&shadow, &files, &[], &workflow::Context::default()).unwrap());
    let stored: Vec<String> = admin
        .query(
            "SELECT d.description FROM pg_shdescription d \
             JOIN pg_database b ON b.oid = d.objoid \
             WHERE d.classoid = 'pg_database'::regclass \
               AND b.datname LIKE 'schemaplan\\_warm\\_%'",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(stored.len(), 1);
    let manifest = schemaplan::shadow::warm::Manifest::decode(&stored[0]).expect("a manifest");
    assert_eq!(manifest.entries.len(), 60);
    assert!(manifest.kept_at > 0);
    let json = serde_json::to_string(&manifest).unwrap();
    assert!(
        stored[0].len() * 3 < json.len(),
        "comment of {} bytes for {} bytes of JSON",
        stored[0].len(),
        json.len()
    );
}
