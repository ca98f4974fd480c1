//! The plan-time data check of type changes that may change or lose values (`text` ->
//! `varchar(5)`, `numeric(12,2)` -> `numeric(12,0)`, `float8` -> `integer`, `timestamptz` ->
//! `date`, `bigint` -> `integer`, ...; which ones: `plan::kinds::convert`): before planning, the
//! live table's rows are converted in a read-only transaction, and `plan` stops when any would
//! change or fail, with the count, the column's `file:line:col` and the fix (`-- @using
//! <expression>`, a conversion the plan then marks `data-loss`).
//!
//! The step itself is guarded as well (a CHECK that every value converts back unchanged), so
//! rows written between plan and apply cannot be changed silently either.

use super::backfill::column_location;
use super::WorkflowError;
use crate::db::{self, DbError};
use crate::diff::Change;
use crate::model::Schema;
use crate::plan::{self, LossCheck, PlanOptions};
use crate::source::SourceSet;

/// Stops the plan when a type change would change or fail on rows of the live database `url`
/// (see the module comment; `live`: the live schema). Nothing to check: no connection.
pub fn check(
    url: Option<&str>,
    live: &Schema,
    changes: &[Change],
    current: &Schema,
    desired: &Schema,
    source: &SourceSet,
    opts: &PlanOptions,
) -> Result<(), WorkflowError> {
    // Columns as they are live (a column a declared rename creates is not there yet, and
    // keeps the values of its old one, which no retype of the same plan may touch). A foreign
    // table's rows are behind its server: not counted (reading them would query the remote).
    let checks: Vec<LossCheck> = plan::lossy_columns(changes, current, desired, opts)
        .into_iter()
        .filter(|c| {
            live.tables
                .get(&c.table)
                .is_some_and(|t| !t.is_foreign() && t.columns.iter().any(|x| x.name == c.column))
        })
        .collect();
    let Some(url) = url else { return Ok(()) };
    if checks.is_empty() {
        return Ok(());
    }
    let mut client = db::connect(url)?;
    let mut problems = Vec::new();
    for c in &checks {
        let (changed, failed) = count(&mut client, url, c)?;
        if changed + failed == 0 {
            continue;
        }
        let at = column_location(source, &c.table, &c.column)
            .map(|l| format!("{l}: "))
            .unwrap_or_default();
        let rows = |n: u64| {
            if n == 1 {
                "1 row".to_string()
            } else {
                format!("{n} rows")
            }
        };
        let what = match (changed, failed) {
            (n, 0) => format!(
                "{} would change (truncated, rounded or reformatted)",
                rows(n)
            ),
            (0, n) => format!("{} cannot be converted (too long or out of range)", rows(n)),
            (n, m) => format!(
                "{} would change (truncated, rounded or reformatted) and {} cannot be converted",
                rows(n),
                rows(m)
            ),
        };
        problems.push(format!(
            "{at}column {}.{} changes type from {} to {}, and in {} {what}: the plan keeps \
             every value or stops\n  fix: choose a type that holds every value, change the \
             rows first, or state the conversion with `-- @using <expression>` on the line \
             before the column (e.g. `-- @using {}`); the plan then marks the step data-loss",
            c.table,
            c.column,
            c.from,
            c.to,
            c.table,
            example(c)
        ));
    }
    if problems.is_empty() {
        return Ok(());
    }
    Err(WorkflowError::Lossy(problems.join("\n")))
}

/// An example `@using` for the refusal: an explicit conversion with the loss spelled out.
fn example(c: &LossCheck) -> String {
    let col = crate::render::quote::ident(&c.column);
    if c.to.starts_with("character varying(") || c.to.starts_with("character(") {
        let n: String = c.to.chars().filter(char::is_ascii_digit).collect();
        format!("left({col}, {n})")
    } else {
        format!("{col}::{}", c.to)
    }
}

/// `(changed, failed)` rows of the check, in a read-only transaction that is rolled back: the
/// quick count first; when a value makes the cast fail (a data exception, SQLSTATE class 22:
/// out of range, too long, invalid), the exact count row by row.
fn count(
    client: &mut postgres::Client,
    url: &str,
    c: &LossCheck,
) -> Result<(u64, u64), WorkflowError> {
    let err = |e: postgres::Error| {
        WorkflowError::Db(DbError::Query {
            url: db::redact(url),
            what: "checking which rows a type change would change",
            message: db::error_text(&e),
        })
    };
    let mut tx = client
        .build_transaction()
        .read_only(true)
        .start()
        .map_err(err)?;
    match tx.query_one(c.count.as_str(), &[]) {
        Ok(row) => {
            let n: i64 = row.get(0);
            return Ok((u64::try_from(n).unwrap_or(0), 0));
        }
        Err(e) if e.code().is_some_and(|s| s.code().starts_with("22")) => {}
        Err(e) => return Err(err(e)),
    }
    drop(tx);
    let mut tx = client
        .build_transaction()
        .read_only(true)
        .start()
        .map_err(err)?;
    tx.batch_execute(&c.exact).map_err(err)?;
    let row = tx
        .query_one(
            "SELECT current_setting('schemaplan.changed')::bigint, \
                    current_setting('schemaplan.failed')::bigint",
            &[],
        )
        .map_err(err)?;
    let (changed, failed): (i64, i64) = (row.get(0), row.get(1));
    Ok((
        u64::try_from(changed).unwrap_or(0),
        u64::try_from(failed).unwrap_or(0),
    ))
}
