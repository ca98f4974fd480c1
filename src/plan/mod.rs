//! Changes -> ordered, safe steps: per-kind generators (`kinds/`), the dependency graph and
//! its deterministic ordering (`graph`), hazards and phases (on each [`Step`]).

mod graph;
mod kinds;
pub mod size;
pub mod step;

pub use kinds::convert::LossCheck;
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
    /// `lock_timeout` of long steps under SHARE UPDATE EXCLUSIVE (concurrent index builds and
    /// drops, validation): see [`Ctx::long`].
    pub online_lock_timeout: Duration,
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
    /// `-- @backfill <expression>` of new columns (`(table, column) -> expression`), see
    /// `workflow::backfill`: the value existing rows get.
    pub backfills: std::collections::BTreeMap<(QName, String), String>,
    /// `-- @using <expression>` of columns whose type changes (`(table, column) -> expression`
    /// of the old row, see `workflow::casts`): the `USING` of `ALTER COLUMN ... TYPE`.
    pub usings: std::collections::BTreeMap<(QName, String), String>,
    /// Type changes PostgreSQL has no cast for, as `(from, to)` type names the way
    /// `format_type` prints them (asked of the server, see `workflow::casts`): converted
    /// through text (`col::text::to`) where the table is empty.
    pub no_cast: BTreeSet<(String, String)>,
    /// Type pairs whose only cast is explicit (`text` -> `integer`): converted with an
    /// explicit cast to the new type without its typmod (see `kinds::convert`). The others
    /// with a cast are assigned as they are, so PostgreSQL's assignment coercion applies.
    pub explicit_only: BTreeSet<(String, String)>,
    /// Types without an equality operator (`json`): values compared as text.
    pub incomparable: BTreeSet<String>,
    /// Type pairs the shadow server knows both types of (asked about above): only those get
    /// the plan-time data check of `workflow::lossy`.
    pub probed: BTreeSet<(String, String)>,
    /// `server_version_num` of the database the plan is made for (the live one; the shadow's
    /// without one), 0 when unknown: generators take a form only a newer major has when it
    /// is at least that major (`ADD CONSTRAINT ... NOT NULL ... NOT VALID` from 18,
    /// `kinds::column::set_not_null_online`). A plan made for 18 and applied to an older
    /// server fails on such a statement with a syntax error, inside its step's transaction.
    pub server_version: u32,
}

/// Default `lock_timeout` of steps that take locks. While a step waits for its lock, every
/// query that needs a conflicting lock queues behind it: the wait is the stall the application
/// sees. 100 ms stays well inside the 250 ms worst-transaction budget even when the step never
/// gets its lock (then the transaction is rolled back and retried later, see
/// `exec::RetryPolicy`), and is long enough to get a lock behind ordinary short transactions.
pub const DEFAULT_LOCK_TIMEOUT_MS: u64 = 100;

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions {
            lock_timeout: Duration::from_millis(DEFAULT_LOCK_TIMEOUT_MS),
            online_lock_timeout: Duration::from_secs(10 * 60),
            statement_timeout: Duration::from_secs(60),
            long_statement_timeout: Duration::from_secs(4 * 3600),
            small_table: size::DEFAULT_SMALL_TABLE,
            check_texts: Default::default(),
            backfills: Default::default(),
            usings: Default::default(),
            no_cast: Default::default(),
            explicit_only: Default::default(),
            incomparable: Default::default(),
            probed: Default::default(),
            server_version: 0,
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
    pub created: BTreeSet<QName>,
    /// New partitions created as tables of their own and then attached to their partitioned
    /// table (`ATTACH PARTITION`), because they have a PRIMARY KEY / UNIQUE / EXCLUDE of their
    /// own that an index of the partitioned table, which exists before the plan, must adopt
    /// (`CREATE TABLE ... PARTITION OF` would build a second index for it instead). See
    /// `kinds::table::attach_later`.
    pub attach_later: BTreeSet<QName>,
    /// Partitioned tables created again for a new partition key whose partitions keep their
    /// rows (`diff::Differ::rekeyed`): the plan drops the table and creates it, and the
    /// partitions are detached from the old one and attached to the new one (an
    /// `AlterTable` with `TableChange::Partition` whose partitioned table is the same name
    /// on both sides). See [`Ctx::reparented`].
    pub rekeyed: BTreeSet<QName>,
    /// Operator classes the plan drops and creates again: an index built with one cannot be
    /// built anew beside the old one (the new class needs the old one's name, which the old
    /// index keeps taken), see `kinds::index::replace`.
    pub recreated_classes: BTreeSet<ObjectId>,
    /// Indexes a change drops (or replaces): the online type change never carries one of
    /// them over to its shadow column (`kinds::retype`), the diff builds it again itself.
    pub dropped_indexes: BTreeSet<QName>,
    /// [`Schema::attachments`] of `current` and `desired`, computed on first use: generators
    /// ask about one index at a time, and a scan of the schema per dropped index made a plan
    /// dropping many indexes quadratic.
    attached: [std::cell::OnceCell<Attachments>; 2],
}

/// The partitioned tables of [`Ctx::rekeyed`]: dropped and created by the plan, with a
/// partition detached from and attached to the same name.
fn rekeyed_in(changes: &[Change]) -> BTreeSet<QName> {
    let dropped: BTreeSet<&QName> = changes
        .iter()
        .filter_map(|c| match c {
            Change::DropTable(t) => Some(&t.name),
            _ => None,
        })
        .collect();
    changes
        .iter()
        .filter_map(|c| match c {
            Change::AlterTable { from, to, kinds }
                if kinds.contains(&crate::diff::TableChange::Partition) =>
            {
                let p = from.partition_of.as_ref().map(|(p, _)| p)?;
                (to.partition_of.as_ref().map(|(q, _)| q) == Some(p) && dropped.contains(p))
                    .then(|| p.clone())
            }
            _ => None,
        })
        .collect()
}

/// A pseudo-name (no relation is named with a space and this prefix) that orders the steps
/// around a partitioned table created again keeping its rows ([`Ctx::rekeyed`]): `"keys of"`
/// is freed by the drops of the old table's constraints and claimed by the detaches (so the
/// partitions' copies of what does not carry over go with it), `"partitions of"` is freed by
/// the attaches and claimed by the new table's constraints and the foreign keys referencing
/// it (added over the rows, once every partition is attached).
pub(crate) fn rekey_slot(what: &str, t: &QName) -> QName {
    QName::new(t.schema.clone(), format!("{what} {}", t.name))
}

/// Partition indexes and constraints by the partitioned index they are attached to.
type Attachments = std::collections::BTreeMap<QName, Vec<(ObjectId, QName, QName)>>;

impl<'a> Ctx<'a> {
    /// The context of planning `changes` from `current` to `desired`.
    fn new(
        opts: &'a PlanOptions,
        current: &'a Schema,
        desired: &'a Schema,
        changes: &[Change],
    ) -> Ctx<'a> {
        let created = changes
            .iter()
            .filter_map(|c| match c {
                Change::CreateTable(t) => Some(t.name.clone()),
                Change::CreateView(v) if v.materialized => Some(v.name.clone()),
                _ => None,
            })
            .collect();
        let attach_later = kinds::table::attach_later(current, changes);
        let rekeyed = rekeyed_in(changes);
        let recreated_classes = changes
            .iter()
            .filter_map(|c| match c {
                Change::DropOperatorClass(k) => Some(ObjectId::OperatorClass(
                    k.name.clone(),
                    k.method.as_str().into(),
                )),
                _ => None,
            })
            .filter(|id| desired.contains(id))
            .collect();
        let dropped_indexes = changes
            .iter()
            .filter_map(|c| match c {
                Change::DropIndex(i) | Change::ReplaceIndex { from: i, .. } => Some(i.name.clone()),
                _ => None,
            })
            .collect();
        Ctx {
            opts,
            current,
            desired,
            created,
            attach_later,
            rekeyed,
            recreated_classes,
            dropped_indexes,
            attached: Default::default(),
        }
    }

    /// Whether table `q` is a partition moving from a partitioned table the plan drops to the
    /// one it creates again under the same name ([`Ctx::rekeyed`]): detached before the drop,
    /// a table of its own in between, attached after the create.
    pub fn reparented(&self, q: &QName) -> bool {
        crate::diff::reparented(self.current, self.desired, &self.rekeyed, q)
    }

    /// [`Schema::attached_to`] of the current schema, from one pass over it.
    pub fn attached_in_current(&self, parent: &QName) -> &[(ObjectId, QName, QName)] {
        let all = self.attached[0].get_or_init(|| self.current.attachments());
        all.get(parent).map_or(&[], Vec::as_slice)
    }

    /// [`Schema::attached_to`] of the desired schema, from one pass over it.
    pub fn attached_in_desired(&self, parent: &QName) -> &[(ObjectId, QName, QName)] {
        let all = self.attached[1].get_or_init(|| self.desired.attachments());
        all.get(parent).map_or(&[], Vec::as_slice)
    }

    /// How big the table (or materialized view) `q` is for the steps of this plan: created by
    /// the plan, or its size when the live database was read, against `--small-table`.
    /// Generators decide between plain and online forms with [`Ctx::small`].
    pub fn table_size(&self, q: &QName) -> TableSize {
        // a partitioned table created again keeping the rows holds them again once its
        // partitions are attached: as large as the old one
        if self.created.contains(q) && !self.rekeyed.contains(q) {
            return TableSize::CreatedInPlan;
        }
        // on either side: the inverse plan has no size facts, but a foreign table needs none
        let foreign = |s: &Schema| s.tables.get(q).is_some_and(|t| t.is_foreign());
        if foreign(self.current) && foreign(self.desired) {
            return TableSize::Foreign;
        }
        TableSize::of(self.current.sizes.get(q).copied(), self.opts.small_table)
    }

    /// Whether a step that scans, builds on or rewrites `tables` under its lock may take the
    /// plain form: every one of them created by the plan, empty or small. `Some(notes)` then,
    /// one note per existing table saying why (`public.users was empty at plan time`); `None`
    /// when one of them is large or of unknown size (the online form and its hazards).
    pub fn small(&self, tables: &[&QName]) -> Option<Vec<String>> {
        let mut notes = Vec::new();
        for q in tables {
            let size = self.table_size(q);
            if !size.is_small() {
                return None;
            }
            notes.extend(size.note(q, self.opts.small_table));
        }
        notes.dedup();
        Some(notes)
    }

    /// A transactional expand-phase step with the lock and the default timeouts.
    pub fn step(&self, summary: String, sql: String, lock: LockLevel, on: Option<&QName>) -> Step {
        Step {
            summary,
            sql,
            phase: Phase::Expand,
            transaction: TxMode::Transaction,
            lock,
            // Quoted, so the plan file's step line reads back unambiguously (a name may hold
            // ` | `, `: ` or a line break).
            lock_target: on.map(quote::qname),
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

    /// Marks a step as long-running (scans or builds): long statement timeout. Under SHARE
    /// UPDATE EXCLUSIVE (`CONCURRENTLY`, `VALIDATE`) also a long lock timeout: that lock lets
    /// reads and writes go on, so waiting for it, or for older transactions to end (which a
    /// concurrent build does after its scans, subject to `lock_timeout` too), stalls no one but
    /// other DDL and VACUUM on the table; and a concurrent build that gives up throws its
    /// finished scan away, so a short timeout behind one long transaction would rebuild the
    /// index again and again.
    pub fn long(&self, mut s: Step) -> Step {
        s.statement_timeout = Some(StatementTimeout(self.opts.long_statement_timeout));
        if s.lock == LockLevel::ShareUpdateExclusive {
            s.lock_timeout = Some(LockTimeout(self.opts.online_lock_timeout));
        }
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
    pub fn notes(mut self, n: impl IntoIterator<Item = String>) -> Step {
        self.notes.extend(n);
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

/// New columns the plan cannot fill: NOT NULL without a default or `@backfill`, on a table
/// that keeps rows through the plan (`(table, column)`). `plan` stops on these (the plain
/// `ADD COLUMN` would fail with "contains null values").
pub fn unfillable_columns(
    changes: &[Change],
    current: &Schema,
    desired: &Schema,
    opts: &PlanOptions,
) -> Vec<(QName, String)> {
    let ctx = Ctx::new(opts, current, desired, changes);
    changes
        .iter()
        .filter_map(|c| match c {
            Change::AddColumn { table, column }
                if kinds::column::unfillable(&ctx, table, column) =>
            {
                Some((table.clone(), column.name.to_string()))
            }
            _ => None,
        })
        .collect()
}

/// Type changes of columns on tables that have rows, with no cast between the two types and
/// no `@using`: `(table, column, from type, to type)`. `plan` stops on these (`ALTER COLUMN
/// ... TYPE` cannot be written for them; through text it would fail on the first row).
pub fn uncastable_columns(
    changes: &[Change],
    current: &Schema,
    desired: &Schema,
    opts: &PlanOptions,
) -> Vec<(QName, String, String, String)> {
    let ctx = Ctx::new(opts, current, desired, changes);
    changes
        .iter()
        .filter_map(|c| match c {
            Change::AlterColumn {
                table, from, to, ..
            } if kinds::column::uncastable(&ctx, table, from, to) => Some((
                table.clone(),
                to.name.to_string(),
                from.type_name.to_string(),
                to.type_name.to_string(),
            )),
            _ => None,
        })
        .collect()
}

/// Type changes of columns on tables with rows that may change or lose values (not lossless
/// by their types, no `@using`): the data check `workflow::lossy` runs on the live database
/// before planning, refusing when a row would change (see `kinds::convert`).
pub fn lossy_columns(
    changes: &[Change],
    current: &Schema,
    desired: &Schema,
    opts: &PlanOptions,
) -> Vec<LossCheck> {
    let ctx = Ctx::new(opts, current, desired, changes);
    changes
        .iter()
        .filter_map(|c| match c {
            Change::AlterColumn {
                table,
                from,
                to,
                kinds,
            } if kinds.contains(&crate::diff::ColumnChange::Type) => {
                kinds::convert::loss_check(&ctx, table, from, to)
            }
            _ => None,
        })
        .collect()
}

/// Like [`build`], with the object each step is about (used by `dump` to group files).
pub fn build_tagged(
    changes: &[Change],
    current: &Schema,
    desired: &Schema,
    opts: &PlanOptions,
) -> Vec<(ObjectId, Step)> {
    build_marked(changes, current, desired, opts)
        .into_iter()
        .map(|t| (t.object, t.step))
        .collect()
}

/// A step with the object it is about and whether it creates that object: a `COMMENT ON
/// COLUMN` or a `GRANT` on a column is about the column too, but only the `ADD COLUMN` (or
/// the `CREATE TABLE` of a table) brings it into being. Notes about what a re-created object
/// lacks belong on the creating step alone.
#[derive(Clone, Debug)]
pub struct Tagged {
    pub object: ObjectId,
    pub creates: bool,
    pub step: Step,
}

/// Like [`build_tagged`], with whether each step creates its object ([`Tagged`]).
pub fn build_marked(
    changes: &[Change],
    current: &Schema,
    desired: &Schema,
    opts: &PlanOptions,
) -> Vec<Tagged> {
    use crate::timings::stage;
    let ctx = stage("plan: context", || {
        Ctx::new(opts, current, desired, changes)
    });
    let chains: Vec<graph::Chain> = stage("plan: steps", || {
        changes
            .iter()
            .flat_map(|c| kinds::generate(&ctx, c))
            .collect()
    });
    stage("plan: order", || graph::order(chains, current, desired))
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
        attach_later: BTreeSet::new(),
        rekeyed: BTreeSet::new(),
        recreated_classes: BTreeSet::new(),
        dropped_indexes: BTreeSet::new(),
        attached: Default::default(),
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
    /// Digest of each object of the `from` schema (`catalog::object_digests`), written to
    /// `plan.json` so a refused apply can name what differs; empty when read from `plan.sql`.
    pub from_objects: std::collections::BTreeMap<String, String>,
    /// Set when the plan was not proven (why): the plan file says `-- proven: no (<why>)` and
    /// `apply` / `rollback` refuse it without `--allow-unproven`. An inverse whose replay on
    /// the scratch database failed, or any plan written with `--no-proof`.
    #[serde(default)]
    pub unproven: Option<String>,
    /// The scope the plan was made with (`catalog::scope`): its fingerprints and object digests
    /// cover only the objects in it, so `apply` reads the live database through it and refuses
    /// a plan whose scope is not the current configuration's. Written as the header's
    /// `scope:` line (absent: everything).
    #[serde(default)]
    pub scope: crate::catalog::Scope,
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
