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
use crate::model::{Name, QName, Schema};
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

/// Asks an empty scratch database of the shadow about the `(from, to)` type pairs of the column
/// type changes in `changes` (both directions: the inverse plan converts back), and records the
/// answers in `opts` (see `plan::kinds::convert` for how they are used):
/// - `no_cast`: `SELECT NULL::from::to` fails with SQLSTATE 42846 `cannot_coerce`;
/// - `explicit_only`: a cast exists but not in assignment context: `INSERT` of a `from` value
///   into a `to` column fails with 42804 `datatype_mismatch` (asked this way rather than read
///   from `pg_cast`, which does not describe the I/O conversions to string types, array,
///   domain and typmod coercions that assignment also allows);
/// - `incomparable`: the type has no `=` operator (`json`): 42883 `undefined_function`;
/// - `probed`: pairs both of whose types the scratch database knows.
///
/// The desired schema's extensions are created in the scratch database first. Types it still
/// does not know (user types: converted through text anyway) are left out.
pub fn probe(
    shadow: &Shadow,
    desired: &Schema,
    changes: &[Change],
    opts: &mut PlanOptions,
) -> Result<(), WorkflowError> {
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
    if pairs.is_empty() {
        return Ok(());
    }
    let scratch = shadow.scratch("casts")?;
    let mut client = scratch.connect()?;
    let fail = |what: String, e: &postgres::Error| {
        WorkflowError::Proof(format!(
            "asking the shadow server {what}: {}",
            db::error_text(e)
        ))
    };
    // `Ok(None)`: fine; `Ok(Some(code))`: refused with that SQLSTATE; `Err`: not a server answer.
    let mut ask = |sql: &str, what: String| match client.batch_execute(sql) {
        Ok(()) => Ok(None),
        Err(e) => match e.code() {
            Some(code) if e.as_db_error().is_some() => Ok(Some(code.clone())),
            _ => Err(fail(what, &e)),
        },
    };
    use postgres::error::SqlState;
    // The desired schema's extensions, so their types and casts (`citext`) are known too; one
    // that cannot be created here leaves its types unknown, as before.
    for e in desired.extensions.values() {
        let schema = crate::render::quote::ident(&e.schema);
        let _ = ask(
            &format!(
                "CREATE SCHEMA IF NOT EXISTS {schema};
                 CREATE EXTENSION IF NOT EXISTS {} WITH SCHEMA {schema} CASCADE;",
                crate::render::quote::ident(&e.name)
            ),
            format!("to create extension {}", e.name),
        );
    }
    let types: BTreeSet<&Name> = pairs.iter().map(|(f, _)| f).collect();
    for ty in types {
        // Type names as format_type prints them: valid SQL, schema-qualified where needed.
        let answer = ask(
            &format!("SELECT NULL::{ty} IS DISTINCT FROM NULL::{ty}"),
            format!("whether {ty} has an equality operator"),
        )?;
        if answer == Some(SqlState::UNDEFINED_FUNCTION) {
            opts.incomparable.insert(ty.to_string());
        }
    }
    for (i, (from, to)) in pairs.into_iter().enumerate() {
        match ask(
            &format!("SELECT NULL::{from}::{to}"),
            format!("for a cast from {from} to {to}"),
        )? {
            None => {}
            Some(code) if code == SqlState::CANNOT_COERCE => {
                opts.no_cast.insert((from.to_string(), to.to_string()));
                opts.probed.insert((from.to_string(), to.to_string()));
                continue;
            }
            // Unknown here (a user or extension type): decided elsewhere.
            Some(_) => continue,
        }
        let table = format!("schemaplan_probe_{i}");
        let answer = ask(
            &format!(
                "CREATE TABLE {table} (c {to});
                 EXPLAIN INSERT INTO {table} VALUES (NULL::{from});"
            ),
            format!("whether {from} is assignable to {to}"),
        )?;
        if answer == Some(SqlState::DATATYPE_MISMATCH) {
            opts.explicit_only
                .insert((from.to_string(), to.to_string()));
        }
        opts.probed.insert((from.to_string(), to.to_string()));
    }
    Ok(())
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
