//! Running execution units: a transaction of adjacent transactional steps, or one
//! non-transactional step in autocommit; timeouts per step; retries on lock timeouts.
//!
//! Lock mechanics:
//! - In a transaction group every step is preceded by `SET LOCAL lock_timeout` and
//!   `SET LOCAL statement_timeout` (LOCAL: they end with the transaction). Locks taken by a step
//!   are held until COMMIT, so a later step of the group never waits for a lock the group
//!   already has. The journal rows of the group are written inside the same transaction, so
//!   the journal never claims a step that was rolled back; the transaction of the run's last
//!   step also records the run as `verifying` (or `succeeded`), so a run whose last step
//!   committed is never taken for an interrupted one.
//! - When a lock cannot be had within `lock_timeout` PostgreSQL raises 55P03
//!   (lock_not_available); a deadlock is 40P01. Either way the whole transaction is rolled back
//!   (releasing every lock it held, so the traffic queued behind us proceeds) and the group runs
//!   again after an exponential backoff with jitter. Before the retry, the sessions that stood
//!   in the way (`exec::blockers`: the holders of a conflicting lock, or the deadlock's other
//!   side) are journaled and reported with it.
//! - A non-transactional step (`CONCURRENTLY`) runs outside any transaction block: its journal
//!   entry is committed before it starts and updated after it ends; the timeouts are set with
//!   session-level `SET` and `RESET` afterwards. Its statements are sent one by one, since
//!   several statements in one simple query would form an implicit transaction.

use super::backfill::BatchPolicy;
use super::book;
use super::book::BatchState;
use super::cleanup;
use super::progress::{Progress, ProgressEvent};
use super::{Interrupt, RetryPolicy};
use crate::plan::step::pg_duration;
use crate::plan::{Plan, Step, TxMode};
use crate::planfile::Unit;
use crate::render::quote;
use postgres::{Client, GenericClient};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// The SQLSTATE of a server error.
pub fn sqlstate(e: &postgres::Error) -> Option<&str> {
    e.as_db_error().map(|d| d.code().code())
}

/// Errors after which running the unit again can succeed.
pub(super) fn retryable(e: &postgres::Error) -> bool {
    matches!(sqlstate(e), Some("55P03") | Some("40P01"))
}

/// A step failed: which one, and the server's error.
pub struct StepFailure {
    pub step: usize,
    pub error: postgres::Error,
    pub attempts: u32,
}

/// Runs the units of one apply.
pub struct Runner<'a> {
    pub client: &'a mut Client,
    pub plan: &'a Plan,
    pub run_id: i64,
    pub retry: RetryPolicy,
    pub out: &'a mut dyn Progress,
    /// Steps an earlier run started but did not finish (may have left partial state).
    pub attempted: Vec<usize>,
    /// Where batched steps stand: from earlier runs at first, then after each batch.
    pub batches: BTreeMap<usize, BatchState>,
    pub batch: BatchPolicy,
    pub interrupt: Interrupt,
    /// The last step this run runs: its transaction also records the run's steps as all
    /// committed (`book::steps_committed_in_tx`).
    pub final_step: Option<usize>,
    /// Whether this run completes the plan (then it is verified against `to` afterwards).
    pub completes: bool,
}

impl Runner<'_> {
    fn total(&self) -> usize {
        self.plan.steps.len()
    }

    /// A step that runs alone (non-transactional or batched) is done: its journal entry says
    /// so (committed on its own) and the progress hears it.
    pub(super) fn step_succeeded(
        &mut self,
        n: usize,
        step: &Step,
        started: Instant,
    ) -> Result<(), postgres::Error> {
        self.close_step(n, &step.summary)?;
        self.out.event(ProgressEvent::StepDone {
            number: n,
            total: self.total(),
            summary: step.summary.clone(),
            elapsed: started.elapsed(),
        });
        Ok(())
    }

    /// Journals step `n` (run alone) as succeeded; for the run's last step, in one
    /// transaction with the run's record that every step committed.
    fn close_step(&mut self, n: usize, summary: &str) -> Result<(), postgres::Error> {
        if self.final_step != Some(n) {
            return book::journal_end(self.client, self.run_id, n, summary, "succeeded", None);
        }
        let mut tx = self.client.transaction()?;
        book::journal_end(&mut tx, self.run_id, n, summary, "succeeded", None)?;
        book::steps_committed_in_tx(&mut tx, self.run_id, self.completes)?;
        tx.commit()
    }

    fn step(&self, n: usize) -> &Step {
        &self.plan.steps[n - 1]
    }

    /// Runs `unit`, retrying it on lock timeouts and deadlocks.
    pub fn run_unit(&mut self, unit: &Unit) -> Result<(), StepFailure> {
        if unit.mode == TxMode::Batched {
            // Retries are per batch, inside.
            return self.run_batched(unit.first());
        }
        let mut attempt = 1;
        loop {
            let result = match unit.mode {
                TxMode::Transaction => self.try_transaction(unit, attempt),
                TxMode::Alone | TxMode::Batched => self.try_alone(unit.first(), attempt),
            };
            match result {
                Ok(()) => return Ok(()),
                Err(f)
                    if retryable(&f.error)
                        && attempt < self.retry.max_attempts
                        && !self.interrupt.requested() =>
                {
                    self.report_blockers(&unit.steps, unit.range(), f.step, attempt, &f.error);
                    let delay = self.retry.delay(attempt);
                    self.out.event(ProgressEvent::Retry {
                        steps: unit.range(),
                        attempt,
                        max_attempts: self.retry.max_attempts,
                        delay,
                        reason: short_error(&f.error),
                    });
                    self.sleep(delay);
                    attempt += 1;
                }
                Err(mut f) => {
                    f.attempts = attempt;
                    return Err(f);
                }
            }
        }
    }

    /// After a lock timeout or a deadlock (`error`) of attempt `attempt`: who stood in the
    /// way (`exec::blockers`), on the progress output (the `retry` event that follows carries
    /// them) and in the journal row of `failed` (the step that timed out or deadlocked). Best
    /// effort: the report never stops the retry.
    pub(super) fn report_blockers(
        &mut self,
        steps: &[usize],
        range: String,
        failed: usize,
        attempt: u32,
        error: &postgres::Error,
    ) {
        let mut sessions: Vec<super::blockers::Blocker> = Vec::new();
        if crate::catalog::is_lock_timeout(error) {
            // The sessions holding a conflicting lock on a relation the unit locks.
            for &n in steps {
                let step = &self.plan.steps[n - 1];
                // Its own table, and the others it locks (the table a foreign key references).
                let targets = step
                    .lock_target
                    .iter()
                    .map(|t| (step.lock, t.clone()))
                    .chain(step.also_locks());
                for (level, target) in targets {
                    for b in super::blockers::blockers(self.client, &target, level) {
                        if !sessions.contains(&b) {
                            sessions.push(b);
                        }
                    }
                }
            }
        } else if sqlstate(error) == Some("40P01") {
            // The other side of the deadlock, from the error's detail.
            let targets: Vec<String> = steps
                .iter()
                .filter_map(|&n| self.plan.steps[n - 1].lock_target.clone())
                .collect();
            sessions = super::blockers::deadlock_blockers(self.client, error, &targets);
        }
        if !sessions.is_empty() {
            let step = &self.plan.steps[failed - 1];
            let lines: Vec<String> = sessions.iter().map(|b| b.to_string()).collect();
            let _ = book::journal_blockers(
                self.client,
                self.run_id,
                failed,
                &step.summary,
                step.transaction == TxMode::Transaction,
                attempt,
                &lines,
            );
            self.out.event(ProgressEvent::Blocked {
                steps: range,
                sessions,
            });
        }
    }

    /// Waits `delay`, or less if the apply is interrupted meanwhile.
    pub(super) fn sleep(&self, delay: Duration) {
        let until = Instant::now() + delay;
        while !self.interrupt.requested() {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            std::thread::sleep(left.min(Duration::from_millis(50)));
        }
    }

    /// One attempt (number `attempt`) at a transaction group. Dropping the transaction on
    /// error rolls it back, journal entries included: the entries of the attempt that commits
    /// carry the attempt number, so the journal still shows how often the unit was retried.
    fn try_transaction(&mut self, unit: &Unit, attempt: u32) -> Result<(), StepFailure> {
        let started = Instant::now();
        let fail = |step| {
            move |error| StepFailure {
                step,
                error,
                attempts: 1,
            }
        };
        let mut tx = self.client.transaction().map_err(fail(unit.first()))?;
        for &n in &unit.steps {
            let step = &self.plan.steps[n - 1];
            self.out.event(ProgressEvent::StepStarted {
                number: n,
                total: self.plan.steps.len(),
                summary: step.summary.clone(),
            });
            let t0 = Instant::now();
            tx.batch_execute(&set_timeouts(step, "SET LOCAL"))
                .map_err(fail(n))?;
            test_pause("before", n);
            tx.batch_execute(&step.sql).map_err(fail(n))?;
            test_pause("after", n);
            let elapsed = t0.elapsed();
            book::journal_done_in_tx(&mut tx, self.run_id, n, &step.summary, elapsed, attempt)
                .map_err(fail(n))?;
            self.out.event(ProgressEvent::StepDone {
                number: n,
                total: self.plan.steps.len(),
                summary: step.summary.clone(),
                elapsed,
            });
        }
        if let Some(last) = self.final_step.filter(|k| unit.steps.contains(k)) {
            book::steps_committed_in_tx(&mut tx, self.run_id, self.completes)
                .map_err(fail(last))?;
        }
        tx.commit().map_err(fail(unit.last()))?;
        if unit.steps.len() > 1 {
            self.out.event(ProgressEvent::Committed {
                steps: unit.range(),
                elapsed: started.elapsed(),
            });
        }
        Ok(())
    }

    /// One attempt at a non-transactional step.
    fn try_alone(&mut self, n: usize, attempt: u32) -> Result<(), StepFailure> {
        let step = self.step(n).clone();
        let fail = |error| StepFailure {
            step: n,
            error,
            attempts: 1,
        };
        book::journal_start(self.client, self.run_id, n, &step.summary, false).map_err(fail)?;
        let resumed = attempt == 1 && self.attempted.contains(&n);
        // What an earlier attempt (a retry) or an earlier run (a resume) left. An invalid index
        // of the name the step builds is dropped even without either: the build would fail
        // with "already exists" on it.
        let found = cleanup::inspect(self.client, &step).map_err(fail)?;
        if resumed && found.done {
            self.out.event(ProgressEvent::Info(format!(
                "step {n}/{}: the interrupted run had finished its work ({}); marking the step done",
                self.total(),
                found.notes.join("; ")
            )));
            return self.close_step(n, &step.summary).map_err(fail);
        }
        if resumed {
            for note in &found.notes {
                self.out.event(ProgressEvent::Info(format!(
                    "step {n}/{}: {note}",
                    self.total()
                )));
            }
        }
        cleanup::clean(self.client, &step, &found, self.out).map_err(fail)?;
        self.out.event(ProgressEvent::StepStarted {
            number: n,
            total: self.total(),
            summary: step.summary.clone(),
        });
        let t0 = Instant::now();
        test_pause("before", n);
        let result = self.run_statements(&step);
        // Session-level settings outlive the statement: always put them back.
        let reset = self
            .client
            .batch_execute("RESET lock_timeout; RESET statement_timeout");
        result.map_err(fail)?;
        reset.map_err(fail)?;
        test_pause("after", n);
        self.step_succeeded(n, &step, t0).map_err(fail)
    }

    fn run_statements(&mut self, step: &Step) -> Result<(), postgres::Error> {
        self.client.batch_execute(&set_timeouts(step, "SET"))?;
        for statement in statements(&step.sql) {
            self.client.batch_execute(statement)?;
        }
        Ok(())
    }
}

/// A server error carrying `message` (raised with `RAISE EXCEPTION`, SQLSTATE P0001), for
/// callers whose error type is `postgres::Error`; it also aborts the current transaction.
pub(super) fn raise(client: &mut impl GenericClient, message: &str) -> postgres::Error {
    let sql = format!(
        "DO $schemaplan$BEGIN RAISE EXCEPTION USING MESSAGE = {}; END$schemaplan$",
        quote::literal(&message.replace('$', ""))
    );
    match client.batch_execute(&sql) {
        Err(e) => e,
        Ok(()) => unreachable!("RAISE EXCEPTION returned normally"),
    }
}

/// Test hook for the fault-injection suite (`tests/fault_injection.rs`), never needed in use:
/// with `SCHEMAPLAN_TEST_PAUSE=before:3,after:5` in the environment, apply stops right before
/// step 3's SQL is sent (inside its transaction for a transactional step; after its `running`
/// journal entry is committed for a non-transactional one; before the first batch of a batched
/// one) and right after step 5's SQL returned (before its journal entry is written or
/// committed; after the last batch of a batched step), prints the line
/// `schemaplan-test-pause before:3` to stderr and waits for a line (or end of file) on standard
/// input. The test kills the process or ends its backend there.
pub(super) fn test_pause(point: &str, step: usize) {
    let Ok(spec) = std::env::var("SCHEMAPLAN_TEST_PAUSE") else {
        return;
    };
    let here = format!("{point}:{step}");
    if spec.split(',').any(|p| p.trim() == here) {
        eprintln!("schemaplan-test-pause {here}");
        let mut line = String::new();
        let _ = std::io::stdin().read_line(&mut line);
    }
}

/// Whether the error means the connection to the server is gone (the process on the other
/// side was ended by `pg_terminate_backend`, a server shutdown or a network failure): the run
/// was interrupted rather than failed by its SQL.
pub fn connection_lost(e: &postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    match sqlstate(e) {
        // admin_shutdown (pg_terminate_backend), crash_shutdown, cannot_connect_now, and the
        // connection_exception class.
        Some(code) => matches!(code, "57P01" | "57P02" | "57P03") || code.starts_with("08"),
        // No server error: an I/O error on the socket.
        None => std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>()),
    }
}

/// The statements of a step, each to be sent alone. If pg_query cannot split the text (a
/// syntax error in a hand edit), it is sent whole and the server reports the error.
fn statements(sql: &str) -> Vec<&str> {
    match pg_query::split_with_parser(sql) {
        Ok(parts) if !parts.is_empty() => parts,
        _ => vec![sql],
    }
}

/// `SET [LOCAL] lock_timeout = '1s'; SET [LOCAL] statement_timeout = '1min'`; `TO DEFAULT` (the
/// server's configured value) when the step has none.
pub fn set_timeouts(step: &Step, set: &str) -> String {
    let value =
        |d: Option<Duration>| d.map_or("DEFAULT".to_string(), |d| quote::literal(&pg_duration(d)));
    format!(
        "{set} lock_timeout TO {}; {set} statement_timeout TO {}",
        value(step.lock_timeout.map(|t| t.0)),
        value(step.statement_timeout.map(|t| t.0))
    )
}

/// The server's message with its SQLSTATE, one line.
pub fn short_error(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(d) => format!("{} (SQLSTATE {})", d.message(), d.code().code()),
        None => e.to_string(),
    }
}

/// Message, detail and hint, for the journal and the returned error.
pub fn full_error(e: &postgres::Error) -> String {
    let Some(d) = e.as_db_error() else {
        return e.to_string();
    };
    let mut s = format!(
        "{}: {} (SQLSTATE {})",
        d.severity(),
        d.message(),
        d.code().code()
    );
    if let Some(detail) = d.detail() {
        s.push_str(&format!("\nDETAIL: {detail}"));
    }
    if let Some(hint) = d.hint() {
        s.push_str(&format!("\nHINT: {hint}"));
    }
    if let Some(w) = d.where_() {
        s.push_str(&format!("\nCONTEXT: {w}"));
    }
    s
}

impl RetryPolicy {
    /// Backoff before attempt `attempt + 1`: `base * 2^(attempt-1)`, capped at `max_delay`, of
    /// which a random half is jitter (so concurrent appliers do not retry in lock step).
    pub fn delay(&self, attempt: u32) -> Duration {
        use rand::Rng;
        let exp = self
            .base
            .saturating_mul(1u32 << (attempt.saturating_sub(1)).min(20));
        let capped = exp.min(self.max_delay);
        let half = capped / 2;
        half + half.mul_f64(rand::thread_rng().gen::<f64>())
    }
}
