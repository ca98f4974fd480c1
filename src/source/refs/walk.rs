//! What a statement refers to: the generic walk over the whole parse tree (relations, types,
//! function calls, signatures, collations, operator classes, `nextval` and `::regclass`
//! literals, foreign key targets) and the names that are not tree nodes (commented, granted
//! or owned objects, trigger functions, `LANGUAGE sql` bodies).

use pg_query::protobuf::{self, ConstrType, GrantTargetType, ObjectType};
use pg_query::NodeEnum;
use serde_json::{Map, Value};

use super::creates::{access_method, is_part};
use super::{key_of, like_of, range_var, strings, Facts};
use crate::source::names::{self, parse_dotted, part_of, qualify, relation};

/// Generic walk over the serialized parse tree, recognising nodes by their fields.
pub(super) fn walk(value: &Value, f: &mut Facts) {
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
pub(super) fn named_references(node: &NodeEnum, f: &mut Facts) {
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
pub(super) fn global_name(objtype: i32, name: &str) -> Option<String> {
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
                        walk(&super::tree(node), f);
                    }
                }
            }
        }
    }
}
