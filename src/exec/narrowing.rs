//! The data check of a narrowing type change before its online machinery is installed.
//!
//! A type change that may change or lose values (`bigint -> integer`, a shorter `varchar`,
//! `numeric` precision down; `plan::kinds::convert::guarded`) done online installs a shadow
//! column of the new type and a trigger that assigns `NEW.<shadow> := NEW.<column>`; its
//! `<table>_<column>_schemaplan_lossless` guard is validated only after the backfill. The
//! forward plan's rows are checked at plan time (`workflow::lossy`), but an *inverse* (the
//! rollback of `integer -> bigint`) meets rows written since: with one value at 3e9 its backfill
//! failed, and the trigger stayed, failing every application write of a large value. So before
//! anything runs, `apply` counts, for each such change whose shadow column a step to run adds,
//! the rows whose value would not convert back unchanged or cannot be converted at all, and
//! refuses with the count and a query that lists them; nothing is installed or recorded.
//!
//! The change is read from the plan's own steps: the guard step (`ADD CONSTRAINT
//! <..._schemaplan_lossless> CHECK (<cond on the shadow column>) NOT VALID`) and the backfill
//! (`UPDATE t SET <shadow> = ... WHERE <shadow> IS DISTINCT FROM <conversion of the column>`):
//! the guard's condition with the shadow column replaced by the conversion is what every row
//! must satisfy. Lock mechanics: read-only scans (ACCESS SHARE: blocks no reads or writes),
//! in batches of heap blocks (`count`); when a value makes the conversion fail (SQLSTATE class
//! 22: out of range, too long), a second read-only pass counts that batch row by row.

use super::run::full_error;
use super::ExecError;
use crate::plan::Plan;
use crate::render::quote;
use pg_query::protobuf::AlterTableType as T;
use pg_query::NodeEnum;
use postgres::Client;

/// One narrowing change to check: the rows of `table` must satisfy `cond`.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Narrowing {
    /// The step that installs the shadow column (first to run of the strategy).
    step: usize,
    table: String,
    column: String,
    /// The shadow column's type (what the values must fit).
    to: String,
    cond: String,
    /// The guard constraint, which would refuse the rows only after the backfill.
    guard: String,
}

/// `(table, constraint, the CHECK's text "(...)")` of a `..._schemaplan_lossless` guard added
/// NOT VALID by `sql`.
fn guard_of(sql: &str) -> Option<(String, String, String)> {
    for statement in pg_query::split_with_parser(sql).ok()? {
        let parsed = pg_query::parse(statement, pg_query::ParserOptions::DEFAULT).ok()?;
        let Some(NodeEnum::AlterTableStmt(alter)) = parsed
            .protobuf
            .stmts
            .first()
            .and_then(|s| s.stmt.as_ref())
            .and_then(|s| s.node.as_ref())
        else {
            continue;
        };
        let rel = alter.relation.as_ref()?;
        for cmd in &alter.cmds {
            let Some(NodeEnum::AlterTableCmd(cmd)) = cmd.node.as_ref() else {
                continue;
            };
            if cmd.subtype != T::AtAddConstraint as i32 {
                continue;
            }
            let Some(NodeEnum::Constraint(c)) = cmd.def.as_ref().and_then(|d| d.node.as_ref())
            else {
                continue;
            };
            if !c.conname.ends_with("_schemaplan_lossless") || !c.skip_validation {
                continue;
            }
            let text = statement.trim().trim_end_matches(';');
            let check = text.split_once(" CHECK ")?.1.strip_suffix(" NOT VALID")?;
            return Some((table_name(rel), c.conname.clone(), check.to_string()));
        }
    }
    None
}

fn table_name(rel: &pg_query::protobuf::RangeVar) -> String {
    if rel.schemaname.is_empty() {
        quote::ident(&rel.relname)
    } else {
        format!(
            "{}.{}",
            quote::ident(&rel.schemaname),
            quote::ident(&rel.relname)
        )
    }
}

/// `(old, new)` names of the tables `sql` renames (`ALTER TABLE old RENAME TO new`, as a
/// declared table rename's step writes it), quoted like [`table_name`].
fn table_renames(sql: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for statement in pg_query::split_with_parser(sql).unwrap_or_default() {
        let Ok(parsed) = pg_query::parse(statement, pg_query::ParserOptions::DEFAULT) else {
            continue;
        };
        let Some(NodeEnum::RenameStmt(r)) = parsed
            .protobuf
            .stmts
            .first()
            .and_then(|s| s.stmt.as_ref())
            .and_then(|s| s.node.as_ref())
        else {
            continue;
        };
        if r.rename_type != pg_query::protobuf::ObjectType::ObjectTable as i32 {
            continue;
        }
        let Some(rel) = r.relation.as_ref() else {
            continue;
        };
        let new = pg_query::protobuf::RangeVar {
            relname: r.newname.clone(),
            ..rel.clone()
        };
        out.push((table_name(rel), table_name(&new)));
    }
    out
}

/// `(table, new, old)` of the column rename `sql` starts, if it is a declared column rename's
/// first step (`ALTER TABLE t ADD COLUMN new ...` and the sync trigger's
/// `IF NEW.new IS NULL THEN NEW.new := NEW.old;`), names as the plan writes them.
fn column_rename(sql: &str) -> Option<(String, String, String)> {
    let (new, old) = sql.lines().find_map(|l| {
        let rest = l.trim().strip_prefix("IF NEW.")?;
        let (new, rest) = rest.split_once(" IS NULL THEN NEW.")?;
        let (_, rest) = rest.split_once(" := NEW.")?;
        let (old, _) = rest.split_once(';')?;
        Some((new.to_string(), old.to_string()))
    })?;
    let first = sql.lines().next()?.strip_prefix("ALTER TABLE ")?;
    let (table, _) = first.split_once(&format!(" ADD COLUMN {new} "))?;
    Some((table.to_string(), new, old))
}

/// `text` with the identifier `from` replaced by `to` where it stands as a whole token.
fn replace_ident(text: &str, from: &str, to: &str) -> String {
    let part = |c: char| c.is_alphanumeric() || c == '_' || c == '$' || c == '"';
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find(from) {
        let before = rest[..i].chars().next_back();
        let after = rest[i + from.len()..].chars().next();
        out.push_str(&rest[..i]);
        if before.is_some_and(part) || after.is_some_and(part) {
            out.push_str(from);
        } else {
            out.push_str(to);
        }
        rest = &rest[i + from.len()..];
    }
    out.push_str(rest);
    out
}

/// The narrowing changes of `plan` whose shadow column a step in `to_run` adds. A table that
/// a step to run before it renames (a declared table rename in the same plan) is counted
/// under the name it has when the check runs, before anything.
fn narrowings(plan: &Plan, to_run: &[usize]) -> Vec<Narrowing> {
    let mut out = Vec::new();
    for (g, guard_step) in plan.steps.iter().enumerate() {
        let Some((table, guard, check)) = guard_of(&guard_step.sql) else {
            continue;
        };
        // The backfill before it: `UPDATE <table> SET <shadow> = ... WHERE <shadow> IS
        // DISTINCT FROM <conversion>;`
        let update_prefix = format!("UPDATE {table} SET ");
        let Some((shadow, conversion)) = plan.steps[..g].iter().rev().find_map(|s| {
            let rest = s.sql.trim().strip_prefix(&update_prefix)?;
            let (shadow, _) = rest.split_once(" = ")?;
            let (_, conversion) = rest.split_once(&format!(" WHERE {shadow} IS DISTINCT FROM "))?;
            Some((
                shadow.to_string(),
                conversion.trim_end_matches(';').to_string(),
            ))
        }) else {
            continue;
        };
        // The step adding the shadow column, and its type.
        let add_prefix = format!("ALTER TABLE {table} ADD COLUMN {shadow} ");
        let Some((step, to)) = plan.steps[..g].iter().enumerate().find_map(|(k, s)| {
            s.sql.lines().find_map(|l| {
                l.strip_prefix(&add_prefix)
                    .map(|ty| (k + 1, ty.trim_end_matches(';').to_string()))
            })
        }) else {
            continue;
        };
        if !to_run.contains(&step) {
            // Installed by an earlier run: the guard checks from there on.
            continue;
        }
        // `(<shadow>)::from IS NOT DISTINCT FROM <column>`: the column is the right side.
        let column = check
            .trim_start_matches('(')
            .trim_end_matches(')')
            .rsplit(" IS NOT DISTINCT FROM ")
            .next()
            .unwrap_or_default()
            .trim_start_matches('(')
            .trim_end_matches(")::text")
            .to_string();
        let mut cond = check.replace(&format!("({shadow})"), &format!("({conversion})"));
        // A column a declared column rename of the same run adds (renamed and narrowed by one
        // plan) does not exist yet when the check runs: its values are the old column's.
        let mut column = column;
        for k in to_run.iter().filter(|k| **k < step) {
            if let Some((t, new, old)) = column_rename(&plan.steps[k - 1].sql) {
                if t == table && column == new {
                    cond = replace_ident(&cond, &new, &old);
                    column = old;
                }
            }
        }
        let mut table = table;
        for k in to_run.iter().rev().filter(|k| **k < step) {
            for (old, new) in table_renames(&plan.steps[k - 1].sql).into_iter().rev() {
                if new == table {
                    table = old;
                }
            }
        }
        out.push(Narrowing {
            step,
            table,
            column,
            to,
            cond,
            guard,
        });
    }
    out
}

/// A query listing the rows whose value does not fit: by range or length where the type says
/// it, else the rows the conversion changes.
fn see_query(n: &Narrowing) -> String {
    let col = &n.column;
    let range = match n.to.as_str() {
        "smallint" => Some(("-32768", "32767")),
        "integer" => Some(("-2147483648", "2147483647")),
        _ => None,
    };
    if let Some((lo, hi)) = range {
        return format!(
            "SELECT * FROM {} WHERE {col} NOT BETWEEN {lo} AND {hi}",
            n.table
        );
    }
    let digits: String = n.to.chars().filter(char::is_ascii_digit).collect();
    if (n.to.starts_with("character varying(") || n.to.starts_with("character("))
        && !digits.is_empty()
    {
        return format!(
            "SELECT * FROM {} WHERE char_length({col}) > {digits}",
            n.table
        );
    }
    format!("SELECT * FROM {} WHERE NOT ({})", n.table, n.cond)
}

/// Refuses the run when rows do not fit a narrowing change a step to run would install.
/// `server_version` is `server_version_num`, as the caller read it when it connected.
pub fn check(
    client: &mut Client,
    plan: &Plan,
    to_run: &[usize],
    server_version: i32,
) -> Result<(), ExecError> {
    let tid_ranges = server_version >= 140000;
    let mut problems = Vec::new();
    for n in narrowings(plan, to_run) {
        let (changed, failed) =
            count(client, &n, tid_ranges).map_err(|e| ExecError::NarrowingCheck {
                plan_id: plan.id.clone(),
                error: format!("counting the rows of {} that fit {}: {e}", n.table, n.to),
            })?;
        if changed + failed == 0 {
            continue;
        }
        let rows = |k: i64| {
            if k == 1 {
                "1 row".to_string()
            } else {
                format!("{k} rows")
            }
        };
        let what = match (changed, failed) {
            (c, 0) => format!("{} would change (rounded, truncated)", rows(c)),
            (0, f) => format!("{} cannot be converted (out of range or too long)", rows(f)),
            (c, f) => format!(
                "{} would change and {} cannot be converted",
                rows(c),
                rows(f)
            ),
        };
        problems.push(format!(
            "step {} ({}): column {} of {} narrows to {}, and in {} {what} (its guard {} would \
             refuse them only after the backfill); see them: `{}`",
            n.step,
            plan.steps[n.step - 1].summary,
            n.column,
            n.table,
            n.to,
            n.table,
            quote::ident(&n.guard),
            see_query(&n)
        ));
    }
    if problems.is_empty() {
        return Ok(());
    }
    Err(ExecError::Narrowing {
        plan_id: plan.id.clone(),
        problems,
    })
}

/// Heap blocks per batch of the scan: ~80 MiB of table each, one short read-only query.
/// `$SCHEMAPLAN_NARROWING_BATCH_BLOCKS` sets another size (the tests use a few blocks to check
/// that batches cover the whole table).
const BATCH_BLOCKS: i64 = 10_000;

fn batch_blocks() -> i64 {
    std::env::var("SCHEMAPLAN_NARROWING_BATCH_BLOCKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&b: &i64| b > 0)
        .unwrap_or(BATCH_BLOCKS)
}

/// `(rows that would change, rows that cannot be converted)` in `n.table`; `tid_ranges`: the
/// server has TID range scans (14+).
///
/// Read in batches of [`BATCH_BLOCKS`] heap blocks (`ctid` ranges, a TID range scan on
/// PostgreSQL 14+), each its own read-only statement: no snapshot is held for the whole
/// table, so a long check holds back no vacuum, and each batch takes ACCESS SHARE only while
/// it runs. The table's size is read again after each batch, so pages a concurrent insert
/// adds are read too. PostgreSQL 13 has no TID range scan (each batch would read the whole
/// table): there the table is one batch. A batch whose conversion fails (SQLSTATE class 22:
/// out of range, too long) is counted again row by row.
fn count(client: &mut Client, n: &Narrowing, tid_ranges: bool) -> Result<(i64, i64), String> {
    let e = |e: postgres::Error| full_error(&e);
    let blocks_sql = format!(
        "SELECT pg_relation_size({}::regclass) / current_setting('block_size')::bigint",
        quote::literal(&n.table)
    );
    if !tid_ranges {
        return count_batch(client, n, "true");
    }
    let (mut changed, mut failed) = (0i64, 0i64);
    let batch = batch_blocks();
    let mut from = 0i64;
    // At least one batch (an empty table has 0 blocks), then while pages remain.
    loop {
        let to = from + batch;
        let range = format!("ctid >= '({from},0)'::tid AND ctid < '({to},0)'::tid");
        let (c, f) = count_batch(client, n, &range)?;
        changed += c;
        failed += f;
        from = to;
        let blocks: i64 = client.query_one(&blocks_sql, &[]).map_err(e)?.get(0);
        if from >= blocks {
            break;
        }
    }
    Ok((changed, failed))
}

/// The counts of one batch (`range`: a condition on `ctid`): one read-only statement, and
/// only when a value makes the conversion fail, a second pass row by row.
fn count_batch(client: &mut Client, n: &Narrowing, range: &str) -> Result<(i64, i64), String> {
    let mut tx = client
        .build_transaction()
        .read_only(true)
        .start()
        .map_err(|e| full_error(&e))?;
    tx.batch_execute("SET LOCAL statement_timeout TO '4h'")
        .map_err(|e| full_error(&e))?;
    match tx.query_one(
        &format!(
            "SELECT count(*) FROM {} WHERE {range} AND NOT ({})",
            n.table, n.cond
        ),
        &[],
    ) {
        Ok(row) => return Ok((row.get(0), 0)),
        Err(e) if e.code().is_some_and(|s| s.code().starts_with("22")) => {}
        Err(e) => return Err(full_error(&e)),
    }
    drop(tx);
    let mut tx = client
        .build_transaction()
        .read_only(true)
        .start()
        .map_err(|e| full_error(&e))?;
    let exact = format!(
        "SET LOCAL statement_timeout TO '4h';\n\
         DO $schemaplan$\n\
         DECLARE\n  r record;\n  changed bigint := 0;\n  failed bigint := 0;\n\
         BEGIN\n\
         \x20 FOR r IN SELECT ctid AS at FROM {table} WHERE {range} LOOP\n\
         \x20   BEGIN\n\
         \x20     PERFORM 1 FROM {table} WHERE ctid = r.at AND NOT ({cond});\n\
         \x20     IF FOUND THEN changed := changed + 1; END IF;\n\
         \x20   EXCEPTION WHEN data_exception THEN failed := failed + 1;\n\
         \x20   END;\n\
         \x20 END LOOP;\n\
         \x20 PERFORM set_config('schemaplan.changed', changed::text, true),\n\
         \x20         set_config('schemaplan.failed', failed::text, true);\n\
         END\n$schemaplan$;",
        table = n.table,
        cond = n.cond,
    );
    tx.batch_execute(&exact).map_err(|e| full_error(&e))?;
    let row = tx
        .query_one(
            "SELECT current_setting('schemaplan.changed')::bigint, \
                    current_setting('schemaplan.failed')::bigint",
            &[],
        )
        .map_err(|e| full_error(&e))?;
    Ok((row.get(0), row.get(1)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Direction, LockLevel, Phase, Step, TxMode};

    fn step(sql: &str) -> Step {
        Step {
            summary: "s".into(),
            sql: sql.into(),
            phase: Phase::Expand,
            transaction: TxMode::Transaction,
            lock: LockLevel::AccessExclusive,
            lock_target: None,
            lock_timeout: None,
            statement_timeout: None,
            hazards: vec![],
            notes: vec![],
        }
    }

    #[test]
    fn reads_the_narrowing_from_the_shadow_backfill_and_guard_steps() {
        let plan = Plan {
            id: "p".into(),
            version: String::new(),
            direction: Direction::Inverse,
            from: String::new(),
            to: String::new(),
            steps: vec![
                step("ALTER TABLE public.orders ADD COLUMN amount_schemaplan_new integer;\nCREATE FUNCTION public.f() RETURNS trigger LANGUAGE plpgsql AS $x$BEGIN RETURN NEW; END$x$;"),
                step("UPDATE public.orders SET amount_schemaplan_new = amount WHERE amount_schemaplan_new IS DISTINCT FROM (amount)::integer;"),
                step("ALTER TABLE public.orders ADD CONSTRAINT orders_amount_schemaplan_lossless CHECK ((amount_schemaplan_new)::bigint IS NOT DISTINCT FROM amount) NOT VALID;"),
            ],
            from_objects: Default::default(),
            unproven: None,
            scope: Default::default(),
        };
        let n = narrowings(&plan, &[1, 2, 3]);
        assert_eq!(
            n,
            [Narrowing {
                step: 1,
                table: "public.orders".into(),
                column: "amount".into(),
                to: "integer".into(),
                cond: "(((amount)::integer)::bigint IS NOT DISTINCT FROM amount)".into(),
                guard: "orders_amount_schemaplan_lossless".into(),
            }]
        );
        assert_eq!(
            see_query(&n[0]),
            "SELECT * FROM public.orders WHERE amount NOT BETWEEN -2147483648 AND 2147483647"
        );
        assert!(narrowings(&plan, &[2, 3]).is_empty(), "installed already");
    }

    /// A table renamed by an earlier step of the same run is counted under its old name (the
    /// check runs before any step); one renamed by a step already done, under the new one.
    #[test]
    fn counts_a_table_renamed_by_the_same_run_under_its_old_name() {
        let plan = Plan {
            id: "p".into(),
            version: String::new(),
            direction: Direction::Forward,
            from: String::new(),
            to: String::new(),
            steps: vec![
                step("ALTER TABLE public.orders RENAME TO purchases;
CREATE VIEW public.orders AS SELECT id, amount FROM public.purchases;"),
                step("ALTER TABLE public.purchases ADD COLUMN amount_schemaplan_new integer;"),
                step("UPDATE public.purchases SET amount_schemaplan_new = amount WHERE amount_schemaplan_new IS DISTINCT FROM (amount)::integer;"),
                step("ALTER TABLE public.purchases ADD CONSTRAINT purchases_amount_schemaplan_lossless CHECK ((amount_schemaplan_new)::bigint IS NOT DISTINCT FROM amount) NOT VALID;"),
            ],
            from_objects: Default::default(),
            unproven: None,
            scope: Default::default(),
        };
        let all = narrowings(&plan, &[1, 2, 3, 4]);
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].table, "public.orders");
        assert_eq!(
            see_query(&all[0]),
            "SELECT * FROM public.orders WHERE amount NOT BETWEEN -2147483648 AND 2147483647"
        );
        let resumed = narrowings(&plan, &[2, 3, 4]);
        assert_eq!(resumed[0].table, "public.purchases");
    }

    /// A column renamed and narrowed by one plan: the check reads the old column, which holds
    /// the values while the new one does not exist yet.
    #[test]
    fn counts_a_column_renamed_by_the_same_run_under_its_old_name() {
        let plan = Plan {
            id: "p".into(),
            version: String::new(),
            direction: Direction::Forward,
            from: String::new(),
            to: String::new(),
            steps: vec![
                step("ALTER TABLE public.ledger ADD COLUMN total bigint;\nCREATE FUNCTION public.f() RETURNS trigger LANGUAGE plpgsql AS $schemaplan$\nBEGIN\n  IF TG_OP = 'INSERT' THEN\n    IF NEW.total IS NULL THEN NEW.total := NEW.amount; ELSE NEW.amount := NEW.total; END IF;\n  END IF;\n  RETURN NEW;\nEND\n$schemaplan$;"),
                step("ALTER TABLE public.ledger ADD COLUMN total_schemaplan_new integer;"),
                step("UPDATE public.ledger SET total_schemaplan_new = total WHERE total_schemaplan_new IS DISTINCT FROM (total)::integer;"),
                step("ALTER TABLE public.ledger ADD CONSTRAINT ledger_total_schemaplan_lossless CHECK ((total_schemaplan_new)::bigint IS NOT DISTINCT FROM total) NOT VALID;"),
            ],
            from_objects: Default::default(),
            unproven: None,
            scope: Default::default(),
        };
        let all = narrowings(&plan, &[1, 2, 3, 4]);
        assert_eq!(all[0].column, "amount");
        assert_eq!(
            all[0].cond,
            "(((amount)::integer)::bigint IS NOT DISTINCT FROM amount)"
        );
        assert_eq!(narrowings(&plan, &[2, 3, 4])[0].column, "total");
        assert_eq!(
            replace_ident("subtotal + total", "total", "x"),
            "subtotal + x"
        );
    }
}
