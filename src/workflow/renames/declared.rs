//! Which `-- @renamed` annotations ask for which rename: each checked against the live and
//! desired schemas and turned into a typed [`Rename`] ([`declared`]).
//!
//! An annotation whose rename is already done (the new name exists live) is ignored, so it can
//! stay in `schema/` after the rename. One whose old name names nothing live is ignored on a
//! database without a candidate (a new database), and an error when the plan would drop an
//! object of the same kind there instead (a misspelled name would otherwise lose data).

use super::carried_constraint;
use crate::diff::Rename;
use crate::model::{ObjectId, QName, Schema, TypeKind};
use crate::source::{Annotation, SourceSet, Statement};
use crate::workflow::WorkflowError;

fn err(s: &Statement, line: usize, message: String) -> WorkflowError {
    WorkflowError::Rename(format!("{}:{line}: {message}", s.file.display()))
}

/// Splits a normalized `schema.name` (see docs/source.md).
fn qname_of(normalized: &str) -> Option<QName> {
    let (schema, name) = normalized.split_once('.')?;
    Some(QName::new(schema, name))
}

/// The annotations that ask for a rename still to be done.
pub(super) fn declared(
    source: &SourceSet,
    current: &Schema,
    desired: &Schema,
) -> Result<Vec<Rename>, WorkflowError> {
    let mut tables = Vec::new();
    let mut rest = Vec::new();
    for s in &source.statements {
        for a in &s.annotations {
            let Annotation::RenamedFrom { from, column, line } = a else {
                continue;
            };
            let line = *line;
            let Some(new) = s.creates.first().and_then(|c| qname_of(c)) else {
                continue;
            };
            match (s.kind.as_str(), column) {
                ("CREATE TABLE", None) => {
                    if let Some(r) = table(s, line, from, &new, current, desired)? {
                        tables.push(r);
                    }
                }
                ("CREATE TABLE" | "ALTER TABLE", Some(part)) => {
                    let new = if s.kind == "ALTER TABLE" {
                        // `schema.table.part`: the table is what precedes the part.
                        let created = s
                            .creates
                            .iter()
                            .find_map(|c| c.strip_suffix(&format!(".{part}")).and_then(qname_of));
                        match created {
                            Some(t) => t,
                            None => continue,
                        }
                    } else {
                        new
                    };
                    rest.push((s, line, from.clone(), new, part.clone()));
                }
                ("CREATE INDEX", None) => {
                    if let Some(r) = index(s, line, from, &new, current, desired)? {
                        tables.push(r);
                    }
                }
                ("CREATE TYPE" | "CREATE DOMAIN", None) => {
                    if let Some(r) = type_rename(s, line, from, &new, current, desired)? {
                        tables.push(r);
                    }
                }
                ("CREATE TYPE", Some(label)) => {
                    if let Some(r) = enum_value(s, line, from, &new, label, current, desired)? {
                        tables.push(r);
                    }
                }
                (kind, _) => {
                    let what = column
                        .as_ref()
                        .map(|c| format!("{c} of {new}"))
                        .unwrap_or_else(|| new.to_string());
                    return Err(err(
                        s,
                        line,
                        format!(
                            "@renamed on {kind} ({what}) is not supported: schemaplan renames \
                             tables, columns, indexes, constraints, types and enum values"
                        ),
                    ));
                }
            }
        }
    }
    // Columns and constraints: their table may be renamed by the same plan.
    for (s, line, from, table, part) in rest {
        let old_table = tables
            .iter()
            .find_map(|r| match r {
                Rename::Table { from, to, .. } if *to == table => Some(from.clone()),
                _ => None,
            })
            .unwrap_or_else(|| table.clone());
        if let Some(r) = part_rename(s, line, &from, &old_table, &table, &part, current, desired)? {
            tables.push(r);
        }
    }
    // A renamed table's compatibility view also reads the columns the plan renames, under
    // their old names: the old columns stay (kept in sync) until the contract phase, which
    // drops the view before them.
    let renamed_columns: Vec<(QName, String)> = tables
        .iter()
        .filter_map(|r| match r {
            Rename::Column { table, from, .. } => Some((table.clone(), from.name.to_string())),
            _ => None,
        })
        .collect();
    for r in &mut tables {
        if let Rename::Table { from, to, columns } = r {
            let Some(have) = current.tables.get(from) else {
                continue;
            };
            *columns = have
                .columns
                .iter()
                .filter(|c| {
                    columns.iter().any(|k| *k == c.name)
                        || renamed_columns.iter().any(|(t, n)| t == to && *n == c.name)
                })
                .map(|c| c.name.to_string())
                .collect();
        }
    }
    Ok(tables)
}

/// The old name of a relation: `from` qualified like the new name when written bare.
fn old_name(s: &Statement, line: usize, from: &str, new: &QName) -> Result<QName, WorkflowError> {
    let old = match from.split_once('.') {
        Some((schema, name)) => QName::new(schema, name),
        None => QName::new(new.schema.clone(), from),
    };
    if old.schema != new.schema {
        return Err(err(
            s,
            line,
            format!(
                "@renamed from={from} on {new}: a rename cannot move an object to another \
                 schema (ALTER ... SET SCHEMA is not planned)"
            ),
        ));
    }
    Ok(old)
}

/// A table or type rename `old` -> `new` needs `new` free in the database (relations and types
/// share one namespace) and `old` unused by the desired schema (`why` says what keeps it).
fn names_free(
    s: &Statement,
    line: usize,
    (kind, from, old, new): (&str, &str, &QName, &QName),
    (current, desired): (&Schema, &Schema),
    why: &str,
) -> Result<(), WorkflowError> {
    if relation_name_taken(current, new) {
        return Err(err(
            s,
            line,
            format!(
                "@renamed from={from} on {kind} {new}: both {old} and {new} exist in the database"
            ),
        ));
    }
    if relation_name_taken(desired, old) {
        return Err(err(
            s,
            line,
            format!(
                "@renamed from={from} on {kind} {new}: the desired schema uses the old name {old} \
                 again{why}; reuse the name in a later plan"
            ),
        ));
    }
    Ok(())
}

fn relation_name_taken(schema: &Schema, q: &QName) -> bool {
    schema.tables.contains_key(q)
        || schema.views.contains_key(q)
        || schema.sequences.contains_key(q)
        || schema.indexes.contains_key(q)
        || schema.types.contains_key(q)
}

/// The annotation's old name is not in the database: `Ok(None)` when the plan drops nothing
/// in its place (the rename already happened; the annotation is stale and harmless), else the
/// error naming what the plan would drop and create instead.
fn nothing_live(
    s: &Statement,
    line: usize,
    what: &str,
    from: &str,
    new: &str,
    would_drop: &[String],
) -> Result<Option<Rename>, WorkflowError> {
    if would_drop.is_empty() {
        return Ok(None);
    }
    Err(err(
        s,
        line,
        format!(
            "@renamed from={from} on {what} {new}: there is no {what} {from} in the database \
             (the plan would drop {} and create {new} instead); fix the old name, or remove \
             the annotation",
            would_drop.join(", ")
        ),
    ))
}

fn table(
    s: &Statement,
    line: usize,
    from: &str,
    new: &QName,
    current: &Schema,
    desired: &Schema,
) -> Result<Option<Rename>, WorkflowError> {
    let old = old_name(s, line, from, new)?;
    let Some(have) = current.tables.get(&old) else {
        if current.tables.contains_key(new) {
            return Ok(None);
        }
        let gone: Vec<String> = current
            .tables
            .keys()
            .filter(|q| q.schema == new.schema && !desired.tables.contains_key(q))
            .map(|q| q.to_string())
            .collect();
        return nothing_live(s, line, "table", &old.to_string(), &new.to_string(), &gone);
    };
    names_free(
        s,
        line,
        ("table", from, &old, new),
        (current, desired),
        ", which the compatibility view keeps until the contract phase",
    )?;
    let want = desired.tables.get(new).expect("the statement creates it");
    // The compatibility view reads the columns the plan keeps as they are. Columns it drops,
    // renames or retypes are left out: the view would block those changes (PostgreSQL
    // refuses to drop or retype a column a view reads), and the old application loses them
    // through the old name exactly as it would through the new one.
    // A column whose type (or collation) the plan changes in either direction is left out too:
    // an enum that gains a label loses it again in the inverse, which swaps the type under the
    // column (`ALTER COLUMN ... TYPE`, refused under a view reading it).
    let columns = have
        .columns
        .iter()
        .filter(|c| {
            want.columns
                .iter()
                .any(|w| w.name == c.name && w.type_name == c.type_name)
                && !type_changes(current, desired, &old, &c.name)
        })
        .map(|c| c.name.to_string())
        .collect();
    Ok(Some(Rename::Table {
        from: old,
        to: new.clone(),
        columns,
    }))
}

/// Whether column `column` of `table` (current schema) uses a type or collation whose
/// definition differs between the two sides (or that the desired side drops).
fn type_changes(current: &Schema, desired: &Schema, table: &QName, column: &str) -> bool {
    let col = ObjectId::Column(table.clone(), column.to_string().into());
    current.dependencies_of(&col).any(|d| match d {
        ObjectId::Type(q) => current.types.get(q) != desired.types.get(q),
        ObjectId::Collation(q) => current.collations.get(q) != desired.collations.get(q),
        _ => false,
    })
}

fn index(
    s: &Statement,
    line: usize,
    from: &str,
    new: &QName,
    current: &Schema,
    desired: &Schema,
) -> Result<Option<Rename>, WorkflowError> {
    let old = old_name(s, line, from, new)?;
    if current.indexes.contains_key(new) {
        return Ok(None);
    }
    let Some(have) = current.indexes.get(&old) else {
        let table = desired.indexes.get(new).map(|i| i.table.clone());
        let gone: Vec<String> = current
            .indexes
            .values()
            .filter(|i| Some(&i.table) == table.as_ref() && !desired.indexes.contains_key(&i.name))
            .map(|i| i.name.to_string())
            .collect();
        return nothing_live(s, line, "index", &old.to_string(), &new.to_string(), &gone);
    };
    if desired.indexes.contains_key(&old) || relation_name_taken(current, new) {
        return Err(err(
            s,
            line,
            format!("@renamed from={from} on index {new}: both names are in use"),
        ));
    }
    Ok(Some(Rename::Index {
        from: have.name.clone(),
        to: new.clone(),
    }))
}

#[allow(clippy::too_many_arguments)]
fn part_rename(
    s: &Statement,
    line: usize,
    from: &str,
    old_table: &QName,
    table: &QName,
    part: &str,
    current: &Schema,
    desired: &Schema,
) -> Result<Option<Rename>, WorkflowError> {
    let want = desired.tables.get(table);
    let have = current.tables.get(old_table);
    let is_column = want.is_some_and(|t| t.columns.iter().any(|c| c.name == part));
    if is_column {
        let column = |name: &str| have.and_then(|t| t.column(name));
        if column(part).is_some() {
            return Ok(None);
        }
        let Some(old) = column(from) else {
            let gone: Vec<String> = have
                .into_iter()
                .flat_map(|t| &t.columns)
                .filter(|c| !want.is_some_and(|w| w.columns.iter().any(|x| x.name == c.name)))
                .map(|c| c.name.to_string())
                .collect();
            return nothing_live(
                s,
                line,
                "column",
                &format!("{from} of {old_table}"),
                part,
                &gone,
            );
        };
        let blockers = column_blockers(current, old_table, old);
        if !blockers.is_empty() {
            return Err(err(
                s,
                line,
                format!(
                    "@renamed from={from} on column {part} of {table}: a column rename keeps \
                     two columns in sync by a trigger and drops the old one in the contract \
                     phase; that is not planned yet for a column with {}",
                    blockers.join(", ")
                ),
            ));
        }
        return Ok(Some(Rename::Column {
            table: table.clone(),
            table_before: old_table.clone(),
            from: Box::new(old.clone()),
            to: Box::new(crate::model::Column {
                name: part.to_string().into(),
                ..old.clone()
            }),
            from_indexes: Vec::new(),
            to_indexes: Vec::new(),
            from_constraints: Vec::new(),
            to_constraints: Vec::new(),
        }));
    }
    let has = |name: &str| have.is_some_and(|t| t.constraints.contains_key(name));
    if has(part) || have.is_none() {
        return Ok(None);
    }
    if !has(from) {
        let gone: Vec<String> = have
            .into_iter()
            .flat_map(|t| t.constraints.keys())
            .filter(|c| !want.is_some_and(|w| w.constraints.contains_key(c)))
            .cloned()
            .collect();
        return nothing_live(
            s,
            line,
            "constraint",
            &format!("{from} on {old_table}"),
            part,
            &gone,
        );
    }
    Ok(Some(Rename::Constraint {
        table: table.clone(),
        from: from.to_string(),
        to: part.to_string(),
    }))
}

/// What a column rename in phases cannot carry over yet: identity, generated and serial
/// columns, and objects depending on the column other than indexes, its comment, its column
/// privileges and the constraints [`carried_constraint`] accepts (views, triggers, policies,
/// functions, generated columns, foreign keys, and keys that foreign keys reference).
fn column_blockers(current: &Schema, table: &QName, c: &crate::model::Column) -> Vec<String> {
    let mut out = Vec::new();
    if c.identity.is_some() {
        out.push("an identity".to_string());
    }
    if c.generated.is_some() {
        out.push("a generation expression".to_string());
    }
    if current
        .sequences
        .values()
        .any(|q| q.owned_by.as_ref() == Some(&(table.clone(), c.name.to_string())))
    {
        out.push("an owned sequence (serial)".to_string());
    }
    let col = ObjectId::Column(table.clone(), c.name.clone());
    let constraint = |name: &str| {
        current
            .tables
            .get(table)
            .and_then(|t| t.constraints.get(name))
    };
    for (dep, refs) in &current.depends {
        if !refs.contains(&col) {
            continue;
        }
        match dep {
            ObjectId::Index(_) => {}
            ObjectId::Constraint(t, name)
                if t == table && constraint(name).is_some_and(carried_constraint) =>
            {
                // The key is dropped with the old column in contract: nothing else may need it.
                for (user, needs) in &current.depends {
                    if needs.contains(dep) && !matches!(user, ObjectId::Index(_)) && user != dep {
                        out.push(format!("{dep} used by {user}"));
                    }
                }
            }
            _ => out.push(format!("a dependent {dep}")),
        }
    }
    out
}

/// A type or domain rename. Unlike a table, a type holds no rows: an old name that names
/// nothing live is ignored (the plan creates the type, and the diff shows what it drops, with
/// its hazards), as sqldef does.
fn type_rename(
    s: &Statement,
    line: usize,
    from: &str,
    new: &QName,
    current: &Schema,
    desired: &Schema,
) -> Result<Option<Rename>, WorkflowError> {
    let old = old_name(s, line, from, new)?;
    let Some(have) = current.types.get(&old) else {
        return Ok(None);
    };
    names_free(s, line, ("type", from, &old, new), (current, desired), "")?;
    Ok(Some(Rename::Type {
        from: old,
        to: new.clone(),
        domain: matches!(have.kind, TypeKind::Domain(_)),
    }))
}

fn labels(schema: &Schema, ty: &QName) -> Option<Vec<String>> {
    match &schema.types.get(ty)?.kind {
        TypeKind::Enum(l) => Some(l.clone()),
        _ => None,
    }
}

fn enum_value(
    s: &Statement,
    line: usize,
    from: &str,
    ty: &QName,
    label: &str,
    current: &Schema,
    desired: &Schema,
) -> Result<Option<Rename>, WorkflowError> {
    let Some(have) = labels(current, ty) else {
        return Ok(None);
    };
    let want = labels(desired, ty).unwrap_or_default();
    if have.iter().any(|l| l == label) {
        return Ok(None);
    }
    if !have.iter().any(|l| l == from) {
        let gone: Vec<String> = have
            .iter()
            .filter(|l| !want.contains(l))
            .map(|l| format!("'{l}'"))
            .collect();
        return nothing_live(
            s,
            line,
            "enum value",
            &format!("'{from}'"),
            &format!("'{label}' of {ty}"),
            &gone,
        );
    }
    if want.iter().any(|l| l == from) {
        return Err(err(
            s,
            line,
            format!("@renamed from={from} on value '{label}' of {ty}: the type keeps '{from}' too"),
        ));
    }
    Ok(Some(Rename::EnumValue {
        ty: ty.clone(),
        from: from.to_string(),
        to: label.to_string(),
    }))
}
