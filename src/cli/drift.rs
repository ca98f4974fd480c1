//! `schemaplan drift`: does the live database still match the schema files? Arguments and
//! the report (text, Markdown, JSON); the work is the workflow's.
//!
//! Between a plan's `expand` and `contract` phases the database still has what the contract
//! drops: that is the planned window, not drift. When a pending contract phase explains the
//! differences exactly (`workflow::pending_contract`), drift says `contract pending` and exits
//! 0; any other difference exits 2 as always.

use super::{
    plan::report_unmodeled, source_cache, start_shadow, style, Format, ShadowArgs,
    EXIT_DIFFERENCES, EXIT_OK,
};
use crate::diff;
use crate::workflow::{self, PendingContract};
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct DriftArgs {
    /// Database to check (default: $DATABASE_URL).
    #[arg(long, env = "DATABASE_URL", value_name = "URL", hide_env_values = true)]
    pub db: String,
    /// Folder of schema files.
    #[arg(long, default_value = "schema", value_name = "DIR")]
    pub schema: PathBuf,
    /// Folder of plan directories: where the plan of a pending contract phase is read from.
    #[arg(long, default_value = "plans", value_name = "DIR")]
    pub plans: PathBuf,
    #[command(flatten)]
    pub shadow: ShadowArgs,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    #[command(flatten)]
    pub scope: super::ScopeArgs,
}

pub fn run(a: DriftArgs) -> anyhow::Result<i32> {
    let scope = a.scope.scope()?;
    let source_cache = source_cache(&a.shadow);
    let request = workflow::SidesRequest {
        schema: &a.schema,
        source_cache: source_cache.as_deref(),
        db: Some(&a.db),
        scope: &scope,
        need: workflow::Need::Reading,
        // Drift fingerprints nothing.
        fingerprints: None,
    };
    // `Need::Reading`: the statements are dropped once loaded (issue 9's memory target).
    let workflow::Sides {
        source: _,
        shadow,
        live,
        desired,
    } = workflow::read_sides(&request, || start_shadow(&a.shadow), &mut |_, _, _| {})?;
    let (mut current, _) = live.join()?;
    let mut desired = desired.schema;
    report_unmodeled(&current.schema);
    if let Some(n) = current.context.note() {
        eprintln!("note: {n}");
    }
    let changes = crate::timings::stage("diff", || diff::diff(&current.schema, &desired));
    let (pending, objects) = if changes.is_empty() {
        (PendingContract::default(), Vec::new())
    } else {
        let pending = workflow::pending_contract(
            &a.db,
            &a.plans,
            &shadow,
            &current.context,
            &current.schema,
            &desired,
        )?;
        let empty = scope.inside(&workflow::empty_schema(&shadow)?);
        let objects = workflow::object_drifts(&empty, &mut current.schema, &mut desired, &changes);
        (pending, objects)
    };
    // Unmodeled objects are neither drift nor silence: listed after the verdict, one line
    // each, without changing the exit code.
    let unmodeled: Vec<String> = current
        .schema
        .unmodeled
        .iter()
        .map(|u| format!("{} {}", u.kind, u.identity))
        .collect();
    let report = Report {
        schema: &a.schema,
        objects: &objects,
        pending: &pending,
        unmodeled: &unmodeled,
    };
    match a.format {
        Format::Json => println!(
            "{}",
            serde_json::json!({
                "in_sync": changes.is_empty(),
                "objects": objects,
                "contract_pending": pending.plans,
                "explained_by_pending_contract": pending.explained,
                "unmodeled": unmodeled,
                "out_of_scope": current.context.out_of_scope,
                "scope": &scope,
            })
        ),
        Format::Text => anstream::print!("{}", report.text()),
        Format::Markdown => print!("{}", report.markdown()),
    }
    Ok(if changes.is_empty() || pending.explained {
        EXIT_OK
    } else {
        EXIT_DIFFERENCES
    })
}

/// What drift found, for the text and Markdown reports.
struct Report<'a> {
    schema: &'a Path,
    objects: &'a [workflow::ObjectDrift],
    pending: &'a PendingContract,
    unmodeled: &'a [String],
}

impl Report<'_> {
    /// The first line: in sync, in sync but for a pending contract, or drifted.
    fn verdict(&self) -> String {
        let shown = self.schema.display();
        if self.objects.is_empty() {
            format!("In sync: the database matches {shown}.")
        } else if self.pending.explained {
            format!(
                "In sync but for a pending contract phase: contract pending: {}, {} difference(s) \
                 explained (objects its contract phase drops):",
                self.pending.plans.join(", "),
                self.objects.len()
            )
        } else {
            format!(
                "Drift: the database differs from {shown} in {} object(s):",
                self.objects.len()
            )
        }
    }

    /// Pending plans that do not explain the differences, said after them.
    fn unexplained_pending(&self) -> Option<String> {
        (!self.pending.plans.is_empty() && !self.pending.explained).then(|| {
            format!(
                "Contract pending: {}, but its contract phase does not explain all of these \
                 differences{}.",
                self.pending.plans.join(", "),
                self.pending.why_not
            )
        })
    }

    /// Each object with what differs and the unified diff of its definitions (only the
    /// changes when a pending contract explains them), then the objects not compared.
    /// Coloured where the stream takes colour (anstream strips the codes elsewhere): the
    /// verdict green or red, diff lines green (+) and red (-).
    fn text(&self) -> String {
        let verdict = if self.objects.is_empty() || self.pending.explained {
            style::GOOD
        } else {
            style::BAD
        };
        let mut out = format!("{}\n", style::paint(verdict, &self.verdict()));
        for o in self.objects {
            out.push_str(&format!("\n{} {}\n", o.kind, o.identity));
            for c in &o.changes {
                out.push_str(&format!("  - {c}\n"));
            }
            if !self.pending.explained {
                for l in o.diff.lines() {
                    let l = match l.as_bytes().first().copied() {
                        Some(b'+') if !l.starts_with("+++") => style::paint(style::ADDED, l),
                        Some(b'-') if !l.starts_with("---") => style::paint(style::REMOVED, l),
                        _ => l.to_string(),
                    };
                    out.push_str(&format!("    {l}\n"));
                }
            }
        }
        if let Some(p) = self.unexplained_pending() {
            out.push_str(&format!("\n{p}\n"));
        }
        if !self.unmodeled.is_empty() {
            out.push_str(&format!(
                "Not modeled by schemaplan, not compared ({}):\n",
                self.unmodeled.len()
            ));
            for u in self.unmodeled {
                out.push_str(&format!("  - {u}\n"));
            }
        }
        out
    }

    /// The report as Markdown (a CI job summary or an issue comment): one section per object
    /// with its changes and the diff in a `diff` block.
    fn markdown(&self) -> String {
        use crate::render::markdown::{cell, fenced};
        let mut out = format!("### {}\n", cell(&self.verdict()));
        for o in self.objects {
            out.push_str(&format!("\n#### {} {}\n\n", o.kind, cell(&o.identity)));
            for c in &o.changes {
                out.push_str(&format!("- {}\n", cell(c)));
            }
            out.push_str(&format!("\n{}\n", fenced("diff", &o.diff)));
        }
        if let Some(p) = self.unexplained_pending() {
            out.push_str(&format!("\n{}\n", cell(&p)));
        }
        if !self.unmodeled.is_empty() {
            out.push_str(&format!(
                "\nNot modeled by schemaplan, not compared ({}):\n\n",
                self.unmodeled.len()
            ));
            for u in self.unmodeled {
                out.push_str(&format!("- {}\n", cell(u)));
            }
        }
        out
    }
}
