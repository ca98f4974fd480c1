//! `plan.sql` / `inverse.sql`: the header, a free-form overview of how the steps are grouped
//! into transactions, then each step (step line, summary, notes, SQL).

use super::list_or_none;
use crate::plan::step::pg_duration;
use crate::plan::{Phase, Plan, Step, TxMode};
use crate::planfile::{escape_comment, units};
use std::fmt::Write;

/// Renders `plan` in the plan-file format. Byte-identical output for equal plans.
pub fn plan_sql(plan: &Plan) -> String {
    let mut out = String::new();
    header(&mut out, plan);
    for (i, step) in plan.steps.iter().enumerate() {
        out.push('\n');
        render_step(&mut out, i + 1, step);
    }
    out
}

fn header(out: &mut String, plan: &Plan) {
    let phases = plan.phases();
    let hazards = plan.hazards();
    out.push_str("-- schemaplan plan\n");
    let _ = writeln!(out, "-- version: {}", plan.version);
    let _ = writeln!(out, "-- id: {}", plan.id);
    let _ = writeln!(out, "-- direction: {}", plan.direction.as_str());
    let _ = writeln!(out, "-- from: {}", plan.from);
    let _ = writeln!(out, "-- to: {}", plan.to);
    let _ = writeln!(out, "-- phases: {}", list_or_none(&phases, |p| p.as_str()));
    let _ = writeln!(
        out,
        "-- hazards: {}",
        list_or_none(&hazards, |h| h.as_str())
    );
    let _ = writeln!(out, "-- steps: {}", plan.steps.len());
    if let Some(why) = &plan.unproven {
        let _ = writeln!(out, "-- proven: no ({})", escape_comment(why));
    }
    if !plan.scope.is_everything() {
        let _ = writeln!(out, "-- scope: {}", escape_comment(&plan.scope.to_string()));
    }
    out.push_str("--\n");
    overview(out, plan);
}

/// One line per phase: which steps share a transaction and which run alone.
fn overview(out: &mut String, plan: &Plan) {
    if plan.steps.is_empty() {
        out.push_str("-- no changes\n");
        return;
    }
    for phase in plan.phases() {
        let numbers: Vec<usize> = (1..=plan.steps.len())
            .filter(|&n| plan.steps[n - 1].phase == phase)
            .collect();
        let groups: Vec<String> = units(&plan.steps, &numbers)
            .iter()
            .map(|u| match (u.mode, u.steps.len()) {
                (TxMode::Alone, _) => format!("{} (alone, no transaction)", u.range()),
                (TxMode::Batched, _) => {
                    format!("{} (batched, one transaction per batch)", u.range())
                }
                (TxMode::Transaction, 1) => format!("{} (one transaction)", u.range()),
                (TxMode::Transaction, _) => {
                    format!("{} (together in one transaction)", u.range())
                }
            })
            .collect();
        let _ = writeln!(
            out,
            "-- {}: {} step{}, run as {}{}",
            phase.as_str(),
            numbers.len(),
            plural(numbers.len()),
            groups.join(", "),
            phase_hint(phase)
        );
    }
}

fn phase_hint(phase: Phase) -> &'static str {
    match phase {
        Phase::Expand => "",
        Phase::Contract => "; only after the application is deployed",
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn render_step(out: &mut String, number: usize, step: &Step) {
    let _ = writeln!(out, "{}", step_line(number, step));
    out.push_str(&comment_line(&step.summary));
    for note in &step.notes {
        out.push_str(&comment_line(&format!("note: {note}")));
    }
    out.push_str(&step_sql(&step.sql));
    out.push('\n');
}

/// `-- step N | phase: ... | transaction: ... | lock: ... | lock_timeout: ... | ...`
pub(crate) fn step_line(number: usize, step: &Step) -> String {
    let lock = match &step.lock_target {
        Some(target) => format!("{} on {}", step.lock.as_str(), escape_comment(target)),
        None => step.lock.as_str().to_string(),
    };
    format!(
        "-- step {number} | phase: {} | transaction: {} | lock: {lock} | lock_timeout: {} | statement_timeout: {} | hazards: {}",
        step.phase.as_str(),
        step.transaction.as_str(),
        duration_or_none(step.lock_timeout.map(|t| t.0)),
        duration_or_none(step.statement_timeout.map(|t| t.0)),
        list_or_none(&step.hazards, |h| h.as_str()),
    )
}

fn duration_or_none(d: Option<std::time::Duration>) -> String {
    d.map_or_else(|| "none".to_string(), pg_duration)
}

fn comment_line(text: &str) -> String {
    if text.is_empty() {
        "--\n".to_string()
    } else {
        format!("-- {}\n", escape_comment(text))
    }
}

/// The SQL as the plan file stores it: no leading blank lines, no trailing whitespace.
fn step_sql(sql: &str) -> String {
    let lines: Vec<&str> = sql.lines().skip_while(|l| l.trim().is_empty()).collect();
    lines.join("\n").trim_end().to_string()
}
