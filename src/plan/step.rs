//! A plan step and the facts a reviewer and the executor need about it: phase, transaction
//! mode, lock level, timeouts, hazards.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// The strongest table-level lock a step takes (PostgreSQL's names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum LockLevel {
    None,
    AccessShare,
    RowShare,
    RowExclusive,
    ShareUpdateExclusive,
    Share,
    ShareRowExclusive,
    Exclusive,
    AccessExclusive,
}

impl LockLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            LockLevel::None => "none",
            LockLevel::AccessShare => "ACCESS SHARE",
            LockLevel::RowShare => "ROW SHARE",
            LockLevel::RowExclusive => "ROW EXCLUSIVE",
            LockLevel::ShareUpdateExclusive => "SHARE UPDATE EXCLUSIVE",
            LockLevel::Share => "SHARE",
            LockLevel::ShareRowExclusive => "SHARE ROW EXCLUSIVE",
            LockLevel::Exclusive => "EXCLUSIVE",
            LockLevel::AccessExclusive => "ACCESS EXCLUSIVE",
        }
    }

    pub fn parse(s: &str) -> Option<LockLevel> {
        ALL_LOCKS
            .iter()
            .copied()
            .find(|l| l.as_str().eq_ignore_ascii_case(s.trim()))
    }

    /// Whether the lock conflicts with ordinary reads or writes, so that waiting for it queues
    /// application traffic: such a step must carry a `lock_timeout`.
    pub fn blocks_traffic(self) -> bool {
        self >= LockLevel::Share
    }
}

const ALL_LOCKS: [LockLevel; 9] = [
    LockLevel::None,
    LockLevel::AccessShare,
    LockLevel::RowShare,
    LockLevel::RowExclusive,
    LockLevel::ShareUpdateExclusive,
    LockLevel::Share,
    LockLevel::ShareRowExclusive,
    LockLevel::Exclusive,
    LockLevel::AccessExclusive,
];

/// `SET lock_timeout` for a step: how long to wait for a lock before giving up (and retrying).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockTimeout(pub Duration);

/// `SET statement_timeout` for a step: how long the statement itself may run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatementTimeout(pub Duration);

/// Renders a duration the way PostgreSQL accepts it in `SET ... = '...'` (`500ms`, `2s`, `1h`).
pub fn pg_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(3_600_000) && ms > 0 {
        format!("{}h", ms / 3_600_000)
    } else if ms.is_multiple_of(60_000) && ms > 0 {
        format!("{}min", ms / 60_000)
    } else if ms.is_multiple_of(1000) && ms > 0 {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

/// Parses what [`pg_duration`] writes.
pub fn parse_pg_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = s.split_at(split);
    let n: u64 = n.parse().ok()?;
    let ms = match unit {
        "ms" => n,
        "s" => n * 1000,
        "min" => n * 60_000,
        "h" => n * 3_600_000,
        _ => return None,
    };
    Some(Duration::from_millis(ms))
}

/// Migration phase. `expand` is safe while the old application runs; `contract` runs after the
/// new application is deployed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Phase {
    Expand,
    Contract,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Expand => "expand",
            Phase::Contract => "contract",
        }
    }
    pub fn parse(s: &str) -> Option<Phase> {
        match s.trim() {
            "expand" => Some(Phase::Expand),
            "contract" => Some(Phase::Contract),
            _ => None,
        }
    }
}

/// How the executor runs a step: the `transaction:` field of a step in `plan.sql`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TxMode {
    /// `yes`: inside a transaction, shared with adjacent `yes` steps of the same phase.
    Transaction,
    /// `no`: alone, in autocommit, statement by statement (`CONCURRENTLY`).
    Alone,
    /// `batched`: one `UPDATE <table> SET ... WHERE <pending>;` run in key-range batches, each
    /// batch its own short transaction with the journal's cursor (see `docs/executor.md`).
    Batched,
}

impl TxMode {
    pub fn as_str(self) -> &'static str {
        match self {
            TxMode::Transaction => "yes",
            TxMode::Alone => "no",
            TxMode::Batched => "batched",
        }
    }
    pub fn parse(s: &str) -> Option<TxMode> {
        [TxMode::Transaction, TxMode::Alone, TxMode::Batched]
            .into_iter()
            .find(|m| m.as_str() == s.trim())
    }
}

/// Typed hazards with stable names (the names are the plan-file and `--allow-hazards` syntax).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Hazard {
    /// Rows or values are deleted (dropped table, column, ...).
    DataLoss,
    /// The table is rewritten under an ACCESS EXCLUSIVE lock.
    TableRewrite,
    /// The step holds ACCESS EXCLUSIVE for longer than a catalog update.
    AccessExclusiveLock,
    /// An index is built (CPU and I/O on the server).
    IndexBuild,
    /// The step cannot run inside a transaction (a failure leaves partial state to inspect).
    NonTransactional,
    /// The application must be deployed between phases.
    RequiresDeploy,
    /// The step cannot be undone by the inverse plan.
    Irreversible,
    /// Logical replication consumers are affected: a dropped publication (or one dropped and
    /// created again) stops the subscriptions that read it.
    Replication,
    /// Values must fit a narrower type (`bigint -> integer`, a shorter `varchar`, less
    /// numeric scale), typically a rollback of a widening: rows written since the plan may
    /// not fit. `apply` counts them before anything runs and refuses with the count
    /// (`exec::narrowing`); the step's guard refuses any it would change.
    Narrowing,
}

pub const ALL_HAZARDS: [Hazard; 9] = [
    Hazard::DataLoss,
    Hazard::TableRewrite,
    Hazard::AccessExclusiveLock,
    Hazard::IndexBuild,
    Hazard::NonTransactional,
    Hazard::RequiresDeploy,
    Hazard::Irreversible,
    Hazard::Replication,
    Hazard::Narrowing,
];

impl Hazard {
    pub fn as_str(self) -> &'static str {
        match self {
            Hazard::DataLoss => "data-loss",
            Hazard::TableRewrite => "table-rewrite",
            Hazard::AccessExclusiveLock => "access-exclusive-lock",
            Hazard::IndexBuild => "index-build",
            Hazard::NonTransactional => "non-transactional",
            Hazard::RequiresDeploy => "requires-deploy",
            Hazard::Irreversible => "irreversible",
            Hazard::Replication => "replication",
            Hazard::Narrowing => "narrowing",
        }
    }
    pub fn parse(s: &str) -> Option<Hazard> {
        ALL_HAZARDS.iter().copied().find(|h| h.as_str() == s.trim())
    }
}

impl fmt::Display for Hazard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One executable step of a plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// One line for humans: `create table public.users`.
    pub summary: String,
    /// The SQL, one or more statements each ending in `;`.
    pub sql: String,
    pub phase: Phase,
    /// How it runs: in a (shared) transaction, alone in autocommit (`CONCURRENTLY`), or as a
    /// batched backfill.
    pub transaction: TxMode,
    pub lock: LockLevel,
    /// The relation the lock is taken on, for the plan comment (`public.users`).
    pub lock_target: Option<String>,
    pub lock_timeout: Option<LockTimeout>,
    pub statement_timeout: Option<StatementTimeout>,
    pub hazards: Vec<Hazard>,
    /// Why the step was judged safe or what to watch for (shown in the plan).
    pub notes: Vec<String>,
}

impl Step {
    /// The columns (`table.column` as written in the note) the step moves to the end of their
    /// table: from its [`moves_to_end_note`] notes, for `plan.json`.
    pub fn columns_moved_to_end(&self) -> Vec<String> {
        self.notes
            .iter()
            .filter_map(|n| {
                n.strip_prefix(MOVES_TO_END_PREFIX)?
                    .split_once(MOVES_TO_END_INFIX)
                    .map(|(c, _)| c.to_string())
            })
            .collect()
    }

    /// The locks the step takes on relations other than its `lock_target` (the table a foreign
    /// key references), from its [`also_locks_note`] notes: `(level, relation as quoted in
    /// SQL)`. The step line names one relation; these are the others, for the review summary's
    /// lock list, `plan.json` and the blocker report of a lock timeout.
    pub fn also_locks(&self) -> Vec<(LockLevel, String)> {
        self.notes
            .iter()
            .filter_map(|n| {
                let (_, lock) = n.strip_prefix(ALSO_LOCKS_PREFIX)?.split_once(": ")?;
                let (level, target) = lock.split_once(" on ")?;
                Some((LockLevel::parse(level)?, target.to_string()))
            })
            .collect()
    }

    /// A step the planner made to run alongside traffic because it may run long: a lock that
    /// lets reads and writes go on (ROW EXCLUSIVE: a backfill; SHARE UPDATE EXCLUSIVE: a
    /// `VALIDATE` scan, a concurrent build), or no transaction at all (`CONCURRENTLY`,
    /// batches).
    pub fn runs_alongside_traffic(&self) -> bool {
        self.transaction != TxMode::Transaction
            || matches!(
                self.lock,
                LockLevel::RowExclusive | LockLevel::ShareUpdateExclusive
            )
    }
}

const ALSO_LOCKS_PREFIX: &str = "also locks ";

/// The note of a step that locks a relation besides its `lock_target`:
/// `also locks the referenced table: SHARE ROW EXCLUSIVE on public.customers`. A step line
/// has room for one relation (the one its statement names); a foreign key also locks the
/// table it references, which the reviewer of a busy referenced table must see. `what` says
/// which relation it is (no `:` in it); `relation` is quoted as in SQL and ends the note, so
/// any name reads back ([`Step::also_locks`]).
pub fn also_locks_note(what: &str, level: LockLevel, relation: &str) -> String {
    format!(
        "{ALSO_LOCKS_PREFIX}{what}: {} on {relation}",
        level.as_str()
    )
}

const MOVES_TO_END_PREFIX: &str = "moves column ";
const MOVES_TO_END_INFIX: &str = " to the end of its table";

/// The note of a step after which a column is the last of its table (a type change through a
/// shadow column swap, a column renamed through a new column): PostgreSQL appends an added
/// column, so `SELECT *`, an `INSERT` without a column list and `COPY` without a column list
/// see it in another position than before. `column` is `schema.table.column` as quoted in SQL.
pub fn moves_to_end_note(column: &str) -> String {
    format!(
        "{MOVES_TO_END_PREFIX}{column}{MOVES_TO_END_INFIX}: `SELECT *`, INSERT and COPY \
         without a column list see it last"
    )
}
