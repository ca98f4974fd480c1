//! New and changed CHECK constraints against the live rows: a plan whose validation would fail
//! is refused at plan time, with the count of violating rows and the query that lists them,
//! instead of failing at apply time (where `exec::undo` takes the NOT VALID constraint back).
//!
//! Each count is one read-only scan of the table (`SELECT count(*) FROM t WHERE NOT (expr)`,
//! ACCESS SHARE: it blocks no reads or writes) under a bounded `statement_timeout`; a count
//! that cannot be made (a column the plan adds or retypes, a timeout, an expression that
//! errors on the old rows) is skipped: the apply-time check remains.

use super::WorkflowError;
use crate::db;
use crate::diff::{Change, ColumnChange};
use crate::model::{Constraint, ConstraintKind, QName};
use crate::render::quote::{self, qname};

/// The longest a plan waits for one count.
const COUNT_TIMEOUT: &str = "60s";

/// Refuses the plan when live rows violate a CHECK it adds or changes on an existing table.
pub fn check(db_url: &str, changes: &[Change]) -> Result<(), WorkflowError> {
    let checked: Vec<(&QName, &Constraint)> = changes
        .iter()
        .filter_map(|c| match c {
            Change::AddConstraint { table, constraint } => Some((table, constraint)),
            Change::ReplaceCheck { table, to, .. } => Some((table, to)),
            _ => None,
        })
        .filter(|(t, c)| {
            c.kind == ConstraintKind::Check && c.validated && !reads_changed_columns(changes, t, c)
        })
        .collect();
    if checked.is_empty() {
        return Ok(());
    }
    let mut client = db::connect(db_url)?;
    let mut problems = Vec::new();
    for (table, c) in checked {
        let Some(expr) = expression(&c.definition) else {
            continue;
        };
        let sql = format!("SELECT count(*) FROM {} WHERE NOT ({expr})", qname(table));
        let count = client.transaction().and_then(|mut tx| {
            tx.batch_execute(&format!(
                "SET TRANSACTION READ ONLY; SET LOCAL statement_timeout = {}",
                quote::literal(COUNT_TIMEOUT)
            ))?;
            let n: i64 = tx.query_one(&sql, &[])?.get(0);
            tx.rollback()?;
            Ok(n)
        });
        // A count that failed is skipped (see the module's comment).
        if let Ok(n @ 1..) = count {
            problems.push(format!(
                "constraint {} on {table}: {n} row{} violate{} {}; see {}: `SELECT * FROM {} \
                 WHERE NOT ({expr})`\n  fix: correct those rows (then plan again), or change the \
                 CHECK",
                c.name,
                if n == 1 { "" } else { "s" },
                if n == 1 { "s" } else { "" },
                c.definition,
                if n == 1 { "it" } else { "them" },
                qname(table),
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(WorkflowError::Violated(problems.join("\n")))
    }
}

/// `expr` of `CHECK (expr)` as PostgreSQL prints it (with a ` NO INHERIT` / ` NOT VALID` tail).
fn expression(definition: &str) -> Option<&str> {
    let rest = definition.strip_prefix("CHECK (")?;
    let rest = rest.strip_suffix(" NOT VALID").unwrap_or(rest);
    let rest = rest.strip_suffix(" NO INHERIT").unwrap_or(rest);
    rest.strip_suffix(')')
}

/// Whether the plan changes the type of a column the CHECK reads: its expression evaluated on
/// the old values says nothing.
fn reads_changed_columns(changes: &[Change], t: &QName, c: &Constraint) -> bool {
    changes.iter().any(|ch| match ch {
        Change::AlterColumn {
            table, to, kinds, ..
        } => {
            table == t
                && kinds.contains(&ColumnChange::Type)
                && c.columns.iter().any(|k| *k == to.name)
        }
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use super::expression;

    #[test]
    fn takes_the_expression_out_of_the_definition() {
        assert_eq!(
            expression("CHECK (((price > (0)::numeric) AND (price < (9)::numeric)))"),
            Some("((price > (0)::numeric) AND (price < (9)::numeric))")
        );
        assert_eq!(expression("CHECK ((a > 0)) NO INHERIT"), Some("(a > 0)"));
        assert_eq!(expression("FOREIGN KEY (a) REFERENCES t(id)"), None);
    }
}
