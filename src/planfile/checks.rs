//! What a step's SQL may contain, checked when the file is read (so a bad hand edit is caught at
//! review or dry-run time, not after half the plan ran): it must parse (pg_query, the server's
//! grammar); no step may contain transaction control (the executor owns transactions and the
//! journal rides in them); a `transaction: yes` step may not contain a statement PostgreSQL
//! refuses inside a transaction block; and a `transaction: batched` step is exactly one
//! `UPDATE ... WHERE <pending>` (`batched`).

use crate::plan::{Step, TxMode};
use pg_query::NodeEnum;

/// `Err(message)` when the step's SQL breaks a rule, or its header says less than the SQL
/// does (`honesty`, on the same parse). `created`: relations earlier steps of the file create.
pub fn check_step(
    step: &Step,
    number: usize,
    created: &mut super::honesty::Created,
) -> Result<(), String> {
    let parsed = pg_query::parse(&step.sql, pg_query::ParserOptions::DEFAULT)
        .map_err(|e| format!("step {number}: the SQL does not parse: {e}"))?;
    if step.transaction == TxMode::Batched {
        super::batched::parse(&step.sql).map_err(|m| format!("step {number}: {m}"))?;
    }
    for raw in &parsed.protobuf.stmts {
        let Some(node) = raw.stmt.as_ref().and_then(|s| s.node.as_ref()) else {
            continue;
        };
        if matches!(node, NodeEnum::TransactionStmt(_)) {
            return Err(format!(
                "step {number} contains transaction control (BEGIN, COMMIT, ROLLBACK, SAVEPOINT ...): \
                 apply manages transactions; remove it, and mark a step that must run outside a \
                 transaction `transaction: no`"
            ));
        }
        if let (TxMode::Transaction, Some(what)) =
            (step.transaction, outside_transaction_only(node))
        {
            return Err(format!(
                "step {number} is `transaction: yes` but {what} cannot run inside a transaction \
                 block: make it a step of its own with `transaction: no`"
            ));
        }
    }
    let statements = super::honesty::statement_nodes(&parsed);
    super::honesty::check_parsed(step, number, &statements, created)
}

/// Names a statement PostgreSQL refuses inside a transaction block.
fn outside_transaction_only(node: &NodeEnum) -> Option<&'static str> {
    match node {
        NodeEnum::IndexStmt(s) if s.concurrent => Some("CREATE INDEX CONCURRENTLY"),
        NodeEnum::DropStmt(s) if s.concurrent => Some("DROP INDEX CONCURRENTLY"),
        NodeEnum::ReindexStmt(s) if has_option(&s.params, "concurrently") => {
            Some("REINDEX CONCURRENTLY")
        }
        NodeEnum::VacuumStmt(s) if s.is_vacuumcmd => Some("VACUUM"),
        NodeEnum::CreatedbStmt(_) => Some("CREATE DATABASE"),
        NodeEnum::DropdbStmt(_) => Some("DROP DATABASE"),
        NodeEnum::AlterSystemStmt(_) => Some("ALTER SYSTEM"),
        NodeEnum::CreateTableSpaceStmt(_) => Some("CREATE TABLESPACE"),
        NodeEnum::DropTableSpaceStmt(_) => Some("DROP TABLESPACE"),
        NodeEnum::AlterTableStmt(s) if s.cmds.iter().any(detaches_concurrently) => {
            Some("DETACH PARTITION CONCURRENTLY")
        }
        _ => None,
    }
}

fn has_option(params: &[pg_query::protobuf::Node], name: &str) -> bool {
    params
        .iter()
        .any(|p| matches!(&p.node, Some(NodeEnum::DefElem(d)) if d.defname == name))
}

fn detaches_concurrently(cmd: &pg_query::protobuf::Node) -> bool {
    let Some(NodeEnum::AlterTableCmd(cmd)) = &cmd.node else {
        return false;
    };
    matches!(
        cmd.def.as_ref().and_then(|d| d.node.as_ref()),
        Some(NodeEnum::PartitionCmd(p)) if p.concurrent
    )
}
