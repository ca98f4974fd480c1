//! The effects of one SQL statement (pg_query's parse tree): the lock PostgreSQL takes for it on
//! a relation that existed before the plan, and whether it deletes or overwrites rows. Lock
//! levels follow PostgreSQL 13-18 (`AlterTableGetLockLevel` in tablecmds.c, the "Explicit
//! Locking" chapter of the manual).

use super::{qname, Created, Effects};
use crate::plan::LockLevel;
use pg_query::protobuf::{
    AlterTableType, ConstrType, DropBehavior, ObjectType, OnConflictAction, RangeVar,
};
use pg_query::{protobuf::Node, NodeEnum};
use std::collections::HashSet;

/// Locks `level` on `rel` unless the plan created it.
fn on(e: &mut Effects, created: &Created, rel: Option<&RangeVar>, level: LockLevel, what: &str) {
    if let Some(rel) = rel {
        if !created.has(rel) {
            e.lock(level, format!("{what} {}", qname(rel)));
        }
    }
}

pub(super) fn statement(
    node: &NodeEnum,
    batched: bool,
    created: &mut Created,
    swaps: &HashSet<(String, String)>,
) -> Effects {
    use LockLevel::*;
    let mut e = Effects::default();
    match node {
        NodeEnum::CreateStmt(s) => {
            if let Some(r) = &s.relation {
                created.add(r);
            }
        }
        NodeEnum::CreateForeignTableStmt(s) => {
            if let Some(r) = s.base_stmt.as_ref().and_then(|b| b.relation.as_ref()) {
                created.add(r);
            }
        }
        NodeEnum::CreateTableAsStmt(s) => {
            if let Some(r) = s.into.as_ref().and_then(|i| i.rel.as_ref()) {
                created.add(r);
            }
        }
        NodeEnum::ViewStmt(s) => {
            if let Some(r) = &s.view {
                if !s.replace {
                    created.add(r);
                }
            }
        }
        NodeEnum::CreateSeqStmt(s) => {
            if let Some(r) = &s.sequence {
                created.add(r);
            }
        }
        NodeEnum::IndexStmt(s) => {
            if let Some(table) = &s.relation {
                if !s.idxname.is_empty() {
                    let schema =
                        (!table.schemaname.is_empty()).then_some(table.schemaname.as_str());
                    created.add_name(schema, &s.idxname);
                }
            }
            let (level, what) = if s.concurrent {
                (ShareUpdateExclusive, "CREATE INDEX CONCURRENTLY on")
            } else {
                (Share, "CREATE INDEX (without CONCURRENTLY) on")
            };
            on(&mut e, created, s.relation.as_ref(), level, what);
        }
        NodeEnum::AlterTableStmt(s) => alter_table(s, created, swaps, &mut e),
        NodeEnum::RenameStmt(s) => {
            let index = s.rename_type == ObjectType::ObjectIndex as i32;
            let relation_kinds = [
                ObjectType::ObjectTable,
                ObjectType::ObjectColumn,
                ObjectType::ObjectTabconstraint,
                ObjectType::ObjectView,
                ObjectType::ObjectMatview,
                ObjectType::ObjectSequence,
                ObjectType::ObjectTrigger,
                ObjectType::ObjectPolicy,
                ObjectType::ObjectRule,
                ObjectType::ObjectForeignTable,
            ];
            if index {
                // Since PostgreSQL 12 an index rename takes SHARE UPDATE EXCLUSIVE.
                on(
                    &mut e,
                    created,
                    s.relation.as_ref(),
                    ShareUpdateExclusive,
                    "ALTER INDEX ... RENAME",
                );
            } else if relation_kinds.iter().any(|k| s.rename_type == *k as i32) {
                on(
                    &mut e,
                    created,
                    s.relation.as_ref(),
                    AccessExclusive,
                    "RENAME on",
                );
            }
        }
        NodeEnum::DropStmt(s) => drop(s, created, &mut e),
        NodeEnum::TruncateStmt(s) => {
            for r in s.relations.iter().filter_map(range_var) {
                on(&mut e, created, Some(r), AccessExclusive, "TRUNCATE");
                if !created.has(r) {
                    e.loses(format!("TRUNCATE {}", qname(r)));
                }
            }
        }
        NodeEnum::DeleteStmt(s) => {
            if let Some(r) = &s.relation {
                e.loses(format!("DELETE FROM {}", qname(r)));
            }
        }
        NodeEnum::UpdateStmt(s) => {
            if let (Some(r), false, false) = (&s.relation, batched, fills_nulls_only(s)) {
                e.loses(format!("UPDATE {}", qname(r)));
            }
        }
        NodeEnum::MergeStmt(s) => {
            if let Some(r) = &s.relation {
                e.loses(format!("MERGE INTO {}", qname(r)));
            }
        }
        NodeEnum::InsertStmt(s) => {
            let overwrites = s
                .on_conflict_clause
                .as_ref()
                .is_some_and(|c| c.action == OnConflictAction::OnconflictUpdate as i32);
            if let (Some(r), true) = (&s.relation, overwrites) {
                e.loses(format!(
                    "INSERT INTO {} ... ON CONFLICT DO UPDATE",
                    qname(r)
                ));
            }
        }
        NodeEnum::CallStmt(_) => e.loses("CALL (a procedure may change any row)"),
        NodeEnum::LockStmt(s) => {
            let level = lock_mode(s.mode);
            for r in s.relations.iter().filter_map(range_var) {
                on(&mut e, created, Some(r), level, "LOCK TABLE");
            }
        }
        NodeEnum::RefreshMatViewStmt(s) => {
            let level = if s.concurrent {
                Exclusive
            } else {
                AccessExclusive
            };
            on(
                &mut e,
                created,
                s.relation.as_ref(),
                level,
                "REFRESH MATERIALIZED VIEW",
            );
        }
        NodeEnum::ReindexStmt(s) => {
            let concurrently = s.params.iter().any(
                |p| matches!(&p.node, Some(NodeEnum::DefElem(d)) if d.defname == "concurrently"),
            );
            let level = if concurrently {
                ShareUpdateExclusive
            } else {
                AccessExclusive
            };
            on(&mut e, created, s.relation.as_ref(), level, "REINDEX");
        }
        NodeEnum::ClusterStmt(s) => {
            on(
                &mut e,
                created,
                s.relation.as_ref(),
                AccessExclusive,
                "CLUSTER",
            );
        }
        NodeEnum::VacuumStmt(s) => {
            let full = s
                .options
                .iter()
                .any(|p| matches!(&p.node, Some(NodeEnum::DefElem(d)) if d.defname == "full"));
            if s.is_vacuumcmd && full {
                for rel in &s.rels {
                    if let Some(NodeEnum::VacuumRelation(v)) = &rel.node {
                        on(
                            &mut e,
                            created,
                            v.relation.as_ref(),
                            AccessExclusive,
                            "VACUUM FULL",
                        );
                    }
                }
            }
        }
        NodeEnum::CreateTrigStmt(s) => {
            on(
                &mut e,
                created,
                s.relation.as_ref(),
                ShareRowExclusive,
                "CREATE TRIGGER on",
            );
        }
        NodeEnum::AlterSeqStmt(s) => {
            // nextval() waits behind it: every INSERT that draws from the sequence.
            on(
                &mut e,
                created,
                s.sequence.as_ref(),
                ShareRowExclusive,
                "ALTER SEQUENCE",
            );
        }
        NodeEnum::AlterDomainStmt(s) => {
            // Checking existing values scans every column of the domain under SHARE.
            let validates = match s.subtype.as_str() {
                "C" => !matches!(
                    s.def.as_ref().and_then(|d| d.node.as_ref()),
                    Some(NodeEnum::Constraint(c)) if c.skip_validation
                ),
                "V" | "O" => true,
                _ => false,
            };
            if validates {
                e.lock(Share, "ALTER DOMAIN (checking the columns that use it)");
            }
        }
        NodeEnum::DoStmt(s) => super::plpgsql::do_block(s, created, &mut e),
        _ => {}
    }
    e
}

fn alter_table(
    s: &pg_query::protobuf::AlterTableStmt,
    created: &mut Created,
    swaps: &HashSet<(String, String)>,
    e: &mut Effects,
) {
    use AlterTableType as T;
    use LockLevel::*;
    let Some(rel) = s.relation.as_ref() else {
        return;
    };
    let new = created.has(rel);
    let is_index = s.objtype == ObjectType::ObjectIndex as i32;
    for cmd in &s.cmds {
        let Some(NodeEnum::AlterTableCmd(c)) = &cmd.node else {
            continue;
        };
        let subtype = T::try_from(c.subtype).unwrap_or(T::Undefined);
        let def = c.def.as_ref().and_then(|d| d.node.as_ref());
        let level = match subtype {
            T::AtSetStatistics
            | T::AtClusterOn
            | T::AtDropCluster
            | T::AtSetOptions
            | T::AtResetOptions
            | T::AtValidateConstraint
            | T::AtSetRelOptions
            | T::AtResetRelOptions
            | T::AtAttachPartition
            | T::AtDetachPartitionFinalize => ShareUpdateExclusive,
            T::AtDetachPartition => match def {
                Some(NodeEnum::PartitionCmd(p)) if p.concurrent => ShareUpdateExclusive,
                _ => AccessExclusive,
            },
            T::AtEnableTrig
            | T::AtEnableAlwaysTrig
            | T::AtEnableReplicaTrig
            | T::AtDisableTrig
            | T::AtEnableTrigAll
            | T::AtDisableTrigAll
            | T::AtEnableTrigUser
            | T::AtDisableTrigUser
            | T::AtAlterConstraint => ShareRowExclusive,
            T::AtAddConstraint | T::AtReAddConstraint => match def {
                Some(NodeEnum::Constraint(k)) if k.contype == ConstrType::ConstrForeign as i32 => {
                    ShareRowExclusive
                }
                _ => AccessExclusive,
            },
            // Other ALTER INDEX forms (SET TABLESPACE, ...) rewrite or swap the index file.
            _ if is_index => AccessExclusive,
            _ => AccessExclusive,
        };
        if !new {
            let what = format!(
                "ALTER {} {} ({})",
                if is_index { "INDEX" } else { "TABLE" },
                qname(rel),
                subtype_words(subtype)
            );
            e.lock(level, what);
        }
        let swapped = swaps.contains(&(qname(rel), c.name.clone()));
        if subtype == T::AtDropColumn && !new && !swapped {
            let loss = Effects {
                data_loss: Some(format!("ALTER TABLE {} DROP COLUMN {}", qname(rel), c.name)),
                rename_contract_ok: true,
                ..Effects::default()
            };
            e.merge(loss);
        }
        if c.behavior == DropBehavior::DropCascade as i32 && !new {
            e.loses(format!("ALTER TABLE {} ... CASCADE", qname(rel)));
        }
    }
}

/// `AT_DropColumn` -> `DROP COLUMN`-like words for messages.
fn subtype_words(t: AlterTableType) -> String {
    let name = t.as_str_name().trim_start_matches("AT_");
    let mut out = String::new();
    for (i, ch) in name.chars().enumerate() {
        if ch.is_ascii_uppercase() && i > 0 {
            out.push(' ');
        }
        out.push(ch.to_ascii_uppercase());
    }
    out
}

fn drop(s: &pg_query::protobuf::DropStmt, created: &Created, e: &mut Effects) {
    use LockLevel::*;
    let kind = ObjectType::try_from(s.remove_type).unwrap_or(ObjectType::Undefined);
    for obj in &s.objects {
        let names = name_list(obj);
        let Some(name) = names.last() else { continue };
        let schema = (names.len() >= 2).then(|| names[names.len() - 2].clone());
        let rel = RangeVar {
            schemaname: schema.clone().unwrap_or_default(),
            relname: name.clone(),
            ..RangeVar::default()
        };
        let label = qname(&rel);
        let preexisting = !created.has(&rel);
        match kind {
            ObjectType::ObjectTable | ObjectType::ObjectSequence if preexisting => {
                let word = if kind == ObjectType::ObjectTable {
                    "TABLE"
                } else {
                    "SEQUENCE"
                };
                e.lock(AccessExclusive, format!("DROP {word} {label}"));
                e.loses(format!("DROP {word} {label}"));
            }
            // no rows are lost: a foreign table keeps none locally
            ObjectType::ObjectForeignTable if preexisting => {
                e.lock(AccessExclusive, format!("DROP FOREIGN TABLE {label}"));
            }
            ObjectType::ObjectIndex if preexisting => {
                let (level, what) = if s.concurrent {
                    (ShareUpdateExclusive, "DROP INDEX CONCURRENTLY")
                } else {
                    (AccessExclusive, "DROP INDEX (without CONCURRENTLY)")
                };
                e.lock(level, format!("{what} {label}"));
            }
            ObjectType::ObjectView | ObjectType::ObjectMatview if preexisting => {
                e.lock(AccessExclusive, format!("DROP VIEW {label}"));
            }
            // DROP TRIGGER / POLICY / RULE name ON table: the table's name precedes the object's.
            ObjectType::ObjectTrigger | ObjectType::ObjectPolicy | ObjectType::ObjectRule
                if names.len() >= 2 =>
            {
                let table = RangeVar {
                    schemaname: if names.len() >= 3 {
                        names[0].clone()
                    } else {
                        String::new()
                    },
                    relname: names[names.len() - 2].clone(),
                    ..RangeVar::default()
                };
                if !created.has(&table) {
                    e.lock(
                        AccessExclusive,
                        format!("DROP {} ON {}", kind_word(kind), qname(&table)),
                    );
                }
            }
            // Subscriptions reading it stop (a publication is never created earlier in a plan
            // and dropped later in it, so there is no `created` exception).
            ObjectType::ObjectPublication if e.stops_replication.is_none() => {
                e.stops_replication = Some(format!("DROP PUBLICATION {name}"));
            }
            _ => {}
        }
    }
    // CASCADE from these reaches constraints, views and triggers, never a table or column.
    let contained = [
        ObjectType::ObjectIndex,
        ObjectType::ObjectView,
        ObjectType::ObjectMatview,
        ObjectType::ObjectTrigger,
        ObjectType::ObjectPolicy,
        ObjectType::ObjectRule,
    ];
    if s.behavior == DropBehavior::DropCascade as i32 && !contained.contains(&kind) {
        e.loses(format!(
            "DROP {} ... CASCADE (drops whatever depends on it, columns included)",
            kind_word(kind)
        ));
    }
}

fn kind_word(kind: ObjectType) -> String {
    kind.as_str_name()
        .trim_start_matches("OBJECT_")
        .replace('_', " ")
}

/// The identifiers of a dotted name node (`List` of `String`, or a `String`).
pub(super) fn name_list(node: &Node) -> Vec<String> {
    match &node.node {
        Some(NodeEnum::List(l)) => l
            .items
            .iter()
            .filter_map(|i| match &i.node {
                Some(NodeEnum::String(s)) => Some(s.sval.clone()),
                _ => None,
            })
            .collect(),
        Some(NodeEnum::String(s)) => vec![s.sval.clone()],
        Some(NodeEnum::TypeName(t)) => name_list(&Node {
            node: Some(NodeEnum::List(pg_query::protobuf::List {
                items: t.names.clone(),
            })),
        }),
        _ => Vec::new(),
    }
}

fn range_var(n: &Node) -> Option<&RangeVar> {
    match &n.node {
        Some(NodeEnum::RangeVar(r)) => Some(r),
        _ => None,
    }
}

/// `UPDATE t SET c = <expr> WHERE c IS NULL` (one column, nothing else): it writes only where
/// the column has no value, so no value is lost. The planner re-runs a backfill this way just
/// before validating its NOT NULL check, for rows an application wrote since.
fn fills_nulls_only(s: &pg_query::protobuf::UpdateStmt) -> bool {
    let [target] = s.target_list.as_slice() else {
        return false;
    };
    let Some(NodeEnum::ResTarget(t)) = &target.node else {
        return false;
    };
    if !t.indirection.is_empty()
        || !s.from_clause.is_empty()
        || s.returning_clause.is_some()
        || s.with_clause.is_some()
    {
        return false;
    }
    let Some(NodeEnum::NullTest(test)) = s.where_clause.as_ref().and_then(|w| w.node.as_ref())
    else {
        return false;
    };
    let Some(NodeEnum::ColumnRef(col)) = test.arg.as_ref().and_then(|a| a.node.as_ref()) else {
        return false;
    };
    let names: Vec<String> = col
        .fields
        .iter()
        .filter_map(|f| match &f.node {
            Some(NodeEnum::String(s)) => Some(s.sval.clone()),
            _ => None,
        })
        .collect();
    test.nulltesttype == pg_query::protobuf::NullTestType::IsNull as i32
        && names.last() == Some(&t.name)
}

/// PostgreSQL's LOCKMODE numbers (lockdefs.h).
fn lock_mode(mode: i32) -> LockLevel {
    use LockLevel::*;
    match mode {
        1 => AccessShare,
        2 => RowShare,
        3 => RowExclusive,
        4 => ShareUpdateExclusive,
        5 => Share,
        6 => ShareRowExclusive,
        7 => Exclusive,
        _ => AccessExclusive,
    }
}
