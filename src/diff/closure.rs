//! Dependents of replaced objects: whatever reads a dropped-and-recreated object (or a column
//! whose type changes) must itself be dropped first and created again afterwards.

use super::Differ;
use crate::model::ObjectId;
use std::collections::{BTreeMap, BTreeSet};

/// Whether an object of this kind can be dropped and created again without losing data.
fn recreatable(id: &ObjectId) -> bool {
    matches!(
        id,
        ObjectId::View(_)
            | ObjectId::Function(..)
            | ObjectId::Trigger(..)
            | ObjectId::Policy(..)
            | ObjectId::Constraint(..)
            | ObjectId::Index(_)
            | ObjectId::DomainConstraint(..)
    )
}

/// Kinds PostgreSQL refuses to keep across `ALTER COLUMN ... TYPE` (indexes and constraints
/// it rebuilds itself).
fn blocks_retype(id: &ObjectId) -> bool {
    matches!(
        id,
        ObjectId::View(_) | ObjectId::Function(..) | ObjectId::Trigger(..) | ObjectId::Policy(..)
    )
}

pub(super) fn close_over_dependents(d: &mut Differ) {
    let mut dependents: BTreeMap<&ObjectId, BTreeSet<&ObjectId>> = BTreeMap::new();
    for (dep, refs) in &d.current.depends {
        for r in refs {
            dependents.entry(r).or_default().insert(dep);
        }
    }
    let mut work: Vec<ObjectId> = d.replaced.iter().cloned().collect();
    // Objects that disappear also take their dependents along when those stay in the desired
    // schema unchanged in text but now read something else (e.g. a view over a dropped
    // function that the desired schema re-creates under a new signature).
    work.extend(gone_objects(d));
    for col in d.retyped.clone() {
        for y in dependents.get(&col).into_iter().flatten() {
            if blocks_retype(y) && d.desired.contains(y) && d.replaced.insert((*y).clone()) {
                work.push((*y).clone());
            }
        }
    }
    while let Some(x) = work.pop() {
        for y in dependents.get(&x).into_iter().flatten() {
            if recreatable(y) && d.desired.contains(y) && d.replaced.insert((*y).clone()) {
                work.push((*y).clone());
            }
        }
    }
}

/// Objects of the current schema that the desired schema does not have.
fn gone_objects(d: &Differ) -> Vec<ObjectId> {
    d.current
        .depends
        .values()
        .flatten()
        .filter(|id| !d.desired.contains(id) && d.current.contains(id))
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}
