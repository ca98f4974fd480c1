//! `apply` and `status`: running a reviewed plan file against a live database.
//!
//! Owns the apply lock (one apply per database, [`lock`]), the bookkeeping (history and journal
//! in tables of schema `schemaplan`, which plans never see; [`book`]), the checks
//! before a run (fingerprints, hazards, resume; [`preflight`]), running steps with timeouts,
//! grouping and retries ([`run`]), batched backfills ([`backfill`]), re-running interrupted concurrent index builds ([`cleanup`]),
//! progress display ([`progress`]), the per-plan status report ([`status`]), the way out of a
//! half-done online strategy ([`abort`]), the row check of narrowing type changes
//! ([`narrowing`]) and recording a hotfixed plan as applied ([`mark`]). How it works
//! for users: `docs/executor.md`.

mod abort;
mod apply;
mod backfill;
mod blockers;
mod book;
mod cleanup;
mod interrupt;
mod lock;
mod mark;
mod narrowing;
mod preflight;
mod progress;
mod run;
mod sizes;
mod status;
mod undo;

pub use crate::catalog::BOOKKEEPING_SCHEMA;
pub use abort::abort;
pub use apply::apply;
pub use backfill::BatchPolicy;
pub use blockers::Blocker;
pub use book::{BOOKKEEPING_COLUMNS, BOOK_MAGIC, BOOK_OID};
pub use interrupt::{interrupt_all, Interrupt};
pub use lock::{LOCK_APPLY, LOCK_CLASS};
pub use mark::mark_applied;
pub use progress::{
    describe, human_duration, outcome_key, stderr_progress, BarProgress, JsonProgress,
    LineProgress, Progress, ProgressEvent, QuietProgress, RunEnd,
};
pub use status::{contract_pending, status, status_within, PlanState, PlanStatus, RunSummary};

use crate::catalog::CatalogError;
use crate::db::DbError;
use crate::plan::{Direction, Hazard, Phase};
use crate::planfile::PlanFileError;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

/// Which phases of the plan to run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PhaseSelect {
    /// Steps safe while the old application runs (the default).
    #[default]
    Expand,
    /// Steps to run after the new application is deployed.
    Contract,
    /// Everything.
    All,
}

impl PhaseSelect {
    pub fn includes(self, phase: Phase) -> bool {
        match self {
            PhaseSelect::Expand => phase == Phase::Expand,
            PhaseSelect::Contract => phase == Phase::Contract,
            PhaseSelect::All => true,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PhaseSelect::Expand => "expand",
            PhaseSelect::Contract => "contract",
            PhaseSelect::All => "all",
        }
    }
}

/// Which hazards the operator accepts (`--allow-hazards`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum HazardAllow {
    /// No step with a hazard may run.
    #[default]
    None,
    /// Steps whose hazards are all in the set may run.
    Some(BTreeSet<Hazard>),
    All,
}

impl HazardAllow {
    pub fn allows(&self, hazard: Hazard) -> bool {
        match self {
            HazardAllow::None => false,
            HazardAllow::Some(set) => set.contains(&hazard),
            HazardAllow::All => true,
        }
    }
}

/// Retrying a unit whose lock could not be had in time (SQLSTATE 55P03) or that deadlocked.
///
/// The defaults are sized for DDL behind a long transaction (a 10-second report holding a
/// lock): each attempt queues traffic for at most the step's `lock_timeout` (100 ms by
/// default), then releases everything and waits, so the application runs normally between
/// attempts. Delays double from 200 ms up to 5 s, each a random 50-100 % of that (jitter):
/// 14 retries wait 25-51 s in all before the apply gives up, outlasting a 10-second
/// transaction several times over while trying often enough (every 2.5-5 s once capped) to
/// catch the gap after it. `apply --lock-retries` / `--lock-retry-max-delay-ms` change them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Delay before the first retry; doubles with each attempt.
    pub base: Duration,
    /// Cap on one delay.
    pub max_delay: Duration,
    /// Attempts in all, the first included.
    pub max_attempts: u32,
}

/// Retries after the first attempt, by default (`apply --lock-retries`).
pub const DEFAULT_LOCK_RETRIES: u32 = 14;
/// Cap on one backoff delay, by default (`apply --lock-retry-max-delay-ms`).
pub const DEFAULT_RETRY_MAX_DELAY_MS: u64 = 5000;

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            base: Duration::from_millis(200),
            max_delay: Duration::from_millis(DEFAULT_RETRY_MAX_DELAY_MS),
            max_attempts: DEFAULT_LOCK_RETRIES + 1,
        }
    }
}

/// What `apply` (and `rollback`, with `direction: Inverse`) is asked to do.
#[derive(Clone, Debug)]
pub struct ApplyOptions {
    /// May contain a password: only ever shown through `db::redact`.
    pub db_url: String,
    /// The plan directory (`plans/<id>`).
    pub plan_dir: PathBuf,
    /// `Forward` runs `plan.sql`, `Inverse` runs `inverse.sql`.
    pub direction: Direction,
    pub phase: PhaseSelect,
    pub allow_hazards: HazardAllow,
    /// Check everything, print what would run, change nothing.
    pub dry_run: bool,
    /// Run even though the live schema is not the plan's `from` (or the plan file changed
    /// since an unfinished run), with a loud warning.
    pub force: bool,
    /// Run a plan file marked `proven: no` (an inverse whose proof failed, a plan written with
    /// `--no-proof`); refused otherwise.
    pub allow_unproven: bool,
    /// Fail at once when another apply holds the lock.
    pub no_wait: bool,
    /// How long to wait for another apply to finish.
    pub lock_wait: Duration,
    pub retry: RetryPolicy,
    /// Batch sizes and pauses of batched steps (backfills).
    pub batch: BatchPolicy,
    /// Stops the run cleanly when triggered (SIGINT triggers every running apply).
    pub interrupt: Interrupt,
    /// The scope of the current configuration: a plan made with another is refused
    /// ([`check_scope`]). `None`: not checked (the live reads use the plan's scope anyway).
    pub scope: Option<crate::catalog::Scope>,
}

/// The stale-plan rule for scope: a plan whose scope differs from the configuration's is
/// refused before anything is read or written.
pub fn check_scope(opts: &ApplyOptions, file: &crate::planfile::PlanFile) -> Result<(), ExecError> {
    match &opts.scope {
        Some(current) if *current != file.plan.scope => Err(ExecError::ScopeChanged {
            path: file.path.clone(),
            planned: file.plan.scope.to_string(),
            current: current.to_string(),
        }),
        _ => Ok(()),
    }
}

impl ApplyOptions {
    /// Defaults: forward, expand phase, no hazards allowed, wait up to a minute for the lock.
    pub fn new(db_url: impl Into<String>, plan_dir: impl Into<PathBuf>) -> Self {
        ApplyOptions {
            db_url: db_url.into(),
            plan_dir: plan_dir.into(),
            direction: Direction::Forward,
            phase: PhaseSelect::Expand,
            allow_hazards: HazardAllow::None,
            dry_run: false,
            force: false,
            allow_unproven: false,
            no_wait: false,
            lock_wait: Duration::from_secs(60),
            retry: RetryPolicy::default(),
            batch: BatchPolicy::default(),
            interrupt: Interrupt::new(),
            scope: None,
        }
    }
}

/// How an apply ended (errors are [`ExecError`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OutcomeKind {
    /// Every step of the plan has run and the live schema matches `to`.
    Applied,
    /// The selected phase ran; `next` remains.
    PhaseApplied { next: Phase },
    /// The plan had already been applied; nothing was done.
    AlreadyApplied,
    /// Nothing selected to run (empty plan, or no step in the selected phase).
    NothingToDo,
    /// `dry_run`: nothing was changed.
    DryRun,
    /// `--abort`: the temporary machinery of the steps done since the last consistent point
    /// was taken back (`exec::abort`).
    Aborted,
    /// `--mark-applied`: recorded as applied without running (`exec::mark`).
    Marked,
}

/// What `apply` did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApplyOutcome {
    pub plan_id: String,
    pub kind: OutcomeKind,
    /// The id of this run in the bookkeeping (none when nothing ran).
    pub run_id: Option<i64>,
    /// Steps run (for a dry run: that would run).
    pub steps_run: Vec<usize>,
    /// Steps skipped because an earlier run of the plan did them.
    pub steps_skipped: Vec<usize>,
    /// Retries after lock timeouts or deadlocks.
    pub retries: u32,
    /// Checks overridden by `force`, and the like.
    pub warnings: Vec<String>,
    /// A human sentence saying what happened and what to run next.
    pub message: String,
}

/// Why `apply` or `status` stopped. Messages never contain a password.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error(transparent)]
    PlanFile(#[from] PlanFileError),
    /// The plan was made with another scope than the configuration's (stale-plan rule): its
    /// fingerprints cover other objects than this command would read.
    #[error("{}: the plan was made with scope {planned}, but the current scope is {current}: its fingerprints cover other objects\nhint: plan again with the current scope, or run with the plan's (--include/--exclude, [scope] in schemaplan.toml)", path.display())]
    ScopeChanged {
        path: std::path::PathBuf,
        planned: String,
        current: String,
    },
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("reading the live schema: {0}")]
    Catalog(#[from] CatalogError),
    #[error("cannot {what}: {}", run::full_error(source))]
    Bookkeeping {
        what: &'static str,
        #[source]
        source: postgres::Error,
    },
    #[error("cannot use the bookkeeping large object {oid}: {problem}")]
    BookUnreadable { oid: u32, problem: String },
    #[error("role {role} cannot {doing}: it lacks {missing}\nhint: {grantor}, run: {grants}")]
    BookPrivileges {
        role: String,
        /// What it tried: `read schemaplan's history (...)`.
        doing: &'static str,
        missing: String,
        /// Who can grant it: `as the owner of schema schemaplan ... or a superuser`.
        grantor: &'static str,
        /// The statements to run, for this role.
        grants: String,
    },
    #[error("another schemaplan apply is running on this database ({holder}){}\nhint: let it finish; if it is stuck or its process is gone, end its session with SELECT pg_terminate_backend(<pid>)", match waited { Some(w) => format!("; gave up after waiting {}", human_duration(*w)), None => "; not waiting (--no-wait)".to_string() })]
    LockBusy {
        holder: String,
        waited: Option<Duration>,
    },
    #[error("{}: this plan was not proven: {why}\nhint: schemaplan could not show on a scratch database that it does what it should; read it (and fix it by hand, or re-plan), then pass --allow-unproven to run it anyway", path.display())]
    Unproven { path: PathBuf, why: String },
    #[error("plan {plan_id} starts from schema {expected} but the database has {live}{note}\nhint: the database changed since the plan was made: run `schemaplan plan` again (or pass --force to apply anyway)")]
    FromMismatch {
        plan_id: String,
        expected: String,
        live: String,
        note: String,
    },
    #[error("plan {plan_id}: tables grew past the size the plan judged them by; their steps take plain forms that hold their lock while they scan or build:\n{}\nhint: run `schemaplan plan` again (it will choose the online forms), or pass --force to apply as planned", steps.join("\n"))]
    TablesGrew { plan_id: String, steps: Vec<String> },
    #[error("plan {plan_id}: cannot mark it applied: the live schema ({live}) is not the plan's `to` ({expected}){note}{}\nhint: `schemaplan drift` shows the difference with the schema files; apply the plan (or finish the hotfix) instead", if differences.is_empty() { String::new() } else { format!("\nwhat differs from the schema the plan leads to ({} object{}):\n  {}", differences.len(), if differences.len() == 1 { "" } else { "s" }, differences.iter().take(20).cloned().collect::<Vec<_>>().join("\n  ")) })]
    NotAtTarget {
        plan_id: String,
        expected: String,
        live: String,
        note: String,
        differences: Vec<String>,
    },
    #[error("plan {plan_id}: rows do not fit a narrowing type change, whose online machinery (a shadow column and a trigger converting every write) would fail on them half-way; nothing was changed:\n{}\nhint: change or remove those rows (or widen the type in the schema and plan again), then run it again", problems.join("\n"))]
    Narrowing {
        plan_id: String,
        problems: Vec<String>,
    },
    #[error("plan {plan_id}: cannot check the rows of a narrowing type change: {error}")]
    NarrowingCheck { plan_id: String, error: String },
    #[error("plan {plan_id} has steps with hazards that were not allowed:\n{}\nhint: review them, then pass {flag}", steps.join("\n"))]
    Hazards {
        plan_id: String,
        steps: Vec<String>,
        flag: String,
    },
    #[error("{} changed since run {run_id} applied part of it (checksum then {recorded}, now {now}){note}\nhint: restore the file as it was, or pass --force to continue after the steps that run recorded as done", path.display())]
    ChecksumChanged {
        path: PathBuf,
        run_id: i64,
        recorded: String,
        now: String,
        note: String,
    },
    #[error("plan {plan_id}: steps {} must run before the selected ones and have not{hint}", missing.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(", "))]
    EarlierStepsMissing {
        plan_id: String,
        missing: Vec<usize>,
        hint: String,
    },
    #[error("plan {plan_id}: step {number}/{total} ({summary}) failed{}: {error}\nrun {run_id} is recorded as failed; {}", if *attempts > 1 { format!(" after {attempts} attempts") } else { String::new() }, next.as_deref().map_or("fix the cause and apply again to resume at this step", |n| n.as_str()))]
    Step {
        plan_id: String,
        run_id: i64,
        number: usize,
        total: usize,
        summary: String,
        sqlstate: Option<String>,
        /// PostgreSQL's message, detail, hint and context (boxed, like `next`: the error stays
        /// small enough to return by value).
        error: Box<String>,
        attempts: u32,
        /// What the failure left and what to do next, when it is more than "fix the cause
        /// and apply again" (`exec::undo`).
        next: Option<Box<String>>,
    },
    #[error("plan {plan_id}: abort stopped: {error}; run {run_id} is recorded as failed\nhint: every undo is idempotent: fix the cause (a lock held too long, ...) and run the abort again")]
    Abort {
        plan_id: String,
        run_id: i64,
        error: String,
    },
    #[error("plan {plan_id}: {reason} at step {number}/{total}; run {run_id} is recorded as interrupted\nhint: apply again to resume at that step{}", abort_hint.as_deref().map_or(String::new(), |h| format!("; {h}")))]
    Interrupted {
        plan_id: String,
        run_id: i64,
        number: usize,
        total: usize,
        /// What stopped it: Ctrl-C, or the connection was lost.
        reason: String,
        /// `apply --abort` and what it would take back, when it has something to.
        abort_hint: Option<Box<String>>,
    },
    #[error("plan {plan_id}: all steps ran but the live schema ({live}) is not the plan's target ({expected}); run {run_id} is recorded as failed\nhint: `schemaplan drift` shows the difference")]
    Verify {
        plan_id: String,
        run_id: i64,
        expected: String,
        live: String,
    },
    #[error("cannot read plans directory {}: {source}", path.display())]
    PlansDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl ExecError {
    /// The run's closing sentence for `run_finished` (`apply --format json`): what failed and
    /// what to run next (resume, `--abort`, re-plan ...), on one line. The error itself keeps
    /// every detail (the server's message, its context) for stderr.
    pub fn closing_sentence(&self) -> String {
        let one_line = |s: &str| {
            s.lines()
                .map(|l| l.trim().trim_start_matches("hint: "))
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>()
                .join("; ")
        };
        match self {
            ExecError::Step {
                run_id,
                number,
                total,
                summary,
                attempts,
                next,
                ..
            } => format!(
                "run {run_id} failed at step {number}/{total} ({summary}){}; {}",
                if *attempts > 1 {
                    format!(" after {attempts} attempts")
                } else {
                    String::new()
                },
                one_line(next.as_deref().map_or(
                    "fix the cause and apply again to resume at this step",
                    |n| n.as_str()
                ))
            ),
            ExecError::Interrupted {
                run_id,
                number,
                total,
                reason,
                abort_hint,
                ..
            } => format!(
                "run {run_id} stopped at step {number}/{total}: {reason}; apply again to resume \
                 at that step{}",
                abort_hint
                    .as_deref()
                    .map_or(String::new(), |h| format!("; {}", one_line(h.as_str())))
            ),
            ExecError::Abort { run_id, error, .. } => format!(
                "run {run_id} (abort) stopped: {}; every undo is idempotent: fix the cause and \
                 run the abort again",
                one_line(error.as_str())
            ),
            ExecError::Verify { run_id, .. } => format!(
                "run {run_id} ran every step but the live schema is not the plan's target; \
                 `schemaplan drift` shows the difference"
            ),
            // Refused before any step ran (hazards, a changed schema ...), or stopped by the
            // connection or the bookkeeping: the error's first line says what, its hints what
            // to do.
            other => {
                let text = other.to_string();
                let mut lines = text.lines();
                let what = lines.next().unwrap_or_default().trim_end_matches(':');
                let hints: Vec<&str> = lines.filter_map(|l| l.strip_prefix("hint: ")).collect();
                if hints.is_empty() {
                    format!("stopped: {what}")
                } else {
                    format!("stopped: {what}; {}", hints.join("; "))
                }
            }
        }
    }

    fn bookkeeping(what: &'static str) -> impl FnOnce(postgres::Error) -> ExecError {
        move |source| ExecError::Bookkeeping { what, source }
    }
}

/// Who is applying, for a run's `started_by` next to the database user: `os_user@host`.
/// Never a password.
fn client_identity() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()
        .filter(|u| !u.is_empty())
        .or_else(os_user_name)
        // SAFETY: getuid has no preconditions.
        .unwrap_or_else(|| format!("uid {}", unsafe { libc::getuid() }));
    format!("{user}@{}", hostname())
}

/// The name of the process's user from the password database.
fn os_user_name() -> Option<String> {
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buf = vec![0 as libc::c_char; 4096];
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call; getpwuid_r writes the entry's strings into
    // `buf` and sets `result` to `&pwd` on success or null when there is no entry.
    let rc = unsafe {
        libc::getpwuid_r(
            libc::getuid(),
            &mut pwd,
            buf.as_mut_ptr(),
            buf.len(),
            &mut result,
        )
    };
    if rc != 0 || result.is_null() || pwd.pw_name.is_null() {
        return None;
    }
    // SAFETY: on success pw_name points to a NUL-terminated string inside `buf`.
    let name = unsafe { std::ffi::CStr::from_ptr(pwd.pw_name) };
    Some(name.to_string_lossy().into_owned())
}

fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates within it or fails.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len() - 1) };
    if rc != 0 {
        return "unknown-host".to_string();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_the_os_user_without_the_environment() {
        let name = super::os_user_name().expect("the test user has a passwd entry");
        assert!(!name.is_empty());
        assert!(super::client_identity().contains('@'));
    }
}
