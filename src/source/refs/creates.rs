//! What a statement creates, read per statement kind: the object a `CREATE` names and what
//! comes with it (columns, serial sequences, constraint indexes), renames, `SET SCHEMA`, and
//! the parts of a table an `ALTER TABLE` subcommand names (see the parent module).

use pg_query::protobuf::{self, AlterTableType, ConstrType, ObjectType};
use pg_query::NodeEnum;

use super::walk::global_name;
use super::{facts, key_of, like_of, range_var, sibling, strings, Facts, OrderFacts};
use crate::source::names::{part_of, qualify, relation};

pub(super) fn creates(node: &NodeEnum, f: &mut Facts) {
    use NodeEnum as N;
    match node {
        N::CreateStmt(s) => table(s, f),
        N::CreateForeignTableStmt(s) => {
            if let Some(base) = &s.base_stmt {
                table(base, f);
            }
        }
        N::CreateTableAsStmt(s) => f.create(s.into.as_ref().and_then(|i| range_var(&i.rel))),
        N::ViewStmt(s) => f.create(range_var(&s.view)),
        N::IndexStmt(s) => index(s, f),
        N::CreateSeqStmt(s) => f.create(range_var(&s.sequence)),
        N::CreateFunctionStmt(s) => f.create(qualify(&strings(&s.funcname))),
        N::CreateTrigStmt(s) => {
            f.create(range_var(&s.relation).map(|rel| part_of(&rel, &s.trigname)))
        }
        N::CompositeTypeStmt(s) => f.create(range_var(&s.typevar)),
        N::CreateEnumStmt(s) => f.create(qualify(&strings(&s.type_name))),
        N::CreateRangeStmt(s) => f.create(qualify(&strings(&s.type_name))),
        N::DefineStmt(s) => f.create(qualify(&strings(&s.defnames))),
        N::CreateDomainStmt(s) => f.create(qualify(&strings(&s.domainname))),
        N::CreateSchemaStmt(s) => create_schema(s, f),
        N::CreateExtensionStmt(s) => f.create(Some(format!("extension:{}", s.extname))),
        N::CreatePolicyStmt(s) => {
            f.create(range_var(&s.table).map(|t| part_of(&t, &s.policy_name)))
        }
        N::RuleStmt(s) => f.create(range_var(&s.relation).map(|t| part_of(&t, &s.rulename))),
        N::CreateEventTrigStmt(s) => f.create(Some(format!("event_trigger:{}", s.trigname))),
        N::CreateForeignServerStmt(s) => {
            f.create(Some(format!("server:{}", s.servername)));
            f.refer(Some(format!("fdw:{}", s.fdwname)));
        }
        N::CreateFdwStmt(s) => f.create(Some(format!("fdw:{}", s.fdwname))),
        N::CreatePublicationStmt(s) => f.create(Some(format!("publication:{}", s.pubname))),
        N::CreateSubscriptionStmt(s) => f.create(Some(format!("subscription:{}", s.subname))),
        N::CreatePlangStmt(s) => f.create(Some(format!("language:{}", s.plname))),
        N::CreateStatsStmt(s) => {
            f.create(qualify(&strings(&s.defnames)));
            for rel in &s.relations {
                if let Some(NodeEnum::RangeVar(r)) = &rel.node {
                    f.order
                        .provides
                        .extend(relation(&r.schemaname, &r.relname).map(|t| like_of(&t)));
                }
            }
        }
        N::CreateOpClassStmt(s) => {
            f.create(qualify(&strings(&s.opclassname)));
            f.refer(access_method(&s.amname));
        }
        N::CreateOpFamilyStmt(s) => {
            f.create(qualify(&strings(&s.opfamilyname)));
            f.refer(access_method(&s.amname));
        }
        N::CreateConversionStmt(s) => f.create(qualify(&strings(&s.conversion_name))),
        N::CreateAmStmt(s) => f.create(Some(format!("access_method:{}", s.amname))),
        N::AlterTableStmt(s) => alter_table(s, f),
        N::RenameStmt(s) => rename(s, f),
        N::AlterObjectSchemaStmt(s) => set_schema(s, f),
        _ => {}
    }
}

/// `ALTER ... RENAME`: refers to the old name and creates the new one, so statements using the
/// new name come after it.
fn rename(s: &protobuf::RenameStmt, f: &mut Facts) {
    if let Some(r) = &s.relation {
        let Some(rel) = relation(&r.schemaname, &r.relname) else {
            return;
        };
        if is_part(s.rename_type) {
            f.refer(Some(part_of(&rel, &s.subname)));
            f.create(Some(part_of(&rel, &s.newname)));
        } else {
            f.create(relation(&r.schemaname, &s.newname));
        }
        return;
    }
    match s.object.as_deref().and_then(|o| o.node.as_ref()) {
        Some(NodeEnum::String(_)) => f.create(global_name(s.rename_type, &s.newname)),
        Some(NodeEnum::List(list)) if !is_part(s.rename_type) => {
            let mut parts = strings(&list.items);
            if let Some(last) = parts.last_mut() {
                last.clone_from(&s.newname);
            }
            f.create(qualify(&parts));
        }
        _ => {}
    }
}

/// `ALTER ... SET SCHEMA s`: creates the object's name in `s`.
fn set_schema(s: &protobuf::AlterObjectSchemaStmt, f: &mut Facts) {
    if let Some(r) = &s.relation {
        f.create(relation(&s.newschema, &r.relname));
        return;
    }
    if let Some(NodeEnum::List(list)) = s.object.as_deref().and_then(|o| o.node.as_ref()) {
        if let Some(name) = strings(&list.items).last() {
            f.create(qualify(&[s.newschema.clone(), name.clone()]));
        }
    }
}

/// Whether an object type is a part of a table (named `schema.table.part`).
pub(super) fn is_part(objtype: i32) -> bool {
    use ObjectType as O;
    [
        O::ObjectColumn,
        O::ObjectTrigger,
        O::ObjectPolicy,
        O::ObjectRule,
        O::ObjectTabconstraint,
    ]
    .iter()
    .any(|t| *t as i32 == objtype)
}

/// `CREATE SCHEMA s [CREATE TABLE ...]`: the schema and whatever its elements create.
fn create_schema(s: &protobuf::CreateSchemaStmt, f: &mut Facts) {
    f.create(Some(s.schemaname.clone()));
    for element in &s.schema_elts {
        if let Some(node) = &element.node {
            let inner = facts(node);
            f.creates.extend(inner.creates);
            f.references.extend(inner.references);
            let OrderFacts {
                provides,
                needs,
                partitions,
                index_on,
                unvalidated_check_on,
            } = inner.order;
            f.order.provides.extend(provides);
            f.order.needs.extend(needs);
            f.order.partitions.extend(partitions);
            f.order.index_on.extend(index_on);
            f.order.unvalidated_check_on.extend(unvalidated_check_on);
        }
    }
}

/// A table: itself, its columns, the sequences of serial and identity columns, and the indexes
/// of its named key constraints.
/// `USING am` of a table, index or operator class: the access method (a built-in one is
/// created by no file, and the reference orders nothing).
pub(super) fn access_method(name: &str) -> Option<String> {
    (!name.is_empty()).then(|| format!("access_method:{name}"))
}

fn table(s: &protobuf::CreateStmt, f: &mut Facts) {
    let Some(rel) = range_var(&s.relation) else {
        return;
    };
    f.create(Some(rel.clone()));
    f.refer(access_method(&s.access_method));
    f.order.provides.push(key_of(&rel));
    let parents = s.inh_relations.iter().filter_map(|n| match &n.node {
        Some(NodeEnum::RangeVar(parent)) => relation(&parent.schemaname, &parent.relname),
        _ => None,
    });
    if s.partbound.is_some() {
        // A new partition of `p`: indexes on `p` (`ON ONLY` ones in particular) come after it.
        for parent in parents {
            f.order.provides.push(parent.clone());
            f.order.partitions.push((rel.clone(), parent));
        }
    }
    for element in &s.table_elts {
        if let Some(NodeEnum::TableLikeClause(like)) = &element.node {
            if let Some(source) = range_var(&like.relation) {
                f.order.needs.push(like_of(&source));
            }
        }
    }
    let table_name = s.relation.as_ref().map_or("", |r| r.relname.as_str());
    for element in s.table_elts.iter().chain(&s.constraints) {
        match &element.node {
            Some(NodeEnum::ColumnDef(col)) => column(&rel, table_name, col, f),
            Some(NodeEnum::Constraint(con)) => constraint(&rel, table_name, con, f),
            _ => {}
        }
    }
}

fn column(rel: &str, table_name: &str, col: &protobuf::ColumnDef, f: &mut Facts) {
    f.create(Some(part_of(rel, &col.colname)));
    let type_name = col
        .type_name
        .as_ref()
        .map(|t| strings(&t.names))
        .unwrap_or_default();
    let serial = matches!(
        type_name.last().map(String::as_str),
        Some("serial" | "bigserial" | "smallserial" | "serial2" | "serial4" | "serial8")
    );
    let identity = col.constraints.iter().any(|c| {
        matches!(&c.node, Some(NodeEnum::Constraint(c)) if c.contype == ConstrType::ConstrIdentity as i32)
    });
    if serial || identity {
        f.create(sibling(rel, &format!("{table_name}_{}_seq", col.colname)));
    }
    for con in &col.constraints {
        if let Some(NodeEnum::Constraint(con)) = &con.node {
            constraint(rel, table_name, con, f);
        }
    }
}

/// Whether a constraint builds a new index (a key constraint not adopting an existing index).
fn builds_index(con: &protobuf::Constraint) -> bool {
    let keyed = [
        ConstrType::ConstrPrimary,
        ConstrType::ConstrUnique,
        ConstrType::ConstrExclusion,
    ];
    keyed.iter().any(|t| *t as i32 == con.contype) && con.indexname.is_empty()
}

/// A named constraint is a part of its table; key constraints also create an index.
fn constraint(rel: &str, table_name: &str, con: &protobuf::Constraint, f: &mut Facts) {
    let keyed = [
        ConstrType::ConstrPrimary,
        ConstrType::ConstrUnique,
        ConstrType::ConstrExclusion,
    ]
    .iter()
    .any(|t| *t as i32 == con.contype);
    // `... USING INDEX i` adopts an existing index (renaming it to the constraint's name).
    let adopted = match con.indexname.as_str() {
        "" => None,
        index => sibling(rel, index),
    };
    f.refer(adopted.clone());
    // Users of the index wait for the adoption, unless the constraint renames the index: then
    // the old name is gone afterwards, and what names it (`ALTER INDEX i ATTACH PARTITION`)
    // keeps its place before.
    let renamed = !con.conname.is_empty() && adopted != sibling(rel, &con.conname);
    if !renamed {
        f.order.provides.extend(adopted.clone());
    }
    if !con.conname.is_empty() {
        f.create(Some(part_of(rel, &con.conname)));
        let index = sibling(rel, &con.conname);
        if keyed && adopted != index {
            f.create(index);
        }
    } else if con.contype == ConstrType::ConstrPrimary as i32 {
        f.create(sibling(rel, &format!("{table_name}_pkey")));
    }
    if keyed {
        f.order.provides.push(key_of(rel));
    }
}

fn index(s: &protobuf::IndexStmt, f: &mut Facts) {
    let Some(rel) = range_var(&s.relation) else {
        return;
    };
    if !s.idxname.is_empty() {
        f.create(sibling(&rel, &s.idxname));
    }
    f.refer(access_method(&s.access_method));
    f.order.index_on.push(rel.clone());
    f.order.provides.push(like_of(&rel));
    if s.unique || s.primary {
        f.order.provides.push(key_of(&rel));
    }
}

/// `ALTER TABLE t ADD COLUMN / ADD CONSTRAINT / ATTACH PARTITION` (and `ALTER INDEX i ATTACH
/// PARTITION`): new parts of `t`, which later users of `t` wait for.
fn alter_table(s: &protobuf::AlterTableStmt, f: &mut Facts) {
    let Some(rel) = range_var(&s.relation) else {
        return;
    };
    let table_name = s.relation.as_ref().map_or("", |r| r.relname.as_str());
    f.order.provides.push(like_of(&rel));
    for cmd in &s.cmds {
        let Some(NodeEnum::AlterTableCmd(cmd)) = &cmd.node else {
            continue;
        };
        if names_a_part(cmd.subtype) && !cmd.name.is_empty() {
            f.refer(Some(part_of(&rel, &cmd.name)));
        }
        let def = cmd.def.as_ref().and_then(|d| d.node.as_ref());
        match def {
            Some(NodeEnum::ColumnDef(col)) if cmd.subtype == AlterTableType::AtAddColumn as i32 => {
                column(&rel, table_name, col, f);
                f.order.provides.push(rel.clone());
            }
            Some(NodeEnum::Constraint(con)) => {
                constraint(&rel, table_name, con, f);
                if builds_index(con) {
                    f.order.index_on.push(rel.clone());
                }
                if con.contype == ConstrType::ConstrCheck as i32 && con.skip_validation {
                    f.order.unvalidated_check_on.push(rel.clone());
                }
            }
            Some(NodeEnum::ReplicaIdentityStmt(ri)) if !ri.name.is_empty() => {
                f.refer(sibling(&rel, &ri.name))
            }
            _ if cmd.subtype == AlterTableType::AtClusterOn as i32 => {
                f.refer(sibling(&rel, &cmd.name))
            }
            Some(NodeEnum::PartitionCmd(part)) => {
                f.order.provides.push(rel.clone());
                if let Some(child) = range_var(&part.name) {
                    f.order.partitions.push((child, rel.clone()));
                }
            }
            _ => {}
        }
    }
}

/// Whether an `ALTER TABLE` subcommand's `name` is a part of the table (a column, constraint,
/// trigger or rule) it changes: the statement refers to that part, so it comes after what
/// creates it and re-runs when the part is made again (the warm shadow).
fn names_a_part(subtype: i32) -> bool {
    use AlterTableType as A;
    [
        A::AtColumnDefault,
        A::AtDropNotNull,
        A::AtSetNotNull,
        A::AtSetExpression,
        A::AtDropExpression,
        A::AtSetStatistics,
        A::AtSetOptions,
        A::AtResetOptions,
        A::AtSetStorage,
        A::AtSetCompression,
        A::AtDropColumn,
        A::AtAlterColumnType,
        A::AtAlterColumnGenericOptions,
        A::AtAddIdentity,
        A::AtSetIdentity,
        A::AtDropIdentity,
        A::AtAlterConstraint,
        A::AtValidateConstraint,
        A::AtDropConstraint,
        A::AtEnableTrig,
        A::AtEnableAlwaysTrig,
        A::AtEnableReplicaTrig,
        A::AtDisableTrig,
        A::AtEnableRule,
        A::AtEnableAlwaysRule,
        A::AtEnableReplicaRule,
        A::AtDisableRule,
    ]
    .iter()
    .any(|t| *t as i32 == subtype)
}
