//! What a plan's inverse cannot bring back as it was once the forward plan ran on a database
//! with rows ([`unrestorable`]): dropped `NOT NULL` columns (their values are gone), keys to a
//! dropped table (it comes back empty), constraints NULL breaks over a column added back
//! nullable, and the keys that reference those; and the inverse's target relaxed accordingly
//! ([`relax`]: what the proof expects and the inverse's `to`). See `docs/design.md`.

use super::*;

/// Whether adding `column` back to `table` with rows fails for want of values: `NOT NULL`
/// without a default, identity or generation expression (which fill every row). A column of
/// the primary key counts too: the key over it is dropped in `expand` with the `NOT NULL`
/// ([`rejects_null`]) and left out of the inverse on a table with rows.
pub(super) fn needs_value(column: &Column) -> bool {
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
            id: ObjectId::Column(q.clone(), c.as_str().into()),
            step: ObjectId::Column(q.clone(), c.as_str().into()),
            note: "added back without its NOT NULL: the rows kept through the plan have no \
                   value for it (set it by hand once they do)"
                .to_string(),
        })
        .collect();
    let mut constraint = |q: &QName, t: &Table, k: &Constraint, cause: ObjectId, why: &str| {
        let id = ObjectId::Constraint(q.clone(), k.name.as_str().into());
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
                constraint(
                    q,
                    t,
                    k,
                    ObjectId::Column(q.clone(), c.as_str().into()),
                    &why,
                );
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
            let id = ObjectId::Constraint(q.clone(), k.name.as_str().into());
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
pub(super) fn columns_contain(columns: &[(QName, String)], d: &ObjectId) -> bool {
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
    let id = ObjectId::Constraint(q.clone(), k.name.as_str().into());
    let left_out = |d: &ObjectId| match d {
        ObjectId::Constraint(rq, rn) => {
            lost.contains(d)
                && schema
                    .tables
                    .get(rq)
                    .and_then(|rt| Some((rt, rt.constraints.get(rn.as_str())?)))
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
                d.not_null && d.default.is_none() && crate::render::quote::names_type(name, q)
            }
            _ => false,
        })
    };
    dropped_columns_with_rows(current, desired)
        .filter(|(_, c)| c.default.is_none() && c.generated.is_none())
        .filter(|(_, c)| not_null_domain(&c.type_name))
        .map(|(q, c)| ObjectId::Column(q.clone(), c.name.clone()))
        .collect()
}

/// The columns of `current`'s tables that `desired` keeps without them, where the table has
/// rows or an unknown size (a column inherited from a parent goes with the parent's).
fn dropped_columns_with_rows<'a>(
    current: &'a Schema,
    desired: &'a Schema,
) -> impl Iterator<Item = (&'a QName, &'a Column)> + 'a {
    current
        .tables
        .iter()
        .filter(|(q, _)| current.sizes.get(*q).copied() != Some(0))
        .filter_map(|(q, t)| desired.tables.get(q).map(|kept| (q, t, kept)))
        .flat_map(|(q, t, kept)| {
            t.columns
                .iter()
                .filter(move |c| !c.inherited && kept.column(&c.name).is_none())
                .map(move |c| (q, c))
        })
}

/// Whether `k` covers `column` and may fail once the column is NULL on every row: a CHECK
/// (PostgreSQL passes a CHECK whose expression is NULL, but `c IS NOT NULL` or
/// `coalesce(c, 0) > 0` reject it, and the expression is not analysed here), a `MATCH FULL`
/// foreign key (NULL beside a non-NULL column fails it) and a `NULLS NOT DISTINCT` unique
/// constraint (two NULLs collide).
pub(super) fn rejects_null(k: &Constraint, column: &str) -> bool {
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
    let decided: Vec<(QName, Name, Option<Constraint>)> = lost
        .iter()
        .filter_map(|id| match id {
            ObjectId::Constraint(q, n) => {
                let k = schema.tables.get(q)?.constraints.get(n.as_str())?;
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
                t.constraints.insert(k);
            }
            None => {
                t.constraints.remove(n.as_str());
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
pub(super) fn unrestorable_columns(current: &Schema, desired: &Schema) -> Vec<(QName, String)> {
    let mut lost = Vec::new();
    for (q, c) in dropped_columns_with_rows(current, desired) {
        if needs_value(c) {
            lost.push((q.clone(), c.name.to_string()));
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
                        && !lost.iter().any(|(q, n)| q == cq && *n == c.name)
                    {
                        lost.push((cq.clone(), c.name.to_string()));
                    }
                }
            }
        }
    }
    lost
}
