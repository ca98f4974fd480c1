//! Column type changes PostgreSQL has no cast for (`bigint` -> `timestamp`, `integer` ->
//! `uuid`): which `(from, to)` pairs of a plan lack one (asked of the shadow server, which
//! knows every built-in and extension cast), the `-- @using <expression>` annotations that say
//! how to compute the new value instead, and the check that stops `plan` when such a change
//! meets a table with rows and no `@using` (naming the column's `file:line:col` and the fix).
//!
//! Without a cast and on an empty table (or one the plan creates) the column is converted
//! through text (`col::text::to`, see `plan::kinds::column`): it cannot lose data, since the
//! new type's input function refuses any value it cannot take and fails the step, and the
//! step's `was empty at plan time` note makes `apply` refuse it if the table has rows by then.

use super::backfill::{column_expressions, column_location};
use super::WorkflowError;
use crate::db;
use crate::diff::{Change, ColumnChange};
use crate::model::{QName, Schema};
use crate::plan::{self, PlanOptions};
use crate::shadow::Shadow;
use crate::source::{Annotation, SourceSet};
use std::collections::{BTreeMap, BTreeSet};

/// `(table, column) -> expression` of every `@using` annotation.
pub fn usings(source: &SourceSet) -> BTreeMap<(QName, String), String> {
    column_expressions(source, |a| match a {
        Annotation::Using {
            expr,
            column: Some(column),
            ..
        } => Some((column, expr)),
        _ => None,
    })
}

/// The `(from, to)` type pairs of the column type changes in `changes` (both directions: the
/// inverse plan converts back) that PostgreSQL cannot cast, asked of an empty scratch database
/// of the shadow (`SELECT NULL::from::to`, SQLSTATE 42846 `cannot_coerce`). Types the scratch
/// database does not know (user types: converted through text anyway) are left out.
pub fn missing(
    shadow: &Shadow,
    changes: &[Change],
) -> Result<BTreeSet<(String, String)>, WorkflowError> {
    let mut pairs = BTreeSet::new();
    for c in changes {
        if let Change::AlterColumn {
            from, to, kinds, ..
        } = c
        {
            if kinds.contains(&ColumnChange::Type) && from.type_name != to.type_name {
                pairs.insert((from.type_name.clone(), to.type_name.clone()));
                pairs.insert((to.type_name.clone(), from.type_name.clone()));
            }
        }
    }
    let mut out = BTreeSet::new();
    if pairs.is_empty() {
        return Ok(out);
    }
    let scratch = shadow.scratch("casts")?;
    let mut client = scratch.connect()?;
    for (from, to) in pairs {
        // Type names as format_type prints them: valid SQL, schema-qualified where needed.
        let probe = format!("SELECT NULL::{from}::{to}");
        match client.simple_query(&probe) {
            Ok(_) => {}
            Err(e) if e.code() == Some(&postgres::error::SqlState::CANNOT_COERCE) => {
                out.insert((from, to));
            }
            // Unknown here (a user or extension type): decided elsewhere.
            Err(e) if e.as_db_error().is_some() => {}
            Err(e) => {
                return Err(WorkflowError::Proof(format!(
                    "asking the shadow server for a cast from {from} to {to}: {}",
                    db::error_text(&e)
                )))
            }
        }
    }
    Ok(out)
}

/// Stops the plan when a column changes to a type its old one cannot be cast to, on a table
/// with rows, without `@using` (see `plan::uncastable_columns`).
pub fn check(
    changes: &[Change],
    current: &Schema,
    desired: &Schema,
    source: &SourceSet,
    opts: &PlanOptions,
) -> Result<(), WorkflowError> {
    let stuck = plan::uncastable_columns(changes, current, desired, opts);
    if stuck.is_empty() {
        return Ok(());
    }
    let problems: Vec<String> = stuck
        .iter()
        .map(|(table, column, from, to)| {
            let at = column_location(source, table, column)
                .map(|l| format!("{l}: "))
                .unwrap_or_default();
            format!(
                "{at}column {table}.{column} changes type from {from} to {to}, and PostgreSQL \
                 has no cast from {from} to {to}; {table} has rows, whose values need a rule\n  \
                 fix: add `-- @using <expression>` on the line before the column, computing the \
                 new value from the old row (e.g. `-- @using to_timestamp({column})`), or \
                 empty the table first"
            )
        })
        .collect();
    Err(WorkflowError::NoCast(problems.join("\n")))
}
