//! Schema x Schema -> typed [`Change`]s. Semantic only: no SQL text is produced here.
//!
//! The diff runs in three passes:
//! 1. decide which objects must be dropped and created again (`replace`): a change PostgreSQL
//!    cannot make in place (a new index definition, a view whose columns changed, a function
//!    whose result type changed ...);
//! 2. close that set over dependents (`closure`): a view reading a column whose type changes,
//!    or a policy calling a replaced function, is dropped and re-created around the change;
//! 3. emit per-kind changes (one module per kind), then comments and privileges, which also
//!    have to be restored on every object that is created afresh.
//!
//! [`same`] answers the cheaper question first where two schemas are expected to be equal
//! (the proof's readings): never "the same" where the diff would find a change.

mod access_methods;
mod casts;
mod change;
mod closure;
mod conversions;
mod foreign;
mod languages;
mod operators;
mod owners;
mod privileges;
mod publications;
mod relations;
mod routines;
mod rules;
mod same;
mod statistics;
mod text_search;
mod types;

pub use change::{Change, ColumnChange, EnumPosition, Rename, TableChange};
pub(crate) use privileges::grant_option_twin;
pub use relations::inherits_again;
pub(crate) use relations::same_key_definition;
pub use same::same;

use crate::model::{ObjectId, QName, Schema};
use std::collections::BTreeSet;

/// Shared state of one diff run.
pub(crate) struct Differ<'a> {
    pub current: &'a Schema,
    pub desired: &'a Schema,
    /// `server_version_num` of the database the changes are for, 0 when unknown
    /// ([`diff_for`]): a change only a newer major can make in place is made so from it on.
    pub server_version: u32,
    /// Objects present on both sides that are dropped and created again.
    pub replaced: BTreeSet<ObjectId>,
    /// Columns whose type changes in place (their dependent views, policies ... are replaced).
    pub retyped: BTreeSet<ObjectId>,
    /// Partitioned tables created again for a new partition key (or a new type or collation
    /// of a column their key names) whose partitions keep their rows: detached, changed as
    /// tables of their own and attached to the new partitioned table, instead of being
    /// created again with it (`relations::replace::rekeyed_keeping_rows`).
    pub rekeyed: BTreeSet<QName>,
    /// Every object that the plan creates (new or replaced), including the parts created with
    /// a new table: comments and grants on them must be set again.
    pub fresh: BTreeSet<ObjectId>,
    pub changes: Vec<Change>,
}

/// Compares `current` with `desired` and returns the changes that turn one into the other.
/// For a major unknown: only changes every supported major can make.
pub fn diff(current: &Schema, desired: &Schema) -> Vec<Change> {
    diff_for(current, desired, 0)
}

/// [`diff`] for a server of `server_version_num` `server_version` (`PlanOptions::
/// server_version`; 0: unknown): from PostgreSQL 17 a STORED generated column's new
/// expression is `ALTER COLUMN ... SET EXPRESSION` instead of a drop and add.
pub fn diff_for(current: &Schema, desired: &Schema, server_version: u32) -> Vec<Change> {
    crate::timings::stage("diff", || diff_untimed(current, desired, server_version))
}

fn diff_untimed(current: &Schema, desired: &Schema, server_version: u32) -> Vec<Change> {
    let mut d = Differ {
        current,
        desired,
        server_version,
        replaced: BTreeSet::new(),
        retyped: BTreeSet::new(),
        rekeyed: BTreeSet::new(),
        fresh: BTreeSet::new(),
        changes: Vec::new(),
    };
    types::find_replacements(&mut d);
    relations::find_replacements(&mut d);
    routines::find_replacements(&mut d);
    publications::find_replacements(&mut d);
    foreign::find_replacements(&mut d);
    casts::find_replacements(&mut d);
    access_methods::find_replacements(&mut d);
    conversions::find_replacements(&mut d);
    text_search::find_replacements(&mut d);
    operators::find_replacements(&mut d);
    statistics::find_replacements(&mut d);
    rules::find_replacements(&mut d);
    closure::close_over_dependents(&mut d);
    relations::keep_reparented_copies(&mut d);

    types::diff_namespaces(&mut d);
    types::diff_types(&mut d);
    relations::diff_sequences(&mut d);
    relations::diff_tables(&mut d);
    relations::diff_indexes(&mut d);
    routines::diff_views(&mut d);
    routines::diff_functions(&mut d);
    routines::diff_triggers(&mut d);
    routines::diff_policies(&mut d);
    statistics::diff_statistics(&mut d);
    rules::diff_rules(&mut d);
    publications::diff_publications(&mut d);
    routines::diff_event_triggers(&mut d);
    foreign::diff_foreign(&mut d);
    casts::diff_casts(&mut d);
    access_methods::diff_access_methods(&mut d);
    conversions::diff_conversions(&mut d);
    languages::diff_languages(&mut d);
    text_search::diff_text_search(&mut d);
    operators::diff_operators(&mut d);
    owners::diff_owners(&mut d);
    privileges::diff_comments(&mut d);
    privileges::diff_grants(&mut d);
    privileges::diff_default_privileges(&mut d);
    d.changes
}

impl Differ<'_> {
    pub fn push(&mut self, c: Change) {
        self.changes.push(c);
    }

    /// Marks an object as created by the plan.
    pub fn created(&mut self, id: ObjectId) {
        self.fresh.insert(id);
    }

    /// The id of the relation (table or view) named `q`, whichever side has it.
    pub fn relation_id(&self, q: &QName) -> ObjectId {
        if self.current.views.contains_key(q) || self.desired.views.contains_key(q) {
            ObjectId::View(q.clone())
        } else {
            ObjectId::Table(q.clone())
        }
    }

    /// Whether the table (or view) exists before the plan and keeps its rows: not created,
    /// dropped or replaced. What lives on it (indexes, triggers, policies) survives with it.
    pub fn relation_kept(&self, q: &QName) -> bool {
        let id = self.relation_id(q);
        self.current.contains(&id) && self.desired.contains(&id) && !self.is_replaced(&id)
    }

    pub fn is_replaced(&self, id: &ObjectId) -> bool {
        self.replaced.contains(id)
    }

    /// Whether table `q` is a partition that stays, in both schemas, a partition of a
    /// partitioned table the plan creates again keeping the rows ([`Differ::rekeyed`]): it is
    /// detached from the old table and attached to the new one.
    pub fn reparented(&self, q: &QName) -> bool {
        reparented(self.current, self.desired, &self.rekeyed, q)
    }
}

/// Whether table `q` is, in both `current` and `desired`, a partition of the same partitioned
/// table, one of `rekeyed` (created again keeping its rows): such a partition is detached from
/// the old table and attached to the new one. Shared by the diff and the planner.
pub fn reparented(
    current: &Schema,
    desired: &Schema,
    rekeyed: &BTreeSet<QName>,
    q: &QName,
) -> bool {
    let parent = |s: &Schema| {
        s.tables
            .get(q)
            .and_then(|t| t.partition_of.as_ref())
            .map(|(p, _)| p.clone())
    };
    match (parent(current), parent(desired)) {
        (Some(a), Some(b)) => a == b && rekeyed.contains(&a),
        _ => false,
    }
}
