//! Object identities: how schemaplan names every object it models.

use super::Name;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A schema-qualified name, kept unquoted (quoting happens only in `render::quote`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct QName {
    pub schema: Name,
    pub name: Name,
}

impl QName {
    pub fn new(schema: impl Into<Name>, name: impl Into<Name>) -> Self {
        QName {
            schema: schema.into(),
            name: name.into(),
        }
    }
}

impl fmt::Display for QName {
    /// Human form for messages (`public.users`); not SQL. SQL goes through `render::quote`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.schema, self.name)
    }
}

/// The identity of one modeled object. Ordering is deterministic and is used as the final
/// tie-breaker when ordering plan steps.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ObjectId {
    Schema(Name),
    Extension(Name),
    Collation(QName),
    /// Enum, composite, range or domain type.
    Type(QName),
    /// A named CHECK / NOT NULL constraint of a domain.
    DomainConstraint(QName, Name),
    Sequence(QName),
    /// Ordinary, partitioned, unlogged tables and partitions.
    Table(QName),
    Column(QName, Name),
    /// A table constraint (PK, UNIQUE, FK, CHECK, EXCLUDE).
    Constraint(QName, Name),
    /// An index that does not back a constraint.
    Index(QName),
    /// A view or materialized view.
    View(QName),
    /// Function, procedure or aggregate: name and identity arguments.
    Function(QName, Name),
    Trigger(QName, Name),
    Policy(QName, Name),
    /// A publication, by name (database-wide).
    Publication(Name),
    /// A table's membership of a publication: publication, table.
    PublicationTable(Name, QName),
    /// A `TABLES IN SCHEMA` membership of a publication: publication, schema.
    PublicationSchema(Name, Name),
    /// An event trigger, by name (database-wide).
    EventTrigger(Name),
    /// A foreign-data wrapper, by name (database-wide).
    ForeignDataWrapper(Name),
    /// A foreign server, by name (database-wide).
    ForeignServer(Name),
    /// A user mapping: server, role (`public` for PUBLIC).
    UserMapping(Name, Name),
    /// A cast: source and target type as `format_type` prints them (database-wide).
    Cast(Name, Name),
    TextSearchDictionary(QName),
    TextSearchConfiguration(QName),
    /// An operator: schema and symbol, argument types (`integer, integer`, `NONE, integer`).
    Operator(QName, Name),
    /// An operator class: name, index access method.
    OperatorClass(QName, Name),
    /// An operator family: name, index access method.
    OperatorFamily(QName, Name),
    /// An access method, by name (database-wide).
    AccessMethod(Name),
    /// A conversion between encodings.
    Conversion(QName),
    /// A procedural language, by name (database-wide).
    Language(Name),
    /// An extended statistics object (`CREATE STATISTICS`), by schema-qualified name.
    Statistics(QName),
    /// A rule of a table or view other than a view's `_RETURN` rule: table, rule name.
    Rule(QName, Name),
}

impl ObjectId {
    /// The kind as a word for messages and plan summaries.
    pub fn kind_name(&self) -> &'static str {
        match self {
            ObjectId::Schema(_) => "schema",
            ObjectId::Extension(_) => "extension",
            ObjectId::Collation(_) => "collation",
            ObjectId::Type(_) => "type",
            ObjectId::DomainConstraint(..) => "domain constraint",
            ObjectId::Sequence(_) => "sequence",
            ObjectId::Table(_) => "table",
            ObjectId::Column(..) => "column",
            ObjectId::Constraint(..) => "constraint",
            ObjectId::Index(_) => "index",
            ObjectId::View(_) => "view",
            ObjectId::Function(..) => "function",
            ObjectId::Trigger(..) => "trigger",
            ObjectId::Policy(..) => "policy",
            ObjectId::Publication(_) => "publication",
            ObjectId::PublicationTable(..) => "publication table",
            ObjectId::PublicationSchema(..) => "publication schema",
            ObjectId::EventTrigger(_) => "event trigger",
            ObjectId::ForeignDataWrapper(_) => "foreign-data wrapper",
            ObjectId::ForeignServer(_) => "server",
            ObjectId::UserMapping(..) => "user mapping",
            ObjectId::Cast(..) => "cast",
            ObjectId::TextSearchDictionary(_) => "text search dictionary",
            ObjectId::TextSearchConfiguration(_) => "text search configuration",
            ObjectId::Operator(..) => "operator",
            ObjectId::OperatorClass(..) => "operator class",
            ObjectId::OperatorFamily(..) => "operator family",
            ObjectId::AccessMethod(_) => "access method",
            ObjectId::Conversion(_) => "conversion",
            ObjectId::Language(_) => "language",
            ObjectId::Statistics(_) => "statistics object",
            ObjectId::Rule(..) => "rule",
        }
    }

    /// The table (or type, for domain constraints) an object belongs to, if any. A table's
    /// membership of a publication belongs to the table: dropping the table drops it.
    pub fn parent(&self) -> Option<ObjectId> {
        match self {
            ObjectId::PublicationTable(_, t) => Some(ObjectId::Table(t.clone())),
            ObjectId::Column(t, _)
            | ObjectId::Constraint(t, _)
            | ObjectId::Trigger(t, _)
            | ObjectId::Rule(t, _)
            | ObjectId::Policy(t, _) => Some(ObjectId::Table(t.clone())),
            ObjectId::DomainConstraint(t, _) => Some(ObjectId::Type(t.clone())),
            _ => None,
        }
    }
}

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ObjectId::Schema(n)
            | ObjectId::Extension(n)
            | ObjectId::Publication(n)
            | ObjectId::EventTrigger(n)
            | ObjectId::ForeignDataWrapper(n)
            | ObjectId::ForeignServer(n)
            | ObjectId::AccessMethod(n)
            | ObjectId::Language(n) => {
                write!(f, "{} {}", self.kind_name(), n)
            }
            ObjectId::UserMapping(s, u) => write!(f, "user mapping for {u} on server {s}"),
            ObjectId::Cast(s, t) => write!(f, "cast ({s} AS {t})"),
            ObjectId::PublicationTable(p, q) => write!(f, "table {q} in publication {p}"),
            ObjectId::PublicationSchema(p, n) => write!(f, "schema {n} in publication {p}"),
            ObjectId::Collation(q)
            | ObjectId::Type(q)
            | ObjectId::Sequence(q)
            | ObjectId::Table(q)
            | ObjectId::Index(q)
            | ObjectId::View(q)
            | ObjectId::TextSearchDictionary(q)
            | ObjectId::TextSearchConfiguration(q)
            | ObjectId::Conversion(q)
            | ObjectId::Statistics(q) => write!(f, "{} {}", self.kind_name(), q),
            ObjectId::Column(q, c) => write!(f, "column {}.{}", q, c),
            ObjectId::Function(q, a) => write!(f, "function {}({})", q, a),
            ObjectId::Operator(q, a) => write!(f, "operator {}({})", q, a),
            ObjectId::OperatorClass(q, m) | ObjectId::OperatorFamily(q, m) => {
                write!(f, "{} {} using {}", self.kind_name(), q, m)
            }
            ObjectId::Constraint(q, n)
            | ObjectId::DomainConstraint(q, n)
            | ObjectId::Trigger(q, n)
            | ObjectId::Rule(q, n)
            | ObjectId::Policy(q, n) => write!(f, "{} {} on {}", self.kind_name(), n, q),
        }
    }
}
