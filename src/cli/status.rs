//! `schemaplan status`: which plans are applied, failed, running or pending on a database.

use super::EXIT_OK;
use crate::exec;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct StatusArgs {
    /// Database to ask (default: $DATABASE_URL).
    #[arg(long, env = "DATABASE_URL", value_name = "URL", hide_env_values = true)]
    pub db: String,
    /// Folder of plan directories.
    #[arg(long, default_value = "plans", value_name = "DIR")]
    pub plans: PathBuf,
    /// Output format: a table, or JSON (`{"plans": [...]}`).
    #[arg(long, value_enum, default_value_t = StatusFormat::Text)]
    pub format: StatusFormat,
}

/// Output format of `status`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusFormat {
    Text,
    Json,
}

pub fn run(a: StatusArgs) -> anyhow::Result<i32> {
    let list = exec::status(&a.db, &a.plans)?;
    match a.format {
        StatusFormat::Json => {
            let plans: Vec<serde_json::Value> = list.iter().map(json).collect();
            println!("{}", serde_json::json!({ "plans": plans }));
        }
        StatusFormat::Text if list.is_empty() => {
            println!("No plans under {}.", a.plans.display())
        }
        StatusFormat::Text => println!("{}", table(&list)),
    }
    Ok(EXIT_OK)
}

/// One row per plan: its state, id, last run, and what to know (error, where it stopped, what
/// the next apply does, the plan file's checksum) in a column of its own, so long states and
/// messages never push the other columns around.
fn table(list: &[exec::PlanStatus]) -> comfy_table::Table {
    let mut t = comfy_table::Table::new();
    t.load_style(comfy_table::presets::NOTHING)
        .set_content_arrangement(comfy_table::ContentArrangement::Dynamic)
        .set_header(["STATE", "PLAN", "LAST RUN", "DETAILS"]);
    for p in list {
        let last = p
            .last_run
            .as_ref()
            .map(|r| {
                let mut s = format!(
                    "run {} {} by {}\nat {}",
                    r.run_id, r.outcome, r.started_by, r.started_at
                );
                if let Some(d) = r.duration {
                    s.push_str(&format!(", {}", exec::human_duration(d)));
                }
                s
            })
            .unwrap_or_default();
        let mut details: Vec<String> = Vec::new();
        if let Some(r) = &p.last_run {
            if !r.checksum_matches {
                details.push("plan.sql changed since that run".to_string());
            }
            if let Some(e) = &r.error {
                details.push(format!("error: {e}"));
            }
            if let Some(s) = &r.stopped_in {
                details.push(format!("stopped in: {s}"));
            }
        }
        details.extend(p.next.iter().map(|n| format!("next: {n}")));
        if let Some(c) = &p.checksum {
            details.push(format!("checksum {}", &c[..c.len().min(16)]));
        }
        t.add_row([
            p.state.to_string(),
            p.plan_id.clone(),
            last,
            details.join("\n"),
        ]);
    }
    t
}

/// A plan's status with stable keys (docs/executor.md, "status --format json").
fn json(p: &exec::PlanStatus) -> serde_json::Value {
    let (state, pending_phase, unreadable) = match &p.state {
        exec::PlanState::PartiallyApplied { next } => ("partly-applied", Some(next.as_str()), None),
        exec::PlanState::Unreadable(why) => ("unreadable", None, Some(why.clone())),
        other => (state_key(other), None, None),
    };
    serde_json::json!({
        "plan_id": p.plan_id,
        "dir": p.dir.display().to_string(),
        "state": state,
        "pending_phase": pending_phase,
        "unreadable": unreadable,
        "checksum": p.checksum,
        "next": p.next,
        "last_run": p.last_run.as_ref().map(|r| serde_json::json!({
            "run_id": r.run_id,
            "direction": r.direction.as_str(),
            "outcome": r.outcome,
            "checksum": r.checksum,
            "checksum_matches": r.checksum_matches,
            "started_by": r.started_by,
            "started_at": r.started_at,
            "duration_secs": r.duration.map(|d| d.as_secs_f64()),
            "error": r.error,
            "stopped_in": r.stopped_in,
        })),
    })
}

/// The JSON name of a state without data.
fn state_key(s: &exec::PlanState) -> &'static str {
    match s {
        exec::PlanState::Pending => "pending",
        exec::PlanState::Applied => "applied",
        exec::PlanState::PartiallyApplied { .. } => "partly-applied",
        exec::PlanState::Running => "running",
        exec::PlanState::Failed => "failed",
        exec::PlanState::Interrupted => "interrupted",
        exec::PlanState::RolledBack => "rolled-back",
        exec::PlanState::Aborted => "aborted",
        exec::PlanState::Unreadable(_) => "unreadable",
    }
}
