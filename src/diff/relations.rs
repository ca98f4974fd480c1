//! Sequences, tables (with their columns and constraints) and indexes.

use super::{Change, ColumnChange, Differ, TableChange};
use crate::model::*;
use std::collections::{BTreeMap, BTreeSet};

pub(super) fn find_replacements(d: &mut Differ) {
    d.rekeyed = rekeyed_keeping_rows(d);
    for (name, want) in &d.desired.tables {
        let Some(have) = d.current.tables.get(name) else {
            continue;
        };
        // A partition of a partitioned table created again keeping the rows moves to the new
        // table (its bounds may change with the new key): detached and attached, not created.
        let moves = d.reparented(name);
        if table_needs_replace(have, want) || (!moves && joins_new_parent(d, have, want)) {
            d.replaced.insert(ObjectId::Table(name.clone()));
            continue;
        }
        for col in &want.columns {
            let Some(old) = have.column(&col.name) else {
                continue;
            };
            let id = ObjectId::Column(name.clone(), col.name.clone());
            // A child's own column to be inherited only, from a parent that gains it: moved
            // aside and copied into the parent's new column (`kinds::column`), its
            // dependents dropped and created again around it.
            if inherits_again(d.current, d.desired, name, &col.name) {
                d.replaced.insert(id);
                continue;
            }
            let generated_changed =
                old.generated != col.generated || old.generated_virtual != col.generated_virtual;
            // STORED <-> VIRTUAL has no ALTER (drop and add), and neither has VIRTUAL -> plain:
            // PostgreSQL 18 refuses `DROP EXPRESSION` on a virtual column, which stores nothing.
            let virtual_to_plain = old.generated_virtual && col.generated.is_none();
            if (generated_changed
                && col.generated.is_some()
                && !sets_expression(d.current, have, want, old, col)
                && !sets_stored_expression(d, have, old, col))
                || virtual_to_plain
            {
                d.replaced.insert(id);
            } else if old.type_name != col.type_name || old.collation != col.collation {
                d.retyped.insert(id);
            }
        }
        for (cname, con) in &want.constraints {
            let Some(old) = have.constraints.get(cname) else {
                continue;
            };
            if enforcement_only(old, con) {
                continue;
            }
            let id = ObjectId::Constraint(name.clone(), cname.clone());
            if !same_key_definition(
                d.current,
                d.desired,
                &id,
                name,
                (&old.definition, &old.collations),
                (&con.definition, &con.collations),
            ) || old.kind != con.kind
                || (old.validated && !con.validated)
            {
                d.replaced
                    .insert(ObjectId::Constraint(name.clone(), cname.clone()));
            }
        }
    }
    // A partition goes with its replaced partitioned table: re-created too (unless the
    // partitioned table keeps the rows: `rekeyed_keeping_rows`).
    loop {
        let more: Vec<ObjectId> = d
            .current
            .tables
            .values()
            .filter(|t| d.desired.tables.contains_key(&t.name) && !d.reparented(&t.name))
            .filter(|t| {
                t.partition_of
                    .as_ref()
                    .is_some_and(|(p, _)| d.is_replaced(&ObjectId::Table(p.clone())))
            })
            .map(|t| ObjectId::Table(t.name.clone()))
            .filter(|id| !d.is_replaced(id))
            .collect();
        if more.is_empty() {
            break;
        }
        d.replaced.extend(more);
    }
    for (name, want) in &d.desired.indexes {
        if d.current
            .indexes
            .get(name)
            // An index left invalid by a failed concurrent build is rebuilt; a partitioned
            // index created `ON ONLY` stays invalid until every partition has an index attached,
            // and is only rebuilt when the desired one is valid.
            .is_some_and(|have| {
                !same_key_definition(
                    d.current,
                    d.desired,
                    &ObjectId::Index(name.clone()),
                    &have.table,
                    (&have.definition, &have.collations),
                    (&want.definition, &want.collations),
                ) || (!have.valid && (want.valid || !want.on_partitioned_table))
            })
        {
            d.replaced.insert(ObjectId::Index(name.clone()));
        }
    }
    replace_when_attachments_change(d);
}

/// Partitioned tables that need a new partition key (a new `PARTITION BY`, or a new type or
/// collation of a column the key names: PostgreSQL has no `ALTER` for either) and whose rows
/// can be kept: its partitions are detached (plain tables from then on, with their rows),
/// changed as such (retyped, columns added or dropped), and attached to the partitioned table
/// created again with the new key; the old one, without partitions, is dropped.
///
/// Only where every partition stays a partition of the same table (partitions the desired
/// schema drops go with the old table, as before) and is an ordinary or partitioned table
/// that itself needs no re-creation (a sub-partitioned partition whose own key changes too
/// keeps the old form), and where the partitioned table is an ordinary one (no inheritance,
/// not foreign) whose own parent, if it is a partition, stays. Whether each partition's rows
/// fit its bounds under the new key is not known when planning: the attach checks it, and a
/// row that does not fit fails that step (its transaction rolls back, the rows stay).
/// Elsewhere the table and its partitions are created again (hazard `data-loss`).
fn rekeyed_keeping_rows(d: &Differ) -> std::collections::BTreeSet<QName> {
    let plain = |t: &Table| {
        t.kind == TableKind::Partitioned && t.foreign.is_none() && t.inherits.is_empty()
    };
    let mut out = std::collections::BTreeSet::new();
    for (name, want) in &d.desired.tables {
        let Some(have) = d.current.tables.get(name) else {
            continue;
        };
        let new_key = have.partition_key != want.partition_key || key_column_retyped(have, want);
        if !new_key || !plain(have) || !plain(want) || have.partition_of != want.partition_of {
            continue;
        }
        if let Some((p, _)) = &have.partition_of {
            let parent_stays = match (d.current.tables.get(p), d.desired.tables.get(p)) {
                (Some(a), Some(b)) => !table_needs_replace(a, b),
                _ => false,
            };
            if !parent_stays {
                continue;
            }
        }
        let of_it = |t: &Table| t.partition_of.as_ref().is_some_and(|(p, _)| p == name);
        let partitions_stay = d.current.tables.values().filter(|c| of_it(c)).all(|c| {
            match d.desired.tables.get(&c.name) {
                None => true,
                Some(w) => {
                    of_it(w)
                        && c.foreign.is_none()
                        && w.foreign.is_none()
                        && c.inherits.is_empty()
                        && w.inherits.is_empty()
                        && c.kind == w.kind
                        && !table_needs_replace(c, w)
                }
            }
        });
        if partitions_stay {
            out.insert(name.clone());
        }
    }
    out
}

/// The indexes and keys that partitions moving to a re-created partitioned table
/// ([`Differ::reparented`]) have from the old one stay on them, unchanged (detaching makes
/// them the partition's own, attaching to the new table adopts them again), unless their
/// definition changes: the closure over dependents (a partition's index depends on its
/// partitioned index, which goes with the old table) does not replace them.
pub(super) fn keep_reparented_copies(d: &mut Differ) {
    let kept: Vec<ObjectId> = d
        .replaced
        .iter()
        .filter(|id| match id {
            ObjectId::Index(q) => match (d.current.indexes.get(q), d.desired.indexes.get(q)) {
                (Some(a), Some(b)) => {
                    moves_along(d, &a.table)
                        && a.table == b.table
                        && a.parent_index.is_some()
                        && b.parent_index.is_some()
                        && a.definition == b.definition
                        && a.valid
                }
                _ => false,
            },
            ObjectId::Constraint(t, n) => {
                let con = |s: &Schema| s.tables.get(t).and_then(|x| x.constraints.get(n)).cloned();
                match (con(d.current), con(d.desired)) {
                    (Some(a), Some(b)) => {
                        moves_along(d, t)
                            && a.parent_index.is_some()
                            && b.parent_index.is_some()
                            && a.definition == b.definition
                            && a.kind == b.kind
                            && a.validated == b.validated
                    }
                    _ => false,
                }
            }
            _ => false,
        })
        .cloned()
        .collect();
    for id in kept {
        d.replaced.remove(&id);
    }
}

/// Whether table `q` is a partition moving to a re-created partitioned table
/// ([`Differ::reparented`]) or a partition of one (at any depth): what it has stays on it.
fn moves_along(d: &Differ, q: &QName) -> bool {
    let mut at = Some(q);
    for _ in 0..64 {
        let Some(t) = at else {
            return false;
        };
        if d.reparented(t) {
            return true;
        }
        if d.is_replaced(&ObjectId::Table(t.clone())) {
            return false;
        }
        at = d
            .current
            .tables
            .get(t)
            .and_then(|x| x.partition_of.as_ref())
            .map(|(p, _)| p);
    }
    false
}

/// The keys, CHECKs and foreign keys of a partitioned table created again keeping its rows
/// ([`Differ::rekeyed`]) that the new table does not have as they are: dropped from the old
/// table before its partitions are detached, so that their copies on the partitions go with
/// them (once detached, a partition keeps what it had from its partitioned table as its own;
/// attaching it to the new table adopts what matches, and the rest would stay behind). The
/// ones that carry over stay on the partitions and are adopted.
fn drop_what_does_not_carry_over(d: &mut Differ, have: &Table, want: &Table) {
    for con in have.constraints.values().filter(|c| c.is_local) {
        let same = want.constraints.get(&con.name).is_some_and(|w| {
            w.definition == con.definition && w.kind == con.kind && w.validated == con.validated
        });
        // foreign keys to other tables are dropped by `drop_table` anyway
        if !same && !con.references_other_table(&have.name) {
            d.push(Change::DropConstraint {
                table: have.name.clone(),
                constraint: con.clone(),
            });
        }
    }
}

/// A partitioned index whose attached partition indexes change on partitions that stay is
/// dropped and created again: PostgreSQL cannot detach a partition index, nor drop an attached
/// one (or the constraint owning it) while its parent index stays. Partitions created or
/// dropped by the plan do not count: their indexes come and go with them.
fn replace_when_attachments_change(d: &mut Differ) {
    let current_attached = d.current.attachments();
    let desired_attached = d.desired.attachments();
    let mut more = Vec::new();
    for name in d.desired.indexes.keys() {
        let id = ObjectId::Index(name.clone());
        if !d.current.indexes.contains_key(name) || d.is_replaced(&id) {
            continue;
        }
        let on_kept = |attached: &BTreeMap<QName, Vec<(ObjectId, QName, QName)>>| {
            attached
                .get(name)
                .into_iter()
                .flatten()
                .filter(|(_, table, _)| d.relation_kept(table))
                .map(|(child, _, _)| child.clone())
                .collect::<Vec<ObjectId>>()
        };
        let (have, want) = (on_kept(&current_attached), on_kept(&desired_attached));
        if have != want || have.iter().any(|c| d.is_replaced(c)) {
            more.push(id);
        }
    }
    d.replaced.extend(more);
    // What is attached to an index that goes is dropped with it: the partitions' indexes and
    // constraints that the desired schema keeps are created again (and what depends on them,
    // such as foreign keys to a partition's key, by the closure over dependents).
    let mut again = Vec::new();
    for name in d.current.indexes.keys() {
        let id = ObjectId::Index(name.clone());
        if d.desired.contains(&id) && !d.is_replaced(&id) {
            continue;
        }
        for (child, table, _) in current_attached.get(name).into_iter().flatten() {
            if d.relation_kept(table) && d.desired.contains(child) {
                again.push(child.clone());
            }
        }
    }
    d.replaced.extend(again);
}

/// Whether a partition's constraint goes with its parent index: its index is attached to a
/// partitioned index that the plan drops (or drops and re-creates), and dropping that takes it
/// along (PostgreSQL refuses to drop it alone). Not on a partition detached before (one
/// moving to a re-created partitioned table, [`Differ::reparented`]): it keeps it.
fn goes_with_parent_index(d: &Differ, t: &QName, con: &Constraint) -> bool {
    !d.reparented(t)
        && con.parent_index.as_ref().is_some_and(|p| {
            let pid = ObjectId::Index(p.clone());
            d.is_replaced(&pid) || !d.desired.contains(&pid)
        })
}

/// A table that must be dropped and created: it changes between ordinary and partitioned (or
/// foreign), gets another partition key or server, moves to another partitioned parent, or
/// changes the type or collation of a column its partition key names.
fn table_needs_replace(have: &Table, want: &Table) -> bool {
    let server = |t: &Table| t.foreign.as_ref().map(|f| f.server.clone());
    have.kind != want.kind
        // a table that becomes foreign or stops being one, or a foreign table on another
        // server (`ALTER FOREIGN TABLE` cannot set the server)
        || server(have) != server(want)
        || have.partition_key != want.partition_key
        || (have.partition_of != want.partition_of && !repartitioned_in_place(have, want))
        || key_column_retyped(have, want)
}

/// Whether a column the partition key names (plainly, `RANGE (a)`, or inside an expression,
/// `LIST (lower(b))`) changes type or collation. PostgreSQL refuses `ALTER COLUMN ... TYPE`
/// on such a column ("cannot alter column ... because it is part of the partition key"), so
/// the only way to the desired table is to create it again (with its partitions, and the
/// data-loss hazard that dropping rows carries). Which columns the key names is the catalog's
/// answer ([`Table::partition_key_columns`]), not a reading of the key's text.
fn key_column_retyped(have: &Table, want: &Table) -> bool {
    have.columns
        .iter()
        .filter(|c| have.partition_key_columns.contains(&c.name))
        .any(|c| {
            want.columns
                .iter()
                .find(|w| w.name == c.name)
                .is_some_and(|w| w.type_name != c.type_name || w.collation != c.collation)
        })
}

/// Whether a table that leaves a partitioned table, joins one or changes its bounds keeps its
/// rows: `DETACH PARTITION` and `ATTACH PARTITION` ([`TableChange::Partition`]) instead of
/// dropping and creating it. Not for tables in an inheritance tree (`INHERITS`), which cannot
/// be partitions.
fn repartitioned_in_place(have: &Table, want: &Table) -> bool {
    have.inherits.is_empty() && want.inherits.is_empty()
}

/// Whether a table joins (or moves to) a partitioned table that is new or created again by the
/// plan: then it is created again as its partition, as before (attaching a table to a
/// partitioned table made in the same plan clones that table's triggers and keys onto
/// whatever the table still has of its own under the same names).
fn joins_new_parent(d: &Differ, have: &Table, want: &Table) -> bool {
    let Some((p, _)) = &want.partition_of else {
        return false;
    };
    if have.partition_of == want.partition_of {
        return false;
    }
    match (d.current.tables.get(p), d.desired.tables.get(p)) {
        (Some(old), Some(new)) => {
            old.kind != new.kind
                || old.partition_key != new.partition_key
                || old.partition_of != new.partition_of
        }
        _ => true,
    }
}

/// Whether the table is detached from its partitioned table by the plan (and not dropped):
/// the indexes and key copies it had from that table stay on it as its own, and go by their
/// own steps when the desired schema lacks them.
fn detached(d: &Differ, t: &QName) -> bool {
    let (Some(have), Some(want)) = (d.current.tables.get(t), d.desired.tables.get(t)) else {
        return false;
    };
    (have.partition_of.is_some()
        && have.partition_of != want.partition_of
        && !d.is_replaced(&ObjectId::Table(t.clone())))
        || d.reparented(t)
}

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
    let col = ObjectId::Column(table.clone(), column.clone());
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
        d.created(ObjectId::Constraint(t.name.clone(), con.name.clone()));
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

fn diff_columns(d: &mut Differ, have: &Table, want: &Table) {
    let t = &want.name;
    // A partition moving to a re-created partitioned table is a table of its own in between
    // (detached): its columns change on it, as the new partitioned table's do not reach it.
    let own = d.reparented(t);
    for col in &want.columns {
        let id = ObjectId::Column(t.clone(), col.name.clone());
        match have.column(&col.name) {
            None if !col.declared_locally() && !own => {}
            None => {
                d.push(Change::AddColumn {
                    table: t.clone(),
                    column: col.clone(),
                });
                d.created(id);
            }
            Some(old) if d.is_replaced(&id) => {
                d.push(Change::DropColumn {
                    table: t.clone(),
                    column: old.clone(),
                });
                // An own column to be inherited only: the drop moves it aside, the parent's
                // ADD COLUMN gives the child its copy and the values (`kinds::column::add`).
                if !inherits_again(d.current, d.desired, t, &col.name) {
                    d.push(Change::AddColumn {
                        table: t.clone(),
                        column: col.clone(),
                    });
                }
                d.created(id);
            }
            Some(old) => {
                let mut kinds = column_changes(old, col, own);
                // Whether the child declares an inherited column itself (`attislocal`): the
                // child keeps its own copy when the parent drops the column, so the two
                // states are different schemas (and fingerprints). A column no longer
                // inherited becomes the child's own by itself (the parent's `ONLY` drop,
                // `NO INHERIT`); partitions have no columns of their own.
                if !own
                    && col.inherited
                    && have.partition_of.is_none()
                    && want.partition_of.is_none()
                    && old.declared_locally() != col.declared_locally()
                {
                    kinds.push(ColumnChange::Locality);
                }
                // A partition's identity is its partitioned table's (PostgreSQL 17+): set and
                // changed there, it reaches the partitions; on a partition it is refused.
                if want.partition_of.is_some() && !col.declared_locally() {
                    use ColumnChange::*;
                    kinds.retain(|k| {
                        !matches!(
                            k,
                            AddIdentity | SetIdentityKind | IdentityOptions | DropIdentity
                        )
                    });
                }
                if !kinds.is_empty() {
                    d.push(Change::AlterColumn {
                        table: t.clone(),
                        from: old.clone(),
                        to: col.clone(),
                        kinds,
                    });
                }
            }
        }
    }
    for old in &have.columns {
        let gone = !want.columns.iter().any(|c| c.name == old.name);
        if gone && (old.declared_locally() || own) {
            d.push(Change::DropColumn {
                table: t.clone(),
                column: old.clone(),
            });
        }
    }
}

/// Whether column `column` of inheritance child `t`, the child's own (not inherited) in the
/// current schema, is to be inherited only (not declared by the child) from a parent that
/// gains the column in this plan: the way back of a parent's `ALTER TABLE ONLY ... DROP
/// COLUMN` (`kinds::column::drop`). PostgreSQL's `ADD COLUMN` on the parent would merge into
/// the child's column, which would stay its own; so the child's column is renamed aside
/// first, the parent's `ADD COLUMN` gives the child a new, inherited copy, and the values are
/// copied into it (and its descendants' copies, which follow both the rename and the new
/// column) before the old column is dropped (`kinds::column::add`). Only where no descendant
/// declares the column itself (the rename would take that one aside too,
/// [`descendants_inherit_only`]), and not for partitions (whose columns are never their own).
pub fn inherits_again(current: &Schema, desired: &Schema, t: &QName, column: &str) -> bool {
    let (Some(have), Some(want)) = (current.tables.get(t), desired.tables.get(t)) else {
        return false;
    };
    let col = |tb: &Table| tb.column(column).cloned();
    let (Some(old), Some(new)) = (col(have), col(want)) else {
        return false;
    };
    let has = |s: &Schema, q: &QName| s.tables.get(q).and_then(col).is_some();
    have.partition_of.is_none()
        && want.partition_of.is_none()
        && !old.inherited
        && new.inherited
        && !new.is_local
        && want
            .inherits
            .iter()
            .any(|p| have.inherits.contains(p) && has(desired, p) && !has(current, p))
        && descendants_inherit_only(current, t, column)
}

/// Whether every inheritance descendant of `t` that has column `column` has it only inherited
/// (not declared itself): renaming `t`'s column renames theirs with it, and dropping it
/// drops theirs, so no descendant's own column would be renamed or kept under another name.
fn descendants_inherit_only(current: &Schema, t: &QName, column: &str) -> bool {
    let mut work = vec![t.clone()];
    let mut seen = std::collections::BTreeSet::new();
    while let Some(p) = work.pop() {
        if !seen.insert(p.clone()) {
            continue;
        }
        for child in current.tables.values().filter(|c| c.inherits.contains(&p)) {
            match child.column(column) {
                Some(k) if k.is_local => return false,
                Some(_) => work.push(child.name.clone()),
                None => {}
            }
        }
    }
    true
}

/// Whether the VIRTUAL generated column `old` of `have` becomes `new` by `ALTER COLUMN ... SET
/// EXPRESSION` (PostgreSQL 18 for VIRTUAL; STORED: [`sets_stored_expression`]): both
/// VIRTUAL, only the expression differs, and the column is the table's own, neither inherited
/// nor passed on to partitions or inheritance children (which would each need their own
/// expression change).
///
/// PostgreSQL 18 refuses `SET EXPRESSION` on a virtual column of a table with any CHECK
/// constraint ("not supported for virtual generated columns in tables with check
/// constraints"), also one the plan adds only for a moment: the helper CHECK of an online
/// `SET NOT NULL` or the guard of a type change. So a table with a CHECK on either side, or
/// with a column becoming NOT NULL or changing its type in the same plan, drops and adds the
/// column instead (it stores nothing: no value is lost either way).
fn sets_expression(
    current: &Schema,
    have: &Table,
    want: &Table,
    old: &Column,
    new: &Column,
) -> bool {
    let has_children = current.tables.values().any(|c| {
        c.partition_of
            .as_ref()
            .is_some_and(|(p, _)| *p == have.name)
            || c.inherits.contains(&have.name)
    });
    let has_check = |t: &Table| {
        t.constraints
            .values()
            .any(|c| c.kind == ConstraintKind::Check)
    };
    let other_checks = want.columns.iter().any(|w| {
        let before = have.column(&w.name);
        (w.not_null && !before.is_some_and(|h| h.not_null))
            || before.is_some_and(|h| h.type_name != w.type_name || h.collation != w.collation)
    });
    old.generated_virtual
        && new.generated_virtual
        && old.generated.is_some()
        && new.generated.is_some()
        && old.type_name == new.type_name
        && old.collation == new.collation
        && !old.inherited
        && !new.inherited
        && !has_children
        && !has_check(have)
        && !has_check(want)
        && !other_checks
}

/// Whether the STORED generated column `old` of `have` becomes `new` by `ALTER COLUMN ...
/// SET EXPRESSION` (PostgreSQL 17+; 13-16 have none, and a plan for them, or for a major it
/// does not know, drops and adds the column): both STORED, only the expression differs, the
/// column is the table's own (neither inherited nor passed on to partitions or inheritance
/// children, which would each need theirs changed), on a table that is not foreign.
/// PostgreSQL rewrites the table (computing every row's value again) and rebuilds the indexes
/// on the column, under ACCESS EXCLUSIVE, and keeps the column, its position, the views
/// reading it, its indexes, comment and privileges.
fn sets_stored_expression(d: &Differ, have: &Table, old: &Column, new: &Column) -> bool {
    let has_children = d.current.tables.values().any(|c| {
        c.partition_of
            .as_ref()
            .is_some_and(|(p, _)| *p == have.name)
            || c.inherits.contains(&have.name)
    });
    d.server_version >= 170000
        && !old.generated_virtual
        && !new.generated_virtual
        && old.generated.is_some()
        && new.generated.is_some()
        && old.type_name == new.type_name
        && old.collation == new.collation
        && !old.inherited
        && !new.inherited
        && !has_children
        && !have.is_foreign()
        && have.partition_of.is_none()
}

/// `own`: the column changes on its table even where it is inherited (a partition detached
/// for the change).
fn column_changes(old: &Column, new: &Column, own: bool) -> Vec<ColumnChange> {
    use ColumnChange::*;
    let mut k = Vec::new();
    let retype = old.type_name != new.type_name || old.collation != new.collation;
    if old.default.is_some() && (old.default != new.default || retype) {
        k.push(DropDefault);
    }
    if old.identity.is_some() && new.identity.is_none() {
        k.push(DropIdentity);
    }
    if old.generated.is_some() && new.generated.is_none() {
        k.push(DropExpression);
    }
    // Only VIRTUAL -> VIRTUAL (`sets_expression`) and, on 17+, STORED -> STORED
    // (`sets_stored_expression`) reach here with a new expression: every other change of a
    // generated column drops and adds it.
    if old.generated.is_some() && new.generated.is_some() && old.generated != new.generated {
        k.push(SetExpression);
    }
    if retype && (new.declared_locally() || own) {
        k.push(Type);
    }
    if old.not_null && !new.not_null {
        k.push(DropNotNull);
    }
    if new.default.is_some() && (old.default != new.default || retype) {
        k.push(SetDefault);
    }
    if !old.not_null && new.not_null {
        k.push(SetNotNull);
    }
    if old.compression != new.compression {
        k.push(Compression);
    }
    // ALTER COLUMN TYPE resets the storage to the new type's default.
    if old.storage != new.storage || (retype && new.storage.is_some()) {
        k.push(Storage);
    }
    if old.statistics != new.statistics {
        k.push(Statistics);
    }
    if !crate::model::same_options(&old.attoptions, &new.attoptions) {
        k.push(AttOptions);
    }
    if old.fdw_options != new.fdw_options {
        k.push(FdwOptions);
    }
    // The NOT NULL constraint itself (PostgreSQL 18; the names are `None` before, so nothing
    // here changes a plan on 13-17). A valid one satisfies a `NOT VALID` one in the files
    // (it is stronger): only NOT VALID -> valid is a change.
    if old.not_null && new.not_null && !old.inherited && !new.inherited {
        if old.not_null_name.is_some()
            && new.not_null_name.is_some()
            && old.not_null_name != new.not_null_name
        {
            k.push(NotNullName);
        }
        if old.not_null_no_inherit != new.not_null_no_inherit {
            k.push(NotNullInherit);
        }
        if old.not_null_not_valid && !new.not_null_not_valid {
            k.push(ValidateNotNull);
        }
    }
    match (&old.identity, &new.identity) {
        (None, Some(_)) => k.push(AddIdentity),
        (Some(a), Some(b)) => {
            if a.always != b.always {
                k.push(SetIdentityKind);
            }
            if a.sequence_options != b.sequence_options {
                k.push(IdentityOptions);
            }
        }
        _ => {}
    }
    k
}

fn diff_constraints(d: &mut Differ, have: &Table, want: &Table) {
    let t = &want.name;
    for (name, con) in &want.constraints {
        let id = ObjectId::Constraint(t.clone(), name.clone());
        match have.constraints.get(name) {
            None if !con.is_local => {}
            Some(old) if d.is_replaced(&id) && check_replaced_beside(d, have, old, con) => {
                d.push(Change::ReplaceCheck {
                    table: t.clone(),
                    from: old.clone(),
                    to: con.clone(),
                });
                d.created(id);
            }
            Some(old) if d.is_replaced(&id) || goes_with_parent_index(d, t, old) => {
                if !goes_with_parent_index(d, t, old) {
                    d.push(Change::DropConstraint {
                        table: t.clone(),
                        constraint: old.clone(),
                    });
                }
                add_constraint(d, t, con);
            }
            None => add_constraint(d, t, con),
            Some(old) if enforcement_only(old, con) => d.push(Change::SetConstraintEnforced {
                table: t.clone(),
                from: old.clone(),
                to: con.clone(),
            }),
            Some(old) if !old.validated && con.validated => d.push(Change::ValidateConstraint {
                table: t.clone(),
                constraint: con.clone(),
            }),
            Some(_) => {}
        }
    }
    validate_copies(d, &have.unvalidated_copies, want);
    for (name, old) in &have.constraints {
        let own = old.is_local || detached(d, t);
        if !want.constraints.contains_key(name)
            && own
            && !goes_with_parent_index(d, t, old)
            && !adopted_as_it_is(d, have, want, old)
        {
            d.push(Change::DropConstraint {
                table: t.clone(),
                constraint: old.clone(),
            });
        }
    }
}

/// A partition's or inheritance child's copies of its parents' CHECK constraints that are
/// validated in the desired schema ([`Table::unvalidated_copies`] does not name them) but will
/// not be after the parents' changes: `NOT VALID` in the current schema (and the parent's
/// constraint kept), or made anew by a parent's constraint the plan adds `NOT VALID` (which
/// gives every existing partition a `NOT VALID` copy, where the desired schema's partitions,
/// created after it, have validated ones). Each is validated on its table (`VALIDATE
/// CONSTRAINT` on a copy scans that table alone, SHARE UPDATE EXCLUSIVE). The other way (a
/// validated copy to be `NOT VALID`) has no statement short of adding the parent's constraint
/// again; it is left as it is. A partition the plan creates is `have` with no copies: it gets
/// a `NOT VALID` copy when the parent's constraint is added `NOT VALID` after it (a
/// `VALIDATE` of a partitioned partition validates its own partitions' copies too).
fn validate_copies(d: &mut Differ, have_unvalidated: &BTreeSet<String>, want: &Table) {
    let t = &want.name;
    let parents: Vec<&QName> = want
        .partition_of
        .iter()
        .map(|(p, _)| p)
        .chain(want.inherits.iter())
        .collect();
    let mut names = BTreeMap::new();
    for p in parents {
        let Some(wp) = d.desired.tables.get(p) else {
            continue;
        };
        for (name, c) in &wp.constraints {
            let inherited = c.kind == ConstraintKind::Check
                && !c.definition.contains(" NO INHERIT")
                && !want.constraints.contains_key(name)
                && !want.unvalidated_copies.contains(name);
            if !inherited || !c.enforced() {
                continue;
            }
            let id = ObjectId::Constraint(p.clone(), name.clone());
            let added_not_valid = !c.validated
                && (d
                    .current
                    .tables
                    .get(p)
                    .is_none_or(|cp| !cp.constraints.contains_key(name))
                    || d.is_replaced(&id)
                    || d.is_replaced(&ObjectId::Table(p.clone())));
            if added_not_valid || have_unvalidated.contains(name) {
                names.entry(name.clone()).or_insert_with(|| c.clone());
            }
        }
    }
    for (_, c) in names {
        d.push(Change::ValidateConstraint {
            table: t.clone(),
            constraint: Constraint {
                is_local: false,
                validated: true,
                parent_index: None,
                ..c
            },
        });
    }
}

/// Whether a partition's own PRIMARY KEY / UNIQUE / EXCLUDE is, in the desired schema, its copy
/// of a key its partitioned table gets in this plan, under the same name and definition
/// ([`Table::key_copies`]): the new key attaches it as it is (`constraint::add_on_partitions`),
/// so it is neither dropped nor built again, and keeps its name.
fn adopted_as_it_is(d: &Differ, have: &Table, want: &Table, old: &Constraint) -> bool {
    let (Some(copy), Some((parent, _))) = (want.key_copies.get(&old.name), &want.partition_of)
    else {
        return false;
    };
    let new_key = ObjectId::Constraint(parent.clone(), copy.of.clone());
    let parent_key_is_new = d
        .current
        .tables
        .get(parent)
        .is_none_or(|p| !p.constraints.contains_key(&copy.of))
        || d.is_replaced(&new_key);
    old.is_local
        && old.parent_index.is_none()
        && copy.definition == old.definition
        && have.partition_of.as_ref().map(|(p, _)| p) == Some(parent)
        && d.relation_kept(parent)
        && d.relation_kept(&have.name)
        && parent_key_is_new
        && !d.is_replaced(&ObjectId::Constraint(have.name.clone(), old.name.clone()))
}

/// Whether only the enforcement of a foreign key changes (`ENFORCED` <-> `NOT ENFORCED`,
/// PostgreSQL 18): `ALTER CONSTRAINT ... [NOT] ENFORCED` does it in place
/// ([`Change::SetConstraintEnforced`]). PostgreSQL 18 alters the enforcement of foreign keys
/// only; a CHECK whose enforcement changes is dropped and added again. A `NOT VALID` foreign
/// key becoming `NOT ENFORCED` (or back) is not only an enforcement change (the validation
/// state differs on the enforced side): replaced too.
fn enforcement_only(old: &Constraint, new: &Constraint) -> bool {
    old.kind == ConstraintKind::ForeignKey
        && new.kind == ConstraintKind::ForeignKey
        && old.enforced() != new.enforced()
        && old.enforced_definition() == new.enforced_definition()
        && (!old.enforced() || old.validated)
        && (!new.enforced() || new.validated)
        && old.is_local
        && new.is_local
}

/// Whether a replaced CHECK can be replaced beside the old one ([`Change::ReplaceCheck`]):
/// only its expression changes (both CHECKs, both validated and local), on an ordinary table
/// that keeps its rows and that no other table inherits from (a CHECK added to a parent is
/// added to its children, under the same name), and nothing it reads changes (a column it
/// reads being retyped, or a function it calls re-created, needs the old CHECK gone first).
fn check_replaced_beside(d: &Differ, have: &Table, old: &Constraint, new: &Constraint) -> bool {
    let id = ObjectId::Constraint(have.name.clone(), old.name.clone());
    let reads_nothing_changing = d.current.depends.get(&id).is_none_or(|refs| {
        refs.iter()
            .all(|r| !d.is_replaced(r) && !d.retyped.contains(r) && d.desired.contains(r))
    });
    old.kind == ConstraintKind::Check
        && new.kind == ConstraintKind::Check
        && old.validated
        && new.validated
        && old.is_local
        && new.is_local
        && old.definition != new.definition
        && have.kind == TableKind::Ordinary
        && have.partition_of.is_none()
        && d.relation_kept(&have.name)
        && !d
            .current
            .tables
            .values()
            .any(|c| c.inherits.contains(&have.name))
        && reads_nothing_changing
}

fn add_constraint(d: &mut Differ, t: &QName, con: &Constraint) {
    d.push(Change::AddConstraint {
        table: t.clone(),
        constraint: con.clone(),
    });
    d.created(ObjectId::Constraint(t.clone(), con.name.clone()));
}

/// Whether the plan changes the collation of column `c` of table `t`, which both schemas have.
fn collation_changes(current: &Schema, desired: &Schema, t: &QName, c: &str) -> bool {
    let find = |s: &Schema| {
        s.tables
            .get(t)
            .and_then(|tb| tb.column(c))
            .map(|x| x.collation.clone())
    };
    matches!((find(current), find(desired)), (Some(a), Some(b)) if a != b)
}

/// Whether index (or EXCLUDE constraint) `id` on `table` uses a column whose collation the
/// plan changes. PostgreSQL's `ALTER COLUMN ... TYPE ... COLLATE` builds such an index again
/// from its printed definition, where a key's collation equal to the column's is left out: a
/// new index built beside the old one before that `ALTER` would take the column's new
/// collation where its definition wants the old one. Such an index is dropped before the
/// column changes and created after it instead (`Change::DropIndex` + `Change::CreateIndex`,
/// ordered by the column it depends on).
pub(crate) fn under_collation_change(
    current: &Schema,
    desired: &Schema,
    id: &ObjectId,
    table: &QName,
) -> bool {
    current.dependencies_of(id).any(|dep| {
        matches!(dep, ObjectId::Column(q, c) if q == table && collation_changes(current, desired, q, c))
    })
}

/// Whether the definition of index (or EXCLUDE constraint) `id` on `table` in the current
/// schema builds the index the desired schema describes, once the plan has changed the
/// collations of its columns (see [`KeyCollations`]: the printed text depends on the
/// column's collation; the index does not).
pub(crate) fn same_key_definition(
    current: &Schema,
    desired: &Schema,
    id: &ObjectId,
    table: &QName,
    have: (&str, &KeyCollations),
    want: (&str, &KeyCollations),
) -> bool {
    let any_changing = || under_collation_change(current, desired, id, table);
    same_index(have.0, have.1, want.0, want.1, |column| match column {
        Some(c) => collation_changes(current, desired, table, c),
        None => any_changing(),
    })
}

/// Indexes. An index attached to a partitioned index (`parent_index`) is created explicitly,
/// before its parent, under its own name; creating the parent then attaches it. It is never
/// dropped on its own: PostgreSQL refuses, and dropping the parent (or the table) takes it.
/// Whether every object `id` depends on stays as it is (neither dropped and created again nor
/// gone from the desired schema).
fn reads_nothing_dropped(d: &Differ, id: &ObjectId) -> bool {
    d.current.depends.get(id).is_none_or(|refs| {
        refs.iter()
            .all(|r| !d.is_replaced(r) && d.desired.contains(r))
    })
}

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
