//! `schemaplan plan`: schema files + database -> proven plan directory.

use super::{
    fingerprint_cache, source_cache, start_shadow, style, Format, ShadowArgs, EXIT_DIFFERENCES,
    EXIT_OK,
};
use crate::render;
use crate::workflow;
use anyhow::Context;
use std::path::PathBuf;
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct PlanArgs {
    /// Database to plan against (default: $DATABASE_URL; without either, an empty database).
    #[arg(long, env = "DATABASE_URL", value_name = "URL", hide_env_values = true)]
    pub db: Option<String>,
    /// Folder of schema files (*.sql, recursively).
    #[arg(long, default_value = "schema", value_name = "DIR")]
    pub schema: PathBuf,
    #[command(flatten)]
    pub shadow: ShadowArgs,
    /// Plan directory to write (default: <plans>/<UTC timestamp>_<name>).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Replace the plan already in --out (without it, a directory holding a plan is refused:
    /// a reviewed or applied plan is never overwritten by accident).
    #[arg(long, requires = "out")]
    pub force: bool,
    /// Folder of plan directories, where a plan goes without --out.
    #[arg(long, default_value = "plans", value_name = "DIR")]
    pub plans: PathBuf,
    /// Name part of the plan directory: letters, digits, `_`, `-` and `.` (not first), at
    /// most 100 characters, so the plan stays inside plans/.
    #[arg(long, default_value = "plan", value_parser = plan_name)]
    pub name: String,
    /// Summary format on stdout.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Exit with 2 when the plan has steps (0 when the database is already up to date).
    #[arg(long)]
    pub exit_code: bool,
    /// Check only: prove the plan, write nothing, exit 2 when it has steps and 0 when the
    /// database is up to date (for CI: `plan --check` fails a job whose schema files and
    /// database differ, and says how).
    #[arg(long, conflicts_with = "out")]
    pub check: bool,
    /// Debugging only: write the plan without proving it on a scratch database first.
    #[arg(long, hide = true)]
    pub no_proof: bool,
    /// lock_timeout for steps that take locks, in milliseconds (traffic queues behind a step
    /// waiting for its lock for at most this long; the executor retries after a backoff).
    /// 1 to 2147483647: PostgreSQL reads 0 as "wait forever".
    #[arg(long, default_value_t = crate::plan::DEFAULT_LOCK_TIMEOUT_MS, value_name = "MS",
          value_parser = clap::value_parser!(u64).range(1..=i32::MAX as u64))]
    pub lock_timeout_ms: u64,
    /// Existing tables whose heap is at most this size at plan time (PostgreSQL units: 0,
    /// 64kB, 1MB, 1GB) get the plain forms of index builds, constraints, NOT NULL and rewrites
    /// (their scan under lock takes milliseconds), with a note saying why; empty tables always
    /// do; 0 = only empty tables.
    #[arg(long, default_value = "1MB", value_name = "SIZE", value_parser = crate::plan::size::parse_size)]
    pub small_table: u64,
    #[command(flatten)]
    pub scope: super::ScopeArgs,
}

pub fn run(a: PlanArgs) -> anyhow::Result<i32> {
    if let Some(out) = a.out.as_ref().filter(|_| !a.force && !a.check) {
        if out.join("plan.sql").exists() {
            anyhow::bail!(
                "{} already holds a plan: choose another --out, or pass --force to replace it",
                out.display()
            );
        }
    }
    let scope = a.scope.scope()?;
    let source_cache = source_cache(&a.shadow);
    let fingerprint_cache = fingerprint_cache(&a.shadow);
    let id = a
        .out
        .as_ref()
        .and_then(|o| o.file_name())
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| format!("{}_{}", chrono::Utc::now().format("%Y%m%dT%H%M%SZ"), a.name));
    let request = workflow::PlanRequest {
        db: a.db.as_deref(),
        schema: &a.schema,
        source_cache: source_cache.as_deref(),
        fingerprint_cache: fingerprint_cache.as_deref(),
        lock_timeout: Duration::from_millis(a.lock_timeout_ms),
        small_table: a.small_table,
        id,
        no_proof: a.no_proof,
        scope,
    };
    let mut warn = |w: String| style::warning(&w);
    let workflow::ProvenPlans {
        forward,
        inverse,
        scope_note,
    } = workflow::make_plan(&request, || start_shadow(&a.shadow), &mut warn)?;
    if let Some(n) = scope_note {
        eprintln!("note: {n}");
    }
    let id = forward.id.clone();
    let empty = forward.steps.is_empty();
    let dir = match (&a.out, empty) {
        _ if a.check => None,
        (Some(o), _) => Some(o.clone()),
        (None, false) => Some(a.plans.join(&id)),
        (None, true) => None,
    };
    if let Some(dir) = &dir {
        crate::timings::stage("write", || render::write_plan_dir(dir, &forward, &inverse))
            .with_context(|| format!("writing the plan to {}", dir.display()))?;
    }
    match a.format {
        Format::Json => println!("{}", render::plan_json(&forward, &inverse)),
        Format::Markdown => {
            print!("{}", render::markdown(&forward, &inverse));
            if let Some(dir) = dir.as_ref().filter(|_| !style::quiet()) {
                eprintln!("Plan written to {}", dir.display());
            }
        }
        Format::Text => {
            if empty {
                let line = format!(
                    "No changes: the database already matches {}.",
                    a.schema.display()
                );
                anstream::println!("{}", style::paint(style::GOOD, &line));
            } else {
                print!("{}", render::summary(&forward));
            }
            if let Some(dir) = &dir {
                println!("Plan written to {}", dir.display());
            }
        }
    }
    Ok(if (a.exit_code || a.check) && !empty {
        EXIT_DIFFERENCES
    } else {
        EXIT_OK
    })
}

/// Objects schemaplan does not manage are reported, never silently skipped.
pub(crate) fn report_unmodeled(s: &crate::model::Schema) {
    for w in workflow::unmodeled_warnings(s) {
        style::warning(&w);
    }
}

/// `--name`: one safe path component (no `/`, no `..`, no leading `.`), so the plan directory
/// is always `plans/<timestamp>_<name>`.
fn plan_name(s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && s.len() <= 100
        && !s.starts_with('.')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if ok {
        Ok(s.to_string())
    } else {
        Err(format!(
            "{s:?} is not a plan name: use letters, digits, `_`, `-` and `.` (not first), at most \
             100 characters"
        ))
    }
}
