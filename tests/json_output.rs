//! `--format json` through the binary: every document a command prints (plan, plan.json,
//! status, drift, dump, the event lines of apply and rollback, errors) is checked against its
//! published JSON Schema in docs/schemas/ (docs/json.md), on a database with rows in its
//! tables; and the schemas name exactly the hazards and lock levels the code knows.

mod common;

use common::schemas::{assert_valid, parse_valid, parse_valid_lines};
use common::{exit_code, output_text, schemaplan};
use serde_json::Value;

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

/// Runs schemaplan, asserts the exit code, returns the run.
fn run(cwd: &std::path::Path, args: &[&str], want: i32) -> std::process::Output {
    let o = schemaplan(cwd, args);
    assert_eq!(
        exit_code(&o),
        want,
        "schemaplan {args:?}:\n{}",
        output_text(&o)
    );
    o
}

fn events_named<'a>(events: &'a [Value], name: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["event"] == name).collect()
}

#[test]
fn every_json_output_matches_its_published_schema() {
    let server = common::server();
    let (db, url) = server.fresh_db("json_outputs");
    server
        .connect(&db)
        .batch_execute(
            "CREATE TABLE public.users (id bigint PRIMARY KEY, email text);
             INSERT INTO public.users SELECT g, 'u' || g || '@x' FROM generate_series(1, 500) g;",
        )
        .unwrap();
    let dev = server.admin_url();
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    std::fs::create_dir(cwd.join("schema")).unwrap();
    std::fs::write(
        cwd.join("schema/users.sql"),
        "CREATE TABLE public.users (id bigint PRIMARY KEY, email text, name text);\n\
         CREATE INDEX users_email_idx ON public.users (email);\n",
    )
    .unwrap();
    let db_args = ["--db", url.as_str(), "--dev-url", dev.as_str()];

    // plan: stdout and the plan.json file, both the plan schema.
    let mut args = vec!["plan", "--out", "plans/p1", "--format", "json"];
    args.extend(db_args);
    let o = run(cwd, &args, 0);
    let printed = parse_valid("plan", &stdout(&o));
    let file = std::fs::read_to_string(cwd.join("plans/p1/plan.json")).unwrap();
    assert_eq!(parse_valid("plan", &file), printed);
    assert!(
        printed["steps"].as_array().unwrap().len() >= 2,
        "{printed:#}"
    );

    // drift before apply: drifted, one object (the table with its index).
    let mut args = vec!["drift", "--format", "json"];
    args.extend(db_args);
    let drift = parse_valid("drift", &stdout(&run(cwd, &args, 2)));
    assert_eq!(drift["in_sync"], false);
    assert_eq!(drift["objects"][0]["identity"], "public.users", "{drift:#}");

    // status: pending.
    let o = run(cwd, &["status", "--db", &url, "--format", "json"], 0);
    let status = parse_valid("status", &stdout(&o));
    assert_eq!(status["plans"][0]["state"], "pending");

    // apply: JSON lines only, no progress bar or lines on stderr.
    let o = run(
        cwd,
        &["apply", "--db", &url, "plans/p1", "--format", "json"],
        0,
    );
    assert!(
        o.stderr.is_empty(),
        "JSON mode prints nothing else: {}",
        output_text(&o)
    );
    let events = parse_valid_lines("apply-event", &stdout(&o));
    let first = events.iter().find(|e| e["event"] != "info").unwrap();
    assert_eq!(first["event"], "run_started", "{events:#?}");
    let last = events.last().unwrap();
    assert_eq!(last["event"], "run_finished");
    assert_eq!(last["outcome"], "applied");
    assert_eq!(last["plan_id"], "p1");
    let started = events_named(&events, "step_started");
    let finished = events_named(&events, "step_finished");
    assert_eq!(started.len(), printed["steps"].as_array().unwrap().len());
    assert_eq!(finished.len(), started.len());
    assert!(finished.iter().all(|e| e["attempts"] == 1), "{finished:#?}");

    // Applying again: already applied, still one run_finished line.
    let o = run(
        cwd,
        &["apply", "--db", &url, "plans/p1", "--format", "json"],
        0,
    );
    let again = parse_valid_lines("apply-event", &stdout(&o));
    assert_eq!(again.last().unwrap()["outcome"], "already-applied");

    let o = run(cwd, &["status", "--db", &url, "--format", "json"], 0);
    let status = parse_valid("status", &stdout(&o));
    assert_eq!(status["plans"][0]["state"], "applied");
    assert_eq!(status["plans"][0]["last_run"]["outcome"], "succeeded");

    let mut args = vec!["drift", "--format", "json"];
    args.extend(db_args);
    let drift = parse_valid("drift", &stdout(&run(cwd, &args, 0)));
    assert_eq!(drift["in_sync"], true);

    // dump: objects by unit, each in a file it names, with its statements.
    let mut args = vec!["dump", "--out", "dumped", "--format", "json"];
    args.extend(db_args);
    let dump = parse_valid("dump", &stdout(&run(cwd, &args, 0)));
    let users = dump["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["kind"] == "table" && o["identity"] == "public.users")
        .unwrap_or_else(|| panic!("{dump:#}"));
    let text = std::fs::read_to_string(cwd.join(users["file"].as_str().unwrap())).unwrap();
    assert!(text.contains(users["sql"].as_str().unwrap()), "{text}");
    assert!(users["sql"].as_str().unwrap().contains("users_email_idx"));

    // rollback: the same events.
    let o = run(
        cwd,
        &[
            "rollback",
            "--db",
            &url,
            "plans/p1",
            "--format",
            "json",
            "--allow-hazards",
            "all",
        ],
        0,
    );
    let events = parse_valid_lines("apply-event", &stdout(&o));
    assert_eq!(events.last().unwrap()["outcome"], "applied");
    // The rows are still there.
    let n: i64 = server
        .connect(&db)
        .query_one("SELECT count(*) FROM public.users", &[])
        .unwrap()
        .get(0);
    assert_eq!(n, 500);
    server.drop_db(&db);
}

/// A step that cannot get its lock: the `retry` event names the session holding the lock
/// (exec/blockers.rs), the failed step and `run_finished` say `failed`, and the error is the
/// one JSON object on stderr.
#[test]
fn apply_json_retry_names_the_blocker_and_the_failure() {
    let server = common::server();
    let (db, url) = server.fresh_db("json_retry");
    server
        .connect(&db)
        .batch_execute(
            "CREATE TABLE public.t (x int); INSERT INTO public.t SELECT generate_series(1, 100);",
        )
        .unwrap();
    let dev = server.admin_url();
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    std::fs::create_dir(cwd.join("schema")).unwrap();
    std::fs::write(
        cwd.join("schema/t.sql"),
        "CREATE TABLE public.t (x int, y int);\n",
    )
    .unwrap();
    run(
        cwd,
        &["plan", "--db", &url, "--dev-url", &dev, "--out", "plans/p1"],
        0,
    );
    // A reader idle in its transaction: its ACCESS SHARE lock blocks ADD COLUMN.
    let mut reader = server.connect(&db);
    reader
        .batch_execute("BEGIN; SELECT count(*) FROM public.t /* the blocker */;")
        .unwrap();
    let o = run(
        cwd,
        &[
            "apply",
            "--db",
            &url,
            "plans/p1",
            "--format",
            "json",
            "--lock-retries",
            "1",
            "--lock-retry-max-delay-ms",
            "10",
        ],
        1,
    );
    reader.batch_execute("ROLLBACK").unwrap();
    let events = parse_valid_lines("apply-event", &stdout(&o));
    let retries = events_named(&events, "retry");
    assert_eq!(retries.len(), 1, "{events:#?}");
    let blockers = retries[0]["blockers"].as_array().unwrap();
    assert!(
        blockers
            .iter()
            .any(|b| b.as_str().unwrap().contains("the blocker")),
        "{retries:#?}"
    );
    let failed = events_named(&events, "step_failed");
    assert_eq!(failed.len(), 1, "{events:#?}");
    assert_eq!(failed[0]["attempts"], 2, "{failed:#?}");
    assert_eq!(events.last().unwrap()["outcome"], "failed");
    let err = parse_valid("error", &String::from_utf8_lossy(&o.stderr));
    assert!(
        err["error"]["message"].as_str().unwrap().contains("step 1"),
        "{err:#}"
    );
    server.drop_db(&db);
}

/// The schemas' lists of hazards and lock levels are the code's: a new hazard needs its
/// name in docs/schemas/plan.json (and docs/json.md) too.
#[test]
fn plan_schema_names_every_hazard_and_lock_level() {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/schemas/plan.json"),
    )
    .unwrap();
    let schema: Value = serde_json::from_str(&text).unwrap();
    let names = |def: &str| -> Vec<String> {
        schema["$defs"][def]["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    };
    let mut code: Vec<String> = schemaplan::plan::step::ALL_HAZARDS
        .iter()
        .map(|h| h.as_str().to_string())
        .collect();
    let mut documented = names("hazard");
    code.sort();
    documented.sort();
    assert_eq!(code, documented);
    for lock in names("lock") {
        let parsed = schemaplan::plan::LockLevel::parse(&lock)
            .unwrap_or_else(|| panic!("{lock:?} is not a lock level"));
        assert_eq!(parsed.as_str(), lock);
    }
    // A document the schema must refuse: keys are a contract, unknown ones are not allowed.
    let bad: Value = serde_json::json!({"in_sync": true, "objects": [], "contract_pending": [],
        "explained_by_pending_contract": false, "unmodeled": [], "extra": 1});
    let refused = std::panic::catch_unwind(|| assert_valid("drift", &bad));
    assert!(refused.is_err());
}
