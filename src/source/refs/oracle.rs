//! The walk and the shape digest as they were before they read the tree's events
//! (`source::events`): the parse tree converted to JSON and walked by field names. Kept as the
//! oracle the event walk and digest are compared with, over every statement of the fixture
//! suite and the corpus.

use pg_query::protobuf::ConstrType;
use pg_query::NodeEnum;
use serde_json::{Map, Value};

use super::{key_of, Facts};
use crate::source::names::{self, parse_dotted, qualify, relation};

/// Generic walk over the serialized parse tree, recognising nodes by their fields.
pub(super) fn walk_json(value: &Value, f: &mut Facts) {
    match value {
        Value::Object(map) => {
            visit(map, f);
            map.values().for_each(|v| walk_json(v, f));
        }
        Value::Array(items) => items.iter().for_each(|v| walk_json(v, f)),
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

/// The shape digest as it was: SHA-256 of the JSON text of the tree without positions.
fn shape_json(node: &NodeEnum) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let tree = crate::source::twice::without_locations(serde_json::to_value(node).unwrap());
    Sha256::digest(tree.to_string().as_bytes()).into()
}

/// Shapes of every node the walk reads that the fixtures and the corpus lack or hold few of,
/// each in several places (nested, in lists, next to each other), and statements that differ
/// only by position (twice in one text) or by one value.
const SHAPES: &[&str] = &[
    "CREATE TABLE app.t (a int DEFAULT nextval('app.s'::regclass), b int DEFAULT nextval('s2'), \
     c text DEFAULT currval('\"Q\".\"S3\"'), d oid DEFAULT 'app.u'::regclass, \
     e oid DEFAULT ('x'::text)::regclass, f int DEFAULT setval(('s4'::text)::regclass, 1), \
     g int DEFAULT nextval(1::int), h regclass DEFAULT 'pg_catalog.pg_class'::pg_catalog.regclass)",
    "CREATE FUNCTION g(a app.u.id%TYPE, b u.c%TYPE) RETURNS u.d%TYPE LANGUAGE plpgsql AS 'x'",
    "CREATE TABLE t (c int REFERENCES app.p, \
     d int, FOREIGN KEY (d) REFERENCES q (id) ON DELETE CASCADE, e text COLLATE \"C\", \
     f text COLLATE app.c CHECK (f COLLATE app.c2 > 'a' AND g(f::app.dom) AND f ~ h.i(f)))",
    "ALTER TABLE app.t ADD CONSTRAINT fk FOREIGN KEY (a) REFERENCES app.u (id) NOT VALID, \
     ADD COLUMN z int REFERENCES other, ALTER COLUMN a TYPE bigint USING a::bigint",
    "CREATE INDEX i ON app.t USING gist (a app.ops, lower(b) text_pattern_ops, c COLLATE app.c DESC)",
    "CREATE VIEW v AS SELECT f(a)::app.ty, 'r'::regclass, nextval('s'), x.y.z(b) OVER w, \
     (SELECT count(*) FROM app.u u JOIN v2 USING (id) WHERE u.k = ANY(ARRAY[1]::int[])) \
     FROM app.t WINDOW w AS (ORDER BY a)",
    "COMMENT ON FUNCTION app.f(int, app.ty[]) IS 'x'",
    "GRANT EXECUTE ON FUNCTION f(integer), app.g(text) TO bob",
    "DROP OPERATOR app.=== (int, int), ### (NONE, app.ty)",
    "CREATE AGGREGATE app.agg(int, app.ty) (SFUNC = app.step, STYPE = int, FINALFUNC = fin)",
    "CREATE FUNCTION f(a app.t.c%TYPE, b int DEFAULT nextval('s'::regclass)) RETURNS SETOF app.t \
     LANGUAGE sql AS $$ SELECT * FROM app.t WHERE id = currval('app.s') $$",
    "SELECT 1; SELECT 1; SELECT  1; SELECT 2; SELECT '1'",
    "CREATE TABLE t (a int); CREATE TABLE t (a int); CREATE TABLE t (a bigint)",
];

/// Every statement of every `.sql` file under the fixture suite and the corpus (when it is
/// there), with the `AS` bodies of functions that parse: (file, statement).
fn statements() -> Vec<(std::path::PathBuf, NodeEnum)> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    for sql in SHAPES {
        let tree = pg_query::parse(sql, pg_query::ParserOptions::DEFAULT).unwrap();
        let nodes = tree.protobuf.stmts.into_iter().filter_map(|s| s.stmt?.node);
        out.extend(nodes.map(|n| (std::path::PathBuf::from(*sql), n)));
    }
    let mut files = Vec::new();
    for dir in [root.join("fixtures"), root.join("../shared/corpus")] {
        collect(&dir, &mut files);
    }
    files.sort();
    for file in files {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        let mut nodes = Vec::new();
        match pg_query::parse(&text, pg_query::ParserOptions::DEFAULT) {
            Ok(tree) => nodes.extend(tree.protobuf.stmts.into_iter().filter_map(|s| s.stmt?.node)),
            Err(_) => {
                for piece in pg_query::split_with_scanner(&text).unwrap_or_default() {
                    if let Ok(tree) = pg_query::parse(piece, pg_query::ParserOptions::DEFAULT) {
                        nodes.extend(tree.protobuf.stmts.into_iter().filter_map(|s| s.stmt?.node));
                    }
                }
            }
        }
        let mut bodies = Vec::new();
        for node in &nodes {
            let NodeEnum::CreateFunctionStmt(f) = node else {
                continue;
            };
            for option in &f.options {
                let Some(NodeEnum::DefElem(d)) = &option.node else {
                    continue;
                };
                let Some(NodeEnum::List(list)) = d.arg.as_ref().and_then(|a| a.node.as_ref())
                else {
                    continue;
                };
                for body in super::strings(&list.items) {
                    if let Ok(tree) = pg_query::parse(&body, pg_query::ParserOptions::DEFAULT) {
                        bodies.extend(tree.protobuf.stmts.into_iter().filter_map(|s| s.stmt?.node));
                    }
                }
            }
        }
        out.extend(nodes.into_iter().chain(bodies).map(|n| (file.clone(), n)));
    }
    out
}

fn collect(dir: &std::path::Path, files: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, files);
        } else if path.extension().is_some_and(|e| e == "sql") {
            files.push(path);
        }
    }
}

fn sorted(mut f: Facts) -> (Vec<String>, Vec<String>) {
    f.references.sort();
    f.order.needs.sort();
    (f.references, f.order.needs)
}

#[test]
fn the_event_walk_and_shape_agree_with_the_json_ones_on_every_fixture_and_corpus_statement() {
    use std::collections::HashMap;
    let statements = statements();
    assert!(statements.len() > 1000, "{} statements", statements.len());
    let mut old_to_new: HashMap<[u8; 32], [u8; 32]> = HashMap::new();
    let mut new_to_old: HashMap<[u8; 32], [u8; 32]> = HashMap::new();
    let mut walked = 0;
    for (file, node) in &statements {
        let mut new = Facts::default();
        super::walk::walk(node, &mut new);
        let mut old = Facts::default();
        walk_json(&serde_json::to_value(node).unwrap(), &mut old);
        walked += new.references.len();
        assert_eq!(
            sorted(new),
            sorted(old),
            "{}: {}",
            file.display(),
            format!("{node:?}").chars().take(600).collect::<String>()
        );
        let (new, old) = (crate::source::events::shape(node), shape_json(node));
        assert_eq!(
            *old_to_new.entry(old).or_insert(new),
            new,
            "{}",
            file.display()
        );
        assert_eq!(
            *new_to_old.entry(new).or_insert(old),
            old,
            "{}",
            file.display()
        );
    }
    // Identical statements (same tree, other positions) are among them.
    assert!(old_to_new.len() < statements.len(), "no repeated statement");
    assert!(walked > 1000, "{walked} references");
    eprintln!(
        "{} statements, {} shapes, {walked} references",
        statements.len(),
        old_to_new.len()
    );
}
