//! Whether a plan's steps can run inside the proof's one transaction ([`transaction_safe`]),
//! decided from their SQL alone: what the proof in place (`workflow::prove`) asks before it
//! runs them on the desired database itself.

use crate::plan::{Step, TxMode};
use pg_query::NodeEnum;

/// Whether every step can run inside one transaction block, with the same effect there as in
/// a transaction of its own, for the proof in place: `Err` names the first step that cannot.
/// Decided from the steps, conservatively (a step it cannot parse is refused): a step that
/// runs alone, outside a transaction (`transaction: no`: the `CONCURRENTLY` forms, `ADD VALUE`), and any
/// statement that PostgreSQL refuses in a transaction block, that begins or ends a
/// transaction (it would commit the proof's changes, or end its transaction), or whose effect
/// differs inside one: `ALTER TYPE ... ADD VALUE` (the new value cannot be used before the
/// transaction commits), `VACUUM`, `REINDEX`, `CLUSTER`, database, tablespace, subscription
/// and system-wide statements, `DISCARD`, `LOAD`, `COPY`, `CHECKPOINT`.
pub(super) fn transaction_safe(steps: &[Step]) -> Result<(), String> {
    for s in steps {
        if s.transaction == TxMode::Alone {
            return Err(format!(
                "step `{}` runs outside a transaction block",
                s.summary
            ));
        }
        if let Some(why) = outside_transaction(&s.sql) {
            return Err(format!("step `{}`: {why}", s.summary));
        }
    }
    Ok(())
}

/// Why `sql` cannot run in the proof's transaction (see [`transaction_safe`]), if it cannot.
fn outside_transaction(sql: &str) -> Option<&'static str> {
    let Ok(parsed) = pg_query::parse(sql, pg_query::ParserOptions::DEFAULT) else {
        return Some("its SQL could not be parsed to tell whether it can run in a transaction");
    };
    let alone = "it cannot run, or does not do the same, inside a transaction block";
    for raw in &parsed.protobuf.stmts {
        let Some(node) = raw.stmt.as_ref().and_then(|n| n.node.as_ref()) else {
            continue;
        };
        let why = match node {
            NodeEnum::TransactionStmt(_) => Some("it begins or ends a transaction"),
            NodeEnum::IndexStmt(i) if i.concurrent => Some(alone),
            NodeEnum::DropStmt(d) if d.concurrent => Some(alone),
            NodeEnum::AlterEnumStmt(e) if e.old_val.is_empty() => Some(
                "ALTER TYPE ... ADD VALUE: the new value cannot be used before the transaction \
                 commits",
            ),
            NodeEnum::AlterTableStmt(a) if detaches_concurrently(a) => Some(alone),
            NodeEnum::ReindexStmt(_)
            | NodeEnum::VacuumStmt(_)
            | NodeEnum::ClusterStmt(_)
            | NodeEnum::CreatedbStmt(_)
            | NodeEnum::DropdbStmt(_)
            | NodeEnum::AlterDatabaseStmt(_)
            | NodeEnum::AlterDatabaseRefreshCollStmt(_)
            | NodeEnum::AlterSystemStmt(_)
            | NodeEnum::CreateTableSpaceStmt(_)
            | NodeEnum::DropTableSpaceStmt(_)
            | NodeEnum::AlterTableSpaceOptionsStmt(_)
            | NodeEnum::CreateSubscriptionStmt(_)
            | NodeEnum::AlterSubscriptionStmt(_)
            | NodeEnum::DropSubscriptionStmt(_)
            | NodeEnum::CheckPointStmt(_)
            | NodeEnum::DiscardStmt(_)
            | NodeEnum::LoadStmt(_)
            | NodeEnum::CopyStmt(_) => Some(alone),
            _ => None,
        };
        if why.is_some() {
            return why;
        }
    }
    None
}

/// `ALTER TABLE ... DETACH PARTITION ... CONCURRENTLY` (PostgreSQL 14+), which cannot run in
/// a transaction block.
fn detaches_concurrently(a: &pg_query::protobuf::AlterTableStmt) -> bool {
    a.cmds.iter().any(|cmd| {
        let Some(NodeEnum::AlterTableCmd(cmd)) = cmd.node.as_ref() else {
            return false;
        };
        matches!(
            cmd.def.as_ref().and_then(|d| d.node.as_ref()),
            Some(NodeEnum::PartitionCmd(p)) if p.concurrent
        )
    })
}
