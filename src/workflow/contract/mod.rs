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
//! primary key, and the keys referencing those) is dropped in `expand` with it, and so is a
//! key of a kept table with rows that references a dropped table: the inverse cannot restore either as it was ([`unrestorable`]), and its `contract`
//! (which a rollback after `expand` alone runs) must end where the whole inverse ends.
//!
//! The middle schema must be a schema PostgreSQL can hold: a dropped object whose name a new
//! object of the desired schema takes (an index name reused, a dropped table whose name a new
//! type takes: relations, indexes, types and constraint indexes share one namespace per
//! schema), or a dropped primary key of a table that gets another one, is dropped in `expand`
//! as before, with a note saying why ([`Middle::notes`]).

use super::{run_steps, schema_statements, WorkflowError};
use crate::diff;
use crate::model::{Column, Constraint, ConstraintKind, Name, ObjectId, QName, Schema, Table};
use crate::plan::{PlanOptions, Step};
use crate::shadow::Shadow;
use std::collections::BTreeSet;

mod unrestorable;

use unrestorable::{needs_value, rejects_null};
pub use unrestorable::{
    relax, relaxed_constraint, relaxed_in, unrestorable, unrestorable_domain_columns, Unrestored,
};

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
    // Most plans drop nothing: said before the desired schema is copied (a copy of the whole
    // schema and a pass over it were ~0.25 s of a warm `plan` at 5,000 tables, issue 9).
    // (Checked against the long way below over the whole fixture suite when it was written;
    // tests/memory.rs checks that no copy is made.)
    if drops_nothing(current, desired) {
        return None;
    }
    let mut m = desired.clone();
    let mut added: BTreeSet<ObjectId> = BTreeSet::new();
    let mut notes = Vec::new();
    let mut relaxed = Vec::new();
    let taken = relation_names(desired);
    let clash = |q: &QName| taken.contains(&(q.schema.clone(), q.name.clone()));
    // Inheritance parents, once (asked per kept table, it was a scan of every table each time).
    let parents: BTreeSet<&QName> = current.tables.values().flat_map(|t| &t.inherits).collect();

    for (n, s) in &current.schemas {
        if !m.schemas.contains_key(n) {
            m.schemas.insert(n.clone(), s.clone());
            added.insert(ObjectId::Schema(n.as_str().into()));
        }
    }
    for (n, e) in &current.extensions {
        if !m.extensions.contains_key(n) {
            m.extensions.insert(n.clone(), e.clone());
            added.insert(ObjectId::Extension(n.as_str().into()));
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
                        .map(|n| ObjectId::Constraint(q.clone(), n.as_str().into())),
                );
                for ((tq, n), tr) in &current.triggers {
                    if tq == q && !m.triggers.contains_key(&(tq.clone(), n.clone())) {
                        m.triggers.insert((tq.clone(), n.clone()), tr.clone());
                        added.insert(ObjectId::Trigger(tq.clone(), n.as_str().into()));
                    }
                }
                for ((tq, n), p) in &current.policies {
                    if tq == q && !m.policies.contains_key(&(tq.clone(), n.clone())) {
                        m.policies.insert((tq.clone(), n.clone()), p.clone());
                        added.insert(ObjectId::Policy(tq.clone(), n.as_str().into()));
                    }
                }
                for ((tq, n), r) in &current.rules {
                    if tq == q && !m.rules.contains_key(&(tq.clone(), n.clone())) {
                        m.rules.insert((tq.clone(), n.clone()), r.clone());
                        added.insert(ObjectId::Rule(tq.clone(), n.as_str().into()));
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
                    || parents.contains(q);
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
                        relaxed.push((q.clone(), c.name.to_string()));
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
                            ObjectId::Constraint(q.clone(), n.as_str().into()),
                            format!("dropped in expand, not contract: {why}"),
                        ));
                        continue;
                    }
                    kept.constraints.insert(k.clone());
                    added.insert(ObjectId::Constraint(q.clone(), n.as_str().into()));
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
                gone.insert(ObjectId::Constraint(q.clone(), n.as_str().into()));
            }
        }
    }
    for (q, t) in &current.tables {
        for (n, k) in &t.constraints {
            let id = ObjectId::Constraint(q.clone(), n.as_str().into());
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
            kept.constraints.remove(n.as_str());
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
                ObjectId::Function(k.0.clone(), k.1.as_str().into()),
                "dropped in expand, not contract: a function of the same name with other \
                 argument types replaces it, and calls could resolve to the old one"
                    .to_string(),
            ));
            continue;
        }
        if !m.functions.contains_key(k) {
            m.functions.insert(k.clone(), f.clone());
            added.insert(ObjectId::Function(k.0.clone(), k.1.as_str().into()));
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

/// Whether `desired` has every object of `current` that [`middle`] would keep for `contract`
/// (by key; a kept table: its own columns and local constraints): then [`middle`] adds
/// nothing and notes nothing, and there is no middle schema. Triggers, policies, rules and
/// extended statistics are kept only with a dropped table, so a dropped table answers for them.
pub(super) fn drops_nothing(current: &Schema, desired: &Schema) -> bool {
    fn keys_in<K: Ord, V>(
        a: &std::collections::BTreeMap<K, V>,
        b: &std::collections::BTreeMap<K, V>,
    ) -> bool {
        a.keys().all(|k| b.contains_key(k))
    }
    keys_in(&current.schemas, &desired.schemas)
        && keys_in(&current.extensions, &desired.extensions)
        && keys_in(&current.collations, &desired.collations)
        && keys_in(&current.types, &desired.types)
        && keys_in(&current.sequences, &desired.sequences)
        && keys_in(&current.views, &desired.views)
        && keys_in(&current.indexes, &desired.indexes)
        && keys_in(&current.functions, &desired.functions)
        && current.tables.iter().all(|(q, t)| {
            desired.tables.get(q).is_some_and(|kept| {
                t.columns
                    .iter()
                    .all(|c| c.inherited || kept.columns.iter().any(|k| k.name == c.name))
                    && t.constraints
                        .iter()
                        .all(|(n, k)| !k.is_local || kept.constraints.contains_key(n))
            })
        })
}

/// `(schema, name)` of every relation, index, type, constraint index and identity sequence of
/// `s`: PostgreSQL keeps them in one namespace per schema (`pg_class` and the row types in
/// `pg_type`).
fn relation_names(s: &Schema) -> BTreeSet<(Name, Name)> {
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
