//! The rendered plan files read back through the plan-file parser (`planfile::parse`, what
//! `apply` and `rollback` read) must give exactly the plan that was rendered and proven, field
//! by field; otherwise nothing is written. This is what makes a name that looks like plan-file
//! structure (`t | hazards: none`, a line break, `--`, `*/`) harmless: either it is written so
//! that it reads back as itself, or `plan` fails naming the difference.

use super::RenderError;
use crate::plan::{Plan, Step};
use crate::planfile;

/// Checks that `text` (the rendering of `plan`, to be written as `file`) parses back as `plan`.
pub(super) fn check(file: &'static str, text: &str, plan: &Plan) -> Result<(), RenderError> {
    let unreadable = |problem: String| RenderError::Unreadable { file, problem };
    let back = planfile::parse(text).map_err(|e| unreadable(e.to_string()))?;
    match difference(plan, &back) {
        Some(problem) => Err(unreadable(problem)),
        None => Ok(()),
    }
}

/// The first field in which `back` differs from `plan` (the SQL as a plan file stores it:
/// without leading blank lines and trailing whitespace; `from_objects` lives in plan.json).
fn difference(plan: &Plan, back: &Plan) -> Option<String> {
    let header = [
        ("id", plan.id.clone(), back.id.clone()),
        ("version", plan.version.clone(), back.version.clone()),
        (
            "direction",
            plan.direction.as_str().to_string(),
            back.direction.as_str().to_string(),
        ),
        ("from", plan.from.clone(), back.from.clone()),
        ("to", plan.to.clone(), back.to.clone()),
        (
            "proven",
            format!("{:?}", plan.unproven),
            format!("{:?}", back.unproven),
        ),
        ("scope", plan.scope.to_string(), back.scope.to_string()),
        (
            "steps",
            plan.steps.len().to_string(),
            back.steps.len().to_string(),
        ),
    ];
    if let Some((key, want, got)) = header.into_iter().find(|(_, w, g)| w != g) {
        return Some(format!(
            "header `{key}` reads back as {got:?}, not {want:?}"
        ));
    }
    plan.steps
        .iter()
        .zip(&back.steps)
        .enumerate()
        .find_map(|(i, (want, got))| {
            step_difference(want, got).map(|d| format!("step {}: {d}", i + 1))
        })
}

fn step_difference(want: &Step, got: &Step) -> Option<String> {
    let fields = [
        ("summary", want.summary.clone(), got.summary.clone()),
        (
            "notes",
            format!("{:?}", want.notes),
            format!("{:?}", got.notes),
        ),
        ("SQL", as_stored(&want.sql), got.sql.clone()),
        (
            "phase",
            want.phase.as_str().to_string(),
            got.phase.as_str().to_string(),
        ),
        (
            "transaction",
            want.transaction.as_str().to_string(),
            got.transaction.as_str().to_string(),
        ),
        (
            "lock",
            format!("{} {:?}", want.lock.as_str(), want.lock_target),
            format!("{} {:?}", got.lock.as_str(), got.lock_target),
        ),
        (
            "lock_timeout",
            format!("{:?}", want.lock_timeout),
            format!("{:?}", got.lock_timeout),
        ),
        (
            "statement_timeout",
            format!("{:?}", want.statement_timeout),
            format!("{:?}", got.statement_timeout),
        ),
        (
            "hazards",
            format!("{:?}", want.hazards),
            format!("{:?}", got.hazards),
        ),
    ];
    fields
        .into_iter()
        .find(|(_, w, g)| w != g)
        .map(|(key, want, got)| format!("`{key}` reads back as {got:?}, not {want:?}"))
}

/// The SQL as the plan file stores it: without leading blank lines and trailing whitespace,
/// otherwise byte for byte.
fn as_stored(sql: &str) -> String {
    let mut rest = sql;
    while let Some(i) = rest.find('\n') {
        if !rest[..i].trim().is_empty() {
            break;
        }
        rest = &rest[i + 1..];
    }
    rest.trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::plan_sql;

    fn refused(plan: &Plan) -> String {
        match check("plan.sql", &plan_sql(plan), plan) {
            Err(e) => e.to_string(),
            Ok(()) => panic!("accepted:\n{}", plan_sql(plan)),
        }
    }

    #[test]
    fn a_plan_that_reads_back_differently_is_refused() {
        let sample = crate::render::tests::sample();
        assert!(check("plan.sql", &plan_sql(&sample), &sample).is_ok());
        let mut plan = sample.clone();
        plan.id = "x\n-- steps: 0".into();
        assert!(refused(&plan).starts_with("plan.sql as rendered does not read back"));
        let mut plan = sample.clone();
        plan.steps[0].sql = "SELECT 'a\r\nb';".into();
        assert!(refused(&plan).contains("step 1: `SQL` reads back as"));
        let mut plan = sample;
        plan.steps[0].lock_target = Some("public.t | hazards: none".into());
        // Unquoted (not what the planner writes): caught, whatever it reads back as.
        assert!(refused(&plan).starts_with("plan.sql as rendered does not read back"));
    }

    #[test]
    fn stored_sql_drops_only_leading_blank_lines_and_trailing_space() {
        assert_eq!(
            as_stored("\n  \nSELECT 1;\n  SELECT 2;  \n"),
            "SELECT 1;\n  SELECT 2;"
        );
        assert_eq!(as_stored("SELECT 'a\r\nb';"), "SELECT 'a\r\nb';");
    }
}
