//! The Markdown review summary of a plan (`plan --format markdown`), to post as a pull-request
//! comment: what a reviewer must see first (hazards, locks that block traffic, the phases and
//! when each runs), then every step grouped by phase with its notes (the online strategies say
//! themselves there), the inverse in brief, and both plan files folded away.
//!
//! Everything taken from the schema (names in summaries and notes, SQL) is escaped for the
//! place it goes: table cells through [`cell`], SQL inside a fence longer than any run of
//! backticks it contains ([`fenced`]), so a crafted name cannot break the comment's layout or
//! inject markup.

use super::plan_sql;
use crate::plan::step::pg_duration;
use crate::plan::Hazard;
use crate::plan::{Phase, Plan, Step};
use std::fmt::Write;

/// The whole comment for a forward plan and its inverse.
pub fn markdown(plan: &Plan, inverse: &Plan) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "### schemaplan plan `{}`\n", code(&plan.id));
    if plan.steps.is_empty() {
        out.push_str("No changes: the database already matches the schema files.\n");
        return out;
    }
    let phases: Vec<String> = plan
        .phases()
        .iter()
        .map(|p| format!("{} {}", p.as_str(), steps_in(plan, *p).len()))
        .collect();
    let _ = writeln!(
        out,
        "**{} step{}** ({}) · **hazards:** {}",
        plan.steps.len(),
        if plan.steps.len() == 1 { "" } else { "s" },
        phases.join(", "),
        hazard_list(&plan.hazards())
    );
    if let Some(why) = &plan.unproven {
        let _ = writeln!(out, "\n> **Not proven:** {}", cell(why));
    }
    if !plan.hazards().is_empty() {
        let names: Vec<&str> = plan.hazards().iter().map(|h| h.as_str()).collect();
        let _ = writeln!(
            out,
            "\n> Applying needs `--allow-hazards {}`: review the steps that carry them.",
            names.join(",")
        );
    }
    blocking_locks(&mut out, plan);
    for phase in plan.phases() {
        let when = match phase {
            Phase::Expand => "runs first; safe while the current application version runs",
            Phase::Contract => {
                "runs after the new application version is deployed: `apply --phase contract`"
            }
        };
        let _ = writeln!(out, "\n#### {} ({when})\n", phase.as_str());
        step_table(&mut out, plan, phase);
    }
    let _ = writeln!(
        out,
        "\n#### Rollback (`inverse.sql`): {} step{} · hazards: {}",
        inverse.steps.len(),
        if inverse.steps.len() == 1 { "" } else { "s" },
        hazard_list(&inverse.hazards())
    );
    if let Some(why) = &inverse.unproven {
        let _ = writeln!(
            out,
            "\n> **The inverse is not proven:** {} (`rollback` needs `--allow-unproven`)",
            cell(why)
        );
    }
    out.push('\n');
    for (i, s) in inverse.steps.iter().enumerate() {
        let _ = writeln!(out, "{}. {}{}", i + 1, cell(&s.summary), hazard_tag(s));
    }
    for (name, p) in [("plan.sql", plan), ("inverse.sql", inverse)] {
        let _ = writeln!(
            out,
            "\n<details><summary>{name}</summary>\n\n{}\n</details>",
            fenced("sql", &plan_sql(p))
        );
    }
    out
}

/// The locks that queue reads or writes while they are waited for or held: each step's own
/// (on its `lock_target`) and those it takes on other relations (`Step::also_locks`: the
/// table a foreign key references), one row per relation.
fn blocking_locks(out: &mut String, plan: &Plan) {
    let mut rows: Vec<(usize, &str, String, &Step)> = Vec::new();
    for (n, s) in numbered(plan) {
        if s.lock.blocks_traffic() {
            rows.push((
                n,
                s.lock.as_str(),
                s.lock_target.clone().unwrap_or_default(),
                s,
            ));
        }
        for (level, target) in s.also_locks() {
            if level.blocks_traffic() {
                rows.push((n, level.as_str(), target, s));
            }
        }
    }
    if rows.is_empty() {
        out.push_str("\nNo step takes a lock that blocks reads or writes.\n");
        return;
    }
    out.push_str(
        "\n**Locks that block traffic** (each waits at most its lock_timeout, then retries):\n\n",
    );
    out.push_str("| step | lock | on | lock_timeout |\n|---:|---|---|---|\n");
    for (n, lock, target, s) in rows {
        let _ = writeln!(
            out,
            "| {n} | {lock} | {} | {} |",
            cell(&target),
            s.lock_timeout
                .map(|t| pg_duration(t.0))
                .unwrap_or_else(|| "none".to_string())
        );
    }
}

/// One row per step of `phase`, its notes below the table.
fn step_table(out: &mut String, plan: &Plan, phase: Phase) {
    out.push_str("| # | step | lock | transaction | hazards |\n|---:|---|---|---|---|\n");
    let steps: Vec<(usize, &Step)> = numbered(plan).filter(|(_, s)| s.phase == phase).collect();
    for (n, s) in &steps {
        let _ = writeln!(
            out,
            "| {n} | {} | {} | {} | {} |",
            cell(&s.summary),
            s.lock.as_str(),
            s.transaction.as_str(),
            if s.hazards.is_empty() {
                String::new()
            } else {
                hazard_list(&s.hazards)
            }
        );
    }
    let noted: Vec<&(usize, &Step)> = steps.iter().filter(|(_, s)| !s.notes.is_empty()).collect();
    if !noted.is_empty() {
        out.push('\n');
        for (n, s) in noted {
            for note in &s.notes {
                let _ = writeln!(out, "- step {n}: {}", cell(note));
            }
        }
    }
}

fn numbered(plan: &Plan) -> impl Iterator<Item = (usize, &Step)> {
    plan.steps.iter().enumerate().map(|(i, s)| (i + 1, s))
}

fn steps_in(plan: &Plan, phase: Phase) -> Vec<&Step> {
    plan.steps.iter().filter(|s| s.phase == phase).collect()
}

fn hazard_tag(s: &Step) -> String {
    if s.hazards.is_empty() {
        String::new()
    } else {
        format!(" ({})", hazard_list(&s.hazards))
    }
}

/// `` `data-loss`, `index-build` `` or `none`.
fn hazard_list(hazards: &[Hazard]) -> String {
    if hazards.is_empty() {
        return "none".to_string();
    }
    hazards
        .iter()
        .map(|h| format!("`{}`", h.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Text from the schema as inert Markdown inside a table cell or a line: markup characters
/// escaped, line breaks flattened, HTML made literal.
pub(crate) fn cell(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '#' | '~' | '!' => {
                out.push('\\');
                out.push(ch);
            }
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\n' | '\r' => out.push(' '),
            _ => out.push(ch),
        }
    }
    out
}

/// Text inside an inline code span (`id` of the plan: letters, digits, `_-.` by `--name`).
fn code(text: &str) -> String {
    text.replace('`', "'")
}

/// `text` in a fenced code block whose fence is longer than any backtick run inside it.
pub(crate) fn fenced(lang: &str, text: &str) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    format!("{fence}{lang}\n{}\n{fence}", text.trim_end())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crafted_names_cannot_break_the_layout() {
        assert_eq!(cell("a|b"), "a\\|b");
        assert_eq!(cell("<script>x</script>"), "&lt;script&gt;x&lt;/script&gt;");
        assert_eq!(cell("line\nbreak"), "line break");
        assert_eq!(cell("**bold** [l](u)"), "\\*\\*bold\\*\\* \\[l\\](u)");
        let f = fenced("sql", "SELECT '```' AS x;");
        assert!(f.starts_with("````sql\n") && f.ends_with("\n````"), "{f}");
    }
}
