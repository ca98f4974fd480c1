//! `schemaplan status`: which plans are applied, failed, running or pending on a database.

use super::EXIT_OK;
use crate::exec;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct StatusArgs {
    /// Database to ask (default: $DATABASE_URL, or the environment's url).
    #[arg(
        long,
        env = "DATABASE_URL",
        value_name = "URL",
        hide_env_values = true,
        required_unless_present = "all_envs"
    )]
    pub db: Option<String>,
    /// Ask every environment of the project file (each with its own url) and show plans x
    /// environments; one that cannot be reached is reported, not fatal.
    #[arg(long)]
    pub all_envs: bool,
    /// Folder of plan directories.
    #[arg(long, default_value = "plans", value_name = "DIR")]
    pub plans: PathBuf,
    /// Output format: a table, or JSON (`{"plans": [...]}`; with --all-envs
    /// `{"environments": [...]}`).
    #[arg(long, value_enum, default_value_t = StatusFormat::Text)]
    pub format: StatusFormat,
}

/// Output format of `status`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusFormat {
    Text,
    Json,
}

/// How long `--all-envs` waits for each environment's server to accept a connection (when
/// its URL sets no `connect_timeout`).
const ENV_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

pub fn run(a: StatusArgs, config: Option<&Path>) -> anyhow::Result<i32> {
    if a.all_envs {
        return all_envs(&a, config);
    }
    let db =
        a.db.as_deref()
            .expect("clap requires --db without --all-envs");
    let list = exec::status(db, &a.plans)?;
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

/// `status --all-envs`: every environment of the project file read with its own URL, one
/// after the other; the table is plan x environment. An environment without a usable URL or
/// whose server does not answer is reported under the table; the command fails only when no
/// environment could be read.
fn all_envs(a: &StatusArgs, config: Option<&Path>) -> anyhow::Result<i32> {
    let cwd = std::env::current_dir()?;
    let project = crate::config::Project::find(config, &cwd)?.ok_or_else(|| {
        anyhow::anyhow!(
            "--all-envs reads the environments of {}: there is none in {} or above it \
             (`schemaplan init` writes one, --config names one)",
            crate::config::FILE_NAME,
            cwd.display()
        )
    })?;
    let envs: Vec<EnvStatus> = project
        .environment_urls()
        .into_iter()
        .map(|(name, url)| {
            let result = url.map_err(anyhow::Error::from).and_then(|u| {
                exec::status_within(&u, &a.plans, Some(ENV_CONNECT_TIMEOUT)).map_err(Into::into)
            });
            EnvStatus {
                name,
                result: result.map_err(|e| super::error_text(&e)),
            }
        })
        .collect();
    if envs.is_empty() {
        anyhow::bail!(
            "{} has no [env.NAME] tables for --all-envs to read",
            project.path.display()
        );
    }
    match a.format {
        StatusFormat::Json => println!("{}", envs_json(&envs)),
        StatusFormat::Text => {
            println!("{}", envs_table(&envs));
            for e in &envs {
                if let Err(why) = &e.result {
                    println!("{}: not read: {why}", e.name);
                }
            }
        }
    }
    if envs.iter().all(|e| e.result.is_err()) {
        anyhow::bail!("no environment could be read");
    }
    Ok(EXIT_OK)
}

/// One environment's answer to `status --all-envs`.
struct EnvStatus {
    name: String,
    result: Result<Vec<exec::PlanStatus>, String>,
}

/// Plans (rows, in the order of the plans folder) x environments (columns): each cell the
/// plan's state there, `?` where the environment could not be read.
fn envs_table(envs: &[EnvStatus]) -> comfy_table::Table {
    let mut plans: Vec<&str> = Vec::new();
    for e in envs {
        for p in e.result.iter().flatten() {
            if !plans.contains(&p.plan_id.as_str()) {
                plans.push(&p.plan_id);
            }
        }
    }
    let mut t = comfy_table::Table::new();
    t.load_style(comfy_table::presets::NOTHING)
        .set_content_arrangement(comfy_table::ContentArrangement::Dynamic);
    let mut header = vec!["PLAN".to_string()];
    header.extend(envs.iter().map(|e| e.name.to_uppercase()));
    t.set_header(header);
    for id in plans {
        let mut row = vec![id.to_string()];
        for e in envs {
            row.push(match &e.result {
                Ok(list) => list
                    .iter()
                    .find(|p| p.plan_id == id)
                    .map(|p| p.state.to_string())
                    .unwrap_or_else(|| "-".to_string()),
                Err(_) => "?".to_string(),
            });
        }
        t.add_row(row);
    }
    t
}

/// `{"environments": [{"name", "error", "plans": [...]}]}`, each plan as `status --format json`.
fn envs_json(envs: &[EnvStatus]) -> serde_json::Value {
    let list: Vec<serde_json::Value> = envs
        .iter()
        .map(|e| match &e.result {
            Ok(plans) => serde_json::json!({
                "name": e.name,
                "error": null,
                "plans": plans.iter().map(json).collect::<Vec<_>>(),
            }),
            Err(why) => serde_json::json!({ "name": e.name, "error": why, "plans": null }),
        })
        .collect();
    serde_json::json!({ "environments": list })
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
