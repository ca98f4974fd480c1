//! Bookkeeping in schema `schemaplan`: `history` (one row per apply run) and `journal` (one row
//! per step of a run). Created on first use under the apply lock; access is not widened (PUBLIC
//! gets nothing). The catalog reader never looks at this schema.

use super::ExecError;
use crate::plan::Direction;
use postgres::{Client, GenericClient};
use std::collections::BTreeMap;

const CREATE_SCHEMA: &str = "
CREATE SCHEMA schemaplan;
REVOKE ALL ON SCHEMA schemaplan FROM PUBLIC;
COMMENT ON SCHEMA schemaplan IS 'schemaplan bookkeeping (v1): apply history and step journal';
";

const CREATE_TABLES: &str = "
CREATE TABLE IF NOT EXISTS schemaplan.history (
    run_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    plan_id text NOT NULL,
    direction text NOT NULL CHECK (direction IN ('forward', 'inverse')),
    phases text NOT NULL,
    checksum text NOT NULL,
    from_fingerprint text NOT NULL,
    to_fingerprint text NOT NULL,
    live_fingerprint text,
    forced boolean NOT NULL DEFAULT false,
    started_by text NOT NULL,
    started_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at timestamptz,
    duration interval GENERATED ALWAYS AS (finished_at - started_at) STORED,
    outcome text NOT NULL CHECK (outcome IN ('running', 'succeeded', 'failed', 'interrupted')),
    error text
);
CREATE INDEX IF NOT EXISTS history_plan_idx ON schemaplan.history (plan_id, run_id);
CREATE TABLE IF NOT EXISTS schemaplan.journal (
    run_id bigint NOT NULL REFERENCES schemaplan.history (run_id) ON DELETE CASCADE,
    step integer NOT NULL,
    summary text NOT NULL,
    transactional boolean NOT NULL,
    attempts integer NOT NULL DEFAULT 1,
    started_at timestamptz NOT NULL,
    finished_at timestamptz,
    duration interval GENERATED ALWAYS AS (finished_at - started_at) STORED,
    outcome text NOT NULL CHECK (outcome IN ('running', 'succeeded', 'failed', 'interrupted')),
    error text,
    PRIMARY KEY (run_id, step)
);
REVOKE ALL ON schemaplan.history, schemaplan.journal FROM PUBLIC;
";

/// Whether the bookkeeping schema exists.
pub fn exists(client: &mut Client) -> Result<bool, ExecError> {
    let row = client
        .query_one("SELECT to_regclass('schemaplan.journal') IS NOT NULL", &[])
        .map_err(ExecError::bookkeeping("look for schema schemaplan"))?;
    Ok(row.get(0))
}

/// Creates the schema and tables when missing. Call only while holding the apply lock (two
/// first applies must not both try to create them).
pub fn ensure(client: &mut Client) -> Result<(), ExecError> {
    if exists(client)? {
        return Ok(());
    }
    let schema_exists: bool = client
        .query_one("SELECT to_regnamespace('schemaplan') IS NOT NULL", &[])
        .map_err(ExecError::bookkeeping("look for schema schemaplan"))?
        .get(0);
    let mut tx = client
        .transaction()
        .map_err(ExecError::bookkeeping("create schema schemaplan"))?;
    // A schema made by hand (or left half-made by an older version) keeps its privileges.
    if !schema_exists {
        tx.batch_execute(CREATE_SCHEMA)
            .map_err(ExecError::bookkeeping("create schema schemaplan"))?;
    }
    tx.batch_execute(CREATE_TABLES)
        .map_err(ExecError::bookkeeping(
            "create schemaplan.history and schemaplan.journal",
        ))?;
    tx.commit()
        .map_err(ExecError::bookkeeping("create schema schemaplan"))
}

/// Runs left `running` by a process that died are `interrupted`. Only correct while holding the
/// apply lock: then no other apply can be running.
pub fn mark_stale_runs(client: &mut Client) -> Result<u64, ExecError> {
    let mut tx = client
        .transaction()
        .map_err(ExecError::bookkeeping("mark interrupted runs"))?;
    tx.execute(
        "UPDATE schemaplan.journal SET outcome = 'interrupted', \
           error = 'the apply stopped during this step (process killed or connection lost)' \
         WHERE outcome = 'running'",
        &[],
    )
    .map_err(ExecError::bookkeeping("mark interrupted runs"))?;
    let n = tx
        .execute(
            "UPDATE schemaplan.history h SET outcome = 'interrupted', \
               finished_at = coalesce((SELECT max(j.finished_at) FROM schemaplan.journal j WHERE j.run_id = h.run_id), h.started_at), \
               error = 'the apply stopped before finishing (process killed or connection lost)' \
             WHERE outcome = 'running'",
            &[],
        )
        .map_err(ExecError::bookkeeping("mark interrupted runs"))?;
    tx.commit()
        .map_err(ExecError::bookkeeping("mark interrupted runs"))?;
    Ok(n)
}

/// One row of `schemaplan.history`.
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
}

/// Earlier runs of `plan_id` in `direction`. A run in the other direction that changed
/// something (a rollback after an apply, or the reverse) starts a new chain: only runs after it
/// count.
pub fn prior(client: &mut Client, plan_id: &str, direction: Direction) -> Result<Prior, ExecError> {
    let all = runs(client, plan_id)?;
    let rows = client
        .query(
            "SELECT j.run_id, j.step, j.summary, h.checksum, j.outcome \
             FROM schemaplan.journal j JOIN schemaplan.history h USING (run_id) \
             WHERE h.plan_id = $1 ORDER BY j.run_id, j.step",
            &[&plan_id],
        )
        .map_err(ExecError::bookkeeping("read schemaplan.journal"))?;
    let changed = |run_id: i64| {
        rows.iter()
            .any(|r| r.get::<_, i64>(0) == run_id && r.get::<_, &str>(4) == "succeeded")
    };
    let chain_start = all
        .iter()
        .rposition(|r| r.direction != direction && changed(r.run_id))
        .map_or(0, |i| i + 1);
    let mut prior = Prior {
        runs: all[chain_start..]
            .iter()
            .filter(|r| r.direction == direction)
            .cloned()
            .collect(),
        ..Prior::default()
    };
    for r in &rows {
        let run_id: i64 = r.get(0);
        if !prior.runs.iter().any(|run| run.run_id == run_id) {
            continue;
        }
        let step = r.get::<_, i32>(1) as usize;
        if r.get::<_, &str>(4) == "succeeded" {
            prior.done.insert(step, (r.get(2), run_id, r.get(3)));
        } else {
            prior.attempted.push(step);
        }
    }
    Ok(prior)
}

/// All runs of `plan_id`, oldest first.
pub fn runs(client: &mut Client, plan_id: &str) -> Result<Vec<Run>, ExecError> {
    let rows = client
        .query(
            "SELECT run_id, direction, checksum, outcome, started_by, \
                    to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), \
                    extract(epoch FROM duration)::float8, error \
             FROM schemaplan.history WHERE plan_id = $1 ORDER BY run_id",
            &[&plan_id],
        )
        .map_err(ExecError::bookkeeping("read schemaplan.history"))?;
    Ok(rows
        .iter()
        .map(|r| Run {
            run_id: r.get(0),
            direction: if r.get::<_, &str>(1) == "inverse" {
                Direction::Inverse
            } else {
                Direction::Forward
            },
            checksum: r.get(2),
            outcome: r.get(3),
            started_by: r.get(4),
            started_at: r.get(5),
            duration_secs: r.get(6),
            error: r.get(7),
        })
        .collect())
}

/// What a new history row records.
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

/// Inserts a `running` history row (committed at once) and returns its run id.
pub fn start_run(client: &mut Client, run: &NewRun) -> Result<i64, ExecError> {
    let row = client
        .query_one(
            "INSERT INTO schemaplan.history (plan_id, direction, phases, checksum, from_fingerprint, \
               to_fingerprint, live_fingerprint, forced, started_by, outcome) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, current_user || ' (' || $9 || ')', 'running') \
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
        .map_err(ExecError::bookkeeping("insert into schemaplan.history"))?;
    Ok(row.get(0))
}

/// Sets the final outcome of a run.
pub fn finish_run(
    client: &mut Client,
    run_id: i64,
    outcome: &str,
    error: Option<&str>,
) -> Result<(), ExecError> {
    client
        .execute(
            "UPDATE schemaplan.history SET outcome = $2, error = $3, finished_at = clock_timestamp() \
             WHERE run_id = $1",
            &[&run_id, &outcome, &error],
        )
        .map_err(ExecError::bookkeeping("update schemaplan.history"))?;
    Ok(())
}

/// Journal row of a step that ran inside a transaction: written in that same transaction, so it
/// commits or rolls back with the step. `elapsed` is how long the step took.
pub fn journal_done_in_tx(
    tx: &mut impl GenericClient,
    run_id: i64,
    step: usize,
    summary: &str,
    elapsed: std::time::Duration,
) -> Result<(), postgres::Error> {
    tx.execute(
        "INSERT INTO schemaplan.journal (run_id, step, summary, transactional, started_at, finished_at, outcome) \
         VALUES ($1, $2, $3, true, clock_timestamp() - make_interval(secs => $4), clock_timestamp(), 'succeeded')",
        &[&run_id, &(step as i32), &summary, &elapsed.as_secs_f64()],
    )
    .map(|_| ())
}

/// Journal row of a step about to run outside a transaction (committed before it runs), or of a
/// retry of it (attempts counted).
pub fn journal_start(
    client: &mut Client,
    run_id: i64,
    step: usize,
    summary: &str,
    transactional: bool,
) -> Result<(), postgres::Error> {
    client
        .execute(
            "INSERT INTO schemaplan.journal (run_id, step, summary, transactional, started_at, outcome) \
             VALUES ($1, $2, $3, $4, clock_timestamp(), 'running') \
             ON CONFLICT (run_id, step) DO UPDATE SET attempts = schemaplan.journal.attempts + 1, \
               started_at = clock_timestamp(), finished_at = NULL, outcome = 'running', error = NULL",
            &[&run_id, &(step as i32), &summary, &transactional],
        )
        .map(|_| ())
}

/// Final journal state of a step (after `journal_start`, or for a failed transactional step
/// whose own rows were rolled back).
pub fn journal_end(
    client: &mut Client,
    run_id: i64,
    step: usize,
    summary: &str,
    outcome: &str,
    error: Option<&str>,
) -> Result<(), postgres::Error> {
    client
        .execute(
            "INSERT INTO schemaplan.journal (run_id, step, summary, transactional, started_at, finished_at, outcome, error) \
             VALUES ($1, $2, $3, true, clock_timestamp(), clock_timestamp(), $4, $5) \
             ON CONFLICT (run_id, step) DO UPDATE SET finished_at = clock_timestamp(), \
               outcome = EXCLUDED.outcome, error = EXCLUDED.error",
            &[&run_id, &(step as i32), &summary, &outcome, &error],
        )
        .map(|_| ())
}
