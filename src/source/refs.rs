//! What a statement creates and what it refers to, by name (see `names`), for ordering.
//!
//! Creates are read per statement kind (the object a `CREATE` names, plus what comes with it:
//! columns, serial sequences, constraint indexes). References come from a generic walk over the
//! whole parse tree: every relation (`RangeVar`), type name, function call, function/operator
//! signature, collation, index operator class, `nextval('seq')` argument and `'x'::regclass`
//! literal, wherever it appears (columns, defaults, checks, view bodies, policies, ...), plus the
//! objects named by `COMMENT`, `GRANT`, `OWNED BY`, trigger functions and the bodies of
//! `LANGUAGE sql` functions, which PostgreSQL checks when the function is created.

use pg_query::protobuf::{self, AlterTableType, ConstrType, GrantTargetType, ObjectType};
use pg_query::NodeEnum;

use serde_json::{Map, Value};

use super::names::{self, parse_dotted, part_of, qualify, relation, required_schema, schema_of};

/// Names a statement creates and refers to, and the ordering-only facts beside them.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Facts {
    pub creates: Vec<String>,
    pub references: Vec<String>,
    pub order: OrderFacts,
}

/// Facts only the ordering uses; not part of the public `Statement`.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct OrderFacts {
    /// Ordering-only names the statement makes available: `schema.t#key` when it gives table
    /// `t` a unique key; `schema.t` when it adds columns or partitions to `t` (statements using
    /// `t` wait for it, other statements adding to `t` do not); `schema.i` when a constraint
    /// adopts index `i`.
    pub provides: Vec<String>,
    /// Ordering-only names it needs: `schema.t#key` for a foreign key to `t`, `schema.t#like`
    /// for `LIKE t`.
    pub needs: Vec<String>,
    /// `(partition, parent)` pairs it establishes (`PARTITION OF`, `ATTACH PARTITION`).
    pub partitions: Vec<(String, String)>,
    /// Tables it builds an index on (`CREATE INDEX`, key constraints added by `ALTER TABLE`).
    pub index_on: Vec<String>,
    /// Tables it adds a `CHECK ... NOT VALID` to (`ALTER TABLE t ADD CONSTRAINT`): the
    /// partitions of `t` created before it get `NOT VALID` copies, those created after it
    /// validated ones, so it keeps its written order against `PARTITION OF t`.
    #[serde(default)]
    pub unvalidated_check_on: Vec<String>,
}

/// The ordering-only name of "everything `LIKE t INCLUDING ALL` copies from `t`": indexes,
/// constraints and comments added by statements other than `CREATE TABLE t`.
fn like_of(table: &str) -> String {
    format!("{table}#like")
}

/// The ordering-only name of "a unique key of table `t`", which foreign keys to `t` need.
fn key_of(table: &str) -> String {
    format!("{table}#key")
}

impl Facts {
    fn create(&mut self, name: Option<String>) {
        self.creates.extend(name);
    }

    fn refer(&mut self, name: Option<String>) {
        self.references.extend(name);
    }

    /// Dedups, drops self-references and adds the schema of every qualified name.
    fn finish(mut self) -> Facts {
        dedup_keep_order(&mut self.creates);
        let schemas: Vec<String> = self
            .creates
            .iter()
            .chain(&self.references)
            .filter_map(|n| required_schema(n).map(str::to_string))
            .collect();
        self.references.extend(schemas);
        self.references.retain(|r| !self.creates.contains(r));
        self.references.sort();
        self.references.dedup();
        dedup_keep_order(&mut self.order.provides);
        self.order.needs.sort();
        self.order.needs.dedup();
        self
    }
}

fn dedup_keep_order(names: &mut Vec<String>) {
    let mut seen = std::collections::HashSet::new();
    names.retain(|n| seen.insert(n.clone()));
}

/// What the statement creates and references.
pub(crate) fn facts(node: &NodeEnum) -> Facts {
    facts_of(node, &tree(node))
}

/// [`facts`] with the statement's parse tree as JSON ([`tree`]) made by the caller, who uses
/// it again (`twice::defines_of`): converting the tree is the costliest part of reading a
/// statement, so it is done once.
pub(crate) fn facts_of(node: &NodeEnum, tree: &Value) -> Facts {
    let mut facts = Facts::default();
    creates(node, &mut facts);
    walk(tree, &mut facts);
    named_references(node, &mut facts);
    facts.finish()
}

/// The parse tree as JSON, for the generic walks over every node.
pub(crate) fn tree(node: &NodeEnum) -> Value {
    serde_json::to_value(node).unwrap_or(Value::Null)
}

/// The `String` parts of a list of parse nodes (`["app", "users"]`).
fn strings(nodes: &[protobuf::Node]) -> Vec<String> {
    nodes
        .iter()
        .filter_map(|n| match &n.node {
            Some(NodeEnum::String(s)) => Some(s.sval.clone()),
            _ => None,
        })
        .collect()
}

fn range_var(rv: &Option<protobuf::RangeVar>) -> Option<String> {
    rv.as_ref()
        .and_then(|r| relation(&r.schemaname, &r.relname))
}

/// `schema.name` for an object living in the same schema as relation `rel` (`schema.t`).
fn sibling(rel: &str, name: &str) -> Option<String> {
    let schema = schema_of(rel)?;
    qualify(&[schema.to_string(), name.to_string()])
}

fn creates(node: &NodeEnum, f: &mut Facts) {
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
fn is_part(objtype: i32) -> bool {
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
fn access_method(name: &str) -> Option<String> {
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

/// Generic walk over the serialized parse tree, recognising nodes by their fields.
fn walk(value: &Value, f: &mut Facts) {
    match value {
        Value::Object(map) => {
            visit(map, f);
            map.values().for_each(|v| walk(v, f));
        }
        Value::Array(items) => items.iter().for_each(|v| walk(v, f)),
        _ => {}
    }
}

fn visit(map: &Map<String, Value>, f: &mut Facts) {
    let has = |key: &str| map.contains_key(key);
    if has("relname") && has("relpersistence") {
        f.refer(relation(
            str_field(map, "schemaname"),
            str_field(map, "relname"),
        ));
    } else if has("names") && has("typemod") {
        type_name(map, f);
    } else if has("funcname") && has("agg_star") {
        func_call(map, f);
    } else if has("objname") && has("objargs") {
        f.refer(qualify(&json_strings(&map["objname"])));
    } else if has("collname") && has("location") {
        f.refer(qualify(&json_strings(&map["collname"])));
    } else if has("opclass") && has("ordering") {
        f.refer(qualify(&json_strings(&map["opclass"])));
    } else if has("arg") && has("type_name") {
        regclass_literal(map, f);
    } else if has("pktable") && map.get("contype") == Some(&foreign_key()) {
        foreign_key_target(map, f);
    }
}

fn foreign_key() -> Value {
    Value::from(ConstrType::ConstrForeign as i32)
}

fn str_field<'a>(map: &'a Map<String, Value>, key: &str) -> &'a str {
    map.get(key).and_then(Value::as_str).unwrap_or("")
}

/// The `sval`s of a serialized list of `String` nodes.
fn json_strings(list: &Value) -> Vec<String> {
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| n.pointer("/node/String/sval").and_then(Value::as_str))
        .map(str::to_string)
        .collect()
}

/// A type name; `t.c%TYPE` refers to table `t`.
fn type_name(map: &Map<String, Value>, f: &mut Facts) {
    let mut names = json_strings(&map["names"]);
    if map.get("pct_type") == Some(&Value::Bool(true)) {
        names.pop();
        f.refer(qualify(&names));
    } else {
        f.refer(names::type_name(&names));
    }
}

/// A function call; `nextval('seq')` and friends also refer to the sequence.
fn func_call(map: &Map<String, Value>, f: &mut Facts) {
    let name = json_strings(&map["funcname"]);
    let sequence_fn = matches!(
        name.last().map(String::as_str),
        Some("nextval" | "currval" | "setval")
    );
    if sequence_fn {
        let literal = map["args"]
            .pointer("/0/node/AConst/val/Sval/sval")
            .and_then(Value::as_str);
        f.refer(literal.and_then(literal_name));
    }
    f.refer(qualify(&name));
}

/// `'name'::regclass` refers to relation `name`.
fn regclass_literal(map: &Map<String, Value>, f: &mut Facts) {
    let target = json_strings(&map["type_name"]["names"]);
    if target.last().map(String::as_str) != Some("regclass") {
        return;
    }
    let literal = map["arg"]
        .pointer("/node/AConst/val/Sval/sval")
        .and_then(Value::as_str);
    f.refer(literal.and_then(literal_name));
}

/// A relation name written inside a string literal, as `nextval` reads it.
fn literal_name(text: &str) -> Option<String> {
    qualify(&parse_dotted(text)?)
}

fn foreign_key_target(map: &Map<String, Value>, f: &mut Facts) {
    let pk = &map["pktable"];
    let schema = pk.get("schemaname").and_then(Value::as_str).unwrap_or("");
    let name = pk.get("relname").and_then(Value::as_str).unwrap_or("");
    if let Some(table) = relation(schema, name) {
        f.order.needs.push(key_of(&table));
    }
}

/// References that are names rather than tree nodes: commented, granted or owned objects,
/// trigger functions, altered types, `OWNED BY` tables, schemas, and SQL function bodies.
fn named_references(node: &NodeEnum, f: &mut Facts) {
    use NodeEnum as N;
    match node {
        N::CreateTrigStmt(s) => f.refer(qualify(&strings(&s.funcname))),
        N::CreateEventTrigStmt(s) => f.refer(qualify(&strings(&s.funcname))),
        N::CommentStmt(s) => object_refs(s.objtype, s.object.as_deref(), f),
        N::SecLabelStmt(s) => object_refs(s.objtype, s.object.as_deref(), f),
        N::AlterOwnerStmt(s) => object_refs(s.object_type, s.object.as_deref(), f),
        N::AlterEnumStmt(s) => f.refer(qualify(&strings(&s.type_name))),
        N::AlterTypeStmt(s) => f.refer(qualify(&strings(&s.type_name))),
        N::AlterDomainStmt(s) => f.refer(qualify(&strings(&s.type_name))),
        N::CreateSeqStmt(s) => owned_by(&s.options, f),
        N::AlterSeqStmt(s) => owned_by(&s.options, f),
        N::GrantStmt(s) => grant_objects(s, f),
        N::AlterDefaultPrivilegesStmt(s) => option_schemas(&s.options, "schemas", f),
        N::CreateExtensionStmt(s) => option_schemas(&s.options, "schema", f),
        N::AlterExtensionStmt(s) => f.refer(Some(format!("extension:{}", s.extname))),
        N::CreateFunctionStmt(s) => function_body(&s.options, f),
        N::CreateForeignTableStmt(s) => f.refer(Some(format!("server:{}", s.servername))),
        N::CreateUserMappingStmt(s) => f.refer(Some(format!("server:{}", s.servername))),
        N::AlterPolicyStmt(s) => f.refer(range_var(&s.table).map(|t| part_of(&t, &s.policy_name))),
        N::DropStmt(s) => {
            for object in &s.objects {
                object_refs(s.remove_type, Some(object), f);
            }
        }
        N::RenameStmt(s) => object_refs(s.rename_type, s.object.as_deref(), f),
        N::AlterObjectSchemaStmt(s) => object_refs(s.object_type, s.object.as_deref(), f),
        N::AlterTsconfigurationStmt(s) => {
            f.refer(qualify(&strings(&s.cfgname)));
            for dict in &s.dicts {
                if let Some(NodeEnum::List(list)) = &dict.node {
                    f.refer(qualify(&strings(&list.items)));
                }
            }
        }
        N::AlterTsdictionaryStmt(s) => f.refer(qualify(&strings(&s.dictname))),
        N::AlterStatsStmt(s) => f.refer(qualify(&strings(&s.defnames))),
        N::AlterCollationStmt(s) => f.refer(qualify(&strings(&s.collname))),
        N::AlterOpFamilyStmt(s) => {
            f.refer(qualify(&strings(&s.opfamilyname)));
            f.refer(access_method(&s.amname));
        }
        N::AlterEventTrigStmt(s) => f.refer(Some(format!("event_trigger:{}", s.trigname))),
        N::AlterFdwStmt(s) => f.refer(Some(format!("fdw:{}", s.fdwname))),
        N::AlterForeignServerStmt(s) => f.refer(Some(format!("server:{}", s.servername))),
        N::AlterUserMappingStmt(s) => f.refer(Some(format!("server:{}", s.servername))),
        N::AlterPublicationStmt(s) => f.refer(Some(format!("publication:{}", s.pubname))),
        N::AlterSubscriptionStmt(s) => f.refer(Some(format!("subscription:{}", s.subname))),
        N::AlterObjectDependsStmt(s) => {
            f.refer(range_var(&s.relation));
            object_refs(s.object_type, s.object.as_deref(), f);
        }
        _ => {}
    }
}

/// The object of `COMMENT ON` / `SECURITY LABEL ON` / `ALTER ... OWNER TO`. Signatures and
/// type names are found by the walk; plain names are resolved here.
fn object_refs(objtype: i32, object: Option<&protobuf::Node>, f: &mut Facts) {
    match object.and_then(|o| o.node.as_ref()) {
        Some(NodeEnum::String(s)) => f.refer(global_name(objtype, &s.sval)),
        Some(NodeEnum::List(list)) => qualified_object(objtype, &strings(&list.items), f),
        _ => {}
    }
}

fn qualified_object(objtype: i32, parts: &[String], f: &mut Facts) {
    use ObjectType as O;
    let is_part = is_part(objtype);
    if objtype == O::ObjectDomconstraint as i32 {
        return;
    }
    let copied_by_like = [O::ObjectColumn, O::ObjectTabconstraint]
        .iter()
        .any(|t| *t as i32 == objtype);
    match parts.split_last() {
        Some((part, table)) if is_part => {
            let parent = qualify(table);
            f.refer(parent.as_ref().map(|p| part_of(p, part)));
            if copied_by_like {
                f.order.provides.extend(parent.as_ref().map(|p| like_of(p)));
            }
            f.refer(parent);
        }
        _ => f.refer(qualify(parts)),
    }
}

/// Objects outside any schema, named by a bare string. Roles, databases and tablespaces are
/// cluster-wide and never created by schema files.
fn global_name(objtype: i32, name: &str) -> Option<String> {
    use ObjectType as O;
    let prefix = match O::try_from(objtype).ok()? {
        O::ObjectSchema => return Some(name.to_string()),
        O::ObjectExtension => "extension",
        O::ObjectLanguage => "language",
        O::ObjectEventTrigger => "event_trigger",
        O::ObjectForeignServer => "server",
        O::ObjectFdw => "fdw",
        O::ObjectPublication => "publication",
        O::ObjectSubscription => "subscription",
        O::ObjectAccessMethod => "access_method",
        _ => return None,
    };
    Some(format!("{prefix}:{name}"))
}

/// `OWNED BY t.c`: the sequence needs table `t`.
fn owned_by(options: &[protobuf::Node], f: &mut Facts) {
    for option in def_elems(options, "owned_by") {
        if let Some(NodeEnum::List(list)) = option.arg.as_ref().and_then(|a| a.node.as_ref()) {
            let parts = strings(&list.items);
            if let Some((_, table)) = parts.split_last() {
                f.refer(qualify(table));
            }
        }
    }
}

fn def_elems<'a>(
    options: &'a [protobuf::Node],
    name: &'a str,
) -> impl Iterator<Item = &'a protobuf::DefElem> + 'a {
    options.iter().filter_map(move |o| match &o.node {
        Some(NodeEnum::DefElem(d)) if d.defname == name => Some(d.as_ref()),
        _ => None,
    })
}

/// Schemas named in an option (`IN SCHEMA a, b`, `CREATE EXTENSION ... SCHEMA s`).
fn option_schemas(options: &[protobuf::Node], name: &str, f: &mut Facts) {
    for option in def_elems(options, name) {
        match option.arg.as_ref().and_then(|a| a.node.as_ref()) {
            Some(NodeEnum::String(s)) => f.refer(Some(s.sval.clone())),
            Some(NodeEnum::List(list)) => f.references.extend(strings(&list.items)),
            _ => {}
        }
    }
}

/// `GRANT ... ON SCHEMA s` and `ON ALL TABLES IN SCHEMA s` name schemas; other plain names
/// (types, domains, ...) are qualified. Relations and signatures are found by the walk.
fn grant_objects(s: &protobuf::GrantStmt, f: &mut Facts) {
    let in_schema = s.targtype == GrantTargetType::AclTargetAllInSchema as i32;
    for object in &s.objects {
        match &object.node {
            Some(NodeEnum::String(name)) if in_schema => f.refer(Some(name.sval.clone())),
            Some(NodeEnum::String(name)) => f.refer(global_name(s.objtype, &name.sval)),
            Some(NodeEnum::List(list)) => f.refer(qualify(&strings(&list.items))),
            _ => {}
        }
    }
}

/// `LANGUAGE sql` bodies given as a string are checked by PostgreSQL at creation time, so what
/// they use must exist first. Other languages are checked only when called.
fn function_body(options: &[protobuf::Node], f: &mut Facts) {
    let language = def_elems(options, "language")
        .find_map(|d| match d.arg.as_ref().and_then(|a| a.node.as_ref()) {
            Some(NodeEnum::String(s)) => Some(s.sval.to_ascii_lowercase()),
            _ => None,
        })
        .unwrap_or_default();
    if !language.is_empty() {
        f.refer(Some(format!("language:{language}")));
    }
    if language != "sql" {
        return;
    }
    for body in def_elems(options, "as") {
        let Some(NodeEnum::List(list)) = body.arg.as_ref().and_then(|a| a.node.as_ref()) else {
            continue;
        };
        for text in strings(&list.items) {
            if let Ok(tree) = pg_query::parse(&text, pg_query::ParserOptions::DEFAULT) {
                for stmt in tree.protobuf.stmts.iter().filter_map(|s| s.stmt.as_ref()) {
                    if let Some(node) = &stmt.node {
                        walk(&self::tree(node), f);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(sql: &str) -> Facts {
        let tree = pg_query::parse(sql, pg_query::ParserOptions::DEFAULT).unwrap();
        let node = tree.protobuf.stmts[0]
            .stmt
            .as_ref()
            .unwrap()
            .node
            .clone()
            .unwrap();
        facts(&node)
    }

    fn refs(sql: &str) -> Vec<String> {
        of(sql).references
    }

    #[test]
    fn alter_table_subcommands_refer_to_the_parts_they_change() {
        assert_eq!(
            refs(
                "ALTER TABLE app.t DISABLE RULE r, ENABLE ALWAYS TRIGGER tr, VALIDATE CONSTRAINT c"
            ),
            ["app", "app.t", "app.t.c", "app.t.r", "app.t.tr"]
        );
        assert_eq!(
            refs(
                "ALTER TABLE app.t ALTER COLUMN a SET DEFAULT 1, ALTER COLUMN b SET STATISTICS 10"
            ),
            ["app", "app.t", "app.t.a", "app.t.b"]
        );
        assert_eq!(
            refs("ALTER TABLE app.t SET TABLESPACE pg_default"),
            ["app", "app.t"]
        );
    }

    #[test]
    fn alter_statements_refer_to_what_they_alter() {
        assert_eq!(
            refs("ALTER TEXT SEARCH CONFIGURATION app.cfg ADD MAPPING FOR asciiword WITH app.stem, simple"),
            ["app", "app.cfg", "app.stem", "public.simple"]
        );
        assert_eq!(
            refs("ALTER TEXT SEARCH DICTIONARY app.stem (StopWords = 'english')"),
            ["app", "app.stem"]
        );
        assert_eq!(
            refs("ALTER STATISTICS app.s SET STATISTICS 10"),
            ["app", "app.s"]
        );
        assert_eq!(
            refs("ALTER COLLATION app.c REFRESH VERSION"),
            ["app", "app.c"]
        );
        assert_eq!(
            refs("ALTER OPERATOR FAMILY app.f USING btree ADD FUNCTION 1 (int, int) app.cmp(int, int)"),
            ["access_method:btree", "app", "app.cmp", "app.f"]
        );
        assert_eq!(refs("ALTER EVENT TRIGGER e DISABLE"), ["event_trigger:e"]);
        assert_eq!(
            refs("ALTER FOREIGN DATA WRAPPER w OPTIONS (a '1')"),
            ["fdw:w"]
        );
        assert_eq!(refs("ALTER SERVER s OPTIONS (a '1')"), ["server:s"]);
        assert_eq!(
            refs("ALTER USER MAPPING FOR CURRENT_USER SERVER s OPTIONS (a '1')"),
            ["server:s"]
        );
        assert_eq!(
            refs("ALTER PUBLICATION p ADD TABLE app.t"),
            ["app", "app.t", "publication:p"]
        );
        assert_eq!(
            refs("ALTER INDEX app.i DEPENDS ON EXTENSION e"),
            ["app", "app.i"]
        );
    }

    #[test]
    fn table_creates_itself_columns_and_serial_sequences() {
        let f =
            of("CREATE TABLE app.t (id serial PRIMARY KEY, n int CONSTRAINT n_ok CHECK (n > 0))");
        assert_eq!(
            f.creates,
            [
                "app.t",
                "app.t.id",
                "app.t_id_seq",
                "app.t_pkey",
                "app.t.n",
                "app.t.n_ok"
            ]
        );
        assert_eq!(f.references, ["app"]);
    }

    #[test]
    fn table_references_types_foreign_tables_functions_and_sequences() {
        let r = refs(
            "CREATE TABLE t (a mood[], b int REFERENCES u (id), c int DEFAULT nextval('s'::regclass), \
             d text DEFAULT nextval('\"S2\"') CHECK (valid(d)), e text COLLATE app.c) INHERITS (base)",
        );
        for name in [
            "public.mood",
            "public.u",
            "public.s",
            "public.S2",
            "public.valid",
            "public.base",
            "app.c",
            "app",
        ] {
            assert!(r.contains(&name.to_string()), "{name} missing from {r:?}");
        }
        assert!(!r.contains(&"public.t".to_string()));
        assert_eq!(
            of("CREATE TABLE t (b int REFERENCES u)").order.needs,
            ["public.u#key"]
        );
    }

    #[test]
    fn views_reference_their_tables() {
        let r = refs("CREATE VIEW v AS SELECT * FROM a JOIN app.b USING (id) WHERE f(x)");
        assert_eq!(r, ["app", "app.b", "public.a", "public.f"]);
    }

    #[test]
    fn triggers_indexes_and_policies_reference_their_table() {
        let r = refs("CREATE TRIGGER tr BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION trg()");
        assert!(r.contains(&"public.t".into()) && r.contains(&"public.trg".into()));
        let f = of("CREATE UNIQUE INDEX i ON app.t USING gin (x gin_trgm_ops)");
        assert_eq!(f.creates, ["app.i"]);
        assert!(f.references.contains(&"public.gin_trgm_ops".into()));
        assert_eq!(f.order.provides, ["app.t#like", "app.t#key"]);
        let p = of("CREATE POLICY p ON t USING (owner = current_user)");
        assert_eq!(p.creates, ["public.t.p"]);
    }

    #[test]
    fn comments_and_grants_reference_their_objects() {
        assert_eq!(
            refs("COMMENT ON COLUMN app.t.c IS 'x'"),
            ["app", "app.t", "app.t.c"]
        );
        assert_eq!(refs("COMMENT ON SCHEMA app IS 'x'"), ["app"]);
        assert!(refs("COMMENT ON FUNCTION f(int) IS 'x'").contains(&"public.f".into()));
        assert!(refs("GRANT SELECT ON t TO bob").contains(&"public.t".into()));
        assert_eq!(refs("GRANT USAGE ON SCHEMA app TO bob"), ["app"]);
        assert_eq!(
            refs("GRANT SELECT ON ALL TABLES IN SCHEMA app TO bob"),
            ["app"]
        );
    }

    #[test]
    fn sequences_owned_by_reference_the_table() {
        assert!(refs("ALTER SEQUENCE s OWNED BY app.t.id").contains(&"app.t".into()));
    }

    #[test]
    fn sql_function_bodies_are_walked() {
        let r =
            refs("CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT count(*) FROM t $$");
        assert!(r.contains(&"public.t".into()), "{r:?}");
        let p = refs("CREATE FUNCTION g() RETURNS int LANGUAGE plpgsql AS $$ BEGIN RETURN (SELECT 1 FROM t); END $$");
        assert!(!p.contains(&"public.t".into()));
    }

    #[test]
    fn constraints_using_an_index_and_cluster_on_reference_the_index() {
        let f = of("ALTER TABLE ONLY app.t ADD CONSTRAINT t_pkey PRIMARY KEY USING INDEX t_pkey");
        assert!(!f.creates.contains(&"app.t_pkey".into()));
        let f = of("ALTER TABLE app.t ADD CONSTRAINT pk PRIMARY KEY USING INDEX t_idx");
        assert!(f.creates.contains(&"app.pk".into()));
        assert!(f.references.contains(&"app.t_idx".into()));
        // The index is renamed to pk: statements naming t_idx (ALTER INDEX p ATTACH PARTITION
        // t_idx) keep their place before it instead of waiting for it.
        assert!(!f.order.provides.contains(&"app.t_idx".into()));
        let f = of("ALTER TABLE ONLY app.t ADD CONSTRAINT t_pkey PRIMARY KEY USING INDEX t_pkey");
        assert!(f.order.provides.contains(&"app.t_pkey".into()));
        assert!(refs("ALTER TABLE t CLUSTER ON t_idx").contains(&"public.t_idx".into()));
        assert!(
            refs("ALTER TABLE t REPLICA IDENTITY USING INDEX t_uk").contains(&"public.t_uk".into())
        );
    }

    #[test]
    fn partitions_provide_their_parent() {
        let f = of("CREATE TABLE app.p1 PARTITION OF app.p FOR VALUES IN (1)");
        assert_eq!(f.creates[0], "app.p1");
        assert!(f.references.contains(&"app.p".into()));
        assert!(f.order.provides.contains(&"app.p".into()));
        let f = of("ALTER INDEX app.p_idx ATTACH PARTITION app.p1_idx");
        assert!(f.order.provides.contains(&"app.p_idx".into()));
    }

    #[test]
    fn like_waits_for_what_it_copies() {
        assert_eq!(
            of("CREATE TABLE t (LIKE app.src INCLUDING ALL)")
                .order
                .needs,
            ["app.src#like"]
        );
        for sql in [
            "CREATE INDEX i ON app.src (x)",
            "COMMENT ON COLUMN app.src.x IS 'x'",
            "ALTER TABLE app.src ADD CONSTRAINT c CHECK (x > 0)",
            "CREATE STATISTICS s ON x, y FROM app.src",
        ] {
            assert!(
                of(sql).order.provides.contains(&"app.src#like".into()),
                "{sql}"
            );
        }
    }

    #[test]
    fn partitions_and_index_builds_are_recorded() {
        let f = of("CREATE TABLE app.p1 PARTITION OF app.p FOR VALUES IN (1)");
        assert_eq!(f.order.partitions, [("app.p1".into(), "app.p".into())]);
        let f = of("ALTER TABLE app.p ATTACH PARTITION app.p2 FOR VALUES IN (2)");
        assert_eq!(f.order.partitions, [("app.p2".into(), "app.p".into())]);
        assert_eq!(of("CREATE INDEX ON app.p1 (x)").order.index_on, ["app.p1"]);
        assert_eq!(
            of("ALTER TABLE app.p1 ADD PRIMARY KEY (x)").order.index_on,
            ["app.p1"]
        );
        assert!(
            of("ALTER TABLE app.p1 ADD CONSTRAINT k PRIMARY KEY USING INDEX i")
                .order
                .index_on
                .is_empty()
        );
    }

    #[test]
    fn alter_table_add_column_provides_the_table() {
        let f = of("ALTER TABLE t ADD COLUMN c int, ADD CONSTRAINT k UNIQUE (c)");
        assert_eq!(f.creates, ["public.t.c", "public.t.k", "public.k"]);
        assert!(f.order.provides.contains(&"public.t".into()));
        assert!(f.order.provides.contains(&"public.t#key".into()));
    }
}
