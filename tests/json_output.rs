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

/// A session idle in its transaction after `sql` (with `application_name` `app`): it keeps
/// the locks `sql` took until it ends. Returns it and its backend pid.
fn idle_in_transaction(
    server: &common::TestServer,
    db: &str,
    app: &str,
    sql: &str,
) -> (postgres::Client, i32) {
    let mut c = server.connect(db);
    let pid: i32 = c.query_one("SELECT pg_backend_pid()", &[]).unwrap().get(0);
    c.batch_execute(&format!("SET application_name = {app}"))
        .unwrap();
    // Its own batch: the blocker report shows the start of the session's last query.
    c.batch_execute(&format!("BEGIN; {sql}")).unwrap();
    (c, pid)
}

/// `apply --format json` of `plans/p1` with one lock retry and no wait between: a blocked
/// step fails (exit 1) after two attempts.
fn apply_json_retrying_once(cwd: &std::path::Path, url: &str) -> std::process::Output {
    run(
        cwd,
        &[
            "apply",
            "--db",
            url,
            "plans/p1",
            "--format",
            "json",
            "--lock-retries",
            "1",
            "--lock-retry-max-delay-ms",
            "10",
        ],
        1,
    )
}

/// The one `retry` event's blocker that `which` picks (panics naming the events otherwise).
fn the_blocker(events: &[Value], which: impl Fn(&Value) -> bool) -> &Value {
    let retries = events_named(events, "retry");
    assert_eq!(retries.len(), 1, "{events:#?}");
    retries[0]["blockers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| which(b))
        .unwrap_or_else(|| panic!("no such blocker in {retries:#?}"))
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

    // lint: both files read, with their steps.
    let lint = parse_valid(
        "lint",
        &stdout(&run(cwd, &["lint", "plans/p1", "--format", "json"], 0)),
    );
    assert_eq!(lint["ok"], true, "{lint:#}");
    assert_eq!(lint["files"][0]["direction"], "forward", "{lint:#}");
    assert_eq!(
        lint["files"][0]["steps"].as_u64().unwrap() as usize,
        printed["steps"].as_array().unwrap().len(),
        "{lint:#}"
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
/// (exec/blockers.rs: pid, application, lock mode, query start), the failed step says
/// `failed`, `run_finished` says what failed and what to run next, and the error is the one
/// JSON object on stderr.
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
    let (mut reader, reader_pid) = idle_in_transaction(
        server,
        &db,
        "the_reader",
        "SELECT count(*) FROM public.t /* the blocker */;",
    );
    let o = apply_json_retrying_once(cwd, &url);
    reader.batch_execute("ROLLBACK").unwrap();
    let events = parse_valid_lines("apply-event", &stdout(&o));
    // The blocker as an object: who (pid, application), what it holds, since when.
    let b = the_blocker(&events, |b| {
        b["query"]
            .as_str()
            .is_some_and(|q| q.contains("the blocker"))
    });
    assert_eq!(b["cause"], "lock_timeout", "{b:#}");
    assert_eq!(b["pid"], reader_pid, "{b:#}");
    assert_eq!(b["mode"], "AccessShareLock", "{b:#}");
    assert_eq!(b["relation"], "public.t", "{b:#}");
    assert_eq!(b["application_name"], "the_reader", "{b:#}");
    assert_eq!(b["state"], "idle in transaction", "{b:#}");
    assert!(b["query_start"].is_string(), "{b:#}");
    let failed = events_named(&events, "step_failed");
    assert_eq!(failed.len(), 1, "{events:#?}");
    assert_eq!(failed[0]["attempts"], 2, "{failed:#?}");
    // run_finished closes with what failed and what to run next.
    let last = events.last().unwrap();
    assert_eq!(last["outcome"], "failed");
    let message = last["message"]
        .as_str()
        .unwrap_or_else(|| panic!("{last:#}"));
    assert!(
        message.contains("failed at step 1/1") && message.contains("after 2 attempts"),
        "{last:#}"
    );
    assert!(message.contains("apply again to resume"), "{last:#}");
    let err = parse_valid("error", &String::from_utf8_lossy(&o.stderr));
    assert!(
        err["error"]["message"].as_str().unwrap().contains("step 1"),
        "{err:#}"
    );
    server.drop_db(&db);
}

/// Adding a foreign key locks the referenced table too (SHARE ROW EXCLUSIVE): `plan.json`
/// lists that lock in the step's `also_locks`, and when a writer's open transaction on the
/// referenced table makes the step time out, the `retry` event names that writer, on the
/// referenced table (before, only the step's own table was searched, and the report was
/// empty).
#[test]
fn foreign_key_add_names_the_lock_and_the_blocker_on_the_referenced_table() {
    let server = common::server();
    let (db, url) = server.fresh_db("json_fk_referenced");
    let tables = "CREATE TABLE public.customers (id integer PRIMARY KEY);\n";
    server
        .connect(&db)
        .batch_execute(&format!(
            "{tables}CREATE TABLE public.orders (id integer PRIMARY KEY, customer_id integer);
             INSERT INTO public.customers SELECT generate_series(1, 50);
             INSERT INTO public.orders SELECT g, 1 + g % 50 FROM generate_series(1, 200) g;"
        ))
        .unwrap();
    let dev = server.admin_url();
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    std::fs::create_dir(cwd.join("schema")).unwrap();
    std::fs::write(
        cwd.join("schema/shop.sql"),
        format!(
            "{tables}CREATE TABLE public.orders (id integer PRIMARY KEY,\n\
             \x20   customer_id integer REFERENCES public.customers (id));\n"
        ),
    )
    .unwrap();
    run(
        cwd,
        &["plan", "--db", &url, "--dev-url", &dev, "--out", "plans/p1"],
        0,
    );
    let plan = parse_valid(
        "plan",
        &std::fs::read_to_string(cwd.join("plans/p1/plan.json")).unwrap(),
    );
    let add = &plan["steps"][0];
    assert_eq!(add["lock"], "SHARE ROW EXCLUSIVE", "{plan:#}");
    assert_eq!(add["lock_target"], "public.orders", "{plan:#}");
    assert_eq!(
        add["also_locks"],
        serde_json::json!([{"lock": "SHARE ROW EXCLUSIVE", "target": "public.customers"}]),
        "{plan:#}"
    );
    // Its inverse drops the key: ACCESS EXCLUSIVE on both tables.
    let drop = &plan["inverse"]["steps"][0];
    assert_eq!(
        drop["also_locks"],
        serde_json::json!([{"lock": "ACCESS EXCLUSIVE", "target": "public.customers"}]),
        "{plan:#}"
    );
    // A writer idle in its transaction on the referenced table only: its ROW EXCLUSIVE lock
    // conflicts with the SHARE ROW EXCLUSIVE the key needs there.
    let (mut writer, writer_pid) = idle_in_transaction(
        server,
        &db,
        "the_writer",
        "INSERT INTO public.customers VALUES (1000) /* the writer */;",
    );
    let o = apply_json_retrying_once(cwd, &url);
    writer.batch_execute("ROLLBACK").unwrap();
    let events = parse_valid_lines("apply-event", &stdout(&o));
    let b = the_blocker(&events, |b| b["pid"] == writer_pid);
    assert_eq!(b["cause"], "lock_timeout", "{b:#}");
    assert_eq!(b["relation"], "public.customers", "{b:#}");
    assert_eq!(b["mode"], "RowExclusiveLock", "{b:#}");
    server.drop_db(&db);
}

/// `lint --format json` of a broken plan directory: each file with its problem (and the line
/// the reader points at), `ok` false, exit 1, and nothing but the document (no text error).
#[test]
fn lint_json_reports_each_file_with_its_problem() {
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    let dir = cwd.join("plans/broken");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("plan.sql"), "-- not a plan\nSELECT 1;\n").unwrap();
    let o = run(cwd, &["lint", "plans/broken", "--format", "json"], 1);
    assert!(o.stderr.is_empty(), "{}", output_text(&o));
    let lint = parse_valid("lint", &stdout(&o));
    assert_eq!(lint["ok"], false, "{lint:#}");
    let files = lint["files"].as_array().unwrap();
    assert_eq!(files.len(), 2, "{lint:#}");
    for f in files {
        assert_eq!(f["ok"], false, "{lint:#}");
        assert!(f["steps"].is_null(), "{lint:#}");
        let problem = f["problem"]["message"].as_str().unwrap();
        assert!(problem.contains(f["file"].as_str().unwrap()), "{lint:#}");
    }
    // inverse.sql is missing: a read error, no line.
    assert_eq!(files[1]["direction"], "inverse");
    assert!(files[1]["problem"]["line"].is_null(), "{lint:#}");
    // The text output still says it as errors.
    let o = run(cwd, &["lint", "plans/broken"], 1);
    assert!(
        String::from_utf8_lossy(&o.stderr).starts_with("error: "),
        "{}",
        output_text(&o)
    );
}

/// A unit that loses a deadlock: the `retry` event names the other side of the cycle (its
/// pid, application, what it waited for and the lock it holds), and the run goes on.
///
/// The two steps (ADD COLUMN on `a` and `b`) run in one transaction. Another session holds
/// `b` (ACCESS SHARE) before the apply starts; when the apply, holding `a`, waits for `b`, the
/// session reads `a`: a cycle. Its own deadlock check is put off (`deadlock_timeout` 10min)
/// so that the apply's (5s, set on the database) is the one that finds the cycle; the
/// session commits when the `retry` event arrives, and the retry succeeds.
#[test]
fn apply_json_retry_after_a_deadlock_names_the_other_side() {
    use std::io::BufRead;
    let server = common::server();
    let (db, url) = server.fresh_db("json_deadlock");
    server
        .connect(&db)
        .batch_execute(&format!(
            "CREATE TABLE public.a (x int); INSERT INTO public.a SELECT generate_series(1, 100);
             CREATE TABLE public.b (x int); INSERT INTO public.b SELECT generate_series(1, 100);
             ALTER DATABASE {db} SET deadlock_timeout = '5s';"
        ))
        .unwrap();
    let dev = server.admin_url();
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    std::fs::create_dir(cwd.join("schema")).unwrap();
    std::fs::write(
        cwd.join("schema/t.sql"),
        "CREATE TABLE public.a (x int, y int);\nCREATE TABLE public.b (x int, y int);\n",
    )
    .unwrap();
    let plan = parse_valid(
        "plan",
        &stdout(&run(
            cwd,
            &[
                "plan",
                "--db",
                &url,
                "--dev-url",
                &dev,
                "--out",
                "plans/p1",
                "--format",
                "json",
                "--lock-timeout-ms",
                "120000",
            ],
            0,
        )),
    );
    let steps = plan["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 2, "{plan:#}");
    assert!(
        steps.iter().all(|s| s["transaction"] == "yes"),
        "one transaction: {plan:#}"
    );
    // The table the apply locks first, and the one it waits for.
    let (first, second) = if steps[0]["summary"].as_str().unwrap().contains("public.a") {
        ("public.a", "public.b")
    } else {
        ("public.b", "public.a")
    };

    // The other session: holds `second`, then (on `go`) reads `first`, commits on `release`.
    let (pid_tx, pid_rx) = std::sync::mpsc::channel::<i32>();
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let other_db = db.clone();
    let other = std::thread::spawn(move || {
        let mut c = common::server().connect(&other_db);
        c.batch_execute(&format!(
            "SET application_name = the_other_side; SET deadlock_timeout = '10min'; \
             BEGIN; LOCK TABLE {second} IN ACCESS SHARE MODE;"
        ))
        .unwrap();
        let pid: i32 = c.query_one("SELECT pg_backend_pid()", &[]).unwrap().get(0);
        pid_tx.send(pid).unwrap();
        go_rx.recv().unwrap();
        c.batch_execute(&format!("SELECT count(*) FROM {first}"))
            .unwrap();
        let _ = release_rx.recv();
        c.batch_execute("COMMIT").unwrap();
    });
    let other_pid = pid_rx.recv().unwrap();

    let mut apply = std::process::Command::new(env!("CARGO_BIN_EXE_schemaplan"))
        .args([
            "apply",
            "--db",
            &url,
            "plans/p1",
            "--format",
            "json",
            "--lock-retries",
            "3",
            "--lock-retry-max-delay-ms",
            "10",
        ])
        .current_dir(cwd)
        .env_remove("DATABASE_URL")
        .env_remove("SCHEMAPLAN_CONFIG")
        .env_remove("SCHEMAPLAN_ENV")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Once the apply waits for `second`, the other session closes the cycle.
    let mut watch = server.connect(&db);
    let waiting = format!(
        "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = '{second}'::regclass"
    );
    while watch.query_one(&waiting, &[]).unwrap().get::<_, i64>(0) == 0 {
        assert!(
            apply.try_wait().unwrap().is_none(),
            "the apply ended before it waited for {second}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    go_tx.send(()).unwrap();
    let mut events = Vec::new();
    for line in std::io::BufReader::new(apply.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        let event = parse_valid("apply-event", &line);
        if event["event"] == "retry" {
            let _ = release_tx.send(());
        }
        events.push(event);
    }
    let status = apply.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut apply.stderr.take().unwrap(), &mut err).unwrap();
    let _ = release_tx.send(());
    other.join().unwrap();
    assert!(status.success(), "{events:#?}\n{err}");
    let retries = events_named(&events, "retry");
    assert_eq!(retries.len(), 1, "{events:#?}");
    assert!(
        retries[0]["reason"].as_str().unwrap().contains("40P01"),
        "{retries:#?}"
    );
    let blockers = retries[0]["blockers"].as_array().unwrap();
    let b = blockers
        .iter()
        .find(|b| b["pid"] == other_pid)
        .unwrap_or_else(|| panic!("the other side (pid {other_pid}) in {retries:#?}"));
    assert_eq!(b["cause"], "deadlock", "{b:#}");
    assert_eq!(b["application_name"], "the_other_side", "{b:#}");
    assert!(
        b["waited_for"]
            .as_str()
            .is_some_and(|w| w.starts_with("AccessShareLock on relation")),
        "{b:#}"
    );
    assert_eq!(b["mode"], "AccessShareLock", "{b:#}");
    assert_eq!(b["relation"], second, "{b:#}");
    let last = events.last().unwrap();
    assert_eq!(last["outcome"], "applied", "{events:#?}");
    assert_eq!(last["retries"], 1, "{last:#}");
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
