//! `plan.json`: the plan and its inverse for machines (field list in `docs/plan-format.md`).
//! Names are the plan-file names (`expand`, `ACCESS EXCLUSIVE`, `data-loss`); timeouts are
//! milliseconds or null.

use crate::plan::{Plan, Step};
use serde::Serialize;

#[derive(Serialize)]
struct PlanJson<'a> {
    version: &'a str,
    id: &'a str,
    direction: &'static str,
    from: &'a str,
    to: &'a str,
    phases: Vec<&'static str>,
    hazards: Vec<&'static str>,
    steps: Vec<StepJson<'a>>,
    /// Digest of each object of the `from` schema: what a refused `apply` compares the live
    /// database with to say which objects differ.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    from_objects: &'a std::collections::BTreeMap<String, String>,
    /// Why the plan was not proven (`proven: no (...)` in the plan file); absent when it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    unproven: Option<&'a str>,
    /// The scope the plan was made with (`include` and `exclude` patterns); absent when
    /// everything was in scope.
    #[serde(skip_serializing_if = "everything")]
    scope: &'a crate::catalog::Scope,
    #[serde(skip_serializing_if = "Option::is_none")]
    inverse: Option<Box<PlanJson<'a>>>,
}

#[derive(Serialize)]
struct StepJson<'a> {
    number: usize,
    summary: &'a str,
    notes: &'a [String],
    /// Columns (`schema.table.column`) the step leaves last in their table (a shadow column
    /// swapped in, a renamed column added anew): `SELECT *`, INSERT and COPY without a column
    /// list see them in another position. Absent when none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    moves_to_end: Vec<String>,
    sql: &'a str,
    phase: &'static str,
    /// `yes`, `no` or `batched` (as in plan.sql).
    transaction: &'static str,
    lock: &'static str,
    lock_target: Option<&'a str>,
    /// Locks on other relations than `lock_target` (the table a foreign key references), as
    /// `{"lock", "target"}`. Absent when none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    also_locks: Vec<AlsoLockJson>,
    lock_timeout_ms: Option<u128>,
    statement_timeout_ms: Option<u128>,
    hazards: Vec<&'static str>,
}

#[derive(Serialize)]
struct AlsoLockJson {
    lock: &'static str,
    target: String,
}

/// `plan` with `inverse` nested under `"inverse"`, pretty-printed, ending in a newline.
pub fn plan_json(plan: &Plan, inverse: &Plan) -> String {
    let mut doc = plan_doc(plan);
    doc.inverse = Some(Box::new(plan_doc(inverse)));
    let mut text = serde_json::to_string_pretty(&doc).expect("plan JSON is always serializable");
    text.push('\n');
    text
}

fn everything(s: &&crate::catalog::Scope) -> bool {
    s.is_everything()
}

fn plan_doc(plan: &Plan) -> PlanJson<'_> {
    PlanJson {
        version: &plan.version,
        id: &plan.id,
        direction: plan.direction.as_str(),
        from: &plan.from,
        to: &plan.to,
        from_objects: &plan.from_objects,
        unproven: plan.unproven.as_deref(),
        scope: &plan.scope,
        phases: plan.phases().iter().map(|p| p.as_str()).collect(),
        hazards: plan.hazards().iter().map(|h| h.as_str()).collect(),
        steps: plan
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| step_doc(i + 1, s))
            .collect(),
        inverse: None,
    }
}

fn step_doc(number: usize, step: &Step) -> StepJson<'_> {
    StepJson {
        number,
        summary: &step.summary,
        notes: &step.notes,
        moves_to_end: step.columns_moved_to_end(),
        sql: &step.sql,
        phase: step.phase.as_str(),
        transaction: step.transaction.as_str(),
        lock: step.lock.as_str(),
        lock_target: step.lock_target.as_deref(),
        also_locks: step
            .also_locks()
            .into_iter()
            .map(|(l, target)| AlsoLockJson {
                lock: l.as_str(),
                target,
            })
            .collect(),
        lock_timeout_ms: step.lock_timeout.map(|t| t.0.as_millis()),
        statement_timeout_ms: step.statement_timeout.map(|t| t.0.as_millis()),
        hazards: step.hazards.iter().map(|h| h.as_str()).collect(),
    }
}
