//! `status`: for each plan directory, whether this database has it applied, partly applied,
//! running, failed, interrupted, rolled back or pending, from the bookkeeping large object
//! (read once). Read-only: it takes no lock and creates nothing.

use super::book::{self, Book, Run};
use super::{lock, ExecError};
use crate::db;
use crate::plan::{Direction, Phase};
use crate::planfile;
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
    /// The plan file cannot be read.
    Unreadable(String),
}

impl fmt::Display for PlanState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlanState::Pending => f.write_str("pending"),
            PlanState::Applied => f.write_str("applied"),
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
}

/// Status of every plan directory under `plans_dir` (sorted by name) on the database at
/// `db_url`. A database without bookkeeping (never applied to) has every plan pending.
pub fn status(db_url: &str, plans_dir: &Path) -> Result<Vec<PlanStatus>, ExecError> {
    let dirs = plan_dirs(plans_dir)?;
    let mut client = db::connect(db_url)?;
    let book = book::load(&mut client)?;
    let held = book.is_some() && lock::is_held(&mut client)?;
    Ok(dirs
        .iter()
        .map(|d| plan_status(book.as_ref(), d, held))
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

fn plan_status(book: Option<&Book>, dir: &Path, held: bool) -> PlanStatus {
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
            }
        }
    };
    let mut status = PlanStatus {
        dir: dir.to_path_buf(),
        plan_id: file.plan.id.clone(),
        state: PlanState::Pending,
        checksum: Some(file.checksum.clone()),
        last_run: None,
    };
    let Some(book) = book else {
        return status;
    };
    let runs = book.runs_of(&file.plan.id);
    let Some(last) = runs.last() else {
        return status;
    };
    status.state = state_of(book, &file, last, held);
    status.last_run = Some(summary_of(dir, last));
    status
}

fn state_of(book: &Book, file: &planfile::PlanFile, last: &Run, held: bool) -> PlanState {
    match (last.outcome.as_str(), last.direction) {
        ("running", _) if held => PlanState::Running,
        ("running", _) | ("interrupted", _) => PlanState::Interrupted,
        ("failed", _) => PlanState::Failed,
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
    }
}
