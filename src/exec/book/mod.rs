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
//!
//! Where each part lives: this file holds the records, the table layout and access checks,
//! reading the history ([`load`]) and creating the tables ([`ensure`]); `history` what earlier
//! runs of a plan left and settling runs a dead apply left behind; `journal` every write of a
//! run; `legacy` the old large-object format, read only to migrate it.

mod history;
mod journal;
mod legacy;

use legacy::{migrate, read_old};

pub use history::{mark_stale_runs, prior, Prior, Run};
pub use journal::{
    finish_run, journal_batch_in_tx, journal_blockers, journal_done_in_tx, journal_end,
    journal_start, start_run, steps_committed_in_tx, NewRun,
};
pub use legacy::{BOOK_MAGIC, BOOK_OID};

use super::ExecError;
use crate::catalog::BOOKKEEPING_SCHEMA;
use crate::plan::Direction;
use crate::render::quote;
use postgres::{Client, GenericClient, Row};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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

// ---------------------------------------------------------------------------------------------
// Creating.

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
