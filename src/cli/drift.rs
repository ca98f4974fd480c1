//! `schemaplan drift`: does the live database still match the schema files?
//!
//! Between a plan's `expand` and `contract` phases the database still has what the contract
//! drops: that is the planned window, not drift. When the journal has a plan whose contract is
//! pending (`exec::contract_pending`) and running that plan's contract steps (read from its
//! `plan.sql` under `--plans`) on a shadow copy of the live schema gives exactly the schema
//! files' schema (`workflow::contract::explains`), drift says `contract pending` and exits 0;
//! any other difference exits 2 as always.

use super::{
    plan::report_unmodeled, start_shadow, style, Format, ShadowArgs, EXIT_DIFFERENCES, EXIT_OK,
};
use crate::diff;
use crate::model::Schema;
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
    let src = crate::timing::time("source", || source::load_dir(&a.schema))?;
    let shadow = crate::timing::time("shadow start", || start_shadow(&a.shadow))?;
    let mut current = crate::timing::time("catalog reads", || {
        workflow::current_in(Some(&a.db), &shadow, &scope)
    })?;
    let mut desired = crate::timing::time("shadow load", || {
        workflow::desired_in(&shadow, &src, &current.roles, &current.context)
    })?;
    report_unmodeled(&current.schema);
    if let Some(n) = current.context.note() {
        eprintln!("note: {n}");
    }
    let changes = crate::timing::time("diff", || diff::diff(&current.schema, &desired));
    let (pending, objects) = if changes.is_empty() {
        (Pending::default(), Vec::new())
    } else {
        let pending = contract_explains(
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
    pending: &'a Pending,
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

/// What a pending contract phase says about the differences.
#[derive(Default)]
struct Pending {
    /// Plans whose expand ran and whose contract did not (from the journal).
    plans: Vec<String>,
    /// Their contract steps, run on a copy of the live schema, give the desired schema.
    explained: bool,
    /// Why not, when that could not be checked (` (...)`, or empty).
    why_not: String,
}

fn contract_explains(
    url: &str,
    plans_dir: &Path,
    shadow: &crate::shadow::Shadow,
    ctx: &workflow::Context,
    live: &Schema,
    desired: &Schema,
) -> anyhow::Result<Pending> {
    let mut client = crate::db::connect(url)?;
    let plans = crate::exec::contract_pending(&mut client, &crate::catalog::fingerprint(live))?;
    if plans.is_empty() {
        return Ok(Pending::default());
    }
    let mut steps = Vec::new();
    for id in &plans {
        match find_plan(plans_dir, id) {
            Some(plan) => steps.extend(
                plan.steps
                    .into_iter()
                    .filter(|s| s.phase == crate::plan::Phase::Contract),
            ),
            None => {
                return Ok(Pending {
                    plans,
                    explained: false,
                    why_not: format!(
                        " (its plan.sql is not under {}: pass --plans)",
                        plans_dir.display()
                    ),
                })
            }
        }
    }
    let explained = workflow::contract::explains(shadow, ctx, live, desired, &steps)?;
    Ok(Pending {
        plans,
        explained,
        why_not: String::new(),
    })
}

/// The forward plan with id `id` among the plan directories of `dir` (or `dir` itself).
fn find_plan(dir: &Path, id: &str) -> Option<crate::plan::Plan> {
    let mut dirs = vec![dir.to_path_buf()];
    if let Ok(entries) = std::fs::read_dir(dir) {
        let mut subs: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        subs.sort();
        dirs.extend(subs.into_iter().filter(|p| p.is_dir()));
    }
    dirs.into_iter()
        .filter_map(|d| crate::planfile::read_dir(&d, crate::plan::Direction::Forward).ok())
        .map(|f| f.plan)
        .find(|p| p.id == id)
}
