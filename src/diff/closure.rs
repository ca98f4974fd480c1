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
            | ObjectId::Rule(..)
            | ObjectId::Statistics(_)
            | ObjectId::Policy(..)
            | ObjectId::PublicationTable(..)
            | ObjectId::EventTrigger(_)
            | ObjectId::ForeignServer(_)
            | ObjectId::UserMapping(..)
            | ObjectId::Cast(..)
            | ObjectId::Conversion(_)
            | ObjectId::TextSearchConfiguration(_)
            | ObjectId::Operator(..)
            | ObjectId::OperatorClass(..)
            | ObjectId::OperatorFamily(..)
            | ObjectId::Constraint(..)
            | ObjectId::Index(_)
            | ObjectId::DomainConstraint(..)
    )
}

/// A foreign table (on both sides): it keeps no rows locally, so it is created again like a
/// view when what it reads through (its server) is.
fn foreign_table(d: &Differ, id: &ObjectId) -> bool {
    let ObjectId::Table(q) = id else {
        return false;
    };
    let foreign = |s: &crate::model::Schema| s.tables.get(q).is_some_and(|t| t.is_foreign());
    foreign(d.current) && foreign(d.desired)
}

/// Kinds PostgreSQL refuses to keep across `ALTER COLUMN ... TYPE` (indexes and constraints
/// it rebuilds itself). A publication membership whose column list or row filter names the
/// column is one ("cannot alter type of a column used by a publication WHERE clause"): it
/// leaves the publication before the change and joins it again after. A rule reading the
/// column is refused like a view ("used by a view or rule"); a statistics object survives a
/// plain `ALTER COLUMN ... TYPE` but not the online retype, which drops the old column: it is
/// dropped before and created again after either way.
fn blocks_retype(id: &ObjectId) -> bool {
    matches!(
        id,
        ObjectId::View(_)
            | ObjectId::Function(..)
            | ObjectId::Trigger(..)
            | ObjectId::Rule(..)
            | ObjectId::Statistics(_)
            | ObjectId::Policy(..)
            | ObjectId::PublicationTable(..)
    )
}

/// Adds to `d.replaced` whatever must be dropped and created again with what it reads: the
/// dependents (transitively) of replaced objects, of objects that disappear, and of columns
/// whose type changes (see below).
///
/// The map from an object to its dependents (the current schema's `depends` turned around:
/// ~90,000 keys at 5,000 tables, a BTree entry each) is built only when there is something
/// to follow: most plans replace, drop and retype nothing, and building it was half of a
/// diff's client CPU at that size (issue 9).
pub(super) fn close_over_dependents(d: &mut Differ) {
    let mut work: Vec<ObjectId> = d.replaced.iter().cloned().collect();
    // Objects that disappear also take their dependents along when those stay in the desired
    // schema unchanged in text but now read something else (e.g. a view over a dropped
    // function that the desired schema re-creates under a new signature).
    work.extend(gone_objects(d));
    if work.is_empty() && d.retyped.is_empty() {
        return;
    }
    let mut dependents: BTreeMap<&ObjectId, BTreeSet<&ObjectId>> = BTreeMap::new();
    for (dep, refs) in &d.current.depends {
        for r in refs {
            dependents.entry(r).or_default().insert(dep);
        }
    }
    for col in d.retyped.clone() {
        for y in dependents.get(&col).into_iter().flatten() {
            if blocks_retype(y) && d.desired.contains(y) && d.replaced.insert((*y).clone()) {
                work.push((*y).clone());
            }
        }
    }
    // A foreign key whose columns change type (on either side) is dropped before the change
    // and added again after it: PostgreSQL re-creates it after each ALTER TABLE, one table at
    // a time, and refuses when the two sides then have no equality operator in common
    // (`bigint` -> `timestamp` on both sides). Within one family of types comparable with each
    // other (`integer` -> `bigint`, `varchar(n)` -> `text`) it is kept: PostgreSQL re-checks it.
    for col in d.retyped.clone() {
        if same_key_family(d, &col) {
            continue;
        }
        for y in dependents.get(&col).into_iter().flatten() {
            if is_foreign_key(d, y) && d.desired.contains(y) && d.replaced.insert((*y).clone()) {
                work.push((*y).clone());
            }
        }
    }
    while let Some(x) = work.pop() {
        for y in dependents.get(&x).into_iter().flatten() {
            let again = recreatable(y) || foreign_table(d, y);
            if again && d.desired.contains(y) && d.replaced.insert((*y).clone()) {
                work.push((*y).clone());
            }
        }
    }
}

/// Objects of the current schema that the desired schema does not have, among those
/// something depends on, in order and each once. An object's edges come one after the other
/// in `depends` (the ids of a table's columns, constraints and indexes sort together, each
/// depending on the table): a referenced object equal to the one just checked is not looked
/// up again.
fn gone_objects(d: &Differ) -> Vec<ObjectId> {
    let mut gone: BTreeSet<&ObjectId> = BTreeSet::new();
    let mut last: Option<&ObjectId> = None;
    for r in d.current.depends.values().flat_map(|refs| refs.iter()) {
        if last == Some(r) {
            continue;
        }
        last = Some(r);
        if !d.desired.contains(r) && d.current.contains(r) {
            gone.insert(r);
        }
    }
    gone.into_iter().cloned().collect()
}

fn is_foreign_key(d: &Differ, id: &ObjectId) -> bool {
    let ObjectId::Constraint(t, name) = id else {
        return false;
    };
    d.current
        .tables
        .get(t)
        .and_then(|t| t.constraints.get(name.as_str()))
        .is_some_and(|c| c.kind == crate::model::ConstraintKind::ForeignKey)
}

/// Whether a column's old and new type compare with each other in one btree operator family
/// (so a foreign key between the old type on one side and the new type on the other still has
/// an equality operator).
fn same_key_family(d: &Differ, col: &ObjectId) -> bool {
    let ObjectId::Column(t, name) = col else {
        return true;
    };
    let type_of = |s: &crate::model::Schema| {
        s.tables
            .get(t)
            .and_then(|t| t.column(name))
            .map(|c| c.type_name.clone())
    };
    match (type_of(d.current), type_of(d.desired)) {
        (Some(a), Some(b)) => {
            let (a, b) = (without_modifiers(&a), without_modifiers(&b));
            a == b || key_family(&a).is_some_and(|f| key_family(&b) == Some(f))
        }
        _ => true,
    }
}

/// A type name as `format_type` prints it, without its modifiers: `character varying(20)` ->
/// `character varying`, `timestamp(3) with time zone` -> `timestamp with time zone`.
fn without_modifiers(t: &str) -> String {
    let mut out = String::new();
    let mut depth = 0;
    for ch in t.chars() {
        match ch {
            '(' => depth += 1,
            ')' => depth -= 1,
            _ if depth == 0 => out.push(ch),
            _ => {}
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The btree operator family of built-in types with cross-type comparisons.
fn key_family(t: &str) -> Option<&'static str> {
    Some(match t {
        "smallint" | "integer" | "bigint" => "integer",
        "real" | "double precision" => "float",
        "text" | "character varying" => "text",
        "date" | "timestamp without time zone" | "timestamp with time zone" => "datetime",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modifiers_are_stripped() {
        assert_eq!(
            without_modifiers("character varying(20)"),
            "character varying"
        );
        assert_eq!(
            without_modifiers("timestamp(3) with time zone"),
            "timestamp with time zone"
        );
        assert_eq!(without_modifiers("numeric(10,2)[]"), "numeric[]");
    }

    #[test]
    fn families() {
        assert_eq!(key_family("integer"), key_family("bigint"));
        assert_ne!(
            key_family("bigint"),
            key_family("timestamp without time zone")
        );
        assert_eq!(key_family("uuid"), None);
    }
}
