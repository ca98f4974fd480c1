//! Objects schemaplan does not model never vanish with a plan.
//!
//! PostgreSQL drops some of them silently with a modeled object they hang on (a shell
//! operator with its schema, a transform with its type or function). (Rules, extended statistics,
//! publications and their members are modeled: `diff/rules.rs`, `diff/statistics.rs`,
//! `diff/publications.rs`; `docs/kinds.md` lists every kind and its status.)
//! The catalog lists what each depends on
//! (`Schema::unmodeled_deps`, from `pg_depend`). Before planning, [`check`] refuses a plan
//! that would drop one it cannot create again, naming it; [`carry_over`] adds the steps that
//! create the others again right after the last step about what they depend on, from the
//! definition PostgreSQL prints for them (`UnmodeledDeps::definition`). No unmodeled kind has
//! one today: rules and statistics objects, the two that had, are modeled, so every such
//! plan is refused by `check`; the mechanism stays for a kind with a printed definition.

use super::WorkflowError;
use crate::diff::{Change, ColumnChange};
use crate::model::{ObjectId, Schema, UnmodeledDeps};
use crate::plan::{self, LockLevel, LockTimeout, PlanOptions, StatementTimeout, Step, TxMode};
use std::collections::BTreeSet;

/// The objects a plan drops, created again or not: dropped objects, the old type of a swap,
/// and retyped columns (the online form drops the old column). Also what
/// `workflow::scope::check_dependents` judges out-of-scope dependents by.
pub(super) fn dropped(changes: &[Change]) -> BTreeSet<ObjectId> {
    use Change::*;
    changes
        .iter()
        .filter_map(|c| match c {
            DropSchema(_)
            | DropExtension(_)
            | DropCollation(_)
            | DropType(_)
            | DropSequence(_)
            | DropTable(_)
            | DropColumn { .. }
            | DropConstraint { .. }
            | DropIndex(_)
            | DropView(_)
            | DropFunction(_)
            | DropTrigger(_)
            | DropRule(_)
            | DropStatistics(_)
            | DropPolicy(_)
            | DropForeignDataWrapper(_)
            | DropServer(_)
            | DropUserMapping(_)
            | DropCast(_)
            | DropAccessMethod(_)
            | DropConversion(_)
            | DropLanguage(_)
            | DropTsDictionary(_)
            | DropTsConfiguration(_)
            | DropOperator(_)
            | DropOperatorFamily(_)
            | DropOperatorClass(_)
            | SwapType { .. }
            | SwapCollation { .. } => Some(c.object()),
            AlterColumn {
                table, from, kinds, ..
            } if kinds.contains(&ColumnChange::Type) => {
                Some(ObjectId::Column(table.clone(), from.name.clone()))
            }
            _ => None,
        })
        .collect()
}

/// What of `deps` the plan drops (itself or its table).
fn hit<'a>(deps: &'a UnmodeledDeps, dropped: &BTreeSet<ObjectId>) -> Vec<&'a ObjectId> {
    deps.depends_on
        .iter()
        .filter(|id| dropped.contains(id) || id.parent().is_some_and(|p| dropped.contains(&p)))
        .collect()
}

/// The statement that creates the object again whatever the plan left of it, when there is
/// one and everything it depends on exists after the plan.
fn recreate(deps: &UnmodeledDeps, after: &Schema) -> Option<String> {
    if !deps.depends_on.iter().all(|id| after.contains(id)) {
        return None;
    }
    let def = deps.definition.as_deref()?.trim_end().trim_end_matches(';');
    Some(format!("{def};"))
}

/// Refuses a plan (`changes` from `current` to `desired`) that would drop an unmodeled object
/// it cannot create again: one line per object, what it depends on and what to do.
pub fn check(changes: &[Change], current: &Schema, desired: &Schema) -> Result<(), WorkflowError> {
    let dropped = dropped(changes);
    let mut lines = Vec::new();
    for (u, deps) in &current.unmodeled_deps {
        let hits = hit(deps, &dropped);
        if hits.is_empty() || recreate(deps, desired).is_some() {
            continue;
        }
        let what: Vec<String> = hits
            .iter()
            .map(|id| {
                let gone = if desired.contains(id) {
                    "drops and creates again"
                } else {
                    "drops"
                };
                format!("{id}, which the plan {gone}")
            })
            .collect();
        lines.push(format!(
            "{} {} is not modeled by schemaplan and would be dropped with {}",
            u.kind,
            u.identity,
            what.join(", ")
        ));
    }
    if lines.is_empty() {
        return Ok(());
    }
    Err(WorkflowError::Unmodeled(format!(
        "the plan would drop objects schemaplan does not model and cannot create again:\n{}\n\
         Drop them by hand first (and create them again after the apply), or change the \
         schema so that what they depend on stays.",
        lines
            .iter()
            .map(|l| format!("  - {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    )))
}

/// Inserts, after the last step about an object that each carried-over unmodeled object
/// depends on, the step creating it again, in that step's phase (the same transaction when
/// both are transactional and adjacent, which is where it lands). `steps` are tagged with the
/// object each is about (`plan::build_marked`); `unmodeled` is the live database's.
pub fn carry_over(
    changes: &[Change],
    mut steps: Vec<plan::Tagged>,
    unmodeled: &Schema,
    after: &Schema,
    opts: &PlanOptions,
) -> Vec<plan::Tagged> {
    let dropped = dropped(changes);
    for (u, deps) in &unmodeled.unmodeled_deps {
        let hits = hit(deps, &dropped);
        if hits.is_empty() {
            continue;
        }
        let Some(sql) = recreate(deps, after) else {
            continue; // refused by `check` (forward), or left as it is (inverse)
        };
        let about = |id: &ObjectId| {
            hits.iter().any(|h| {
                *h == id || h.parent().as_ref() == Some(id) || id.parent().as_ref() == Some(*h)
            })
        };
        let Some(at) = steps.iter().rposition(|t| about(&t.object)) else {
            continue;
        };
        let phase = steps[at].step.phase;
        let relation = deps.depends_on.iter().find_map(|id| match id {
            ObjectId::Table(q) | ObjectId::View(q) | ObjectId::Column(q, _) => Some(q.clone()),
            _ => None,
        });
        // The strongest lock a catalog update of the relation may take.
        let lock = LockLevel::AccessExclusive;
        let step = Step {
            summary: format!(
                "carry over {} {} (not modeled by schemaplan)",
                u.kind, u.identity
            ),
            sql,
            phase,
            transaction: TxMode::Transaction,
            lock,
            lock_target: relation.map(|q| q.to_string()),
            lock_timeout: Some(LockTimeout(opts.lock_timeout)),
            statement_timeout: Some(StatementTimeout(opts.statement_timeout)),
            hazards: Vec::new(),
            notes: vec![format!(
                "the plan drops what it depends on ({}); created again from its definition",
                hits.iter()
                    .map(|h| h.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )],
        };
        let object = steps[at].object.clone();
        steps.insert(
            at + 1,
            plan::Tagged {
                object,
                creates: false,
                step,
            },
        );
    }
    steps
}
