//! The short human summary `plan` prints on stdout: counts per phase, hazards, one line per step.

use super::list_or_none;
use crate::plan::{Phase, Plan};
use std::fmt::Write;

/// E.g.
/// ```text
/// plan 20261121T101500Z_add_users (forward): 3 steps — expand 2, contract 1
/// hazards: data-loss, index-build
///   1  expand    create table public.users
///   2  expand    create index public.users_email_idx  [index-build, non-transactional]
/// ```
pub fn summary(plan: &Plan) -> String {
    let mut out = String::new();
    if plan.steps.is_empty() {
        let _ = writeln!(
            out,
            "plan {} ({}): no changes",
            plan.id,
            plan.direction.as_str()
        );
        return out;
    }
    let counts: Vec<String> = plan
        .phases()
        .iter()
        .map(|p| format!("{} {}", p.as_str(), count(plan, *p)))
        .collect();
    let _ = writeln!(
        out,
        "plan {} ({}): {} step{} — {}",
        plan.id,
        plan.direction.as_str(),
        plan.steps.len(),
        if plan.steps.len() == 1 { "" } else { "s" },
        counts.join(", ")
    );
    let _ = writeln!(
        out,
        "hazards: {}",
        list_or_none(&plan.hazards(), |h| h.as_str())
    );
    let width = plan.steps.len().to_string().len();
    for (i, step) in plan.steps.iter().enumerate() {
        let _ = write!(
            out,
            "  {:>width$}  {:<8}  {}",
            i + 1,
            step.phase.as_str(),
            step.summary
        );
        if !step.hazards.is_empty() {
            let _ = write!(out, "  [{}]", list_or_none(&step.hazards, |h| h.as_str()));
        }
        out.push('\n');
    }
    out
}

fn count(plan: &Plan, phase: Phase) -> usize {
    plan.steps.iter().filter(|s| s.phase == phase).count()
}
