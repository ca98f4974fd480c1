//! `--format json`: one JSON object per line and event on stdout (docs/json.md,
//! docs/schemas/apply-event.json).

use std::io::Write;
use std::time::Duration;

use super::{Progress, ProgressEvent};

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
    blockers: Vec<crate::exec::blockers::Blocker>,
}

/// How a run ended, for the `run_finished` event.
pub enum RunEnd<'a> {
    /// The run returned an outcome (applied, phase applied, nothing to do, dry run, ...).
    Outcome(&'a crate::exec::ApplyOutcome),
    /// The run stopped with an error (`interrupted` when Ctrl-C or a lost connection
    /// stopped it, `failed` otherwise); the error itself goes to stderr.
    Error(&'a crate::exec::ExecError),
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
    /// what failed and what to run next, [`crate::exec::ExecError::closing_sentence`]).
    pub fn finish(&mut self, end: RunEnd<'_>) {
        let fields = match end {
            RunEnd::Outcome(o) => serde_json::json!({
                "outcome": outcome_key(&o.kind),
                "next_phase": match &o.kind {
                    crate::exec::OutcomeKind::PhaseApplied { next } => Some(next.as_str()),
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
                "outcome": if matches!(e, crate::exec::ExecError::Interrupted { .. }) {
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
pub fn outcome_key(k: &crate::exec::OutcomeKind) -> &'static str {
    match k {
        crate::exec::OutcomeKind::Applied => "applied",
        crate::exec::OutcomeKind::PhaseApplied { .. } => "phase-applied",
        crate::exec::OutcomeKind::AlreadyApplied => "already-applied",
        crate::exec::OutcomeKind::NothingToDo => "nothing-to-do",
        crate::exec::OutcomeKind::DryRun => "dry-run",
        crate::exec::OutcomeKind::Aborted => "aborted",
        crate::exec::OutcomeKind::Marked => "marked-applied",
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
