//! What `apply` reports while it runs, and three ways to show it: an indicatif bar for the plan
//! plus a spinner for the running step on a terminal, plain timestamped lines otherwise (CI logs),
//! and JSON lines on stdout for `--format json` ([`JsonProgress`], docs/json.md).
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
            let style = batch_style().unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
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
                // The caller shows the outcome (or the error); the bar just stops. A run that
                // stopped early (Ctrl-C, a failed step) leaves the bar where it stopped:
                // `finish` would move it to the end and show `14/14 steps` for 3 done.
                self.end_step();
                if let Some(b) = self.plan.take() {
                    if b.length().is_some_and(|len| b.position() >= len) {
                        b.finish();
                    } else {
                        b.abandon();
                    }
                }
                return;
            }
            _ => {}
        }
        let _ = self.multi.println(describe(&e));
    }
}

/// `--format json`: one JSON object per line and event on `out` (stdout), no bar. Every line
/// has `event` (its type) and `time` (RFC 3339, UTC); the keys of each type are documented in
/// docs/json.md and fixed by docs/schemas/apply-event.json. Two events are shaped here rather
/// than passed through: a `Blocked` event is held and its sessions go into the `retry` event
/// that follows it (the blocker of that retry), and the executor's `Finished` event is left
/// to [`JsonProgress::finish`], which writes the one `run_finished` line with the outcome (or
/// the error's closing sentence).
pub struct JsonProgress<W: Write> {
    out: W,
    /// Attempts so far of steps that were retried (a unit's retry counts for all its steps).
    attempts: std::collections::BTreeMap<usize, u32>,
    /// Sessions of the last `Blocked` event, for the next `retry`.
    blockers: Vec<super::blockers::Blocker>,
}

/// How a run ended, for the `run_finished` event.
pub enum RunEnd<'a> {
    /// The run returned an outcome (applied, phase applied, nothing to do, dry run, ...).
    Outcome(&'a super::ApplyOutcome),
    /// The run stopped with an error (`interrupted` when Ctrl-C or a lost connection
    /// stopped it, `failed` otherwise); the error itself goes to stderr.
    Error(&'a super::ExecError),
}

impl<W: Write> JsonProgress<W> {
    pub fn new(out: W) -> Self {
        JsonProgress {
            out,
            attempts: Default::default(),
            blockers: Vec::new(),
        }
    }

    pub fn into_inner(self) -> W {
        self.out
    }

    fn write(&mut self, event: &str, fields: serde_json::Value) {
        let mut line = serde_json::json!({
            "event": event,
            "time": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        });
        if let (Some(line), serde_json::Value::Object(fields)) = (line.as_object_mut(), fields) {
            line.extend(fields);
        }
        let _ = writeln!(self.out, "{line}");
        let _ = self.out.flush();
    }

    /// The attempts a step took (1 unless a retry event named it).
    fn attempts_of(&mut self, number: usize) -> u32 {
        self.attempts.remove(&number).unwrap_or(1)
    }

    /// Writes the `run_finished` line: the outcome and the closing sentence (on an error:
    /// what failed and what to run next, [`super::ExecError::closing_sentence`]).
    pub fn finish(&mut self, end: RunEnd<'_>) {
        let fields = match end {
            RunEnd::Outcome(o) => serde_json::json!({
                "outcome": outcome_key(&o.kind),
                "next_phase": match &o.kind {
                    super::OutcomeKind::PhaseApplied { next } => Some(next.as_str()),
                    _ => None,
                },
                "plan_id": o.plan_id,
                "run_id": o.run_id,
                "steps_run": o.steps_run,
                "steps_skipped": o.steps_skipped,
                "retries": o.retries,
                "warnings": o.warnings,
                "message": o.message,
            }),
            RunEnd::Error(e) => serde_json::json!({
                "outcome": if matches!(e, super::ExecError::Interrupted { .. }) {
                    "interrupted"
                } else {
                    "failed"
                },
                "message": e.closing_sentence(),
            }),
        };
        self.write("run_finished", fields);
    }
}

/// The JSON name of an outcome (`run_finished`'s `outcome`).
pub fn outcome_key(k: &super::OutcomeKind) -> &'static str {
    match k {
        super::OutcomeKind::Applied => "applied",
        super::OutcomeKind::PhaseApplied { .. } => "phase-applied",
        super::OutcomeKind::AlreadyApplied => "already-applied",
        super::OutcomeKind::NothingToDo => "nothing-to-do",
        super::OutcomeKind::DryRun => "dry-run",
        super::OutcomeKind::Aborted => "aborted",
        super::OutcomeKind::Marked => "marked-applied",
    }
}

/// The steps of a unit's range text (`3`, `3-5`); none when it is not one.
fn step_range(steps: &str) -> Vec<usize> {
    let mut parts = steps.split('-').map(|p| p.trim().parse::<usize>().ok());
    match (parts.next().flatten(), parts.next().flatten()) {
        (Some(a), Some(b)) => (a..=b).collect(),
        (Some(a), None) => vec![a],
        _ => Vec::new(),
    }
}

fn ms(d: Duration) -> u64 {
    d.as_millis().min(u64::MAX as u128) as u64
}

impl<W: Write> Progress for JsonProgress<W> {
    fn event(&mut self, e: ProgressEvent) {
        use serde_json::json;
        match e {
            ProgressEvent::Info(m) => self.write("info", json!({ "message": m })),
            ProgressEvent::Warning(m) => self.write("warning", json!({ "message": m })),
            ProgressEvent::WaitingForLock { holder, wait } => self.write(
                "waiting_for_lock",
                json!({ "holder": holder, "wait_ms": ms(wait) }),
            ),
            ProgressEvent::Started {
                plan_id,
                run_id,
                to_run,
                total,
            } => self.write(
                "run_started",
                json!({ "plan_id": plan_id, "run_id": run_id, "steps_to_run": to_run,
                        "steps_total": total }),
            ),
            ProgressEvent::StepSkipped {
                number,
                total,
                summary,
            } => self.write(
                "step_skipped",
                json!({ "step": number, "steps_total": total, "summary": summary }),
            ),
            ProgressEvent::StepStarted {
                number,
                total,
                summary,
            } => self.write(
                "step_started",
                json!({ "step": number, "steps_total": total, "summary": summary }),
            ),
            ProgressEvent::StepDone {
                number,
                total,
                summary,
                elapsed,
            } => {
                let attempts = self.attempts_of(number);
                self.write(
                    "step_finished",
                    json!({ "step": number, "steps_total": total, "summary": summary,
                            "duration_ms": ms(elapsed), "attempts": attempts }),
                )
            }
            ProgressEvent::Batch {
                number,
                total,
                batch,
                rows,
                estimate,
                size,
                took,
            } => self.write(
                "batch",
                json!({ "step": number, "steps_total": total, "batch": batch, "rows_done": rows,
                        "rows_estimate": estimate, "batch_rows": size,
                        "duration_ms": ms(took) }),
            ),
            ProgressEvent::Committed { steps, elapsed } => self.write(
                "committed",
                json!({ "steps": steps, "duration_ms": ms(elapsed) }),
            ),
            ProgressEvent::Blocked { sessions, .. } => self.blockers = sessions,
            ProgressEvent::Retry {
                steps,
                attempt,
                max_attempts,
                delay,
                reason,
            } => {
                for n in step_range(&steps) {
                    self.attempts.insert(n, attempt + 1);
                }
                let blockers = std::mem::take(&mut self.blockers);
                self.write(
                    "retry",
                    json!({ "steps": steps, "attempt": attempt, "max_attempts": max_attempts,
                            "delay_ms": ms(delay), "reason": reason, "blockers": blockers }),
                )
            }
            ProgressEvent::StepFailed {
                number,
                total,
                summary,
                message,
            } => {
                let attempts = self.attempts_of(number);
                self.write(
                    "step_failed",
                    json!({ "step": number, "steps_total": total, "summary": summary,
                            "message": message, "attempts": attempts }),
                )
            }
            // `finish` writes the one `run_finished` line, from the outcome or the error.
            ProgressEvent::Finished { .. } => {}
        }
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

    fn hidden_bar() -> BarProgress {
        BarProgress {
            multi: indicatif::MultiProgress::with_draw_target(
                indicatif::ProgressDrawTarget::hidden(),
            ),
            plan: None,
            step: None,
        }
    }

    fn run_steps(p: &mut BarProgress, done: usize, to_run: usize) -> indicatif::ProgressBar {
        p.event(ProgressEvent::Started {
            plan_id: "p".into(),
            run_id: 1,
            to_run,
            total: to_run,
        });
        let bar = p.plan.clone().expect("plan bar");
        for number in 1..=done {
            p.event(ProgressEvent::StepStarted {
                number,
                total: to_run,
                summary: "s".into(),
            });
            p.event(ProgressEvent::StepDone {
                number,
                total: to_run,
                summary: "s".into(),
                elapsed: Duration::from_millis(1),
            });
        }
        p.event(ProgressEvent::Finished {
            message: "m".into(),
        });
        bar
    }

    #[test]
    fn interrupted_run_leaves_the_bar_where_it_stopped() {
        let bar = run_steps(&mut hidden_bar(), 3, 14);
        assert!(bar.is_finished());
        assert_eq!(bar.position(), 3, "an abandoned bar keeps 3/14, not 14/14");
    }

    #[test]
    fn complete_run_finishes_the_bar() {
        let bar = run_steps(&mut hidden_bar(), 4, 4);
        assert!(bar.is_finished());
        assert_eq!(bar.position(), 4);
    }

    #[test]
    fn json_lines_carry_attempts_blockers_and_outcome() {
        let mut p = JsonProgress::new(Vec::new());
        p.event(ProgressEvent::Blocked {
            steps: "2-3".into(),
            sessions: vec![crate::exec::Blocker {
                cause: "lock_timeout",
                pid: 42,
                user: Some("app".into()),
                application_name: Some("psql".into()),
                state: Some("idle in transaction".into()),
                mode: Some("AccessShareLock".into()),
                relation: Some("public.t".into()),
                xact_start: Some("2026-12-05T06:00:00.000Z".into()),
                query_start: Some("2026-12-05T06:00:00.001Z".into()),
                transaction_secs: Some(12),
                query: Some("SELECT 1".into()),
                waited_for: None,
            }],
        });
        p.event(ProgressEvent::Retry {
            steps: "2-3".into(),
            attempt: 1,
            max_attempts: 4,
            delay: Duration::from_millis(250),
            reason: "lock timeout".into(),
        });
        p.event(ProgressEvent::StepDone {
            number: 3,
            total: 3,
            summary: "s".into(),
            elapsed: Duration::from_millis(1500),
        });
        p.event(ProgressEvent::Finished {
            message: "run 1 failed at step 3".into(),
        });
        let text = String::from_utf8(p.into_inner()).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert_eq!(lines[0]["event"], "retry");
        assert_eq!(lines[0]["blockers"][0]["pid"], 42);
        assert_eq!(lines[0]["blockers"][0]["mode"], "AccessShareLock");
        assert_eq!(lines[1]["event"], "step_finished");
        assert_eq!(lines[1]["attempts"], 2);
        assert_eq!(lines[1]["duration_ms"], 1500);
    }
}
