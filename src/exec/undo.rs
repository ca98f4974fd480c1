//! What a failed validation leaves behind is taken back, so a failed apply never leaves the
//! database stuck half-way.
//!
//! Plans add a CHECK or FOREIGN KEY (and on PostgreSQL 18 a NOT NULL) to a table with rows in
//! two steps: `ADD CONSTRAINT c ... NOT VALID` (a brief lock, no scan; from then on new writes
//! are checked) and, later, `VALIDATE CONSTRAINT c` (a scan that does not block writes). When
//! the validation fails because rows violate the constraint (SQLSTATE 23514, 23503, or 23502
//! for a NOT NULL), `c` stays behind NOT VALID:
//! the schema is then neither the plan's `from` nor its `to`, `rollback` refuses it, and the
//! application's writes are already held to the new rule. So after such a failure the executor
//! drops `c` again (what the plan's own `ADD ... NOT VALID` step added, nothing else) and marks
//! that step undone in the journal: the next `apply` runs it again before the validation, and
//! if it was the only step done, the database is at the plan's `from` again (and `rollback`
//! has nothing to do). The failure message says how many rows violate the constraint and how
//! to see them.
//!
//! Lock mechanics: `ALTER TABLE ... DROP CONSTRAINT` takes ACCESS EXCLUSIVE on the table (a
//! CHECK) or SHARE ROW EXCLUSIVE on both tables (a foreign key) for a catalog change; it runs
//! with the lock_timeout of the step that added the constraint and is retried a few times on a
//! lock timeout. If it still cannot get the lock, the constraint stays and the message says so.

use super::run::{full_error, sqlstate};
use crate::plan::step::pg_duration;
use crate::plan::{Plan, Step};
use crate::render::quote;
use pg_query::NodeEnum;
use postgres::Client;
use std::collections::BTreeSet;
use std::time::Duration;

/// What was taken back after a failed validation.
pub struct Undone {
    /// The step that had added the constraint NOT VALID (now not done).
    pub add_step: usize,
    /// What to tell the user: the violating rows, what was dropped, what to do next.
    pub message: String,
}

/// What a step does to a constraint.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Action {
    /// `ALTER TABLE <t> VALIDATE CONSTRAINT <c>`
    Validate,
    /// `ALTER TABLE <t> ADD CONSTRAINT <c> ... NOT VALID`
    AddNotValid,
    /// `ALTER TABLE <t> DROP CONSTRAINT <c>`
    Drop,
}

/// `(table as written, constraint)` of the step's first `ALTER TABLE` command doing `action`.
fn constraint_of(sql: &str, action: Action) -> Option<(String, String)> {
    let parsed = pg_query::parse(sql, pg_query::ParserOptions::DEFAULT).ok()?;
    for raw in &parsed.protobuf.stmts {
        let Some(NodeEnum::AlterTableStmt(alter)) = raw.stmt.as_ref().and_then(|s| s.node.as_ref())
        else {
            continue;
        };
        let rel = alter.relation.as_ref()?;
        let table = if rel.schemaname.is_empty() {
            quote::ident(&rel.relname)
        } else {
            format!(
                "{}.{}",
                quote::ident(&rel.schemaname),
                quote::ident(&rel.relname)
            )
        };
        for cmd in &alter.cmds {
            let Some(NodeEnum::AlterTableCmd(cmd)) = cmd.node.as_ref() else {
                continue;
            };
            use pg_query::protobuf::AlterTableType as T;
            let is = |t: T| cmd.subtype == t as i32;
            if (action == Action::Validate && is(T::AtValidateConstraint))
                || (action == Action::Drop && is(T::AtDropConstraint))
            {
                return Some((table, cmd.name.clone()));
            }
            if action == Action::AddNotValid && is(T::AtAddConstraint) {
                if let Some(NodeEnum::Constraint(c)) =
                    cmd.def.as_ref().and_then(|d| d.node.as_ref())
                {
                    if c.skip_validation {
                        return Some((table, c.conname.clone()));
                    }
                }
            }
        }
    }
    None
}

/// After step `failed` failed with `error`: if it validated a constraint that an earlier,
/// done step of the plan added NOT VALID, and rows violate it, drop the constraint again.
/// `done` holds the steps the journal records as done. Errors of this clean-up are reported in
/// the message, never instead of the step's own failure.
pub fn after_failed_validation(
    client: &mut Client,
    plan: &Plan,
    failed: usize,
    error: &postgres::Error,
    done: &BTreeSet<usize>,
) -> Option<Undone> {
    if !matches!(
        sqlstate(error),
        Some("23514") | Some("23503") | Some("23502")
    ) {
        return None;
    }
    let target = constraint_of(&plan.steps[failed - 1].sql, Action::Validate)?;
    let (table, name) = target.clone();
    let step_does = |k: usize, action: Action| {
        constraint_of(&plan.steps[k - 1].sql, action).as_ref() == Some(&target)
    };
    let add_step = (1..failed)
        .rev()
        .find(|&k| done.contains(&k) && step_does(k, Action::AddNotValid))?;
    // A constraint of the same name that a done step dropped before (a changed foreign key is
    // dropped and added again) is not there to fall back on: the NOT VALID one stays, checking
    // new writes, rather than leaving the table with neither.
    if (1..add_step).any(|k| done.contains(&k) && step_does(k, Action::Drop)) {
        return None;
    }
    let add = &plan.steps[add_step - 1];
    let rows = violating_rows(client, &table, &name, &plan.steps[failed - 1]);
    let dropped = drop_constraint(client, &table, &name, add);
    let constraint = quote::ident(&name);
    let mut message = match &rows {
        Ok(Some((count, query))) => format!(
            "{count} row{} of {table} violate{} constraint {constraint}; see {}: `{query}`",
            if *count == 1 { "" } else { "s" },
            if *count == 1 { "s" } else { "" },
            if *count == 1 { "it" } else { "them" },
        ),
        Ok(None) => format!("rows of {table} violate constraint {constraint}"),
        Err(e) => {
            format!("rows of {table} violate constraint {constraint} (counting them failed: {e})")
        }
    };
    let others: Vec<String> = done
        .iter()
        .filter(|k| **k != add_step)
        .map(|k| k.to_string())
        .collect();
    let left = if others.is_empty() {
        "no step of the plan is left applied (`rollback` has nothing to undo)".to_string()
    } else {
        format!("steps {} stay applied", others.join(", "))
    };
    match dropped {
        Ok(()) => message.push_str(&format!(
            ".\n{constraint}, which step {add_step} had added NOT VALID, was dropped again and \
             step {add_step} counts as not done: the table's constraints are as they were \
             before step {add_step}; {left}.\nnext: fix those rows and apply again (it resumes \
             at step {add_step}); or change the schema and plan again"
        )),
        Err(e) => message.push_str(&format!(
            ".\n{constraint} (added NOT VALID by step {add_step}) could not be dropped again \
             ({e}); it still checks new writes.\nnext: fix those rows and apply again (it \
             resumes at step {failed}); or drop it by hand: ALTER TABLE {table} DROP \
             CONSTRAINT {constraint}"
        )),
    }
    Some(Undone { add_step, message })
}

/// How many rows violate the CHECK (or the NOT NULL constraint, PostgreSQL 18: the rows whose
/// column is NULL), and the query that lists them (`None` for a foreign key: its violations
/// are the rows without a referenced row, which the error's detail names).
fn violating_rows(
    client: &mut Client,
    table: &str,
    name: &str,
    validate: &Step,
) -> Result<Option<(i64, String)>, String> {
    let row = client
        .query_opt(
            "SELECT CASE contype WHEN 'c' THEN pg_get_expr(conbin, conrelid) \
                    ELSE pg_catalog.quote_ident(a.attname) || ' IS NOT NULL' END \
             FROM pg_catalog.pg_constraint \
             LEFT JOIN pg_catalog.pg_attribute a \
               ON a.attrelid = conrelid AND a.attnum = conkey[1] AND contype = 'n' \
             WHERE conrelid = $1::text::regclass AND conname = $2 AND contype IN ('c', 'n')",
            &[&table, &name],
        )
        .map_err(|e| full_error(&e))?;
    let Some(row) = row else {
        return Ok(None);
    };
    let expr: String = row.get(0);
    let query = format!("SELECT * FROM {table} WHERE NOT ({expr})");
    // The count scans the table like the validation did: under the validation's timeout.
    let timeout = validate
        .statement_timeout
        .map_or("DEFAULT".to_string(), |t| quote::literal(&pg_duration(t.0)));
    let mut tx = client.transaction().map_err(|e| full_error(&e))?;
    tx.batch_execute(&format!("SET LOCAL statement_timeout TO {timeout}"))
        .map_err(|e| full_error(&e))?;
    let count: i64 = tx
        .query_one(
            &format!("SELECT count(*) FROM {table} WHERE NOT ({expr})"),
            &[],
        )
        .map_err(|e| full_error(&e))?
        .get(0);
    tx.commit().map_err(|e| full_error(&e))?;
    Ok(Some((count, query)))
}

/// `ALTER TABLE <table> DROP CONSTRAINT IF EXISTS <name>` under the adding step's
/// lock_timeout, retried a few times on a lock timeout.
fn drop_constraint(client: &mut Client, table: &str, name: &str, add: &Step) -> Result<(), String> {
    let timeout = add
        .lock_timeout
        .map_or("DEFAULT".to_string(), |t| quote::literal(&pg_duration(t.0)));
    let sql = format!(
        "SET LOCAL lock_timeout TO {timeout}; ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {}",
        quote::ident(name)
    );
    let mut last = String::new();
    for attempt in 0..8u32 {
        let result = client.transaction().and_then(|mut tx| {
            tx.batch_execute(&sql)?;
            tx.commit()
        });
        match result {
            Ok(()) => return Ok(()),
            Err(e) if sqlstate(&e) == Some("55P03") => {
                last = full_error(&e);
                std::thread::sleep(Duration::from_millis(200) * 2u32.pow(attempt.min(4)));
            }
            Err(e) => return Err(full_error(&e)),
        }
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use super::{constraint_of, Action};

    #[test]
    fn finds_the_validated_and_the_added_constraint() {
        let v = "UPDATE public.t SET b = 1 WHERE b IS NULL;\nALTER TABLE public.t VALIDATE CONSTRAINT \"T_b\";";
        assert_eq!(
            constraint_of(v, Action::Validate),
            Some(("public.t".into(), "T_b".into()))
        );
        let a = "ALTER TABLE public.t ADD CONSTRAINT \"T_b\" CHECK (b IS NOT NULL) NOT VALID;";
        assert_eq!(
            constraint_of(a, Action::AddNotValid),
            Some(("public.t".into(), "T_b".into()))
        );
        // PostgreSQL 18's NOT NULL added NOT VALID (the online SET NOT NULL there)
        let nn = "ALTER TABLE public.t ADD CONSTRAINT t_b_not_null NOT NULL b NOT VALID;";
        assert_eq!(
            constraint_of(nn, Action::AddNotValid),
            Some(("public.t".into(), "t_b_not_null".into()))
        );
        let plain = "ALTER TABLE public.t ADD CONSTRAINT c CHECK (b > 0);";
        assert_eq!(constraint_of(plain, Action::AddNotValid), None);
        let drop = "ALTER TABLE public.t DROP CONSTRAINT \"T_b\";";
        assert_eq!(
            constraint_of(drop, Action::Drop),
            Some(("public.t".into(), "T_b".into()))
        );
    }
}
