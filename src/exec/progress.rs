//! What `apply` reports while it runs, and two ways to show it: an indicatif bar for the plan
//! plus a spinner for the running step on a terminal, plain timestamped lines otherwise (CI logs).
//! Events never carry a connection string with a password (callers pass `db::redact`ed URLs).

use std::io::{IsTerminal, Write};
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
    /// A lock could not be had in time: the unit was rolled back and runs again after `delay`.
    /// Sessions holding a conflicting lock on the relation a unit could not lock (printed
    /// before the retry that follows).
    Blocked {
        steps: String,
        sessions: Vec<String>,
    },
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

/// A bar on a terminal, plain lines otherwise; both on stderr.
pub fn stderr_progress() -> Box<dyn Progress> {
    if std::io::stderr().is_terminal() {
        Box::new(BarProgress::new())
    } else {
        Box::new(LineProgress::new(std::io::stderr()))
    }
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
            "step{} {steps}: the lock is held by {}",
            if steps.contains('-') { "s" } else { "" },
            sessions.join("; ")
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

/// `2026-11-21T10:15:02Z step 3/7 create index ... done in 1.2s`, one line per event; batches
/// of a batched step at most one line per [`BATCH_LINE_EVERY`] (plus the first).
pub struct LineProgress<W: Write> {
    out: W,
    last_batch_line: Option<std::time::Instant>,
}

/// How often a CI log gets a line about a running backfill.
pub const BATCH_LINE_EVERY: Duration = Duration::from_secs(5);

impl<W: Write> LineProgress<W> {
    pub fn new(out: W) -> Self {
        LineProgress {
            out,
            last_batch_line: None,
        }
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

impl<W: Write> Progress for LineProgress<W> {
    fn event(&mut self, e: ProgressEvent) {
        if matches!(e, ProgressEvent::StepStarted { .. }) {
            return; // the done/failed line says it; CI logs stay one line per step
        }
        if matches!(e, ProgressEvent::Batch { .. }) {
            let now = std::time::Instant::now();
            if self
                .last_batch_line
                .is_some_and(|t| now.duration_since(t) < BATCH_LINE_EVERY)
            {
                return;
            }
            self.last_batch_line = Some(now);
        }
        let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ");
        let _ = writeln!(self.out, "{now} {}", describe(&e));
        let _ = self.out.flush();
    }
}

/// A bar over the steps to run, and a spinner with the elapsed time of the running step.
pub struct BarProgress {
    multi: indicatif::MultiProgress,
    plan: Option<indicatif::ProgressBar>,
    step: Option<indicatif::ProgressBar>,
}

impl BarProgress {
    pub fn new() -> Self {
        BarProgress {
            multi: indicatif::MultiProgress::new(),
            plan: None,
            step: None,
        }
    }

    fn start_plan(&mut self, plan_id: &str, to_run: usize) {
        let style = indicatif::ProgressStyle::with_template(
            "{prefix} [{bar:30}] {pos}/{len} steps {elapsed}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> ");
        let bar = self
            .multi
            .add(indicatif::ProgressBar::new(to_run as u64).with_style(style));
        bar.set_prefix(plan_id.to_string());
        bar.enable_steady_tick(Duration::from_secs(1));
        self.plan = Some(bar);
    }

    fn start_step(&mut self, text: String) {
        let style = indicatif::ProgressStyle::with_template("  {spinner} {msg} {elapsed}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner());
        let spinner = self
            .multi
            .add(indicatif::ProgressBar::new_spinner().with_style(style));
        spinner.set_message(text);
        spinner.enable_steady_tick(Duration::from_millis(120));
        self.step = Some(spinner);
    }

    /// Turns the running step's spinner into a bar over the table's rows.
    fn batch(&mut self, text: String, rows: u64, estimate: Option<u64>) {
        let Some(bar) = &self.step else {
            return;
        };
        if bar.length().is_none() {
            let style = indicatif::ProgressStyle::with_template(
                "  {msg} [{bar:30}] {human_pos}/{human_len} rows {per_sec} {elapsed}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> ");
            bar.set_style(style);
            bar.set_length(estimate.unwrap_or(rows).max(rows));
            bar.reset_eta();
        }
        if bar.length().is_some_and(|l| l < rows) {
            bar.set_length(rows);
        }
        bar.set_message(text);
        bar.set_position(rows);
    }

    fn end_step(&mut self) {
        if let Some(s) = self.step.take() {
            s.finish_and_clear();
            self.multi.remove(&s);
        }
    }
}

impl Default for BarProgress {
    fn default() -> Self {
        Self::new()
    }
}

impl Progress for BarProgress {
    fn event(&mut self, e: ProgressEvent) {
        match &e {
            ProgressEvent::Started {
                plan_id, to_run, ..
            } => self.start_plan(plan_id, *to_run),
            ProgressEvent::StepStarted { .. } => {
                self.start_step(describe(&e));
                return;
            }
            ProgressEvent::Batch {
                number,
                total,
                rows,
                estimate,
                ..
            } => {
                self.batch(format!("step {number}/{total}"), *rows, *estimate);
                return;
            }
            ProgressEvent::StepDone { .. } | ProgressEvent::StepFailed { .. } => {
                self.end_step();
                if matches!(e, ProgressEvent::StepDone { .. }) {
                    self.plan.iter().for_each(|b| b.inc(1));
                }
            }
            ProgressEvent::Retry { .. } => self.end_step(),
            ProgressEvent::Finished { .. } => {
                // The caller shows the outcome (or the error); the bar just stops.
                self.end_step();
                if let Some(b) = self.plan.take() {
                    b.finish();
                }
                return;
            }
            _ => {}
        }
        let _ = self.multi.println(describe(&e));
    }
}
