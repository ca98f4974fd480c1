//! Batched steps (`transaction: batched`) against a real PostgreSQL server, with hand-written
//! plans of the shape the planner emits for a new NOT NULL column on a filled table: several
//! batches run, each row gets its value, an interrupted run resumes after the journal's cursor
//! without redoing a committed batch, and the NOT NULL ends up set. Also the block walk of a
//! table without a usable key.
#![allow(clippy::result_large_err)]

mod common;
#[path = "common/exec.rs"]
mod support;

use schemaplan::exec::{self, BatchPolicy, ExecError, OutcomeKind, Progress, ProgressEvent};
use schemaplan::plan::{LockLevel, Step, TxMode};
use std::collections::BTreeMap;
use std::time::Duration;
use support::*;

const ROWS: i64 = 100_000;

/// The planner's strategy for `ADD COLUMN b bigint NOT NULL` backfilled with `a * 2`.
fn add_not_null_column_steps(table: &str) -> Vec<Step> {
    let mut add = tx_step(
        "add column b",
        &format!(
            "ALTER TABLE {table} ADD COLUMN b bigint;\nALTER TABLE {table} ALTER COLUMN b SET DEFAULT 0;"
        ),
    );
    add.lock_target = Some(table.to_string());
    let backfill = Step {
        transaction: TxMode::Batched,
        lock: LockLevel::RowExclusive,
        ..tx_step(
            "backfill b",
            &format!("UPDATE {table} SET b = a * 2 WHERE b IS NULL;"),
        )
    };
    vec![
        add,
        backfill,
        tx_step(
            "check b not null",
            &format!(
                "ALTER TABLE {table} ADD CONSTRAINT b_not_null CHECK (b IS NOT NULL) NOT VALID;"
            ),
        ),
        Step {
            lock: LockLevel::ShareUpdateExclusive,
            ..tx_step(
                "validate",
                &format!("ALTER TABLE {table} VALIDATE CONSTRAINT b_not_null;"),
            )
        },
        tx_step(
            "set not null",
            &format!("ALTER TABLE {table} ALTER COLUMN b SET NOT NULL;"),
        ),
        tx_step(
            "drop check",
            &format!("ALTER TABLE {table} DROP CONSTRAINT b_not_null;"),
        ),
    ]
}

/// Collects events and triggers the apply's interrupt after `after` batches.
struct StopAfter {
    events: Events,
    after: usize,
    interrupt: exec::Interrupt,
}

impl Progress for StopAfter {
    fn event(&mut self, e: ProgressEvent) {
        if matches!(e, ProgressEvent::Batch { .. }) {
            self.after = self.after.saturating_sub(1);
            if self.after == 0 {
                self.interrupt.trigger();
            }
        }
        self.events.event(e);
    }
}

fn batches(events: &[ProgressEvent]) -> Vec<(u64, u64)> {
    events
        .iter()
        .filter_map(|e| match e {
            ProgressEvent::Batch { batch, rows, .. } => Some((*batch, *rows)),
            _ => None,
        })
        .collect()
}

/// `id -> xmin` of the rows already backfilled: a row a later batch rewrote gets a new xmin.
fn backfilled_versions(f: &Fixture) -> BTreeMap<i64, String> {
    f.connect()
        .query(
            "SELECT id, xmin::text FROM public.t WHERE b IS NOT NULL",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

fn fixed_batches(rows: u64) -> BatchPolicy {
    BatchPolicy {
        initial_rows: rows,
        min_rows: rows,
        max_rows: rows,
        target: Duration::from_millis(50),
        pause: Duration::from_millis(1),
    }
}

#[test]
fn backfill_runs_in_batches_and_resumes_after_the_last_committed_batch() {
    let f = Fixture::new(
        "backfill_resume",
        &[&format!(
            "CREATE TABLE public.t (id bigint PRIMARY KEY, a int NOT NULL);
             INSERT INTO public.t SELECT g, g FROM generate_series(1, {ROWS}) g;
             ANALYZE public.t;"
        )],
        add_not_null_column_steps("public.t"),
    );
    let mut opts = f.opts();
    opts.batch = fixed_batches(5_000);
    let mut first = StopAfter {
        events: Events::default(),
        after: 3,
        interrupt: opts.interrupt.clone(),
    };
    let err = exec::apply(&opts, &mut first).unwrap_err();
    assert!(
        matches!(err, ExecError::Interrupted { number: 2, .. }),
        "{err}"
    );
    assert_eq!(
        batches(&first.events.0),
        [(1, 5_000), (2, 10_000), (3, 15_000)]
    );
    let done = backfilled_versions(&f);
    assert_eq!(done.len(), 15_000, "three committed batches");
    assert_eq!(done.keys().max(), Some(&15_000), "in key order");
    let book = f.book();
    let step = &book["runs"][0]["steps"][1];
    assert_eq!(step["outcome"], "interrupted", "{step}");
    assert_eq!(step["batch"]["cursor"]["key"][0], "15000", "{step}");
    assert_eq!(step["batch"]["rows"], 15_000);

    let mut opts = f.opts();
    opts.batch = fixed_batches(5_000);
    let mut second = Events::default();
    let outcome = exec::apply(&opts, &mut second).unwrap();
    assert_eq!(outcome.kind, OutcomeKind::Applied);
    assert_eq!(outcome.steps_skipped, vec![1]);
    let resumed = batches(&second.0);
    assert_eq!(
        resumed.first(),
        Some(&(4, 20_000)),
        "the resumed run starts with batch 4, after key 15000"
    );
    assert_eq!(
        resumed.last().map(|b| b.1),
        Some(ROWS as u64),
        "every row once"
    );
    // 17 more key batches, one that finds no key after the last, one mop-up that finds nothing.
    assert_eq!(resumed.len(), 19, "{resumed:?}");
    let after = backfilled_versions(&f);
    for (id, xmin) in &done {
        assert_eq!(&after[id], xmin, "row {id} was backfilled twice");
    }
    let mut c = f.connect();
    let wrong: i64 = c
        .query_one(
            "SELECT count(*) FROM public.t WHERE b IS DISTINCT FROM a * 2",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(wrong, 0);
    let not_null: bool = c
        .query_one(
            "SELECT attnotnull FROM pg_attribute WHERE attrelid = 'public.t'::regclass AND attname = 'b'",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(not_null);
    assert_eq!(f.history_outcomes(), ["interrupted", "succeeded"]);
}

#[test]
fn backfill_without_a_key_walks_blocks_and_mops_up() {
    let f = Fixture::new(
        "backfill_blocks",
        &[&format!(
            "CREATE TABLE public.t (a int NOT NULL);
             INSERT INTO public.t SELECT g FROM generate_series(1, {ROWS}) g;
             ANALYZE public.t;"
        )],
        add_not_null_column_steps("public.t"),
    );
    let mut opts = f.opts();
    opts.batch = fixed_batches(10_000);
    let mut events = Events::default();
    let outcome = exec::apply(&opts, &mut events).unwrap();
    assert_eq!(outcome.kind, OutcomeKind::Applied);
    let seen = batches(&events.0);
    assert!(seen.len() >= 10, "block ranges of ~10k rows: {seen:?}");
    assert_eq!(seen.last().map(|b| b.1), Some(ROWS as u64));
    let wrong: i64 = f
        .connect()
        .query_one(
            "SELECT count(*) FROM public.t WHERE b IS DISTINCT FROM a * 2",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(wrong, 0);
}

/// The block walk of a table without a key, interrupted after three batches: the journal's
/// cursor is a heap block, and the next run continues there without rewriting a row the
/// interrupted run finished, and without leaving the rest to the mop-up.
#[test]
fn backfill_without_a_key_resumes_after_the_last_committed_block_range() {
    let f = Fixture::new(
        "backfill_blocks_resume",
        &[&format!(
            "CREATE TABLE public.t (id bigint NOT NULL, a int NOT NULL);
             INSERT INTO public.t SELECT g, g FROM generate_series(1, {ROWS}) g;
             ANALYZE public.t;"
        )],
        add_not_null_column_steps("public.t"),
    );
    let mut opts = f.opts();
    opts.batch = fixed_batches(5_000);
    let mut first = StopAfter {
        events: Events::default(),
        after: 3,
        interrupt: opts.interrupt.clone(),
    };
    let err = exec::apply(&opts, &mut first).unwrap_err();
    assert!(
        matches!(err, ExecError::Interrupted { number: 2, .. }),
        "{err}"
    );
    let done = backfilled_versions(&f);
    let first_batches = batches(&first.events.0);
    assert_eq!(first_batches.len(), 3, "{first_batches:?}");
    assert_eq!(done.len() as u64, first_batches[2].1);
    assert!(
        (10_000..20_000).contains(&done.len()),
        "three block ranges of ~5,000 rows: {}",
        done.len()
    );
    let book = f.book();
    let step = &book["runs"][0]["steps"][1];
    let block = step["batch"]["cursor"]["block"]
        .as_u64()
        .unwrap_or_else(|| panic!("{step}"));
    // Every row in the blocks walked is done.
    let mut c = f.connect();
    let pending_before_cursor: i64 = c
        .query_one(
            &format!("SELECT count(*) FROM public.t WHERE b IS NULL AND ctid < '({block},0)'::tid"),
            &[],
        )
        .unwrap()
        .get(0);
    assert!(block > 0);
    assert_eq!(pending_before_cursor, 0);

    let mut opts = f.opts();
    opts.batch = fixed_batches(5_000);
    let mut second = Events::default();
    let outcome = exec::apply(&opts, &mut second).unwrap();
    assert_eq!(outcome.kind, OutcomeKind::Applied);
    let resumed = batches(&second.0);
    assert_eq!(resumed.first().map(|b| b.0), Some(4), "{resumed:?}");
    assert_eq!(
        resumed.last().map(|b| b.1),
        Some(ROWS as u64),
        "every row once"
    );
    let after = backfilled_versions(&f);
    for (id, xmin) in &done {
        assert_eq!(&after[id], xmin, "row {id} was backfilled twice");
    }
    let wrong: i64 = c
        .query_one(
            "SELECT count(*) FROM public.t WHERE b IS DISTINCT FROM a * 2",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(wrong, 0);
    assert_eq!(f.history_outcomes(), ["interrupted", "succeeded"]);
}

#[test]
fn backfill_waits_for_row_locks_and_retries_the_batch() {
    let f = Fixture::new(
        "backfill_retry",
        &["CREATE TABLE public.t (id int PRIMARY KEY, a int NOT NULL);
           INSERT INTO public.t SELECT g, g FROM generate_series(1, 1000) g;"],
        add_not_null_column_steps("public.t"),
    );
    let mut opts = f.opts();
    opts.batch = fixed_batches(100);
    opts.retry.base = Duration::from_millis(50);
    // When step 2 starts (step 1's ACCESS EXCLUSIVE is gone), another session locks row 550;
    // the batch of rows 501..600 waits for it past step 2's lock_timeout (1s) and is retried;
    // the lock goes away when the retry is announced.
    let mut holder = f.connect();
    let (go_tx, go) = std::sync::mpsc::channel::<()>();
    let (locked_tx, locked) = std::sync::mpsc::channel::<()>();
    let (release_tx, release) = std::sync::mpsc::channel::<()>();
    let blocker = std::thread::spawn(move || {
        go.recv().unwrap();
        let mut t = holder.transaction().unwrap();
        t.batch_execute("SELECT 1 FROM public.t WHERE id = 550 FOR UPDATE")
            .unwrap();
        locked_tx.send(()).unwrap();
        release.recv().unwrap();
        t.rollback().unwrap();
    });
    struct LockDuringStep2 {
        events: Events,
        go: std::sync::mpsc::Sender<()>,
        locked: std::sync::mpsc::Receiver<()>,
        release: Option<std::sync::mpsc::Sender<()>>,
    }
    impl Progress for LockDuringStep2 {
        fn event(&mut self, e: ProgressEvent) {
            match &e {
                ProgressEvent::StepStarted { number: 2, .. } => {
                    self.go.send(()).unwrap();
                    self.locked.recv().unwrap();
                }
                ProgressEvent::Retry { .. } => {
                    if let Some(r) = self.release.take() {
                        r.send(()).unwrap();
                    }
                }
                _ => {}
            }
            self.events.event(e);
        }
    }
    let mut out = LockDuringStep2 {
        events: Events::default(),
        go: go_tx,
        locked,
        release: Some(release_tx),
    };
    let outcome = exec::apply(&opts, &mut out).unwrap();
    blocker.join().unwrap();
    assert_eq!(outcome.kind, OutcomeKind::Applied);
    assert_eq!(outcome.retries, 1);
    let retry = out
        .events
        .0
        .iter()
        .find_map(|e| match e {
            ProgressEvent::Retry { steps, reason, .. } => Some(format!("{steps}: {reason}")),
            _ => None,
        })
        .unwrap();
    assert!(retry.starts_with("2 (batch 6)"), "{retry}");
    assert!(retry.contains("55P03"), "{retry}");
}

#[test]
fn backfill_whose_set_leaves_rows_pending_stops_with_an_error() {
    let good = add_not_null_column_steps("public.t");
    let target: Vec<&str> = good.iter().map(|s| s.sql.as_str()).collect();
    let mut steps = good.clone();
    steps[1].sql = "UPDATE public.t SET b = nullif(a % 2, 1) * 2 WHERE b IS NULL;".into();
    let f = Fixture::with_target(
        "backfill_endless",
        &["CREATE TABLE public.t (id int PRIMARY KEY, a int NOT NULL);
           INSERT INTO public.t SELECT g, g FROM generate_series(1, 1000) g;"],
        steps,
        &target,
    );
    let mut opts = f.opts();
    opts.batch = fixed_batches(100);
    let err = exec::apply(&opts, &mut Events::default()).unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, ExecError::Step { number: 2, .. }) && text.contains("rows are still pending"),
        "{text}"
    );
}
