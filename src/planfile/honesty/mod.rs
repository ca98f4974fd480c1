//! Whether a step's header tells the truth about its SQL. Each statement is parsed with
//! pg_query and its effects derived from the statement alone: the strongest table-level lock
//! it takes on a relation that existed before the plan ran, and whether it deletes or
//! overwrites rows. A step whose header says less than its statements do is refused when the
//! file is read (so by `apply`, `apply --dry-run`, `rollback` and `lint` alike), naming the
//! step, the statement and the difference: a hand-removed `CONCURRENTLY`, an added `DELETE`,
//! a `data-loss` label edited away. Hand edits that stay within what the header says pass.
//!
//! What is compared, and why only that:
//! - **Locks that block traffic.** A derived lock counts when it is SHARE or stronger (it
//!   blocks writes; ACCESS EXCLUSIVE blocks reads too) and stronger than the header's `lock:`:
//!   that is what a reviewer reads the header for. Weaker locks (SHARE UPDATE EXCLUSIVE for
//!   `VALIDATE`, a comment, a concurrent build) never queue application queries, so a header
//!   that rounds them down misleads nobody. Objects created earlier in the same plan file are
//!   not contended, so statements on them derive no lock.
//! - **Rows.** `TRUNCATE`, `DELETE`, `UPDATE` (outside a `transaction: batched` backfill, which
//!   `batched` checks on its own), `MERGE`, `INSERT ... ON CONFLICT DO UPDATE`, `DROP TABLE`,
//!   `DROP SEQUENCE`, `ALTER TABLE ... DROP COLUMN`, any `DROP ... CASCADE` and `CALL` need
//!   `data-loss` among the hazards (a column dropped in a rename's contract phase may say
//!   `requires-deploy` instead: its values live on in the new column). A plain `INSERT` adds
//!   rows and passes.
//! - **DO blocks** are read through PL/pgSQL's parser: their SQL statements are checked like
//!   the step's own, and `EXECUTE format('<template>', ...)` by its template. Dynamic SQL that
//!   cannot be read (`EXECUTE some_variable`) needs `lock: ACCESS EXCLUSIVE` and `data-loss`.
//!
//! Lock levels are PostgreSQL's (`AlterTableGetLockLevel` in tablecmds.c and the "Explicit
//! Locking" chapter). Where PostgreSQL takes a lock this module does not model (replacing a
//! view, a partition created under its parent), it derives nothing rather than guess high.

use crate::plan::{Hazard, LockLevel, Step, TxMode};
use pg_query::protobuf::{ObjectType, RangeVar};
use pg_query::NodeEnum;
use std::collections::HashSet;

mod plpgsql;
mod statements;
#[cfg(test)]
mod tests;

/// Relations (`schema.name` and bare `name`) created by earlier statements of the plan file.
#[derive(Default)]
pub struct Created(HashSet<String>);

impl Created {
    fn add(&mut self, rel: &RangeVar) {
        self.0.insert(rel.relname.clone());
        if !rel.schemaname.is_empty() {
            self.0.insert(format!("{}.{}", rel.schemaname, rel.relname));
        }
    }
    fn add_name(&mut self, schema: Option<&str>, name: &str) {
        self.0.insert(name.to_string());
        if let Some(s) = schema {
            self.0.insert(format!("{s}.{name}"));
        }
    }
    fn has(&self, rel: &RangeVar) -> bool {
        let key = if rel.schemaname.is_empty() {
            rel.relname.clone()
        } else {
            format!("{}.{}", rel.schemaname, rel.relname)
        };
        self.0.contains(&key)
    }
}

/// What a statement does that a header must own up to.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Effects {
    /// The strongest lock on a relation that existed before the plan, with what takes it.
    lock: Option<(LockLevel, String)>,
    /// Deletes or overwrites rows: what does.
    data_loss: Option<String>,
    /// The only loss is a column whose values a rename already copied (`requires-deploy` ok).
    rename_contract_ok: bool,
    /// SQL whose effects cannot be derived (dynamic SQL in a DO block).
    unreadable: Option<String>,
    /// Stops logical replication consumers (`DROP PUBLICATION`): what does.
    stops_replication: Option<String>,
}

impl Effects {
    fn lock(&mut self, level: LockLevel, what: impl Into<String>) {
        if self.lock.as_ref().is_none_or(|(l, _)| level > *l) {
            self.lock = Some((level, what.into()));
        }
    }
    /// A loss that only `data-loss` may declare (it also outweighs a rename's column drop).
    fn loses(&mut self, what: impl Into<String>) {
        if self.data_loss.is_none() || self.rename_contract_ok {
            self.data_loss = Some(what.into());
        }
        self.rename_contract_ok = false;
    }
    fn merge(&mut self, other: Effects) {
        if let Some((l, w)) = other.lock {
            self.lock(l, w);
        }
        if let Some(w) = other.data_loss {
            if !other.rename_contract_ok {
                self.loses(w);
            } else if self.data_loss.is_none() {
                self.data_loss = Some(w);
                self.rename_contract_ok = true;
            }
        }
        if self.unreadable.is_none() {
            self.unreadable = other.unreadable;
        }
        if self.stops_replication.is_none() {
            self.stops_replication = other.stops_replication;
        }
    }
}

/// `Err(message)` when the step's statements do more than its header says. `created`
/// carries the relations earlier steps of the same file created.
/// `statements` are the step's SQL as parsed once by the caller (`checks::check_step`).
pub fn check_parsed(
    step: &Step,
    number: usize,
    statements: &[&NodeEnum],
    created: &mut Created,
) -> Result<(), String> {
    let effects = node_effects(statements, step.transaction == TxMode::Batched, created);
    if let Some(what) = &effects.unreadable {
        if step.lock < LockLevel::AccessExclusive || !step.hazards.contains(&Hazard::DataLoss) {
            return Err(format!(
                "step {number}: {what} runs SQL schemaplan cannot read, so the header cannot \
                 vouch for it: such a step must say `lock: ACCESS EXCLUSIVE` and \
                 `hazards: data-loss` (or replace the dynamic SQL with plain statements)"
            ));
        }
    }
    if let Some((level, what)) = &effects.lock {
        if level.blocks_traffic() && *level > step.lock {
            let blocks = if *level == LockLevel::AccessExclusive {
                "blocks reads and writes"
            } else {
                "blocks writes"
            };
            return Err(format!(
                "step {number}: {what} takes {} ({blocks}) but the step's header says \
                 `lock: {}`: the header must say the strongest lock the step takes (was \
                 `CONCURRENTLY` removed?); restore the planned statement or re-plan",
                level.as_str(),
                step.lock.as_str()
            ));
        }
    }
    if let Some(what) = &effects.stops_replication {
        if !step.hazards.contains(&Hazard::Replication) {
            return Err(format!(
                "step {number}: {what} stops the subscriptions that read it but the step's \
                 hazards do not include `replication`, so `apply` would run it without \
                 `--allow-hazards`: add the hazard to the header (and have it reviewed) or \
                 remove the statement"
            ));
        }
    }
    if let Some(what) = &effects.data_loss {
        let declared = step.hazards.contains(&Hazard::DataLoss)
            || (effects.rename_contract_ok && step.hazards.contains(&Hazard::RequiresDeploy));
        if !declared {
            return Err(format!(
                "step {number}: {what} deletes or overwrites rows but the step's hazards do \
                 not include `data-loss`, so `apply` would run it without `--allow-hazards`: \
                 add the hazard to the header (and have it reviewed) or remove the statement"
            ));
        }
    }
    Ok(())
}

pub(super) fn sql_effects(
    sql: &str,
    batched: bool,
    created: &mut Created,
) -> Result<Effects, String> {
    let parsed = pg_query::parse(sql, pg_query::ParserOptions::DEFAULT)
        .map_err(|e| format!("the SQL does not parse: {e}"))?;
    Ok(node_effects(&statement_nodes(&parsed), batched, created))
}

/// The statements of a parse result, in order.
pub(super) fn statement_nodes(parsed: &pg_query::ParseResult) -> Vec<&NodeEnum> {
    parsed
        .protobuf
        .stmts
        .iter()
        .filter_map(|raw| raw.stmt.as_ref().and_then(|s| s.node.as_ref()))
        .collect()
}

fn node_effects(nodes: &[&NodeEnum], batched: bool, created: &mut Created) -> Effects {
    let swaps = column_swaps(nodes);
    let mut all = Effects::default();
    for node in nodes {
        all.merge(statements::statement(node, batched, created, &swaps));
    }
    all
}

/// [`check_parsed`] on the step's own SQL (the unit tests' entry).
#[cfg(test)]
pub fn check_step(step: &Step, number: usize, created: &mut Created) -> Result<(), String> {
    let parsed = pg_query::parse(&step.sql, pg_query::ParserOptions::DEFAULT)
        .map_err(|e| format!("step {number}: {e}"))?;
    check_parsed(step, number, &statement_nodes(&parsed), created)
}

/// `(table, column)` pairs some statement renames a column *to*: dropping that column in the
/// same step is a swap (the online retype's `DROP COLUMN c` then `RENAME COLUMN c_new TO c`),
/// whose values live on under the old name.
fn column_swaps(nodes: &[&NodeEnum]) -> HashSet<(String, String)> {
    nodes
        .iter()
        .filter_map(|n| match n {
            NodeEnum::RenameStmt(r) if r.rename_type == ObjectType::ObjectColumn as i32 => r
                .relation
                .as_ref()
                .map(|rel| (qname(rel), r.newname.clone())),
            _ => None,
        })
        .collect()
}

pub(super) fn qname(rel: &RangeVar) -> String {
    if rel.schemaname.is_empty() {
        rel.relname.clone()
    } else {
        format!("{}.{}", rel.schemaname, rel.relname)
    }
}
