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
}

pub fn run(a: StatusArgs) -> anyhow::Result<i32> {
    let list = exec::status(&a.db, &a.plans)?;
    if list.is_empty() {
        println!("No plans under {}.", a.plans.display());
    }
    for p in list {
        let mut line = format!("{:<11} {}", p.state.to_string(), p.plan_id);
        if let Some(r) = &p.last_run {
            line.push_str(&format!(
                "  (run {} {} by {} at {}",
                r.run_id, r.outcome, r.started_by, r.started_at
            ));
            if let Some(d) = r.duration {
                line.push_str(&format!(", {}", exec::human_duration(d)));
            }
            if !r.checksum_matches {
                line.push_str(", plan.sql changed since");
            }
            line.push(')');
            if let Some(e) = &r.error {
                line.push_str(&format!("\n            error: {e}"));
            }
            if let Some(s) = &r.stopped_in {
                line.push_str(&format!("\n            stopped in: {s}"));
            }
        }
        for n in &p.next {
            line.push_str(&format!("\n            next: {n}"));
        }
        if let Some(c) = &p.checksum {
            line.push_str(&format!("\n            checksum {}", &c[..c.len().min(16)]));
        }
        println!("{line}");
    }
    Ok(EXIT_OK)
}
