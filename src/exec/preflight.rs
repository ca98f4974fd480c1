//! The checks before a run, read-only: has this plan been applied already, which steps did
//! earlier runs finish (resume), does the live schema match the plan's `from`, did the plan file
//! change under an unfinished run, are the hazards of the steps to run allowed.

use super::book::Prior;
use super::{ApplyOptions, ApplyOutcome, ExecError, OutcomeKind, PhaseSelect};
use crate::plan::{Direction, Phase, Plan};
use crate::planfile::PlanFile;
use std::collections::BTreeSet;

/// What to do.
pub enum Decision {
    /// Nothing to run.
    Stop(ApplyOutcome),
    Run(RunPlan),
}

/// The steps a run will execute.
pub struct RunPlan {
    pub to_run: Vec<usize>,
    pub skipped: Vec<usize>,
    /// After these steps every step of the plan is done: verify against `to`.
    pub completes: bool,
    pub warnings: Vec<String>,
    /// `force` overrode a check.
    pub forced: bool,
}

/// Whether a rollback starts from a forward run that stopped after its `expand` phase: the
/// forward plan has `contract` steps, its journal (the current chain) shows every `expand`
/// step done and no `contract` step. The inverse's `expand` steps undo the forward
/// `contract`, which never ran: the rollback runs only the inverse's `contract` steps, which
/// undo the forward `expand` (see `workflow::plan_both`). The journal stands in for a `from`
/// check: the intermediate state has no fingerprint in the plan.
pub fn stopped_after_expand(forward: Option<&Plan>, forward_prior: &Prior) -> bool {
    let Some(plan) = forward else {
        return false;
    };
    let phase = |k: usize| plan.steps[k - 1].phase;
    let steps = 1..=plan.steps.len();
    // A plan without expand steps has no state "after expand" other than its start.
    steps.clone().any(|k| phase(k) == Phase::Contract)
        && steps.clone().any(|k| phase(k) == Phase::Expand)
        && steps
            .clone()
            .all(|k| forward_prior.done.contains_key(&k) == (phase(k) == Phase::Expand))
}

/// Decides what to run from the plan file, the options, the history and the live fingerprint.
/// `after_expand`: a rollback after a forward `expand` alone ([`stopped_after_expand`]).
pub fn decide(
    file: &PlanFile,
    opts: &ApplyOptions,
    prior: &Prior,
    live: &str,
    after_expand: bool,
) -> Result<Decision, ExecError> {
    let plan = &file.plan;
    let n = plan.steps.len();
    if n == 0 {
        return Ok(stop(
            plan,
            OutcomeKind::NothingToDo,
            "the plan has no steps".into(),
        ));
    }
    let mut warnings = Vec::new();
    let mut done: BTreeSet<usize> = prior.done.keys().copied().filter(|&k| k <= n).collect();
    if done.len() == n {
        if live == plan.to {
            let run = prior.done.values().map(|v| v.1).max().unwrap_or_default();
            let msg = format!(
                "plan {} is already applied (run {run}); nothing to do",
                plan.id
            );
            return Ok(stop(plan, OutcomeKind::AlreadyApplied, msg));
        }
        warnings.push(format!(
            "plan {} was applied before, but the database no longer has its result: applying it again from step 1",
            plan.id
        ));
        done.clear();
    }
    let undo_expand = after_expand && opts.direction == Direction::Inverse;
    if undo_expand {
        // The inverse's expand steps undo a forward contract that never ran: count them
        // as done, so the run starts at the inverse's contract steps without a `from` check.
        done.extend((1..=n).filter(|&k| plan.steps[k - 1].phase == Phase::Expand));
        warnings.push(format!(
            "plan {} ran its expand phase only: the rollback runs the inverse's contract steps, \
             which undo it",
            plan.id
        ));
    }
    let selected: Vec<usize> = (1..=n)
        .filter(|&k| {
            let phase = plan.steps[k - 1].phase;
            if undo_expand {
                phase == Phase::Contract
            } else {
                opts.phase.includes(phase)
            }
        })
        .collect();
    if selected.is_empty() {
        let msg = format!(
            "plan {} has no {} steps (it has: {})",
            plan.id,
            opts.phase.as_str(),
            phase_names(plan)
        );
        return Ok(stop(plan, OutcomeKind::NothingToDo, msg));
    }
    let to_run: Vec<usize> = selected
        .iter()
        .copied()
        .filter(|k| !done.contains(k))
        .collect();
    if to_run.is_empty() {
        let next = next_phase(plan, &done).unwrap_or(Phase::Contract);
        let msg = format!(
            "the {} steps of plan {} are already applied; {}",
            opts.phase.as_str(),
            plan.id,
            next_hint(opts, plan, next)
        );
        return Ok(stop(plan, OutcomeKind::PhaseApplied { next }, msg));
    }
    let mut forced = false;
    if !prior.done.is_empty() {
        forced |= check_checksum(file, opts, prior, &done, &mut warnings)?;
    }
    let first = to_run[0];
    let missing: Vec<usize> = (1..first).filter(|k| !done.contains(k)).collect();
    if done.is_empty()
        && missing.is_empty()
        && opts.direction == Direction::Inverse
        && live == plan.to
        && live != plan.from
        && !opts.force
    {
        // E.g. the forward run failed at a validation and took back what it had done
        // (`exec::undo`): there is nothing to undo.
        let msg = format!(
            "the database already has the schema plan {} starts from (the rollback's target): \
             nothing to roll back",
            plan.id
        );
        return Ok(stop(plan, OutcomeKind::NothingToDo, msg));
    }
    if done.is_empty() && missing.is_empty() {
        forced |= check_from(plan, opts, live, &mut warnings)?;
    } else if !missing.is_empty() {
        forced |= check_earlier(plan, opts, &missing, &mut warnings)?;
    }
    check_hazards(plan, opts, &to_run)?;
    let skipped: Vec<usize> = selected
        .iter()
        .copied()
        .filter(|k| done.contains(k))
        .collect();
    let completes = (1..=n).all(|k| done.contains(&k) || to_run.contains(&k));
    Ok(Decision::Run(RunPlan {
        to_run,
        skipped,
        completes,
        warnings,
        forced,
    }))
}

fn stop(plan: &Plan, kind: OutcomeKind, message: String) -> Decision {
    Decision::Stop(ApplyOutcome {
        plan_id: plan.id.clone(),
        kind,
        run_id: None,
        steps_run: vec![],
        steps_skipped: vec![],
        retries: 0,
        warnings: vec![],
        message,
    })
}

fn phase_names(plan: &Plan) -> String {
    plan.phases()
        .iter()
        .map(|p| p.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The phase of the first step not done.
pub fn next_phase(plan: &Plan, done: &BTreeSet<usize>) -> Option<Phase> {
    (1..=plan.steps.len())
        .find(|k| !done.contains(k))
        .map(|k| plan.steps[k - 1].phase)
}

/// What to run to continue with `next`.
pub fn next_hint(opts: &ApplyOptions, plan: &Plan, next: Phase) -> String {
    let command = match opts.direction {
        Direction::Forward => "apply",
        Direction::Inverse => "rollback",
    };
    let when = match next {
        Phase::Contract => "after the application is deployed, ",
        Phase::Expand => "",
    };
    let db = crate::db::redact(&opts.db_url);
    let mut hazards: Vec<&str> = plan
        .steps
        .iter()
        .filter(|s| s.phase == next)
        .flat_map(|s| s.hazards.iter().map(|h| h.as_str()))
        .collect();
    hazards.sort();
    hazards.dedup();
    let allow = if hazards.is_empty() {
        String::new()
    } else {
        format!(" --allow-hazards {}", hazards.join(","))
    };
    format!(
        "{when}run: schemaplan {command} --db {} {} --phase {}{allow}",
        shell_word(&db),
        shell_word(&opts.plan_dir.display().to_string()),
        next.as_str()
    )
}

/// A word as a shell reads it back: single-quoted unless it is plain.
pub(super) fn shell_word(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "@:/._%+,=-".contains(c));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// The live schema must be the plan's `from` when starting at step 1. Returns whether `force`
/// overrode it.
fn check_from(
    plan: &Plan,
    opts: &ApplyOptions,
    live: &str,
    warnings: &mut Vec<String>,
) -> Result<bool, ExecError> {
    if live == plan.from {
        return Ok(false);
    }
    if opts.force {
        warnings.push(format!(
            "--force: the live schema ({live}) is not the schema plan {} was made from ({}); applying anyway",
            plan.id, plan.from
        ));
        return Ok(true);
    }
    let note = if live == plan.to {
        "; it already has the plan's target schema (applied by other means, or the history was lost?)"
    } else {
        ""
    };
    Err(ExecError::FromMismatch {
        plan_id: plan.id.clone(),
        expected: plan.from.clone(),
        live: live.to_string(),
        note: note.to_string(),
    })
}

/// Adds to a [`ExecError::FromMismatch`] WHICH objects differ from the plan's `from`: the
/// plan's `plan.json` carries a digest per object of that state (`catalog::object_digests`),
/// compared here with the live schema's. A plan without them (written by hand, or `plan.json`
/// missing) keeps the fingerprints-only message. Other errors pass through.
pub fn name_differences(
    e: ExecError,
    opts: &ApplyOptions,
    live: &crate::model::Schema,
) -> ExecError {
    let ExecError::FromMismatch {
        plan_id,
        expected,
        live: live_fp,
        mut note,
    } = e
    else {
        return e;
    };
    if let Some(expected_objects) = from_objects(opts) {
        let lines = crate::catalog::digest_differences(
            &expected_objects,
            &crate::catalog::object_digests(live),
        );
        const SHOWN: usize = 20;
        if !lines.is_empty() {
            note.push_str(&format!(
                "\nwhat differs from the schema the plan starts from ({} object{}):",
                lines.len(),
                if lines.len() == 1 { "" } else { "s" }
            ));
            for l in lines.iter().take(SHOWN) {
                note.push_str(&format!("\n  {l}"));
            }
            if lines.len() > SHOWN {
                note.push_str(&format!("\n  ... and {} more", lines.len() - SHOWN));
            }
        }
    }
    ExecError::FromMismatch {
        plan_id,
        expected,
        live: live_fp,
        note,
    }
}

/// The `from_objects` of the direction being applied, from the plan directory's `plan.json`.
fn from_objects(opts: &ApplyOptions) -> Option<std::collections::BTreeMap<String, String>> {
    let text = std::fs::read_to_string(opts.plan_dir.join("plan.json")).ok()?;
    let doc: serde_json::Value = serde_json::from_str(&text).ok()?;
    let plan = match opts.direction {
        Direction::Forward => &doc,
        Direction::Inverse => doc.get("inverse")?,
    };
    serde_json::from_value(plan.get("from_objects")?.clone()).ok()
}

/// Steps before the first selected one must be done (`--phase contract` before `expand`).
fn check_earlier(
    plan: &Plan,
    opts: &ApplyOptions,
    missing: &[usize],
    warnings: &mut Vec<String>,
) -> Result<bool, ExecError> {
    let list = missing
        .iter()
        .map(|n| n.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    if opts.force {
        warnings.push(format!(
            "--force: steps {list} of plan {} have not been applied; running the selected steps anyway",
            plan.id
        ));
        return Ok(true);
    }
    let hint = if opts.phase == PhaseSelect::Contract {
        format!(
            "\nhint: apply the expand phase first: {}",
            next_hint(opts, plan, Phase::Expand)
        )
    } else {
        String::new()
    };
    Err(ExecError::EarlierStepsMissing {
        plan_id: plan.id.clone(),
        missing: missing.to_vec(),
        hint,
    })
}

/// Resuming skips steps by number: the file must be the one those steps came from.
fn check_checksum(
    file: &PlanFile,
    opts: &ApplyOptions,
    prior: &Prior,
    done: &BTreeSet<usize>,
    warnings: &mut Vec<String>,
) -> Result<bool, ExecError> {
    let changed = done
        .iter()
        .filter_map(|k| prior.done.get(k))
        .find(|(_, _, checksum)| *checksum != file.checksum);
    let Some((_, run_id, recorded)) = changed else {
        return Ok(false);
    };
    let summaries_differ = done.iter().filter(|k| prior.done.contains_key(k)).any(|k| {
        prior.done.get(k).map(|v| v.0.as_str()) != Some(file.plan.steps[k - 1].summary.as_str())
    });
    let refuse = |note: &str| ExecError::ChecksumChanged {
        path: file.path.clone(),
        run_id: *run_id,
        recorded: recorded.clone(),
        now: file.checksum.clone(),
        note: note.to_string(),
    };
    if summaries_differ {
        return Err(refuse(
            "; the steps recorded as done are no longer the same steps, so the run cannot resume even with --force",
        ));
    }
    if !opts.force {
        return Err(refuse(""));
    }
    warnings.push(format!(
        "--force: {} changed since run {run_id}; resuming after the steps that run recorded as done",
        file.path.display()
    ));
    Ok(true)
}

/// Every hazard of every step to run must be allowed.
fn check_hazards(plan: &Plan, opts: &ApplyOptions, to_run: &[usize]) -> Result<(), ExecError> {
    let mut lines = Vec::new();
    let mut needed = BTreeSet::new();
    for &k in to_run {
        let step = &plan.steps[k - 1];
        let blocked: Vec<&str> = step
            .hazards
            .iter()
            .filter(|h| !opts.allow_hazards.allows(**h))
            .map(|h| h.as_str())
            .collect();
        if !blocked.is_empty() {
            lines.push(format!(
                "  step {k} ({}): {}",
                step.summary,
                blocked.join(", ")
            ));
            needed.extend(
                step.hazards
                    .iter()
                    .filter(|h| !opts.allow_hazards.allows(**h)),
            );
        }
    }
    if lines.is_empty() {
        return Ok(());
    }
    if let super::HazardAllow::Some(already) = &opts.allow_hazards {
        needed.extend(already.iter().copied());
    }
    let names: Vec<&str> = needed.iter().map(|h| h.as_str()).collect();
    Err(ExecError::Hazards {
        plan_id: plan.id.clone(),
        steps: lines,
        flag: format!("--allow-hazards {}", names.join(",")),
    })
}
