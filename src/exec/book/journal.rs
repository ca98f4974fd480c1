//! Writing a run: its row in `schemaplan.runs` and its steps' rows in `schemaplan.steps`.
//! Every write is one single-row statement by primary key (a write costs the same at step
//! 30,000 as at step 1: `benches/journal_writes.rs`); a transactional step's entry is written
//! in the step's own transaction, so it commits or rolls back with the step's DDL.

use super::{db_error, BatchState, Cursor, ExecError};
use crate::plan::Direction;
use postgres::{Client, GenericClient};

/// What a new run records.
pub struct NewRun<'a> {
    pub plan_id: &'a str,
    pub direction: Direction,
    pub phases: String,
    pub checksum: &'a str,
    pub from: &'a str,
    pub to: &'a str,
    pub live: &'a str,
    pub forced: bool,
    /// `os_user@host` of the machine running apply (never a password).
    pub client: String,
}

// ---------------------------------------------------------------------------------------------
// Writing: every write is one single-row statement by primary key.

/// Records a `running` run (committed at once) and returns its run id (the next after the
/// highest: ids are never reused; under the apply lock there is no concurrent insert).
pub fn start_run(client: &mut Client, run: &NewRun) -> Result<i64, ExecError> {
    let row = client
        .query_one(
            "INSERT INTO schemaplan.runs (run_id, plan_id, direction, phases, checksum, \
                from_fingerprint, to_fingerprint, live_fingerprint, forced, started_by, \
                started_at, outcome) \
             SELECT coalesce(max(run_id), 0) + 1, $1::text, $2::text, $3::text, $4::text, \
                $5::text, $6::text, $7::text, $8::boolean, \
                current_user::text || ' (' || $9::text || ')', clock_timestamp(), 'running' \
             FROM schemaplan.runs \
             RETURNING run_id",
            &[
                &run.plan_id,
                &run.direction.as_str(),
                &run.phases,
                &run.checksum,
                &run.from,
                &run.to,
                &run.live,
                &run.forced,
                &run.client,
            ],
        )
        .map_err(db_error("record the start of the run"))?;
    Ok(row.get(0))
}

/// Sets the final outcome of a run (committed at once).
pub fn finish_run(
    client: &mut Client,
    run_id: i64,
    outcome: &str,
    error: Option<&str>,
) -> Result<(), ExecError> {
    client
        .execute(
            "UPDATE schemaplan.runs SET outcome = $2, error = $3, finished_at = clock_timestamp(), \
                duration_secs = extract(epoch FROM clock_timestamp() - started_at)::float8 \
             WHERE run_id = $1",
            &[&run_id, &outcome, &error],
        )
        .map_err(db_error("record the outcome of the run"))?;
    Ok(())
}

/// In the transaction of the run's last step: every step of the run has now committed. A run
/// that completes the plan becomes `verifying` (the check of `to` follows; a kill before it is
/// settled by the next apply, [`mark_stale_runs`]), any other `succeeded`: either way never
/// `running` again, so never marked `interrupted`.
pub fn steps_committed_in_tx(
    tx: &mut impl GenericClient,
    run_id: i64,
    completes_plan: bool,
) -> Result<(), postgres::Error> {
    let outcome = if completes_plan {
        "verifying"
    } else {
        "succeeded"
    };
    tx.execute(
        "UPDATE schemaplan.runs SET outcome = $2, finished_at = clock_timestamp(), \
            duration_secs = extract(epoch FROM clock_timestamp() - started_at)::float8 \
         WHERE run_id = $1",
        &[&run_id, &outcome],
    )?;
    Ok(())
}

/// Journal entry of a step that ran inside a transaction: written in that same transaction, so
/// it commits or rolls back with the step. `elapsed` is how long the step took (this attempt),
/// `attempts` the number of this attempt at the transaction (the rolled-back attempts left no
/// entry, except the blockers recorded on their retries, which are kept).
pub fn journal_done_in_tx(
    tx: &mut impl GenericClient,
    run_id: i64,
    step: usize,
    summary: &str,
    elapsed: std::time::Duration,
    attempts: u32,
) -> Result<(), postgres::Error> {
    let secs = elapsed.as_secs_f64();
    tx.execute(
        "INSERT INTO schemaplan.steps AS s (run_id, step, summary, transactional, attempts, \
            started_at, finished_at, duration_secs, outcome) \
         VALUES ($1, $2, $3, true, $4, clock_timestamp() - make_interval(secs => $5), \
            clock_timestamp(), $5, 'succeeded') \
         ON CONFLICT (run_id, step) DO UPDATE SET summary = EXCLUDED.summary, \
            transactional = true, attempts = EXCLUDED.attempts, started_at = EXCLUDED.started_at, \
            finished_at = EXCLUDED.finished_at, duration_secs = EXCLUDED.duration_secs, \
            outcome = 'succeeded', error = NULL",
        &[&run_id, &(step as i32), &summary, &(attempts as i32), &secs],
    )?;
    Ok(())
}

/// A batched step's progress after a batch: written in the batch's transaction, so the cursor
/// commits exactly when the batch's rows do. The step's entry exists (`journal_start`).
pub fn journal_batch_in_tx(
    tx: &mut impl GenericClient,
    run_id: i64,
    step: usize,
    state: &BatchState,
) -> Result<(), postgres::Error> {
    let n = tx.execute(
        "UPDATE schemaplan.steps SET batch_cursor = $3::text::jsonb, batch_rows = $4, \
            batch_batches = $5 \
         WHERE run_id = $1 AND step = $2",
        &[
            &run_id,
            &(step as i32),
            &state.cursor.as_ref().map(cursor_json),
            &(state.rows as i64),
            &(state.batches as i64),
        ],
    )?;
    if n == 0 {
        return Err(crate::exec::run::raise(
            tx,
            &format!("bookkeeping: step {step} of run {run_id} is not in schemaplan.steps"),
        ));
    }
    Ok(())
}

/// Journal entry of a step about to run outside a transaction (committed before it runs), or of
/// a retry of it (attempts counted).
pub fn journal_start(
    client: &mut impl GenericClient,
    run_id: i64,
    step: usize,
    summary: &str,
    transactional: bool,
) -> Result<(), postgres::Error> {
    client.execute(
        "INSERT INTO schemaplan.steps AS s (run_id, step, summary, transactional, attempts, \
            started_at, outcome) \
         VALUES ($1, $2, $3, $4, 1, clock_timestamp(), 'running') \
         ON CONFLICT (run_id, step) DO UPDATE SET attempts = s.attempts + 1, \
            started_at = EXCLUDED.started_at, finished_at = NULL, duration_secs = NULL, \
            outcome = 'running', error = NULL",
        &[&run_id, &(step as i32), &summary, &transactional],
    )?;
    Ok(())
}

/// Final journal state of a step (after `journal_start`, or for a failed transactional step
/// whose own entries were rolled back); committed at once unless `client` is a transaction.
pub fn journal_end(
    client: &mut impl GenericClient,
    run_id: i64,
    step: usize,
    summary: &str,
    outcome: &str,
    error: Option<&str>,
) -> Result<(), postgres::Error> {
    client.execute(
        "INSERT INTO schemaplan.steps AS s (run_id, step, summary, transactional, attempts, \
            started_at, finished_at, duration_secs, outcome, error) \
         VALUES ($1, $2, $3, true, 1, clock_timestamp(), clock_timestamp(), 0, $4, $5) \
         ON CONFLICT (run_id, step) DO UPDATE SET finished_at = clock_timestamp(), \
            duration_secs = extract(epoch FROM clock_timestamp() - s.started_at)::float8, \
            outcome = EXCLUDED.outcome, error = EXCLUDED.error",
        &[&run_id, &(step as i32), &summary, &outcome, &error],
    )?;
    Ok(())
}

/// After a lock-timeout retry of `step` (its attempt `attempt` was rolled back): who held the
/// lock, appended to the step's `blockers` (committed at once, outside any transaction). A
/// transactional step whose attempts all rolled back gets its row here, `running`; the attempt
/// that commits (or the failure) completes it and keeps the blockers.
pub fn journal_blockers(
    client: &mut impl GenericClient,
    run_id: i64,
    step: usize,
    summary: &str,
    transactional: bool,
    attempt: u32,
    sessions: &[String],
) -> Result<(), postgres::Error> {
    let entry = serde_json::json!([{
        "attempt": attempt,
        "sessions": sessions,
    }])
    .to_string();
    client.execute(
        "INSERT INTO schemaplan.steps AS s (run_id, step, summary, transactional, attempts, \
            started_at, outcome, blockers) \
         VALUES ($1, $2, $3, $4, $5, clock_timestamp(), 'running', \
            jsonb_set($6::text::jsonb, '{0,at}', to_jsonb(to_char(clock_timestamp() AT TIME ZONE 'UTC', \
                'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')))) \
         ON CONFLICT (run_id, step) DO UPDATE SET \
            blockers = coalesce(s.blockers, '[]'::jsonb) || EXCLUDED.blockers",
        &[
            &run_id,
            &(step as i32),
            &summary,
            &transactional,
            &(attempt as i32),
            &entry,
        ],
    )?;
    Ok(())
}

pub(super) fn cursor_json(c: &Cursor) -> String {
    serde_json::to_string(c).expect("a cursor serializes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_are_stored_as_documented() {
        assert_eq!(
            cursor_json(&Cursor::Key(vec!["42".into()])),
            r#"{"key":["42"]}"#
        );
        assert_eq!(cursor_json(&Cursor::Block(7)), r#"{"block":7}"#);
        assert_eq!(cursor_json(&Cursor::Swept), r#""swept""#);
    }
}
