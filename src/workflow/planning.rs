//! Planning both directions and proving the plans: [`plan_both`] (the forward plan and its
//! inverse, phased into `expand` and `contract`, framed by declared renames) and
//! [`plan_proven`] (plans and proves, with its fallbacks: the drops in `expand` when the
//! phased plan does not prove out, the user's own CHECK texts when PostgreSQL's do not). The
//! proof itself is `workflow::prove`'s.

use super::WorkflowError;
use super::{contract, original, prove, unmodeled, Context, PlanDiffs, ProofReport, Renames};
use crate::diff;
use crate::model::{ObjectId, Schema};
use crate::plan::{self, PlanOptions, Step};
use crate::shadow::{ScratchDb, Shadow};

/// A plan in both directions.
pub struct Planned {
    pub forward: Vec<Step>,
    pub inverse: Vec<Step>,
    /// Columns the inverse adds back without their `NOT NULL` and constraints it adds back
    /// `NOT VALID` or leaves out (see `contract::unrestorable`, `contract::relax`), named as in
    /// the current schema (before declared table renames): the proof expects them to differ
    /// from the current schema in that alone.
    pub unrestored: Vec<crate::model::ObjectId>,
    /// Whether the drops wait for `contract` ([`contract`]); false when the desired schema
    /// drops nothing or the phased plan did not prove out ([`plan_proven`]).
    pub contract_drops: bool,
}

/// Steps tagged with the object each is about, all in `phase`.
fn in_phase(steps: Vec<plan::Tagged>, phase: plan::Phase) -> Vec<plan::Tagged> {
    steps
        .into_iter()
        .map(|mut t| {
            t.step.phase = phase;
            t
        })
        .collect()
}

/// The steps from `from` to `to`, with the unmodeled objects of `live` they must carry over.
/// The diff is `diffs`' when it is one of its two, else made here.
fn part(
    diffs: &PlanDiffs,
    from: &Schema,
    to: &Schema,
    live: &Schema,
    opts: &PlanOptions,
) -> Vec<plan::Tagged> {
    let made;
    let changes = match diffs.of(from, to, opts.server_version) {
        Some(c) => c,
        None => {
            made = diff::diff_for(from, to, opts.server_version);
            &made
        }
    };
    let steps = plan::build_marked(changes, from, to, opts);
    unmodeled::carry_over(changes, steps, live, to, opts)
}

/// Plans `current -> desired` and the inverse `desired -> current`. Inverse steps that
/// re-create what a forward step destroyed say that the data does not come back.
///
/// What the desired schema drops waits for `contract` (see [`contract`]): the forward plan is
/// `current -> middle` (expand) then `middle -> desired` (contract), the inverse
/// `desired -> middle` (expand) then `middle -> current` (contract). With declared renames the
/// forward plan is framed by the renames' `expand` steps before and their `contract` steps
/// after: the rest is diffed from the current schema with the renames done. The inverse undoes
/// each phase: its `expand` steps undo the forward `contract` (the old names and the dropped
/// objects come back beside the new ones), its `contract` steps undo the forward `expand` (the
/// rest of the inverse, then the renames back). A rollback after the forward `expand` alone
/// therefore runs only the inverse's `contract` steps (`exec::preflight`). A plan without
/// contract steps keeps everything in `expand`, both ways. `contract_drops: false` plans the
/// drops in `expand` (the fallback of [`plan_proven`]).
pub fn plan_both(
    current: &Schema,
    desired: &Schema,
    renames: Option<&Renames>,
    opts: &PlanOptions,
    contract_drops: bool,
) -> Planned {
    let base = renames.map(|r| &r.current).unwrap_or(current);
    let diffs = PlanDiffs::new(base, desired, opts.server_version);
    plan_both_with(&diffs, current, desired, renames, opts, contract_drops)
}

/// [`plan_both`] with the diffs of `base -> desired` and back from `diffs` (made for the
/// schema the plan starts from: `current`, or the renames' `current`).
pub(crate) fn plan_both_with(
    diffs: &PlanDiffs,
    current: &Schema,
    desired: &Schema,
    renames: Option<&Renames>,
    opts: &PlanOptions,
    contract_drops: bool,
) -> Planned {
    use plan::Phase::{Contract, Expand};
    let base = renames.map(|r| &r.current).unwrap_or(current);
    // What the inverse cannot restore on a database with rows (dropped NOT NULL columns whose
    // values are gone, keys to dropped tables, constraints over those columns): it brings
    // them back relaxed, phased or not, and says so on the step that creates each.
    let lost = contract::unrestorable(base, desired);
    let middle = contract_drops
        .then(|| contract::middle(base, desired, &lost))
        .flatten();
    let unrestored: Vec<ObjectId> = lost.iter().map(|u| u.id.clone()).collect();
    // The inverse's end: the diffs' own `base` when nothing is lost (their cached diff, and no
    // copy of the whole schema: issue 9), else a copy relaxed as the inverse leaves it.
    let relaxed_base;
    let target = if lost.is_empty() {
        base
    } else {
        let mut copy = base.clone();
        contract::relax(&mut copy, &unrestored);
        relaxed_base = copy;
        &relaxed_base
    };
    let with_relax_notes = |steps: Vec<plan::Tagged>| -> Vec<plan::Tagged> {
        steps
            .into_iter()
            .map(|mut t| {
                if t.creates {
                    let notes = lost.iter().filter(|u| u.step == t.object);
                    t.step = t.step.clone().notes(notes.map(|u| u.note.clone()));
                }
                t
            })
            .collect()
    };
    let (forward, inverse) = match middle {
        None => (
            in_phase(part(diffs, base, desired, current, opts), Expand),
            in_phase(
                with_relax_notes(part(diffs, desired, target, current, opts)),
                if renames.is_some() { Contract } else { Expand },
            ),
        ),
        Some(mut m) => {
            let forward_expand = part(diffs, base, &m.schema, current, opts)
                .into_iter()
                .map(|mut t| {
                    let id = &t.object;
                    let notes = m.notes.iter().filter(|(o, _)| o == id);
                    let mut s = t.step.notes(notes.map(|(_, n)| n.clone()));
                    if m.relaxed
                        .iter()
                        .any(|(q, c)| *id == ObjectId::Column(q.clone(), c.as_str().into()))
                    {
                        s = s.note(
                            "NOT NULL is dropped in expand because the column is dropped in \
                             contract: the new application inserts without it",
                        );
                    }
                    t.step = s;
                    t
                })
                .collect();
            let mut forward = in_phase(forward_expand, Expand);
            forward.extend(in_phase(
                part(diffs, &m.schema, desired, current, opts),
                Contract,
            ));
            // The inverse sees the middle like the desired schema: sizes unknown. Cleared in
            // place once the forward plan is made, not on a copy (a second whole schema at
            // the peak of a plan that drops something, 37 MiB at 5,000 tables: issue 9).
            m.schema.sizes.clear();
            let back_middle = &m.schema;
            let mut inverse = in_phase(
                with_relax_notes(part(diffs, desired, back_middle, current, opts)),
                Expand,
            );
            inverse.extend(in_phase(
                with_relax_notes(part(diffs, back_middle, target, current, opts)),
                Contract,
            ));
            (forward, inverse)
        }
    };
    // A VIRTUAL generated column (PostgreSQL 18) stores nothing: its forward drop keeps the
    // conservative `data-loss` (`kinds::column::drop`), but adding it back loses nothing,
    // so its inverse step gets no "not restored" note.
    let stores_nothing = |id: &ObjectId| match id {
        ObjectId::Column(q, c) => base
            .tables
            .get(q)
            .and_then(|t| t.column(c))
            .is_some_and(|col| col.generated_virtual),
        _ => false,
    };
    let data_lost: std::collections::BTreeSet<&ObjectId> = forward
        .iter()
        .filter(|t| t.step.hazards.contains(&plan::Hazard::DataLoss) && !stores_nothing(&t.object))
        .map(|t| &t.object)
        .collect();
    // On the step that re-creates the object only, not on its comment or grants.
    let inverse: Vec<Step> = inverse
        .iter()
        .map(|t| {
            if t.creates
                && data_lost.contains(&t.object)
                && !t.step.hazards.contains(&plan::Hazard::DataLoss)
            {
                t.step.clone().note(
                    "re-creates the structure only: data the forward plan dropped is not restored",
                )
            } else {
                t.step.clone()
            }
        })
        .collect();
    // A dropped column of a NOT NULL domain cannot come back on a table with rows: the
    // reviewer reads it on the drop.
    let domain_lost = contract::unrestorable_domain_columns(base, desired);
    let forward: Vec<Step> = forward
        .into_iter()
        .map(|t| {
            if domain_lost.contains(&t.object) && t.step.hazards.contains(&plan::Hazard::DataLoss) {
                t.step.note(
                    "its type is a NOT NULL domain without a default: the inverse cannot add it \
                     back while the table has rows (each would be NULL), so a rollback after \
                     this step fails there",
                )
            } else {
                t.step
            }
        })
        .collect();
    let contract_drops = forward.iter().any(|s| s.phase == Contract);
    let (forward, inverse) = match renames {
        None => (forward, inverse),
        Some(r) => {
            let changes: Vec<diff::Change> =
                r.list.iter().cloned().map(diff::Change::Rename).collect();
            let undo: Vec<diff::Change> = r
                .list
                .iter()
                .rev()
                .cloned()
                .map(diff::Change::UndoRename)
                .collect();
            // A column renamed on a table renamed by the same plan: its steps run on the new
            // table name, whose live size (what the online forms go by) is the old one's.
            let sized;
            let renames_current = if r.list.iter().any(|x| {
                matches!(x, diff::Rename::Column { table, table_before, .. } if table != table_before)
            }) {
                let mut s = current.clone();
                for (q, bytes) in &r.current.sizes {
                    s.sizes.entry(q.clone()).or_insert(*bytes);
                }
                sized = s;
                &sized
            } else {
                current
            };
            let (expand, contract) = plan::build_renames(&changes, renames_current, desired, opts);
            let (undo_expand, undo_contract) = plan::build_renames(&undo, desired, current, opts);
            let forward = expand.into_iter().chain(forward).chain(contract).collect();
            let inverse = undo_expand
                .into_iter()
                .chain(inverse)
                .chain(undo_contract)
                .collect();
            (forward, inverse)
        }
    };
    // A plan without contract steps keeps everything in `expand`, both ways.
    let phased = forward.iter().any(|s| s.phase == Contract);
    let flat = |steps: Vec<Step>| -> Vec<Step> {
        steps
            .into_iter()
            .map(|mut s| {
                if !phased {
                    s.phase = Expand;
                }
                s
            })
            .collect()
    };
    // `unrestored` names the tables as the middle does, after the declared table renames; the
    // inverse renames them back, so its end (the proof, the inverse's `to` fingerprint) has
    // them under their current names.
    let unrestored = unrestored
        .into_iter()
        .map(|id| {
            let Some(r) = renames else {
                return id;
            };
            let back = |q: crate::model::QName| {
                r.list
                    .iter()
                    .find_map(|x| match x {
                        diff::Rename::Table { from, to, .. } if *to == q => Some(from.clone()),
                        _ => None,
                    })
                    .unwrap_or(q)
            };
            match id {
                ObjectId::Column(q, c) => ObjectId::Column(back(q), c),
                ObjectId::Constraint(q, n) => ObjectId::Constraint(back(q), n),
                id => id,
            }
        })
        .collect();
    Planned {
        forward: flat(forward),
        inverse: flat(inverse),
        unrestored,
        contract_drops,
    }
}

/// Plans both directions and proves them. When the only objects that fail the proof are CHECK
/// constraints PostgreSQL cannot print back faithfully, plans once more with the user's own
/// text for them (see `original`) and proves that.
///
/// A plan whose drops wait for `contract` goes through an intermediate schema PostgreSQL may
/// refuse in a case [`contract::middle`] does not foresee (a dropped view reading a column
/// whose type changes, ...). When that plan fails its proof, or its inverse does and the
/// plan with the drops in `expand` has a proven inverse, the latter is used and
/// [`ProofReport::drops_in_expand`] says why.
///
/// `diffs` holds the diffs of the schema the plan starts from (`current`, or the renames'
/// `current`) to `desired` and back, shared with the caller's checks: every plan made here
/// takes them from there (each is made once, [`PlanDiffs`]).
// The scope's context and the loaded desired database joined the proof's inputs together: a
// `ProofInputs` value would carry them (left for the issue 9 follow-up).
#[allow(clippy::too_many_arguments)]
pub fn plan_proven(
    diffs: &PlanDiffs,
    shadow: &Shadow,
    ctx: &Context,
    desired_db: Option<&ScratchDb>,
    current: &Schema,
    desired: &Schema,
    checks: &original::CheckSources,
    renames: Option<&Renames>,
    opts: &PlanOptions,
) -> Result<(Planned, ProofReport), WorkflowError> {
    let phased = plan_proven_with(
        diffs, shadow, ctx, desired_db, current, desired, checks, renames, opts, true,
    );
    let why = match &phased {
        Ok((p, _)) if !p.contract_drops => return phased,
        Ok((_, report)) => match &report.inverse_problem {
            None => return phased,
            Some(p) => format!("its inverse did not prove out: {p}"),
        },
        Err(WorkflowError::Proof(m)) | Err(WorkflowError::ProofMismatch { message: m, .. }) => {
            format!("it did not prove out: {m}")
        }
        Err(_) => return phased,
    };
    match plan_proven_with(
        diffs, shadow, ctx, desired_db, current, desired, checks, renames, opts, false,
    ) {
        Ok((planned, mut report)) if phased.is_err() || report.inverse_problem.is_none() => {
            report.drops_in_expand = Some(format!(
                "the plan with the drops in the contract phase was not used, {why}"
            ));
            Ok((planned, report))
        }
        _ => phased,
    }
}

#[allow(clippy::too_many_arguments)]
fn plan_proven_with(
    diffs: &PlanDiffs,
    shadow: &Shadow,
    ctx: &Context,
    desired_db: Option<&ScratchDb>,
    current: &Schema,
    desired: &Schema,
    checks: &original::CheckSources,
    renames: Option<&Renames>,
    opts: &PlanOptions,
    contract_drops: bool,
) -> Result<(Planned, ProofReport), WorkflowError> {
    let planned = plan_both_with(diffs, current, desired, renames, opts, contract_drops);
    match prove(shadow, ctx, desired_db, current, desired, &planned, opts) {
        Ok(report) => Ok((planned, report)),
        Err(WorkflowError::ProofMismatch { objects, message }) => {
            let texts = original::check_texts(checks);
            let mut opts = opts.clone();
            for id in &objects {
                let crate::model::ObjectId::Constraint(t, n) = id else {
                    return Err(WorkflowError::ProofMismatch { objects, message });
                };
                match texts.get(&(t.clone(), n.to_string())) {
                    Some(text) => {
                        opts.check_texts
                            .insert((t.clone(), n.to_string()), text.clone());
                    }
                    None => return Err(WorkflowError::ProofMismatch { objects, message }),
                }
            }
            let planned = plan_both_with(diffs, current, desired, renames, &opts, contract_drops);
            let report = prove(shadow, ctx, desired_db, current, desired, &planned, &opts)?;
            Ok((planned, report))
        }
        Err(e) => Err(e),
    }
}
