//! Plans are reproducible and dumps round-trip, through the real binary against a real server:
//! the same schema planned twice gives byte-identical plan files, and the schema files `dump`
//! writes plan to nothing against the database they came from.

mod common;

use common::schemaplan as run;
use std::process::Output;

fn ok(o: &Output) -> String {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success(), "schemaplan failed: {text}");
    text
}

const SCHEMA: &str = r#"
CREATE SCHEMA "Sales";
CREATE TYPE "Sales".status AS ENUM ('new', 'it''s done');
CREATE TABLE "Sales"."order" (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    "user" text NOT NULL,
    status "Sales".status DEFAULT 'new',
    total numeric(12,2) CHECK (total >= 0)
);
CREATE INDEX order_user ON "Sales"."order" ("user") WHERE status = 'new';
CREATE VIEW "Sales".open AS SELECT id, "user" FROM "Sales"."order" WHERE status = 'new';
COMMENT ON TABLE "Sales"."order" IS 'orders; with a semicolon';
"#;

#[test]
fn the_same_schema_planned_twice_gives_byte_identical_files() {
    let server = common::server();
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("schema")).unwrap();
    std::fs::write(tmp.path().join("schema/sales.sql"), SCHEMA).unwrap();
    let dev = server.admin_url();
    for dir in ["a/p", "b/p"] {
        ok(&run(tmp.path(), &["plan", "--dev-url", &dev, "--out", dir]));
    }
    for file in ["plan.sql", "inverse.sql", "plan.json"] {
        let a = std::fs::read(tmp.path().join("a/p").join(file)).unwrap();
        let b = std::fs::read(tmp.path().join("b/p").join(file)).unwrap();
        assert!(
            a == b,
            "{file} differs between two plans of the same schema"
        );
    }
}

#[test]
fn dumped_schema_files_plan_to_nothing_against_their_database() {
    let server = common::server();
    let (name, url) = server.fresh_db("dump_roundtrip");
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("schema")).unwrap();
    std::fs::write(tmp.path().join("schema/sales.sql"), SCHEMA).unwrap();
    let dev = server.admin_url();
    ok(&run(
        tmp.path(),
        &["plan", "--db", &url, "--dev-url", &dev, "--out", "p"],
    ));
    ok(&run(
        tmp.path(),
        &["apply", "--db", &url, "p", "--allow-hazards", "all"],
    ));
    ok(&run(
        tmp.path(),
        &["dump", "--db", &url, "--dev-url", &dev, "--out", "dumped"],
    ));
    let o = run(
        tmp.path(),
        &[
            "plan",
            "--db",
            &url,
            "--dev-url",
            &dev,
            "--schema",
            "dumped",
            "--exit-code",
        ],
    );
    let text = ok(&o);
    assert!(text.contains("No changes"), "{text}");
    assert!(
        !tmp.path().join("plans").exists(),
        "an empty plan is not written"
    );
    server.drop_db(&name);
}

/// The diff stages of a `plan -vv` run (`diff::diff_for`, nested in the pipeline's stages;
/// the pipeline's own top-level `diff` stage is not counted).
fn schema_diffs(text: &str) -> usize {
    text.lines()
        .filter_map(|l| l.strip_prefix("timing: "))
        .filter(|l| l.starts_with(' ') && l.trim_start().starts_with("diff "))
        .count()
}

/// Issue 9: a plan diffs the current and desired schemas once each way, however many parts
/// need them (the diff stage's refusals, the secrets check, the planner's forward and inverse
/// plans), and the proof does not diff a reading that is the same as what it must equal
/// (`diff::same`). A one-table change on a live database with rows: two diffs in all, where
/// the same two schemas were diffed seven times.
#[test]
fn a_plan_diffs_the_two_schemas_once_each_way_and_the_proof_not_at_all_when_it_matches() {
    let server = common::server();
    let (name, url) = server.fresh_db("diff_once");
    schemaplan::db::connect(&url)
        .unwrap()
        .batch_execute(&format!(
            "{SCHEMA}\nINSERT INTO \"Sales\".\"order\" (\"user\", total) VALUES ('a', 1), ('b', 2);"
        ))
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("schema")).unwrap();
    std::fs::write(
        tmp.path().join("schema/sales.sql"),
        format!("{SCHEMA}\nCREATE TABLE \"Sales\".note (id bigint PRIMARY KEY, body text);\n"),
    )
    .unwrap();
    let dev = server.admin_url();
    let text = ok(&run(
        tmp.path(),
        &["plan", "-vv", "--db", &url, "--dev-url", &dev, "--out", "p"],
    ));
    let plan = std::fs::read_to_string(tmp.path().join("p/plan.sql")).unwrap();
    assert!(plan.contains("CREATE TABLE \"Sales\".note"), "{plan}");
    assert_eq!(
        schema_diffs(&text),
        2,
        "one diff each way, none in the proof:\n{text}"
    );
    server.drop_db(&name);
}
