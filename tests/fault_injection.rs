//! Fault injection: `schemaplan apply` (the binary) is killed with SIGKILL, or its backend is
//! ended with `pg_terminate_backend`, at every step boundary and in the middle of every long
//! step of a real plan on tables with data; `apply` is then run again and must converge.
//!
//! The plan is made by the planner (`schemaplan plan`) from a schema change that mixes
//! transactional steps (new table, new column, rename), concurrent index builds (new index,
//! index replaced through a `_new` index, a unique constraint through a concurrently built
//! index), concurrent drops, and `NOT VALID` + `VALIDATE` (a foreign key, a CHECK, SET NOT
//! NULL through a validated CHECK). Kill points are taken from the plan file itself, so they
//! follow the planner as it changes:
//!
//! - `before:N` / `after:N`: the test hook `SCHEMAPLAN_TEST_PAUSE` (docs/executor.md) stops
//!   apply right before step N's SQL is sent and right after it returned (before its journal
//!   entry is written); the test kills the process (or ends its backend and lets it go on) there.
//! - `middle:N`: for each long step (an index build or a validation), apply is paused right
//!   before it, let go, and killed once the server shows the statement running (for an index
//!   build: `pg_stat_progress_create_index` has scanned blocks).
//!
//! After each: the rerun exits 0, the live schema's fingerprint is the plan's `to`, the row
//! count and a checksum of every table's data are those of the start, no invalid index is left,
//! and the history has exactly one interrupted and one succeeded run.
//!
//! The same for `schemaplan rollback` (the plan's `inverse.sql`) on a database the plan was
//! applied to: SIGKILL before every inverse step and after every non-transactional one, then
//! rollback again must return to the plan's `from` with the data unchanged.
//!
//! Each case runs on a copy (`CREATE DATABASE ... TEMPLATE`) of one loaded database.
#![allow(clippy::result_large_err)]

mod common;

use schemaplan::plan::Direction;
use schemaplan::planfile::{self, PlanFile};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::sync::OnceLock;
use std::time::Duration;

/// Rows in `public.orders`: large enough that a concurrent index build or a foreign key
/// validation takes a few hundred milliseconds here (2 cores, PostgreSQL 15), so the test sees
/// it running and kills it in the middle.
const ORDERS: i64 = 300_000;
const CUSTOMERS: i64 = 20_000;

/// The database before the plan: the schema and the data.
fn before_sql() -> String {
    format!(
        "CREATE TABLE public.customers (id bigint PRIMARY KEY, name text NOT NULL, email text);
         CREATE TABLE public.orders (
             id bigint PRIMARY KEY,
             customer_id bigint NOT NULL,
             amount numeric(12,2) NOT NULL,
             status text NOT NULL,
             note text,
             created_at timestamptz NOT NULL
         );
         CREATE INDEX orders_status_idx ON public.orders (status);
         CREATE INDEX orders_created_idx ON public.orders (created_at);
         CREATE TABLE public.legacy (id int PRIMARY KEY);
         INSERT INTO public.customers
             SELECT g, 'customer ' || g, 'c' || g || '@example.com' FROM generate_series(1, {CUSTOMERS}) g;
         INSERT INTO public.orders
             SELECT g, 1 + (g::bigint * 7919) % {CUSTOMERS}, (g % 1000) / 10.0,
                    (ARRAY['new','paid','shipped','cancelled'])[1 + g % 4],
                    CASE WHEN g % 3 = 0 THEN 'note ' || g END,
                    timestamptz '2026-01-01' + g * interval '1 minute'
             FROM generate_series(1, {ORDERS}) g;
         ANALYZE;"
    )
}

/// The desired schema (schema/*.sql).
const AFTER: &str = "
CREATE TABLE public.customers (
    id bigint PRIMARY KEY,
    name text NOT NULL,
    email text NOT NULL,
    token uuid NOT NULL DEFAULT gen_random_uuid(),
    CONSTRAINT customers_email_key UNIQUE (email)
);
CREATE TABLE public.orders (
    id bigint PRIMARY KEY,
    customer_id bigint NOT NULL,
    amount numeric(12,2) NOT NULL,
    status text NOT NULL,
    note text,
    created_at timestamptz NOT NULL,
    shipped_at timestamptz,
    CONSTRAINT orders_amount_check CHECK (amount >= 0),
    CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) REFERENCES public.customers (id)
);
CREATE INDEX orders_customer_idx ON public.orders (customer_id);
CREATE INDEX orders_created_idx ON public.orders (created_at, id);
CREATE TABLE public.audit_log (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id bigint NOT NULL,
    at timestamptz NOT NULL DEFAULT now()
);
";

/// The loaded template database, the plan made against it, and the data's checksums.
struct Suite {
    template: String,
    _dir: tempfile::TempDir,
    plan_dir: PathBuf,
    plan: PlanFile,
    /// Table -> (row count, checksum of the columns it had before the plan).
    data: BTreeMap<String, (i64, String)>,
}

fn suite() -> &'static Suite {
    static SUITE: OnceLock<Suite> = OnceLock::new();
    SUITE.get_or_init(|| {
        let server = common::server();
        let (template, url) = server.fresh_db("fault_template");
        {
            let mut c = server.connect(&template);
            c.batch_execute(&before_sql()).unwrap();
        }
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("schema")).unwrap();
        std::fs::write(dir.path().join("schema/shop.sql"), AFTER).unwrap();
        let out = common::schemaplan(
            dir.path(),
            &[
                "plan",
                "--db",
                &url,
                "--dev-url",
                &server.admin_url(),
                "--out",
                "plans/faults",
                // The online forms whatever the size threshold's default becomes.
                "--small-table",
                "0",
            ],
        );
        assert!(
            out.status.success(),
            "plan: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let plan_dir = dir.path().join("plans/faults");
        let plan = planfile::read_dir(&plan_dir, Direction::Forward).unwrap();
        let data = {
            let mut c = server.connect(&template);
            table_data(&mut c)
        };
        Suite {
            template,
            _dir: dir,
            plan_dir,
            plan,
            data,
        }
    })
}

/// The columns each table has in the template, for checksums that ignore added columns.
fn original_columns() -> &'static [(&'static str, &'static str)] {
    &[
        ("public.customers", "id, name, email"),
        (
            "public.orders",
            "id, customer_id, amount, status, note, created_at",
        ),
    ]
}

fn table_data(c: &mut postgres::Client) -> BTreeMap<String, (i64, String)> {
    original_columns()
        .iter()
        .map(|(table, cols)| {
            let row = c
                .query_one(
                    &format!(
                        "SELECT count(*), coalesce(sum(hashtextextended(row({cols})::text, 0)::numeric), 0)::text \
                         FROM {table}"
                    ),
                    &[],
                )
                .unwrap();
            (table.to_string(), (row.get(0), row.get(1)))
        })
        .collect()
}

/// A copy of the template, dropped with the value.
struct Copy {
    name: String,
    url: String,
}

impl Copy {
    fn new(tag: &str) -> Copy {
        Copy::of(&suite().template, tag)
    }

    /// A copy of `template` (the loaded database, or [`applied`]'s).
    fn of(template: &str, tag: &str) -> Copy {
        let server = common::server();
        let (name, url) = server.fresh_db(&format!("fault_{tag}"));
        let mut admin = schemaplan::db::connect(&server.admin_url()).unwrap();
        admin
            .batch_execute(&format!("DROP DATABASE \"{name}\""))
            .unwrap();
        // The template may still show the planner's just-closed sessions for a moment
        // (55006 object_in_use): try again until they are gone.
        let mut tries = 0;
        loop {
            match admin.batch_execute(&format!(
                "CREATE DATABASE \"{name}\" TEMPLATE \"{template}\""
            )) {
                Ok(()) => break,
                Err(e) if e.code().map(|c| c.code()) == Some("55006") && tries < 200 => {
                    tries += 1;
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => panic!("copy the template: {}", schemaplan::db::error_text(&e)),
            }
        }
        Copy { name, url }
    }

    fn connect(&self) -> postgres::Client {
        schemaplan::db::connect(&self.url).unwrap()
    }

    /// Outcomes of the runs in the bookkeeping, oldest first, each with `(step, outcome)` of
    /// its journal: read with SQL from `schemaplan.runs` and `schemaplan.steps`.
    fn history(&self) -> Vec<(String, Vec<(u64, String)>)> {
        let mut c = self.connect();
        let exists: bool = c
            .query_one("SELECT to_regclass('schemaplan.runs') IS NOT NULL", &[])
            .unwrap()
            .get(0);
        if !exists {
            return Vec::new();
        }
        c.query(
            "SELECT r.outcome, coalesce(json_agg(json_build_array(s.step, s.outcome) \
                ORDER BY s.step) FILTER (WHERE s.step IS NOT NULL), '[]')::text \
             FROM schemaplan.runs r LEFT JOIN schemaplan.steps s ON s.run_id = r.run_id \
             GROUP BY r.run_id, r.outcome ORDER BY r.run_id",
            &[],
        )
        .unwrap()
        .iter()
        .map(|row| {
            let steps: serde_json::Value = serde_json::from_str(row.get::<_, &str>(1)).unwrap();
            let steps = steps
                .as_array()
                .unwrap()
                .iter()
                .map(|p| (p[0].as_u64().unwrap(), p[1].as_str().unwrap().to_string()))
                .collect();
            (row.get::<_, String>(0), steps)
        })
        .collect()
    }

    /// Backend pids of apply sessions on this database.
    fn apply_backends(&self) -> Vec<i32> {
        self.connect()
            .query(
                "SELECT pid FROM pg_stat_activity WHERE datname = $1 \
                 AND application_name LIKE 'schemaplan apply%'",
                &[&self.name],
            )
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect()
    }

    /// Ends the apply's backend and waits until it is gone.
    fn terminate_apply_backend(&self) {
        let pids = self.apply_backends();
        assert_eq!(pids.len(), 1, "one apply backend: {pids:?}");
        let mut c = self.connect();
        c.query("SELECT pg_terminate_backend($1)", &[&pids[0]])
            .unwrap();
        wait_until("the terminated backend to exit", || {
            self.apply_backends().is_empty()
        });
    }
}

impl Drop for Copy {
    fn drop(&mut self) {
        common::server().drop_db(&self.name);
    }
}

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    // A bound so a broken build fails instead of hanging; never reached when things work.
    for _ in 0..30_000 {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    panic!("gave up waiting for {what}");
}

/// A running `schemaplan apply` with its stderr lines arriving on a channel.
struct Apply {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Apply {
    fn start(url: &str, pause: Option<&str>, extra: &[&str]) -> Apply {
        Apply::run("apply", url, pause, extra)
    }

    /// `schemaplan <command>` (`apply` or `rollback`) of the suite's plan.
    fn run(command: &str, url: &str, pause: Option<&str>, extra: &[&str]) -> Apply {
        let s = suite();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_schemaplan"));
        cmd.args([command, "--db", url])
            .arg(&s.plan_dir)
            .args(["--allow-hazards", "all"])
            .args(extra);
        // The suite's plan drops objects, so it has a contract phase: every run here is of
        // the whole plan unless a test names a phase.
        if !extra.contains(&"--phase") {
            cmd.args(["--phase", "all"]);
        }
        cmd.env_remove("DATABASE_URL")
            .env_remove("SCHEMAPLAN_TEST_PAUSE")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(p) = pause {
            cmd.env("SCHEMAPLAN_TEST_PAUSE", p);
        }
        let mut child = cmd.spawn().unwrap();
        let (tx, lines) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let tx2 = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx2.send(line);
            }
        });
        let stdin = child.stdin.take();
        Apply {
            child,
            stdin,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for the pause marker of `point`.
    fn wait_for_pause(&mut self, point: &str) {
        self.wait_for_line(&format!("schemaplan-test-pause {point}"));
    }

    /// Waits for an output line containing `text`.
    fn wait_for_line(&mut self, text: &str) {
        let point = text;
        loop {
            match self.lines.recv_timeout(Duration::from_secs(120)) {
                Ok(line) => {
                    let hit = line.contains(text);
                    self.seen.push(line);
                    if hit {
                        return;
                    }
                }
                Err(_) => {
                    let _ = self.child.kill();
                    panic!(
                        "apply never reached {point}; its output:\n{}",
                        self.seen.join("\n")
                    );
                }
            }
        }
    }

    /// Lets a paused apply go on (later pause points still pause).
    fn resume(&mut self) {
        if let Some(stdin) = self.stdin.as_mut() {
            let _ = stdin.write_all(b"\n");
            let _ = stdin.flush();
        }
    }

    /// SIGKILL: no cleanup of any kind.
    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Waits for the exit; returns the exit code and all output.
    fn finish(mut self) -> (i32, String) {
        // End of input: every pause point from now on continues at once.
        drop(self.stdin.take());
        let status = self.child.wait().unwrap();
        // The reader threads end at end of file.
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(10)) {
            self.seen.push(line);
        }
        (status.code().unwrap_or(-1), self.seen.join("\n"))
    }
}

/// How the apply is stopped.
#[derive(Clone, Copy, Debug)]
enum Fault {
    /// SIGKILL of the apply process.
    Kill,
    /// `pg_terminate_backend` of its backend; the process goes on and meets the dead
    /// connection.
    Terminate,
}

/// Runs apply again and checks everything the issue asks for; returns the rerun's output.
fn rerun_and_check(db: &Copy, case: &str) -> String {
    let s = suite();
    let (code, out) = Apply::start(&db.url, None, &[]).finish();
    assert_eq!(code, 0, "{case}: the rerun failed:\n{out}");
    let live = {
        let mut c = db.connect();
        schemaplan::catalog::fingerprint(&schemaplan::catalog::read(&mut c).unwrap())
    };
    assert_eq!(
        live, s.plan.plan.to,
        "{case}: the rerun did not converge to `to`:\n{out}"
    );
    let mut c = db.connect();
    assert_eq!(table_data(&mut c), s.data, "{case}: the data changed");
    let invalid: Vec<String> = c
        .query(
            "SELECT indexrelid::regclass::text FROM pg_index WHERE NOT indisvalid OR NOT indisready",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(
        invalid.is_empty(),
        "{case}: invalid indexes left: {invalid:?}"
    );
    let outcomes: Vec<String> = db.history().into_iter().map(|(o, _)| o).collect();
    assert_eq!(
        outcomes,
        vec!["interrupted", "succeeded"],
        "{case}: history\n{out}"
    );
    out
}

/// Stops apply at `point` (`before:N` or `after:N`) with `fault`, then reruns and checks.
fn boundary_case(point: &str, fault: Fault) {
    let case = format!("{fault:?} at {point}");
    let db = Copy::new(&format!("{fault:?}_{point}"));
    let mut apply = Apply::start(&db.url, Some(point), &[]);
    apply.wait_for_pause(point);
    match fault {
        Fault::Kill => apply.kill(),
        Fault::Terminate => {
            db.terminate_apply_backend();
            let (code, out) = apply.finish();
            assert_eq!(code, 1, "{case}: the cut-off apply should fail:\n{out}");
            assert!(
                out.contains("connection to the server was lost")
                    && out.contains("recorded as interrupted"),
                "{case}:\n{out}"
            );
        }
    }
    rerun_and_check(&db, &case);
}

/// Every step boundary: before each step's SQL and after it (before the journal records it).
/// `SCHEMAPLAN_FAULT_POINTS=before:7,after:7` narrows the list (for debugging one case).
fn boundaries() -> Vec<String> {
    let n = suite().plan.plan.steps.len();
    let only = std::env::var("SCHEMAPLAN_FAULT_POINTS").ok();
    (1..=n)
        .flat_map(|k| [format!("before:{k}"), format!("after:{k}")])
        .filter(|p| only.as_ref().is_none_or(|o| o.split(',').any(|x| x == p)))
        .collect()
}

#[test]
fn the_plan_mixes_the_step_kinds_under_test() {
    let steps = &suite().plan.plan.steps;
    for (i, s) in steps.iter().enumerate() {
        eprintln!(
            "step {} [{}] {}",
            i + 1,
            s.transaction.as_str(),
            s.sql.replace('\n', " ")
        );
    }
    let has = |pred: &dyn Fn(&schemaplan::plan::Step) -> bool| steps.iter().any(pred);
    assert!(
        has(&|s| s.transaction == schemaplan::plan::TxMode::Transaction),
        "transactional steps"
    );
    assert!(
        has(&|s| s.sql.contains("CREATE INDEX CONCURRENTLY")),
        "concurrent builds"
    );
    assert!(
        has(&|s| s.sql.contains("CREATE UNIQUE INDEX CONCURRENTLY")),
        "concurrent unique build"
    );
    assert!(
        has(&|s| s.sql.contains("DROP INDEX CONCURRENTLY")),
        "concurrent drops"
    );
    assert!(has(&|s| s.sql.contains("NOT VALID")), "NOT VALID");
    assert!(
        has(&|s| s.sql.contains("VALIDATE CONSTRAINT")),
        "validations"
    );
    assert!(has(&|s| s.sql.contains("_new")), "index replaced via _new");
    assert!(
        has(&|s| s.transaction == schemaplan::plan::TxMode::Batched),
        "a batched backfill"
    );
}

#[test]
fn sigkill_at_every_step_boundary_then_rerun_converges() {
    for point in boundaries() {
        boundary_case(&point, Fault::Kill);
    }
}

#[test]
fn backend_terminated_at_every_step_boundary_then_rerun_converges() {
    for point in boundaries() {
        boundary_case(&point, Fault::Terminate);
    }
}

/// Where in a long step the apply is stopped.
#[derive(Clone, Copy, Debug)]
enum Middle {
    /// A concurrent build whose index entry is committed, waiting for a transaction that
    /// writes to the table (held open by the test) before it builds.
    WaitingForWriters,
    /// A concurrent build that has built and validated the index, waiting for a transaction
    /// with an older snapshot (held open by the test) before it marks the index valid.
    WaitingForSnapshots,
    /// A validation scanning the table (seen running in `pg_stat_activity`).
    Scanning,
    /// A batched backfill with some batches committed and more to go.
    Backfilling,
}

/// The long steps and where to stop them: every concurrent index build (at its two waits,
/// which the test holds open, so the point is hit exactly), and every validation of the large
/// table (a validation of the 20k-row table takes ~1 ms: nothing to stop in the middle of).
fn long_steps() -> Vec<(usize, Middle)> {
    let mut out = Vec::new();
    for (i, s) in suite().plan.plan.steps.iter().enumerate() {
        if s.sql.starts_with("CREATE") && s.sql.contains("INDEX CONCURRENTLY") {
            out.push((i + 1, Middle::WaitingForWriters));
            out.push((i + 1, Middle::WaitingForSnapshots));
        } else if s.sql.contains("VALIDATE CONSTRAINT")
            && s.lock_target.as_deref() == Some("public.orders")
        {
            out.push((i + 1, Middle::Scanning));
        } else if s.transaction == schemaplan::plan::TxMode::Batched {
            out.push((i + 1, Middle::Backfilling));
        }
    }
    out
}

/// Lets apply (started with pauses `before:N,after:N`) start step `n`, waits until the server
/// shows it at `middle` and, for `Fault::Terminate`, ends its backend in the same query that
/// sees it there. Returns the transaction the test holds open (to be ended once the apply is
/// stopped), or `None` if the step finished before it was seen running (a validation can be
/// quicker than the polling under load: the caller tries again on a new copy).
fn stop_in_the_middle<'c>(
    db: &Copy,
    holder: &'c mut postgres::Client,
    apply: &mut Apply,
    n: usize,
    middle: Middle,
    fault: Fault,
) -> Option<postgres::Transaction<'c>> {
    let step = &suite().plan.plan.steps[n - 1];
    apply.wait_for_pause(&format!("before:{n}"));
    let pids = db.apply_backends();
    assert_eq!(pids.len(), 1);
    let pid = pids[0];
    let table = step.lock_target.clone().unwrap();
    let mut held = match middle {
        Middle::WaitingForSnapshots => holder
            .build_transaction()
            .isolation_level(postgres::IsolationLevel::RepeatableRead)
            .start()
            .unwrap(),
        _ => holder.transaction().unwrap(),
    };
    match middle {
        Middle::WaitingForWriters => held
            .batch_execute(&format!("LOCK TABLE {table} IN ROW EXCLUSIVE MODE"))
            .unwrap(),
        // The snapshot is taken by the first query.
        Middle::WaitingForSnapshots => held.batch_execute("SELECT 1").unwrap(),
        Middle::Scanning | Middle::Backfilling => {}
    }
    // The watching connection is ready before the step starts (a validation may take only
    // tens of milliseconds).
    let mut c = db.connect();
    if let Middle::Backfilling = middle {
        // Committed batches are visible to another session: stop once some are and more
        // remain (apply runs with small fixed batches and pauses, see `middle_case`).
        apply.resume();
        let filled =
            "SELECT count(*) FILTER (WHERE token IS NOT NULL), count(*) FROM public.customers";
        let mut seen = false;
        wait_until(&format!("step {n} to commit a batch"), || {
            let r = c.query_one(filled, &[]).unwrap();
            let (done, all): (i64, i64) = (r.get(0), r.get(1));
            seen = done > 0 && done < all;
            done > 0
        });
        if !seen {
            return None;
        }
        if let Fault::Terminate = fault {
            db.terminate_apply_backend();
        }
        return Some(held);
    }
    // The name after CONCURRENTLY / VALIDATE CONSTRAINT tells this step's statement from
    // the other steps' statements on the same backend.
    let words: Vec<&str> = step.sql.split_whitespace().collect();
    let after = match middle {
        Middle::Scanning => "CONSTRAINT",
        Middle::Backfilling => unreachable!("handled above"),
        _ => "CONCURRENTLY",
    };
    let name = words
        .windows(2)
        .find(|w| w[0] == after)
        .map(|w| w[1].trim_end_matches(';').to_string())
        .unwrap();
    let phase = match middle {
        Middle::WaitingForWriters => "waiting for writers before build",
        Middle::WaitingForSnapshots => "waiting for old snapshots",
        Middle::Scanning | Middle::Backfilling => "",
    };
    if let Middle::Scanning = middle {
        // Watched from inside the server, every millisecond, so a scan of a few tens of
        // milliseconds is not missed by a client that the machine's load keeps from running:
        // returns whether the validation was seen running (and, for Terminate, ended in the
        // same check); false once the backend has gone on to a later statement (its
        // `query_start` is after the watch began and the query is another).
        let watch =
            "CREATE FUNCTION pg_temp.watch(p int, name text, kill bool) RETURNS bool LANGUAGE plpgsql AS $w$
             DECLARE began timestamptz := clock_timestamp(); a record;
             BEGIN
               LOOP
                 PERFORM pg_stat_clear_snapshot();
                 SELECT state, query, query_start, wait_event_type INTO a FROM pg_stat_activity WHERE pid = p;
                 IF a.state = 'active' AND strpos(a.query, 'VALIDATE CONSTRAINT ' || name) > 0
                    AND a.wait_event_type IS DISTINCT FROM 'Lock' THEN
                   IF kill THEN PERFORM pg_terminate_backend(p); END IF;
                   RETURN true;
                 END IF;
                 IF a.query_start > began AND strpos(a.query, 'VALIDATE CONSTRAINT ' || name) = 0 THEN
                   RETURN false;
                 END IF;
                 IF a.state <> 'active' AND strpos(a.query, 'VALIDATE CONSTRAINT ' || name) > 0 THEN
                   RETURN false;
                 END IF;
                 IF clock_timestamp() > began + interval '2 minutes' THEN RETURN false; END IF;
                 PERFORM pg_sleep(0.001);
               END LOOP;
             END $w$";
        c.batch_execute(watch).unwrap();
        apply.resume();
        let kill = matches!(fault, Fault::Terminate);
        let seen: bool = c
            .query_one("SELECT pg_temp.watch($1, $2, $3)", &[&pid, &name, &kill])
            .unwrap()
            .get(0);
        if kill && seen {
            wait_until("the terminated backend to exit", || {
                db.apply_backends().is_empty()
            });
        }
        return seen.then_some(held);
    }
    apply.resume();
    wait_until(&format!("step {n} to be at {middle:?}"), || {
        let running = "SELECT p.pid FROM pg_stat_progress_create_index p \
             JOIN pg_stat_activity a USING (pid) \
             WHERE p.pid = $1 AND p.phase = $3 AND strpos(a.query, $2) > 0";
        let sql = match fault {
            Fault::Kill => running.to_string(),
            Fault::Terminate => {
                format!("SELECT pg_terminate_backend(pid) FROM ({running}) AS running")
            }
        };
        !c.query(&sql, &[&pid, &name, &phase]).unwrap().is_empty()
    });
    if let Fault::Terminate = fault {
        wait_until("the terminated backend to exit", || {
            db.apply_backends().is_empty()
        });
    }
    Some(held)
}

/// One middle-of-step case on a new copy; false if the step finished before it was seen
/// running (then nothing was stopped and the case is to be tried again).
fn middle_case(n: usize, middle: Middle, fault: Fault) -> bool {
    let case = format!("{fault:?} in step {n} at {middle:?}");
    let db = Copy::new(&format!("{fault:?}_mid_{n}"));
    let mut holder = db.connect();
    // A backfill runs in small fixed batches with pauses, so it is caught between batches.
    let slow: &[&str] = match middle {
        Middle::Backfilling => &[
            "--batch-rows",
            "200",
            "--batch-target-ms",
            "0",
            "--batch-pause-ms",
            "20",
        ],
        _ => &[],
    };
    let mut apply = Apply::start(&db.url, Some(&format!("before:{n},after:{n}")), slow);
    let Some(held) = stop_in_the_middle(&db, &mut holder, &mut apply, n, middle, fault) else {
        apply.kill();
        return false;
    };
    match fault {
        Fault::Kill => apply.kill(),
        Fault::Terminate => {
            let (code, out) = apply.finish();
            assert_eq!(code, 1, "{case}:\n{out}");
            assert!(
                out.contains("connection to the server was lost"),
                "{case}:\n{out}"
            );
        }
    }
    held.rollback().unwrap();
    // The cut-off run did not record the step as done: it was stopped in the middle.
    let history = db.history();
    let first = &history[0].1;
    assert!(
        !first
            .iter()
            .any(|(k, o)| *k == n as u64 && o == "succeeded"),
        "{case}: the step finished before it was cut off: {first:?}"
    );
    let out = rerun_and_check(&db, &case);
    if let Middle::Backfilling = middle {
        assert!(
            out.contains(&format!("step {n}/")) && out.contains("resuming after batch"),
            "{case}: the rerun did not continue the backfill after its last committed batch:\n{out}"
        );
    }
    true
}

#[test]
fn killed_and_terminated_in_the_middle_of_long_steps_then_rerun_converges() {
    let long = long_steps();
    assert!(long.len() >= 8, "long steps: {long:?}");
    for (n, middle) in long {
        for fault in [Fault::Kill, Fault::Terminate] {
            // The index-build points are held open by the test and always hit; a validation
            // scan is caught by polling, which a busy machine can miss now and then.
            let hit = (0..5).any(|_| middle_case(n, middle, fault));
            assert!(
                hit,
                "step {n} ({middle:?}) finished five times before it could be stopped in the middle: make the table larger"
            );
        }
    }
}

#[test]
fn two_applies_started_together_run_the_plan_once() {
    // Started at the same instant: one takes the lock and runs; the other waits, then finds
    // the plan applied.
    let db = Copy::new("together");
    let a = Apply::start(&db.url, None, &[]);
    let b = Apply::start(&db.url, None, &[]);
    let (ca, oa) = a.finish();
    let (cb, ob) = b.finish();
    assert_eq!((ca, cb), (0, 0), "{oa}\n---\n{ob}");
    let history = db.history();
    assert_eq!(history.len(), 1, "exactly one run: {history:?}");
    assert_eq!(history[0].0, "succeeded");
    assert_eq!(
        [&oa, &ob]
            .iter()
            .filter(|o| o.contains("already applied"))
            .count(),
        1,
        "{oa}\n---\n{ob}"
    );

    // One holds the lock (paused in step 1): --no-wait fails at once with exit 1 and changes
    // nothing; a waiting one waits, then finds the plan applied.
    let db = Copy::new("together_nowait");
    let mut a = Apply::start(&db.url, Some("before:1"), &[]);
    a.wait_for_pause("before:1");
    let (code, out) = Apply::start(&db.url, None, &["--no-wait"]).finish();
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("another schemaplan apply is running")
            && out.contains("not waiting (--no-wait)"),
        "{out}"
    );
    let mut waiting = Apply::start(&db.url, None, &[]);
    waiting.wait_for_line("another apply holds the lock");
    a.resume();
    let (ca, oa) = a.finish();
    waiting.resume();
    let (cw, ow) = waiting.finish();
    assert_eq!((ca, cw), (0, 0), "{oa}\n---\n{ow}");
    assert!(ow.contains("already applied"), "{ow}");
    let history = db.history();
    assert_eq!(history.len(), 1, "exactly one run: {history:?}");
}

/// `schemaplan status` on the copy, all output.
fn status(db: &Copy) -> String {
    let s = suite();
    let out = Command::new(env!("CARGO_BIN_EXE_schemaplan"))
        .args(["status", "--db", &db.url, "--plans"])
        .arg(s.plan_dir.parent().unwrap())
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn step_number(pred: impl Fn(&str) -> bool) -> usize {
    suite()
        .plan
        .plan
        .steps
        .iter()
        .position(|s| pred(&s.sql))
        .unwrap()
        + 1
}

#[test]
fn status_shows_where_a_cut_off_run_stopped_and_what_apply_will_do() {
    let total = suite().plan.plan.steps.len();
    // Killed while the `_new` index waits for old snapshots: an invalid index is left.
    let build = step_number(|sql| sql.contains("_new ON"));
    let db = Copy::new("status_build");
    let mut holder = db.connect();
    let mut apply = Apply::start(&db.url, Some(&format!("before:{build}")), &[]);
    let held = stop_in_the_middle(
        &db,
        &mut holder,
        &mut apply,
        build,
        Middle::WaitingForSnapshots,
        Fault::Kill,
    )
    .expect("an index build waiting for the held snapshot is always seen");
    apply.kill();
    // The build waits for the snapshot the test holds: the server ends the dead client's
    // backend (client_connection_check_interval) before the build can finish.
    wait_until("the killed run's backend to exit", || {
        db.apply_backends().is_empty()
    });
    held.rollback().unwrap();
    let out = status(&db);
    assert!(common::status_row(&out, "interrupted", "faults"), "{out}");
    assert!(
        out.contains(&format!("stopped in: step {build}/{total} (build the new definition of index public.orders_created_idx as orders_created_idx_new), started ")),
        "{out}"
    );
    assert!(
        out.contains(&format!("next: apply resumes at step {build}/{total}")),
        "{out}"
    );
    assert!(
        out.contains(&format!("next: step {build}: invalid index public.orders_created_idx_new (left by a cut-off build) will be dropped and built again")),
        "{out}"
    );
    rerun_and_check(&db, "status after a build was cut off");

    // Killed after a concurrent drop finished, before the journal recorded it.
    let drop =
        step_number(|sql| sql.starts_with("DROP INDEX CONCURRENTLY public.orders_created_idx;"));
    let db = Copy::new("status_drop");
    let mut apply = Apply::start(&db.url, Some(&format!("after:{drop}")), &[]);
    apply.wait_for_pause(&format!("after:{drop}"));
    apply.kill();
    wait_until("the killed run's backend to exit", || {
        db.apply_backends().is_empty()
    });
    let out = status(&db);
    assert!(
        out.contains(&format!("next: step {drop}: the cut-off run had finished its work (index public.orders_created_idx is already dropped); it is marked done without running")),
        "{out}"
    );
    rerun_and_check(&db, "status after a drop finished");

    // Backend ended inside a transaction unit: PostgreSQL rolled it back.
    let validate = step_number(|sql| sql.contains("VALIDATE CONSTRAINT orders_customer_fk"));
    let db = Copy::new("status_tx");
    let mut apply = Apply::start(&db.url, Some(&format!("after:{validate}")), &[]);
    apply.wait_for_pause(&format!("after:{validate}"));
    db.terminate_apply_backend();
    let (code, _) = apply.finish();
    assert_eq!(code, 1);
    let out = status(&db);
    assert!(
        out.contains(&format!("stopped in: step {validate}/{total} (validate constraint orders_customer_fk on public.orders)")),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "next: step {validate}: its transaction was rolled back by PostgreSQL; it runs again"
        )),
        "{out}"
    );
    rerun_and_check(&db, "status after a transaction was cut off");
}

/// A copy of the template with the plan applied (the forward run succeeded), itself used as the
/// template of the rollback cases; made once.
fn applied() -> &'static str {
    static APPLIED: OnceLock<Copy> = OnceLock::new();
    &APPLIED
        .get_or_init(|| {
            let db = Copy::new("applied");
            let (code, out) = Apply::start(&db.url, None, &[]).finish();
            assert_eq!(code, 0, "the forward apply failed:\n{out}");
            db
        })
        .name
}

/// Kill points of the inverse plan: before every step, and after every step that is not one
/// transaction (a transactional step cut off after its SQL is rolled back like one cut off
/// before it; a concurrent drop or a batch run is done but not yet journaled).
fn rollback_points() -> Vec<String> {
    let inverse = planfile::read_dir(&suite().plan_dir, Direction::Inverse).unwrap();
    let only = std::env::var("SCHEMAPLAN_FAULT_POINTS").ok();
    inverse
        .plan
        .steps
        .iter()
        .enumerate()
        .flat_map(|(i, step)| {
            let k = i + 1;
            let mut points = vec![format!("before:{k}")];
            if step.transaction != schemaplan::plan::TxMode::Transaction {
                points.push(format!("after:{k}"));
            }
            points
        })
        .filter(|p| only.as_ref().is_none_or(|o| o.split(',').any(|x| x == p)))
        .collect()
}

#[test]
fn rollback_killed_at_its_step_boundaries_then_rerun_returns_to_from() {
    let s = suite();
    let template = applied();
    let points = rollback_points();
    assert!(points.len() > 10, "the inverse has steps: {points:?}");
    eprintln!("rollback kill points: {}", points.join(" "));
    for point in points {
        let case = format!("rollback killed at {point}");
        let db = Copy::of(template, &format!("rollback_{point}"));
        let mut rollback = Apply::run("rollback", &db.url, Some(&point), &[]);
        rollback.wait_for_pause(&point);
        rollback.kill();
        let (code, out) = Apply::run("rollback", &db.url, None, &[]).finish();
        assert_eq!(code, 0, "{case}: the rerun failed:\n{out}");
        let mut c = db.connect();
        let live = schemaplan::catalog::fingerprint(&schemaplan::catalog::read(&mut c).unwrap());
        assert_eq!(
            live, s.plan.plan.from,
            "{case}: the rerun did not return to `from`:\n{out}"
        );
        assert_eq!(table_data(&mut c), s.data, "{case}: the data changed");
        let invalid: i64 = c
            .query_one(
                "SELECT count(*) FROM pg_index WHERE NOT indisvalid OR NOT indisready",
                &[],
            )
            .unwrap()
            .get(0);
        assert_eq!(invalid, 0, "{case}: invalid indexes left");
        let outcomes: Vec<String> = db.history().into_iter().map(|(o, _)| o).collect();
        assert_eq!(
            outcomes,
            vec!["succeeded", "interrupted", "succeeded"],
            "{case}: history (forward, cut-off rollback, rollback)\n{out}"
        );
    }
}
