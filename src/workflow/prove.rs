//! Proof before writing: replay the plan on a scratch database of the shadow server that holds
//! the current schema (rebuilt by the same code as `dump`; the live database is never copied
//! or locked), then check the result equals the desired schema, that planning again finds
//! nothing, and that the inverse plan returns to the current schema.

use super::{run_steps, schema_statements, Planned, WorkflowError};
use crate::diff;
use crate::model::{ObjectId, Schema};
use crate::plan::{Phase, PlanOptions, Step};
use crate::shadow::Shadow;
use std::collections::BTreeSet;

/// What the proof found beyond success of the forward plan.
#[derive(Debug, Default)]
pub struct ProofReport {
    /// Set when the inverse plan does not bring the schema back (the forward plan is still valid).
    pub inverse_problem: Option<String>,
    /// Set when the current schema could not be reproduced exactly in the shadow.
    pub rebuild_problem: Option<String>,
    /// Set when the plan drops in `expand` what it would drop in `contract`, because the
    /// phased plan did not prove out (why): see `workflow::plan_proven`.
    pub drops_in_expand: Option<String>,
}

/// Proves `planned` on a scratch copy of `current`; an error names what differs.
///
/// With a scope, the context objects are created first and only the part in scope of each
/// reading is compared (`workflow::scope`).
pub fn prove(
    shadow: &Shadow,
    ctx: &super::Context,
    current: &Schema,
    desired: &Schema,
    planned: &Planned,
    opts: &PlanOptions,
) -> Result<ProofReport, WorkflowError> {
    let mut report = ProofReport::default();
    let db = shadow.scratch("proof")?;
    let mut client = db.connect()?;
    let empty = ctx.prepare(&mut client)?;
    run_steps(
        &mut client,
        &schema_statements(&empty, current, opts),
        "rebuilding the current schema in the shadow",
    )?;
    let rebuilt = ctx.read(&mut client)?;
    let gap = diff::diff(&rebuilt, current);
    if !gap.is_empty() {
        report.rebuild_problem = Some(describe(&gap));
    }
    run_steps(&mut client, &planned.forward, "applying the plan")?;
    let after = ctx.read(&mut client)?;
    // Objects the shadow could not reproduce from the current schema are excluded: the proof
    // proves what it can (they are reported as a rebuild problem).
    let excused: BTreeSet<ObjectId> = gap.iter().map(|c| c.object()).collect();
    // The inverse adds some dropped columns back without their NOT NULL, and says so
    // (`contract::unrestorable`): that difference is expected of the inverse alone.
    let unrestored = |c: &diff::Change| {
        matches!(c, diff::Change::AlterColumn { kinds, .. }
            if kinds.iter().all(|k| *k == diff::ColumnChange::SetNotNull))
            && planned.unrestored.contains(&c.object())
    };
    let left: Vec<diff::Change> = diff::diff(&after, desired)
        .into_iter()
        .filter(|c| !excused.contains(&c.object()))
        .collect();
    if !left.is_empty() {
        return Err(WorkflowError::ProofMismatch {
            objects: left.iter().map(|c| c.object()).collect(),
            message: format!(
                "after applying the plan, the schema still differs from the desired one:\n{}",
                describe(&left)
            ),
        });
    }
    if let Err(e) = run_steps(&mut client, &planned.inverse, "applying the inverse plan") {
        report.inverse_problem = Some(e.to_string());
        return Ok(report);
    }
    let back = ctx.read(&mut client)?;
    let left = diff::diff(&back, &rebuilt);
    let left: Vec<diff::Change> = left
        .into_iter()
        .filter(|c| !excused.contains(&c.object()) && !unrestored(c))
        .collect();
    if !left.is_empty() {
        report.inverse_problem = Some(format!(
            "after the inverse plan the schema differs from the current one:\n{}",
            describe(&left)
        ));
        return Ok(report);
    }
    // A phased plan can also be rolled back after its expand phase alone: the inverse's
    // contract steps undo the forward expand steps.
    if planned.forward.iter().any(|s| s.phase == Phase::Contract) {
        let expand: Vec<Step> = phase_steps(&planned.forward, Phase::Expand);
        let undo: Vec<Step> = phase_steps(&planned.inverse, Phase::Contract);
        let rolled = run_steps(&mut client, &expand, "applying the expand phase")
            .and_then(|()| run_steps(&mut client, &undo, "rolling back after the expand phase"));
        if let Err(e) = rolled {
            report.inverse_problem = Some(e.to_string());
            return Ok(report);
        }
        let back = ctx.read(&mut client)?;
        let left: Vec<diff::Change> = diff::diff(&back, &rebuilt)
            .into_iter()
            .filter(|c| !excused.contains(&c.object()) && !unrestored(c))
            .collect();
        if !left.is_empty() {
            report.inverse_problem = Some(format!(
                "after the expand phase and the inverse's contract phase the schema differs \
                 from the current one:\n{}",
                describe(&left)
            ));
        }
    }
    Ok(report)
}

fn phase_steps(steps: &[Step], phase: Phase) -> Vec<Step> {
    steps.iter().filter(|s| s.phase == phase).cloned().collect()
}

/// One line per remaining change, naming the object.
pub fn describe(changes: &[diff::Change]) -> String {
    let mut lines: Vec<String> = changes
        .iter()
        .map(|c| format!("  - {}", summary(c)))
        .collect();
    lines.dedup();
    lines.join("\n")
}

fn summary(c: &diff::Change) -> String {
    format!("{} ({})", c.object(), change_verb(c))
}

/// The variant name of a change (`AlterColumn`), for messages.
pub(crate) fn change_verb(c: &diff::Change) -> String {
    let dbg = format!("{c:?}");
    dbg.split(['(', ' ', '{'])
        .next()
        .unwrap_or("change")
        .to_string()
}
