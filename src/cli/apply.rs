//! `schemaplan apply` and `schemaplan rollback`: run a reviewed plan file.
//!
//! Progress goes to stderr (a bar on a terminal, timestamped lines otherwise, nothing but
//! warnings with `-q`); with `--format json` it is JSON lines of events on stdout instead,
//! ending with one `run_finished` line (docs/json.md).

use super::{style, TextOrJson, EXIT_OK};
use crate::exec::{self, ApplyOptions, HazardAllow, PhaseSelect};
use crate::plan::step::ALL_HAZARDS;
use crate::plan::{Direction, Hazard};
use std::path::PathBuf;
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct ApplyArgs {
    /// Database to change (default: $DATABASE_URL).
    #[arg(long, env = "DATABASE_URL", value_name = "URL", hide_env_values = true)]
    pub db: String,
    /// The plan directory (plans/<id>).
    pub plan_dir: PathBuf,
    /// Which phase to run: expand (default), contract, or all.
    #[arg(long, value_enum, default_value_t = PhaseArg::Expand)]
    pub phase: PhaseArg,
    /// Hazards to accept: a comma-separated list of names, or `all`.
    #[arg(long, value_name = "KIND,...|all")]
    pub allow_hazards: Option<String>,
    /// Print what would run and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Run even if the live schema is not the plan's `from` state.
    #[arg(long)]
    pub force: bool,
    /// Run a plan file marked `proven: no` (an inverse whose proof failed at plan time).
    #[arg(long)]
    pub allow_unproven: bool,
    /// Take back what a failed or interrupted run of the plan installed (temporary columns,
    /// triggers, NOT VALID constraints, indexes) since its last consistent point, instead of
    /// running the plan; recorded as an aborted run (docs/executor.md, "Abort").
    #[arg(long, conflicts_with_all = ["dry_run", "force", "phase", "allow_hazards"])]
    pub abort: bool,
    /// Record the plan as applied without running it, when the live schema already is its
    /// `to` (a hotfix made by hand, a baseline); refused, naming what differs, otherwise.
    #[arg(long, conflicts_with_all = ["abort", "dry_run", "force", "phase", "allow_hazards"])]
    pub mark_applied: bool,
    /// Fail at once if another apply holds the lock.
    #[arg(long)]
    pub no_wait: bool,
    /// How long to wait for another apply, in seconds.
    #[arg(long, default_value_t = 60, value_name = "SECONDS")]
    pub lock_wait: u64,
    /// How many times a transaction (or non-transactional step) that could not get a lock
    /// within its lock_timeout (SQLSTATE 55P03), or deadlocked (40P01), is rolled back and run
    /// again, after a doubling backoff with jitter. 0: fail at the first lock timeout.
    #[arg(long, default_value_t = exec::DEFAULT_LOCK_RETRIES, value_name = "N")]
    pub lock_retries: u32,
    /// Cap on one backoff delay between lock retries, in milliseconds.
    #[arg(long, default_value_t = exec::DEFAULT_RETRY_MAX_DELAY_MS, value_name = "MS")]
    pub lock_retry_max_delay_ms: u64,
    /// Rows in the first batch of a batched step (backfill); later batches adapt to
    /// --batch-target-ms.
    #[arg(long, default_value_t = exec::BatchPolicy::default().initial_rows, value_name = "ROWS")]
    pub batch_rows: u64,
    /// The batch duration batch sizes adapt to (between 100 and 10,000 rows); 0 keeps every
    /// batch at --batch-rows.
    #[arg(long, default_value_t = exec::BatchPolicy::default().target.as_millis() as u64, value_name = "MS")]
    pub batch_target_ms: u64,
    /// Pause after each batch of a batched step.
    #[arg(long, default_value_t = exec::BatchPolicy::default().pause.as_millis() as u64, value_name = "MS")]
    pub batch_pause_ms: u64,
    /// The scope of the configuration: a plan made with another scope is refused (its
    /// fingerprints cover other objects); the live reads use the plan's scope.
    #[command(flatten)]
    pub scope: super::ScopeArgs,
    /// Output: progress lines for people, or JSON lines of events on stdout (docs/json.md).
    #[arg(long, value_enum, default_value_t = TextOrJson::Text)]
    pub format: TextOrJson,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PhaseArg {
    Expand,
    Contract,
    All,
}

fn hazards(s: &Option<String>) -> anyhow::Result<HazardAllow> {
    let Some(s) = s else {
        return Ok(HazardAllow::None);
    };
    if s.trim() == "all" {
        return Ok(HazardAllow::All);
    }
    let mut set = std::collections::BTreeSet::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let h = Hazard::parse(part).ok_or_else(|| {
            let names: Vec<&str> = ALL_HAZARDS.iter().map(|h| h.as_str()).collect();
            anyhow::anyhow!(
                "unknown hazard {part:?} in --allow-hazards; known: {}, or all",
                names.join(", ")
            )
        })?;
        set.insert(h);
    }
    Ok(HazardAllow::Some(set))
}

fn batch_policy(a: &ApplyArgs) -> exec::BatchPolicy {
    let default = exec::BatchPolicy::default();
    let rows = a.batch_rows.max(1);
    if a.batch_target_ms == 0 {
        return exec::BatchPolicy {
            initial_rows: rows,
            min_rows: rows,
            max_rows: rows,
            pause: Duration::from_millis(a.batch_pause_ms),
            ..default
        };
    }
    exec::BatchPolicy {
        initial_rows: rows,
        min_rows: default.min_rows.min(rows),
        max_rows: default.max_rows.max(rows),
        target: Duration::from_millis(a.batch_target_ms),
        pause: Duration::from_millis(a.batch_pause_ms),
    }
}

pub fn run(a: ApplyArgs, direction: Direction) -> anyhow::Result<i32> {
    let mut opts = ApplyOptions::new(a.db.clone(), a.plan_dir.clone());
    opts.direction = direction;
    opts.phase = match a.phase {
        PhaseArg::Expand => PhaseSelect::Expand,
        PhaseArg::Contract => PhaseSelect::Contract,
        PhaseArg::All => PhaseSelect::All,
    };
    opts.allow_hazards = hazards(&a.allow_hazards)?;
    opts.dry_run = a.dry_run;
    opts.force = a.force;
    opts.allow_unproven = a.allow_unproven;
    opts.no_wait = a.no_wait;
    opts.lock_wait = Duration::from_secs(a.lock_wait);
    opts.retry.max_attempts = a.lock_retries.saturating_add(1);
    opts.retry.max_delay = Duration::from_millis(a.lock_retry_max_delay_ms);
    opts.batch = batch_policy(&a);
    opts.scope = Some(a.scope.scope()?);
    let execute = |progress: &mut dyn exec::Progress| {
        if a.mark_applied {
            exec::mark_applied(&opts, progress)
        } else if a.abort {
            exec::abort(&opts, progress)
        } else {
            exec::apply(&opts, progress)
        }
    };
    if a.format == TextOrJson::Json {
        let mut events = exec::JsonProgress::new(std::io::stdout());
        let result = execute(&mut events);
        events.finish(match &result {
            Ok(o) => exec::RunEnd::Outcome(o),
            Err(e) => exec::RunEnd::Error(e),
        });
        result?;
        return Ok(EXIT_OK);
    }
    let mut progress: Box<dyn exec::Progress> = if style::quiet() {
        Box::new(exec::QuietProgress)
    } else {
        exec::stderr_progress()
    };
    let outcome = execute(progress.as_mut())?;
    for w in &outcome.warnings {
        style::warning(w);
    }
    let colour = match outcome.kind {
        exec::OutcomeKind::DryRun | exec::OutcomeKind::PhaseApplied { .. } => style::NOTE,
        _ => style::GOOD,
    };
    // The first line (what happened) coloured on a terminal; the rest says what to run next.
    let (first, rest) = outcome
        .message
        .split_once('\n')
        .map_or((outcome.message.as_str(), None), |(f, r)| (f, Some(r)));
    anstream::println!("{}", style::paint(colour, first));
    if let Some(rest) = rest {
        println!("{rest}");
    }
    // Failures arrive as errors; every outcome is a success.
    Ok(EXIT_OK)
}
