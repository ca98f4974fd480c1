//! The expressions of `@backfill` and `@using` annotations: each must be exactly one scalar
//! expression, checked with PostgreSQL's own lexer and grammar (pg_query) before the plan
//! pastes it into SQL (`UPDATE t SET c = <expr> WHERE c IS NULL`,
//! `ALTER COLUMN c TYPE ... USING (<expr>)`). Text that would end the expression and add SQL of
//! its own is refused, never pasted:
//! - a second expression (`0, a = 42` would also overwrite column `a` in every row);
//! - a comment (`0 -- note` would comment out the `WHERE`), a `;`, a `)` or `]` closing more
//!   than the expression opened (`0) , a = (42`);
//! - query clauses (`0 FROM x`, `WHERE`, `ORDER BY`, `UNION`, ...) and aliases (`0 AS x`);
//! - aggregates and window functions outside a subquery (not valid per row; a plain `sum(x)` is
//!   indistinguishable from a function call here, and is refused by the server when the proof
//!   replays the plan).
//!
//! A scalar subquery in parentheses, `(SELECT max(x) FROM other WHERE ...)`, is one expression
//! and is allowed, as are `$$` strings, `CASE`, casts and function calls.

use pg_query::protobuf::{self, Token};
use pg_query::NodeEnum;
use serde_json::Value;

/// Why an expression is refused, and the byte offset in it the message is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub offset: usize,
    pub message: String,
}

/// Checks that `expr` (the text after `@word`) is one scalar expression.
pub(crate) fn check(word: &str, expr: &str) -> Result<(), Refusal> {
    let refuse = |offset: usize, message: String| {
        Err(Refusal {
            offset,
            message: format!("@{word} takes exactly one expression: {message}"),
        })
    };
    let scan = match pg_query::scan(expr) {
        Ok(scan) => scan,
        Err(err) => return refuse(0, super::split::error_message(err)),
    };
    // `SELECT ALL x` reads as `SELECT x`, but `SET c = ALL x` does not parse.
    if let Some(first) = scan.tokens.first() {
        if first.token == Token::All as i32 {
            return refuse(
                0,
                format!("`{expr}` starts with ALL, which is not an expression"),
            );
        }
    }
    let mut depth = 0i32;
    for t in &scan.tokens {
        let at = usize::try_from(t.start).unwrap_or(0);
        let text = expr
            .get(at..usize::try_from(t.end).unwrap_or(at))
            .unwrap_or("");
        match Token::try_from(t.token) {
            Ok(Token::SqlComment | Token::CComment) => {
                return refuse(
                    at,
                    format!(
                        "`{text}` is a comment, which would be pasted into the plan's SQL with \
                         the expression; write notes on a line of their own"
                    ),
                )
            }
            Ok(Token::Ascii59) => {
                return refuse(
                    at,
                    "`;` ends the statement the expression is part of".into(),
                )
            }
            Ok(Token::Ascii40 | Token::Ascii91) => depth += 1,
            Ok(Token::Ascii41 | Token::Ascii93) => {
                depth -= 1;
                if depth < 0 {
                    return refuse(
                        at,
                        format!("this `{text}` closes a parenthesis the expression did not open"),
                    );
                }
            }
            _ => {}
        }
    }
    let tree = match pg_query::parse(&format!("SELECT {expr}"), pg_query::ParserOptions::DEFAULT) {
        Ok(tree) => tree,
        Err(err) => {
            return refuse(
                0,
                format!(
                    "`{expr}` does not parse: {}",
                    super::split::error_message(err)
                ),
            )
        }
    };
    let stmts = &tree.protobuf.stmts;
    let select = match stmts.as_slice() {
        [only] => match only.stmt.as_ref().and_then(|s| s.node.as_ref()) {
            Some(NodeEnum::SelectStmt(s)) => s,
            _ => return refuse(0, format!("`{expr}` is not an expression")),
        },
        _ => return refuse(0, format!("`{expr}` holds several statements")),
    };
    if let Some(clause) = query_clause(select) {
        return refuse(
            0,
            format!(
                "`{expr}` has a {clause}, which belongs to a query, not to an expression; a \
                 value computed by a query is written as a scalar subquery in parentheses: \
                 `(SELECT ... FROM ... WHERE ...)`"
            ),
        );
    }
    let target = match select.target_list.as_slice() {
        [one] => match one.node.as_ref() {
            Some(NodeEnum::ResTarget(t)) => t,
            _ => return refuse(0, format!("`{expr}` is not an expression")),
        },
        [_, second, ..] => {
            let at = location(second).map_or(0, |l| l.saturating_sub("SELECT ".len()));
            return refuse(
                at,
                format!(
                    "`{expr}` is {} expressions separated by `,` (the ones after the first would \
                     become SQL of their own)",
                    select.target_list.len()
                ),
            );
        }
        [] => return refuse(0, format!("`{expr}` is not an expression")),
    };
    if !target.name.is_empty() {
        return refuse(
            0,
            format!(
                "`{expr}` names its value (`AS {}`), which is not part of an expression",
                target.name
            ),
        );
    }
    let Some(value) = target.val.as_ref().and_then(|v| v.node.as_ref()) else {
        return refuse(0, format!("`{expr}` is not an expression"));
    };
    if let NodeEnum::ColumnRef(c) = value {
        if c.fields
            .iter()
            .any(|f| matches!(f.node, Some(NodeEnum::AStar(_))))
        {
            return refuse(0, format!("`{expr}` is a `*`, not a value"));
        }
    }
    if let Some(what) = not_per_row(&serde_json::to_value(value).unwrap_or(Value::Null)) {
        return refuse(
            0,
            format!(
                "`{expr}` uses {what}, which computes over many rows; the expression is evaluated \
                 for each row on its own (a value computed over other rows is written as a \
                 scalar subquery: `(SELECT max(x) FROM other)`)"
            ),
        );
    }
    Ok(())
}

/// The first clause of `s` that only a query has, by name.
fn query_clause(s: &protobuf::SelectStmt) -> Option<&'static str> {
    let clauses = [
        (!s.from_clause.is_empty(), "FROM clause"),
        (s.where_clause.is_some(), "WHERE clause"),
        (
            !s.group_clause.is_empty() || s.group_distinct,
            "GROUP BY clause",
        ),
        (s.having_clause.is_some(), "HAVING clause"),
        (!s.window_clause.is_empty(), "WINDOW clause"),
        (!s.sort_clause.is_empty(), "ORDER BY clause"),
        (
            s.limit_count.is_some() || s.limit_offset.is_some(),
            "LIMIT or OFFSET clause",
        ),
        (!s.locking_clause.is_empty(), "FOR UPDATE/SHARE clause"),
        (!s.distinct_clause.is_empty(), "DISTINCT"),
        (s.into_clause.is_some(), "INTO clause"),
        (s.with_clause.is_some(), "WITH clause"),
        (!s.values_lists.is_empty(), "VALUES list"),
        (
            s.op > protobuf::SetOperation::SetopNone as i32 || s.larg.is_some(),
            "UNION / INTERSECT / EXCEPT",
        ),
    ];
    clauses
        .into_iter()
        .find(|(has, _)| *has)
        .map(|(_, name)| name)
}

/// The byte offset a target list entry starts at.
fn location(node: &protobuf::Node) -> Option<usize> {
    match node.node.as_ref()? {
        NodeEnum::ResTarget(t) => usize::try_from(t.location).ok(),
        _ => None,
    }
}

/// An aggregate or window call in the expression, outside any subquery (serialized parse tree:
/// the walk does not enter a `SubLink`'s `subselect`, where aggregates are the query's own).
fn not_per_row(value: &Value) -> Option<&'static str> {
    match value {
        Value::Object(map) => {
            if let Some(Value::Object(call)) = map.get("FuncCall") {
                let set = |k: &str| match call.get(k) {
                    Some(Value::Bool(b)) => *b,
                    Some(Value::Array(a)) => !a.is_empty(),
                    Some(Value::Null) | None => false,
                    Some(_) => true,
                };
                if set("over") {
                    return Some("a window function (`OVER`)");
                }
                if [
                    "agg_star",
                    "agg_distinct",
                    "agg_order",
                    "agg_filter",
                    "agg_within_group",
                ]
                .iter()
                .any(|k| set(k))
                {
                    return Some("an aggregate");
                }
            }
            map.iter()
                .filter(|(k, _)| k.as_str() != "subselect")
                .find_map(|(_, v)| not_per_row(v))
        }
        Value::Array(items) => items.iter().find_map(not_per_row),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::check;

    fn refused(expr: &str) -> String {
        match check("backfill", expr) {
            Err(r) => r.message,
            Ok(()) => panic!("`{expr}` was accepted"),
        }
    }

    #[test]
    fn one_expression_is_accepted() {
        for ok in [
            "0",
            "lower(email) || 'x'",
            "(SELECT max(x) FROM other o WHERE o.id = id)",
            "EXISTS (SELECT 1 FROM other)",
            "$$a;b -- c$$",
            "CASE WHEN a > 0 THEN 'p' ELSE 'n' END",
            "a[1]",
            "'x'::text COLLATE \"C\"",
            "coalesce(a, 0) + 1",
        ] {
            assert_eq!(check("backfill", ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn anything_that_escapes_the_expression_is_refused() {
        assert!(refused("0, a = 42").contains("2 expressions"));
        assert!(refused("0 -- note").contains("comment"));
        assert!(refused("0 /* note */").contains("comment"));
        assert!(refused("0 FROM x").contains("FROM clause"));
        assert!(refused("0 WHERE false").contains("WHERE clause"));
        assert!(refused("0; DROP TABLE t").contains("`;`"));
        assert!(refused("0) , a = (42").contains("closes a parenthesis"));
        assert!(refused("0 UNION SELECT 1").contains("UNION"));
        assert!(refused("0 AS x").contains("AS x"));
        assert!(refused("*").contains("`*`"));
        assert!(refused("ALL 0").contains("ALL"));
        assert!(refused("DISTINCT 0").contains("DISTINCT"));
        assert!(refused("0 INTO x").contains("INTO"));
        assert!(refused("0 x").contains("AS x"));
        assert!(refused("count(*)").contains("aggregate"));
        assert!(refused("sum(x) FILTER (WHERE x > 0)").contains("aggregate"));
        assert!(refused("row_number() OVER ()").contains("window"));
        assert!(refused("'unterminated").contains("unterminated"));
        assert!(refused("lower(").contains("does not parse"));
    }
}
