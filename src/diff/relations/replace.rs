//! Tables and indexes that the plan drops and creates again rather than alters (a change
//! PostgreSQL cannot make in place, a partitioned table re-keyed), and partitions that move to
//! a re-created parent (re-parented copies).

use super::*;

pub(in crate::diff) fn find_replacements(d: &mut Differ) {
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
            // Made only for the columns it names (this runs for every column of every table).
            let id = || ObjectId::Column(name.clone(), col.name.clone());
            // A child's own column to be inherited only, from a parent that gains it: moved
            // aside and copied into the parent's new column (`kinds::column`), its
            // dependents dropped and created again around it.
            if col.inherited
                && !old.inherited
                && inherits_again(d.current, d.desired, name, &col.name)
            {
                d.replaced.insert(id());
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
                d.replaced.insert(id());
            } else if old.type_name != col.type_name || old.collation != col.collation {
                d.retyped.insert(id());
            }
        }
        for (cname, con) in &want.constraints {
            let Some(old) = have.constraints.get(cname) else {
                continue;
            };
            if enforcement_only(old, con) {
                continue;
            }
            let id = ObjectId::Constraint(name.clone(), cname.as_str().into());
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
                    .insert(ObjectId::Constraint(name.clone(), cname.as_str().into()));
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
pub(super) fn rekeyed_keeping_rows(d: &Differ) -> std::collections::BTreeSet<QName> {
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
pub(in crate::diff) fn keep_reparented_copies(d: &mut Differ) {
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
                let con = |s: &Schema| {
                    s.tables
                        .get(t)
                        .and_then(|x| x.constraints.get(n.as_str()))
                        .cloned()
                };
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
pub(super) fn moves_along(d: &Differ, q: &QName) -> bool {
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
pub(super) fn drop_what_does_not_carry_over(d: &mut Differ, have: &Table, want: &Table) {
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
pub(super) fn replace_when_attachments_change(d: &mut Differ) {
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
pub(super) fn goes_with_parent_index(d: &Differ, t: &QName, con: &Constraint) -> bool {
    !d.reparented(t)
        && con.parent_index.as_ref().is_some_and(|p| {
            let pid = ObjectId::Index(p.clone());
            d.is_replaced(&pid) || !d.desired.contains(&pid)
        })
}

/// A table that must be dropped and created: it changes between ordinary and partitioned (or
/// foreign), gets another partition key or server, moves to another partitioned parent, or
/// changes the type or collation of a column its partition key names.
pub(super) fn table_needs_replace(have: &Table, want: &Table) -> bool {
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
pub(super) fn key_column_retyped(have: &Table, want: &Table) -> bool {
    have.columns
        .iter()
        .filter(|c| have.partition_key_columns.iter().any(|k| *k == c.name))
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
pub(super) fn repartitioned_in_place(have: &Table, want: &Table) -> bool {
    have.inherits.is_empty() && want.inherits.is_empty()
}

/// Whether a table joins (or moves to) a partitioned table that is new or created again by the
/// plan: then it is created again as its partition, as before (attaching a table to a
/// partitioned table made in the same plan clones that table's triggers and keys onto
/// whatever the table still has of its own under the same names).
pub(super) fn joins_new_parent(d: &Differ, have: &Table, want: &Table) -> bool {
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
pub(super) fn detached(d: &Differ, t: &QName) -> bool {
    let (Some(have), Some(want)) = (d.current.tables.get(t), d.desired.tables.get(t)) else {
        return false;
    };
    (have.partition_of.is_some()
        && have.partition_of != want.partition_of
        && !d.is_replaced(&ObjectId::Table(t.clone())))
        || d.reparented(t)
}
