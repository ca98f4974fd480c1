//! `schemaplan drift`: does the live database still match the schema files?

use super::{plan::report_unmodeled, start_shadow, Format, ShadowArgs, EXIT_DIFFERENCES, EXIT_OK};
use crate::diff;
use crate::source;
use crate::workflow;
use std::path::{Path, PathBuf};

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
    let objects = if changes.is_empty() {
        Vec::new()
    } else {
        let empty = workflow::empty_schema(&shadow)?;
        workflow::object_drifts(&empty, &current.schema, &desired, &changes)
    };
    // Unmodeled objects are neither drift nor silence: listed after the verdict, one line
    // each, without changing the exit code.
    let unmodeled: Vec<String> = current
        .schema
        .unmodeled
        .iter()
        .map(|u| format!("{} {}", u.kind, u.identity))
        .collect();
    match a.format {
        Format::Json => println!(
            "{}",
            serde_json::json!({
                "in_sync": changes.is_empty(),
                "objects": objects,
                "unmodeled": unmodeled,
            })
        ),
        Format::Text => print!("{}", text(&a.schema, &objects, &unmodeled)),
        Format::Markdown => print!("{}", markdown(&a.schema, &objects, &unmodeled)),
    }
    Ok(if changes.is_empty() {
        EXIT_OK
    } else {
        EXIT_DIFFERENCES
    })
}

/// The text report: the verdict, then each object with what differs and the unified diff of
/// its definitions, then the objects not compared.
fn text(schema: &Path, objects: &[workflow::ObjectDrift], unmodeled: &[String]) -> String {
    let mut out = String::new();
    if objects.is_empty() {
        out.push_str(&format!(
            "In sync: the database matches {}.\n",
            schema.display()
        ));
    } else {
        out.push_str(&format!(
            "Drift: the database differs from {} in {} object(s):\n",
            schema.display(),
            objects.len()
        ));
        for o in objects {
            out.push_str(&format!("\n{} {}\n", o.kind, o.identity));
            for c in &o.changes {
                out.push_str(&format!("  - {c}\n"));
            }
            for l in o.diff.lines() {
                out.push_str(&format!("    {l}\n"));
            }
        }
    }
    if !unmodeled.is_empty() {
        out.push_str(&format!(
            "Not modeled by schemaplan, not compared ({}):\n",
            unmodeled.len()
        ));
        for u in unmodeled {
            out.push_str(&format!("  - {u}\n"));
        }
    }
    out
}

/// The report as Markdown (a CI job summary or an issue comment): one section per object with
/// its changes and the diff in a `diff` block.
fn markdown(schema: &Path, objects: &[workflow::ObjectDrift], unmodeled: &[String]) -> String {
    use crate::render::markdown::{cell, fenced};
    let mut out = String::new();
    let shown = cell(&schema.display().to_string());
    if objects.is_empty() {
        out.push_str(&format!("### In sync\n\nThe database matches {shown}.\n"));
    } else {
        out.push_str(&format!(
            "### Drift: {} object(s) differ from {shown}\n",
            objects.len()
        ));
        for o in objects {
            out.push_str(&format!("\n#### {} {}\n\n", o.kind, cell(&o.identity)));
            for c in &o.changes {
                out.push_str(&format!("- {}\n", cell(c)));
            }
            out.push_str(&format!("\n{}\n", fenced("diff", &o.diff)));
        }
    }
    if !unmodeled.is_empty() {
        out.push_str(&format!(
            "\nNot modeled by schemaplan, not compared ({}):\n\n",
            unmodeled.len()
        ));
        for u in unmodeled {
            out.push_str(&format!("- {}\n", cell(u)));
        }
    }
    out
}
