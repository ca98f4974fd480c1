//! Bookkeeping: the apply history and the step journal, kept in two tables of schema
//! `schemaplan` in the target database: `schemaplan.runs` (one row per run) and
//! `schemaplan.steps` (one row per step of a run). Columns and example queries:
//! `docs/executor.md`, "Bookkeeping".
//!
//! - **Created by the first run that passed its checks** ([`ensure`], called under the apply
//!   lock after the preflight checks, the from-fingerprint check and the hazard gate): a run
//!   refused by any check creates nothing.
//! - **Transactional, row by row.** A transactional step's row is written in the step's own
//!   transaction, so it commits or rolls back with the step's DDL; a batched step's cursor is
//!   updated in each batch's transaction. Every write is one single-row `INSERT` or `UPDATE`
//!   by primary key (`runs.run_id`, `steps (run_id, step)`): a write costs the same at step
//!   30,000 as at step 1 (`benches/journal_writes.rs`). Writers hold the apply lock, so there
//!   is never a concurrent writer; readers (`status`, `--dry-run`) take no lock and see the
//!   last commit.
//! - **Invisible to plans**: `catalog::without_bookkeeping` leaves the schema out of every
//!   catalog read, so `plan`, `drift`, `dump` and the fingerprints never see it.
//! - **Privileges** are PostgreSQL's ordinary ones: the role that ran the first apply owns
//!   the schema and tables; another role needs `USAGE` on the schema and `SELECT` (status) or
//!   `SELECT, INSERT, UPDATE` (apply) on the tables. A missing one is reported with the GRANT
//!   that fixes it ([`ExecError::BookPrivileges`]), before anything is written.
//! - **Verification pending.** The transaction of the last step of a run also records the run
//!   as `verifying` (or `succeeded`, for a run of one phase, which is not verified): a run
//!   whose last step committed is never left `running`, so never marked `interrupted`. A run
//!   cut off while `verifying` is settled by the next apply ([`mark_stale_runs`]: the live
//!   schema is compared with the run's `to`, the run recorded `succeeded` or `failed`);
//!   `status` shows the verdict without writing it.
//! - **Migration from the large object.** Earlier versions kept everything in ONE large
//!   object at OID [`BOOK_OID`] (`vacuumlo` deleted it, logical replication did not carry it,
//!   every journal write rewrote it whole). While a database has only that object, reads use
//!   it (read-only, [`parse`] is the old format's parser); the next apply that passes its
//!   checks copies it into the tables and unlinks it, in one transaction ([`ensure`]).
//!
//! Timestamps are the server's `clock_timestamp()`, stored as `timestamptz` and read back in
//! UTC.

use super::ExecError;
use crate::catalog::BOOKKEEPING_SCHEMA;
use crate::plan::Direction;
use crate::render::quote;
use postgres::{Client, GenericClient, Row};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// OID of the large object older versions kept the bookkeeping in: the ASCII bytes `SPLN`
/// (0x53504C4E) with the top bit set. Read only to migrate it ([`ensure`]).
pub const BOOK_OID: u32 = 0xD350_4C4E;

/// First line of the old bookkeeping large object; anything else at [`BOOK_OID`] is not ours.
pub const BOOK_MAGIC: &str = "schemaplan-book v1";

/// The tables, created by [`ensure`]. `IF NOT EXISTS`: a schema named `schemaplan` the user
/// made (or left empty) is used as it is.
const CREATE_TABLES: &str = "\
CREATE SCHEMA IF NOT EXISTS schemaplan;
CREATE TABLE IF NOT EXISTS schemaplan.runs (
    run_id           bigint PRIMARY KEY,
    plan_id          text NOT NULL,
    direction        text NOT NULL CHECK (direction IN ('forward', 'inverse')),
    phases           text NOT NULL,
    checksum         text NOT NULL,
    from_fingerprint text NOT NULL,
    to_fingerprint   text NOT NULL,
    live_fingerprint text NOT NULL,
    forced           boolean NOT NULL DEFAULT false,
    started_by       text NOT NULL,
    started_at       timestamptz NOT NULL,
    finished_at      timestamptz,
    duration_secs    double precision,
    outcome          text NOT NULL,
    error            text
);
CREATE INDEX IF NOT EXISTS runs_plan_id_idx ON schemaplan.runs (plan_id, run_id);
CREATE TABLE IF NOT EXISTS schemaplan.steps (
    run_id        bigint NOT NULL REFERENCES schemaplan.runs ON DELETE CASCADE,
    step          integer NOT NULL,
    summary       text NOT NULL,
    transactional boolean NOT NULL,
    attempts      integer NOT NULL,
    started_at    timestamptz NOT NULL,
    finished_at   timestamptz,
    duration_secs double precision,
    outcome       text NOT NULL,
    error         text,
    batch_cursor  jsonb,
    batch_rows    bigint,
    batch_batches bigint,
    blockers      jsonb,
    PRIMARY KEY (run_id, step)
);";

/// Every column of the two tables, in order (the docs list each one; `tests/book.rs` checks this
/// against the tables [`CREATE_TABLES`] makes).
pub const BOOKKEEPING_COLUMNS: &[(&str, &[&str])] = &[
    (
        "runs",
        &[
            "run_id",
            "plan_id",
            "direction",
            "phases",
            "checksum",
            "from_fingerprint",
            "to_fingerprint",
            "live_fingerprint",
            "forced",
            "started_by",
            "started_at",
            "finished_at",
            "duration_secs",
            "outcome",
            "error",
        ],
    ),
    (
        "steps",
        &[
            "run_id",
            "step",
            "summary",
            "transactional",
            "attempts",
            "started_at",
            "finished_at",
            "duration_secs",
            "outcome",
            "error",
            "batch_cursor",
            "batch_rows",
            "batch_batches",
            "blockers",
        ],
    ),
];

/// The columns of `runs` as [`RunRecord`] reads them (stamps in UTC, microseconds).
const RUN_COLUMNS: &str = "run_id, plan_id, direction, phases, checksum, from_fingerprint, \
    to_fingerprint, live_fingerprint, forced, started_by, \
    to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') AS started_at, \
    to_char(finished_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') AS finished_at, \
    duration_secs, outcome, error";

/// The columns of `steps` as [`StepRecord`] reads them.
const STEP_COLUMNS: &str = "run_id, step, summary, transactional, attempts, \
    to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') AS started_at, \
    to_char(finished_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') AS finished_at, \
    duration_secs, outcome, error, batch_cursor::text AS batch_cursor, batch_rows, batch_batches, \
    blockers::text AS blockers";

/// The whole bookkeeping as read: the tables, or the old large object's document.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Book {
    /// The id the next run gets (ids are never reused).
    pub next_run_id: i64,
    /// Every run, oldest first.
    pub runs: Vec<RunRecord>,
}

/// One apply run (a row of `schemaplan.runs`) with its journal.
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
    /// `running`, `verifying` (every step committed, the check of `to` not recorded yet),
    /// `succeeded`, `failed` or `interrupted`.
    pub outcome: String,
    pub error: Option<String>,
    /// Journal entries, by step number.
    #[serde(default)]
    pub steps: Vec<StepRecord>,
}

/// One step of a run (a row of `schemaplan.steps`).
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
    /// The sessions that held a conflicting lock on each lock-timeout retry (`exec::blockers`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub blockers: Vec<Blocked>,
}

/// One lock-timeout retry of a step: who held the lock (one `exec::blockers` line each).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Blocked {
    /// The attempt that timed out.
    pub attempt: u32,
    /// UTC stamp of the report.
    pub at: String,
    pub sessions: Vec<String>,
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

/// The position of a batched step's walk over its table (`steps.batch_cursor`, as JSON:
/// `{"key": ["42"]}`, `{"block": 1200}` or `"swept"`).
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
}

fn db_error(what: &'static str) -> impl FnOnce(postgres::Error) -> ExecError {
    ExecError::bookkeeping(what)
}

// ---------------------------------------------------------------------------------------------
// Where the bookkeeping is, and whether this role may use it.

/// What this database has.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Layout {
    /// `schemaplan.runs` and `schemaplan.steps` exist.
    Tables(Access),
    /// No tables (the schema may exist, empty or the user's).
    None { schema: Option<Access> },
}

/// This role's privileges on what exists.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Access {
    role: String,
    usage: bool,
    create: bool,
    /// (table, SELECT, INSERT, UPDATE) for each of `runs`, `steps` that exists.
    tables: Vec<(String, bool, bool, bool)>,
}

/// Reads the layout from the catalogs only: no lookup by name that would fail with
/// "permission denied for schema" before we can say which GRANT is missing.
fn layout(client: &mut impl GenericClient) -> Result<Layout, ExecError> {
    let rows = client
        .query(
            "SELECT current_user::text, has_schema_privilege(n.oid, 'USAGE'), \
                    has_schema_privilege(n.oid, 'CREATE'), c.relname::text, \
                    coalesce(has_table_privilege(c.oid, 'SELECT'), false), \
                    coalesce(has_table_privilege(c.oid, 'INSERT'), false), \
                    coalesce(has_table_privilege(c.oid, 'UPDATE'), false) \
             FROM pg_catalog.pg_namespace n \
             LEFT JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relkind = 'r' \
                  AND c.relname IN ('runs', 'steps') \
             WHERE n.nspname = $1 ORDER BY c.relname",
            &[&BOOKKEEPING_SCHEMA],
        )
        .map_err(db_error("read the catalog for schema schemaplan"))?;
    let Some(first) = rows.first() else {
        return Ok(Layout::None { schema: None });
    };
    let access = Access {
        role: first.get(0),
        usage: first.get(1),
        create: first.get(2),
        tables: rows
            .iter()
            .filter_map(|r| {
                let name: Option<String> = r.get(3);
                name.map(|n| (n, r.get(4), r.get(5), r.get(6)))
            })
            .collect(),
    };
    if access.tables.len() == 2 {
        Ok(Layout::Tables(access))
    } else {
        Ok(Layout::None {
            schema: Some(access),
        })
    }
}

/// Refuses, with the GRANT statements that would allow it, a role that lacks what it needs:
/// `write` for apply (SELECT, INSERT, UPDATE), else status (SELECT).
fn check_access(access: &Access, write: bool) -> Result<(), ExecError> {
    let mut missing = Vec::new();
    if !access.usage {
        missing.push(format!("USAGE on schema {BOOKKEEPING_SCHEMA}"));
    }
    for (table, select, insert, update) in &access.tables {
        let mut privs = Vec::new();
        if !select {
            privs.push("SELECT");
        }
        if write && !insert {
            privs.push("INSERT");
        }
        if write && !update {
            privs.push("UPDATE");
        }
        if !privs.is_empty() {
            missing.push(format!(
                "{} on {BOOKKEEPING_SCHEMA}.{table}",
                privs.join(", ")
            ));
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    let role = quote::ident(&access.role);
    let privs = if write {
        "SELECT, INSERT, UPDATE"
    } else {
        "SELECT"
    };
    Err(ExecError::BookPrivileges {
        role: access.role.clone(),
        doing: if write {
            "record its run in schemaplan's history (tables schemaplan.runs and schemaplan.steps)"
        } else {
            "read schemaplan's history (tables schemaplan.runs and schemaplan.steps)"
        },
        grantor: "as the owner of schema schemaplan (the role that applied first) or a superuser",
        missing: missing.join(", "),
        grants: format!(
            "GRANT USAGE ON SCHEMA {BOOKKEEPING_SCHEMA} TO {role}; \
             GRANT {privs} ON ALL TABLES IN SCHEMA {BOOKKEEPING_SCHEMA} TO {role};"
        ),
    })
}

// ---------------------------------------------------------------------------------------------
// Reading.

/// The bookkeeping, or `None` if this database has none yet (read-only, no lock): the tables,
/// or while there are none the old large object.
pub fn load(client: &mut impl GenericClient) -> Result<Option<Book>, ExecError> {
    match layout(client)? {
        Layout::Tables(access) => {
            check_access(&access, false)?;
            read_tables(client).map(Some)
        }
        Layout::None { .. } => read_old(client),
    }
}

fn read_tables(client: &mut impl GenericClient) -> Result<Book, ExecError> {
    let read = db_error("read schemaplan.runs and schemaplan.steps");
    let runs = client
        .query(
            &format!("SELECT {RUN_COLUMNS} FROM schemaplan.runs ORDER BY run_id"),
            &[],
        )
        .map_err(read)?;
    let steps = client
        .query(
            &format!("SELECT {STEP_COLUMNS} FROM schemaplan.steps ORDER BY run_id, step"),
            &[],
        )
        .map_err(db_error("read schemaplan.steps"))?;
    let mut book = Book {
        next_run_id: 1,
        runs: runs.iter().map(run_record).collect(),
    };
    let index: BTreeMap<i64, usize> = book
        .runs
        .iter()
        .enumerate()
        .map(|(i, r)| (r.run_id, i))
        .collect();
    for row in &steps {
        let run_id: i64 = row.get("run_id");
        if let Some(&i) = index.get(&run_id) {
            book.runs[i].steps.push(step_record(row));
        }
    }
    book.next_run_id = book.runs.iter().map(|r| r.run_id + 1).max().unwrap_or(1);
    Ok(book)
}

fn run_record(row: &Row) -> RunRecord {
    RunRecord {
        run_id: row.get("run_id"),
        plan_id: row.get("plan_id"),
        direction: row.get("direction"),
        phases: row.get("phases"),
        checksum: row.get("checksum"),
        from_fingerprint: row.get("from_fingerprint"),
        to_fingerprint: row.get("to_fingerprint"),
        live_fingerprint: row.get("live_fingerprint"),
        forced: row.get("forced"),
        started_by: row.get("started_by"),
        started_at: row.get("started_at"),
        finished_at: row.get("finished_at"),
        duration_secs: row.get("duration_secs"),
        outcome: row.get("outcome"),
        error: row.get("error"),
        steps: Vec::new(),
    }
}

fn step_record(row: &Row) -> StepRecord {
    let rows: Option<i64> = row.get("batch_rows");
    let cursor: Option<String> = row.get("batch_cursor");
    let blockers: Option<String> = row.get("blockers");
    StepRecord {
        step: row.get::<_, i32>("step") as usize,
        summary: row.get("summary"),
        transactional: row.get("transactional"),
        attempts: row.get::<_, i32>("attempts") as u32,
        started_at: row.get("started_at"),
        finished_at: row.get("finished_at"),
        duration_secs: row.get("duration_secs"),
        outcome: row.get("outcome"),
        error: row.get("error"),
        batch: rows.map(|rows| BatchState {
            cursor: cursor.and_then(|c| serde_json::from_str(&c).ok()),
            rows: rows as u64,
            batches: row.get::<_, Option<i64>>("batch_batches").unwrap_or(0) as u64,
        }),
        blockers: blockers
            .and_then(|b| serde_json::from_str(&b).ok())
            .unwrap_or_default(),
    }
}

/// The old large object's document, if there is one of ours. A large object at [`BOOK_OID`]
/// that is not ours is not our concern any more (the bookkeeping is in tables now) and is
/// left alone.
fn read_old(client: &mut impl GenericClient) -> Result<Option<Book>, ExecError> {
    let rows = match client.query(
        "SELECT lo_get(m.oid) FROM pg_catalog.pg_largeobject_metadata m WHERE m.oid = $1",
        &[&BOOK_OID],
    ) {
        Ok(rows) => rows,
        Err(e) if e.code() == Some(&postgres::error::SqlState::INSUFFICIENT_PRIVILEGE) => {
            let role: String = client
                .query_one("SELECT current_user::text", &[])
                .map(|r| r.get(0))
                .unwrap_or_else(|_| "<role>".into());
            return Err(ExecError::BookPrivileges {
                role: role.clone(),
                doing: "read schemaplan's history, still in the large object older versions kept it in",
                missing: format!("SELECT on large object {BOOK_OID}"),
                grantor: "as the owner of that large object (the role that applied first) or a superuser",
                grants: format!(
                    "GRANT SELECT ON LARGE OBJECT {BOOK_OID} TO {}; (or run apply once as its owner: it moves the history into tables of schema {BOOKKEEPING_SCHEMA})",
                    quote::ident(&role)
                ),
            });
        }
        Err(e) => {
            return Err(ExecError::bookkeeping(
                "read the old bookkeeping large object",
            )(e))
        }
    };
    match rows.first() {
        None => Ok(None),
        Some(r) => match parse(r.get::<_, &[u8]>(0)) {
            Ok(book) => Ok(Some(book)),
            Err(Old::NotOurs) => Ok(None),
            Err(Old::Bad(problem)) => Err(ExecError::BookUnreadable {
                oid: BOOK_OID,
                problem,
            }),
        },
    }
}

/// Why the old large object cannot be used.
#[derive(Debug)]
enum Old {
    /// Not a bookkeeping document: someone else's large object.
    NotOurs,
    /// Ours, but damaged or from an unknown version.
    Bad(String),
}

/// The old format (kept to migrate it): the line [`BOOK_MAGIC`], then the JSON of [`Book`].
fn parse(bytes: &[u8]) -> Result<Book, Old> {
    let (first, rest) = match bytes.iter().position(|&b| b == b'\n') {
        Some(i) => (&bytes[..i], &bytes[i + 1..]),
        None => (bytes, &[][..]),
    };
    if first != BOOK_MAGIC.as_bytes() {
        let first = String::from_utf8_lossy(&first[..first.len().min(40)]).into_owned();
        return Err(if first.starts_with("schemaplan-book ") {
            Old::Bad(format!("it is in format {first:?}, which this version of schemaplan does not know (it reads {BOOK_MAGIC:?}); use a newer schemaplan"))
        } else {
            Old::NotOurs
        });
    }
    serde_json::from_slice(rest).map_err(|e| {
        Old::Bad(format!(
            "the old bookkeeping document is damaged ({e}); nothing was changed\nhint: inspect it with SELECT convert_from(lo_get({BOOK_OID}), 'UTF8')"
        ))
    })
}

// ---------------------------------------------------------------------------------------------
// Creating, migrating, settling.

/// Creates the tables when missing, moving an old large object's history into them (rows
/// inserted, the large object unlinked, in one transaction), and checks that this role may
/// write them. Call only under the apply lock, after every check of the run has passed.
pub fn ensure(client: &mut Client) -> Result<(), ExecError> {
    let mut tx = client
        .transaction()
        .map_err(db_error("begin the bookkeeping setup"))?;
    match layout(&mut tx)? {
        Layout::Tables(access) => return check_access(&access, true),
        Layout::None { schema } => {
            if let Some(access) = schema.filter(|a| !a.create) {
                return Err(ExecError::BookPrivileges {
                    role: access.role.clone(),
                    doing: "create schemaplan's history tables in the existing schema schemaplan",
                    missing: format!("CREATE on schema {BOOKKEEPING_SCHEMA}"),
                    grantor: "as the owner of schema schemaplan or a superuser",
                    grants: format!(
                        "GRANT USAGE, CREATE ON SCHEMA {BOOKKEEPING_SCHEMA} TO {};",
                        quote::ident(&access.role)
                    ),
                });
            }
        }
    }
    let old = read_old(&mut tx)?;
    let who = tx
        .query_one("SELECT current_user::text, current_database()::text", &[])
        .map_err(db_error("read the current role"))?;
    let (role, database): (String, String) = (who.get(0), who.get(1));
    if let Err(e) = tx.batch_execute(CREATE_TABLES) {
        if e.code() == Some(&postgres::error::SqlState::INSUFFICIENT_PRIVILEGE) {
            return Err(ExecError::BookPrivileges {
                missing: format!("CREATE on database {database}"),
                grants: format!(
                    "GRANT CREATE ON DATABASE {} TO {};",
                    quote::ident(&database),
                    quote::ident(&role)
                ),
                role,
                doing: "create schema schemaplan for schemaplan's history (the first apply to a database does; nothing was changed)",
                grantor: "as the database's owner or a superuser (or run the first apply as a role that may create schemas)",
            });
        }
        return Err(ExecError::bookkeeping(
            "create schema schemaplan and its tables",
        )(e));
    }
    if let Some(book) = old {
        migrate(&mut tx, &book).map_err(db_error("move the old bookkeeping into tables"))?;
    }
    tx.commit()
        .map_err(db_error("create schema schemaplan and its tables"))
}

/// Whether the history is still in the old large object (nothing in tables yet).
pub fn is_old(client: &mut impl GenericClient) -> Result<bool, ExecError> {
    Ok(matches!(layout(client)?, Layout::None { .. }) && read_old(client)?.is_some())
}

/// Copies the old document into the tables and unlinks the large object, in the caller's
/// transaction. Runs left `running` become `interrupted`, as [`mark_stale_runs`] would.
fn migrate(tx: &mut impl GenericClient, book: &Book) -> Result<(), postgres::Error> {
    let interrupted = "the apply stopped before finishing (process killed or connection lost)";
    for r in &book.runs {
        let running = r.outcome == "running";
        let end = r
            .steps
            .iter()
            .filter_map(|s| s.finished_at.clone())
            .max()
            .unwrap_or_else(|| r.started_at.clone());
        tx.execute(
            "INSERT INTO schemaplan.runs (run_id, plan_id, direction, phases, checksum, \
                from_fingerprint, to_fingerprint, live_fingerprint, forced, started_by, started_at, \
                finished_at, duration_secs, outcome, error) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::text::timestamptz, \
                $12::text::timestamptz, \
                coalesce($13, extract(epoch FROM $12::text::timestamptz - $11::text::timestamptz)::float8), \
                $14, $15)",
            &[
                &r.run_id,
                &r.plan_id,
                &r.direction,
                &r.phases,
                &r.checksum,
                &r.from_fingerprint,
                &r.to_fingerprint,
                &r.live_fingerprint,
                &r.forced,
                &r.started_by,
                &r.started_at,
                &if running { Some(end) } else { r.finished_at.clone() },
                &r.duration_secs,
                &if running { "interrupted" } else { r.outcome.as_str() },
                &if running {
                    Some(interrupted.to_string())
                } else {
                    r.error.clone()
                },
            ],
        )?;
        for s in &r.steps {
            let stale = running && s.outcome == "running";
            let batch = s.batch.as_ref();
            tx.execute(
                "INSERT INTO schemaplan.steps (run_id, step, summary, transactional, attempts, \
                    started_at, finished_at, duration_secs, outcome, error, batch_cursor, \
                    batch_rows, batch_batches) \
                 VALUES ($1, $2, $3, $4, $5, $6::text::timestamptz, $7::text::timestamptz, $8, \
                    $9, $10, $11::text::jsonb, $12, $13)",
                &[
                    &r.run_id,
                    &(s.step as i32),
                    &s.summary,
                    &s.transactional,
                    &(s.attempts as i32),
                    &s.started_at,
                    &s.finished_at,
                    &s.duration_secs,
                    &if stale {
                        "interrupted"
                    } else {
                        s.outcome.as_str()
                    },
                    &if stale {
                        Some(
                            "the apply stopped during this step (process killed or connection lost)"
                                .to_string(),
                        )
                    } else {
                        s.error.clone()
                    },
                    &batch.and_then(|b| b.cursor.as_ref()).map(cursor_json),
                    &batch.map(|b| b.rows as i64),
                    &batch.map(|b| b.batches as i64),
                ],
            )?;
        }
    }
    tx.execute("SELECT lo_unlink($1)", &[&BOOK_OID])?;
    Ok(())
}

fn cursor_json(c: &Cursor) -> String {
    serde_json::to_string(c).expect("a cursor serializes")
}

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
        return Err(super::run::raise(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_old_format_and_leaves_foreign_objects_alone() {
        let bytes = format!("{BOOK_MAGIC}\n{{\"next_run_id\":3,\"runs\":[]}}\n");
        assert_eq!(parse(bytes.as_bytes()).unwrap().next_run_id, 3);
        assert!(matches!(parse(b"hello"), Err(Old::NotOurs)));
        assert!(
            matches!(parse(b"schemaplan-book v9\n{}"), Err(Old::Bad(m)) if m.contains("newer"))
        );
        assert!(
            matches!(parse(b"schemaplan-book v1\n{"), Err(Old::Bad(m)) if m.contains("damaged"))
        );
    }

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
