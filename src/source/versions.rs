//! Syntax that older PostgreSQL servers lack: what in a statement needs PostgreSQL 18.
//!
//! Schema files are parsed with PostgreSQL 18's grammar (pg_query 18), so a file may use 18's
//! syntax and pass every check here, and then fail in a shadow database of an older major with
//! a bare `syntax error at or near "VIRTUAL"`. [`needs_newer`] names the 18-only parts of a
//! statement (with their positions), so that error can say what needs PostgreSQL 18
//! (`workflow::explain`). Only forms of the grammar are listed here: what 18 adds as behaviour
//! behind old syntax (NOT NULL constraints as catalog rows) loads on older majors too.

use pg_query::protobuf::{ConstrType, Constraint};
use pg_query::NodeEnum;

/// A part of a statement that needs a newer PostgreSQL major than some servers have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewerSyntax {
    /// What it is, for messages: `VIRTUAL generated column`.
    pub what: &'static str,
    /// The first major that accepts it.
    pub major: u32,
    /// 1-based line and character column in the statement text (the statement's first line is
    /// line 1).
    pub line: usize,
    pub col: usize,
}

/// The 18-only parts of statement `sql`, in statement order; empty when it does not parse or
/// has none.
pub fn needs_newer(sql: &str) -> Vec<NewerSyntax> {
    let Ok(parsed) = pg_query::parse(sql, pg_query::ParserOptions::DEFAULT) else {
        return Vec::new();
    };
    let mut out: Vec<(i32, &'static str)> = Vec::new();
    for raw in &parsed.protobuf.stmts {
        if let Some(node) = raw.stmt.as_ref().and_then(|n| n.node.as_ref()) {
            for c in constraints(node) {
                if let Some(what) = newer_constraint(c) {
                    out.push((c.location, what));
                }
            }
        }
    }
    out.sort_by_key(|(at, _)| *at);
    out.into_iter()
        .map(|(at, what)| {
            let (line, col) = line_col(sql, at.max(0) as usize);
            NewerSyntax {
                what,
                major: 18,
                line,
                col,
            }
        })
        .collect()
}

/// The constraints a statement declares: those of `CREATE TABLE` (and `CREATE FOREIGN TABLE`)
/// columns and table constraints, and of `ALTER TABLE ... ADD COLUMN / ADD CONSTRAINT`, the only
/// places where 18's new constraint syntax can be written.
fn constraints(node: &NodeEnum) -> Vec<&Constraint> {
    let mut out = Vec::new();
    match node {
        NodeEnum::CreateStmt(s) => {
            for e in &s.table_elts {
                element(e.node.as_ref(), &mut out);
            }
        }
        NodeEnum::CreateForeignTableStmt(s) => {
            for e in s.base_stmt.iter().flat_map(|b| &b.table_elts) {
                element(e.node.as_ref(), &mut out);
            }
        }
        NodeEnum::AlterTableStmt(s) => {
            for cmd in &s.cmds {
                if let Some(NodeEnum::AlterTableCmd(cmd)) = &cmd.node {
                    element(cmd.def.as_ref().and_then(|d| d.node.as_ref()), &mut out);
                }
            }
        }
        _ => {}
    }
    out
}

/// The constraints of one table element: a column's, or a table constraint.
fn element<'a>(node: Option<&'a NodeEnum>, out: &mut Vec<&'a Constraint>) {
    match node {
        Some(NodeEnum::ColumnDef(col)) => {
            for c in &col.constraints {
                if let Some(NodeEnum::Constraint(c)) = &c.node {
                    out.push(c);
                }
            }
        }
        Some(NodeEnum::Constraint(c)) => out.push(c),
        _ => {}
    }
}

/// What in constraint `c` needs PostgreSQL 18, if anything.
fn newer_constraint(c: &Constraint) -> Option<&'static str> {
    let contype = ConstrType::try_from(c.contype).unwrap_or(ConstrType::Undefined);
    let what = match contype {
        // `GENERATED ALWAYS AS (...) VIRTUAL`, and without a kind (VIRTUAL is 18's default;
        // the raw parse leaves the kind empty then). Only `STORED` is older.
        ConstrType::ConstrGenerated if c.generated_kind != "s" => "VIRTUAL generated column",
        ConstrType::ConstrAttrEnforced | ConstrType::ConstrAttrNotEnforced => {
            "ENFORCED / NOT ENFORCED constraint"
        }
        ConstrType::ConstrCheck | ConstrType::ConstrForeign if !c.is_enforced => {
            "ENFORCED / NOT ENFORCED constraint"
        }
        // `CONSTRAINT name NOT NULL col` as a table constraint (a column's `NOT NULL` has
        // no keys), and `NOT NULL ... NO INHERIT`.
        ConstrType::ConstrNotnull if !c.keys.is_empty() || c.is_no_inherit => {
            "NOT NULL table constraint"
        }
        ConstrType::ConstrPrimary | ConstrType::ConstrUnique if c.without_overlaps => {
            "WITHOUT OVERLAPS key"
        }
        ConstrType::ConstrForeign if c.fk_with_period || c.pk_with_period => "PERIOD foreign key",
        _ => return None,
    };
    Some(what)
}

/// 1-based line and character column of byte offset `at` in `sql`.
fn line_col(sql: &str, at: usize) -> (usize, usize) {
    let mut at = at.min(sql.len());
    while !sql.is_char_boundary(at) {
        at -= 1;
    }
    let before = &sql[..at];
    let line = before.matches('\n').count() + 1;
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, sql[start..at].chars().count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whats(sql: &str) -> Vec<&'static str> {
        needs_newer(sql).into_iter().map(|n| n.what).collect()
    }

    #[test]
    fn names_postgresql_18_syntax() {
        assert_eq!(
            whats("CREATE TABLE t (a int, b int GENERATED ALWAYS AS (a * 2) VIRTUAL)"),
            ["VIRTUAL generated column"]
        );
        assert_eq!(
            whats("CREATE TABLE t (a int, b int GENERATED ALWAYS AS (a * 2))"),
            ["VIRTUAL generated column"]
        );
        assert_eq!(
            whats("CREATE TABLE t (a int, CONSTRAINT c CHECK (a > 0) NOT ENFORCED)"),
            ["ENFORCED / NOT ENFORCED constraint"]
        );
        assert_eq!(
            whats("CREATE TABLE t (a int CHECK (a > 0) NOT ENFORCED)"),
            ["ENFORCED / NOT ENFORCED constraint"]
        );
        assert_eq!(
            whats("ALTER TABLE t ADD CONSTRAINT t_a_not_null NOT NULL a"),
            ["NOT NULL table constraint"]
        );
        let at =
            needs_newer("CREATE TABLE t (\n  a int,\n  b int GENERATED ALWAYS AS (a) VIRTUAL\n)");
        assert_eq!((at[0].line, at[0].col, at[0].major), (3, 9, 18));
    }

    #[test]
    fn older_syntax_needs_nothing() {
        for sql in [
            "CREATE TABLE t (a int NOT NULL, b int GENERATED ALWAYS AS (a * 2) STORED)",
            "CREATE TABLE t (a int CHECK (a > 0), b int REFERENCES u (id))",
            "ALTER TABLE t ADD CONSTRAINT c CHECK (a > 0) NOT VALID",
            "CREATE TABLE t (a int PRIMARY KEY, CONSTRAINT u UNIQUE (a))",
        ] {
            assert!(whats(sql).is_empty(), "{sql}: {:?}", whats(sql));
        }
    }
}
