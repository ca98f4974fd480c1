//! The cached reading of a kept desired database (`shadow::reading`), through the binary on a
//! real server with rows in the live tables: `drift` and `plan` take the desired schema from
//! the reading stored beside the kept database instead of copying it and reading its catalog,
//! and say exactly what a run with `--no-cache` says. A reading that is truncated, damaged or
//! of another key (another build of schemaplan) is not used: the run reads the catalog as if
//! there was none, with the same result, and stores a good one. Only the desired side is
//! cached: the live database is read every time.

mod common;

use common::cached::{drift, run};
use std::path::{Path, PathBuf};

use schemaplan::shadow::reading;

const SCHEMA: &str = "
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TABLE people (id bigint PRIMARY KEY, name text NOT NULL, mood mood DEFAULT 'ok');
CREATE INDEX people_name ON people (lower(name));
CREATE VIEW happy_people AS SELECT id, name FROM people WHERE mood = 'happy';
COMMENT ON TABLE people IS 'everyone';
CREATE TABLE audit (at timestamptz DEFAULT now(), what text);
";

/// The live database: the schema files' objects, with rows.
fn live() -> String {
    format!(
        "{SCHEMA}
INSERT INTO people VALUES (1, 'ann', 'happy'), (2, 'bob', 'sad');
INSERT INTO audit (what) VALUES ('created');
"
    )
}

/// A live database with rows, and a work folder whose `schema/` holds `files`.
fn setup(tag: &str, files: &str) -> (String, String, tempfile::TempDir) {
    let server = common::server();
    let (name, url) = server.fresh_db(tag);
    server.connect(&name).batch_execute(&live()).unwrap();
    let work = tempfile::tempdir().unwrap();
    write_schema(work.path(), files);
    (name, url, work)
}

fn write_schema(work: &Path, sql: &str) {
    let schema = work.join("schema");
    std::fs::create_dir_all(&schema).unwrap();
    std::fs::write(schema.join("schema.sql"), sql).unwrap();
}

/// The reading files in `cache` (`<cache>/pg<major>/readings/*.reading`), sorted.
fn readings(cache: &Path) -> Vec<PathBuf> {
    let mut v = Vec::new();
    for major in std::fs::read_dir(cache).unwrap().flatten() {
        let dir = reading::folder(&major.path());
        for f in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            if f.path().extension().is_some_and(|e| e == "reading") {
                v.push(f.path());
            }
        }
    }
    v.sort();
    v
}

/// The one reading file of `cache`.
fn the_reading(cache: &Path) -> PathBuf {
    let v = readings(cache);
    assert_eq!(v.len(), 1, "readings: {v:?}");
    v.into_iter().next().unwrap()
}

#[test]
fn warm_drift_from_the_cached_reading_says_what_a_no_cache_drift_says() {
    // The files differ from the live database in one column and one comment: a drift with a
    // report, not only a verdict.
    let files = SCHEMA
        .replace(
            "mood mood DEFAULT 'ok'",
            "mood mood DEFAULT 'ok', nick text",
        )
        .replace("'everyone'", "'everyone, really'");
    let (name, url, work) = setup("reading_drift", &files);
    // A live table the files do not have, for the scoped run below.
    common::server()
        .connect(&name)
        .batch_execute("CREATE TABLE stray (id int); INSERT INTO stray VALUES (1);")
        .unwrap();
    let cache = common::shadow_cache_dir("sp-reading-");
    let cold = drift(work.path(), cache.path(), &url, &["--no-cache"]);
    assert_eq!(cold[0].0, 2, "{}", cold[0].1);
    assert!(
        readings(cache.path()).is_empty(),
        "--no-cache kept a reading"
    );
    // The first run loads and keeps the database and its reading; the next ones use it.
    let first = drift(work.path(), cache.path(), &url, &[]);
    let path = the_reading(cache.path());
    let (key, _) = reading::load_any(&path).expect("a complete reading");
    let stored = std::fs::read(&path).unwrap();
    let warm = drift(work.path(), cache.path(), &url, &[]);
    assert_eq!(first, cold);
    assert_eq!(warm, cold);
    // Used, not written again (the same bytes), and still the one file.
    assert_eq!(std::fs::read(&path).unwrap(), stored);
    assert_eq!(the_reading(cache.path()), path);
    assert_eq!(reading::load_any(&path).unwrap().0, key);
    // A scope is applied to the cached (whole) reading as to a fresh one.
    let scoped = ["--exclude", "table:public.stray"];
    assert_eq!(
        drift(work.path(), cache.path(), &url, &scoped),
        drift(
            work.path(),
            cache.path(),
            &url,
            &[&scoped[..], &["--no-cache"][..]].concat()
        ),
    );
}

#[test]
fn drift_takes_the_desired_schema_from_the_reading_of_its_own_key_only() {
    let (_, url, work) = setup("reading_key", SCHEMA);
    let cache = common::shadow_cache_dir("sp-reading-");
    let in_sync = drift(work.path(), cache.path(), &url, &[]);
    assert_eq!(in_sync[0].0, 0, "{}", in_sync[0].1);
    let path = the_reading(cache.path());
    let folder = path.parent().unwrap().to_path_buf();
    let (key, schema) = reading::load_any(&path).unwrap();
    // A reading without the table's comment: when drift uses it, it reports the comment.
    let mut doctored = schema.clone();
    assert!(doctored.comments.values().any(|c| c == "everyone"));
    doctored.comments.retain(|_, c| c != "everyone");

    // Stored under another key (another build of schemaplan, another cluster or database):
    // not used, the catalog is read, and a good reading is stored again.
    reading::save_with_key(&folder, &path, "schemaplan 0.0.0 source other", &doctored).unwrap();
    assert_eq!(drift(work.path(), cache.path(), &url, &[]), in_sync);
    assert_eq!(
        reading::load_any(&path),
        Some((key.clone(), schema.clone()))
    );

    // Under its own key it is what drift compares with: the cache is used.
    reading::save_with_key(&folder, &path, &key, &doctored).unwrap();
    let fooled = drift(work.path(), cache.path(), &url, &[]);
    assert_eq!(
        fooled[0].0, 2,
        "the cached reading was not used: {}",
        fooled[0].1
    );
    assert!(fooled[0].1.contains("public.people"), "{}", fooled[0].1);
    // --no-cache never reads it.
    assert_eq!(
        drift(work.path(), cache.path(), &url, &["--no-cache"]),
        in_sync
    );
}

#[test]
fn a_truncated_or_damaged_reading_is_a_full_read_with_the_same_result() {
    let files = SCHEMA.replace("name text NOT NULL,", "name text NOT NULL, born date,");
    let (_, url, work) = setup("reading_damaged", &files);
    let cache = common::shadow_cache_dir("sp-reading-");
    let cold = drift(work.path(), cache.path(), &url, &["--no-cache"]);
    assert_eq!(cold[0].0, 2, "{}", cold[0].1);
    assert_eq!(drift(work.path(), cache.path(), &url, &[]), cold);
    let path = the_reading(cache.path());
    let good = std::fs::read(&path).unwrap();
    let mut flipped = good.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x01;
    let damaged: Vec<(&str, Vec<u8>)> = vec![
        ("truncated to half", good[..good.len() / 2].to_vec()),
        ("without its last byte", good[..good.len() - 1].to_vec()),
        ("empty", Vec::new()),
        ("one bit flipped", flipped),
        ("not a reading", b"hello".to_vec()),
    ];
    for (what, bytes) in damaged {
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(drift(work.path(), cache.path(), &url, &[]), cold, "{what}");
        // Read in full and stored again, whole.
        assert_eq!(std::fs::read(&path).unwrap(), good, "{what}");
    }
    // A plan from a damaged reading is the plan of a cold run too.
    std::fs::write(&path, &good[..good.len() / 3]).unwrap();
    let warm = plan(work.path(), cache.path(), &url, "warm/p", &[]);
    let cold = plan(work.path(), cache.path(), &url, "cold/p", &["--no-cache"]);
    assert_eq!(plan_files(&warm), plan_files(&cold));
}

#[test]
fn warm_drift_still_sees_every_change_of_the_live_database() {
    let (name, url, work) = setup("reading_live", SCHEMA);
    let cache = common::shadow_cache_dir("sp-reading-");
    let in_sync = drift(work.path(), cache.path(), &url, &[]);
    assert_eq!(in_sync[0].0, 0, "{}", in_sync[0].1);
    assert_eq!(drift(work.path(), cache.path(), &url, &[]), in_sync);
    the_reading(cache.path());
    let mut live = common::server().connect(&name);
    live.batch_execute(
        "ALTER TABLE people ADD COLUMN shoe_size integer;
         UPDATE people SET shoe_size = 42;
         COMMENT ON VIEW happy_people IS 'changed live';",
    )
    .unwrap();
    let drifted = drift(work.path(), cache.path(), &url, &[]);
    assert_eq!(drifted[0].0, 2, "{}", drifted[0].1);
    assert!(drifted[0].1.contains("shoe_size"), "{}", drifted[0].1);
    assert!(drifted[0].1.contains("changed live"), "{}", drifted[0].1);
    assert_eq!(
        drifted,
        drift(work.path(), cache.path(), &url, &["--no-cache"])
    );
    live.batch_execute(
        "ALTER TABLE people DROP COLUMN shoe_size; COMMENT ON VIEW happy_people IS NULL;",
    )
    .unwrap();
    assert_eq!(drift(work.path(), cache.path(), &url, &[]), in_sync);
}

#[test]
fn an_incremental_update_caches_the_reading_of_the_database_it_keeps() {
    let (_, url, work) = setup("reading_update", SCHEMA);
    let cache = common::shadow_cache_dir("sp-reading-");
    drift(work.path(), cache.path(), &url, &[]);
    let before = the_reading(cache.path());
    // An edit: the kept database of the old files is taken over and updated into a new kept
    // database (in place: its reading, of a database under another name, goes with it),
    // whose reading is stored.
    write_schema(
        work.path(),
        &SCHEMA.replace("what text", "what text, who text"),
    );
    let cold = drift(work.path(), cache.path(), &url, &["--no-cache"]);
    assert_eq!(cold[0].0, 2, "{}", cold[0].1);
    assert_eq!(drift(work.path(), cache.path(), &url, &[]), cold);
    let now = readings(cache.path());
    assert_eq!(now.len(), 1, "{now:?}");
    assert!(!now.contains(&before));
    let after = now.into_iter().next().unwrap();
    let (_, schema) = reading::load_any(&after).unwrap();
    let audit = schemaplan::model::QName::new("public", "audit");
    assert!(schema.tables[&audit]
        .columns
        .iter()
        .any(|c| c.name == "who"));
    // Read from it now; plan too, with byte-identical files.
    let stored = std::fs::read(&after).unwrap();
    assert_eq!(drift(work.path(), cache.path(), &url, &[]), cold);
    let warm = plan(work.path(), cache.path(), &url, "warm/p", &[]);
    let cold = plan(work.path(), cache.path(), &url, "cold/p", &["--no-cache"]);
    assert_eq!(plan_files(&warm), plan_files(&cold));
    assert_eq!(std::fs::read(&after).unwrap(), stored);
}

/// `plan --out <out>` in `cwd`; the plan's folder.
fn plan(cwd: &Path, cache: &Path, url: &str, out: &str, extra: &[&str]) -> PathBuf {
    let args: Vec<&str> = [&["plan", "--db", url, "--out", out][..], extra].concat();
    let o = run(cwd, cache, &args);
    assert_eq!(common::exit_code(&o), 0, "{}", common::output_text(&o));
    cwd.join(out)
}

/// A plan folder's files and their text, with the plan id (the folder's name, which differs by
/// design) taken out.
fn plan_files(dir: &Path) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let text = std::fs::read_to_string(e.path()).unwrap();
            (
                e.file_name().to_string_lossy().to_string(),
                text.replace("warm/p", "X").replace("cold/p", "X"),
            )
        })
        .collect();
    v.sort();
    assert!(!v.is_empty());
    v
}

#[test]
fn every_need_of_the_desired_schema_goes_through_the_kept_database_and_its_reading() {
    use schemaplan::shadow::{Shadow, ShadowOptions};
    use schemaplan::workflow::{desired_load, Context, Need};
    let cache = common::shadow_cache_dir("sp-reading-");
    let work = tempfile::tempdir().unwrap();
    write_schema(work.path(), SCHEMA);
    let src = schemaplan::source::load_dir(&work.path().join("schema")).unwrap();
    let start = |no_cache| {
        Shadow::start(&ShadowOptions {
            cache_dir: Some(cache.path().to_path_buf()),
            no_cache,
            ..Default::default()
        })
        .unwrap_or_else(|e| panic!("{e}"))
    };
    let shadow = start(false);
    let ctx = Context::default();
    let load = |need| desired_load(&shadow, &src, &[], &ctx, need).unwrap();
    let first = load(Need::Reading);
    assert!(!first.warm && !first.cached_reading && first.db.is_none());
    let path = the_reading(cache.path());
    // drift's need: the reading alone, no copy of any database.
    let again = load(Need::Reading);
    assert!(again.warm && again.cached_reading && again.db.is_none());
    assert_eq!(again.schema, first.schema);
    // plan's need: the reading and a copy of the kept database for the proof.
    let planned = load(Need::Database);
    assert!(planned.warm && planned.cached_reading);
    let mut c = planned.db.as_ref().unwrap().connect().unwrap();
    let rows: i64 = c
        .query_one("SELECT count(*) FROM people", &[])
        .unwrap()
        .get(0);
    assert_eq!(rows, 0);
    drop(c);
    assert_eq!(planned.schema, first.schema);
    // Without its reading, the kept database is copied and read, and the reading stored.
    std::fs::remove_file(&path).unwrap();
    let reread = load(Need::Reading);
    assert!(reread.warm && !reread.cached_reading);
    assert_eq!(reread.schema, first.schema);
    assert_eq!(the_reading(cache.path()), path);
    // --no-cache: a fresh load, nothing read from the cache.
    let uncached = start(true);
    let cold = desired_load(&uncached, &src, &[], &ctx, Need::Database).unwrap();
    assert!(!cold.warm && !cold.cached_reading && cold.db.is_some());
    assert_eq!(cold.schema, first.schema);
}
