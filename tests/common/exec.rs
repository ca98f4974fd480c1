#![allow(dead_code)]
//! Test helpers: databases, plan directories, progress sinks.
//! Shared by the `exec_*` tests: `mod common; #[path = "common/exec.rs"] mod support;`.

use schemaplan::exec::{ApplyOptions, HazardAllow, Progress, ProgressEvent};
use schemaplan::plan::{
    Direction, Hazard, LockLevel, LockTimeout, Phase, Plan, StatementTimeout, Step, TxMode,
};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// `url` with server `options` (`-c name=value`).
pub fn with_options(url: &str, options: &str) -> String {
    // Spaces as %20: libpq-style URL parsing does not read `+` as a space.
    let encoded: String = options
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}options={encoded}")
}

/// `pg_dump --schema-only --no-owner --no-privileges` of the database at `url`, as the
/// acceptance check runs it.
pub fn pg_dump_schema(url: &str) -> String {
    let bin = ["/usr/lib/postgresql/15/bin/pg_dump"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .unwrap_or("pg_dump");
    let out = std::process::Command::new(bin)
        .args([
            "--schema-only",
            "--no-owner",
            "--no-privileges",
            // schemaplan's bookkeeping tables, not the application's schema.
            "--exclude-schema=schemaplan",
            "-d",
            url,
        ])
        .output()
        .expect("pg_dump runs");
    assert!(
        out.status.success(),
        "pg_dump: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

pub fn with_user(url: &str, user: &str, password: &str) -> String {
    let mut u = url::Url::parse(url).unwrap();
    u.set_username(user).unwrap();
    u.set_password(Some(password)).unwrap();
    u.to_string()
}

/// A new empty database on the test server (`common::server()`), dropped with the value.
pub struct TestDb {
    pub name: String,
    pub url: String,
}

impl TestDb {
    pub fn new(prefix: &str) -> TestDb {
        let (name, url) = crate::common::server().fresh_db(&format!("exec_{prefix}"));
        TestDb { name, url }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        crate::common::server().drop_db(&self.name);
    }
}

pub fn fingerprint(url: &str) -> String {
    let mut c = schemaplan::db::connect(url).unwrap();
    let schema = schemaplan::catalog::read(&mut c).unwrap_or_else(|e| panic!("{e}"));
    schemaplan::catalog::fingerprint(&schema)
}

/// Fingerprint of a scratch database after running `sql`, statement by statement.
pub fn fingerprint_after(sql: &[&str]) -> String {
    let db = TestDb::new("ref");
    let mut c = schemaplan::db::connect(&db.url).unwrap();
    for s in sql {
        for part in pg_query::split_with_parser(s).unwrap() {
            c.batch_execute(part)
                .unwrap_or_else(|e| panic!("{part}: {e}"));
        }
    }
    drop(c);
    fingerprint(&db.url)
}

pub fn tx_step(summary: &str, sql: &str) -> Step {
    Step {
        summary: summary.to_string(),
        sql: sql.to_string(),
        phase: Phase::Expand,
        transaction: TxMode::Transaction,
        lock: LockLevel::AccessExclusive,
        lock_target: Some("public.t".to_string()),
        lock_timeout: Some(LockTimeout(Duration::from_secs(1))),
        statement_timeout: Some(StatementTimeout(Duration::from_secs(60))),
        hazards: vec![],
        notes: vec![],
    }
}

pub fn cic_step(summary: &str, sql: &str) -> Step {
    Step {
        transaction: TxMode::Alone,
        lock: LockLevel::ShareUpdateExclusive,
        hazards: vec![Hazard::IndexBuild, Hazard::NonTransactional],
        ..tx_step(summary, sql)
    }
}

/// A database prepared with `before`, and a plan directory for `steps`.
pub struct Fixture {
    /// Dropped with the fixture.
    pub _db: TestDb,
    pub url: String,
    pub plans: tempfile::TempDir,
    pub dir: PathBuf,
}

impl Fixture {
    /// `to` is the schema after running every step's SQL.
    pub fn new(name: &str, before: &[&str], steps: Vec<Step>) -> Fixture {
        Fixture::new_with_inverse(name, before, steps, vec![])
    }

    /// `to` is the schema after `before` and `target` (for steps that fail on purpose).
    pub fn with_target(name: &str, before: &[&str], steps: Vec<Step>, target: &[&str]) -> Fixture {
        Fixture::build(name, before, steps, vec![], Some(target))
    }

    pub fn new_with_inverse(
        name: &str,
        before: &[&str],
        steps: Vec<Step>,
        inverse: Vec<Step>,
    ) -> Fixture {
        Fixture::build(name, before, steps, inverse, None)
    }

    fn build(
        name: &str,
        before: &[&str],
        steps: Vec<Step>,
        inverse: Vec<Step>,
        target: Option<&[&str]>,
    ) -> Fixture {
        let db = TestDb::new(name);
        let mut c = schemaplan::db::connect(&db.url).unwrap();
        for s in before {
            c.batch_execute(s).unwrap();
        }
        let from = fingerprint(&db.url);
        let step_sql: Vec<&str> = steps.iter().map(|s| s.sql.as_str()).collect();
        let mut all: Vec<&str> = before.to_vec();
        all.extend(target.unwrap_or(&step_sql));
        let to = fingerprint_after(&all);
        let id = format!("20261121T101500Z_{name}");
        let plan = Plan {
            id: id.clone(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            direction: Direction::Forward,
            from: from.clone(),
            to: to.clone(),
            steps,
            from_objects: Default::default(),
            unproven: None,
            scope: Default::default(),
        };
        let inverse = Plan {
            direction: Direction::Inverse,
            from: to,
            to: from,
            steps: inverse,
            ..plan.clone()
        };
        let plans = tempfile::tempdir().unwrap();
        let dir = plans.path().join(&id);
        schemaplan::render::write_plan_dir(&dir, &plan, &inverse).unwrap();
        Fixture {
            url: db.url.clone(),
            _db: db,
            plans,
            dir,
        }
    }

    /// Options for this fixture: hazards allowed (tests of the gate set their own).
    pub fn opts(&self) -> ApplyOptions {
        let mut o = ApplyOptions::new(self.url.clone(), self.dir.clone());
        o.allow_hazards = HazardAllow::All;
        o.lock_wait = Duration::from_secs(5);
        o
    }

    pub fn connect(&self) -> postgres::Client {
        schemaplan::db::connect(&self.url).unwrap()
    }

    /// The bookkeeping as one JSON document (`Null` when there is none), read with SQL from
    /// `schemaplan.runs` and `schemaplan.steps` ([`BOOK_JSON_SQL`]).
    pub fn book(&self) -> serde_json::Value {
        book_json(&mut self.connect())
    }

    /// Outcomes of the runs, oldest first.
    pub fn history_outcomes(&self) -> Vec<String> {
        let book = self.book();
        let Some(runs) = book["runs"].as_array() else {
            return Vec::new();
        };
        runs.iter()
            .map(|r| r["outcome"].as_str().unwrap().to_string())
            .collect()
    }

    /// `(step, transactional, outcome)` of the journal of run `run_id`.
    pub fn journal(&self, run_id: i64) -> Vec<(u64, bool, String)> {
        let book = self.book();
        let run = book["runs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["run_id"] == run_id)
            .unwrap_or_else(|| panic!("run {run_id} in {book}"))
            .clone();
        run["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["step"].as_u64().unwrap(),
                    s["transactional"].as_bool().unwrap(),
                    s["outcome"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    pub fn lock_held(&self) -> bool {
        self.connect()
            .query_one(
                "SELECT count(*) > 0 FROM pg_locks WHERE locktype = 'advisory' AND granted \
                 AND classid = $1::int4::oid AND objid = $2::int4::oid \
                 AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
                &[&schemaplan::exec::LOCK_CLASS, &schemaplan::exec::LOCK_APPLY],
            )
            .unwrap()
            .get(0)
    }
}

pub fn wait_until(mut cond: impl FnMut() -> bool, what: &str) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Collects events (and echoes them for failing tests).
#[derive(Default)]
pub struct Events(pub Vec<ProgressEvent>);

impl Progress for Events {
    fn event(&mut self, e: ProgressEvent) {
        eprintln!("{}", schemaplan::exec::describe(&e));
        self.0.push(e);
    }
}

/// Another session that holds a lock without sleeping: `take` (run it from `on_start`)
/// makes it run `lock_sql` in a transaction and returns once the lock is held; a message
/// on `release` commits. Tests release it on an event (a retry), never after a delay.
pub struct LockHolder {
    pub take: Option<Box<dyn FnOnce() + Send>>,
    pub release: std::sync::mpsc::Sender<()>,
    pub thread: std::thread::JoinHandle<()>,
}

pub fn lock_holder(url: &str, lock_sql: &str) -> LockHolder {
    use std::sync::mpsc;
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let (locked_tx, locked_rx) = mpsc::channel::<()>();
    let (release, release_rx) = mpsc::channel::<()>();
    let (url, lock_sql) = (url.to_string(), lock_sql.to_string());
    let thread = std::thread::spawn(move || {
        let mut c = schemaplan::db::connect(&url).unwrap();
        if go_rx.recv().is_err() {
            return;
        }
        let mut tx = c.transaction().unwrap();
        tx.batch_execute(&lock_sql).unwrap();
        locked_tx.send(()).unwrap();
        let _ = release_rx.recv();
        tx.commit().unwrap();
    });
    LockHolder {
        take: Some(Box::new(move || {
            go_tx.send(()).unwrap();
            locked_rx.recv().unwrap();
        })),
        release,
        thread,
    }
}

impl LockHolder {
    /// Progress for the apply under test: takes the lock when the run starts, releases it at
    /// the first retry event whose attempt satisfies `when`.
    pub fn events_releasing_on(&mut self, when: impl Fn(u32) -> bool + Send + 'static) -> OnRetry {
        let release = self.release.clone();
        OnRetry {
            inner: OnStart {
                events: Events::default(),
                on_start: self.take.take(),
            },
            on_retry: Box::new(move |attempt| {
                if when(attempt) {
                    let _ = release.send(());
                }
            }),
        }
    }
}

/// Like [`OnStart`], and calls `on_retry(attempt)` for every retry event.
pub struct OnRetry {
    pub inner: OnStart,
    pub on_retry: Box<dyn FnMut(u32) + Send>,
}

impl Progress for OnRetry {
    fn event(&mut self, e: ProgressEvent) {
        if let ProgressEvent::Retry { attempt, .. } = &e {
            (self.on_retry)(*attempt);
        }
        self.inner.event(e);
    }
}

/// Collects events and runs `on_start` when the run starts (after every check).
pub struct OnStart {
    pub events: Events,
    pub on_start: Option<Box<dyn FnOnce() + Send>>,
}

impl Progress for OnStart {
    fn event(&mut self, e: ProgressEvent) {
        if matches!(e, ProgressEvent::Started { .. }) {
            if let Some(f) = self.on_start.take() {
                f();
            }
        }
        self.events.event(e);
    }
}

/// The bookkeeping tables as one JSON document shaped like the old large object's (`runs`,
/// each with its `steps`; a batched step's `batch_*` columns as `batch: {cursor, rows,
/// batches}`), for the tests that read the history. Plain SQL over the documented tables.
pub const BOOK_JSON_SQL: &str = "\
SELECT json_build_object('runs', coalesce(json_agg(r.doc ORDER BY r.run_id), '[]'))::text
FROM (
  SELECT r.run_id, to_jsonb(r) || jsonb_build_object('steps', coalesce((
    SELECT jsonb_agg(to_jsonb(s) - 'batch_cursor' - 'batch_rows' - 'batch_batches'
             || CASE WHEN s.batch_rows IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('batch',
                  jsonb_build_object('cursor', s.batch_cursor, 'rows', s.batch_rows,
                                     'batches', s.batch_batches)) END
           ORDER BY s.step)
    FROM schemaplan.steps s WHERE s.run_id = r.run_id), '[]'::jsonb)) AS doc
  FROM schemaplan.runs r) r";

/// [`BOOK_JSON_SQL`] on `c`; `Null` when the tables do not exist.
pub fn book_json(c: &mut postgres::Client) -> serde_json::Value {
    let exists: bool = c
        .query_one("SELECT to_regclass('schemaplan.runs') IS NOT NULL", &[])
        .unwrap()
        .get(0);
    if !exists {
        return serde_json::Value::Null;
    }
    let text: String = c.query_one(BOOK_JSON_SQL, &[]).unwrap().get(0);
    serde_json::from_str(&text).unwrap()
}
