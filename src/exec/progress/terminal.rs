//! Progress on stderr for people: an indicatif bar for the plan and a spinner for the running
//! step on a terminal ([`BarProgress`]), plain timestamped lines otherwise ([`LineProgress`],
//! CI logs).

use std::io::Write;
use std::time::Duration;

use super::{batch_style, describe, Progress, ProgressEvent};

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
