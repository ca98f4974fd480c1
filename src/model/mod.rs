//! The schema model: every object kind schemaplan understands, keyed by [`ObjectId`].
//!
//! Owns plain data only, no I/O. The catalog module fills a [`Schema`] from a live or shadow
//! database; diff compares two of them. Expressions (defaults, CHECKs, index definitions, view
//! bodies, function definitions) are kept in the form PostgreSQL itself prints them, so two
//! schemas loaded by the same server compare equal exactly when PostgreSQL sees them equal.
//!
//! Every type derives `serde`'s `Serialize` / `Deserialize`: the reading of a kept desired
//! database is cached in a file beside it (`shadow::reading`). Nothing else relies on the
//! serialized form, which is only ever read back by the same build of schemaplan.

mod canonical;
mod compact;
mod constraints;
mod deps;
mod ids;
mod name;
mod objects;
mod pretty;

pub use canonical::{
    canonical_head, canonical_lines, canonical_tail, extension as canonical_extension,
    table as canonical_table, ts_dictionary as canonical_ts_dictionary, view as canonical_view,
    Lines, Printed,
};
pub use constraints::Constraints;
pub use deps::DepSet;
pub use ids::{ObjectId, QName};
pub use name::{interning, Name};
pub use objects::*;

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// A whole database schema as schemaplan sees it (user objects only: no system schemas, no
/// objects owned by extensions, never the `schemaplan` bookkeeping schema).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schema {
    pub schemas: BTreeMap<String, Namespace>,
    pub extensions: BTreeMap<String, Extension>,
    pub collations: BTreeMap<QName, Collation>,
    pub types: BTreeMap<QName, TypeDef>,
    pub sequences: BTreeMap<QName, Sequence>,
    pub tables: BTreeMap<QName, Table>,
    pub indexes: BTreeMap<QName, Index>,
    pub views: BTreeMap<QName, View>,
    /// Keyed by name and identity arguments (`f`, `integer, text`).
    pub functions: BTreeMap<(QName, String), Function>,
    /// Keyed by table and trigger name.
    pub triggers: BTreeMap<(QName, String), Trigger>,
    /// Keyed by table and policy name.
    pub policies: BTreeMap<(QName, String), Policy>,
    /// Keyed by name (publications are per database, not in a schema).
    pub publications: BTreeMap<String, Publication>,
    /// Keyed by publication and table.
    pub publication_tables: BTreeMap<(String, QName), PublicationTable>,
    /// `FOR TABLES IN SCHEMA` members (PostgreSQL 15+): (publication, schema).
    pub publication_schemas: BTreeSet<(String, String)>,
    /// Keyed by name (event triggers are per database, not in a schema).
    pub event_triggers: BTreeMap<String, EventTrigger>,
    /// Keyed by name (wrappers are per database, not in a schema).
    pub foreign_data_wrappers: BTreeMap<String, ForeignDataWrapper>,
    /// Keyed by name (servers are per database, not in a schema).
    pub foreign_servers: BTreeMap<String, ForeignServer>,
    /// Keyed by server and role (`public` for PUBLIC).
    pub user_mappings: BTreeMap<(String, String), UserMapping>,
    /// User-defined casts, keyed by source and target type (`format_type`'s text).
    pub casts: BTreeMap<(String, String), Cast>,
    pub ts_dictionaries: BTreeMap<QName, TextSearchDictionary>,
    pub ts_configurations: BTreeMap<QName, TextSearchConfiguration>,
    /// Keyed by schema-qualified symbol and argument types ([`Operator::args`]).
    pub operators: BTreeMap<(QName, String), Operator>,
    /// Keyed by name and access method.
    pub operator_families: BTreeMap<(QName, String), OperatorFamily>,
    /// Keyed by name and access method.
    pub operator_classes: BTreeMap<(QName, String), OperatorClass>,
    /// Access methods no extension created, keyed by name.
    #[serde(default)]
    pub access_methods: BTreeMap<String, AccessMethod>,
    /// Conversions no extension created.
    #[serde(default)]
    pub conversions: BTreeMap<QName, Conversion>,
    /// Procedural languages no extension created, keyed by name.
    #[serde(default)]
    pub languages: BTreeMap<String, Language>,
    /// Extended statistics objects (`CREATE STATISTICS`), keyed by name.
    #[serde(default)]
    pub statistics: BTreeMap<QName, Statistics>,
    /// Rules of tables and views (not a view's `_RETURN` rule), keyed by table and rule name.
    #[serde(default)]
    pub rules: BTreeMap<(QName, String), Rule>,
    /// `COMMENT ON` text of any object.
    pub comments: BTreeMap<ObjectId, String>,
    /// Privileges granted on objects (not the owner's implicit ones).
    pub grants: BTreeSet<Grant>,
    /// `ALTER DEFAULT PRIVILEGES` entries.
    pub default_privileges: BTreeSet<DefaultPrivilege>,
    /// Dependency edges `(dependent, referenced)` as PostgreSQL records them in `pg_depend`,
    /// mapped onto object ids (a view depends on the columns it reads, a column on its type ...).
    /// Each object's targets are a [`DepSet`] (a sorted list: most objects have one or two).
    pub depends: BTreeMap<ObjectId, DepSet>,
    /// Owner (role name) of each schema, collation, type, sequence, table, view, function and
    /// publication and event trigger created after initdb (`public` is not listed). A live database lists every owner; the
    /// desired schema only the owners its files declare (`ALTER ... OWNER TO`,
    /// `CREATE SCHEMA ... AUTHORIZATION`; `workflow::desired`). Diff compares an owner only
    /// where both sides list one, and a plan that creates an object again gives it its owner
    /// back (`plan/kinds/owner.rs`). Left out of [`Schema::canonical`], so of the
    /// fingerprint: the two sides of a plan never list the same set of owners.
    pub owners: BTreeMap<ObjectId, String>,
    /// Objects that exist in the database but that schemaplan does not model. Never silently
    /// skipped: `plan` and `drift` report them.
    pub unmodeled: BTreeSet<Unmodeled>,
    /// What each unmodeled object depends on among the modeled ones, and how to create it
    /// again (see [`UnmodeledDeps`]). Not schema identity: left out of [`Schema::canonical`].
    pub unmodeled_deps: BTreeMap<Unmodeled, UnmodeledDeps>,
    /// Plan-time facts, not schema: the heap size in bytes (`pg_relation_size`, main fork) of
    /// each table, partition and materialized view of a live database when it was read; a
    /// partitioned table counts the sum of its leaf partitions. 0 means empty (a heap with a
    /// row, committed or not, has at least one page). Only the live database's reading keeps
    /// them (`workflow::desired` clears the shadow's); left out of [`Schema::canonical`], so of
    /// the fingerprint, and never compared by diff. The planner reads them through
    /// `plan::Ctx::table_size`.
    pub sizes: BTreeMap<QName, u64>,
}

/// Storage options (`WITH (...)`) compare as a set: PostgreSQL keeps them in the order written.
pub fn same_options(a: &[String], b: &[String]) -> bool {
    let (mut a, mut b) = (a.to_vec(), b.to_vec());
    a.sort();
    b.sort();
    a == b
}

/// PostgreSQL's `makeObjectName(a, b, label)`: `a_b_label` (or `a_label`), the longer of `a`
/// and `b` shortened until the name fits in 63 bytes. Names PostgreSQL generates for
/// constraints, indexes and identity sequences follow it.
pub fn pg_object_name(a: &str, b: Option<&str>, label: &str) -> String {
    let (mut a, mut b) = (a.to_string(), b.unwrap_or("").to_string());
    let overhead = label.len() + 1 + usize::from(!b.is_empty());
    while a.len() + b.len() + overhead > 63 {
        if a.len() > b.len() {
            a.pop();
        } else {
            b.pop();
        }
    }
    if b.is_empty() {
        format!("{a}_{label}")
    } else {
        format!("{a}_{b}_{label}")
    }
}

impl Schema {
    /// Objects that `id` depends on.
    pub fn dependencies_of<'a>(&'a self, id: &ObjectId) -> impl Iterator<Item = &'a ObjectId> + 'a {
        self.depends.get(id).into_iter().flatten()
    }

    /// Records that `dependent` needs `referenced`.
    pub fn add_dependency(&mut self, dependent: ObjectId, referenced: ObjectId) {
        if dependent != referenced {
            self.depends
                .entry(dependent)
                .or_default()
                .insert(referenced);
        }
    }

    /// The schema with what is not part of its identity normalized away: column order (a plan
    /// can only append columns, and no query that names its columns can tell), extension
    /// versions, dependency edges, table sizes, default volatility and the order of text search
    /// dictionary options. Fingerprints are taken of
    /// this form, printed without this copy ([`canonical_lines`]).
    pub fn canonical(&self) -> Schema {
        // One function per kind in `canonical`, shared with [`canonical_lines`], which the
        // fingerprints print instead of building this copy.
        let mut s = self.clone();
        s.depends.clear();
        s.sizes.clear();
        s.owners.clear();
        s.unmodeled_deps.clear();
        s.tables.values_mut().for_each(|t| *t = canonical::table(t));
        s.views.values_mut().for_each(|v| *v = canonical::view(v));
        s.extensions
            .values_mut()
            .for_each(|e| *e = canonical::extension(e));
        s.ts_dictionaries
            .values_mut()
            .for_each(|d| *d = canonical::ts_dictionary(d));
        s
    }

    /// [`Schema::attached_to`] of every partitioned index at once, keyed by the parent index,
    /// in one pass over the indexes and constraints: for callers that ask about many indexes
    /// (one scan per index would make them quadratic in the size of the schema).
    pub fn attachments(&self) -> BTreeMap<QName, Vec<(ObjectId, QName, QName)>> {
        let mut by_parent: BTreeMap<QName, Vec<(ObjectId, QName, QName)>> = BTreeMap::new();
        for i in self.indexes.values() {
            if let Some(parent) = &i.parent_index {
                by_parent.entry(parent.clone()).or_default().push((
                    ObjectId::Index(i.name.clone()),
                    i.table.clone(),
                    i.name.clone(),
                ));
            }
        }
        for t in self.tables.values() {
            for c in t.constraints.values() {
                if let Some(parent) = &c.parent_index {
                    by_parent.entry(parent.clone()).or_default().push((
                        ObjectId::Constraint(t.name.clone(), c.name.as_str().into()),
                        t.name.clone(),
                        QName::new(t.name.schema.clone(), c.name.clone()),
                    ));
                }
            }
        }
        by_parent.values_mut().for_each(|v| v.sort());
        by_parent
    }

    /// The partition indexes attached to partitioned index `parent`: indexes
    /// ([`Index::parent_index`]) and partitions' own PRIMARY KEY / UNIQUE / EXCLUDE constraints
    /// ([`Constraint::parent_index`]), as (object, its table, the index's name), sorted.
    /// One scan of the schema: see [`Schema::attachments`] for many indexes.
    pub fn attached_to(&self, parent: &QName) -> Vec<(ObjectId, QName, QName)> {
        let mut v: Vec<(ObjectId, QName, QName)> = self
            .indexes
            .values()
            .filter(|i| i.parent_index.as_ref() == Some(parent))
            .map(|i| {
                (
                    ObjectId::Index(i.name.clone()),
                    i.table.clone(),
                    i.name.clone(),
                )
            })
            .collect();
        for t in self.tables.values() {
            for c in t.constraints.values() {
                if c.parent_index.as_ref() == Some(parent) {
                    v.push((
                        ObjectId::Constraint(t.name.clone(), c.name.as_str().into()),
                        t.name.clone(),
                        QName::new(t.name.schema.clone(), c.name.clone()),
                    ));
                }
            }
        }
        v.sort();
        v
    }

    /// Whether an object with this id exists in the schema.
    pub fn contains(&self, id: &ObjectId) -> bool {
        match id {
            ObjectId::Schema(n) => self.schemas.contains_key(n.as_str()),
            ObjectId::Extension(n) => self.extensions.contains_key(n.as_str()),
            ObjectId::Collation(q) => self.collations.contains_key(q),
            ObjectId::Type(q) => self.types.contains_key(q),
            ObjectId::Sequence(q) => self.sequences.contains_key(q),
            ObjectId::Table(q) => self.tables.contains_key(q),
            // a column of a table, or of a view (its comments and column grants)
            ObjectId::Column(q, c) => {
                self.tables
                    .get(q)
                    .is_some_and(|t| t.columns.iter().any(|col| &col.name == c))
                    || self
                        .views
                        .get(q)
                        .is_some_and(|v| v.columns.iter().any(|(name, _)| name == c))
            }
            ObjectId::Constraint(q, c) => self
                .tables
                .get(q)
                .is_some_and(|t| t.constraints.contains_key(c.as_str())),
            ObjectId::Index(q) => self.indexes.contains_key(q),
            ObjectId::View(q) => self.views.contains_key(q),
            ObjectId::Function(q, a) => self.functions.contains_key(&(q.clone(), a.to_string())),
            ObjectId::Trigger(q, n) => self.triggers.contains_key(&(q.clone(), n.to_string())),
            ObjectId::Policy(q, n) => self.policies.contains_key(&(q.clone(), n.to_string())),
            ObjectId::Publication(n) => self.publications.contains_key(n.as_str()),
            ObjectId::EventTrigger(n) => self.event_triggers.contains_key(n.as_str()),
            ObjectId::ForeignDataWrapper(n) => self.foreign_data_wrappers.contains_key(n.as_str()),
            ObjectId::ForeignServer(n) => self.foreign_servers.contains_key(n.as_str()),
            ObjectId::UserMapping(s, u) => self.user_mappings.contains_key(&(s.to_string(), u.to_string())),
            ObjectId::Cast(s, t) => self.casts.contains_key(&(s.to_string(), t.to_string())),
            ObjectId::TextSearchDictionary(q) => self.ts_dictionaries.contains_key(q),
            ObjectId::TextSearchConfiguration(q) => self.ts_configurations.contains_key(q),
            ObjectId::Operator(q, a) => self.operators.contains_key(&(q.clone(), a.to_string())),
            ObjectId::OperatorClass(q, m) => {
                self.operator_classes.contains_key(&(q.clone(), m.to_string()))
            }
            ObjectId::OperatorFamily(q, m) => {
                self.operator_families.contains_key(&(q.clone(), m.to_string()))
            }
            ObjectId::PublicationTable(p, q) => self
                .publication_tables
                .contains_key(&(p.to_string(), q.clone())),
            ObjectId::PublicationSchema(p, n) => {
                self.publication_schemas.contains(&(p.to_string(), n.to_string()))
            }
            ObjectId::AccessMethod(n) => self.access_methods.contains_key(n.as_str()),
            ObjectId::Conversion(q) => self.conversions.contains_key(q),
            ObjectId::Language(n) => self.languages.contains_key(n.as_str()),
            ObjectId::Statistics(q) => self.statistics.contains_key(q),
            ObjectId::Rule(q, n) => self.rules.contains_key(&(q.clone(), n.to_string())),
            ObjectId::DomainConstraint(q, n) => self.types.get(q).is_some_and(
                |t| matches!(&t.kind, TypeKind::Domain(d) if d.constraints.contains_key(n.as_str())),
            ),
        }
    }
}
