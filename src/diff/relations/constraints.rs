//! The constraints of a table both schemas have, and whether a key's or an index's printed
//! definition still builds the same index once the plan changes its columns' collations.

use super::*;

pub(super) fn diff_constraints(d: &mut Differ, have: &Table, want: &Table) {
    let t = &want.name;
    for (name, con) in &want.constraints {
        let id = ObjectId::Constraint(t.clone(), name.as_str().into());
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
pub(super) fn validate_copies(d: &mut Differ, have_unvalidated: &BTreeSet<String>, want: &Table) {
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
            let id = ObjectId::Constraint(p.clone(), name.as_str().into());
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
pub(super) fn adopted_as_it_is(d: &Differ, have: &Table, want: &Table, old: &Constraint) -> bool {
    let (Some(copy), Some((parent, _))) = (want.key_copies.get(&old.name), &want.partition_of)
    else {
        return false;
    };
    let new_key = ObjectId::Constraint(parent.clone(), copy.of.as_str().into());
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
        && !d.is_replaced(&ObjectId::Constraint(
            have.name.clone(),
            old.name.as_str().into(),
        ))
}

/// Whether only the enforcement of a foreign key changes (`ENFORCED` <-> `NOT ENFORCED`,
/// PostgreSQL 18): `ALTER CONSTRAINT ... [NOT] ENFORCED` does it in place
/// ([`Change::SetConstraintEnforced`]). PostgreSQL 18 alters the enforcement of foreign keys
/// only; a CHECK whose enforcement changes is dropped and added again. A `NOT VALID` foreign
/// key becoming `NOT ENFORCED` (or back) is not only an enforcement change (the validation
/// state differs on the enforced side): replaced too.
pub(super) fn enforcement_only(old: &Constraint, new: &Constraint) -> bool {
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
pub(super) fn check_replaced_beside(
    d: &Differ,
    have: &Table,
    old: &Constraint,
    new: &Constraint,
) -> bool {
    let id = ObjectId::Constraint(have.name.clone(), old.name.as_str().into());
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

pub(super) fn add_constraint(d: &mut Differ, t: &QName, con: &Constraint) {
    d.push(Change::AddConstraint {
        table: t.clone(),
        constraint: con.clone(),
    });
    d.created(ObjectId::Constraint(t.clone(), con.name.as_str().into()));
}

/// Whether the plan changes the collation of column `c` of table `t`, which both schemas have.
pub(super) fn collation_changes(current: &Schema, desired: &Schema, t: &QName, c: &str) -> bool {
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
