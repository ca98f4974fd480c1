//! `schemaplan drift`: does the live database still match the schema files?

use super::{plan::report_unmodeled, start_shadow, Format, ShadowArgs, EXIT_DIFFERENCES, EXIT_OK};
use crate::diff;
use crate::source;
use crate::workflow;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct DriftArgs {
    /// Database to check (default: $DATABASE_URL).
    #[arg(long, env = "DATABASE_URL", value_name = "URL", hide_env_values = true)]
    pub db: String,
    /// Folder of schema files.
    #[arg(long, default_value = "schema", value_name = "DIR")]
    pub schema: PathBuf,
    #[command(flatten)]
    pub shadow: ShadowArgs,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

pub fn run(a: DriftArgs) -> anyhow::Result<i32> {
    let src = source::load_dir(&a.schema)?;
    let shadow = start_shadow(&a.shadow)?;
    let current = workflow::current(Some(&a.db), &shadow)?;
    let desired = workflow::desired(&shadow, &src, &current.roles)?;
    report_unmodeled(&current.schema);
    let changes = diff::diff(&current.schema, &desired);
    let lines: Vec<String> = workflow::describe(&changes)
        .lines()
        .map(|l| l.trim_start_matches("  - ").to_string())
        .filter(|l| !l.is_empty())
        .collect();
    // Unmodeled objects are neither drift nor silence: listed after the verdict, one line
    // each, without changing the exit code.
    let unmodeled: Vec<String> = current
        .schema
        .unmodeled
        .iter()
        .map(|u| format!("{} {}", u.kind, u.identity))
        .collect();
    let print_unmodeled = || {
        if !unmodeled.is_empty() {
            println!(
                "Not modeled by schemaplan, not compared ({}):",
                unmodeled.len()
            );
            for u in &unmodeled {
                println!("  - {u}");
            }
        }
    };
    match a.format {
        Format::Json => println!(
            "{}",
            serde_json::json!({
                "in_sync": changes.is_empty(),
                "differences": lines,
                "unmodeled": unmodeled,
            })
        ),
        Format::Text if changes.is_empty() => {
            println!("In sync: the database matches {}.", a.schema.display());
            print_unmodeled();
        }
        Format::Text => {
            println!(
                "Drift: the database differs from {} in {} place(s):",
                a.schema.display(),
                lines.len()
            );
            for l in &lines {
                println!("  - {l}");
            }
            print_unmodeled();
        }
    }
    Ok(if changes.is_empty() {
        EXIT_OK
    } else {
        EXIT_DIFFERENCES
    })
}
