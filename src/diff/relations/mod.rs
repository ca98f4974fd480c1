//! Sequences, tables (with their columns and constraints) and indexes. This file diffs
//! sequences, tables and indexes; what a kept table's columns and constraints change is in
//! `columns` and `constraints`, and which tables and indexes are replaced rather than altered
//! in `replace`.

mod columns;
mod constraints;
mod replace;

use super::{Change, ColumnChange, Differ, TableChange};
use crate::model::*;
use columns::*;
use constraints::*;
use replace::*;
use std::collections::{BTreeMap, BTreeSet};

pub use columns::inherits_again;
pub(crate) use constraints::same_key_definition;
pub(super) use replace::{find_replacements, keep_reparented_copies};

pub(super) fn diff_sequences(d: &mut Differ) {
    for (name, want) in &d.desired.sequences {
        let id = ObjectId::Sequence(name.clone());
        match d.current.sequences.get(name) {
            None => {
                d.push(Change::CreateSequence(want.clone()));
                d.created(id);
                if want.owned_by.is_some() {
                    d.push(Change::SetSequenceOwner {
                        sequence: name.clone(),
                        owner: want.owned_by.clone(),
                    });
                }
            }
            Some(have) => {
                let mut h = have.clone();
                h.owned_by = want.owned_by.clone();
                if h != *want {
                    d.push(Change::AlterSequence {
                        from: have.clone(),
                        to: want.clone(),
                    });
                }
                let owner_gone = owner_dropped(d, have);
                if have.owned_by != want.owned_by || (owner_gone && want.owned_by.is_some()) {
                    if owner_gone {
                        // Detach first so dropping the old owner column does not take the
                        // sequence along.
                        d.push(Change::SetSequenceOwner {
                            sequence: name.clone(),
                            owner: None,
                        });
                    }
                    if want.owned_by.is_some() || !owner_gone {
                        d.push(Change::SetSequenceOwner {
                            sequence: name.clone(),
                            owner: want.owned_by.clone(),
                        });
                    }
                }
            }
        }
    }
    for (name, have) in &d.current.sequences {
        if !d.desired.sequences.contains_key(name) && !owner_dropped(d, have) {
            d.push(Change::DropSequence(have.clone()));
        }
    }
}

/// Whether the column owning the sequence disappears (taking an owned sequence with it).
fn owner_dropped(d: &Differ, seq: &Sequence) -> bool {
    let Some((table, column)) = &seq.owned_by else {
        return false;
    };
    let col = ObjectId::Column(table.clone(), column.as_str().into());
    !d.desired.contains(&col)
        || d.is_replaced(&ObjectId::Table(table.clone()))
        || d.is_replaced(&col)
}

pub(super) fn diff_tables(d: &mut Differ) {
    for (name, want) in &d.desired.tables {
        let id = ObjectId::Table(name.clone());
        match d.current.tables.get(name) {
            None => create_table(d, want),
            Some(have) if d.is_replaced(&id) => {
                if d.rekeyed.contains(name) {
                    drop_what_does_not_carry_over(d, have, want);
                }
                drop_table(d, have);
                create_table(d, want);
            }
            Some(have) => alter_table(d, have, want),
        }
    }
    for (name, have) in &d.current.tables {
        if !d.desired.tables.contains_key(name) {
            drop_table(d, have);
        }
    }
}

/// Drops a table, its foreign keys to other tables first: two tables referencing each other
/// cannot otherwise be dropped one after the other. A partition whose partitioned table is
/// dropped goes with it, but its own foreign keys to other tables are dropped first all the
/// same: a key between partitions of two trees that both go (or that reference each other)
/// would otherwise hold the referenced tree in place (issue 14).
fn drop_table(d: &mut Differ, t: &Table) {
    if let Some((parent, _)) = &t.partition_of {
        let pid = ObjectId::Table(parent.clone());
        if d.is_replaced(&pid) || !d.desired.contains(&pid) {
            for con in t
                .constraints
                .values()
                .filter(|c| c.is_local && c.references_other_table(&t.name))
            {
                d.push(Change::DropConstraint {
                    table: t.name.clone(),
                    constraint: con.clone(),
                });
            }
            return;
        }
    }
    for con in t
        .constraints
        .values()
        .filter(|c| c.references_other_table(&t.name))
    {
        d.push(Change::DropConstraint {
            table: t.name.clone(),
            constraint: con.clone(),
        });
    }
    d.push(Change::DropTable(t.clone()));
}

fn create_table(d: &mut Differ, t: &Table) {
    d.push(Change::CreateTable(t.clone()));
    d.created(ObjectId::Table(t.name.clone()));
    for c in &t.columns {
        d.created(ObjectId::Column(t.name.clone(), c.name.clone()));
    }
    for con in t.constraints.values().filter(|c| c.is_local) {
        d.push(Change::AddConstraint {
            table: t.name.clone(),
            constraint: con.clone(),
        });
        d.created(ObjectId::Constraint(
            t.name.clone(),
            con.name.as_str().into(),
        ));
    }
    // Its copies of a parent's CHECK that the plan adds `NOT VALID` after creating it.
    validate_copies(d, &BTreeSet::new(), t);
}

fn alter_table(d: &mut Differ, have: &Table, want: &Table) {
    let mut kinds = table_changes(have, want);
    // detached from the old partitioned table and attached to the new one
    if d.reparented(&want.name) && !kinds.contains(&TableChange::Partition) {
        kinds.push(TableChange::Partition);
    }
    if !kinds.is_empty() {
        d.push(Change::AlterTable {
            from: have.clone(),
            to: want.clone(),
            kinds,
        });
    }
    diff_columns(d, have, want);
    diff_constraints(d, have, want);
}

fn table_changes(have: &Table, want: &Table) -> Vec<TableChange> {
    let mut k = Vec::new();
    if have.unlogged != want.unlogged {
        k.push(TableChange::Logged);
    }
    if !same_options(&have.options, &want.options) {
        k.push(TableChange::Options);
    }
    if have.rls_enabled != want.rls_enabled {
        k.push(TableChange::RowLevelSecurity);
    }
    if have.rls_forced != want.rls_forced {
        k.push(TableChange::ForceRowLevelSecurity);
    }
    if have.replica_identity != want.replica_identity {
        k.push(TableChange::ReplicaIdentity);
    }
    if have.inherits != want.inherits {
        k.push(TableChange::Inherits);
    }
    if have.access_method != want.access_method {
        k.push(TableChange::AccessMethod);
    }
    if have.partition_of != want.partition_of {
        k.push(TableChange::Partition);
    }
    if let (Some(a), Some(b)) = (&have.foreign, &want.foreign) {
        if a.options != b.options {
            k.push(TableChange::ForeignOptions);
        }
    }
    k
}

/// Whether every object `id` depends on stays as it is (neither dropped and created again nor
/// gone from the desired schema).
fn reads_nothing_dropped(d: &Differ, id: &ObjectId) -> bool {
    d.current.depends.get(id).is_none_or(|refs| {
        refs.iter()
            .all(|r| !d.is_replaced(r) && d.desired.contains(r))
    })
}

/// Indexes. An index attached to a partitioned index (`parent_index`) is created explicitly,
/// before its parent, under its own name; creating the parent then attaches it. It is never
/// dropped on its own: PostgreSQL refuses, and dropping the parent (or the table) takes it.
pub(super) fn diff_indexes(d: &mut Differ) {
    for (name, want) in &d.desired.indexes {
        let id = ObjectId::Index(name.clone());
        match d.current.indexes.get(name) {
            // A changed index on a table with rows: the new one is built first, under a
            // temporary name, so queries keep an index throughout. Not when it calls a
            // function the plan drops (re-created under the same signature, or gone): built
            // beside, the new index would call the old function and keep it from being dropped.
            Some(have)
                if d.is_replaced(&id)
                    && reads_nothing_dropped(d, &id)
                    && d.relation_kept(&want.table)
                    && d.relation_kept(&have.table)
                    && have.parent_index.is_none()
                    && want.parent_index.is_none()
                    && !have.on_partitioned_table
                    && !want.on_partitioned_table
                    && have.valid
                    && !under_collation_change(d.current, d.desired, &id, &have.table) =>
            {
                d.push(Change::ReplaceIndex {
                    from: have.clone(),
                    to: want.clone(),
                });
                d.created(id);
            }
            Some(have)
                if d.is_replaced(&id) || !d.relation_kept(&have.table) || parent_goes(d, have) =>
            {
                if d.relation_kept(&have.table)
                    && (have.parent_index.is_none() || d.reparented(&have.table))
                {
                    d.push(Change::DropIndex(have.clone()));
                }
                d.push(Change::CreateIndex(want.clone()));
                d.created(id);
            }
            Some(_) => {}
            // A new partition of a table whose partitioned index stays gets its copy of the
            // index from `CREATE TABLE ... PARTITION OF` itself.
            None if want.parent_index.as_ref().is_some_and(|p| index_kept(d, p)) => {
                d.created(id);
            }
            None => {
                d.push(Change::CreateIndex(want.clone()));
                d.created(id);
            }
        }
    }
    for (name, have) in &d.current.indexes {
        let table_gone = !d.relation_kept(&have.table);
        let own = have.parent_index.is_none() || detached(d, &have.table);
        if !d.desired.indexes.contains_key(name) && own && !table_gone {
            d.push(Change::DropIndex(have.clone()));
        }
    }
}

/// Whether the index exists before and after the plan, untouched.
fn index_kept(d: &Differ, q: &QName) -> bool {
    let id = ObjectId::Index(q.clone());
    d.current.contains(&id) && d.desired.contains(&id) && !d.is_replaced(&id)
}

/// Whether an attached partition index disappears with its parent index in this plan.
fn parent_goes(d: &Differ, have: &Index) -> bool {
    // a partition detached before its partitioned index goes keeps its index
    !d.reparented(&have.table)
        && have.parent_index.as_ref().is_some_and(|p| {
            let pid = ObjectId::Index(p.clone());
            d.is_replaced(&pid) || !d.desired.contains(&pid) || !d.relation_kept(&have.table)
        })
}
