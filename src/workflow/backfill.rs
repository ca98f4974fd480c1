//! New columns and the values of existing rows: the `-- @backfill <expression>` annotations of
//! the schema files (`(table, column) -> expression`, for `PlanOptions::backfills`), and the
//! check that stops `plan` when a new NOT NULL column on a filled table has neither a default
//! nor `@backfill` (naming the column, its `file:line` and the fix).

use super::WorkflowError;
use crate::diff::Change;
use crate::model::{QName, Schema};
use crate::plan::{self, PlanOptions};
use crate::source::{Annotation, Location, SourceSet, Statement};
use pg_query::protobuf::node::Node as N;
use std::collections::BTreeMap;

/// `(table, column) -> expression` of every `@backfill` annotation.
pub fn backfills(source: &SourceSet) -> BTreeMap<(QName, String), String> {
    column_expressions(source, |a| match a {
        Annotation::Backfill {
            expr,
            column: Some(column),
            ..
        } => Some((column, expr)),
        _ => None,
    })
}

/// `(table, column) -> expression` of the column annotations `pick` chooses (it returns the
/// annotation's column and expression), keyed by the table of the statement carrying them.
pub(super) fn column_expressions(
    source: &SourceSet,
    pick: impl Fn(&Annotation) -> Option<(&String, &String)>,
) -> BTreeMap<(QName, String), String> {
    let mut out = BTreeMap::new();
    for stmt in &source.statements {
        for (column, expr) in stmt.annotations.iter().filter_map(&pick) {
            if let Some(table) = table_of(stmt) {
                out.insert((table, column.clone()), expr.clone());
            }
        }
    }
    out
}

/// Stops the plan when a new NOT NULL column cannot be filled (see `plan::unfillable_columns`).
pub fn check(
    changes: &[Change],
    current: &Schema,
    desired: &Schema,
    source: &SourceSet,
    opts: &PlanOptions,
) -> Result<(), WorkflowError> {
    let missing = plan::unfillable_columns(changes, current, desired, opts);
    if missing.is_empty() {
        return Ok(());
    }
    let problems: Vec<String> = missing
        .iter()
        .map(|(table, column)| {
            let at = column_location(source, table, column)
                .map(|l| format!("{l}: "))
                .unwrap_or_default();
            format!(
                "{at}new column {table}.{column} is NOT NULL without a default, and {table} has rows: \
                 they need a value\n  fix: add `-- @backfill <expression>` on the line before the \
                 column (e.g. `-- @backfill 0`, or an expression of the row's other columns), or \
                 give it a DEFAULT, or make it nullable"
            )
        })
        .collect();
    Err(WorkflowError::Unfillable(problems.join("\n")))
}

/// The table a `CREATE TABLE` or `ALTER TABLE` statement is about (unqualified: `public`).
fn table_of(stmt: &Statement) -> Option<QName> {
    with_node(stmt, |node| match node {
        N::CreateStmt(cs) => cs.relation.as_ref().map(super::original::qname),
        N::AlterTableStmt(at) => at.relation.as_ref().map(super::original::qname),
        _ => None,
    })
}

/// `f` of the parse tree of the statement's (only) SQL statement.
fn with_node<T>(stmt: &Statement, f: impl FnOnce(&N) -> Option<T>) -> Option<T> {
    let parsed = pg_query::parse(&stmt.sql, pg_query::ParserOptions::DEFAULT).ok()?;
    let node = parsed
        .protobuf
        .stmts
        .first()?
        .stmt
        .as_ref()?
        .node
        .as_ref()?;
    f(node)
}

/// Byte offset of the definition of `column` in a `CREATE TABLE` or `ALTER TABLE ... ADD
/// COLUMN` statement.
fn column_offset(stmt: &Statement, column: &str) -> Option<i32> {
    with_node(stmt, |node| column_in(node, column))
}

fn column_in(node: &N, column: &str) -> Option<i32> {
    let defs: Vec<&N> = match node {
        N::CreateStmt(cs) => cs
            .table_elts
            .iter()
            .filter_map(|e| e.node.as_ref())
            .collect(),
        N::AlterTableStmt(at) => at
            .cmds
            .iter()
            .filter_map(|c| match c.node.as_ref()? {
                N::AlterTableCmd(cmd) => cmd.def.as_ref()?.node.as_ref(),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    defs.into_iter().find_map(|d| match d {
        N::ColumnDef(cd) if cd.colname == column => Some(cd.location),
        _ => None,
    })
}

/// Where column `column` of `table` is defined in the schema files.
pub(super) fn column_location(source: &SourceSet, table: &QName, column: &str) -> Option<Location> {
    source.statements.iter().find_map(|stmt| {
        if table_of(stmt).as_ref() != Some(table) {
            return None;
        }
        let offset = column_offset(stmt, column)?;
        let before = stmt.sql.get(..usize::try_from(offset).ok()?)?;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let lines = before.matches('\n').count();
        let col = before[line_start..].chars().count() + 1;
        Some(Location {
            file: stmt.file.clone(),
            line: stmt.line + lines,
            col: if lines == 0 { stmt.col + col - 1 } else { col },
            source_line: stmt.sql[line_start..]
                .lines()
                .next()
                .unwrap_or_default()
                .to_string(),
        })
    })
}
