//! `apply --mark-applied` (and `rollback --mark-applied`): record a plan as applied without
//! running it, when the live schema already is its `to` (a hand hotfix made the same change, or
//! a baseline plan adopted on a database that already has the schema).
//!
//! The live fingerprint must equal the plan's `to`; otherwise the run is refused, nothing is
//! written, and the refusal names the objects that differ: the digests of the `to` schema are
//! in `plan.json` as the *inverse's* `from_objects` (and a rollback's `to` is the forward plan's
//! `from_objects`). When they match, a run is recorded (outcome `succeeded`, phases
//! `marked`) with every step journaled `succeeded` without running, so `status` shows the plan
//! applied (`marked`) and a later `apply` finds nothing to do. Takes the apply lock like a run.

use super::book::{self, NewRun};
use super::progress::{Progress, ProgressEvent};
use super::{ApplyOptions, ApplyOutcome, ExecError, OutcomeKind};
use crate::plan::Direction;
use crate::planfile;
use crate::{catalog, db};

/// The digests of the plan's `to` schema, from `plan.json` (see the module doc).
fn to_objects(opts: &ApplyOptions) -> Option<std::collections::BTreeMap<String, String>> {
    let text = std::fs::read_to_string(opts.plan_dir.join("plan.json")).ok()?;
    let doc: serde_json::Value = serde_json::from_str(&text).ok()?;
    let objects = match opts.direction {
        Direction::Forward => doc.get("inverse")?.get("from_objects")?,
        Direction::Inverse => doc.get("from_objects")?,
    };
    serde_json::from_value(objects.clone()).ok()
}

pub fn mark_applied(
    opts: &ApplyOptions,
    out: &mut dyn Progress,
) -> Result<ApplyOutcome, ExecError> {
    let file = planfile::read_dir(&opts.plan_dir, opts.direction)?;
    super::check_scope(opts, &file)?;
    let plan = &file.plan;
    let mut client = db::connect(&opts.db_url)?;
    let version = db::server_version_num(&mut client)?;
    catalog::check_server_version(version)?;
    super::apply::prepare_session(&mut client, opts, plan, version)?;
    let wait = (!opts.no_wait).then_some(opts.lock_wait);
    let mut session = super::lock::acquire(client, wait, &mut |holder, wait| {
        out.event(ProgressEvent::WaitingForLock {
            holder: holder.to_string(),
            wait,
        })
    })?;
    super::apply::settle_stale_runs(&mut session, &plan.scope, out)?;
    let live_schema = catalog::read_scoped(&mut session, &plan.scope)?;
    let live = catalog::fingerprint(&live_schema);
    if live != plan.to {
        let mut differences = Vec::new();
        if let Some(expected) = to_objects(opts) {
            differences =
                catalog::digest_differences(&expected, &catalog::object_digests(&live_schema));
        }
        let at_from = if live == plan.from {
            "; the database is still at the plan's `from`: apply it instead".to_string()
        } else {
            String::new()
        };
        return Err(ExecError::NotAtTarget {
            plan_id: plan.id.clone(),
            expected: plan.to.clone(),
            live,
            note: at_from,
            differences,
        });
    }
    let prior = book::prior(&mut session, &plan.id, opts.direction)?;
    let all_done = (1..=plan.steps.len()).all(|k| prior.done.contains_key(&k));
    if all_done && !prior.runs.is_empty() {
        let message = format!("plan {} is already applied; nothing to mark", plan.id);
        out.event(ProgressEvent::Finished {
            message: message.clone(),
        });
        return Ok(ApplyOutcome {
            plan_id: plan.id.clone(),
            kind: OutcomeKind::AlreadyApplied,
            run_id: None,
            steps_run: Vec::new(),
            steps_skipped: Vec::new(),
            retries: 0,
            warnings: Vec::new(),
            message,
        });
    }
    book::ensure(&mut session)?;
    let run_id = book::start_run(
        &mut session,
        &NewRun {
            plan_id: &plan.id,
            direction: opts.direction,
            phases: "marked".to_string(),
            checksum: &file.checksum,
            from: &plan.from,
            to: &plan.to,
            live: &live,
            forced: false,
            client: super::client_identity(),
        },
    )?;
    for (i, step) in plan.steps.iter().enumerate() {
        book::journal_end(
            &mut *session,
            run_id,
            i + 1,
            &step.summary,
            "succeeded",
            None,
        )
        .map_err(ExecError::bookkeeping("record the marked steps"))?;
    }
    book::finish_run(&mut session, run_id, "succeeded (marked)", None)?;
    let message = format!(
        "run {run_id}: plan {} marked applied without running it (the live schema is its `to`, {})",
        plan.id, plan.to
    );
    out.event(ProgressEvent::Finished {
        message: message.clone(),
    });
    Ok(ApplyOutcome {
        plan_id: plan.id.clone(),
        kind: OutcomeKind::Marked,
        run_id: Some(run_id),
        steps_run: Vec::new(),
        steps_skipped: (1..=plan.steps.len()).collect(),
        retries: 0,
        warnings: Vec::new(),
        message,
    })
}
