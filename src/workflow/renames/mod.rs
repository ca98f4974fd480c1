//! Declared renames: turns the `-- @renamed from=old` annotations of the schema files into
//! typed [`Rename`]s against the live schema, and computes the current schema with those
//! renames done (in a scratch database of the shadow, so PostgreSQL rewrites every definition
//! that names the renamed objects). The rest of the plan is the diff from that schema to the
//! desired one; `plan::build_renames` frames it with the renames' own steps. Which annotation
//! asks for which rename, and what each is checked against, is `declared`'s.

mod declared;

use super::{run_steps, schema_statements, WorkflowError};
use crate::diff::Rename;
use crate::model::{Constraint, ConstraintKind, ObjectId, QName, Schema};
use crate::plan::{self, PlanOptions};
use crate::render::quote::ident;
use crate::shadow::Shadow;
use crate::source::SourceSet;
use declared::declared;

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
    let col = ObjectId::Column(table.clone(), column.to_string().into());
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
pub(super) fn carried_constraint(c: &Constraint) -> bool {
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
                !have.constraints.contains_key(n)
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
