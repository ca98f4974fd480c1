//! What `apply` reports while it runs, and three ways to show it: an indicatif bar for the plan
//! plus a spinner for the running step on a terminal, plain timestamped lines otherwise (CI logs),
//! and JSON lines on stdout for `--format json` ([`JsonProgress`], docs/json.md).
//! Events never carry a connection string with a password (callers pass `db::redact`ed URLs).
//!
//! Where each part lives: the events, their one-line text and the quiet reporter here;
//! `terminal` the bar and the plain lines; `json` the JSON lines.

mod json;
mod terminal;

pub use json::{outcome_key, JsonProgress, RunEnd};
pub use terminal::{BarProgress, LineProgress};

use std::io::IsTerminal;
use std::time::Duration;

/// One thing that happened during `apply`.
#[derive(Clone, Debug, PartialEq)]
pub enum ProgressEvent {
    /// A plain message (dry-run listing, what to run next, ...).
    Info(String),
    /// Something the operator must notice (`--force` overriding a check, ...).
    Warning(String),
    /// Another session holds the apply lock; waiting up to `wait`.
    WaitingForLock { holder: String, wait: Duration },
    /// The run starts: `to_run` steps of a plan of `total`.
    Started {
        plan_id: String,
        run_id: i64,
        to_run: usize,
        total: usize,
    },
    /// A step already applied by an earlier run of the same plan.
    StepSkipped {
        number: usize,
        total: usize,
        summary: String,
    },
    StepStarted {
        number: usize,
        total: usize,
        summary: String,
    },
    /// The step's SQL ran (inside a transaction: committed with its group, see `Committed`).
    StepDone {
        number: usize,
        total: usize,
        summary: String,
        elapsed: Duration,
    },
    /// A batch of a batched step committed: `rows` updated so far (all runs) of about
    /// `estimate`, `batch` batches so far; this one was `size` rows and took `took`.
    Batch {
        number: usize,
        total: usize,
        batch: u64,
        rows: u64,
        estimate: Option<u64>,
        size: u64,
        took: Duration,
    },
    /// A transaction of several steps committed.
    Committed { steps: String, elapsed: Duration },
    /// The sessions that stood in a unit's way: holding a conflicting lock on the relation it
    /// could not lock in time, or the other side of the deadlock it lost (printed before the
    /// retry that follows, `exec::blockers`).
    Blocked {
        steps: String,
        sessions: Vec<super::blockers::Blocker>,
    },
    /// A lock could not be had in time (or a deadlock): the unit was rolled back and runs
    /// again after `delay`.
    Retry {
        steps: String,
        attempt: u32,
        max_attempts: u32,
        delay: Duration,
        reason: String,
    },
    StepFailed {
        number: usize,
        total: usize,
        summary: String,
        message: String,
    },
    /// The run ended; `message` says how.
    Finished { message: String },
}

/// Receives progress events.
pub trait Progress {
    fn event(&mut self, e: ProgressEvent);
}

/// Drops every event but warnings, which go to stderr (`apply -q`).
pub struct QuietProgress;

impl Progress for QuietProgress {
    fn event(&mut self, e: ProgressEvent) {
        if let ProgressEvent::Warning(_) = e {
            eprintln!("{}", describe(&e));
        }
    }
}

/// A bar on a terminal, plain lines otherwise; both on stderr.
pub fn stderr_progress() -> Box<dyn Progress> {
    if std::io::stderr().is_terminal() {
        Box::new(BarProgress::new())
    } else {
        Box::new(LineProgress::new(std::io::stderr()))
    }
}

/// The bar of a batched step: whole rows per second (indicatif's `{per_sec}` prints
/// `28,578.859/s`) and the time left at that rate.
fn batch_style() -> Result<indicatif::ProgressStyle, indicatif::style::TemplateError> {
    Ok(indicatif::ProgressStyle::with_template(
        "  {msg} [{bar:30}] {human_pos}/{human_len} rows {rate} ETA {eta} {elapsed}",
    )?
    .with_key(
        "rate",
        |s: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = w.write_str(&rate_text(s.per_sec()));
        },
    )
    .progress_chars("=> "))
}

/// A rate of rows as whole rows per second with thousands separators: `28,578/s`.
pub fn rate_text(per_sec: f64) -> String {
    let whole = if per_sec.is_finite() && per_sec > 0.0 {
        per_sec.round() as u64
    } else {
        0
    };
    format!("{}/s", indicatif::HumanCount(whole))
}

/// `1.2s`, `350ms`, `2m05s`.
pub fn human_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        format!("{:.1}s", d.as_secs_f64())
    } else {
        format!("{}m{:02}s", ms / 60_000, (ms / 1000) % 60)
    }
}

/// The text of an event, without timestamp (shared by both displays).
pub fn describe(e: &ProgressEvent) -> String {
    match e {
        ProgressEvent::Info(m) => m.clone(),
        ProgressEvent::Warning(m) => format!("WARNING: {m}"),
        ProgressEvent::WaitingForLock { holder, wait } => format!(
            "another apply holds the lock ({holder}); waiting up to {}",
            human_duration(*wait)
        ),
        ProgressEvent::Started {
            plan_id,
            run_id,
            to_run,
            total,
        } => format!("run {run_id}: applying {plan_id}, {to_run} of {total} steps"),
        ProgressEvent::StepSkipped {
            number,
            total,
            summary,
        } => format!("step {number}/{total} {summary} already applied, skipped"),
        ProgressEvent::StepStarted {
            number,
            total,
            summary,
        } => format!("step {number}/{total} {summary} ..."),
        ProgressEvent::StepDone {
            number,
            total,
            summary,
            elapsed,
        } => format!(
            "step {number}/{total} {summary} done in {}",
            human_duration(*elapsed)
        ),
        ProgressEvent::Batch {
            number,
            total,
            batch,
            rows,
            estimate,
            size,
            took,
        } => format!(
            "step {number}/{total} batch {batch}: {rows}{} rows updated (batch of {size} in {})",
            estimate.map_or(String::new(), |e| format!(" of ~{e}")),
            human_duration(*took)
        ),
        ProgressEvent::Committed { steps, elapsed } => format!(
            "steps {steps} committed (one transaction, {})",
            human_duration(*elapsed)
        ),
        ProgressEvent::Blocked { steps, sessions } => format!(
            "step{} {steps}: {} {}",
            if steps.contains('-') { "s" } else { "" },
            if sessions.iter().any(|b| b.cause == "deadlock") {
                "deadlocked with"
            } else {
                "the lock is held by"
            },
            sessions
                .iter()
                .map(|b| b.to_string())
                .collect::<Vec<_>>()
                .join("; ")
        ),
        ProgressEvent::Retry {
            steps,
            attempt,
            max_attempts,
            delay,
            reason,
        } => format!(
            "step{} {steps}: {reason}; undone, retry {attempt}/{} in {}",
            if steps.contains('-') { "s" } else { "" },
            max_attempts.saturating_sub(1),
            human_duration(*delay)
        ),
        ProgressEvent::StepFailed {
            number,
            total,
            summary,
            message,
        } => format!("step {number}/{total} {summary} FAILED: {message}"),
        ProgressEvent::Finished { message } => message.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_bar_template_is_valid() {
        // An invalid template would fall back to a plain bar without rate or ETA.
        assert!(batch_style().is_ok());
    }

    #[test]
    fn rates_are_whole_rows_per_second() {
        assert_eq!(rate_text(28_578.859), "28,579/s");
        assert_eq!(rate_text(0.4), "0/s");
        assert_eq!(rate_text(f64::NAN), "0/s");
    }
}
