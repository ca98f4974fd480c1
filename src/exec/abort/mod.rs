//! `apply --abort` (and `rollback --abort`): the way out of a plan that failed or was cut off
//! half-way through an online strategy.
//!
//! The online strategies (src/plan/kinds/: retype and convert, rename, NOT NULL, constraints,
//! indexes) install temporary machinery before their catalog-only switch: shadow columns kept
//! equal by a trigger and its function, `NOT VALID` constraints (NOT NULL checks, changed CHECKs
//! as `<name>_schemaplan_new`, the `<table>_<column>_schemaplan_lossless` guard), indexes built
//! concurrently beside the ones they replace (`<name>_new`, `<name>_schemaplan_new`). A failure between installing it and the switch leaves
//! a schema that is neither the plan's `from` nor its `to`, with triggers that already act on
//! the application's writes. Abort takes that machinery away again.
//!
//! What to undo comes from the journal (`book::prior`): the steps of the plan done or started
//! (cut off) in this direction. From the highest of them down, within its phase, each step's SQL
//! is read with pg_query and every statement is given an undo:
//!
//! | statement of the step | its undo |
//! |---|---|
//! | `ALTER TABLE t ADD COLUMN c` | `ALTER TABLE t DROP COLUMN IF EXISTS c` |
//! | `ALTER TABLE t ADD CONSTRAINT c ...` | `ALTER TABLE t DROP CONSTRAINT IF EXISTS c` |
//! | `CREATE TRIGGER g ON t` | `DROP TRIGGER IF EXISTS g ON t` |
//! | `CREATE FUNCTION f()` (no parameters: trigger functions) | `DROP FUNCTION IF EXISTS f()` |
//! | `CREATE INDEX [CONCURRENTLY] i` | `DROP INDEX [CONCURRENTLY] IF EXISTS i` |
//! | `ALTER TABLE t ALTER c SET NOT NULL` (an existing column) | `... DROP NOT NULL` |
//! | `VALIDATE CONSTRAINT`, a `SET`, and on a column an undone step adds: `UPDATE`, `SET/DROP DEFAULT`, `SET NOT NULL` | nothing (the column goes) |
//! | `DROP CONSTRAINT c` of a constraint an undone step adds | nothing |
//!
//! Any other statement (a swap that drops the old column, a rename, a table created, rows of
//! existing columns changed, ...) is a *consistent point*: the plan's own forward work that abort
//! does not take back (that is `rollback`'s job, once the plan is applied). Abort undoes the
//! steps after the highest consistent point of the phase; when there is none, the database is
//! back at the plan's `from` (or at the end of the phase before), which is then checked. Every
//! undo statement is idempotent (`IF EXISTS`), so an abort that is itself cut off is simply run
//! again. The undone steps are journaled `undone` (the next apply runs them again, from the
//! beginning: a batched step's cursor is forgotten with its column), the run is recorded
//! `aborted`.
//!
//! Lock mechanics: `DROP TRIGGER` takes SHARE ROW EXCLUSIVE on the table, `DROP COLUMN` and
//! `DROP CONSTRAINT` of a CHECK ACCESS EXCLUSIVE (a foreign key: SHARE ROW EXCLUSIVE on both
//! tables), `DROP NOT NULL` ACCESS EXCLUSIVE; all are catalog changes (a dropped column is only
//! marked dropped, nothing is rewritten), so the lock is held for moments. The undo of one step
//! runs in one transaction under the `lock_timeout` of the step it undoes (the plan's bound on
//! how long application traffic may queue behind it) and, on a lock timeout or deadlock, is
//! rolled back and retried with the apply's backoff (`RetryPolicy`), like a unit of the plan.
//! `DROP INDEX CONCURRENTLY` (SHARE UPDATE EXCLUSIVE, waits for older transactions instead of
//! blocking writes) cannot run in a transaction: it runs alone, before the step's other undos.
//!
//! Where each part lives: `undo` reads each step's SQL and decides what to take back (the
//! table above); this file runs it.

mod undo;

pub use undo::{undo_plan, UndoPlan, UndoSql};

use super::book::{self, NewRun};
use super::progress::{Progress, ProgressEvent};
use super::run::{self, full_error, retryable};
use super::{ApplyOptions, ApplyOutcome, ExecError, OutcomeKind};
use crate::plan::step::pg_duration;
use crate::plan::{Phase, Plan, Step};
use crate::planfile::{self, PlanFile};
use crate::render::quote;
use crate::{catalog, db};
use postgres::Client;
use std::collections::BTreeSet;
use std::time::Duration;

/// The hint a failed or interrupted step's message carries when abort has something to take
/// back: which steps, and the command.
pub fn hint(opts: &ApplyOptions, plan: &Plan, undo: &UndoPlan) -> Option<String> {
    let steps: Vec<String> = undo.steps.keys().map(|k| k.to_string()).collect();
    if steps.is_empty() {
        return None;
    }
    let command = match opts.direction {
        crate::plan::Direction::Forward => "apply",
        crate::plan::Direction::Inverse => "rollback",
    };
    let back_to = match &undo.stops_at {
        None if first_phase(plan, undo.phase) => "the database returns to the plan's `from`".into(),
        None => "the database returns to where the phase began".to_string(),
        Some((k, _)) => format!("steps up to {k} stay applied"),
    };
    Some(format!(
        "or, to take back what steps {} installed (temporary columns, triggers, constraints, \
         indexes; {back_to}), run: schemaplan {command} --abort --db {} {}",
        steps.join(", "),
        super::preflight::shell_word(&db::redact(&opts.db_url)),
        super::preflight::shell_word(&opts.plan_dir.display().to_string()),
    ))
}

/// `apply --abort`: takes back what the last failed or interrupted run of the plan left (see
/// the module doc).
pub fn abort(opts: &ApplyOptions, out: &mut dyn Progress) -> Result<ApplyOutcome, ExecError> {
    let file = planfile::read_dir(&opts.plan_dir, opts.direction)?;
    super::check_scope(opts, &file)?;
    let mut client = db::connect(&opts.db_url)?;
    let version = db::server_version_num(&mut client)?;
    catalog::check_server_version(version)?;
    super::apply::prepare_session(&mut client, opts, &file.plan, version)?;
    out.event(ProgressEvent::Info(format!(
        "aborting {} ({}) on {}",
        file.plan.id,
        planfile::file_name(opts.direction),
        db::redact(&opts.db_url)
    )));
    let wait = (!opts.no_wait).then_some(opts.lock_wait);
    let mut session = super::lock::acquire(client, wait, &mut |holder, wait| {
        out.event(ProgressEvent::WaitingForLock {
            holder: holder.to_string(),
            wait,
        })
    })?;
    super::apply::settle_stale_runs(&mut session, &file.plan.scope, out)?;
    let prior = book::prior(&mut session, &file.plan.id, opts.direction)?;
    let done: BTreeSet<usize> = prior.done.keys().copied().collect();
    let attempted: BTreeSet<usize> = prior
        .attempted
        .iter()
        .copied()
        .filter(|k| !done.contains(k))
        .collect();
    let undo = undo_plan(&file.plan, &done, &attempted);
    let mut stop = |message: String| {
        out.event(ProgressEvent::Finished {
            message: message.clone(),
        });
        Ok(ApplyOutcome {
            plan_id: file.plan.id.clone(),
            kind: OutcomeKind::NothingToDo,
            run_id: None,
            steps_run: Vec::new(),
            steps_skipped: Vec::new(),
            retries: 0,
            warnings: Vec::new(),
            message,
        })
    };
    if undo.steps.is_empty() {
        return stop(match &undo.stops_at {
            _ if done.is_empty() && attempted.is_empty() => format!(
                "nothing to abort: no step of plan {} is recorded as done or started",
                file.plan.id
            ),
            Some((k, why)) if attempted.contains(k) => format!(
                "nothing to abort: step {k} ({}) was cut off and cannot be taken back ({why}); \
                 apply again to finish it",
                file.plan.steps[k - 1].summary
            ),
            Some((_, why)) if why.ends_with("phase is complete") => format!(
                "nothing to abort: {why} (abort only takes back a phase that stopped half-way; \
                 `rollback` undoes an applied plan)"
            ),
            Some((k, why)) => format!(
                "nothing to abort: the last step done, {k} ({}), is the plan's own work, not \
                 temporary machinery ({why}); apply again to continue, or roll back once applied",
                file.plan.steps[k - 1].summary
            ),
            None => "nothing to abort".to_string(),
        });
    }
    book::ensure(&mut session)?;
    let live = catalog::fingerprint(&catalog::read_scoped(&mut session, &file.plan.scope)?);
    let run_id = book::start_run(
        &mut session,
        &NewRun {
            plan_id: &file.plan.id,
            direction: opts.direction,
            phases: "abort".to_string(),
            checksum: &file.checksum,
            from: &file.plan.from,
            to: &file.plan.to,
            live: &live,
            forced: false,
            client: super::client_identity(),
        },
    )?;
    match run_undo(&mut session, opts, &file, run_id, &undo, out) {
        Ok(message) => {
            out.event(ProgressEvent::Finished {
                message: message.clone(),
            });
            Ok(ApplyOutcome {
                plan_id: file.plan.id.clone(),
                kind: OutcomeKind::Aborted,
                run_id: Some(run_id),
                steps_run: undo.steps.keys().rev().copied().collect(),
                steps_skipped: Vec::new(),
                retries: 0,
                warnings: Vec::new(),
                message,
            })
        }
        Err((k, e)) => {
            let error = format!(
                "taking back step {k} ({}): {e}",
                file.plan.steps[k - 1].summary
            );
            let _ = book::finish_run(&mut session, run_id, "failed", Some(&error));
            Err(ExecError::Abort {
                plan_id: file.plan.id.clone(),
                run_id,
                error,
            })
        }
    }
}

/// Runs the undo of each step, highest first; journals each `undone`; records the run.
fn run_undo(
    client: &mut Client,
    opts: &ApplyOptions,
    file: &PlanFile,
    run_id: i64,
    undo: &UndoPlan,
    out: &mut dyn Progress,
) -> Result<String, (usize, String)> {
    let plan = &file.plan;
    let total = plan.steps.len();
    for (&k, sql) in undo.steps.iter().rev() {
        let step = &plan.steps[k - 1];
        let summary = format!("take back: {}", step.summary);
        out.event(ProgressEvent::StepStarted {
            number: k,
            total,
            summary: summary.clone(),
        });
        let t0 = std::time::Instant::now();
        undo_step(client, opts, step, k, sql, out).map_err(|e| (k, e))?;
        book::journal_end(client, run_id, k, &step.summary, "undone", None)
            .map_err(|e| (k, full_error(&e)))?;
        out.event(ProgressEvent::StepDone {
            number: k,
            total,
            summary,
            elapsed: t0.elapsed(),
        });
    }
    let undone: Vec<String> = undo.steps.keys().map(|k| k.to_string()).collect();
    let first = *undo.steps.keys().next().expect("steps to undo");
    let earlier_in_phase = plan.steps[..first - 1]
        .iter()
        .any(|s| Some(s.phase) == undo.phase);
    let mut message = format!(
        "run {run_id}: plan {} aborted: took back steps {}",
        plan.id,
        undone.join(", ")
    );
    let mut outcome_error = None;
    match &undo.stops_at {
        Some((k, why)) => message.push_str(&format!(
            "; steps up to {k} stay applied (step {k}, {}, is not temporary machinery: {why}); \
             apply again to continue from step {first}",
            plan.steps[k - 1].summary
        )),
        None if !earlier_in_phase && first_phase(plan, undo.phase) => {
            let live = catalog::read_scoped(client, &plan.scope)
                .map(|s| catalog::fingerprint(&s))
                .map_err(|e| (first, e.to_string()))?;
            if live == plan.from {
                message.push_str(&format!(
                    "; the database is at the plan's `from` again ({})",
                    plan.from
                ));
            } else {
                let m = format!(
                    "the live schema ({live}) is not the plan's `from` ({}) after the abort: \
                     `schemaplan drift` shows the difference",
                    plan.from
                );
                out.event(ProgressEvent::Warning(m.clone()));
                message.push_str(&format!("; {m}"));
                outcome_error = Some(m);
            }
        }
        None => message.push_str("; the database is as the earlier phase left it"),
    }
    book::finish_run(client, run_id, "aborted", outcome_error.as_deref())
        .map_err(|e| (first, e.to_string()))?;
    Ok(message)
}

/// Whether `phase` is the plan's first phase (so undoing all of it returns to `from`).
fn first_phase(plan: &Plan, phase: Option<Phase>) -> bool {
    plan.steps.first().map(|s| s.phase) == phase
}

/// The undo of one step: its concurrent index drops alone, the rest in one transaction under
/// the step's lock_timeout, retried on lock timeouts and deadlocks.
fn undo_step(
    client: &mut Client,
    opts: &ApplyOptions,
    step: &Step,
    k: usize,
    sql: &[UndoSql],
    out: &mut dyn Progress,
) -> Result<(), String> {
    let lock_timeout = step
        .lock_timeout
        .map_or("DEFAULT".to_string(), |t| quote::literal(&pg_duration(t.0)));
    for u in sql.iter().filter(|u| u.alone) {
        // No lock_timeout: SHARE UPDATE EXCLUSIVE blocks no reads or writes; the statement
        // waits for older transactions like the build did.
        with_retries(opts, k, out, || {
            client
                .batch_execute("SET lock_timeout TO DEFAULT; SET statement_timeout TO DEFAULT")?;
            let r = client.batch_execute(&u.sql);
            client.batch_execute("RESET lock_timeout; RESET statement_timeout")?;
            r
        })?;
    }
    let body: Vec<&str> = sql
        .iter()
        .filter(|u| !u.alone)
        .map(|u| u.sql.as_str())
        .collect();
    if body.is_empty() {
        return Ok(());
    }
    let text = format!(
        "SET LOCAL lock_timeout TO {lock_timeout}; SET LOCAL statement_timeout TO '1min'; {};",
        body.join("; ")
    );
    with_retries(opts, k, out, || {
        let mut tx = client.transaction()?;
        tx.batch_execute(&text)?;
        tx.commit()
    })
}

fn with_retries(
    opts: &ApplyOptions,
    k: usize,
    out: &mut dyn Progress,
    mut attempt_once: impl FnMut() -> Result<(), postgres::Error>,
) -> Result<(), String> {
    let mut attempt = 1;
    loop {
        match attempt_once() {
            Ok(()) => return Ok(()),
            Err(e) if retryable(&e) && attempt < opts.retry.max_attempts => {
                let delay: Duration = opts.retry.delay(attempt);
                out.event(ProgressEvent::Retry {
                    steps: k.to_string(),
                    attempt,
                    max_attempts: opts.retry.max_attempts,
                    delay,
                    reason: run::short_error(&e),
                });
                std::thread::sleep(delay);
                attempt += 1;
            }
            Err(e) => return Err(full_error(&e)),
        }
    }
}
