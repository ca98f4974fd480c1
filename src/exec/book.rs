//! Bookkeeping: the apply history and the step journal, kept in ONE large object per database
//! at the fixed OID [`BOOK_OID`], never in tables.
//!
//! Why a large object: `pg_dump --schema-only` does not dump large objects, so the bookkeeping
//! never shows up in a schema dump (an acceptance check compares dumps with no exclusions);
//! large-object writes are transactional, so journal entries written in a step group's
//! transaction commit or roll back with its DDL; and with `lo_compat_privileges = off` (the
//! default) only the owner (the role that applied first) and superusers can read or write it.
//!
//! Content: the line [`BOOK_MAGIC`], then a JSON document ([`Book`]). Every update reads the
//! document, changes it and writes it back (`lo_put` + `lo_truncate64`, which need UPDATE on the
//! object, not ownership) in the caller's transaction, while holding the apply lock: there is
//! never a concurrent writer. Reads (`status`, dry runs) take no lock and see the last commit.
//! Timestamps are the server's `clock_timestamp()`, in UTC.
//!
//! An older `schemaplan` schema with `history` and `journal` tables is ignored, not migrated.

use super::ExecError;
use crate::plan::Direction;
use chrono::{DateTime, Utc};
use postgres::{Client, GenericClient};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// OID of the bookkeeping large object: the ASCII bytes `SPLN` (0x53504C4E) with the top bit set,
/// high in the OID range where the server's OID counter rarely is.
pub const BOOK_OID: u32 = 0xD350_4C4E;

/// First line of the bookkeeping large object; anything else at [`BOOK_OID`] is not ours.
pub const BOOK_MAGIC: &str = "schemaplan-book v1";

/// `INV_WRITE` of `lo_open`.
const INV_WRITE: i32 = 0x0002_0000;

/// The whole bookkeeping document.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Book {
    /// The id the next run gets (ids are never reused).
    pub next_run_id: i64,
    /// Every run, oldest first.
    pub runs: Vec<RunRecord>,
}

/// One apply run (a former `history` row) with its journal.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunRecord {
    pub run_id: i64,
    pub plan_id: String,
    /// `forward` or `inverse`.
    pub direction: String,
    /// `expand`, `contract` or `all`.
    pub phases: String,
    /// SHA-256 of the plan file that ran.
    pub checksum: String,
    pub from_fingerprint: String,
    pub to_fingerprint: String,
    /// The live schema's fingerprint when the run started.
    pub live_fingerprint: String,
    pub forced: bool,
    /// `current_user (os_user@host)`; never a password.
    pub started_by: String,
    /// UTC, `2026-11-21T10:15:02.123456Z`.
    pub started_at: String,
    pub finished_at: Option<String>,
    pub duration_secs: Option<f64>,
    /// `running`, `succeeded`, `failed` or `interrupted`.
    pub outcome: String,
    pub error: Option<String>,
    /// Journal entries, by step number.
    #[serde(default)]
    pub steps: Vec<StepRecord>,
}

/// One step of a run (a former `journal` row).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StepRecord {
    pub step: usize,
    pub summary: String,
    pub transactional: bool,
    pub attempts: u32,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub duration_secs: Option<f64>,
    /// `running`, `succeeded`, `failed`, `interrupted`, or `undone` (done, then taken back
    /// after a later step failed: `exec::undo`; the step counts as not done).
    pub outcome: String,
    pub error: Option<String>,
    /// A batched step's progress: written with each batch, in the batch's transaction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<BatchState>,
}

/// How far a batched step got: committed with each batch, so a resumed run starts after the last
/// committed batch.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchState {
    /// Where the next batch starts; `None` before the first batch.
    pub cursor: Option<Cursor>,
    /// Rows the batches updated so far (over every run of the step).
    pub rows: u64,
    /// Batches committed so far (over every run of the step).
    pub batches: u64,
}

/// The position of a batched step's walk over its table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cursor {
    /// Key walk: the last key done, one text value per key column (`column::text`).
    Key(Vec<String>),
    /// Block walk (no usable key): the next heap block to visit.
    Block(u32),
    /// The walk is over; a final pass updates pending rows it missed (the mop-up).
    Swept,
}

impl RunRecord {
    fn direction(&self) -> Direction {
        if self.direction == "inverse" {
            Direction::Inverse
        } else {
            Direction::Forward
        }
    }

    fn step_mut(&mut self, step: usize) -> Option<&mut StepRecord> {
        self.steps.iter_mut().find(|s| s.step == step)
    }

    /// Adds an entry, keeping the entries ordered by step.
    fn insert_step(&mut self, record: StepRecord) {
        let at = self.steps.partition_point(|s| s.step < record.step);
        self.steps.insert(at, record);
    }
}

/// Why reading or writing the book failed.
enum BookError {
    Db(postgres::Error),
    /// The large object's content is not a bookkeeping document this version can use.
    Bad(String),
}

impl From<postgres::Error> for BookError {
    fn from(e: postgres::Error) -> Self {
        BookError::Db(e)
    }
}

impl BookError {
    fn exec(self, what: &'static str) -> ExecError {
        match self {
            BookError::Db(source) => ExecError::Bookkeeping { what, source },
            BookError::Bad(problem) => ExecError::BookUnreadable {
                oid: BOOK_OID,
                problem,
            },
        }
    }

    /// As a server error, for callers whose error type is `postgres::Error` (the step runner):
    /// raised through the server, which also aborts the current transaction.
    fn pg(self, client: &mut impl GenericClient) -> postgres::Error {
        match self {
            BookError::Db(e) => e,
            BookError::Bad(problem) => super::run::raise(
                client,
                &format!("bookkeeping large object {BOOK_OID}: {problem}"),
            ),
        }
    }
}

/// The document in the large object's bytes.
fn parse(bytes: &[u8]) -> Result<Book, BookError> {
    let (first, rest) = match bytes.iter().position(|&b| b == b'\n') {
        Some(i) => (&bytes[..i], &bytes[i + 1..]),
        None => (bytes, &[][..]),
    };
    if first != BOOK_MAGIC.as_bytes() {
        let first = String::from_utf8_lossy(&first[..first.len().min(40)]).into_owned();
        return Err(BookError::Bad(if first.starts_with("schemaplan-book ") {
            format!("it is in format {first:?}, which this version of schemaplan does not know (it writes {BOOK_MAGIC:?}); use a newer schemaplan")
        } else {
            format!("a large object at this OID exists but is not schemaplan's (it does not start with {BOOK_MAGIC:?}); schemaplan keeps its bookkeeping at this fixed OID and will not touch it\nhint: move that large object to another OID, then apply again")
        }));
    }
    serde_json::from_slice(rest).map_err(|e| {
        BookError::Bad(format!(
            "the bookkeeping document is damaged ({e}); nothing was changed\nhint: inspect it with SELECT convert_from(lo_get({BOOK_OID}), 'UTF8')"
        ))
    })
}

fn serialize(book: &Book) -> Vec<u8> {
    let mut bytes = format!("{BOOK_MAGIC}\n").into_bytes();
    serde_json::to_writer(&mut bytes, book).expect("the book serializes");
    bytes.push(b'\n');
    bytes
}

/// The book, or `None` if this database has none yet. No lock needed: sees the last commit.
fn read(client: &mut impl GenericClient) -> Result<Option<Book>, BookError> {
    let rows = client.query(
        "SELECT lo_get(m.oid) FROM pg_catalog.pg_largeobject_metadata m WHERE m.oid = $1",
        &[&BOOK_OID],
    )?;
    match rows.first() {
        None => Ok(None),
        Some(r) => parse(r.get::<_, &[u8]>(0)).map(Some),
    }
}

/// The server's clock and the current role, for the records an update writes.
struct Now {
    at: DateTime<Utc>,
    user: String,
}

impl Now {
    fn stamp(&self) -> String {
        stamp(self.at)
    }
}

fn stamp(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// Seconds from `start` (a stamp) to `end`; `None` if `start` does not parse.
fn seconds_since(start: &str, end: DateTime<Utc>) -> Option<f64> {
    let start = DateTime::parse_from_rfc3339(start).ok()?;
    let micros = (end - start.with_timezone(&Utc)).num_microseconds()?;
    Some(micros as f64 / 1e6)
}

/// Reads the book, lets `change` edit it, writes it back: all in the caller's transaction, which
/// must hold the apply lock (no other writer). The book must exist ([`ensure`]).
fn update<T>(
    client: &mut impl GenericClient,
    change: impl FnOnce(&mut Book, &Now) -> Result<T, BookError>,
) -> Result<T, BookError> {
    let rows = client.query(
        "SELECT lo_get(m.oid), \
                to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), \
                current_user::text \
         FROM pg_catalog.pg_largeobject_metadata m WHERE m.oid = $1",
        &[&BOOK_OID],
    )?;
    let Some(row) = rows.first() else {
        return Err(BookError::Bad(
            "it disappeared during the apply (someone unlinked it)".into(),
        ));
    };
    let mut book = parse(row.get::<_, &[u8]>(0))?;
    let at = DateTime::parse_from_rfc3339(row.get(1))
        .map_err(|e| {
            BookError::Bad(format!(
                "the server's clock_timestamp() does not parse: {e}"
            ))
        })?
        .with_timezone(&Utc);
    let now = Now {
        at,
        user: row.get(2),
    };
    let result = change(&mut book, &now)?;
    write(client, &book)?;
    Ok(result)
}

/// Replaces the content. `lo_put` then `lo_truncate64` (in either order, each sees the other's
/// effect): both need UPDATE on the object only, so a role granted it can apply too.
fn write(client: &mut impl GenericClient, book: &Book) -> Result<(), postgres::Error> {
    let bytes = serialize(book);
    let len = bytes.len() as i64;
    client.execute(
        "SELECT lo_put($1, 0, $2), lo_truncate64(lo_open($1, $3), $4)",
        &[&BOOK_OID, &bytes, &INV_WRITE, &len],
    )?;
    Ok(())
}

/// [`update`] in a transaction of its own, committed before returning.
fn update_committed<T>(
    client: &mut Client,
    change: impl FnOnce(&mut Book, &Now) -> Result<T, BookError>,
) -> Result<T, BookError> {
    let mut tx = client.transaction()?;
    match update(&mut tx, change) {
        Ok(v) => {
            tx.commit()?;
            Ok(v)
        }
        // Dropping the transaction rolls it back.
        Err(e) => Err(e),
    }
}

fn run_mut(book: &mut Book, run_id: i64) -> Result<&mut RunRecord, BookError> {
    book.runs
        .iter_mut()
        .find(|r| r.run_id == run_id)
        .ok_or_else(|| BookError::Bad(format!("run {run_id} is not in it")))
}

/// The book, or `None` if there is none yet (read-only, no lock).
pub fn load(client: &mut Client) -> Result<Option<Book>, ExecError> {
    read(client).map_err(|e| e.exec("read the bookkeeping large object"))
}

/// Creates an empty book when missing; checks an existing one is ours and readable. Call only
/// while holding the apply lock (two first applies must not both create it).
pub fn ensure(client: &mut Client) -> Result<(), ExecError> {
    if load(client)?.is_some() {
        return Ok(());
    }
    let empty = serialize(&Book {
        next_run_id: 1,
        runs: Vec::new(),
    });
    client
        .execute("SELECT lo_from_bytea($1, $2)", &[&BOOK_OID, &empty])
        .map_err(ExecError::bookkeeping(
            "create the bookkeeping large object",
        ))?;
    Ok(())
}

/// Runs left `running` by a process that died are `interrupted`. Only correct while holding the
/// apply lock: then no other apply can be running.
pub fn mark_stale_runs(client: &mut Client) -> Result<u64, ExecError> {
    // No book, or nothing to mark: write nothing.
    let stale = load(client)?.is_some_and(|b| b.runs.iter().any(|r| r.outcome == "running"));
    if !stale {
        return Ok(0);
    }
    update_committed(client, |book, _| {
        let mut n = 0;
        for run in book.runs.iter_mut().filter(|r| r.outcome == "running") {
            for s in run.steps.iter_mut().filter(|s| s.outcome == "running") {
                s.outcome = "interrupted".into();
                s.error = Some(
                    "the apply stopped during this step (process killed or connection lost)".into(),
                );
            }
            let end = run
                .steps
                .iter()
                .filter_map(|s| s.finished_at.clone())
                .max()
                .unwrap_or_else(|| run.started_at.clone());
            run.duration_secs = DateTime::parse_from_rfc3339(&end)
                .ok()
                .and_then(|e| seconds_since(&run.started_at, e.with_timezone(&Utc)));
            run.finished_at = Some(end);
            run.outcome = "interrupted".into();
            run.error = Some(
                "the apply stopped before finishing (process killed or connection lost)".into(),
            );
            n += 1;
        }
        Ok(n)
    })
    .map_err(|e| e.exec("mark interrupted runs"))
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
                    // Taken back after a later step failed (`exec::undo`): runs again.
                    prior.done.remove(&s.step);
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

/// Records a `running` run (committed at once) and returns its run id.
pub fn start_run(client: &mut Client, run: &NewRun) -> Result<i64, ExecError> {
    update_committed(client, |book, now| {
        let run_id = book
            .next_run_id
            .max(book.runs.iter().map(|r| r.run_id + 1).max().unwrap_or(1));
        book.next_run_id = run_id + 1;
        book.runs.push(RunRecord {
            run_id,
            plan_id: run.plan_id.to_string(),
            direction: run.direction.as_str().to_string(),
            phases: run.phases.clone(),
            checksum: run.checksum.to_string(),
            from_fingerprint: run.from.to_string(),
            to_fingerprint: run.to.to_string(),
            live_fingerprint: run.live.to_string(),
            forced: run.forced,
            started_by: format!("{} ({})", now.user, run.client),
            started_at: now.stamp(),
            finished_at: None,
            duration_secs: None,
            outcome: "running".into(),
            error: None,
            steps: Vec::new(),
        });
        Ok(run_id)
    })
    .map_err(|e| e.exec("record the start of the run"))
}

/// Sets the final outcome of a run (committed at once).
pub fn finish_run(
    client: &mut Client,
    run_id: i64,
    outcome: &str,
    error: Option<&str>,
) -> Result<(), ExecError> {
    update_committed(client, |book, now| {
        let run = run_mut(book, run_id)?;
        run.outcome = outcome.to_string();
        run.error = error.map(str::to_string);
        run.finished_at = Some(now.stamp());
        run.duration_secs = seconds_since(&run.started_at, now.at);
        Ok(())
    })
    .map_err(|e| e.exec("record the outcome of the run"))
}

/// Journal entry of a step that ran inside a transaction: written in that same transaction, so
/// it commits or rolls back with the step. `elapsed` is how long the step took (this attempt),
/// `attempts` the number of this attempt at the transaction (the rolled-back attempts left no
/// entry).
pub fn journal_done_in_tx(
    tx: &mut impl GenericClient,
    run_id: i64,
    step: usize,
    summary: &str,
    elapsed: std::time::Duration,
    attempts: u32,
) -> Result<(), postgres::Error> {
    update(tx, |book, now| {
        let run = run_mut(book, run_id)?;
        let started = chrono::Duration::from_std(elapsed)
            .ok()
            .and_then(|d| now.at.checked_sub_signed(d))
            .unwrap_or(now.at);
        let record = StepRecord {
            step,
            summary: summary.to_string(),
            transactional: true,
            attempts,
            started_at: stamp(started),
            finished_at: Some(now.stamp()),
            duration_secs: Some(elapsed.as_secs_f64()),
            outcome: "succeeded".into(),
            error: None,
            batch: None,
        };
        match run.step_mut(step) {
            Some(s) => *s = record,
            None => run.insert_step(record),
        }
        Ok(())
    })
    .map_err(|e| e.pg(tx))
}

/// A batched step's progress after a batch: written in the batch's transaction, so the cursor
/// commits exactly when the batch's rows do. The step's entry exists (`journal_start`).
pub fn journal_batch_in_tx(
    tx: &mut impl GenericClient,
    run_id: i64,
    step: usize,
    state: &BatchState,
) -> Result<(), postgres::Error> {
    update(tx, |book, _| {
        let run = run_mut(book, run_id)?;
        let record = run
            .step_mut(step)
            .ok_or_else(|| BookError::Bad(format!("step {step} of run {run_id} is not in it")))?;
        record.batch = Some(state.clone());
        Ok(())
    })
    .map_err(|e| e.pg(tx))
}

/// Journal entry of a step about to run outside a transaction (committed before it runs), or of
/// a retry of it (attempts counted).
pub fn journal_start(
    client: &mut Client,
    run_id: i64,
    step: usize,
    summary: &str,
    transactional: bool,
) -> Result<(), postgres::Error> {
    update_committed(client, |book, now| {
        let run = run_mut(book, run_id)?;
        match run.step_mut(step) {
            Some(s) => {
                s.attempts += 1;
                s.started_at = now.stamp();
                s.finished_at = None;
                s.duration_secs = None;
                s.outcome = "running".into();
                s.error = None;
            }
            None => run.insert_step(StepRecord {
                step,
                summary: summary.to_string(),
                transactional,
                attempts: 1,
                started_at: now.stamp(),
                finished_at: None,
                duration_secs: None,
                outcome: "running".into(),
                error: None,
                batch: None,
            }),
        }
        Ok(())
    })
    .map_err(|e| e.pg(client))
}

/// Final journal state of a step (after `journal_start`, or for a failed transactional step
/// whose own entries were rolled back), committed at once.
pub fn journal_end(
    client: &mut Client,
    run_id: i64,
    step: usize,
    summary: &str,
    outcome: &str,
    error: Option<&str>,
) -> Result<(), postgres::Error> {
    update_committed(client, |book, now| {
        let run = run_mut(book, run_id)?;
        match run.step_mut(step) {
            Some(s) => {
                s.finished_at = Some(now.stamp());
                s.duration_secs = seconds_since(&s.started_at, now.at);
                s.outcome = outcome.to_string();
                s.error = error.map(str::to_string);
            }
            None => run.insert_step(StepRecord {
                step,
                summary: summary.to_string(),
                transactional: true,
                attempts: 1,
                started_at: now.stamp(),
                finished_at: Some(now.stamp()),
                duration_secs: Some(0.0),
                outcome: outcome.to_string(),
                error: error.map(str::to_string),
                batch: None,
            }),
        }
        Ok(())
    })
    .map_err(|e| e.pg(client))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_foreign_content() {
        let book = Book {
            next_run_id: 3,
            runs: Vec::new(),
        };
        let bytes = serialize(&book);
        assert!(bytes.starts_with(b"schemaplan-book v1\n{"));
        assert_eq!(parse(&bytes).ok().unwrap().next_run_id, 3);
        assert!(
            matches!(parse(b"hello"), Err(BookError::Bad(m)) if m.contains("not schemaplan's"))
        );
        assert!(
            matches!(parse(b"schemaplan-book v9\n{}"), Err(BookError::Bad(m)) if m.contains("newer"))
        );
        assert!(
            matches!(parse(b"schemaplan-book v1\n{"), Err(BookError::Bad(m)) if m.contains("damaged"))
        );
    }

    #[test]
    fn durations_from_stamps() {
        let end = DateTime::parse_from_rfc3339("2026-11-21T10:15:03.500000Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(seconds_since("2026-11-21T10:15:02.000000Z", end), Some(1.5));
        assert_eq!(stamp(end), "2026-11-21T10:15:03.500000Z");
    }
}
