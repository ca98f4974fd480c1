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
/// Dependents are found in passes over the current schema's edges, one per wave of the
/// closure (most plans need one or two): the map from every object to its dependents
/// (~90,000 keys at 5,000 tables) took most of a diff's client CPU whenever anything was
/// replaced, dropped or retyped (issue 9: the inverse of a plan that adds a table drops
/// it), and is built only when a closure runs past [`PASSES`] waves. Nothing at all is
/// looked up when there is nothing to follow.
pub(super) fn close_over_dependents(d: &mut Differ) {
    let mut work: Vec<ObjectId> = d.replaced.iter().cloned().collect();
    // Objects that disappear also take their dependents along when those stay in the desired
    // schema unchanged in text but now read something else (e.g. a view over a dropped
    // function that the desired schema re-creates under a new signature).
    work.extend(gone_objects(d));
    if work.is_empty() && d.retyped.is_empty() {
        return;
    }
    let mut dependents = Dependents::new(d.current);
    // A column whose type changes: what PostgreSQL refuses to keep across the change
    // ([`blocks_retype`]), and a foreign key whose columns change type (on either side),
    // dropped before the change and added again after it: PostgreSQL re-creates it after
    // each ALTER TABLE, one table at a time, and refuses when the two sides then have no
    // equality operator in common (`bigint` -> `timestamp` on both sides). Within one family
    // of types comparable with each other (`integer` -> `bigint`, `varchar(n)` -> `text`) it
    // is kept: PostgreSQL re-checks it.
    let retyped: Vec<ObjectId> = d.retyped.iter().cloned().collect();
    for (col, y) in dependents.of(&retyped) {
        let again = blocks_retype(y) || (is_foreign_key(d, y) && !same_key_family(d, col));
        if again && d.desired.contains(y) && d.replaced.insert(y.clone()) {
            work.push(y.clone());
        }
    }
    while !work.is_empty() {
        let wave = std::mem::take(&mut work);
        for (_, y) in dependents.of(&wave) {
            let again = recreatable(y) || foreign_table(d, y);
            if again && d.desired.contains(y) && d.replaced.insert(y.clone()) {
                work.push(y.clone());
            }
        }
    }
}

/// How many passes over the edges [`Dependents`] makes before it builds the map instead.
const PASSES: usize = 4;

/// The dependents of objects in a schema (its `depends` turned around), found by passes over
/// its edges, or from the whole map once [`PASSES`] passes were made.
struct Dependents<'a> {
    schema: &'a crate::model::Schema,
    passes: usize,
    map: Option<BTreeMap<&'a ObjectId, Vec<&'a ObjectId>>>,
}

impl<'a> Dependents<'a> {
    fn new(schema: &'a crate::model::Schema) -> Self {
        Dependents {
            schema,
            passes: 0,
            map: None,
        }
    }

    /// Every (object of `ids`, object depending on it).
    fn of<'b>(&mut self, ids: &'b [ObjectId]) -> Vec<(&'b ObjectId, &'a ObjectId)> {
        if ids.is_empty() {
            return Vec::new();
        }
        if self.map.is_none() && self.passes >= PASSES {
            let mut map: BTreeMap<&ObjectId, Vec<&ObjectId>> = BTreeMap::new();
            for (dep, refs) in &self.schema.depends {
                for r in refs {
                    map.entry(r).or_default().push(dep);
                }
            }
            self.map = Some(map);
        }
        if let Some(map) = &self.map {
            return ids
                .iter()
                .flat_map(|x| map.get(x).into_iter().flatten().map(move |y| (x, *y)))
                .collect();
        }
        self.passes += 1;
        let wanted: BTreeSet<&ObjectId> = ids.iter().collect();
        let mut out = Vec::new();
        for (dep, refs) in &self.schema.depends {
            out.extend(
                refs.into_iter()
                    .filter_map(|r| wanted.get(r))
                    .map(|x| (*x, dep)),
            );
        }
        out
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

    /// The passes over the edges and the map built after [`PASSES`] of them give the same
    /// dependents (a chain of views deeper than the passes, and a fan-out).
    #[test]
    fn dependents_by_passes_and_by_map_agree() {
        use crate::model::{QName, Schema};
        let view = |i: usize| ObjectId::View(QName::new("public", format!("v{i}")));
        let fan = |i: usize| ObjectId::View(QName::new("fan", format!("v{i}")));
        let mut schema = Schema::default();
        for i in 1..10 {
            schema.add_dependency(view(i), view(i - 1));
            schema.add_dependency(fan(i), view(0));
        }
        let mut dependents = Dependents::new(&schema);
        let mut asked = 0;
        let mut wave = vec![view(0)];
        while !wave.is_empty() {
            let found = dependents.of(&wave);
            asked += 1;
            let mut expected: Vec<(ObjectId, ObjectId)> = Vec::new();
            for (dep, refs) in &schema.depends {
                for r in refs {
                    if wave.contains(r) {
                        expected.push((r.clone(), dep.clone()));
                    }
                }
            }
            let mut got: Vec<(ObjectId, ObjectId)> = found
                .iter()
                .map(|(x, y)| ((*x).clone(), (*y).clone()))
                .collect();
            got.sort();
            expected.sort();
            assert_eq!(got, expected, "wave {asked}");
            assert_eq!(dependents.map.is_some(), asked > PASSES, "wave {asked}");
            wave = found
                .iter()
                .map(|(_, y)| (*y).clone())
                .filter(|y| !(1..10).any(|i| *y == fan(i)))
                .collect();
        }
        assert_eq!(asked, 10, "one wave per link of the chain");
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
