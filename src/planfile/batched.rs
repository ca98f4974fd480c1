//! What the SQL of a `transaction: batched` step is: exactly ONE
//! `UPDATE <table> SET <col> = <expr>[, ...] WHERE <pending>;` with no `FROM`, `WITH` or
//! `RETURNING`. The statement is what a reviewer reads and is correct if run whole; the `WHERE`
//! is the pending predicate (it excludes finished rows, e.g. `col IS NULL`), which makes the
//! statement idempotent, so the executor may run it in key-range batches, re-run a batch, and
//! resume after a crash (`exec::backfill`). This module splits the statement into the pieces the
//! executor reassembles around its batch conditions; the checks run when the plan file is read.

use crate::model::QName;
use crate::render::quote;
use pg_query::protobuf::Node;
use pg_query::NodeEnum;

/// A batched step's statement, split.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchedUpdate {
    /// The table as written (schema may be empty: resolved by `search_path`).
    pub table: QName,
    /// `schema.table` (or `table`) quoted, without the alias.
    pub table_sql: String,
    /// The alias written after the table (`UPDATE t AS x`), quoted, if any.
    pub alias_sql: Option<String>,
    /// `UPDATE <table> [AS <alias>] SET ...` without the `WHERE` (PostgreSQL's deparse).
    pub update_sql: String,
    /// The pending predicate, as SQL text (PostgreSQL's deparse).
    pub pending_sql: String,
}

/// Splits a batched step's SQL, or says why it is not one.
pub fn parse(sql: &str) -> Result<BatchedUpdate, String> {
    const SHAPE: &str = "a `transaction: batched` step must be exactly one \
        `UPDATE <table> SET <column> = <expression>[, ...] WHERE <pending rows>;` \
        (the WHERE excludes finished rows, so batches can be re-run)";
    let parsed = pg_query::parse(sql, pg_query::ParserOptions::DEFAULT)
        .map_err(|e| format!("the SQL does not parse: {e}"))?;
    let [raw] = parsed.protobuf.stmts.as_slice() else {
        return Err(format!(
            "{SHAPE}; it has {} statements",
            parsed.protobuf.stmts.len()
        ));
    };
    let Some(NodeEnum::UpdateStmt(update)) = raw.stmt.as_ref().and_then(|s| s.node.as_ref()) else {
        return Err(format!("{SHAPE}; it is not an UPDATE"));
    };
    let mut update = update.clone();
    if !update.from_clause.is_empty() {
        return Err(format!("{SHAPE}; remove the FROM clause"));
    }
    if update.returning_clause.is_some() {
        return Err(format!("{SHAPE}; remove the RETURNING clause"));
    }
    if update.with_clause.is_some() {
        return Err(format!("{SHAPE}; remove the WITH clause"));
    }
    let Some(pending) = update.where_clause.take() else {
        return Err(format!(
            "{SHAPE}; add a WHERE that excludes finished rows (e.g. `WHERE col IS NULL`)"
        ));
    };
    let rel = update
        .relation
        .clone()
        .ok_or_else(|| format!("{SHAPE}; it names no table"))?;
    let table = QName::new(&rel.schemaname, &rel.relname);
    let table_sql = if rel.schemaname.is_empty() {
        quote::ident(&rel.relname)
    } else {
        quote::qname(&table)
    };
    let alias_sql = rel.alias.as_ref().map(|a| quote::ident(&a.aliasname));
    let update_sql = NodeEnum::UpdateStmt(update)
        .deparse(pg_query::DeparseOptions::default())
        .map_err(|e| format!("cannot rebuild the UPDATE: {e}"))?;
    Ok(BatchedUpdate {
        table,
        table_sql,
        alias_sql,
        update_sql,
        pending_sql: expression_sql(*pending)?,
    })
}

/// An expression node as SQL text: deparsed as the WHERE of `SELECT WHERE <expr>`, whose
/// deparsed prefix is fixed.
fn expression_sql(expr: Node) -> Result<String, String> {
    const PREFIX: &str = "SELECT WHERE ";
    let template = pg_query::parse("SELECT WHERE true", pg_query::ParserOptions::DEFAULT)
        .map_err(|e| e.to_string())?;
    let mut stmt = template.protobuf.stmts[0]
        .stmt
        .as_ref()
        .and_then(|s| s.node.clone())
        .ok_or("empty template")?;
    let NodeEnum::SelectStmt(ref mut select) = stmt else {
        return Err("template is not a SELECT".into());
    };
    select.where_clause = Some(Box::new(expr));
    let text = stmt
        .deparse(pg_query::DeparseOptions::default())
        .map_err(|e| format!("cannot rebuild the WHERE: {e}"))?;
    text.strip_prefix(PREFIX)
        .map(str::to_string)
        .ok_or_else(|| format!("unexpected deparse of the WHERE: {text}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_an_update() {
        let b = parse("UPDATE public.\"T\" AS x SET a = now(), b = x.c || 'y' WHERE a IS NULL OR b IS DISTINCT FROM x.c;").unwrap();
        assert_eq!(b.table_sql, "public.\"T\"");
        assert_eq!(b.alias_sql.as_deref(), Some("x"));
        assert_eq!(
            b.update_sql,
            "UPDATE public.\"T\" x SET a = now(), b = x.c || 'y'"
        );
        assert_eq!(b.pending_sql, "a IS NULL OR b IS DISTINCT FROM x.c");
    }

    #[test]
    fn refuses_other_shapes() {
        for (sql, why) in [
            ("UPDATE t SET a = 1;", "add a WHERE"),
            (
                "UPDATE t SET a = 1 WHERE a IS NULL; SELECT 1;",
                "2 statements",
            ),
            ("DELETE FROM t WHERE a IS NULL;", "not an UPDATE"),
            ("UPDATE t SET a = u.a FROM u WHERE t.a IS NULL;", "FROM"),
            (
                "UPDATE t SET a = 1 WHERE a IS NULL RETURNING a;",
                "RETURNING",
            ),
            (
                "WITH c AS (SELECT 1) UPDATE t SET a = 1 WHERE a IS NULL;",
                "WITH",
            ),
        ] {
            let err = parse(sql).unwrap_err();
            assert!(err.contains(why), "{sql}: {err}");
        }
    }
}
