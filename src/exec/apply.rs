//! The apply sequence: read the plan file, connect, take the apply lock, set up the bookkeeping,
//! decide what to run, run it unit by unit, verify the result, record the outcome.

use super::book::{self, NewRun};
use super::lock::{self, LockedSession};
use super::preflight::{self, Decision, RunPlan};
use super::progress::{Progress, ProgressEvent};
use super::run::{self, Runner, StepFailure};
use super::{ApplyOptions, ApplyOutcome, ExecError, OutcomeKind};
use crate::plan::{Direction, Plan, TxMode};
use crate::planfile::{self, PlanFile};
use crate::render::quote;
use crate::{catalog, db};
use postgres::Client;
use std::collections::BTreeSet;

/// Applies the plan (or its inverse) in `opts.plan_dir` to `opts.db_url`. See
/// `docs/executor.md`.
pub fn apply(opts: &ApplyOptions, out: &mut dyn Progress) -> Result<ApplyOutcome, ExecError> {
    let file = planfile::read_dir(&opts.plan_dir, opts.direction)?;
    super::check_scope(opts, &file)?;
    if let (Some(why), false) = (&file.plan.unproven, opts.allow_unproven) {
        return Err(ExecError::Unproven {
            path: file.path.clone(),
            why: why.clone(),
        });
    }
    let mut client = db::connect(&opts.db_url)?;
    // Before the lock and any write: a server whose catalogs we do not know is refused with
    // nothing changed.
    let version = db::server_version_num(&mut client)?;
    catalog::check_server_version(version)?;
    prepare_session(&mut client, opts, &file.plan, version)?;
    out.event(ProgressEvent::Info(format!(
        "{} {} ({}) on {}",
        if opts.dry_run {
            "dry run of"
        } else {
            "applying"
        },
        file.plan.id,
        planfile::file_name(opts.direction),
        db::redact(&opts.db_url)
    )));
    if opts.dry_run {
        return dry_run(&mut client, opts, &file, version, out);
    }
    let wait = (!opts.no_wait).then_some(opts.lock_wait);
    let mut session = lock::acquire(client, wait, &mut |holder, wait| {
        out.event(ProgressEvent::WaitingForLock {
            holder: holder.to_string(),
            wait,
        })
    })?;
    // A refusal below writes nothing: the bookkeeping tables are created (or the old large
    // object migrated into them) only once every check has passed, and stale runs are marked
    // only if there are any.
    settle_stale_runs(&mut session, &file.plan.scope, out)?;
    let prior = book::prior(&mut session, &file.plan.id, opts.direction)?;
    let after_expand = after_expand(&mut session, opts, &file)?;
    let live_schema = catalog::read_scoped(&mut session, &file.plan.scope)?;
    let live = catalog::fingerprint(&live_schema);
    let decision = preflight::decide(&file, opts, &prior, &live, after_expand)
        .map_err(|e| preflight::name_differences(e, opts, &live_schema))?;
    match decision {
        Decision::Stop(outcome) => {
            // Nothing to run, but the checks passed: a history still in the old large object
            // moves into the tables now.
            if book::is_old(&mut *session)? {
                book::ensure(&mut session)?;
            }
            out.event(ProgressEvent::Finished {
                message: outcome.message.clone(),
            });
            Ok(outcome)
        }
        Decision::Run(mut run) => {
            super::sizes::check(
                &mut session,
                &file.plan,
                &run.to_run,
                opts.force,
                &mut run.warnings,
            )?;
            // Before anything is installed or recorded.
            super::narrowing::check(&mut session, &file.plan, &run.to_run, version)?;
            book::ensure(&mut session)?;
            execute(&mut session, opts, &file, &live, prior, run, out)
        }
    }
}

/// Session settings for the whole apply:
/// - `application_name` shows in `pg_stat_activity`, so a blocked apply can say who holds the
///   lock;
/// - `check_function_bodies = off`, as in pg_dump output: a function body may use objects a
///   later step creates (steps follow the dependencies PostgreSQL records, and the bodies of
///   functions other than SQL-standard ones record none);
/// - `client_min_messages = warning`: no NOTICE chatter from the steps;
/// - `standard_conforming_strings = on`: plan files are written for it (as schema files are
///   read with it); a database or role set to `off` would read backslashes in string literals
///   taken from the catalog as escapes;
/// - `client_connection_check_interval = 1s` (PostgreSQL 14+): if apply dies during a long
///   statement (a killed process, a lost network), the server notices within a second and
///   ends the backend instead of finishing the statement for nobody; that also releases the
///   apply lock (and the statement's locks) promptly, so the next apply can resume.
pub(super) fn prepare_session(
    client: &mut Client,
    opts: &ApplyOptions,
    plan: &Plan,
    version: i32,
) -> Result<(), ExecError> {
    let verb = match opts.direction {
        Direction::Forward => "apply",
        Direction::Inverse => "rollback",
    };
    let name = quote::literal(&format!("schemaplan {verb} {}", plan.id));
    let check = if version >= 140000 {
        "; SET client_connection_check_interval = '1s'"
    } else {
        ""
    };
    client
        .batch_execute(&format!(
            "SET application_name = {name}; SET check_function_bodies = off; \
             SET client_min_messages = warning; SET standard_conforming_strings = on{check}"
        ))
        .map_err(ExecError::bookkeeping("set up the session"))
}

/// For a rollback: whether the forward plan stopped after its expand phase (see
/// [`preflight::stopped_after_expand`]).
fn after_expand(
    client: &mut Client,
    opts: &ApplyOptions,
    file: &PlanFile,
) -> Result<bool, ExecError> {
    if opts.direction != Direction::Inverse {
        return Ok(false);
    }
    let forward = planfile::read_dir(&opts.plan_dir, Direction::Forward).ok();
    let prior = book::prior(client, &file.plan.id, Direction::Forward)?;
    Ok(preflight::stopped_after_expand(
        forward.as_ref().map(|f| &f.plan),
        &prior,
    ))
}

/// The fingerprint of the live schema's part in `scope` (the plan's: its `from` and `to`
/// cover only that part).
fn live_fingerprint(client: &mut Client, scope: &catalog::Scope) -> Result<String, ExecError> {
    Ok(catalog::fingerprint(&catalog::read_scoped(client, scope)?))
}

/// Under the apply lock, before anything else: runs a dead apply left `running` become
/// `interrupted`, runs cut off during their final check are checked now; says so.
///
/// A run cut off in its final check is checked through `scope`, the scope of the plan being
/// applied now (normally the same plan, applied again).
pub(super) fn settle_stale_runs(
    session: &mut Client,
    scope: &catalog::Scope,
    out: &mut dyn Progress,
) -> Result<(), ExecError> {
    let settled = book::mark_stale_runs(session, |c| live_fingerprint(c, scope))?;
    if settled.interrupted > 0 {
        out.event(ProgressEvent::Info(format!(
            "{} earlier run(s) had stopped without finishing; marked interrupted",
            settled.interrupted
        )));
    }
    for (run_id, outcome) in &settled.verified {
        out.event(ProgressEvent::Info(format!(
            "run {run_id} had committed every step but its final check was cut off; checked now: {outcome}"
        )));
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn execute(
    session: &mut LockedSession,
    opts: &ApplyOptions,
    file: &PlanFile,
    live: &str,
    prior: book::Prior,
    run: RunPlan,
    out: &mut dyn Progress,
) -> Result<ApplyOutcome, ExecError> {
    let plan = &file.plan;
    for w in &run.warnings {
        out.event(ProgressEvent::Warning(w.clone()));
    }
    let run_id = book::start_run(
        session,
        &NewRun {
            plan_id: &plan.id,
            direction: opts.direction,
            phases: opts.phase.as_str().to_string(),
            checksum: &file.checksum,
            from: &plan.from,
            to: &plan.to,
            live,
            forced: run.forced,
            client: super::client_identity(),
        },
    )?;
    out.event(ProgressEvent::Started {
        plan_id: plan.id.clone(),
        run_id,
        to_run: run.to_run.len(),
        total: plan.steps.len(),
    });
    for &k in &run.skipped {
        out.event(ProgressEvent::StepSkipped {
            number: k,
            total: plan.steps.len(),
            summary: plan.steps[k - 1].summary.clone(),
        });
    }
    let mut retries = RetryCounter {
        inner: &mut *out,
        count: 0,
    };
    let tls = db::Target::new(&opts.db_url)?.connector();
    let registration = opts.interrupt.register(session.cancel_token(), tls);
    let result = run_units(session, opts, plan, run_id, prior, &run, &mut retries);
    drop(registration);
    let retry_count = retries.count;
    match result {
        Ok(()) => {}
        Err(Stop::Failed(f)) if opts.interrupt.requested() => {
            let step = f.step;
            return Err(record_interrupt(
                session,
                opts,
                plan,
                run_id,
                step,
                Some(f),
                "interrupted (Ctrl-C)",
                out,
            ));
        }
        // The backend was ended (pg_terminate_backend, server shutdown) or the network failed:
        // not the step's fault. Recorded as interrupted, resumed by the next apply.
        Err(Stop::Failed(f)) if run::connection_lost(&f.error) => {
            let step = f.step;
            let reason = format!(
                "the connection to the server was lost ({})",
                run::short_error(&f.error)
            );
            return Err(record_interrupt(
                session,
                opts,
                plan,
                run_id,
                step,
                Some(f),
                &reason,
                out,
            ));
        }
        Err(Stop::Failed(f)) => return Err(record_failure(session, opts, plan, run_id, f, out)),
        Err(Stop::Interrupted { next }) => {
            return Err(record_interrupt(
                session,
                opts,
                plan,
                run_id,
                next,
                None,
                "interrupted (Ctrl-C)",
                out,
            ))
        }
    }
    let kind = finish(session, plan, run_id, &run, out)?;
    let message = match &kind {
        OutcomeKind::PhaseApplied { next } => format!(
            "run {run_id}: {} steps of plan {} applied; {}",
            opts.phase.as_str(),
            plan.id,
            preflight::next_hint(opts, plan, *next)
        ),
        _ => match opts.direction {
            Direction::Forward => format!("run {run_id}: plan {} applied", plan.id),
            Direction::Inverse => format!(
                "run {run_id}: plan {} rolled back (inverse.sql applied)",
                plan.id
            ),
        },
    };
    out.event(ProgressEvent::Finished {
        message: message.clone(),
    });
    Ok(ApplyOutcome {
        plan_id: plan.id.clone(),
        kind,
        run_id: Some(run_id),
        steps_run: run.to_run.clone(),
        steps_skipped: run.skipped.clone(),
        retries: retry_count,
        warnings: run.warnings.clone(),
        message,
    })
}

/// Counts retry events on their way to the real progress sink.
struct RetryCounter<'a> {
    inner: &'a mut dyn Progress,
    count: u32,
}

impl Progress for RetryCounter<'_> {
    fn event(&mut self, e: ProgressEvent) {
        if matches!(e, ProgressEvent::Retry { .. }) {
            self.count += 1;
        }
        self.inner.event(e);
    }
}

/// Why the units stopped early.
enum Stop {
    Failed(StepFailure),
    /// Interrupted between units; `next` is the first step not run.
    Interrupted {
        next: usize,
    },
}

fn run_units(
    session: &mut LockedSession,
    opts: &ApplyOptions,
    plan: &Plan,
    run_id: i64,
    prior: book::Prior,
    run: &RunPlan,
    out: &mut dyn Progress,
) -> Result<(), Stop> {
    let mut runner = Runner {
        client: session,
        plan,
        run_id,
        retry: opts.retry,
        out,
        attempted: prior.attempted,
        batches: prior.batches,
        batch: opts.batch,
        interrupt: opts.interrupt.clone(),
        final_step: run.to_run.iter().max().copied(),
        completes: run.completes,
    };
    for unit in planfile::units(&plan.steps, &run.to_run) {
        if opts.interrupt.requested() {
            return Err(Stop::Interrupted { next: unit.first() });
        }
        runner.run_unit(&unit).map_err(Stop::Failed)?;
    }
    Ok(())
}

/// Verifies a completed plan against `to` and records the outcome.
fn finish(
    session: &mut LockedSession,
    plan: &Plan,
    run_id: i64,
    run: &RunPlan,
    out: &mut dyn Progress,
) -> Result<OutcomeKind, ExecError> {
    if !run.completes {
        book::finish_run(session, run_id, "succeeded", None)?;
        let done: BTreeSet<usize> = (1..=plan.steps.len())
            .filter(|k| run.to_run.contains(k) || run.skipped.contains(k))
            .collect();
        let next = preflight::next_phase(plan, &done).unwrap_or(crate::plan::Phase::Contract);
        return Ok(OutcomeKind::PhaseApplied { next });
    }
    // The last step's transaction recorded the run `verifying`: a kill from here on is settled
    // by the next apply (`book::mark_stale_runs`).
    run::test_pause("verify", plan.steps.len());
    let live = live_fingerprint(session, &plan.scope)?;
    if live != plan.to {
        let msg = format!(
            "after the last step the live schema fingerprint is {live}, not the plan's `to` {}",
            plan.to
        );
        out.event(ProgressEvent::Warning(msg.clone()));
        book::finish_run(session, run_id, "failed", Some(&msg))?;
        return Err(ExecError::Verify {
            plan_id: plan.id.clone(),
            run_id,
            expected: plan.to.clone(),
            live,
        });
    }
    book::finish_run(session, run_id, "succeeded", None)?;
    Ok(OutcomeKind::Applied)
}

/// Records a failed step and run in the bookkeeping and builds the error. The failed
/// transaction has already been rolled back (dropping it did).
fn record_failure(
    session: &mut LockedSession,
    opts: &ApplyOptions,
    plan: &Plan,
    run_id: i64,
    f: StepFailure,
    out: &mut dyn Progress,
) -> ExecError {
    let step = &plan.steps[f.step - 1];
    let error = run::full_error(&f.error);
    out.event(ProgressEvent::StepFailed {
        number: f.step,
        total: plan.steps.len(),
        summary: step.summary.clone(),
        message: run::short_error(&f.error),
    });
    let history_error = format!("step {} ({}): {error}", f.step, step.summary);
    with_bookkeeping(session, opts, |client| {
        let _ = book::journal_end(
            client,
            run_id,
            f.step,
            &step.summary,
            "failed",
            Some(&error),
        );
        let _ = book::finish_run(client, run_id, "failed", Some(&history_error));
    });
    let mut next = None;
    if !session.is_closed() {
        // The journal (this run's steps included) says which steps are done.
        let done = book::prior(session, &plan.id, opts.direction)
            .map(|p| p.done.keys().copied().collect())
            .unwrap_or_default();
        if let Some(undone) =
            super::undo::after_failed_validation(session, plan, f.step, &f.error, &done)
        {
            let add = &plan.steps[undone.add_step - 1];
            let _ = book::journal_end(
                &mut **session,
                run_id,
                undone.add_step,
                &add.summary,
                "undone",
                None,
            );
            next = Some(undone.message);
        }
    }
    if let Some(hint) = abort_hint(session, opts, plan) {
        next = Some(match next {
            Some(n) => format!("{n}\n{hint}"),
            None => format!("fix the cause and apply again to resume at this step; {hint}"),
        });
    }
    out.event(ProgressEvent::Finished {
        message: format!("run {run_id} failed at step {}", f.step),
    });
    step_error(plan, run_id, &f, error, next)
}

/// Records an interrupted run: the step that was cancelled (if one was running) and the
/// run's record.
#[allow(clippy::too_many_arguments)]
fn record_interrupt(
    session: &mut LockedSession,
    opts: &ApplyOptions,
    plan: &Plan,
    run_id: i64,
    step: usize,
    failed: Option<StepFailure>,
    reason: &str,
    out: &mut dyn Progress,
) -> ExecError {
    let summary = &plan.steps[step - 1].summary;
    let message = format!("{reason} at step {step} ({summary})");
    // A Ctrl-C's cancel request reaches the backend asynchronously (postmaster -> SIGINT) and
    // can land on the first statement after the stop, i.e. on these writes (57014): each is
    // tried once more. Both only set an outcome, so a second try is harmless.
    with_bookkeeping(session, opts, |client| {
        if let Some(f) = &failed {
            let error = run::full_error(&f.error);
            let _ = (0..2).find(|_| {
                book::journal_end(client, run_id, step, summary, "interrupted", Some(&error))
                    .is_ok()
            });
        }
        let _ = (0..2)
            .find(|_| book::finish_run(client, run_id, "interrupted", Some(&message)).is_ok());
    });
    out.event(ProgressEvent::Finished {
        message: format!("run {run_id} {message}"),
    });
    ExecError::Interrupted {
        plan_id: plan.id.clone(),
        run_id,
        number: step,
        total: plan.steps.len(),
        reason: reason.to_string(),
        abort_hint: abort_hint(session, opts, plan).map(Box::new),
    }
}

/// `apply --abort` and what it would take back, read from the journal (on the session, or a
/// new connection when the session's is gone: the read takes no lock), when it has something
/// to take back.
fn abort_hint(session: &mut LockedSession, opts: &ApplyOptions, plan: &Plan) -> Option<String> {
    let prior = if session.is_closed() {
        let mut fresh = db::connect(&opts.db_url).ok()?;
        book::prior(&mut fresh, &plan.id, opts.direction).ok()?
    } else {
        book::prior(session, &plan.id, opts.direction).ok()?
    };
    let done: BTreeSet<usize> = prior.done.keys().copied().collect();
    let attempted: BTreeSet<usize> = prior.attempted.iter().copied().collect();
    let undo = super::abort::undo_plan(plan, &done, &attempted);
    super::abort::hint(opts, plan, &undo)
}

/// Runs `write` on the session, or on a new connection if the session's connection is gone
/// (and with it the apply lock: the new connection writes only if it can take the lock at once,
/// so it never races another apply's writes). If neither works the run stays `running`, and
/// the next apply marks it interrupted.
fn with_bookkeeping(
    session: &mut LockedSession,
    opts: &ApplyOptions,
    write: impl FnOnce(&mut Client),
) {
    if !session.is_closed() {
        write(session);
    } else if let Ok(mut fresh) = db::connect(&opts.db_url) {
        if lock::try_lock(&mut fresh).unwrap_or(false) {
            write(&mut fresh);
        }
        // Closing the connection releases the lock.
    }
}

fn step_error(
    plan: &Plan,
    run_id: i64,
    f: &StepFailure,
    error: String,
    next: Option<String>,
) -> ExecError {
    ExecError::Step {
        plan_id: plan.id.clone(),
        run_id,
        number: f.step,
        total: plan.steps.len(),
        summary: plan.steps[f.step - 1].summary.clone(),
        sqlstate: run::sqlstate(&f.error).map(str::to_string),
        error: Box::new(error),
        attempts: f.attempts,
        next: next.map(Box::new),
    }
}

/// Runs every check, lists what would run, changes nothing (no lock, no bookkeeping writes,
/// no schema created, no migration of an old large object).
fn dry_run(
    client: &mut Client,
    opts: &ApplyOptions,
    file: &PlanFile,
    version: i32,
    out: &mut dyn Progress,
) -> Result<ApplyOutcome, ExecError> {
    let prior = book::prior(client, &file.plan.id, opts.direction)?;
    let after_expand = after_expand(client, opts, file)?;
    let live = live_fingerprint(client, &file.plan.scope)?;
    let run = match preflight::decide(file, opts, &prior, &live, after_expand)? {
        Decision::Stop(outcome) => {
            out.event(ProgressEvent::Finished {
                message: format!("dry run: {}", outcome.message),
            });
            return Ok(outcome);
        }
        Decision::Run(mut run) => {
            super::sizes::check(
                client,
                &file.plan,
                &run.to_run,
                opts.force,
                &mut run.warnings,
            )?;
            super::narrowing::check(client, &file.plan, &run.to_run, version)?;
            run
        }
    };
    for w in &run.warnings {
        out.event(ProgressEvent::Warning(w.clone()));
    }
    for line in dry_run_lines(&file.plan, &run) {
        out.event(ProgressEvent::Info(line));
    }
    let message = "dry run: nothing was changed".to_string();
    out.event(ProgressEvent::Finished {
        message: message.clone(),
    });
    Ok(ApplyOutcome {
        plan_id: file.plan.id.clone(),
        kind: OutcomeKind::DryRun,
        run_id: None,
        steps_run: run.to_run.clone(),
        steps_skipped: run.skipped.clone(),
        retries: 0,
        warnings: run.warnings.clone(),
        message,
    })
}

/// The units that would run, with each step's lock and timeouts.
fn dry_run_lines(plan: &Plan, run: &RunPlan) -> Vec<String> {
    let total = plan.steps.len();
    let mut lines = Vec::new();
    if !run.skipped.is_empty() {
        let list: Vec<String> = run.skipped.iter().map(|k| k.to_string()).collect();
        lines.push(format!(
            "would skip steps {} (done by an earlier run)",
            list.join(", ")
        ));
    }
    for unit in planfile::units(&plan.steps, &run.to_run) {
        lines.push(match unit.mode {
            TxMode::Transaction => {
                format!("would run step(s) {} in one transaction:", unit.range())
            }
            TxMode::Alone => format!(
                "would run step {} alone, outside a transaction:",
                unit.range()
            ),
            TxMode::Batched => format!(
                "would run step {} in batches, one transaction per batch:",
                unit.range()
            ),
        });
        for &k in &unit.steps {
            let step = &plan.steps[k - 1];
            let set = match unit.mode {
                TxMode::Transaction | TxMode::Batched => "SET LOCAL",
                TxMode::Alone => "SET",
            };
            lines.push(format!(
                "  step {k}/{total} {} [lock {}{}; {}]",
                step.summary,
                step.lock.as_str(),
                step.lock_target
                    .as_ref()
                    .map_or(String::new(), |t| format!(" on {t}")),
                run::set_timeouts(step, set)
            ));
        }
    }
    if run.completes {
        lines.push(format!(
            "then: check that the live schema is the plan's `to` ({})",
            plan.to
        ));
    }
    lines
}
