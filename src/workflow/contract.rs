//! Contract-phase drops: the intermediate schema between a plan's `expand` and `contract`.
//!
//! Dropping what the desired schema no longer has (a column, table, view, function, type,
//! sequence, index, constraint, and the schemas, extensions and collations they live in)
//! breaks the application version that is still deployed while `expand` runs: it still reads
//! and writes them. So a plan goes through [`middle`]: the desired schema plus every object of
//! the current side (after declared renames) that the desired side no longer has.
//!
//! - forward: `diff(current -> middle)` in `expand` (everything additive or changed), then
//!   `diff(middle -> desired)` in `contract` (the drops, and whatever PostgreSQL makes follow
//!   them);
//! - inverse: `diff(desired -> middle)` in `expand` (the dropped objects come back beside the
//!   new ones), then `diff(middle -> current)` in `contract`.
//!
//! So "rollback after expand = the inverse's contract" holds exactly, and the proof's third
//! run (forward expand + inverse contract) checks it.
//!
//! A dropped column that is `NOT NULL` without a default (nor identity, nor generated) stays
//! in the middle schema without its `NOT NULL`: the new application does not write it, and its
//! INSERTs would fail on the constraint between `expand` and `contract` (the zero-downtime
//! checklists drop `NOT NULL` first). `expand` runs `DROP NOT NULL`; the inverse's `contract`
//! sets it again only where it can ([`unrestorable`]). A constraint over such a column that NULL
//! can break (a CHECK, a `MATCH FULL` key, a `NULLS NOT DISTINCT` unique constraint, the
//! primary key, and the keys referencing those) is dropped in `expand` with it, and so is a key of a kept table with rows that references a dropped
//! table: the inverse cannot restore either as it was ([`unrestorable`]), and its `contract`
//! (which a rollback after `expand` alone runs) must end where the whole inverse ends.
//!
//! The middle schema must be a schema PostgreSQL can hold: a dropped object whose name a new
//! object of the desired schema takes (an index name reused, a dropped table whose name a new
//! type takes: relations, indexes, types and constraint indexes share one namespace per
//! schema), or a dropped primary key of a table that gets another one, is dropped in `expand`
//! as before, with a note saying why ([`Middle::notes`]).

use super::{run_steps, schema_statements, WorkflowError};
use crate::diff;
use crate::model::{Column, Constraint, ConstraintKind, ObjectId, QName, Schema, Table};
use crate::plan::{PlanOptions, Step};
use crate::shadow::Shadow;
use std::collections::BTreeSet;

/// Why a dropped object whose name the desired schema reuses is dropped in `expand`.
const TAKEN: &str =
    "dropped in expand, not contract: a new object of the desired schema takes its name";

/// The intermediate schema of a plan with contract-phase drops.
pub struct Middle {
    pub schema: Schema,
    /// Dropped objects that could not wait for `contract`, and why: they are dropped in
    /// `expand`, as plans without contract-phase drops do (the step says why in a note).
    pub notes: Vec<(ObjectId, String)>,
    /// Dropped `NOT NULL` columns whose `NOT NULL` the middle schema leaves out.
    pub relaxed: Vec<(QName, String)>,
}

/// The middle schema between `current` (the current side after declared renames) and
/// `desired`; `None` when the desired schema drops nothing (the plan keeps everything in
/// `expand`). When every drop must stay in `expand` ([`Middle::notes`]), the middle schema is
/// the desired one and only the notes matter.
pub fn middle(current: &Schema, desired: &Schema, lost: &[Unrestored]) -> Option<Middle> {
    let mut m = desired.clone();
    let mut added: BTreeSet<ObjectId> = BTreeSet::new();
    let mut notes = Vec::new();
    let mut relaxed = Vec::new();
    let taken = relation_names(desired);
    let clash = |q: &QName| taken.contains(&(q.schema.clone(), q.name.clone()));

    for (n, s) in &current.schemas {
        if !m.schemas.contains_key(n) {
            m.schemas.insert(n.clone(), s.clone());
            added.insert(ObjectId::Schema(n.clone()));
        }
    }
    for (n, e) in &current.extensions {
        if !m.extensions.contains_key(n) {
            m.extensions.insert(n.clone(), e.clone());
            added.insert(ObjectId::Extension(n.clone()));
        }
    }
    for (q, c) in &current.collations {
        if !m.collations.contains_key(q) {
            m.collations.insert(q.clone(), c.clone());
            added.insert(ObjectId::Collation(q.clone()));
        }
    }
    for (q, t) in &current.types {
        if m.types.contains_key(q) {
            continue;
        }
        if clash(q) {
            notes.push((ObjectId::Type(q.clone()), TAKEN.to_string()));
            continue;
        }
        m.types.insert(q.clone(), t.clone());
        added.insert(ObjectId::Type(q.clone()));
    }
    for (q, s) in &current.sequences {
        if m.sequences.contains_key(q) {
            continue;
        }
        if clash(q) {
            notes.push((ObjectId::Sequence(q.clone()), TAKEN.to_string()));
            continue;
        }
        m.sequences.insert(q.clone(), s.clone());
        added.insert(ObjectId::Sequence(q.clone()));
    }
    for (q, t) in &current.tables {
        match m.tables.get_mut(q) {
            None => {
                if clash(q) {
                    notes.push((ObjectId::Table(q.clone()), TAKEN.to_string()));
                    continue;
                }
                m.tables.insert(q.clone(), t.clone());
                added.insert(ObjectId::Table(q.clone()));
                added.extend(
                    t.columns
                        .iter()
                        .map(|c| ObjectId::Column(q.clone(), c.name.clone())),
                );
                added.extend(
                    t.constraints
                        .keys()
                        .map(|n| ObjectId::Constraint(q.clone(), n.clone())),
                );
                for ((tq, n), tr) in &current.triggers {
                    if tq == q && !m.triggers.contains_key(&(tq.clone(), n.clone())) {
                        m.triggers.insert((tq.clone(), n.clone()), tr.clone());
                        added.insert(ObjectId::Trigger(tq.clone(), n.clone()));
                    }
                }
                for ((tq, n), p) in &current.policies {
                    if tq == q && !m.policies.contains_key(&(tq.clone(), n.clone())) {
                        m.policies.insert((tq.clone(), n.clone()), p.clone());
                        added.insert(ObjectId::Policy(tq.clone(), n.clone()));
                    }
                }
                for ((tq, n), r) in &current.rules {
                    if tq == q && !m.rules.contains_key(&(tq.clone(), n.clone())) {
                        m.rules.insert((tq.clone(), n.clone()), r.clone());
                        added.insert(ObjectId::Rule(tq.clone(), n.clone()));
                    }
                }
                for (sq, st) in &current.statistics {
                    if st.table == *q && !m.statistics.contains_key(sq) {
                        m.statistics.insert(sq.clone(), st.clone());
                        added.insert(ObjectId::Statistics(sq.clone()));
                    }
                }
            }
            Some(kept) => {
                // Columns the desired table no longer has, at the end (a column added back
                // by ALTER TABLE lands there too).
                // A parent of inheritance children too: whether a child's copy stays (as
                // the child's own) or goes is decided by the parent's drop
                // (`kinds::column::drop`), which must see the current children; kept in M, the
                // desired children's own copies would merge into it there, and the drop from M
                // could no longer tell them from inherited ones.
                let partitioned_or_inherited = kept.partition_of.is_some()
                    || !kept.inherits.is_empty()
                    || kept.partition_key.is_some()
                    || current.tables.values().any(|c| c.inherits.contains(q));
                for c in &t.columns {
                    if kept.columns.iter().any(|k| k.name == c.name) || c.inherited {
                        continue;
                    }
                    if partitioned_or_inherited {
                        notes.push((
                            ObjectId::Column(q.clone(), c.name.clone()),
                            "dropped in expand, not contract: its table is part of a \
                             partitioning or inheritance tree"
                                .to_string(),
                        ));
                        continue;
                    }
                    let mut c = c.clone();
                    if needs_value(&c) {
                        c.make_nullable();
                        relaxed.push((q.clone(), c.name.clone()));
                    }
                    added.insert(ObjectId::Column(q.clone(), c.name.clone()));
                    kept.columns.push(c);
                }
                let has_pk = kept
                    .constraints
                    .values()
                    .any(|k| k.kind == ConstraintKind::PrimaryKey);
                for (n, k) in &t.constraints {
                    if kept.constraints.contains_key(n) || !k.is_local {
                        continue;
                    }
                    let indexed = matches!(
                        k.kind,
                        ConstraintKind::PrimaryKey
                            | ConstraintKind::Unique
                            | ConstraintKind::Exclude
                    );
                    let why = if k.kind == ConstraintKind::PrimaryKey && has_pk {
                        Some("the table gets another primary key")
                    } else if indexed && clash(&QName::new(&q.schema, n)) {
                        Some("a new object of the desired schema takes its index's name")
                    } else if k
                        .columns
                        .iter()
                        .any(|c| !kept.columns.iter().any(|k| &k.name == c))
                    {
                        Some("a column it covers is dropped in expand")
                    } else if relaxed.iter().any(|(rq, c)| rq == q && rejects_null(k, c)) {
                        Some(
                            "it covers a column whose NOT NULL is dropped in expand, and could \
                             reject the new application's rows without it",
                        )
                    } else {
                        None
                    };
                    if let Some(why) = why {
                        notes.push((
                            ObjectId::Constraint(q.clone(), n.clone()),
                            format!("dropped in expand, not contract: {why}"),
                        ));
                        continue;
                    }
                    kept.constraints.insert(n.clone(), k.clone());
                    added.insert(ObjectId::Constraint(q.clone(), n.clone()));
                }
            }
        }
    }
    for (q, v) in &current.views {
        if m.views.contains_key(q) {
            continue;
        }
        if clash(q) {
            notes.push((ObjectId::View(q.clone()), TAKEN.to_string()));
            continue;
        }
        m.views.insert(q.clone(), v.clone());
        added.insert(ObjectId::View(q.clone()));
    }
    for (q, i) in &current.indexes {
        if m.indexes.contains_key(q) {
            continue;
        }
        if !m.tables.contains_key(&i.table) && !m.views.contains_key(&i.table) {
            // On a table or materialized view that is dropped in expand.
            continue;
        }
        if clash(q) {
            notes.push((ObjectId::Index(q.clone()), TAKEN.to_string()));
            continue;
        }
        if i.on_partitioned_table || i.parent_index.is_some() {
            // Its partitions' indexes are attached to it: whether the desired schema keeps
            // them (as indexes of their own) or not, the middle schema could not say both.
            notes.push((
                ObjectId::Index(q.clone()),
                "dropped in expand, not contract: an index of a partitioned table".to_string(),
            ));
            continue;
        }
        m.indexes.insert(q.clone(), i.clone());
        added.insert(ObjectId::Index(q.clone()));
    }
    // A foreign key kept in M that references a unique index dropped in expand (an index of a
    // partitioned table, or one whose name a new object takes) would hold the index there:
    // PostgreSQL refuses the index's drop while the key uses it. The key goes in expand too,
    // before the index (the plan graph orders a key's drop before its index's).
    let mut gone: BTreeSet<ObjectId> = current
        .indexes
        .keys()
        .filter(|q| !m.indexes.contains_key(*q))
        .map(|q| ObjectId::Index(q.clone()))
        .collect();
    // And a primary key or unique constraint dropped in expand (over a column whose NOT NULL
    // is dropped there).
    for (q, t) in &current.tables {
        let Some(kept) = m.tables.get(q) else {
            continue;
        };
        for (n, k) in &t.constraints {
            let key = matches!(k.kind, ConstraintKind::PrimaryKey | ConstraintKind::Unique);
            if key && !kept.constraints.contains_key(n) {
                gone.insert(ObjectId::Constraint(q.clone(), n.clone()));
            }
        }
    }
    for (q, t) in &current.tables {
        for (n, k) in &t.constraints {
            let id = ObjectId::Constraint(q.clone(), n.clone());
            if k.kind != ConstraintKind::ForeignKey || !added.contains(&id) {
                continue;
            }
            let uses = current
                .depends
                .get(&id)
                .is_some_and(|on| on.iter().any(|d| gone.contains(d)));
            if !uses {
                continue;
            }
            if let Some(kept) = m.tables.get_mut(q) {
                kept.constraints.remove(n);
            }
            added.remove(&id);
            notes.push((
                id,
                "dropped in expand, not contract: the unique index it references is dropped \
                 in expand"
                    .to_string(),
            ));
        }
    }
    // A constraint the inverse cannot restore as it was ([`unrestorable`]: a key to a dropped
    // table, or to a key over a dropped column): kept in M, the inverse's contract (all a
    // rollback after expand runs) would leave it as it is, and the whole inverse NOT VALID or
    // without it: two ends for one target.
    for u in lost {
        let ObjectId::Constraint(q, n) = &u.id else {
            continue;
        };
        if !added.remove(&u.id) {
            continue;
        }
        if let Some(kept) = m.tables.get_mut(q) {
            kept.constraints.remove(n);
        }
        notes.push((
            u.id.clone(),
            "dropped in expand, not contract: the inverse cannot restore it as it was (what it \
             references comes back without its rows or values: see the inverse's note), and a \
             rollback after expand must end as a full one does"
                .to_string(),
        ));
    }
    for (k, f) in &current.functions {
        if !m.functions.contains_key(k) && desired.functions.keys().any(|d| d.0 == k.0) {
            // Replaced by a function of the same name with other argument types: with both
            // there, the new application's calls could resolve to the old one (`f(5)` picks
            // `f(integer)` over `f(bigint)`).
            notes.push((
                ObjectId::Function(k.0.clone(), k.1.clone()),
                "dropped in expand, not contract: a function of the same name with other \
                 argument types replaces it, and calls could resolve to the old one"
                    .to_string(),
            ));
            continue;
        }
        if !m.functions.contains_key(k) {
            m.functions.insert(k.clone(), f.clone());
            added.insert(ObjectId::Function(k.0.clone(), k.1.clone()));
        }
    }
    if added.is_empty() && notes.is_empty() {
        return None;
    }
    // What belongs to the objects kept: their dependencies (the order of the contract's
    // drops), comments, privileges and owners.
    for (dependent, on) in &current.depends {
        if added.contains(dependent) {
            m.depends
                .entry(dependent.clone())
                .or_default()
                .extend(on.iter().cloned());
        }
    }
    for (id, c) in &current.comments {
        if added.contains(id) {
            m.comments.insert(id.clone(), c.clone());
        }
    }
    for g in &current.grants {
        if added.contains(&g.on) {
            m.grants.insert(g.clone());
        }
    }
    for (id, o) in &current.owners {
        if added.contains(id) {
            m.owners.insert(id.clone(), o.clone());
        }
    }
    m.sizes = current.sizes.clone();
    Some(Middle {
        schema: m,
        notes,
        relaxed,
    })
}

/// Whether adding `column` back to `table` with rows fails for want of values: `NOT NULL`
/// without a default, identity or generation expression (which fill every row). A column of
/// the primary key counts too: the key over it is dropped in `expand` with the `NOT NULL`
/// ([`rejects_null`]) and left out of the inverse on a table with rows.
fn needs_value(column: &Column) -> bool {
    column.not_null
        && column.default.is_none()
        && column.identity.is_none()
        && column.generated.is_none()
}

/// What the inverse cannot bring back as the current schema has it, once the forward plan ran
/// on a database with rows: `id` (a column or a constraint) comes back changed as [`relax`]
/// says, or not at all, and the step of the inverse that creates `step` says why in `note`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unrestored {
    pub id: ObjectId,
    pub step: ObjectId,
    pub note: String,
}

/// Everything the inverse of `current -> desired` cannot restore as it was on a database with
/// rows, decided here for the phased and the unphased plan, their inverse's target (what the
/// proof expects it to reach: [`relax`]) and the middle schema:
///
/// - dropped `NOT NULL` columns whose values are gone ([`unrestorable_columns`]): added back
///   nullable;
/// - foreign keys of kept tables with rows (or of unknown size) that reference a dropped
///   table: the table comes back without its rows, so `VALIDATE CONSTRAINT` would fail on
///   every row still pointing at it (SQLSTATE 23503). Added back `NOT VALID` and not
///   validated; on a partitioned table (PostgreSQL before 18 refuses `NOT VALID` keys there)
///   left out. Two dropped tables referencing each other leave no rows anywhere: nothing;
/// - constraints over a column added back nullable that NULL on every row can break
///   ([`rejects_null`]): a CHECK and a `MATCH FULL` foreign key come back `NOT VALID`, a
///   `NULLS NOT DISTINCT` unique constraint and a primary key are left out (they have no
///   `NOT VALID`, and two rows with NULL already break them);
/// - keys of other tables referencing such a column: `NOT VALID` where their table has rows,
///   left out (whatever their size) where the key they reference is ([`relaxed_in`]).
pub fn unrestorable(current: &Schema, desired: &Schema) -> Vec<Unrestored> {
    let columns = unrestorable_columns(current, desired);
    let mut lost: Vec<Unrestored> = columns
        .iter()
        .map(|(q, c)| Unrestored {
            id: ObjectId::Column(q.clone(), c.clone()),
            step: ObjectId::Column(q.clone(), c.clone()),
            note: "added back without its NOT NULL: the rows kept through the plan have no \
                   value for it (set it by hand once they do)"
                .to_string(),
        })
        .collect();
    let mut constraint = |q: &QName, t: &Table, k: &Constraint, cause: ObjectId, why: &str| {
        let id = ObjectId::Constraint(q.clone(), k.name.clone());
        if lost.iter().any(|u| u.id == id) {
            return;
        }
        let (step, note) = match relaxed_constraint(t, k) {
            Some(_) => (
                id.clone(),
                format!("added back NOT VALID: {why}; restore them, then VALIDATE CONSTRAINT"),
            ),
            None => (
                cause,
                format!(
                    "constraint {} on {q} is not added back: {why}; restore them, then add it",
                    k.name
                ),
            ),
        };
        lost.push(Unrestored { id, step, note });
    };
    for (q, t) in &current.tables {
        let Some(kept) = desired.tables.get(q) else {
            continue;
        };
        if current.sizes.get(q).copied() == Some(0) {
            continue;
        }
        for k in t.constraints.values() {
            if !k.is_local || !k.enforced() || kept.constraints.contains_key(&k.name) {
                continue;
            }
            if k.kind == ConstraintKind::ForeignKey && k.validated {
                // Dropped by the plan: a table outside the plan's scope is in neither side.
                if let Some(r) = k
                    .references
                    .as_ref()
                    .filter(|r| current.tables.contains_key(*r) && !desired.tables.contains_key(*r))
                {
                    let why = format!("the table it references, {r}, comes back without its rows");
                    constraint(q, t, k, ObjectId::Table(r.clone()), &why);
                    continue;
                }
            }
            let over = columns
                .iter()
                .filter(|(cq, _)| cq == q)
                .find(|(_, c)| rejects_null(k, c));
            if let Some((_, c)) = over {
                let why = format!("the column {c} it covers comes back without its values");
                constraint(q, t, k, ObjectId::Column(q.clone(), c.clone()), &why);
            }
        }
    }
    // Keys referencing such a column (through a key over it): they come back NOT VALID where
    // their table has rows (the referenced values are gone), and not at all where the key
    // they reference is left out (a primary key over the column).
    let ids: Vec<ObjectId> = lost.iter().map(|u| u.id.clone()).collect();
    for (q, t) in &current.tables {
        let Some(kept) = desired.tables.get(q) else {
            continue;
        };
        let rows = current.sizes.get(q).copied() != Some(0);
        for k in t.constraints.values() {
            let id = ObjectId::Constraint(q.clone(), k.name.clone());
            if k.kind != ConstraintKind::ForeignKey
                || !k.is_local
                || !k.enforced()
                || kept.constraints.contains_key(&k.name)
                || ids.contains(&id)
            {
                continue;
            }
            let Some(on) = current.depends.get(&id) else {
                continue;
            };
            let Some(ObjectId::Column(r, c)) = on
                .iter()
                .find(|d| matches!(d, ObjectId::Column(..)) && columns_contain(&columns, d))
            else {
                continue;
            };
            let cause = ObjectId::Column(r.clone(), c.clone());
            let note = match relaxed_in(current, &ids, q, k) {
                Some(_) if !rows => continue,
                Some(_) => format!(
                    "added back NOT VALID: the column {r}.{c} it references comes back without \
                     its values; restore them, then VALIDATE CONSTRAINT"
                ),
                None => format!(
                    "constraint {} on {q} is not added back: the key it references is not; \
                     restore the values of {r}.{c} and that key, then add it",
                    k.name
                ),
            };
            let step = match relaxed_in(current, &ids, q, k) {
                Some(_) => id.clone(),
                None => cause,
            };
            lost.push(Unrestored { id, step, note });
        }
    }
    lost
}

/// Whether `d` is one of the `columns` ([`unrestorable_columns`]).
fn columns_contain(columns: &[(QName, String)], d: &ObjectId) -> bool {
    matches!(d, ObjectId::Column(q, c) if columns.iter().any(|(lq, lc)| lq == q && lc == c))
}

/// [`relaxed_constraint`], and `None` for a key whose referenced key is itself left out
/// (`lost` by [`unrestorable`]: a key cannot reference what is not there).
pub fn relaxed_in(
    schema: &Schema,
    lost: &[ObjectId],
    q: &QName,
    k: &Constraint,
) -> Option<Constraint> {
    let t = schema.tables.get(q)?;
    let id = ObjectId::Constraint(q.clone(), k.name.clone());
    let left_out = |d: &ObjectId| match d {
        ObjectId::Constraint(rq, rn) => {
            lost.contains(d)
                && schema
                    .tables
                    .get(rq)
                    .and_then(|rt| Some((rt, rt.constraints.get(rn)?)))
                    .is_some_and(|(rt, rk)| relaxed_constraint(rt, rk).is_none())
        }
        _ => false,
    };
    if k.kind == ConstraintKind::ForeignKey
        && schema
            .depends
            .get(&id)
            .is_some_and(|on| on.iter().any(left_out))
    {
        return None;
    }
    relaxed_constraint(t, k)
}

/// Dropped columns of kept tables with rows (or of unknown size) whose type is a `NOT NULL`
/// domain without a default: the inverse cannot add them back at all (`ADD COLUMN` gives every
/// row NULL, which the domain refuses: SQLSTATE 23502), nor nullable as it does a `NOT NULL`
/// column. The forward plan's step dropping each says so, for the reviewer; the rollback fails
/// at that step until the column is given a default or the rows are gone.
pub fn unrestorable_domain_columns(current: &Schema, desired: &Schema) -> Vec<ObjectId> {
    let not_null_domain = |name: &str| {
        current.types.iter().any(|(q, t)| match &t.kind {
            crate::model::TypeKind::Domain(d) => {
                d.not_null
                    && d.default.is_none()
                    && (name == format!("{}.{}", q.schema, q.name)
                        || name == q.name
                        || name == crate::render::quote::qname(q))
            }
            _ => false,
        })
    };
    let mut out = Vec::new();
    for (q, t) in &current.tables {
        let Some(kept) = desired.tables.get(q) else {
            continue;
        };
        if current.sizes.get(q).copied() == Some(0) {
            continue;
        }
        for c in &t.columns {
            if c.inherited
                || kept.columns.iter().any(|k| k.name == c.name)
                || c.default.is_some()
                || c.generated.is_some()
                || !not_null_domain(&c.type_name)
            {
                continue;
            }
            out.push(ObjectId::Column(q.clone(), c.name.clone()));
        }
    }
    out
}

/// Whether `k` covers `column` and may fail once the column is NULL on every row: a CHECK
/// (PostgreSQL passes a CHECK whose expression is NULL, but `c IS NOT NULL` or
/// `coalesce(c, 0) > 0` reject it, and the expression is not analysed here), a `MATCH FULL`
/// foreign key (NULL beside a non-NULL column fails it) and a `NULLS NOT DISTINCT` unique
/// constraint (two NULLs collide).
fn rejects_null(k: &Constraint, column: &str) -> bool {
    if !k.columns.iter().any(|c| c == column) || !k.enforced() {
        return false;
    }
    match k.kind {
        ConstraintKind::Check => true,
        ConstraintKind::ForeignKey => k.definition.contains(" MATCH FULL"),
        // A primary key makes its columns NOT NULL.
        ConstraintKind::PrimaryKey => true,
        ConstraintKind::Unique | ConstraintKind::Exclude => {
            k.definition.contains("NULLS NOT DISTINCT")
        }
    }
}

/// `k` of `table` as the inverse adds it back when it is [`unrestorable`]: `NOT VALID` (as
/// PostgreSQL reads such a constraint back), or `None` when it is left out (a primary key or
/// unique constraint, or a foreign key of a partitioned table).
pub fn relaxed_constraint(table: &Table, k: &Constraint) -> Option<Constraint> {
    let not_valid = match k.kind {
        ConstraintKind::Check => true,
        ConstraintKind::ForeignKey => table.partition_key.is_none(),
        _ => false,
    };
    if !not_valid {
        return None;
    }
    let mut k = k.clone();
    if k.validated {
        k.validated = false;
        k.definition.push_str(" NOT VALID");
    }
    Some(k)
}

/// `schema` as the inverse leaves it when it cannot restore `lost` ([`unrestorable`]): the
/// columns nullable, the constraints `NOT VALID` or left out (with their comments).
pub fn relax(schema: &mut Schema, lost: &[ObjectId]) {
    // Decided on the schema as it is: a key left out decides the keys referencing it.
    let decided: Vec<(QName, String, Option<Constraint>)> = lost
        .iter()
        .filter_map(|id| match id {
            ObjectId::Constraint(q, n) => {
                let k = schema.tables.get(q)?.constraints.get(n)?;
                Some((q.clone(), n.clone(), relaxed_in(schema, lost, q, k)))
            }
            _ => None,
        })
        .collect();
    for id in lost {
        if let ObjectId::Column(q, c) = id {
            if let Some(col) = schema
                .tables
                .get_mut(q)
                .and_then(|t| t.columns.iter_mut().find(|x| &x.name == c))
            {
                col.make_nullable();
            }
        }
    }
    for (q, n, k) in decided {
        let Some(t) = schema.tables.get_mut(&q) else {
            continue;
        };
        match k {
            Some(k) => {
                t.constraints.insert(n, k);
            }
            None => {
                t.constraints.remove(&n);
                let id = ObjectId::Constraint(q, n);
                schema.comments.remove(&id);
                schema.depends.remove(&id);
            }
        }
    }
}

/// Dropped columns whose `NOT NULL` the inverse cannot set again, whether the drop waits for
/// `contract` (then they are [`Middle::relaxed`]) or not (a column of a partitioning or
/// inheritance tree, and the unphased plan of `workflow::plan_proven`'s fallback):
/// [`needs_value`] columns of a table that `desired` keeps and that has rows or an unknown
/// size. Once the column is dropped its values are gone, so `ADD COLUMN ... NOT NULL` (or a
/// later `SET NOT NULL`) fails on the first row (SQLSTATE 23502): the inverse adds them back
/// nullable. A tree's column comes with its copies in the partitions and inheritance children
/// that lose it along (the parent's `ADD COLUMN` gives them a nullable copy again).
fn unrestorable_columns(current: &Schema, desired: &Schema) -> Vec<(QName, String)> {
    let mut lost = Vec::new();
    for (q, t) in &current.tables {
        let Some(kept) = desired.tables.get(q) else {
            continue;
        };
        if current.sizes.get(q).copied() == Some(0) {
            continue;
        }
        for c in &t.columns {
            if c.inherited || kept.columns.iter().any(|k| k.name == c.name) || !needs_value(c) {
                continue;
            }
            lost.push((q.clone(), c.name.clone()));
            // Its copies below, dropped with it; a child that keeps the column as its own
            // keeps its NOT NULL and its values.
            let mut parents = vec![q.clone()];
            while let Some(p) = parents.pop() {
                for (cq, child) in &current.tables {
                    let below = child.partition_of.as_ref().is_some_and(|(x, _)| *x == p)
                        || child.inherits.contains(&p);
                    if !below {
                        continue;
                    }
                    parents.push(cq.clone());
                    let copy = child.column(&c.name);
                    let gone = desired
                        .tables
                        .get(cq)
                        .is_none_or(|d| !d.columns.iter().any(|x| x.name == c.name));
                    if copy.is_some_and(|x| x.not_null)
                        && gone
                        && !lost.contains(&(cq.clone(), c.name.clone()))
                    {
                        lost.push((cq.clone(), c.name.clone()));
                    }
                }
            }
        }
    }
    lost
}

/// `(schema, name)` of every relation, index, type, constraint index and identity sequence of
/// `s`: PostgreSQL keeps them in one namespace per schema (`pg_class` and the row types in
/// `pg_type`).
fn relation_names(s: &Schema) -> BTreeSet<(String, String)> {
    let mut names = BTreeSet::new();
    let mut add = |q: &QName| {
        names.insert((q.schema.clone(), q.name.clone()));
    };
    s.tables.keys().for_each(&mut add);
    s.views.keys().for_each(&mut add);
    s.sequences.keys().for_each(&mut add);
    s.indexes.keys().for_each(&mut add);
    s.types.keys().for_each(&mut add);
    for (q, t) in &s.tables {
        // The implicit sequence of an identity column: a dropped serial's sequence keeps the
        // name, and the identity would get another one (`t_id_seq1`).
        for c in t.columns.iter().filter(|c| c.identity.is_some()) {
            add(&QName::new(
                &q.schema,
                crate::model::pg_object_name(&q.name, Some(&c.name), "seq"),
            ));
        }
        for (n, k) in &t.constraints {
            if matches!(
                k.kind,
                ConstraintKind::PrimaryKey | ConstraintKind::Unique | ConstraintKind::Exclude
            ) {
                add(&QName::new(&q.schema, n));
            }
        }
    }
    names
}

/// Whether running `contract` (the contract steps of a plan whose expand ran) on a copy of
/// `live` in the shadow gives exactly `desired`: then every difference between the two is
/// one the pending contract explains (`drift`). Objects the shadow cannot rebuild exactly from
/// `live` are left out of the comparison, as in the proof.
pub fn explains(
    shadow: &Shadow,
    ctx: &super::Context,
    live: &Schema,
    desired: &Schema,
    contract: &[Step],
) -> Result<bool, WorkflowError> {
    let db = shadow.scratch("drift")?;
    let mut client = db.connect()?;
    let empty = ctx.prepare(&mut client)?;
    run_steps(
        &mut client,
        &schema_statements(&empty, live, &PlanOptions::default()),
        "rebuilding the live schema in the shadow",
    )?;
    let rebuilt = ctx.read(&mut client)?;
    let excused: BTreeSet<ObjectId> = diff::diff(&rebuilt, live)
        .iter()
        .map(|c| c.object())
        .collect();
    if contract.is_empty() || run_steps(&mut client, contract, "the contract phase").is_err() {
        return Ok(false);
    }
    let after = ctx.read(&mut client)?;
    Ok(diff::diff(&after, desired)
        .iter()
        .all(|c| excused.contains(&c.object())))
}
