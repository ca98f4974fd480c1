//! Declared renames: turns the `-- @renamed from=old` annotations of the schema files into
//! typed [`Rename`]s against the live schema, and computes the current schema with those
//! renames done (in a scratch database of the shadow, so PostgreSQL rewrites every definition
//! that names the renamed objects). The rest of the plan is the diff from that schema to the
//! desired one; `plan::build_renames` frames it with the renames' own steps.
//!
//! An annotation whose rename is already done (the new name exists live) is ignored, so it can
//! stay in `schema/` after the rename. One whose old name names nothing live is ignored on a
//! database without a candidate (a new database), and an error when the plan would drop an
//! object of the same kind there instead (a misspelled name would otherwise lose data).

use super::{run_steps, schema_statements, WorkflowError};
use crate::diff::Rename;
use crate::model::{Constraint, ConstraintKind, ObjectId, QName, Schema, TypeKind};
use crate::plan::{self, PlanOptions};
use crate::render::quote::ident;
use crate::shadow::Shadow;
use crate::source::{Annotation, SourceSet, Statement};

/// The renames of a plan and the current schema with them done.
#[derive(Clone, Debug)]
pub struct Renames {
    /// In execution order: tables, then indexes and constraints, then enum values.
    pub list: Vec<Rename>,
    /// The current schema with every rename done (and nothing else changed).
    pub current: Schema,
}

/// Reads the declared renames; `None` when there is nothing to rename.
pub fn resolve(
    shadow: &Shadow,
    ctx: &super::Context,
    source: &SourceSet,
    current: &Schema,
    desired: &Schema,
    opts: &PlanOptions,
) -> Result<Option<Renames>, WorkflowError> {
    let mut list = declared(source, current, desired)?;
    if list.is_empty() {
        return Ok(None);
    }
    list.sort_by_key(order);
    let db = shadow.scratch("renames")?;
    let mut client = db.connect()?;
    let empty = ctx.prepare(&mut client)?;
    run_steps(
        &mut client,
        &schema_statements(&empty, current, opts),
        "rebuilding the current schema in the shadow",
    )?;
    // A column rename on a table the plan renames too runs on the renamed table: its undo
    // builds the old column's indexes there, so they are read with the table renames done and
    // the column renames not yet (PostgreSQL rewrites their definitions).
    let (first, rest): (Vec<Rename>, Vec<Rename>) =
        list.iter().cloned().partition(|r| order(r) == 0);
    run_renames(&mut client, &first)?;
    let tables_renamed = if list
        .iter()
        .any(|r| matches!(r, Rename::Column { table, table_before, .. } if table != table_before))
    {
        Some(ctx.read(&mut client)?)
    } else {
        None
    };
    run_renames(&mut client, &rest)?;
    let mut renamed = ctx.read(&mut client)?;
    let implied = implied(&list, &renamed, desired);
    if !implied.is_empty() {
        run_renames(&mut client, &implied)?;
        renamed = ctx.read(&mut client)?;
        list.extend(implied);
        list.sort_by_key(order);
    }
    for r in &mut list {
        if let Rename::Column {
            table,
            table_before,
            from,
            to,
            from_indexes,
            to_indexes,
            from_constraints,
            to_constraints,
        } = r
        {
            let before = match &tables_renamed {
                Some(schema) if table != table_before => schema,
                _ => current,
            };
            *from_indexes = indexes_on(before, table, &from.name);
            *to_indexes = indexes_on(&renamed, table, &to.name);
            *from_constraints = constraints_on(before, table, &from.name);
            *to_constraints = constraints_on(&renamed, table, &to.name);
            if let Some(c) = renamed.tables.get(table).and_then(|t| t.column(&to.name)) {
                **to = c.clone();
            }
        }
    }
    // PostgreSQL 18: `RENAME COLUMN` in the shadow kept the old column's NOT NULL constraint
    // name, but the plan renames a column through a new column, whose NOT NULL constraint is
    // made under the desired name (`kinds::column::set_not_null_online`): that is the name the
    // live column will have. (A table rename keeps the old names: those the diff renames.)
    for r in &list {
        if let Rename::Column { table, to, .. } = r {
            let want = desired
                .tables
                .get(table)
                .and_then(|t| t.column(&to.name))
                .and_then(|c| c.not_null_name.clone());
            if let Some(c) = renamed
                .tables
                .get_mut(table)
                .and_then(|t| t.columns.iter_mut().find(|c| c.name == to.name))
            {
                if c.not_null_name.is_some() && want.is_some() {
                    c.not_null_name = want;
                }
            }
        }
    }
    // The shadow's tables are empty: the live sizes (what the online strategies go by) carry
    // over, under the new table names.
    renamed.sizes = current
        .sizes
        .iter()
        .map(|(q, bytes)| {
            let q = list
                .iter()
                .find_map(|r| match r {
                    Rename::Table { from, to, .. } if from == q => Some(to.clone()),
                    _ => None,
                })
                .unwrap_or_else(|| q.clone());
            (q, *bytes)
        })
        .collect();
    Ok(Some(Renames {
        list,
        current: renamed,
    }))
}

/// The indexes (not backing constraints) on a column, by the dependencies PostgreSQL records.
fn indexes_on(schema: &Schema, table: &QName, column: &str) -> Vec<crate::model::Index> {
    let col = ObjectId::Column(table.clone(), column.to_string());
    schema
        .indexes
        .values()
        .filter(|i| {
            schema
                .dependencies_of(&ObjectId::Index(i.name.clone()))
                .any(|d| *d == col)
        })
        .cloned()
        .collect()
}

/// The constraints a column rename rebuilds on the new column (see [`carried_constraint`]),
/// in name order.
fn constraints_on(schema: &Schema, table: &QName, column: &str) -> Vec<Constraint> {
    schema
        .tables
        .get(table)
        .into_iter()
        .flat_map(|t| t.constraints.values())
        .filter(|c| c.columns.iter().any(|col| col == column) && carried_constraint(c))
        .cloned()
        .collect()
}

/// A constraint a column rename carries over to the new column: a local CHECK, or a local
/// PRIMARY KEY / UNIQUE whose index is its own (not attached to a partitioned parent's).
fn carried_constraint(c: &Constraint) -> bool {
    c.is_local
        && c.parent_index.is_none()
        && matches!(
            c.kind,
            ConstraintKind::Check | ConstraintKind::PrimaryKey | ConstraintKind::Unique
        )
}

fn order(r: &Rename) -> u8 {
    match r {
        // A type first: the tables' columns follow it by OID either way.
        Rename::Type { .. } => 0,
        Rename::Table { .. } => 0,
        // Before the index renames: the inverse (reversed order) renames an index back before
        // its column's undo drops the new column.
        Rename::Column { .. } => 1,
        Rename::Index { .. } | Rename::Constraint { .. } => 2,
        Rename::EnumValue { .. } => 3,
    }
}

fn run_renames(client: &mut postgres::Client, list: &[Rename]) -> Result<(), WorkflowError> {
    for r in list {
        client
            .batch_execute(&plan::rename_statement(r))
            .map_err(|e| {
                WorkflowError::Rename(format!(
                    "renaming in the shadow failed: {}: {}",
                    plan::rename_statement(r),
                    crate::db::error_text(&e)
                ))
            })?;
    }
    Ok(())
}

fn err(s: &Statement, line: usize, message: String) -> WorkflowError {
    WorkflowError::Rename(format!("{}:{line}: {message}", s.file.display()))
}

/// Splits a normalized `schema.name` (see docs/source.md).
fn qname_of(normalized: &str) -> Option<QName> {
    let (schema, name) = normalized.split_once('.')?;
    Some(QName::new(schema, name))
}

/// The annotations that ask for a rename still to be done.
fn declared(
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
            Rename::Column { table, from, .. } => Some((table.clone(), from.name.clone())),
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
                    columns.contains(&c.name)
                        || renamed_columns.iter().any(|(t, n)| t == to && *n == c.name)
                })
                .map(|c| c.name.clone())
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
        .map(|c| c.name.clone())
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
    let col = ObjectId::Column(table.clone(), column.to_string());
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
                .map(|c| c.name.clone())
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
                name: part.to_string(),
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
            .filter(|c| !want.is_some_and(|w| w.constraints.contains_key(*c)))
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
        .any(|q| q.owned_by.as_ref() == Some(&(table.clone(), c.name.clone())))
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

/// Names PostgreSQL derived from a renamed table's or column's old name (`members_pkey`, an
/// index `members_email_idx`) that the desired schema has under the new name with the same
/// definition: renamed with the table instead of dropped and built again.
fn implied(list: &[Rename], renamed: &Schema, desired: &Schema) -> Vec<Rename> {
    let mut out = Vec::new();
    let mut tables: Vec<&QName> = list
        .iter()
        .filter_map(|r| match r {
            Rename::Table { to, .. } => Some(to),
            Rename::Column { table, .. } => Some(table),
            _ => None,
        })
        .collect();
    tables.dedup();
    for to in tables {
        let (Some(have), Some(want)) = (renamed.tables.get(to), desired.tables.get(to)) else {
            continue;
        };
        for (name, con) in &have.constraints {
            if want.constraints.contains_key(name) {
                continue;
            }
            let mut matches = want.constraints.iter().filter(|(n, w)| {
                !have.constraints.contains_key(*n)
                    && w.kind == con.kind
                    && w.definition == con.definition
            });
            if let (Some((n, _)), None) = (matches.next(), matches.next()) {
                out.push(Rename::Constraint {
                    table: to.clone(),
                    from: name.clone(),
                    to: n.clone(),
                });
            }
        }
        let shape = |i: &crate::model::Index| {
            i.definition.replacen(
                &format!("INDEX {} ON", ident(&i.name.name)),
                "INDEX ? ON",
                1,
            )
        };
        for i in renamed.indexes.values().filter(|i| i.table == *to) {
            if desired.indexes.contains_key(&i.name) {
                continue;
            }
            let mut matches = desired.indexes.values().filter(|w| {
                w.table == *to && !renamed.indexes.contains_key(&w.name) && shape(w) == shape(i)
            });
            if let (Some(w), None) = (matches.next(), matches.next()) {
                out.push(Rename::Index {
                    from: i.name.clone(),
                    to: w.name.clone(),
                });
            }
        }
    }
    out
}
