//! Changes -> ordered, safe steps: per-kind generators (`kinds/`), the dependency graph and
//! its deterministic ordering (`graph`), hazards and phases (on each [`Step`]).

mod graph;
mod kinds;
pub mod size;
pub mod step;

pub use size::TableSize;
pub use step::{Hazard, LockLevel, LockTimeout, Phase, StatementTimeout, Step, TxMode};

use crate::diff::Change;
use crate::model::{ObjectId, QName, Schema};
use crate::render::quote;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::time::Duration;

/// Knobs for step safety settings.
#[derive(Clone, Debug)]
pub struct PlanOptions {
    /// `lock_timeout` of every step that takes a lock (short: a blocked DDL queues traffic).
    pub lock_timeout: Duration,
    /// `statement_timeout` of catalog-only steps.
    pub statement_timeout: Duration,
    /// `statement_timeout` of steps that scan or build (index builds, validation, rewrites).
    pub long_statement_timeout: Duration,
    /// `--small-table`: heap bytes up to which an existing table with rows gets the plain
    /// forms (0: only empty tables do). See [`size::DEFAULT_SMALL_TABLE`].
    pub small_table: u64,
    /// CHECK constraints to add with the user's own text instead of PostgreSQL's printout
    /// (`(table, name) -> "CHECK (...)"`), see `workflow::original`.
    pub check_texts: std::collections::BTreeMap<(QName, String), String>,
}

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions {
            lock_timeout: Duration::from_secs(1),
            statement_timeout: Duration::from_secs(60),
            long_statement_timeout: Duration::from_secs(4 * 3600),
            small_table: size::DEFAULT_SMALL_TABLE,
            check_texts: Default::default(),
        }
    }
}

/// What generators see: options, both schemas and which tables the plan creates.
pub(crate) struct Ctx<'a> {
    pub opts: &'a PlanOptions,
    pub current: &'a Schema,
    pub desired: &'a Schema,
    /// Tables and materialized views the plan creates or re-creates (empty when its later
    /// steps run).
    #[allow(dead_code)] // read by `table_size`, used by the generators in the next commit
    pub created: BTreeSet<QName>,
}

#[allow(dead_code)] // used by the generators in the next commit
impl Ctx<'_> {
    /// How big the table (or materialized view) `q` is for the steps of this plan: created by
    /// the plan, or its size when the live database was read, against `--small-table`.
    /// Generators choose the plain form when [`TableSize::is_small`] and say why with
    /// [`Ctx::size_note`].
    pub fn table_size(&self, q: &QName) -> TableSize {
        if self.created.contains(q) {
            return TableSize::CreatedInPlan;
        }
        TableSize::of(self.current.sizes.get(q).copied(), self.opts.small_table)
    }

    /// The plan note for a step judged safe by the size of `q` (`None` when `q` is new, large
    /// or of unknown size).
    pub fn size_note(&self, q: &QName) -> Option<String> {
        self.table_size(q).note(q, self.opts.small_table)
    }

    /// A transactional expand-phase step with the lock and the default timeouts.
    pub fn step(&self, summary: String, sql: String, lock: LockLevel, on: Option<&QName>) -> Step {
        Step {
            summary,
            sql,
            phase: Phase::Expand,
            transaction: TxMode::Transaction,
            lock,
            lock_target: on.map(|q| q.to_string()),
            lock_timeout: (lock != LockLevel::None).then_some(LockTimeout(self.opts.lock_timeout)),
            statement_timeout: Some(StatementTimeout(self.opts.statement_timeout)),
            hazards: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// What an object altered in place depended on before and no longer does (a replaced
    /// function's old callees, a column's dropped default sequence): steps removing those wait
    /// for the alter.
    pub fn released(&self, id: &ObjectId) -> Vec<ObjectId> {
        let now: Vec<&ObjectId> = self.desired.dependencies_of(id).collect();
        self.current
            .dependencies_of(id)
            .filter(|d| !now.contains(d))
            .cloned()
            .collect()
    }

    /// Marks a step as long-running (scans or builds): long statement timeout.
    pub fn long(&self, mut s: Step) -> Step {
        s.statement_timeout = Some(StatementTimeout(self.opts.long_statement_timeout));
        s
    }
}

impl Step {
    pub fn non_transactional(mut self) -> Step {
        self.transaction = TxMode::Alone;
        self.hazard(Hazard::NonTransactional)
    }
    /// A batched backfill (the SQL is one `UPDATE ... WHERE <pending>;`): runs in key-range
    /// batches, each its own transaction, alongside traffic (ROW EXCLUSIVE).
    pub fn batched(mut self) -> Step {
        self.transaction = TxMode::Batched;
        self
    }
    pub fn hazard(mut self, h: Hazard) -> Step {
        if !self.hazards.contains(&h) {
            self.hazards.push(h);
            self.hazards.sort();
        }
        self
    }
    pub fn note(mut self, n: impl Into<String>) -> Step {
        self.notes.push(n.into());
        self
    }
}

/// Turns changes into ordered steps.
pub fn build(
    changes: &[Change],
    current: &Schema,
    desired: &Schema,
    opts: &PlanOptions,
) -> Vec<Step> {
    build_tagged(changes, current, desired, opts)
        .into_iter()
        .map(|(_, s)| s)
        .collect()
}

/// Like [`build`], with the object each step is about (used by `dump` to group files).
pub fn build_tagged(
    changes: &[Change],
    current: &Schema,
    desired: &Schema,
    opts: &PlanOptions,
) -> Vec<(ObjectId, Step)> {
    let created = changes
        .iter()
        .filter_map(|c| match c {
            Change::CreateTable(t) => Some(t.name.clone()),
            Change::CreateView(v) if v.materialized => Some(v.name.clone()),
            _ => None,
        })
        .collect();
    let ctx = Ctx {
        opts,
        current,
        desired,
        created,
    };
    let chains: Vec<graph::Chain> = changes
        .iter()
        .flat_map(|c| kinds::generate(&ctx, c))
        .collect();
    graph::order(chains, current, desired)
}

/// The steps of declared renames (`Change::Rename`, or `Change::UndoRename` for an inverse
/// plan), in the order given, split into the `expand` and the `contract` steps. They frame the
/// rest of a plan rather than being ordered with it: the rest is diffed against the current
/// schema with the renames done, so every one of its steps needs all expand renames done
/// first, and the contract steps remove only compatibility names that nothing else uses.
/// `current` and `desired` are the plan's two sides.
pub fn build_renames(
    changes: &[Change],
    current: &Schema,
    desired: &Schema,
    opts: &PlanOptions,
) -> (Vec<Step>, Vec<Step>) {
    let ctx = Ctx {
        opts,
        current,
        desired,
        created: BTreeSet::new(),
    };
    changes
        .iter()
        .flat_map(|c| kinds::generate(&ctx, c))
        .flatten()
        .map(|n| n.step)
        .partition(|s| s.phase == Phase::Expand)
}

/// The bare rename statement of a declared rename (no compatibility objects).
pub fn rename_statement(r: &crate::diff::Rename) -> String {
    kinds::rename_statement(r)
}

/// `ALTER TABLE <q> ` prefix.
pub(crate) fn alter_table(q: &QName) -> String {
    format!("ALTER TABLE {}", quote::qname(q))
}

/// Which way a plan file goes: `plan.sql` is forward, `inverse.sql` is its rollback.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Direction {
    Forward,
    Inverse,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Forward => "forward",
            Direction::Inverse => "inverse",
        }
    }
}

/// An ordered plan: what `render` writes and `planfile` reads back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// Directory name: `<UTC timestamp>_<name>`.
    pub id: String,
    /// Tool version that wrote it.
    pub version: String,
    pub direction: Direction,
    /// Fingerprint of the schema the plan starts from.
    pub from: String,
    /// Fingerprint of the schema the plan produces.
    pub to: String,
    pub steps: Vec<Step>,
}

impl Plan {
    /// Every hazard of every step, deduplicated and sorted.
    pub fn hazards(&self) -> Vec<Hazard> {
        let mut h: Vec<Hazard> = self
            .steps
            .iter()
            .flat_map(|s| s.hazards.iter().copied())
            .collect();
        h.sort();
        h.dedup();
        h
    }

    /// Phases present, in order.
    pub fn phases(&self) -> Vec<Phase> {
        let mut p: Vec<Phase> = self.steps.iter().map(|s| s.phase).collect();
        p.sort();
        p.dedup();
        p
    }
}
