//! Scope: which objects of a database are the project's. `include` / `exclude` patterns
//! `KIND:GLOB` (`schema:audit`, `table:public.legacy_*`, `function:public.pg_stat_*`) split a
//! schema read from a database into the part `plan`, `drift`, `dump` and the fingerprints see
//! (in scope) and the rest (out of scope, the *context*).
//!
//! Rules (docs/configuration.md, "Scope"):
//! - An empty `include` means everything; otherwise an object is in scope when an include
//!   pattern matches it. An object matched by an exclude pattern is out of scope either way.
//! - `schema:GLOB` matches a schema and every object in it; `KIND:SCHEMA.NAME` matches objects
//!   of that kind (`table` also partitions and foreign tables, `foreign_table` foreign tables
//!   only, `view` also materialized views, `function` also
//!   procedures and aggregates, `type` also domains). Database-wide kinds (`extension`,
//!   `publication`, `event_trigger`) match by name. Globs are globset's (`*`, `?`, `[..]`,
//!   `{a,b}`), against the unquoted names.
//! - Members follow the object they belong to: columns, constraints, indexes, triggers,
//!   policies, owned sequences, comments and grants follow their table (or view, function ...).
//!   A publication's table (schema) membership is in scope when both the publication and the
//!   table (schema) are.
//! - Objects owned by extensions are never in scope: the catalog read leaves them out already.
//!
//! The context is what a desired object may depend on without owning it (an FK to
//! `audit.users`, a trigger calling `audit.fn()`): [`loadable_context`] keeps the part of it
//! that does not depend on in-scope objects, which `workflow` creates in the shadow before
//! the schema files (and in the proof's scratch database before the current schema).

use crate::model::{ObjectId, QName, Schema};
use globset::{Glob, GlobMatcher};
use std::collections::BTreeSet;
use std::fmt;

/// The kinds a pattern can name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Schema,
    Extension,
    Collation,
    Type,
    Sequence,
    Table,
    /// Foreign tables (a `table` pattern matches them too).
    ForeignTable,
    View,
    Function,
    Publication,
    EventTrigger,
    /// Foreign-data wrappers, servers and their user mappings (by server).
    ForeignDataWrapper,
    Server,
    /// Casts, by `SOURCE AS TARGET` type names.
    Cast,
    /// Text search dictionaries and configurations.
    TextSearch,
    Operator,
    OperatorClass,
    OperatorFamily,
    AccessMethod,
    Conversion,
    Language,
    /// Extended statistics objects (by their own name; a rule goes with its table or view).
    Statistics,
}

/// Every kind word, as written in a pattern.
pub const KINDS: [&str; 22] = [
    "schema",
    "extension",
    "collation",
    "type",
    "sequence",
    "table",
    "foreign_table",
    "view",
    "function",
    "publication",
    "event_trigger",
    "foreign_data_wrapper",
    "server",
    "cast",
    "text_search",
    "operator",
    "operator_class",
    "operator_family",
    "access_method",
    "conversion",
    "language",
    "statistics",
];

impl Kind {
    fn parse(word: &str) -> Option<Kind> {
        Some(match word {
            "schema" => Kind::Schema,
            "extension" => Kind::Extension,
            "collation" => Kind::Collation,
            "type" | "domain" => Kind::Type,
            "sequence" => Kind::Sequence,
            "table" => Kind::Table,
            "foreign_table" => Kind::ForeignTable,
            "view" | "materialized_view" => Kind::View,
            "function" | "procedure" | "aggregate" => Kind::Function,
            "publication" => Kind::Publication,
            "event_trigger" => Kind::EventTrigger,
            "foreign_data_wrapper" => Kind::ForeignDataWrapper,
            "server" | "user_mapping" => Kind::Server,
            "cast" => Kind::Cast,
            "text_search" => Kind::TextSearch,
            "operator" => Kind::Operator,
            "operator_class" => Kind::OperatorClass,
            "operator_family" => Kind::OperatorFamily,
            "access_method" => Kind::AccessMethod,
            "conversion" => Kind::Conversion,
            "language" => Kind::Language,
            "statistics" => Kind::Statistics,
            _ => return None,
        })
    }

    /// Whether names of this kind are schema-qualified (`SCHEMA.NAME`).
    fn qualified(self) -> bool {
        !matches!(
            self,
            Kind::Schema
                | Kind::Extension
                | Kind::Publication
                | Kind::EventTrigger
                | Kind::ForeignDataWrapper
                | Kind::Server
                | Kind::Cast
                | Kind::AccessMethod
                | Kind::Language
        )
    }
}

/// One `KIND:GLOB` pattern.
#[derive(Clone, Debug)]
pub struct Pattern {
    text: String,
    kind: Kind,
    glob: GlobMatcher,
}

impl Pattern {
    /// Parses `KIND:GLOB`; the error says what is wrong and what is expected.
    pub fn parse(text: &str) -> Result<Pattern, String> {
        let Some((word, glob)) = text.split_once(':') else {
            return Err(format!(
                "scope pattern {text:?} has no kind: write KIND:GLOB, e.g. schema:audit or \
                 table:public.legacy_* (kinds: {})",
                KINDS.join(", ")
            ));
        };
        let kind = Kind::parse(word.trim()).ok_or_else(|| {
            format!(
                "scope pattern {text:?}: unknown kind {word:?} (kinds: {})",
                KINDS.join(", ")
            )
        })?;
        let glob = glob.trim();
        if glob.is_empty() {
            return Err(format!("scope pattern {text:?} has no name after the kind"));
        }
        if kind.qualified() && !glob.contains('.') {
            return Err(format!(
                "scope pattern {text:?}: a {word} name is schema-qualified, SCHEMA.NAME (e.g. \
                 {word}:public.{glob} or {word}:*.{glob})"
            ));
        }
        let glob = Glob::new(glob)
            .map_err(|e| format!("scope pattern {text:?}: {e}"))?
            .compile_matcher();
        Ok(Pattern {
            text: text.to_string(),
            kind,
            glob,
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    fn matches(&self, s: &Subject) -> bool {
        match self.kind {
            Kind::Schema => s.schema.as_deref().is_some_and(|n| self.glob.is_match(n)),
            k => {
                (k == s.kind || (k == Kind::Table && s.kind == Kind::ForeignTable))
                    && match &s.schema {
                        Some(schema) if k.qualified() => {
                            self.glob.is_match(format!("{schema}.{}", s.name))
                        }
                        _ => self.glob.is_match(&s.name),
                    }
            }
        }
    }
}

/// The object a pattern is matched against: the top-level object an [`ObjectId`] belongs to.
struct Subject {
    kind: Kind,
    /// The schema it is in (a schema: itself); `None` for database-wide kinds.
    schema: Option<String>,
    name: String,
}

impl Subject {
    fn in_schema(kind: Kind, q: &QName) -> Subject {
        Subject {
            kind,
            schema: Some(q.schema.to_string()),
            name: q.name.to_string(),
        }
    }
}

/// The include and exclude patterns of a command (empty: everything is in scope).
#[derive(Clone, Debug, Default)]
pub struct Scope {
    include: Vec<Pattern>,
    exclude: Vec<Pattern>,
}

impl PartialEq for Scope {
    /// Two scopes are the same when they list the same patterns, in any order.
    fn eq(&self, other: &Scope) -> bool {
        self.include_texts() == other.include_texts()
            && self.exclude_texts() == other.exclude_texts()
    }
}

impl Eq for Scope {}

impl fmt::Display for Scope {
    /// `everything`, or `include [..] exclude [..]` (the form of a plan header).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_everything() {
            return write!(f, "everything");
        }
        let list = |v: Vec<String>| serde_json::to_string(&v).unwrap_or_default();
        let mut parts = Vec::new();
        if !self.include.is_empty() {
            parts.push(format!("include {}", list(self.include_texts())));
        }
        if !self.exclude.is_empty() {
            parts.push(format!("exclude {}", list(self.exclude_texts())));
        }
        write!(f, "{}", parts.join(" "))
    }
}

/// The serialized form (`plan.json`, the model of a [`crate::plan::Plan`]): both lists.
#[derive(serde::Serialize, serde::Deserialize)]
struct Lists {
    #[serde(default)]
    include: Vec<String>,
    #[serde(default)]
    exclude: Vec<String>,
}

impl serde::Serialize for Scope {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let lists = Lists {
            include: self.include_texts(),
            exclude: self.exclude_texts(),
        };
        serde::Serialize::serialize(&lists, s)
    }
}

impl<'de> serde::Deserialize<'de> for Scope {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Scope, D::Error> {
        let l = <Lists as serde::Deserialize>::deserialize(d)?;
        Scope::new(&l.include, &l.exclude).map_err(serde::de::Error::custom)
    }
}

impl Scope {
    /// The scope of `include` and `exclude` pattern texts.
    pub fn new(include: &[String], exclude: &[String]) -> Result<Scope, String> {
        let parse = |v: &[String]| {
            v.iter()
                .filter(|p| !p.trim().is_empty())
                .map(|p| Pattern::parse(p))
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(Scope {
            include: parse(include)?,
            exclude: parse(exclude)?,
        })
    }

    /// Parses the [`Display`](fmt::Display) form (a plan header's `scope:` value).
    pub fn parse_display(text: &str) -> Result<Scope, String> {
        let text = text.trim();
        if text == "everything" {
            return Ok(Scope::default());
        }
        let mut include: Vec<String> = Vec::new();
        let mut exclude: Vec<String> = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            let (which, after) = rest
                .split_once(' ')
                .ok_or_else(|| format!("`{text}` is not `include [..] exclude [..]`"))?;
            let mut stream = serde_json::Deserializer::from_str(after).into_iter::<Vec<String>>();
            let list = stream
                .next()
                .ok_or_else(|| format!("`{which}` has no list"))?
                .map_err(|e| format!("`{which}` list: {e}"))?;
            let used = stream.byte_offset();
            match which {
                "include" => include = list,
                "exclude" => exclude = list,
                w => return Err(format!("unknown scope part `{w}`")),
            }
            rest = after[used..].trim_start();
        }
        Scope::new(&include, &exclude)
    }

    /// Whether everything is in scope (no patterns).
    pub fn is_everything(&self) -> bool {
        self.include.is_empty() && self.exclude.is_empty()
    }

    /// The include patterns, sorted and without repeats.
    pub fn include_texts(&self) -> Vec<String> {
        texts(&self.include)
    }

    /// The exclude patterns, sorted and without repeats.
    pub fn exclude_texts(&self) -> Vec<String> {
        texts(&self.exclude)
    }

    /// The pattern that puts `s` out of scope (the exclude that matches it, or the include
    /// list when none of it does); `None` when it is in scope.
    fn why_out(&self, s: &Subject) -> Option<String> {
        if let Some(p) = self.exclude.iter().find(|p| p.matches(s)) {
            return Some(format!("exclude {:?}", p.text));
        }
        if !self.include.is_empty() && !self.include.iter().any(|p| p.matches(s)) {
            return Some(format!(
                "include {}",
                serde_json::to_string(&self.include_texts()).unwrap_or_default()
            ));
        }
        None
    }

    /// Whether object `id` of `schema` is in scope.
    pub fn contains(&self, id: &ObjectId, schema: &Schema) -> bool {
        if self.is_everything() {
            return true;
        }
        match id {
            ObjectId::PublicationTable(p, t) => {
                self.contains(&ObjectId::Publication(p.clone()), schema)
                    && self.contains(&ObjectId::Table(t.clone()), schema)
            }
            ObjectId::PublicationSchema(p, n) => {
                self.contains(&ObjectId::Publication(p.clone()), schema)
                    && self.contains(&ObjectId::Schema(n.clone()), schema)
            }
            _ => self.why_out(&subject(id, schema)).is_none(),
        }
    }

    /// Why `id` is out of scope (the pattern that says so), `None` when it is in scope.
    pub fn excluded_by(&self, id: &ObjectId, schema: &Schema) -> Option<String> {
        self.why_out(&subject(id, schema))
    }

    /// Whether a source name (`docs/source.md`, "Names") of a statement of `kind`
    /// (`CREATE TABLE`, ...) is out of scope, and by which pattern. Statements whose kind does
    /// not say what they create (an index, a trigger, ...) are judged by their schema alone.
    pub fn source_excluded_by(&self, statement_kind: &str, name: &str) -> Option<String> {
        if self.is_everything() {
            return None;
        }
        let k = statement_kind.to_ascii_uppercase();
        let (word, rest) = match name.split_once(':') {
            Some((w, r)) if !r.is_empty() && !name.contains('.') => (Some(w), r),
            _ => (None, name),
        };
        let subject = match word {
            Some(w) => Subject {
                kind: Kind::parse(w)?,
                schema: None,
                name: rest.to_string(),
            },
            None => {
                let parts: Vec<&str> = rest.splitn(3, '.').collect();
                let kind = if k.contains("SCHEMA") && parts.len() == 1 {
                    Kind::Schema
                } else if k.contains("OPERATOR CLASS") {
                    Kind::OperatorClass
                } else if k.contains("OPERATOR FAMILY") {
                    Kind::OperatorFamily
                } else if k.contains("OPERATOR") {
                    Kind::Operator
                } else if k.contains("MATERIALIZED VIEW") || k.contains("VIEW") {
                    Kind::View
                } else if k.contains("FUNCTION")
                    || k.contains("PROCEDURE")
                    || k.contains("AGGREGATE")
                {
                    Kind::Function
                } else if k.contains("SEQUENCE") {
                    Kind::Sequence
                } else if k.contains("DOMAIN") || k.contains("TYPE") {
                    Kind::Type
                } else if k.contains("COLLATION") {
                    Kind::Collation
                } else if k.contains("FOREIGN TABLE") {
                    Kind::ForeignTable
                } else if k.contains("TABLE") {
                    Kind::Table
                } else {
                    // Judged by schema only: a kind that cannot match a kind pattern.
                    Kind::Schema
                };
                match parts.as_slice() {
                    [n] => Subject {
                        kind: Kind::Schema,
                        schema: Some(n.to_string()),
                        name: n.to_string(),
                    },
                    // A table's parts (`schema.table.column`) follow the table.
                    [s, n, _] => Subject::in_schema(Kind::Table, &QName::new(*s, *n)),
                    [s, _] if kind == Kind::Schema => Subject {
                        kind: Kind::Schema,
                        schema: Some(s.to_string()),
                        name: s.to_string(),
                    },
                    [s, n] => Subject::in_schema(kind, &QName::new(*s, *n)),
                    _ => return None,
                }
            }
        };
        self.why_out(&subject)
    }

    /// Splits `schema` into (in scope, out of scope). Dependency edges stay within each part.
    pub fn split(&self, schema: &Schema) -> (Schema, Schema) {
        if self.is_everything() {
            return (schema.clone(), empty_like(schema));
        }
        let inside = |id: &ObjectId| self.contains(id, schema);
        let ins = filtered(schema, &inside);
        let outs = filtered(schema, &|id: &ObjectId| !inside(id));
        (ins, outs)
    }

    /// The in-scope part of `schema` alone.
    pub fn inside(&self, schema: &Schema) -> Schema {
        if self.is_everything() {
            return schema.clone();
        }
        filtered(schema, &|id: &ObjectId| self.contains(id, schema))
    }

    /// [`Scope::inside`] of a schema the caller no longer needs whole: without a scope it is
    /// returned as it is, not copied (a catalog read's schema is big: issue 9).
    pub fn into_inside(&self, schema: Schema) -> Schema {
        if self.is_everything() {
            return schema;
        }
        self.inside(&schema)
    }
}

fn texts(v: &[Pattern]) -> Vec<String> {
    let set: BTreeSet<String> = v.iter().map(|p| p.text.clone()).collect();
    set.into_iter().collect()
}

/// A schema with nothing in it.
fn empty_like(_schema: &Schema) -> Schema {
    Schema::default()
}

/// The top-level object `id` follows, for matching.
fn subject(id: &ObjectId, schema: &Schema) -> Subject {
    let relation = |q: &QName| {
        if schema.views.contains_key(q) {
            Subject::in_schema(Kind::View, q)
        } else if schema.tables.get(q).is_some_and(|t| t.is_foreign()) {
            Subject::in_schema(Kind::ForeignTable, q)
        } else {
            Subject::in_schema(Kind::Table, q)
        }
    };
    match id {
        ObjectId::Schema(n) => Subject {
            kind: Kind::Schema,
            schema: Some(n.to_string()),
            name: n.to_string(),
        },
        ObjectId::Extension(n) => Subject {
            kind: Kind::Extension,
            schema: None,
            name: n.to_string(),
        },
        ObjectId::Publication(n) | ObjectId::PublicationTable(n, _) => Subject {
            kind: Kind::Publication,
            schema: None,
            name: n.to_string(),
        },
        ObjectId::PublicationSchema(n, _) => Subject {
            kind: Kind::Publication,
            schema: None,
            name: n.to_string(),
        },
        ObjectId::EventTrigger(n) => Subject {
            kind: Kind::EventTrigger,
            schema: None,
            name: n.to_string(),
        },
        ObjectId::ForeignDataWrapper(n) => Subject {
            kind: Kind::ForeignDataWrapper,
            schema: None,
            name: n.to_string(),
        },
        ObjectId::ForeignServer(n) | ObjectId::UserMapping(n, _) => Subject {
            kind: Kind::Server,
            schema: None,
            name: n.to_string(),
        },
        ObjectId::AccessMethod(n) => Subject {
            kind: Kind::AccessMethod,
            schema: None,
            name: n.to_string(),
        },
        ObjectId::Language(n) => Subject {
            kind: Kind::Language,
            schema: None,
            name: n.to_string(),
        },
        ObjectId::Conversion(q) => Subject::in_schema(Kind::Conversion, q),
        ObjectId::Statistics(q) => Subject::in_schema(Kind::Statistics, q),
        ObjectId::Cast(from, to) => Subject {
            kind: Kind::Cast,
            schema: None,
            name: format!("{from} AS {to}"),
        },
        ObjectId::TextSearchDictionary(q) | ObjectId::TextSearchConfiguration(q) => {
            Subject::in_schema(Kind::TextSearch, q)
        }
        ObjectId::Collation(q) => Subject::in_schema(Kind::Collation, q),
        ObjectId::Operator(q, _) => Subject::in_schema(Kind::Operator, q),
        ObjectId::OperatorClass(q, _) => Subject::in_schema(Kind::OperatorClass, q),
        ObjectId::OperatorFamily(q, _) => Subject::in_schema(Kind::OperatorFamily, q),
        ObjectId::Type(q) | ObjectId::DomainConstraint(q, _) => Subject::in_schema(Kind::Type, q),
        ObjectId::Sequence(q) => match schema.sequences.get(q).and_then(|s| s.owned_by.clone()) {
            Some((t, _)) => relation(&t),
            None => Subject::in_schema(Kind::Sequence, q),
        },
        ObjectId::Index(q) => match schema.indexes.get(q) {
            Some(i) => relation(&i.table),
            None => Subject::in_schema(Kind::Table, q),
        },
        ObjectId::Table(q)
        | ObjectId::Column(q, _)
        | ObjectId::Constraint(q, _)
        | ObjectId::Trigger(q, _)
        | ObjectId::Rule(q, _)
        | ObjectId::Policy(q, _) => relation(q),
        ObjectId::View(q) => Subject::in_schema(Kind::View, q),
        ObjectId::Function(q, _) => Subject::in_schema(Kind::Function, q),
    }
}

/// The part of `schema` whose objects `keep` says yes to (a member also needs its parent
/// kept). Dependency edges are kept when both ends are.
fn filtered(schema: &Schema, keep: &dyn Fn(&ObjectId) -> bool) -> Schema {
    let keep_id = |id: &ObjectId| keep(id) && id.parent().is_none_or(|p| keep(&p));
    let mut s = schema.clone();
    s.schemas
        .retain(|n, _| keep_id(&ObjectId::Schema(n.as_str().into())));
    s.extensions
        .retain(|n, _| keep_id(&ObjectId::Extension(n.as_str().into())));
    s.collations
        .retain(|q, _| keep_id(&ObjectId::Collation(q.clone())));
    s.types.retain(|q, _| keep_id(&ObjectId::Type(q.clone())));
    for (q, t) in s.types.iter_mut() {
        if let crate::model::TypeKind::Domain(d) = &mut t.kind {
            d.constraints
                .retain(|n, _| keep_id(&ObjectId::DomainConstraint(q.clone(), n.as_str().into())));
        }
    }
    s.sequences
        .retain(|q, _| keep_id(&ObjectId::Sequence(q.clone())));
    s.tables.retain(|q, _| keep_id(&ObjectId::Table(q.clone())));
    for (q, t) in s.tables.iter_mut() {
        t.columns
            .retain(|c| keep_id(&ObjectId::Column(q.clone(), c.name.clone())));
        t.constraints
            .retain(|c| keep_id(&ObjectId::Constraint(q.clone(), c.name.as_str().into())));
    }
    s.indexes
        .retain(|q, _| keep_id(&ObjectId::Index(q.clone())));
    s.views.retain(|q, _| keep_id(&ObjectId::View(q.clone())));
    s.functions
        .retain(|(q, a), _| keep_id(&ObjectId::Function(q.clone(), a.as_str().into())));
    s.triggers
        .retain(|(q, n), _| keep_id(&ObjectId::Trigger(q.clone(), n.as_str().into())));
    s.policies
        .retain(|(q, n), _| keep_id(&ObjectId::Policy(q.clone(), n.as_str().into())));
    s.publications
        .retain(|n, _| keep_id(&ObjectId::Publication(n.as_str().into())));
    s.publication_tables
        .retain(|(p, q), _| keep_id(&ObjectId::PublicationTable(p.as_str().into(), q.clone())));
    s.publication_schemas.retain(|(p, n)| {
        keep_id(&ObjectId::PublicationSchema(
            p.as_str().into(),
            n.as_str().into(),
        ))
    });
    s.event_triggers
        .retain(|n, _| keep_id(&ObjectId::EventTrigger(n.as_str().into())));
    s.access_methods
        .retain(|n, _| keep_id(&ObjectId::AccessMethod(n.as_str().into())));
    s.conversions
        .retain(|q, _| keep_id(&ObjectId::Conversion(q.clone())));
    s.languages
        .retain(|n, _| keep_id(&ObjectId::Language(n.as_str().into())));
    s.statistics
        .retain(|q, _| keep_id(&ObjectId::Statistics(q.clone())));
    s.rules
        .retain(|(q, n), _| keep_id(&ObjectId::Rule(q.clone(), n.as_str().into())));
    s.comments.retain(|id, _| keep_id(id));
    s.grants.retain(|g| keep_id(&g.on));
    s.default_privileges.retain(|d| match &d.schema {
        None => true,
        Some(n) => keep_id(&ObjectId::Schema(n.as_str().into())),
    });
    s.depends.retain(|id, _| keep_id(id));
    for targets in s.depends.values_mut() {
        targets.retain(|t| keep_id(t));
    }
    s.depends.retain(|_, t| !t.is_empty());
    s.owners.retain(|id, _| keep_id(id));
    s.sizes.retain(|q, _| keep_id(&ObjectId::Table(q.clone())));
    let unmodeled_kept = |u: &crate::model::Unmodeled| {
        let deps = schema.unmodeled_deps.get(u);
        match deps.filter(|d| !d.depends_on.is_empty()) {
            Some(d) => d.depends_on.iter().all(keep_id),
            None => match identity_schema(&u.identity) {
                Some(n) => keep(&ObjectId::Schema(n.into())),
                None => true,
            },
        }
    };
    s.unmodeled.retain(|u| unmodeled_kept(u));
    let kept = s.unmodeled.clone();
    s.unmodeled_deps.retain(|u, _| kept.contains(u));
    s
}

/// The schema an unmodeled object's identity names (`audit.log_rule on audit.log` ->
/// `audit`): the qualifier of its last qualified word; `None` for a database-wide object.
fn identity_schema(identity: &str) -> Option<String> {
    let word = identity
        .split_whitespace()
        .rev()
        .find(|w| w.contains('.'))?;
    let schema = word.split('.').next()?.trim_matches('"');
    (!schema.is_empty()).then(|| schema.to_string())
}

/// How many objects a part holds, counting schemas, extensions, collations, types, sequences
/// not owned by a table, tables, views, functions, publications and event triggers (members
/// follow their object and are not counted).
pub fn object_count(schema: &Schema) -> usize {
    schema.schemas.len()
        + schema.extensions.len()
        + schema.collations.len()
        + schema.types.len()
        + schema
            .sequences
            .values()
            .filter(|s| s.owned_by.is_none())
            .count()
        + schema.tables.len()
        + schema.views.len()
        + schema.functions.len()
        + schema.publications.len()
        + schema.event_triggers.len()
}

/// The part of `context` (the out-of-scope part of `full`) that can be created before the
/// in-scope objects exist: without what depends on an in-scope object of `full`, directly or
/// through other context objects. The rest of the context is left out of the shadow; desired
/// objects cannot depend on it anyway without a cycle through the project's own objects.
/// An in-scope schema that `empty` (a fresh database: `public`) already has is no obstacle:
/// an excluded table may live in `public`.
pub fn loadable_context(context: &Schema, full: &Schema, empty: &Schema) -> Schema {
    let in_context = |id: &ObjectId| context.contains(id);
    let mut dropped: BTreeSet<ObjectId> = BTreeSet::new();
    loop {
        let before = dropped.len();
        for (id, targets) in &full.depends {
            if !in_context(id) || dropped.contains(id) {
                continue;
            }
            let bad = targets.iter().any(|t| {
                dropped.contains(t)
                    || t.parent().is_some_and(|p| dropped.contains(&p))
                    || (full.contains(t) && !in_context(t) && !empty.contains(t))
            });
            if bad {
                dropped.insert(id.clone());
            }
        }
        if dropped.len() == before {
            break;
        }
    }
    if dropped.is_empty() {
        return context.clone();
    }
    filtered(context, &|id: &ObjectId| !dropped.contains(id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ForeignTable, ReplicaIdentity, Table, TableKind};

    fn scope(include: &[&str], exclude: &[&str]) -> Scope {
        let v = |x: &[&str]| x.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        Scope::new(&v(include), &v(exclude)).unwrap()
    }

    #[test]
    fn patterns_name_a_known_kind_and_a_qualified_glob() {
        assert!(Pattern::parse("audit").unwrap_err().contains("has no kind"));
        assert!(Pattern::parse("tabel:public.x")
            .unwrap_err()
            .contains("unknown kind \"tabel\""));
        assert!(Pattern::parse("table:legacy_*")
            .unwrap_err()
            .contains("schema-qualified"));
        assert!(Pattern::parse("table:public.[x").is_err());
        Pattern::parse("schema:audit").unwrap();
        Pattern::parse("function:public.pg_stat_*").unwrap();
    }

    #[test]
    fn members_follow_their_table_and_schemas_take_everything_in_them() {
        let s = Schema::default();
        let t = QName::new("public", "legacy_orders");
        let sc = scope(&[], &["table:public.legacy_*", "schema:audit"]);
        assert!(!sc.contains(&ObjectId::Column(t.clone(), "id".into()), &s));
        assert!(!sc.contains(&ObjectId::Trigger(t.clone(), "g".into()), &s));
        assert!(sc.contains(&ObjectId::Table(QName::new("public", "orders")), &s));
        assert!(!sc.contains(&ObjectId::Function(QName::new("audit", "f"), "".into()), &s));
        assert!(!sc.contains(&ObjectId::Schema("audit".into()), &s));
        let only = scope(&["schema:app"], &[]);
        assert!(only.contains(&ObjectId::View(QName::new("app", "v")), &s));
        assert!(!only.contains(&ObjectId::View(QName::new("public", "v")), &s));
        assert!(!only.contains(&ObjectId::Extension("pgcrypto".into()), &s));
    }

    #[test]
    fn foreign_table_patterns_match_foreign_tables_only_and_table_patterns_both() {
        let mut s = Schema::default();
        let remote = QName::new("public", "remote_orders");
        let local = QName::new("public", "remote_cache");
        for (q, foreign) in [(&remote, true), (&local, false)] {
            s.tables.insert(
                q.clone(),
                Table {
                    name: q.clone(),
                    kind: TableKind::Ordinary,
                    unlogged: false,
                    columns: Vec::new(),
                    constraints: Default::default(),
                    partition_key: None,
                    partition_key_columns: Vec::new(),
                    key_copies: Default::default(),
                    unvalidated_copies: Default::default(),
                    partition_of: None,
                    inherits: Vec::new(),
                    options: Vec::new(),
                    rls_enabled: false,
                    rls_forced: false,
                    replica_identity: ReplicaIdentity::Default,
                    access_method: None,
                    foreign: foreign.then(|| ForeignTable {
                        server: "archive".into(),
                        options: Vec::new(),
                    }),
                },
            );
        }
        let ft = scope(&[], &["foreign_table:public.remote_*"]);
        assert!(!ft.contains(&ObjectId::Table(remote.clone()), &s));
        assert!(!ft.contains(&ObjectId::Column(remote.clone(), "id".into()), &s));
        assert!(ft.contains(&ObjectId::Table(local.clone()), &s));
        let tables = scope(&[], &["table:public.remote_*"]);
        assert!(!tables.contains(&ObjectId::Table(remote.clone()), &s));
        assert!(!tables.contains(&ObjectId::Table(local), &s));
        assert!(ft
            .source_excluded_by("CREATE FOREIGN TABLE", "public.remote_orders")
            .is_some());
        assert!(ft
            .source_excluded_by("CREATE TABLE", "public.remote_orders")
            .is_none());
    }

    #[test]
    fn the_header_form_reads_back_and_order_does_not_matter() {
        let a = scope(&["schema:app", "schema:public"], &["table:public.x_{a,b}"]);
        let text = a.to_string();
        assert_eq!(
            text,
            r#"include ["schema:app","schema:public"] exclude ["table:public.x_{a,b}"]"#
        );
        assert_eq!(Scope::parse_display(&text).unwrap(), a);
        let b = scope(&["schema:public", "schema:app"], &["table:public.x_{a,b}"]);
        assert_eq!(a, b);
        assert_ne!(a, scope(&["schema:app"], &[]));
        assert_eq!(
            Scope::parse_display("everything").unwrap(),
            Scope::default()
        );
    }

    #[test]
    fn source_names_are_judged_by_statement_kind() {
        let sc = scope(&[], &["schema:audit", "table:public.legacy_*"]);
        assert!(sc.source_excluded_by("CREATE SCHEMA", "audit").is_some());
        assert!(sc.source_excluded_by("CREATE TABLE", "audit.log").is_some());
        assert!(sc
            .source_excluded_by("CREATE TABLE", "public.legacy_x")
            .is_some());
        assert!(sc
            .source_excluded_by("CREATE TABLE", "public.legacy_x.id")
            .is_some());
        assert!(sc
            .source_excluded_by("CREATE VIEW", "public.legacy_x")
            .is_none());
        assert!(sc
            .source_excluded_by("CREATE TABLE", "public.users")
            .is_none());
        assert!(sc
            .source_excluded_by("CREATE EXTENSION", "extension:pgcrypto")
            .is_none());
    }
}
