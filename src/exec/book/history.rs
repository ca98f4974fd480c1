//! What earlier runs left: the runs of a plan and the steps they completed ([`prior`], which
//! `apply` resumes from and `status` shows), and settling the runs a dead apply left
//! `running` or `verifying` ([`mark_stale_runs`]).

use super::{check_access, db_error, layout, load, BatchState, Book, ExecError, Layout, RunRecord};
use crate::plan::Direction;
use postgres::Client;
use std::collections::BTreeMap;

/// What [`mark_stale_runs`] did.
#[derive(Debug, Default)]
pub struct Settled {
    /// Runs left `running` by a dead apply, now `interrupted`.
    pub interrupted: u64,
    /// Runs whose last step had committed but whose final check was cut off, now settled:
    /// `(run id, outcome)`.
    pub verified: Vec<(i64, String)>,
}

/// Runs left `running` by a process that died are `interrupted`; runs left `verifying` (every
/// step committed, the check of `to` cut off) are checked now: `succeeded` if the live
/// schema's fingerprint (`live`, asked for only when there is such a run) is the run's `to`,
/// else `failed`. Only correct while holding the apply lock: then no other apply can be
/// running. Writes nothing when there is nothing to settle (or no tables yet).
pub fn mark_stale_runs(
    client: &mut Client,
    live: impl FnOnce(&mut Client) -> Result<String, ExecError>,
) -> Result<Settled, ExecError> {
    let mut settled = Settled::default();
    let Layout::Tables(access) = layout(client)? else {
        // The old large object's `running` runs are marked when it is migrated.
        return Ok(settled);
    };
    check_access(&access, true)?;
    let what = "mark interrupted runs";
    let stale: i64 = client
        .query_one(
            "SELECT count(*) FROM schemaplan.runs WHERE outcome = 'running'",
            &[],
        )
        .map_err(db_error(what))?
        .get(0);
    if stale > 0 {
        let mut tx = client.transaction().map_err(db_error(what))?;
        tx.execute(
            "UPDATE schemaplan.steps s SET outcome = 'interrupted', \
                error = 'the apply stopped during this step (process killed or connection lost)' \
             FROM schemaplan.runs r \
             WHERE r.run_id = s.run_id AND r.outcome = 'running' AND s.outcome = 'running'",
            &[],
        )
        .map_err(db_error(what))?;
        settled.interrupted = tx
            .execute(
                "UPDATE schemaplan.runs r SET outcome = 'interrupted', \
                    error = 'the apply stopped before finishing (process killed or connection lost)', \
                    finished_at = e.end_at, \
                    duration_secs = extract(epoch FROM e.end_at - r.started_at)::float8 \
                 FROM (SELECT r2.run_id, coalesce(max(s.finished_at), r2.started_at) AS end_at \
                       FROM schemaplan.runs r2 \
                       LEFT JOIN schemaplan.steps s ON s.run_id = r2.run_id \
                       WHERE r2.outcome = 'running' GROUP BY r2.run_id) e \
                 WHERE r.run_id = e.run_id",
                &[],
            )
            .map_err(db_error(what))?;
        tx.commit().map_err(db_error(what))?;
    }
    let verifying = client
        .query(
            "SELECT run_id, to_fingerprint FROM schemaplan.runs WHERE outcome = 'verifying' \
             ORDER BY run_id",
            &[],
        )
        .map_err(db_error("read runs waiting for verification"))?;
    if verifying.is_empty() {
        return Ok(settled);
    }
    let live = live(client)?;
    for row in verifying {
        let (run_id, to): (i64, String) = (row.get(0), row.get(1));
        let (outcome, error) = if live == to {
            ("succeeded", None)
        } else {
            (
                "failed",
                Some(format!(
                    "every step committed, but the final check was cut off; checked later, the live schema fingerprint is {live}, not the plan's `to` {to}"
                )),
            )
        };
        client
            .execute(
                "UPDATE schemaplan.runs SET outcome = $2, error = $3 WHERE run_id = $1",
                &[&run_id, &outcome, &error],
            )
            .map_err(db_error("record the verification of a run"))?;
        settled.verified.push((run_id, outcome.to_string()));
    }
    Ok(settled)
}

/// A run as `status` and the checks before a run see it.
#[derive(Clone, Debug, PartialEq)]
pub struct Run {
    pub run_id: i64,
    pub direction: Direction,
    pub checksum: String,
    pub outcome: String,
    pub started_by: String,
    /// UTC, `2026-11-21T10:15:02Z`.
    pub started_at: String,
    pub duration_secs: Option<f64>,
    pub error: Option<String>,
}

/// A succeeded journal entry: step number -> (summary, run id, checksum of that run's file).
pub type Done = BTreeMap<usize, (String, i64, String)>;

/// What earlier runs of a plan left: the runs since the plan last changed direction, and the
/// steps they completed.
#[derive(Clone, Debug, Default)]
pub struct Prior {
    pub runs: Vec<Run>,
    pub done: Done,
    /// Steps some run started but did not finish (non-transactional steps leave these).
    pub attempted: Vec<usize>,
    /// Where unfinished batched steps stopped (the latest run's state of each).
    pub batches: BTreeMap<usize, BatchState>,
}

impl Book {
    /// All runs of `plan_id`, oldest first.
    pub fn runs_of(&self, plan_id: &str) -> Vec<Run> {
        self.records_of(plan_id)
            .map(|r| Run {
                run_id: r.run_id,
                direction: r.direction(),
                checksum: r.checksum.clone(),
                outcome: r.outcome.clone(),
                started_by: r.started_by.clone(),
                // To the second: `2026-11-21T10:15:02.123456Z` -> `2026-11-21T10:15:02Z`.
                started_at: match r.started_at.get(..19) {
                    Some(s) => format!("{s}Z"),
                    None => r.started_at.clone(),
                },
                duration_secs: r.duration_secs,
                error: r.error.clone(),
            })
            .collect()
    }

    /// The full record of run `run_id` (its journal included).
    pub fn record(&self, run_id: i64) -> Option<&RunRecord> {
        self.runs.iter().find(|r| r.run_id == run_id)
    }

    fn records_of<'a>(&'a self, plan_id: &'a str) -> impl Iterator<Item = &'a RunRecord> + 'a {
        self.runs.iter().filter(move |r| r.plan_id == plan_id)
    }

    /// Earlier runs of `plan_id` in `direction`. A run in the other direction that changed
    /// something (a rollback after an apply, or the reverse) starts a new chain: only runs after
    /// it count.
    pub fn prior(&self, plan_id: &str, direction: Direction) -> Prior {
        let records: Vec<&RunRecord> = self.records_of(plan_id).collect();
        let changed = |r: &RunRecord| r.steps.iter().any(|s| s.outcome == "succeeded");
        let chain_start = records
            .iter()
            .rposition(|r| r.direction() != direction && changed(r))
            .map_or(0, |i| i + 1);
        let all = self.runs_of(plan_id);
        let mut prior = Prior::default();
        for (record, run) in records.iter().zip(all).skip(chain_start) {
            if run.direction != direction {
                continue;
            }
            for s in &record.steps {
                if s.outcome == "succeeded" {
                    prior.done.insert(
                        s.step,
                        (s.summary.clone(), record.run_id, record.checksum.clone()),
                    );
                } else if s.outcome == "undone" {
                    // Taken back after a later step failed (`exec::undo`) or by `--abort`
                    // (`exec::abort`): runs again, from its beginning (a batched step's cursor
                    // went with the column it filled).
                    prior.done.remove(&s.step);
                    prior.attempted.retain(|&k| k != s.step);
                    prior.batches.remove(&s.step);
                } else {
                    prior.attempted.push(s.step);
                    if let Some(b) = &s.batch {
                        prior.batches.insert(s.step, b.clone());
                    }
                }
            }
            prior.runs.push(run);
        }
        prior
    }
}

/// Earlier runs of `plan_id` in `direction` (see [`Book::prior`]); none without a book.
pub fn prior(client: &mut Client, plan_id: &str, direction: Direction) -> Result<Prior, ExecError> {
    Ok(load(client)?
        .map(|b| b.prior(plan_id, direction))
        .unwrap_or_default())
}
