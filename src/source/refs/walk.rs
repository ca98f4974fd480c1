//! What a statement refers to: the generic walk over the whole parse tree (relations, types,
//! function calls, signatures, collations, operator classes, `nextval` and `::regclass`
//! literals, foreign key targets) and the names that are not tree nodes (commented, granted
//! or owned objects, trigger functions, `LANGUAGE sql` bodies).

use pg_query::protobuf::{self, ConstrType, GrantTargetType, ObjectType};
use pg_query::NodeEnum;

use super::creates::{access_method, is_part};
use super::{key_of, like_of, range_var, strings, Facts};
use crate::source::events::{self, Scalar, Seg, Sink};
use crate::source::names::{self, parse_dotted, part_of, qualify, relation};

/// Generic walk over the whole parse tree (`value`: a statement's `NodeEnum`, or any part of
/// one), recognising nodes by their type: see [`Walk`].
pub(super) fn walk<T: serde::Serialize + ?Sized>(value: &T, f: &mut Facts) {
    let mut sink = Walk {
        facts: f,
        path: Vec::with_capacity(32),
        marks: Vec::with_capacity(32),
        frames: Vec::new(),
    };
    events::stream(value, &mut sink);
}

/// The node types the walk reads names from, each the only type with the fields it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rule {
    /// A relation: `schemaname`, `relname`.
    RangeVar,
    /// A type name: `names`; `t.c%TYPE` (`pct_type`) refers to table `t`.
    TypeName,
    /// A function call: `funcname`; `nextval('seq')` and friends also refer to the sequence
    /// (their first argument's string constant).
    FuncCall,
    /// A function/operator signature: `objname`.
    ObjectWithArgs,
    /// A collation: `collname`.
    CollateClause,
    /// An index column's operator class: `opclass`.
    IndexElem,
    /// `'name'::regclass` refers to relation `name`: `type_name`'s `names`, `arg`'s constant.
    TypeCast,
    /// A foreign key needs a unique key of its target (`contype`, `pktable`).
    Constraint,
}

impl Rule {
    fn of(name: &str) -> Option<Rule> {
        Some(match name {
            "RangeVar" => Rule::RangeVar,
            "TypeName" => Rule::TypeName,
            "FuncCall" => Rule::FuncCall,
            "ObjectWithArgs" => Rule::ObjectWithArgs,
            "CollateClause" => Rule::CollateClause,
            "IndexElem" => Rule::IndexElem,
            "TypeCast" => Rule::TypeCast,
            "Constraint" => Rule::Constraint,
            _ => return None,
        })
    }

    /// The field holding the list of `String` nodes the rule reads as a name.
    fn names_field(self) -> &'static str {
        match self {
            Rule::TypeName => "names",
            Rule::FuncCall => "funcname",
            Rule::ObjectWithArgs => "objname",
            Rule::CollateClause => "collname",
            Rule::IndexElem => "opclass",
            _ => "",
        }
    }
}

/// One node of a recognised type being walked, and what was read of it so far.
struct Frame {
    rule: Rule,
    /// The length of the path to the node: its fields are at `path[depth]`.
    depth: usize,
    /// The `sval`s of the name list (`TypeCast`: of its type name).
    names: Vec<String>,
    schema: String,
    relname: String,
    /// The string constant read as a relation name (`nextval`'s argument, a `::regclass`'s).
    literal: Option<String>,
    pct_type: bool,
    contype: i64,
}

/// The walk as a sink of the tree's events: the path from the statement down, and a frame for
/// every recognised node open on it. A scalar is matched against the paths the open frames
/// read, relative to their node; a node's facts are noted when it ends.
struct Walk<'f> {
    facts: &'f mut Facts,
    path: Vec<Seg>,
    /// Per open struct: whether it opened a frame.
    marks: Vec<bool>,
    frames: Vec<Frame>,
}

/// The longest relative path a frame reads (`FuncCall`'s first argument's string constant).
const LONGEST: usize = 7;

/// `[<list>, <i>, node, String, sval]`: an element of a list of `String` nodes.
fn list_string(rel: &[Seg], list: &str) -> bool {
    matches!(rel, [Seg::Field(l), Seg::Index(_), Seg::Field("node"), Seg::Variant("String"), Seg::Field("sval")] if *l == list)
}

/// `[node, AConst, val, Sval, sval]`: a node that is a string constant.
fn string_constant(rel: &[Seg]) -> bool {
    matches!(
        rel,
        [
            Seg::Field("node"),
            Seg::Variant("AConst"),
            Seg::Field("val"),
            Seg::Variant("Sval"),
            Seg::Field("sval")
        ]
    )
}

impl Frame {
    fn scalar(&mut self, rel: &[Seg], value: Scalar) {
        match (self.rule, value) {
            (Rule::RangeVar, Scalar::Str(s)) => match rel {
                [Seg::Field("schemaname")] => self.schema = s.to_string(),
                [Seg::Field("relname")] => self.relname = s.to_string(),
                _ => {}
            },
            (Rule::TypeName, Scalar::Bool(b)) if rel == [Seg::Field("pct_type")] => {
                self.pct_type = b
            }
            (Rule::Constraint, Scalar::Int(i)) if rel == [Seg::Field("contype")] => {
                self.contype = i
            }
            (Rule::Constraint, Scalar::Str(s)) => match rel {
                [Seg::Field("pktable"), Seg::Field("schemaname")] => self.schema = s.to_string(),
                [Seg::Field("pktable"), Seg::Field("relname")] => self.relname = s.to_string(),
                _ => {}
            },
            (Rule::TypeCast, Scalar::Str(s)) => match rel {
                [Seg::Field("type_name"), list @ ..] if list_string(list, "names") => {
                    self.names.push(s.to_string())
                }
                [Seg::Field("arg"), constant @ ..] if string_constant(constant) => {
                    self.literal = Some(s.to_string())
                }
                _ => {}
            },
            (Rule::FuncCall, Scalar::Str(s)) => match rel {
                [Seg::Field("args"), Seg::Index(0), constant @ ..] if string_constant(constant) => {
                    self.literal = Some(s.to_string())
                }
                _ if list_string(rel, "funcname") => self.names.push(s.to_string()),
                _ => {}
            },
            (rule, Scalar::Str(s)) if list_string(rel, rule.names_field()) => {
                self.names.push(s.to_string())
            }
            _ => {}
        }
    }

    /// The node has ended: note what it refers to.
    fn finish(mut self, f: &mut Facts) {
        match self.rule {
            Rule::RangeVar => f.refer(relation(&self.schema, &self.relname)),
            Rule::TypeName if self.pct_type => {
                self.names.pop();
                f.refer(qualify(&self.names));
            }
            Rule::TypeName => f.refer(names::type_name(&self.names)),
            Rule::FuncCall => {
                let sequence_fn = matches!(
                    self.names.last().map(String::as_str),
                    Some("nextval" | "currval" | "setval")
                );
                if sequence_fn {
                    f.refer(self.literal.as_deref().and_then(literal_name));
                }
                f.refer(qualify(&self.names));
            }
            Rule::ObjectWithArgs | Rule::CollateClause | Rule::IndexElem => {
                f.refer(qualify(&self.names))
            }
            Rule::TypeCast => {
                if self.names.last().map(String::as_str) == Some("regclass") {
                    f.refer(self.literal.as_deref().and_then(literal_name));
                }
            }
            Rule::Constraint => {
                if self.contype == ConstrType::ConstrForeign as i64 {
                    if let Some(table) = relation(&self.schema, &self.relname) {
                        f.order.needs.push(key_of(&table));
                    }
                }
            }
        }
    }
}

impl Sink for Walk<'_> {
    fn enter(&mut self, seg: Seg) {
        self.path.push(seg);
    }

    fn leave(&mut self) {
        self.path.pop();
    }

    fn struct_start(&mut self, name: &'static str) {
        let rule = Rule::of(name);
        self.marks.push(rule.is_some());
        if let Some(rule) = rule {
            self.frames.push(Frame {
                rule,
                depth: self.path.len(),
                names: Vec::new(),
                schema: String::new(),
                relname: String::new(),
                literal: None,
                pct_type: false,
                contype: 0,
            });
        }
    }

    fn struct_end(&mut self) {
        if self.marks.pop() == Some(true) {
            if let Some(frame) = self.frames.pop() {
                frame.finish(self.facts);
            }
        }
    }

    fn seq_start(&mut self, _len: usize) {}

    fn seq_end(&mut self) {}

    fn scalar(&mut self, value: Scalar) {
        let path = &self.path;
        for frame in self.frames.iter_mut().rev() {
            let rel = &path[frame.depth..];
            if rel.len() > LONGEST {
                break;
            }
            frame.scalar(rel, value);
        }
    }
}

/// A relation name written inside a string literal, as `nextval` reads it.
fn literal_name(text: &str) -> Option<String> {
    qualify(&parse_dotted(text)?)
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
                        walk(node, f);
                    }
                }
            }
        }
    }
}
