//! Proof before writing: replay the plan on a scratch database of the shadow server that holds
//! the current schema (the live database is never copied or locked), then check the result
//! equals the desired schema, and that the inverse plan returns to the current schema.
//!
//! Where that current schema comes from, without a second full load: the desired schema is
//! already loaded in the shadow (`workflow::desired_db`). The proof copies that database
//! (`CREATE DATABASE ... TEMPLATE`, PostgreSQL copies files or blocks, no statement runs) and
//! runs the *inverse* plan on the copy, which must bring it to the current schema. What the
//! inverse leaves different (the dropped NOT NULL columns it adds back nullable, or a wrong
//! inverse) is repaired by the plan from what it reached to the current schema (steps for the
//! differing objects only), and the copy is read again: the forward plan is only ever proven
//! from a database whose catalog *equals* the current schema, as with a rebuild. Whenever that
//! cannot be had (no desired database given, the copy or the inverse fails, the repair does not
//! reach the current schema exactly), or when the inverse is not shorter than a rebuild (an
//! empty or small current schema), the proof rebuilds the current schema from scratch instead
//! (`schema_statements(empty -> current)`, the code of `dump`) and excuses the objects the
//! shadow cannot reproduce, as it always did. Both directions stay proven: after the forward
//! plan, the inverse runs again from the state the forward plan reached and must come back.
//!
//! Every reading of the scratch database after its first is a delta read
//! (`catalog::delta`): only the objects whose catalog rows the steps changed (found in the
//! catalogs, not taken from the plan, so steps touching objects the plan does not name are
//! seen) are read again, and the result is exactly what a full read gives.

use super::{run_steps, schema_statements, Planned, WorkflowError};
use crate::catalog::delta::{self, DeltaState};
use crate::diff;
use crate::model::{ObjectId, Schema};
use crate::plan::{Phase, PlanOptions, Step};
use crate::shadow::{ScratchDb, Shadow};
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
    /// Why the proof rebuilt the current schema from scratch instead of reaching it from a
    /// copy of the desired database with the inverse plan (`None`: it did not rebuild).
    pub rebuilt: Option<String>,
}

/// The scratch database holding the current schema, where the forward plan starts.
struct Start {
    /// Kept until the proof ends (dropped with it).
    _db: ScratchDb,
    client: postgres::Client,
    /// The current schema as the shadow holds it.
    rebuilt: Schema,
    /// What the shadow holds differently from the current schema (excused by the proof).
    gap: Vec<diff::Change>,
    /// The last reading of the scratch database, for the next one to be a delta read.
    state: Option<DeltaState>,
}

/// Reads the scratch database (the part in scope): in full the first time, keeping what a
/// delta read needs, then as a delta of the previous reading (`catalog::delta`).
fn read(
    ctx: &super::Context,
    client: &mut postgres::Client,
    state: &mut Option<DeltaState>,
) -> Result<Schema, WorkflowError> {
    let full = if let Some(s) = state.as_mut() {
        delta::read_delta(client, s)?.0
    } else {
        let (schema, s) = delta::read_full(client)?;
        *state = Some(s);
        schema
    };
    Ok(ctx.scope.into_inside(full))
}

/// Proves `planned` on a scratch database holding `current`, reached from a copy of
/// `desired_db` (the loaded desired schema) when there is one; an error names what differs.
///
/// With a scope, the context objects are in every scratch database (the desired one was
/// loaded after them; a rebuild creates them first) and only the part in scope of each
/// reading is compared (`workflow::scope`).
pub fn prove(
    shadow: &Shadow,
    ctx: &super::Context,
    desired_db: Option<&ScratchDb>,
    current: &Schema,
    desired: &Schema,
    planned: &Planned,
    opts: &PlanOptions,
) -> Result<ProofReport, WorkflowError> {
    let mut report = ProofReport::default();
    let copied = match desired_db {
        None => Err("no loaded desired database was given".to_string()),
        Some(_) if planned.inverse.len() >= object_count(current) => Err(format!(
            "the inverse plan ({} steps) is not shorter than rebuilding the current schema \
             ({} objects)",
            planned.inverse.len(),
            object_count(current)
        )),
        Some(d) => from_desired(shadow, ctx, d, current, planned, opts)?,
    };
    let Start {
        _db,
        mut client,
        rebuilt,
        gap,
        mut state,
    } = match copied {
        Ok(start) => start,
        Err(why) => {
            report.rebuilt = Some(why);
            rebuild(shadow, ctx, current, opts)?
        }
    };
    if !gap.is_empty() {
        report.rebuild_problem = Some(describe(&gap));
    }
    run_steps(&mut client, &planned.forward, "applying the plan")?;
    let after = read(ctx, &mut client, &mut state)?;
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
    // Each reading is dropped as soon as it is compared: a proof holds the current, desired
    // and rebuilt schemas and at most one reading besides (issue 9's memory target), plus the
    // rows the delta reads keep (about one reading's worth).
    drop(after);
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
    let back = read(ctx, &mut client, &mut state)?;
    let left = diff::diff(&back, &rebuilt);
    drop(back);
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
        let back = read(ctx, &mut client, &mut state)?;
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

/// The current schema rebuilt from scratch on a fresh database: `plan(empty -> current)`.
fn rebuild(
    shadow: &Shadow,
    ctx: &super::Context,
    current: &Schema,
    opts: &PlanOptions,
) -> Result<Start, WorkflowError> {
    let db = shadow.scratch("proof")?;
    let mut client = db.connect()?;
    let empty = ctx.prepare(&mut client)?;
    run_steps(
        &mut client,
        &schema_statements(&empty, current, opts),
        "rebuilding the current schema in the shadow",
    )?;
    let mut state = None;
    let rebuilt = read(ctx, &mut client, &mut state)?;
    let gap = diff::diff(&rebuilt, current);
    Ok(Start {
        _db: db,
        client,
        rebuilt,
        gap,
        state,
    })
}

/// The current schema reached from a copy of the desired database by the inverse plan, then
/// repaired where the inverse left it different. `Ok(Err(why))` when that does not give the
/// current schema exactly (the caller rebuilds instead); errors of the shadow itself are
/// `Err`.
fn from_desired(
    shadow: &Shadow,
    ctx: &super::Context,
    desired_db: &ScratchDb,
    current: &Schema,
    planned: &Planned,
    opts: &PlanOptions,
) -> Result<Result<Start, String>, WorkflowError> {
    let db = match shadow.scratch_copy(desired_db, "proof") {
        Ok(db) => db,
        Err(e) => return Ok(Err(format!("copying the desired database failed: {e}"))),
    };
    let mut client = db.connect()?;
    if let Err(e) = run_steps(
        &mut client,
        &planned.inverse,
        "applying the inverse plan to the desired schema",
    ) {
        return Ok(Err(e.to_string()));
    }
    let mut state = None;
    let reached = read(ctx, &mut client, &mut state)?;
    let mut rebuilt = reached;
    let left = diff::diff(&rebuilt, current);
    if !left.is_empty() {
        // Only the objects that differ: the steps of `plan(reached -> current)`.
        let repair = schema_statements(&rebuilt, current, opts);
        if let Err(e) = run_steps(
            &mut client,
            &repair,
            "repairing what the inverse plan left different",
        ) {
            return Ok(Err(e.to_string()));
        }
        // The reading before the repair goes first: one reading at a time.
        drop(rebuilt);
        rebuilt = read(ctx, &mut client, &mut state)?;
        let gap = diff::diff(&rebuilt, current);
        if !gap.is_empty() {
            return Ok(Err(format!(
                "the inverse plan and its repair did not reach the current schema:\n{}",
                describe(&gap)
            )));
        }
    }
    Ok(Ok(Start {
        _db: db,
        client,
        rebuilt,
        gap: Vec::new(),
        state,
    }))
}

/// How many statements a rebuild of `s` takes, roughly: one per object, comment and grant.
fn object_count(s: &Schema) -> usize {
    s.schemas.len()
        + s.extensions.len()
        + s.collations.len()
        + s.types.len()
        + s.sequences.len()
        + s.tables.len()
        + s.indexes.len()
        + s.views.len()
        + s.functions.len()
        + s.triggers.len()
        + s.policies.len()
        + s.publications.len()
        + s.event_triggers.len()
        + s.comments.len()
        + s.grants.len()
        + s.default_privileges.len()
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
