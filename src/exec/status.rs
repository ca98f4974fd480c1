//! `status`: for each plan directory, whether this database has it applied, partly applied,
//! running, failed, interrupted, rolled back or pending, from the bookkeeping tables
//! `schemaplan.runs` and `schemaplan.steps` (read once; or, on a database still holding the
//! large object of older versions, from that object, without migrating it); for a run that stopped (or is running), the step it stopped in and what the
//! next `apply` will do (resume where, what it found left by cut-off non-transactional steps,
//! using the same inspection as apply). A run whose last step committed but whose final check
//! was cut off (`verifying`, no apply running) is checked here against the live schema and
//! shown as applied or failed (the live schema read through the plan's recorded scope, as
//! apply's own check reads it); the next apply records that verdict. Read-only: it takes no
//! lock and creates nothing.

use super::book::{self, Book, Run};
use super::{cleanup, lock, ExecError};
use crate::plan::{Direction, Phase, TxMode};
use crate::planfile;
use crate::{catalog, db};
use postgres::Client;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where a plan stands on one database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PlanState {
    /// No run recorded.
    Pending,
    /// Every step applied by the latest forward run(s).
    Applied,
    /// Some phases applied; `next` has not run.
    PartiallyApplied { next: Phase },
    /// An apply holds the lock and this plan's run is in progress.
    Running,
    /// The latest run failed (its error is in `last_run`).
    Failed,
    /// The latest run stopped without finishing (killed, connection lost).
    Interrupted,
    /// The latest run applied the inverse.
    RolledBack,
    /// The latest run was `apply --abort`: what it took back runs again on the next apply.
    Aborted,
    /// The plan file cannot be read.
    Unreadable(String),
}

impl fmt::Display for PlanState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlanState::Pending => f.write_str("pending"),
            PlanState::Applied => f.write_str("applied"),
            PlanState::Aborted => f.write_str("aborted"),
            PlanState::PartiallyApplied { next } => {
                write!(f, "partly applied ({} pending)", next.as_str())
            }
            PlanState::Running => f.write_str("running"),
            PlanState::Failed => f.write_str("failed"),
            PlanState::Interrupted => f.write_str("interrupted"),
            PlanState::RolledBack => f.write_str("rolled back"),
            PlanState::Unreadable(e) => write!(f, "unreadable: {e}"),
        }
    }
}

/// The latest recorded run of a plan.
#[derive(Clone, Debug, PartialEq)]
pub struct RunSummary {
    pub run_id: i64,
    pub direction: Direction,
    /// `running`, `succeeded`, `failed`, `interrupted` as recorded.
    pub outcome: String,
    /// Checksum of the file that run executed.
    pub checksum: String,
    /// Whether the file in the plan directory still has that checksum.
    pub checksum_matches: bool,
    pub started_by: String,
    pub started_at: String,
    pub duration: Option<Duration>,
    pub error: Option<String>,
    /// For a run that did not finish: the step it stopped in (or is running), and since when:
    /// `step 13/18 (create index public.t_x), started 2026-11-21T10:15:02Z`.
    pub stopped_in: Option<String>,
}

/// One plan directory's status.
#[derive(Clone, Debug, PartialEq)]
pub struct PlanStatus {
    pub dir: PathBuf,
    pub plan_id: String,
    pub state: PlanState,
    /// Checksum of `plan.sql` now.
    pub checksum: Option<String>,
    pub last_run: Option<RunSummary>,
    /// What the next `apply` (or `rollback`, for a run of the inverse) of this plan will do,
    /// one sentence per line; empty unless the plan's latest run is interrupted, failed or
    /// running.
    pub next: Vec<String>,
}

/// Status of every plan directory under `plans_dir` (sorted by name) on the database at
/// `db_url`. A database without bookkeeping (never applied to) has every plan pending.
pub fn status(db_url: &str, plans_dir: &Path) -> Result<Vec<PlanStatus>, ExecError> {
    status_within(db_url, plans_dir, None)
}

/// [`status`], giving up connecting after `connect_timeout` (when the URL sets none).
pub fn status_within(
    db_url: &str,
    plans_dir: &Path,
    connect_timeout: Option<std::time::Duration>,
) -> Result<Vec<PlanStatus>, ExecError> {
    let dirs = plan_dirs(plans_dir)?;
    let mut client = match connect_timeout {
        Some(t) => db::connect_within(db_url, t)?,
        None => db::connect(db_url)?,
    };
    catalog::check_server_version(db::server_version_num(&mut client)?)?;
    let book = book::load(&mut client)?;
    let held = book.is_some() && lock::is_held(&mut client)?;
    // A run cut off during its final check: what the check would say now. The live schema is
    // read once; each such plan's check fingerprints the part in its own scope (the one its
    // `to` covers, as apply's final check does), in `plan_status`.
    let verifying = book
        .as_ref()
        .is_some_and(|b| b.runs.iter().any(|r| r.outcome == "verifying"));
    let live = if verifying && !held {
        Some(catalog::read(&mut client)?)
    } else {
        None
    };
    Ok(dirs
        .iter()
        .map(|d| plan_status(&mut client, book.as_ref(), d, held, live.as_ref()))
        .collect())
}

/// Subdirectories of `plans_dir`, sorted; hidden ones (temporary, being written) are skipped.
fn plan_dirs(plans_dir: &Path) -> Result<Vec<PathBuf>, ExecError> {
    let io = |source| ExecError::PlansDir {
        path: plans_dir.to_path_buf(),
        source,
    };
    let mut dirs = Vec::new();
    for entry in std::fs::read_dir(plans_dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let hidden = entry.file_name().to_string_lossy().starts_with('.');
        if !hidden && entry.path().is_dir() {
            dirs.push(entry.path());
        }
    }
    dirs.sort();
    Ok(dirs)
}

fn plan_status(
    client: &mut Client,
    book: Option<&Book>,
    dir: &Path,
    held: bool,
    live: Option<&crate::model::Schema>,
) -> PlanStatus {
    let dir_name = dir
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let file = match planfile::read_dir(dir, Direction::Forward) {
        Ok(f) => f,
        Err(e) => {
            return PlanStatus {
                dir: dir.to_path_buf(),
                plan_id: dir_name,
                state: PlanState::Unreadable(e.to_string()),
                checksum: None,
                last_run: None,
                next: Vec::new(),
            }
        }
    };
    let mut status = PlanStatus {
        dir: dir.to_path_buf(),
        plan_id: file.plan.id.clone(),
        state: PlanState::Pending,
        checksum: Some(file.checksum.clone()),
        last_run: None,
        next: Vec::new(),
    };
    let Some(book) = book else {
        return status;
    };
    let runs = book.runs_of(&file.plan.id);
    let Some(last) = runs.last() else {
        return status;
    };
    // The fingerprint the cut-off final check would compute: the live schema in the plan's
    // recorded scope (objects out of it are not in its `to`).
    let live = live
        .filter(|_| last.outcome == "verifying")
        .map(|s| catalog::fingerprint(&file.plan.scope.inside(s)));
    status.state = state_of(book, &file, last, held, live.as_deref());
    let mut summary = summary_of(dir, last);
    if last.outcome == "verifying" && !held {
        let verdict = match status.state {
            PlanState::Failed => "the live schema is NOT the plan's `to` (`schemaplan drift` shows the difference); the next apply records the run failed",
            _ => "the live schema is the plan's `to`; the next apply records the run succeeded",
        };
        status.next.push(format!(
            "run {} committed every step but its final check was cut off; checked now: {verdict}",
            last.run_id
        ));
    }
    if matches!(
        status.state,
        PlanState::Running | PlanState::Interrupted | PlanState::Failed
    ) {
        let (stopped_in, next) = resume_of(client, book, dir, last, &status.state, &summary);
        summary.stopped_in = stopped_in;
        status.next.extend(next);
    }
    status.last_run = Some(summary);
    status
}

fn state_of(
    book: &Book,
    file: &planfile::PlanFile,
    last: &Run,
    held: bool,
    live: Option<&str>,
) -> PlanState {
    let verified = || {
        let to = book.record(last.run_id).map(|r| r.to_fingerprint.as_str());
        live.is_some() && live == to
    };
    match (last.outcome.as_str(), last.direction) {
        ("running" | "verifying", _) if held => PlanState::Running,
        ("verifying", _) if !verified() => PlanState::Failed,
        ("running", _) | ("interrupted", _) => PlanState::Interrupted,
        ("failed", _) => PlanState::Failed,
        ("aborted", _) => PlanState::Aborted,
        (_, Direction::Inverse) => PlanState::RolledBack,
        _ => {
            let prior = book.prior(&file.plan.id, Direction::Forward);
            let done = prior.done.keys().copied().collect();
            match super::preflight::next_phase(&file.plan, &done) {
                None => PlanState::Applied,
                Some(next) => PlanState::PartiallyApplied { next },
            }
        }
    }
}

fn summary_of(dir: &Path, run: &Run) -> RunSummary {
    let now = planfile::read_dir(dir, run.direction).map(|f| f.checksum);
    RunSummary {
        run_id: run.run_id,
        direction: run.direction,
        outcome: run.outcome.clone(),
        checksum: run.checksum.clone(),
        checksum_matches: now.is_ok_and(|c| c == run.checksum),
        started_by: run.started_by.clone(),
        started_at: run.started_at.clone(),
        duration: run
            .duration_secs
            .filter(|s| *s >= 0.0)
            .map(Duration::from_secs_f64),
        error: run.error.clone(),
        stopped_in: None,
    }
}

/// Where an unfinished run stopped, and what the next apply will do about it.
fn resume_of(
    client: &mut Client,
    book: &Book,
    dir: &Path,
    last: &Run,
    state: &PlanState,
    summary: &RunSummary,
) -> (Option<String>, Vec<String>) {
    let command = match last.direction {
        Direction::Forward => "apply",
        Direction::Inverse => "rollback",
    };
    let Ok(file) = planfile::read_dir(dir, last.direction) else {
        return (None, Vec::new());
    };
    let plan = &file.plan;
    let total = plan.steps.len();
    let prior = book.prior(&plan.id, last.direction);
    let done: std::collections::BTreeSet<usize> = prior.done.keys().copied().collect();
    let Some(first) = (1..=total).find(|k| !done.contains(k)) else {
        return (None, Vec::new());
    };
    let record = book.record(last.run_id);
    // The step the run stopped in: its open or failed journal entry; a transactional unit cut
    // off leaves none (its entries rolled back with it): then the first step not done, since
    // the run's last recorded activity.
    let open = record.and_then(|r| {
        r.steps
            .iter()
            .filter(|s| s.outcome != "succeeded")
            .max_by_key(|s| s.step)
    });
    let stopped_in = match open {
        Some(s) if s.step <= total => format!(
            "step {}/{total} ({}), started {}",
            s.step,
            s.summary,
            short_stamp(&s.started_at)
        ),
        _ => {
            let since = record
                .and_then(|r| r.steps.iter().filter_map(|s| s.finished_at.clone()).max())
                .map_or_else(|| summary.started_at.clone(), |t| short_stamp(&t));
            format!(
                "step {first}/{total} ({}), in a transaction that was rolled back; last recorded activity {since}",
                plan.steps[first - 1].summary
            )
        }
    };
    let mut next = Vec::new();
    if *state == PlanState::Running {
        next.push(format!(
            "an apply holds the lock and is running this plan; another {command} waits for it (or fails at once with --no-wait)"
        ));
        return (Some(stopped_in), next);
    }
    if !summary.checksum_matches {
        next.push(format!(
            "{} changed since run {}: {command} refuses to resume until the file is restored (or --force)",
            file.path.display(),
            last.run_id
        ));
    }
    let skipped = done.len();
    next.push(if skipped == 0 {
        format!(
            "{command} starts at step 1/{total} ({}): nothing of the plan is recorded as done",
            plan.steps[0].summary
        )
    } else {
        format!(
            "{command} resumes at step {first}/{total} ({}), skipping the {skipped} step(s) recorded as done",
            plan.steps[first - 1].summary
        )
    });
    for &k in prior
        .attempted
        .iter()
        .collect::<std::collections::BTreeSet<_>>()
    {
        if done.contains(&k) || k > total {
            continue;
        }
        let step = &plan.steps[k - 1];
        match step.transaction {
            TxMode::Transaction => next.push(format!(
                "step {k}: its transaction was rolled back by PostgreSQL; it runs again"
            )),
            TxMode::Alone => match cleanup::inspect(client, step) {
                Ok(found) if found.done => next.push(format!(
                    "step {k}: the cut-off run had finished its work ({}); it is marked done without running",
                    found.notes.join("; ")
                )),
                Ok(found) if found.notes.is_empty() => next.push(format!(
                    "step {k}: left nothing behind; it runs again"
                )),
                Ok(found) => {
                    for note in found.notes {
                        next.push(format!("step {k}: {note}"));
                    }
                }
                Err(e) => next.push(format!(
                    "step {k}: cannot inspect what it left: {}",
                    db::error_text(&e)
                )),
            },
            TxMode::Batched => {
                let state = record
                    .into_iter()
                    .chain(book.runs.iter().rev())
                    .flat_map(|r| r.steps.iter())
                    .find(|s| s.step == k && s.batch.is_some())
                    .and_then(|s| s.batch.clone())
                    .unwrap_or_default();
                next.push(format!(
                    "step {k}: {} row(s) in {} committed batch(es) are done; it continues after the last committed batch",
                    state.rows, state.batches
                ));
            }
        }
    }
    (Some(stopped_in), next)
}

/// `2026-11-21T10:15:02.123456Z` -> `2026-11-21T10:15:02Z`.
fn short_stamp(t: &str) -> String {
    match t.get(..19) {
        Some(s) => format!("{s}Z"),
        None => t.to_string(),
    }
}

/// Plans whose `expand` phase ran and whose `contract` phase has not: for each plan id in the
/// journal, its latest run that changed something is a forward run of `--phase expand` that
/// succeeded, and the live schema (fingerprint `live`) is not that run's `to` (a plan without
/// contract steps reaches `to` with its expand run). `drift` reads this once; the only place
/// outside `status` that reads the journal.
pub fn contract_pending(client: &mut Client, live: &str) -> Result<Vec<String>, ExecError> {
    let Some(book) = book::load(client)? else {
        return Ok(Vec::new());
    };
    let mut latest: std::collections::BTreeMap<&str, &book::RunRecord> = Default::default();
    for r in &book.runs {
        if r.steps.iter().any(|s| s.outcome == "succeeded") {
            latest.insert(&r.plan_id, r);
        }
    }
    Ok(latest
        .into_iter()
        .filter(|(_, r)| {
            r.direction == "forward"
                && r.phases == "expand"
                && r.outcome == "succeeded"
                && r.to_fingerprint != live
        })
        .map(|(id, _)| id.to_string())
        .collect())
}
