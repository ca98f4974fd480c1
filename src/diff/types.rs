//! Schemas, extensions, collations and types (enum, composite, range, domain).

use super::{Change, Differ, EnumPosition};
use crate::model::*;

/// Types that cannot be changed in place: a different kind, a changed range, a composite whose
/// kept attributes change or move, a domain over another base type, an enum that loses or
/// reorders labels.
pub(super) fn find_replacements(d: &mut Differ) {
    for (name, want) in &d.desired.types {
        let Some(have) = d.current.types.get(name) else {
            continue;
        };
        if have != want && !alterable(&have.kind, &want.kind) {
            d.replaced.insert(ObjectId::Type(name.clone()));
            // Columns of the type are converted in place: what reads them is re-created.
            for (table, col) in column_users(d, name) {
                d.retyped.insert(ObjectId::Column(table, col.name.clone()));
            }
        }
    }
    for (name, want) in &d.desired.collations {
        if d.current
            .collations
            .get(name)
            .is_some_and(|have| have != want)
        {
            d.replaced.insert(ObjectId::Collation(name.clone()));
            // Columns of the collation move to the new one in place: what reads them is
            // re-created (a column cannot be dropped for it: it holds rows).
            for (table, col) in collation_users(d, name) {
                d.retyped.insert(ObjectId::Column(table, col.name.clone()));
            }
        }
    }
}

fn alterable(have: &TypeKind, want: &TypeKind) -> bool {
    match (have, want) {
        (TypeKind::Enum(a), TypeKind::Enum(b)) => enum_only_adds(a, b),
        (TypeKind::Domain(a), TypeKind::Domain(b)) => {
            a.base_type == b.base_type && a.collation == b.collation
        }
        (TypeKind::Composite(a), TypeKind::Composite(b)) => composite_in_place(a, b),
        _ => false,
    }
}

/// Whether composite `to` is `from` with some attributes dropped and others added at the end,
/// the kept ones unchanged (type, collation) and in their order: `ALTER TYPE ... DROP
/// ATTRIBUTE / ADD ATTRIBUTE` in place. PostgreSQL allows both while table columns (or other
/// composites, or functions) use the type: an added attribute reads NULL in the stored
/// values, a dropped one is gone from them. Re-creating the type instead would have to drop
/// what uses it, or convert the columns through the text form, which a row of another
/// attribute count does not read back as ("malformed record literal"). A kept attribute of
/// another type, or one moved, is a replacement: `ALTER ATTRIBUTE ... TYPE` is refused while
/// a column uses the type, and attributes cannot be reordered.
fn composite_in_place(from: &[Attribute], to: &[Attribute]) -> bool {
    let kept: Vec<&Attribute> = from
        .iter()
        .filter(|a| to.iter().any(|b| b.name == a.name))
        .collect();
    to.len() >= kept.len() && kept.iter().zip(to).all(|(a, b)| *a == b)
}

/// Whether `to` keeps every label of `from` in the same relative order.
fn enum_only_adds(from: &[String], to: &[String]) -> bool {
    let kept: Vec<&String> = to.iter().filter(|l| from.contains(l)).collect();
    kept.len() == from.len() && kept.iter().zip(from).all(|(a, b)| *a == b)
}

pub(super) fn diff_namespaces(d: &mut Differ) {
    for name in d.desired.schemas.keys() {
        if !d.current.schemas.contains_key(name) {
            d.push(Change::CreateSchema(name.clone()));
            d.created(ObjectId::Schema(name.as_str().into()));
        }
    }
    for name in d.current.schemas.keys() {
        if !d.desired.schemas.contains_key(name) {
            d.push(Change::DropSchema(name.clone()));
        }
    }
    for (name, want) in &d.desired.extensions {
        match d.current.extensions.get(name) {
            None => {
                d.push(Change::CreateExtension(want.clone()));
                d.created(ObjectId::Extension(name.as_str().into()));
            }
            Some(have) if have.schema != want.schema => {
                d.push(Change::DropExtension(have.clone()));
                d.push(Change::CreateExtension(want.clone()));
                d.created(ObjectId::Extension(name.as_str().into()));
            }
            Some(_) => {}
        }
    }
    for (name, have) in &d.current.extensions {
        if !d.desired.extensions.contains_key(name) {
            d.push(Change::DropExtension(have.clone()));
        }
    }
    for (name, want) in &d.desired.collations {
        let id = ObjectId::Collation(name.clone());
        match d.current.collations.get(name) {
            Some(have) if d.is_replaced(&id) => {
                let columns = collation_users(d, name);
                if columns.is_empty() {
                    d.push(Change::DropCollation(have.clone()));
                    d.push(Change::CreateCollation(want.clone()));
                } else {
                    d.push(Change::SwapCollation {
                        from: have.clone(),
                        to: want.clone(),
                        columns,
                    });
                }
                d.created(id);
            }
            Some(_) => {}
            None => {
                d.push(Change::CreateCollation(want.clone()));
                d.created(id);
            }
        }
    }
    for (name, have) in &d.current.collations {
        if !d.desired.collations.contains_key(name) {
            d.push(Change::DropCollation(have.clone()));
        }
    }
}

pub(super) fn diff_types(d: &mut Differ) {
    for (name, want) in &d.desired.types {
        let id = ObjectId::Type(name.clone());
        match d.current.types.get(name) {
            None => {
                d.push(Change::CreateType(want.clone()));
                d.created(id);
            }
            Some(have) if d.is_replaced(&id) => {
                let columns = column_users(d, name);
                if columns.is_empty() {
                    d.push(Change::DropType(have.clone()));
                    d.push(Change::CreateType(want.clone()));
                } else {
                    d.push(Change::SwapType {
                        from: have.clone(),
                        to: want.clone(),
                        columns,
                    });
                }
                d.created(id);
            }
            Some(have) => alter_type(d, have, want),
        }
    }
    for (name, have) in &d.current.types {
        if !d.desired.types.contains_key(name) {
            d.push(Change::DropType(have.clone()));
        }
    }
}

/// Columns of kept tables that use collation `coll` on both sides (per the current schema's
/// dependencies and the desired column's `COLLATE`), with their desired definition. A column
/// that leaves the collation in the desired schema changes its own collation instead.
fn collation_users(d: &Differ, coll: &QName) -> Vec<(QName, Column)> {
    let target = ObjectId::Collation(coll.clone());
    let mut out = Vec::new();
    for (dep, refs) in &d.current.depends {
        let ObjectId::Column(table, col) = dep else {
            continue;
        };
        if !refs.contains(&target)
            || d.is_replaced(&ObjectId::Table(table.clone()))
            || !d.current.tables.contains_key(table)
        {
            continue;
        }
        let Some(t) = d.desired.tables.get(table) else {
            continue;
        };
        if let Some(c) = t.column(col) {
            if c.declared_locally() && c.collation.as_deref() == Some(coll) {
                out.push((table.clone(), c.clone()));
            }
        }
    }
    out
}

/// Columns of kept tables that use the type (per the current schema's dependencies) and keep
/// it in the desired schema, with their desired definition.
fn column_users(d: &Differ, ty: &QName) -> Vec<(QName, Column)> {
    let target = ObjectId::Type(ty.clone());
    let mut out = Vec::new();
    for (dep, refs) in &d.current.depends {
        let ObjectId::Column(table, col) = dep else {
            continue;
        };
        if !refs.contains(&target) || d.is_replaced(&ObjectId::Table(table.clone())) {
            continue;
        }
        let Some(t) = d.desired.tables.get(table) else {
            continue;
        };
        if !d.current.tables.contains_key(table) {
            continue;
        }
        if let Some(c) = t.column(col) {
            if c.declared_locally() {
                out.push((table.clone(), c.clone()));
            }
        }
    }
    out
}

fn alter_type(d: &mut Differ, have: &TypeDef, want: &TypeDef) {
    match (&have.kind, &want.kind) {
        (TypeKind::Enum(from), TypeKind::Enum(to)) => {
            for (i, label) in to.iter().enumerate() {
                if from.contains(label) {
                    continue;
                }
                // Anchored to an existing label: right after the one just before it, else
                // before the next existing one, else last. Several new labels in a row are added
                // in order, each before the same next label (or last), so they keep their order
                // (anchoring each after the last *existing* label before it reversed them).
                let position = match i.checked_sub(1).map(|p| &to[p]) {
                    Some(prev) if from.contains(prev) => EnumPosition::After(prev.clone()),
                    _ => match to[i + 1..].iter().find(|l| from.contains(l)) {
                        Some(next) => EnumPosition::Before(next.clone()),
                        None => EnumPosition::Last,
                    },
                };
                d.push(Change::AddEnumValue {
                    ty: want.name.clone(),
                    value: label.clone(),
                    position,
                });
            }
        }
        (TypeKind::Composite(from), TypeKind::Composite(to)) if from != to => {
            d.push(Change::AlterComposite {
                name: want.name.clone(),
                from: from.clone(),
                to: to.clone(),
            });
        }
        (TypeKind::Composite(_), TypeKind::Composite(_)) => {}
        (TypeKind::Domain(from), TypeKind::Domain(to)) => {
            let recreate: Vec<String> = to
                .constraints
                .iter()
                .filter(|(name, c)| {
                    from.constraints.get(*name) == Some(*c)
                        && d.is_replaced(&ObjectId::DomainConstraint(
                            want.name.clone(),
                            (*name).as_str().into(),
                        ))
                })
                .map(|(name, _)| name.clone())
                .collect();
            if from == to && recreate.is_empty() {
                return;
            }
            for name in to.constraints.keys() {
                let id = ObjectId::DomainConstraint(want.name.clone(), name.as_str().into());
                if !from.constraints.contains_key(name) || d.is_replaced(&id) {
                    d.created(id);
                }
            }
            d.push(Change::AlterDomain {
                name: want.name.clone(),
                from: from.clone(),
                to: to.clone(),
                recreate,
            });
        }
        _ => {}
    }
}
