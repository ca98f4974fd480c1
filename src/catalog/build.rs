//! Runs the catalog queries (one per object kind) and turns their rows into the model.
//!
//! Order matters only for cross-references resolved in Rust: types before columns (composite
//! attributes), tables and views before columns, sequences before columns (identity options),
//! everything before comments, grants and depends (which go through the [`Resolver`]).
//!
//! The rows come from the server, or, in a delta read (`catalog::delta`), partly from the
//! previous read's kept rows ([`Reader::with_cache`]): the model is made of them by this same
//! code either way.

use super::delta::{self, RowCache};
use super::resolve::{class::*, Resolver};
use super::{get, CatalogError};
use crate::model::*;
use crate::render::quote::{ident, literal};
use postgres::types::FromSql;
use postgres::Row;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// A catalog query: its name (for errors) and its text (with `{{...}}` version placeholders).
struct Query {
    name: &'static str,
    text: &'static str,
}

macro_rules! query {
    ($name:ident, $file:literal) => {
        const $name: Query = Query {
            name: $file,
            text: include_str!(concat!("sql/", $file, ".sql")),
        };
    };
}

query!(EXTENSION_MEMBERS, "extension_members");
query!(SCHEMAS, "schemas");
query!(EXTENSIONS, "extensions");
query!(COLLATIONS, "collations");
query!(TYPE_INDEX, "type_index");
query!(TYPES, "types");
query!(TABLES, "tables");
query!(VIEWS, "views");
query!(SEQUENCES, "sequences");
query!(COLUMNS, "columns");
query!(CONSTRAINTS, "constraints");
query!(INDEXES, "indexes");
query!(FUNCTIONS, "functions");
query!(TRIGGERS, "triggers");
query!(POLICIES, "policies");
query!(COMMENTS, "comments");
query!(GRANTS, "grants");
query!(DEFAULT_PRIVILEGES, "default_privileges");
query!(DEPENDS, "depends");
query!(UNMODELED, "unmodeled");
query!(OWNERS, "owners");
query!(PUBLICATIONS, "publications");
query!(PUBLICATION_TABLES, "publication_tables");
query!(PUBLICATION_SCHEMAS, "publication_schemas");
query!(EVENT_TRIGGERS, "event_triggers");
query!(FOREIGN_DATA_WRAPPERS, "foreign_data_wrappers");
query!(FOREIGN_SERVERS, "foreign_servers");
query!(USER_MAPPINGS, "user_mappings");
query!(CASTS, "casts");
query!(TS_DICTIONARIES, "ts_dictionaries");
query!(TS_CONFIGS, "ts_configs");
query!(OPERATORS, "operators");
query!(OPERATOR_FAMILIES, "operator_families");
query!(OPERATOR_CLASSES, "operator_classes");
query!(OPERATOR_MEMBERS, "operator_members");

mod casts;
mod event_triggers;
mod foreign;
mod operators;
mod owners;
mod publications;
mod text_search;
mod unmodeled;

/// One row of a named query, with typed, error-reporting column access.
struct R<'a> {
    row: &'a Row,
    query: &'static str,
}

impl<'a> R<'a> {
    fn get<T: FromSql<'a>>(&self, column: &'static str) -> Result<T, CatalogError> {
        get(self.row, self.query, column)
    }

    /// A `"char"` column.
    fn char(&self, column: &'static str) -> Result<char, CatalogError> {
        Ok(self.get::<i8>(column)? as u8 as char)
    }
}

/// Runs `text` (query `name`) and hands each row to `each` as it arrives, instead of
/// collecting the whole result first (`query` buffers every row: at 5,000 tables the columns
/// and dependencies are hundreds of thousands of rows, held beside the schema being built).
/// The rows come through `query_raw`'s row stream, which the connection fills as the client
/// reads it.
///
/// With a row cache (`catalog::delta`), the rows of the queries it keeps come from it instead
/// (re-run only for the objects whose catalog rows changed): all at once, as the cache holds
/// them anyway.
fn each_row(
    tx: &mut postgres::Transaction<'_>,
    cache: Option<&mut RowCache>,
    text: &str,
    name: &'static str,
    mut each: impl FnMut(R<'_>) -> Result<(), CatalogError>,
) -> Result<(), CatalogError> {
    use postgres::fallible_iterator::FallibleIterator;
    if let (Some(cache), Some(key)) = (cache, delta::key_of(name)) {
        for row in cache.fetch(tx, text, name, key)? {
            each(R {
                row: &row,
                query: name,
            })?;
        }
        return Ok(());
    }
    let failed = |source| CatalogError::Query {
        query: name,
        source,
    };
    let mut rows = tx
        .query_raw(text, std::iter::empty::<&dyn postgres::types::ToSql>())
        .map_err(failed)?;
    while let Some(row) = rows.next().map_err(failed)? {
        each(R {
            row: &row,
            query: name,
        })?;
    }
    Ok(())
}

/// Fills a [`Schema`] from the catalogs of one database.
pub struct Reader<'t, 'c> {
    tx: &'t mut postgres::Transaction<'c>,
    version: i32,
    schema: Schema,
    resolver: Resolver,
    /// Table oid -> name (relkind r, p, f).
    tables: HashMap<u32, QName>,
    /// View oid -> name (relkind v, m).
    views: HashMap<u32, QName>,
    /// pg_class oid of a free-standing composite type -> the type's name.
    composites: HashMap<u32, QName>,
    /// Domain pg_type oid -> name.
    domains: HashMap<u32, QName>,
    /// Identity column (table oid, attnum) -> rendered sequence options.
    identity_options: HashMap<(u32, i16), Vec<String>>,
    /// Where the rows of the kept queries come from and go (`catalog::delta`); `None`: every
    /// query runs in full, nothing is kept.
    cache: Option<&'t mut RowCache>,
}

impl<'t, 'c> Reader<'t, 'c> {
    pub fn new(tx: &'t mut postgres::Transaction<'c>, version: i32) -> Self {
        Reader {
            tx,
            version,
            schema: Schema::default(),
            resolver: Resolver::default(),
            tables: HashMap::new(),
            views: HashMap::new(),
            composites: HashMap::new(),
            domains: HashMap::new(),
            identity_options: HashMap::new(),
            cache: None,
        }
    }

    /// Reads through `cache`: keeps the rows of the queries `delta::key_of` names, and
    /// during a delta read re-runs them only for the objects it says changed.
    pub fn with_cache(mut self, cache: &'t mut RowCache) -> Self {
        self.cache = Some(cache);
        self
    }

    pub fn read(mut self) -> Result<Schema, CatalogError> {
        use crate::timings::stage;
        stage("catalog: extension_members", || self.extension_members())?;
        stage("catalog: schemas", || self.schemas())?;
        stage("catalog: extensions", || self.extensions())?;
        stage("catalog: collations", || self.collations())?;
        stage("catalog: type_index", || self.type_index())?;
        stage("catalog: types", || self.types())?;
        stage("catalog: tables", || self.tables())?;
        stage("catalog: views", || self.views())?;
        stage("catalog: sequences", || self.sequences())?;
        stage("catalog: columns", || self.columns())?;
        stage("catalog: constraints", || self.constraints())?;
        stage("catalog: indexes", || self.indexes())?;
        stage("catalog: functions", || self.functions())?;
        stage("catalog: triggers", || self.triggers())?;
        stage("catalog: policies", || self.policies())?;
        stage("catalog: publications", || self.publications())?;
        stage("catalog: event_triggers", || self.event_triggers())?;
        stage("catalog: foreign_data_wrappers", || {
            self.foreign_data_wrappers()
        })?;
        stage("catalog: foreign_servers", || self.foreign_servers())?;
        stage("catalog: user_mappings", || self.user_mappings())?;
        stage("catalog: casts", || self.casts())?;
        stage("catalog: text_search", || self.text_search())?;
        stage("catalog: operators", || self.operators())?;
        stage("catalog: comments", || self.comments())?;
        stage("catalog: owners", || self.owners())?;
        stage("catalog: grants", || self.grants())?;
        stage("catalog: default_privileges", || self.default_privileges())?;
        stage("catalog: depends", || self.depends())?;
        stage("catalog: unmodeled", || self.unmodeled())?;
        self.shrink();
        Ok(self.schema)
    }

    /// Gives back the spare capacity of the lists filled row by row (a table's columns grow
    /// by doubling: 12 columns sit in room for 16). A plan holds several schemas read here at
    /// once (issue 9's memory target).
    fn shrink(&mut self) {
        for t in self.schema.tables.values_mut() {
            t.columns.shrink_to_fit();
        }
        for v in self.schema.views.values_mut() {
            v.columns.shrink_to_fit();
        }
    }

    /// The query text for this server: `{{placeholders}}` replaced by the version's column
    /// expressions.
    fn sql(&self, q: &Query) -> String {
        let v = self.version;
        let mut text = q.text.to_string();
        // The column's NOT NULL constraint (PostgreSQL 18: contype 'n', one per column).
        let not_null_con = |what: &str| {
            format!(
                "(SELECT nc.{what} FROM pg_constraint nc WHERE nc.conrelid = a.attrelid \
                 AND nc.contype = 'n' AND nc.conkey[1] = a.attnum)"
            )
        };
        let (nn_name, nn_valid, nn_noinherit) = if v >= 180000 {
            (
                not_null_con("conname::text"),
                format!("coalesce({}, true)", not_null_con("convalidated")),
                format!("coalesce({}, false)", not_null_con("connoinherit")),
            )
        } else {
            ("NULL::text".into(), "true".into(), "false".into())
        };
        let subst: [(&str, &str); 12] = [
            ("{{notnull_name}}", nn_name.as_str()),
            ("{{notnull_valid}}", nn_valid.as_str()),
            ("{{notnull_noinherit}}", nn_noinherit.as_str()),
            (
                "{{attstattarget}}",
                if v >= 170000 {
                    "a.attstattarget::int"
                } else {
                    "NULLIF(a.attstattarget, -1)::int"
                },
            ),
            // Option keys whose values are secrets, never selected (model::is_secret_option).
            ("{{FDW_SECRET_KEY}}", "pass|secret|token|credential|key"),
            (
                "{{colllocale}}",
                if v >= 170000 {
                    "c.colllocale"
                } else if v >= 150000 {
                    "c.colliculocale"
                } else {
                    // 13, 14: an ICU collation's locale is its collcollate (= collctype), so
                    // the model and the plan (`locale = ...`) are the same on every major.
                    "CASE WHEN c.collprovider = 'i' THEN c.collcollate::text END"
                },
            ),
            (
                "{{attcompression}}",
                if v >= 140000 {
                    "CASE a.attcompression WHEN 'p' THEN 'pglz' WHEN 'l' THEN 'lz4' END"
                } else {
                    "NULL::text"
                },
            ),
            (
                "{{multirange_name}}",
                if v >= 140000 {
                    "(SELECT ARRAY[mn.nspname::text, mt.typname::text] FROM pg_type mt \
                     JOIN pg_namespace mn ON mn.oid = mt.typnamespace \
                     WHERE mt.oid = r.rngmultitypid)"
                } else {
                    "NULL::text[]"
                },
            ),
            (
                "{{pubgencols}}",
                if v >= 180000 {
                    "CASE p.pubgencols WHEN 's' THEN 'stored' ELSE 'none' END"
                } else {
                    "NULL::text"
                },
            ),
            (
                "{{prattrs}}",
                if v >= 150000 {
                    "CASE WHEN pr.prattrs IS NOT NULL THEN ARRAY(\
                     SELECT a.attname::text \
                     FROM unnest(pr.prattrs::int2[]) WITH ORDINALITY k(attnum, i) \
                     JOIN pg_attribute a ON a.attrelid = pr.prrelid AND a.attnum = k.attnum \
                     ORDER BY k.i) END"
                } else {
                    "NULL::text[]"
                },
            ),
            (
                "{{prqual}}",
                if v >= 150000 {
                    "pg_get_expr(pr.prqual, pr.prrelid)"
                } else {
                    "NULL::text"
                },
            ),
            (
                "{{multirange_range}}",
                if v >= 140000 {
                    "coalesce((SELECT r.rngtypid FROM pg_range r \
                     WHERE r.rngmultitypid = t.oid), 0::oid)"
                } else {
                    "0::oid"
                },
            ),
        ];
        for (from, to) in subst {
            text = text.replace(from, to);
        }
        text
    }

    /// The rows of `q`, all at once: for the small queries. The big ones (a row per column or
    /// per dependency) go through [`each_row`].
    fn run(&mut self, q: &Query) -> Result<Vec<Arc<Row>>, CatalogError> {
        let text = self.sql(q);
        if let (Some(cache), Some(key)) = (self.cache.as_deref_mut(), delta::key_of(q.name)) {
            return cache.fetch(self.tx, &text, q.name, key);
        }
        let rows = self
            .tx
            .query(text.as_str(), &[])
            .map_err(|source| CatalogError::Query {
                query: q.name,
                source,
            })?;
        Ok(rows.into_iter().map(Arc::new).collect())
    }

    fn extension_members(&mut self) -> Result<(), CatalogError> {
        for row in self.run(&EXTENSION_MEMBERS)? {
            let r = R {
                row: &row,
                query: EXTENSION_MEMBERS.name,
            };
            self.resolver
                .add_ext_member(r.get("classid")?, r.get("objid")?, r.get("extension")?);
        }
        Ok(())
    }

    fn schemas(&mut self) -> Result<(), CatalogError> {
        for row in self.run(&SCHEMAS)? {
            let r = R {
                row: &row,
                query: SCHEMAS.name,
            };
            let name: String = r.get("name")?;
            self.resolver
                .add_exact(PG_NAMESPACE, r.get("oid")?, ObjectId::Schema(name.clone()));
            self.schema.schemas.insert(name.clone(), Namespace { name });
        }
        Ok(())
    }

    fn extensions(&mut self) -> Result<(), CatalogError> {
        for row in self.run(&EXTENSIONS)? {
            let r = R {
                row: &row,
                query: EXTENSIONS.name,
            };
            let name: String = r.get("name")?;
            self.resolver.add_exact(
                PG_EXTENSION,
                r.get("oid")?,
                ObjectId::Extension(name.clone()),
            );
            self.schema.extensions.insert(
                name.clone(),
                Extension {
                    name,
                    schema: r.get("schema")?,
                    version: r.get("version")?,
                },
            );
        }
        Ok(())
    }

    fn collations(&mut self) -> Result<(), CatalogError> {
        for row in self.run(&COLLATIONS)? {
            let r = R {
                row: &row,
                query: COLLATIONS.name,
            };
            let name = QName::new(r.get::<String>("schema")?, r.get::<String>("name")?);
            let provider = match r.char("provider")? {
                'c' => "libc",
                'i' => "icu",
                'b' => "builtin",
                _ => "default",
            };
            self.resolver.add_exact(
                PG_COLLATION,
                r.get("oid")?,
                ObjectId::Collation(name.clone()),
            );
            self.schema.collations.insert(
                name.clone(),
                Collation {
                    name,
                    provider: provider.to_string(),
                    locale: r.get("locale")?,
                    lc_collate: r.get("lc_collate")?,
                    lc_ctype: r.get("lc_ctype")?,
                    deterministic: r.get("deterministic")?,
                },
            );
        }
        Ok(())
    }

    /// Derived types (arrays, row types, multiranges) for the resolver.
    fn type_index(&mut self) -> Result<(), CatalogError> {
        for row in self.run(&TYPE_INDEX)? {
            let r = R {
                row: &row,
                query: TYPE_INDEX.name,
            };
            let oid: u32 = r.get("oid")?;
            let elem: u32 = r.get("elem")?;
            let relid: u32 = r.get("typrelid")?;
            let range: u32 = r.get("range_oid")?;
            if elem != 0 {
                self.resolver.add_redirect((PG_TYPE, oid), (PG_TYPE, elem));
            } else if relid != 0 {
                self.resolver
                    .add_redirect((PG_TYPE, oid), (PG_CLASS, relid));
            } else if range != 0 {
                self.resolver.add_redirect((PG_TYPE, oid), (PG_TYPE, range));
            }
        }
        Ok(())
    }

    fn types(&mut self) -> Result<(), CatalogError> {
        for row in self.run(&TYPES)? {
            let r = R {
                row: &row,
                query: TYPES.name,
            };
            let oid: u32 = r.get("oid")?;
            let name = QName::new(r.get::<String>("schema")?, r.get::<String>("name")?);
            let kind = match r.char("kind")? {
                'e' => TypeKind::Enum(r.get("labels")?),
                'c' => {
                    let relid: u32 = r.get("typrelid")?;
                    self.composites.insert(relid, name.clone());
                    self.resolver
                        .add_alias(PG_CLASS, relid, ObjectId::Type(name.clone()));
                    TypeKind::Composite(Vec::new())
                }
                'r' => {
                    let mut options = Vec::new();
                    let opts: [(&str, &'static str); 4] = [
                        ("subtype_opclass", "rng_opclass"),
                        ("collation", "rng_collation"),
                        ("canonical", "rng_canonical"),
                        ("subtype_diff", "rng_subdiff"),
                    ];
                    for (option, column) in opts {
                        if let Some(v) = r.get::<Option<String>>(column)? {
                            options.push(format!("{option} = {v}"));
                        }
                    }
                    if let Some(mr) = r.get::<Option<Vec<String>>>("rng_multirange")? {
                        if let [schema, mname] = mr.as_slice() {
                            // only when not the name CREATE TYPE derives by itself
                            if *schema != name.schema
                                || *mname != default_multirange_name(&name.name)
                            {
                                options.push(format!(
                                    "multirange_type_name = {}.{}",
                                    ident(schema),
                                    ident(mname)
                                ));
                            }
                        }
                    }
                    TypeKind::Range {
                        subtype: r.get("rng_subtype")?,
                        options,
                    }
                }
                _ => {
                    self.domains.insert(oid, name.clone());
                    TypeKind::Domain(Domain {
                        base_type: r.get("base_type")?,
                        collation: qname_opt(r.get("collation_schema")?, r.get("collation_name")?),
                        default: r.get("default_expr")?,
                        not_null: r.get("not_null")?,
                        constraints: BTreeMap::new(),
                    })
                }
            };
            self.resolver
                .add_exact(PG_TYPE, oid, ObjectId::Type(name.clone()));
            self.schema
                .types
                .insert(name.clone(), TypeDef { name, kind });
        }
        Ok(())
    }

    fn tables(&mut self) -> Result<(), CatalogError> {
        let text = self.sql(&TABLES);
        each_row(
            self.tx,
            self.cache.as_deref_mut(),
            &text,
            TABLES.name,
            |r| {
                let oid: u32 = r.get("oid")?;
                let name = QName::new(r.get::<String>("schema")?, r.get::<String>("name")?);
                let kind = if r.char("kind")? == 'p' {
                    TableKind::Partitioned
                } else {
                    TableKind::Ordinary
                };
                // storage parameters are a set, kept in the order they were written (which is
                // what pg_dump prints, so plans write them in that order too); diff and the
                // fingerprint compare them as a set (`model::same_options`)
                let mut options: Vec<String> = r.get("options")?;
                options.extend(r.get::<Vec<String>>("toast_options")?);
                let replica_identity = match r.char("replident")? {
                    'n' => ReplicaIdentity::Nothing,
                    'f' => ReplicaIdentity::Full,
                    // 'i' whose index was dropped behaves like NOTHING
                    'i' => match r.get::<Option<String>>("replident_index")? {
                        Some(ix) => ReplicaIdentity::Index(ix),
                        None => ReplicaIdentity::Nothing,
                    },
                    _ => ReplicaIdentity::Default,
                };
                let partition_of = if r.get::<bool>("is_partition")? {
                    match (
                        r.get::<Option<String>>("parent_schema")?,
                        r.get::<Option<String>>("parent_name")?,
                        r.get::<Option<String>>("partition_bound")?,
                    ) {
                        (Some(s), Some(n), Some(b)) => Some((QName::new(s, n), b)),
                        _ => None,
                    }
                } else {
                    None
                };
                let inherits = r
                    .get::<Vec<String>>("inh_schemas")?
                    .into_iter()
                    .zip(r.get::<Vec<String>>("inh_names")?)
                    .map(|(s, n)| QName::new(s, n))
                    .collect();
                // A foreign table: its server and options (secrets by key only).
                let foreign = match r.get::<Option<String>>("foreign_server")? {
                    Some(server) => Some(ForeignTable {
                        server,
                        options: foreign::options_from(&r, "option_keys", "option_values")?,
                    }),
                    None => None,
                };
                self.resolver
                    .add_exact(PG_CLASS, oid, ObjectId::Table(name.clone()));
                self.tables.insert(oid, name.clone());
                // NULL when the table was dropped meanwhile: size unknown
                if let Some(bytes) = r.get::<Option<i64>>("heap_bytes")? {
                    self.schema.sizes.insert(name.clone(), bytes.max(0) as u64);
                }
                self.schema.tables.insert(
                    name.clone(),
                    Table {
                        name,
                        kind,
                        unlogged: r.get("unlogged")?,
                        columns: Vec::new(),
                        constraints: BTreeMap::new(),
                        partition_key: r.get("partition_key")?,
                        partition_of,
                        inherits,
                        options,
                        rls_enabled: r.get("rls_enabled")?,
                        rls_forced: r.get("rls_forced")?,
                        replica_identity,
                        access_method: r.get("access_method")?,
                        foreign,
                    },
                );
                Ok(())
            },
        )?;
        Ok(())
    }

    fn views(&mut self) -> Result<(), CatalogError> {
        let text = self.sql(&VIEWS);
        each_row(self.tx, self.cache.as_deref_mut(), &text, VIEWS.name, |r| {
            let oid: u32 = r.get("oid")?;
            let name = QName::new(r.get::<String>("schema")?, r.get::<String>("name")?);
            self.resolver
                .add_exact(PG_CLASS, oid, ObjectId::View(name.clone()));
            if let Some(rule) = r.get::<Option<u32>>("rule_oid")? {
                self.resolver
                    .add_alias(PG_REWRITE, rule, ObjectId::View(name.clone()));
            }
            self.views.insert(oid, name.clone());
            if let Some(bytes) = r.get::<Option<i64>>("heap_bytes")? {
                self.schema.sizes.insert(name.clone(), bytes.max(0) as u64);
            }
            // a set in the order written; compared as a set (see tables above)
            let options: Vec<String> = r.get("options")?;
            self.schema.views.insert(
                name.clone(),
                View {
                    name,
                    materialized: r.get("materialized")?,
                    definition: r.get("definition")?,
                    options,
                    columns: Vec::new(),
                    populated: r.get("populated")?,
                },
            );
            Ok(())
        })?;
        Ok(())
    }

    fn sequences(&mut self) -> Result<(), CatalogError> {
        for row in self.run(&SEQUENCES)? {
            let r = R {
                row: &row,
                query: SEQUENCES.name,
            };
            let oid: u32 = r.get("oid")?;
            let name = QName::new(r.get::<String>("schema")?, r.get::<String>("name")?);
            let data_type: String = r.get("data_type")?;
            let (start, increment, min, max, cache, cycle) = (
                r.get::<i64>("start")?,
                r.get::<i64>("increment")?,
                r.get::<i64>("min_value")?,
                r.get::<i64>("max_value")?,
                r.get::<i64>("cache")?,
                r.get::<bool>("cycle")?,
            );
            let owner_deptype = r
                .get::<Option<i8>>("owner_deptype")?
                .map(|c| c as u8 as char);
            let owner = match (
                r.get::<Option<String>>("owner_schema")?,
                r.get::<Option<String>>("owner_table")?,
                r.get::<Option<String>>("owner_column")?,
            ) {
                (Some(s), Some(t), Some(c)) => Some((QName::new(s, t), c)),
                _ => None,
            };
            if owner_deptype == Some('i') {
                // The sequence behind an identity column: part of the column, not a sequence
                // of its own. Only options that differ from the identity defaults are kept, so
                // the sequence's generated name and the defaults never show up as differences.
                let rel: u32 = r.get("owner_relid")?;
                let attnum: i16 = r.get("owner_attnum")?;
                self.identity_options.insert(
                    (rel, attnum),
                    identity_options(&data_type, start, increment, min, max, cache, cycle),
                );
                if let Some((t, c)) = owner {
                    self.resolver
                        .add_alias(PG_CLASS, oid, ObjectId::Column(t, c));
                }
                continue;
            }
            self.resolver
                .add_exact(PG_CLASS, oid, ObjectId::Sequence(name.clone()));
            self.schema.sequences.insert(
                name.clone(),
                Sequence {
                    name,
                    data_type,
                    start,
                    increment,
                    min_value: min,
                    max_value: max,
                    cache,
                    cycle,
                    owned_by: if owner_deptype == Some('a') {
                        owner
                    } else {
                        None
                    },
                    unlogged: r.get("unlogged")?,
                },
            );
        }
        Ok(())
    }

    fn columns(&mut self) -> Result<(), CatalogError> {
        let text = self.sql(&COLUMNS);
        // Streamed: one row per attribute of every relation (see `each_row`). The closure
        // borrows the reader's other fields while `self.tx` hands out the rows.
        each_row(
            self.tx,
            self.cache.as_deref_mut(),
            &text,
            COLUMNS.name,
            |r| {
                let rel: u32 = r.get("attrelid")?;
                let attnum: i16 = r.get("attnum")?;
                let name: String = r.get("name")?;
                let type_name: String = r.get("type_name")?;
                let collation = qname_opt(r.get("collation_schema")?, r.get("collation_name")?);
                if let Some(tname) = self.tables.get(&rel) {
                    let identity = match r.char("identity")? {
                        'a' | 'd' => Some(Identity {
                            always: r.char("identity")? == 'a',
                            sequence_options: self
                                .identity_options
                                .remove(&(rel, attnum))
                                .unwrap_or_default(),
                        }),
                        _ => None,
                    };
                    let generated_kind = r.char("generated")?;
                    let expr: Option<String> = r.get("default_expr")?;
                    let (default, generated) = match generated_kind {
                        's' | 'v' => (None, expr),
                        _ => (expr, None),
                    };
                    let default_volatile =
                        default.is_some() && r.get::<bool>("default_volatile")?;
                    if let Some(ad) = r.get::<Option<u32>>("attrdef_oid")? {
                        self.resolver.add_attrdef(ad, rel, attnum);
                    }
                    let id = ObjectId::Column(tname.clone(), name.clone());
                    self.resolver.add_column(rel, attnum, id);
                    let not_null: bool = r.get("not_null")?;
                    let inherited: bool = r.get("inherited")?;
                    // Inherited columns' NOT NULL comes with the parent's (`Column::not_null_name`):
                    // its name is kept (a detached partition keeps it), its flags are the parent's.
                    let own_not_null = not_null && !inherited;
                    let not_null_name = r
                        .get::<Option<String>>("not_null_name")?
                        .filter(|_| not_null);
                    let column = Column {
                        name,
                        type_name,
                        collation,
                        not_null,
                        not_null_not_valid: own_not_null && !r.get::<bool>("not_null_valid")?,
                        not_null_no_inherit: own_not_null
                            && r.get::<bool>("not_null_no_inherit")?,
                        not_null_name,
                        default,
                        default_volatile,
                        identity,
                        generated,
                        generated_virtual: generated_kind == 'v',
                        compression: r.get("compression")?,
                        storage: r
                            .get::<Option<String>>("storage")?
                            .map(|s| storage_name(&s).to_string()),
                        default_storage: storage_name(&r.get::<String>("default_storage")?)
                            .to_string(),
                        statistics: r.get("statistics")?,
                        attoptions: r.get("attoptions")?,
                        inherited,
                        is_local: r.get("is_local")?,
                        fdw_options: foreign::options_from(
                            &r,
                            "fdw_option_keys",
                            "fdw_option_values",
                        )?,
                    };
                    if let Some(t) = self.schema.tables.get_mut(tname) {
                        t.columns.push(column);
                    }
                } else if let Some(vname) = self.views.get(&rel) {
                    let id = ObjectId::Column(vname.clone(), name.clone());
                    self.resolver.add_other_column(rel, attnum, id);
                    if let Some(v) = self.schema.views.get_mut(vname) {
                        v.columns.push((name, type_name));
                    }
                } else if let Some(cname) = self.composites.get(&rel) {
                    let id = ObjectId::Column(cname.clone(), name.clone());
                    self.resolver.add_other_column(rel, attnum, id);
                    if let Some(TypeDef {
                        kind: TypeKind::Composite(attrs),
                        ..
                    }) = self.schema.types.get_mut(cname)
                    {
                        attrs.push(Attribute {
                            name,
                            type_name,
                            collation,
                        });
                    }
                }
                Ok(())
            },
        )
    }

    fn constraints(&mut self) -> Result<(), CatalogError> {
        // Inherited copies on partitions: (oid, index oid, parent constraint oid).
        let mut copies: Vec<(u32, Option<u32>, u32)> = Vec::new();
        let mut listed: HashMap<u32, ObjectId> = HashMap::new();
        let text = self.sql(&CONSTRAINTS);
        each_row(
            self.tx,
            self.cache.as_deref_mut(),
            &text,
            CONSTRAINTS.name,
            |r| {
                let oid: u32 = r.get("oid")?;
                let name: String = r.get("name")?;
                let conrelid: u32 = r.get("conrelid")?;
                let contypid: u32 = r.get("contypid")?;
                if let Some(dname) = self.domains.get(&contypid) {
                    let id = ObjectId::DomainConstraint(dname.clone(), name.clone());
                    self.resolver.add_exact(PG_CONSTRAINT, oid, id);
                    if let Some(TypeDef {
                        kind: TypeKind::Domain(d),
                        ..
                    }) = self.schema.types.get_mut(dname)
                    {
                        d.constraints.insert(
                            name,
                            DomainCheck {
                                definition: r.get("definition")?,
                                validated: r.get("validated")?,
                            },
                        );
                    }
                    return Ok(());
                }
                let Some(tname) = self.tables.get(&conrelid).cloned() else {
                    return Ok(()); // a constraint of an unmodeled relation (an extension member)
                };
                let is_local: bool = r.get("is_local")?;
                if !is_local {
                    // Only inherited (a partition's copy of its parent's PK, a child's copy of an
                    // inherited CHECK): created by the parent's constraint, not declared here.
                    let parent: u32 = r.get("parent_constraint")?;
                    if parent != 0 {
                        copies.push((oid, r.get("index_oid")?, parent));
                    }
                    return Ok(());
                }
                let kind = match r.char("kind")? {
                    'p' => ConstraintKind::PrimaryKey,
                    'u' => ConstraintKind::Unique,
                    'f' => ConstraintKind::ForeignKey,
                    'x' => ConstraintKind::Exclude,
                    _ => ConstraintKind::Check,
                };
                let id = ObjectId::Constraint(tname.clone(), name.clone());
                self.resolver.add_exact(PG_CONSTRAINT, oid, id.clone());
                listed.insert(oid, id.clone());
                if let Some(ix) = r.get::<Option<u32>>("index_oid")? {
                    if ix != 0 {
                        self.resolver.add_alias(PG_CLASS, ix, id);
                    }
                }
                let constraint = Constraint {
                    name: name.clone(),
                    kind,
                    definition: r.get("definition")?,
                    validated: r.get("validated")?,
                    is_local,
                    references: qname_opt(r.get("ref_schema")?, r.get("ref_name")?),
                    columns: r.get("columns")?,
                    parent_index: qname_opt(
                        r.get("index_parent_schema")?,
                        r.get("index_parent_name")?,
                    ),
                };
                if let Some(t) = self.schema.tables.get_mut(&tname) {
                    t.constraints.insert(name, constraint);
                }
                Ok(())
            },
        )?;
        // A foreign key to a partition records the unique index it uses, which may be the
        // partition's copy of its partitioned table's PRIMARY KEY / UNIQUE: that index stands
        // for the partitioned table's constraint (through every level), which creates it.
        let parents: HashMap<u32, u32> = copies.iter().map(|&(o, _, p)| (o, p)).collect();
        for (_, index, parent) in &copies {
            let (mut at, mut hops) = (*parent, 0);
            while let Some(&up) = parents.get(&at) {
                at = up;
                hops += 1;
                if hops > 64 {
                    break;
                }
            }
            if let (Some(ix), Some(id)) = (index.filter(|&i| i != 0), listed.get(&at)) {
                self.resolver.add_alias(PG_CLASS, ix, id.clone());
            }
        }
        Ok(())
    }

    fn indexes(&mut self) -> Result<(), CatalogError> {
        let text = self.sql(&INDEXES);
        each_row(
            self.tx,
            self.cache.as_deref_mut(),
            &text,
            INDEXES.name,
            |r| {
                if r.get::<Option<u32>>("constraint_oid")?.is_some() {
                    // part of its constraint (mapped onto it in constraints())
                    return Ok(());
                }
                let oid: u32 = r.get("oid")?;
                let schema: String = r.get("schema")?;
                let name = QName::new(schema.clone(), r.get::<String>("name")?);
                self.resolver
                    .add_exact(PG_CLASS, oid, ObjectId::Index(name.clone()));
                self.schema.indexes.insert(
                    name.clone(),
                    Index {
                        name,
                        table: QName::new(schema, r.get::<String>("table_name")?),
                        definition: r.get("definition")?,
                        unique: r.get("is_unique")?,
                        on_partitioned_table: r.get("on_partitioned_table")?,
                        parent_index: qname_opt(r.get("parent_schema")?, r.get("parent_name")?),
                        valid: r.get("valid")?,
                    },
                );
                Ok(())
            },
        )?;
        Ok(())
    }

    fn functions(&mut self) -> Result<(), CatalogError> {
        let text = self.sql(&FUNCTIONS);
        each_row(
            self.tx,
            self.cache.as_deref_mut(),
            &text,
            FUNCTIONS.name,
            |r| {
                let oid: u32 = r.get("oid")?;
                let name = QName::new(r.get::<String>("schema")?, r.get::<String>("name")?);
                let identity_args: String = r.get("identity_args")?;
                let arguments: String = r.get("arguments")?;
                let kind = match r.char("kind")? {
                    'p' => FunctionKind::Procedure,
                    'a' => FunctionKind::Aggregate,
                    _ => FunctionKind::Function, // 'f', and 'w' (WINDOW functions)
                };
                let definition = if kind == FunctionKind::Aggregate {
                    aggregate_definition(&r, &arguments)?
                } else {
                    r.get::<Option<String>>("definition")?.unwrap_or_default()
                };
                self.resolver.add_exact(
                    PG_PROC,
                    oid,
                    ObjectId::Function(name.clone(), identity_args.clone()),
                );
                self.schema.functions.insert(
                    (name.clone(), identity_args.clone()),
                    Function {
                        name,
                        identity_args,
                        arg_types: r.get("arg_types")?,
                        kind,
                        definition,
                        result: r.get("result")?,
                        arguments,
                    },
                );
                Ok(())
            },
        )?;
        Ok(())
    }

    fn triggers(&mut self) -> Result<(), CatalogError> {
        for row in self.run(&TRIGGERS)? {
            let r = R {
                row: &row,
                query: TRIGGERS.name,
            };
            let table = QName::new(r.get::<String>("schema")?, r.get::<String>("table_name")?);
            let name: String = r.get("name")?;
            self.resolver.add_exact(
                PG_TRIGGER,
                r.get("oid")?,
                ObjectId::Trigger(table.clone(), name.clone()),
            );
            self.schema.triggers.insert(
                (table.clone(), name.clone()),
                Trigger {
                    table,
                    name,
                    definition: r.get("definition")?,
                    enabled: r.char("enabled")?,
                },
            );
        }
        Ok(())
    }

    fn policies(&mut self) -> Result<(), CatalogError> {
        for row in self.run(&POLICIES)? {
            let r = R {
                row: &row,
                query: POLICIES.name,
            };
            let table = QName::new(r.get::<String>("schema")?, r.get::<String>("table_name")?);
            let name: String = r.get("name")?;
            // a set: sorted here, not in SQL, so the database's collation does not matter
            let mut roles: Vec<String> = r.get("roles")?;
            roles.sort();
            let command = match r.char("command")? {
                'r' => "SELECT",
                'a' => "INSERT",
                'w' => "UPDATE",
                'd' => "DELETE",
                _ => "ALL",
            };
            self.resolver.add_exact(
                PG_POLICY,
                r.get("oid")?,
                ObjectId::Policy(table.clone(), name.clone()),
            );
            self.schema.policies.insert(
                (table.clone(), name.clone()),
                Policy {
                    table,
                    name,
                    permissive: r.get("permissive")?,
                    command: command.to_string(),
                    roles,
                    using: r.get("using_expr")?,
                    with_check: r.get("with_check")?,
                },
            );
        }
        Ok(())
    }

    fn comments(&mut self) -> Result<(), CatalogError> {
        let text = self.sql(&COMMENTS);
        each_row(
            self.tx,
            self.cache.as_deref_mut(),
            &text,
            COMMENTS.name,
            |r| {
                if let Some(id) =
                    self.resolver
                        .exact(r.get("classoid")?, r.get("objoid")?, r.get("objsubid")?)
                {
                    self.schema.comments.insert(id, r.get("description")?);
                }
                Ok(())
            },
        )?;
        Ok(())
    }

    fn grants(&mut self) -> Result<(), CatalogError> {
        let text = self.sql(&GRANTS);
        each_row(
            self.tx,
            self.cache.as_deref_mut(),
            &text,
            GRANTS.name,
            |r| {
                let Some(on) =
                    self.resolver
                        .exact(r.get("classid")?, r.get("objid")?, r.get("objsubid")?)
                else {
                    return Ok(()); // an object that is not modeled (extension member)
                };
                self.schema.grants.insert(Grant {
                    on,
                    privilege: r.get("privilege")?,
                    grantee: r.get("grantee")?,
                    with_grant_option: r.get("grantable")?,
                    granted: r.get("granted")?,
                });
                Ok(())
            },
        )?;
        Ok(())
    }

    fn default_privileges(&mut self) -> Result<(), CatalogError> {
        for row in self.run(&DEFAULT_PRIVILEGES)? {
            let r = R {
                row: &row,
                query: DEFAULT_PRIVILEGES.name,
            };
            let object_type = match r.char("objtype")? {
                'r' => "TABLES",
                'S' => "SEQUENCES",
                'f' => "FUNCTIONS",
                'T' => "TYPES",
                'n' => "SCHEMAS",
                'L' => "LARGE OBJECTS",
                _ => "UNKNOWN",
            };
            self.schema.default_privileges.insert(DefaultPrivilege {
                for_role: r.get("for_role")?,
                schema: r.get("schema")?,
                object_type: object_type.to_string(),
                privilege: r.get("privilege")?,
                grantee: r.get("grantee")?,
                with_grant_option: r.get("grantable")?,
                granted: r.get("granted")?,
            });
        }
        Ok(())
    }

    fn depends(&mut self) -> Result<(), CatalogError> {
        let text = self.sql(&DEPENDS);
        // Streamed (see `each_row`): the biggest query, several rows per object.
        each_row(
            self.tx,
            self.cache.as_deref_mut(),
            &text,
            DEPENDS.name,
            |r| {
                let Some(dependent) =
                    self.resolver
                        .owning(r.get("classid")?, r.get("objid")?, r.get("objsubid")?)
                else {
                    return Ok(());
                };
                let Some(referenced) = self.resolver.owning(
                    r.get("refclassid")?,
                    r.get("refobjid")?,
                    r.get("refobjsubid")?,
                ) else {
                    return Ok(());
                };
                // OWNED BY (sequence -> column, deptype 'a') is modeled as Sequence::owned_by. As an
                // edge it would close a cycle with the column default's nextval() reference
                // (column -> sequence) that every serial column has.
                if matches!(
                    (&dependent, &referenced),
                    (ObjectId::Sequence(_), ObjectId::Column(..))
                ) {
                    return Ok(());
                }
                if let ObjectId::Column(t, _) = &referenced {
                    // whatever reads a column also needs its table (a view on t.a needs t)
                    self.schema
                        .add_dependency(dependent.clone(), ObjectId::Table(t.clone()));
                }
                self.schema.add_dependency(dependent, referenced);
                Ok(())
            },
        )?;
        self.parent_edges();
        Ok(())
    }

    /// Edges pg_depend does not record because they are structural: a column, constraint,
    /// trigger or policy needs its table (or view), an index its table, a domain constraint
    /// its domain.
    fn parent_edges(&mut self) {
        let mut edges = Vec::new();
        let relation = |s: &Schema, q: &QName| {
            if s.views.contains_key(q) {
                ObjectId::View(q.clone())
            } else {
                ObjectId::Table(q.clone())
            }
        };
        for (q, t) in &self.schema.tables {
            for c in &t.columns {
                edges.push((
                    ObjectId::Column(q.clone(), c.name.clone()),
                    ObjectId::Table(q.clone()),
                ));
            }
            for c in t.constraints.keys() {
                edges.push((
                    ObjectId::Constraint(q.clone(), c.clone()),
                    ObjectId::Table(q.clone()),
                ));
            }
        }
        for (q, i) in &self.schema.indexes {
            edges.push((ObjectId::Index(q.clone()), relation(&self.schema, &i.table)));
        }
        for (t, n) in self.schema.triggers.keys() {
            edges.push((
                ObjectId::Trigger(t.clone(), n.clone()),
                relation(&self.schema, t),
            ));
        }
        for (t, n) in self.schema.policies.keys() {
            edges.push((
                ObjectId::Policy(t.clone(), n.clone()),
                ObjectId::Table(t.clone()),
            ));
        }
        for (q, ty) in &self.schema.types {
            if let TypeKind::Domain(d) = &ty.kind {
                for c in d.constraints.keys() {
                    edges.push((
                        ObjectId::DomainConstraint(q.clone(), c.clone()),
                        ObjectId::Type(q.clone()),
                    ));
                }
            }
        }
        for (a, b) in edges {
            self.schema.add_dependency(a, b);
        }
    }
}

fn qname_opt(schema: Option<String>, name: Option<String>) -> Option<QName> {
    Some(QName::new(schema?, name?))
}

/// The multirange name `CREATE TYPE ... AS RANGE` picks when none is given: the first
/// `range` in the range type's name replaced by `multirange`, else `_multirange` appended
/// (makeMultirangeTypeName; ignoring the truncation to NAMEDATALEN and the uniqueness suffix).
fn default_multirange_name(range: &str) -> String {
    match range.find("range") {
        Some(i) => format!("{}multirange{}", &range[..i], &range[i + 5..]),
        None => format!("{range}_multirange"),
    }
}

/// The options of an identity column's sequence that differ from what `GENERATED ... AS
/// IDENTITY` without options would create for a column of `data_type`, rendered as in
/// `CREATE SEQUENCE` (`START WITH 5`, `INCREMENT BY 2`, `MINVALUE 0`, `MAXVALUE 100`,
/// `CACHE 10`, `CYCLE`).
///
/// Defaults (as for CREATE SEQUENCE): ascending: MINVALUE 1, MAXVALUE the type's maximum;
/// descending: MINVALUE the type's minimum, MAXVALUE -1; START WITH MINVALUE (ascending) or
/// MAXVALUE (descending) — of the actual bounds, so `MINVALUE 10` alone implies START 10;
/// INCREMENT BY 1, CACHE 1, NO CYCLE.
pub(crate) fn identity_options(
    data_type: &str,
    start: i64,
    increment: i64,
    min: i64,
    max: i64,
    cache: i64,
    cycle: bool,
) -> Vec<String> {
    let (type_min, type_max) = match data_type {
        "smallint" => (i64::from(i16::MIN), i64::from(i16::MAX)),
        "integer" => (i64::from(i32::MIN), i64::from(i32::MAX)),
        _ => (i64::MIN, i64::MAX),
    };
    let ascending = increment > 0;
    let (def_min, def_max) = if ascending {
        (1, type_max)
    } else {
        (type_min, -1)
    };
    let def_start = if ascending { min } else { max };
    let mut out = Vec::new();
    if start != def_start {
        out.push(format!("START WITH {start}"));
    }
    if increment != 1 {
        out.push(format!("INCREMENT BY {increment}"));
    }
    if min != def_min {
        out.push(format!("MINVALUE {min}"));
    }
    if max != def_max {
        out.push(format!("MAXVALUE {max}"));
    }
    if cache != 1 {
        out.push(format!("CACHE {cache}"));
    }
    if cycle {
        out.push("CYCLE".to_string());
    }
    out
}

/// `CREATE AGGREGATE` text assembled from pg_aggregate (pg_get_functiondef does not do
/// aggregates), in pg_dump's layout, options in its order, each only when not the default.
fn aggregate_definition(r: &R<'_>, arguments: &str) -> Result<String, CatalogError> {
    let qualified: String = r.get("qualified")?;
    let aggkind = r.char("aggkind")?;
    let args = if arguments.is_empty() { "*" } else { arguments };
    let mut opts = vec![
        format!("SFUNC = {}", r.get::<String>("sfunc")?),
        format!("STYPE = {}", r.get::<String>("stype")?),
    ];
    let sspace: i32 = r.get("sspace")?;
    if sspace != 0 {
        opts.push(format!("SSPACE = {sspace}"));
    }
    if let Some(v) = r.get::<Option<String>>("initcond")? {
        opts.push(format!("INITCOND = {}", literal(&v)));
    }
    // READ_ONLY is the default for normal aggregates, READ_WRITE for ordered-set ones
    let default_modify = if aggkind == 'n' { 'r' } else { 'w' };
    let modify = |c: char| match c {
        'r' => "READ_ONLY",
        's' => "SHAREABLE",
        _ => "READ_WRITE",
    };
    if let Some(f) = r.get::<Option<String>>("finalfunc")? {
        opts.push(format!("FINALFUNC = {f}"));
        if r.get::<bool>("finalfunc_extra")? {
            opts.push("FINALFUNC_EXTRA".to_string());
        }
        let m = r.char("finalfunc_modify")?;
        if m != default_modify {
            opts.push(format!("FINALFUNC_MODIFY = {}", modify(m)));
        }
    }
    for (option, column) in [
        ("COMBINEFUNC", "combinefunc"),
        ("SERIALFUNC", "serialfunc"),
        ("DESERIALFUNC", "deserialfunc"),
    ] {
        if let Some(f) = r.get::<Option<String>>(column)? {
            opts.push(format!("{option} = {f}"));
        }
    }
    if let Some(f) = r.get::<Option<String>>("msfunc")? {
        opts.push(format!("MSFUNC = {f}"));
        if let Some(f) = r.get::<Option<String>>("minvfunc")? {
            opts.push(format!("MINVFUNC = {f}"));
        }
        if let Some(t) = r.get::<Option<String>>("mstype")? {
            opts.push(format!("MSTYPE = {t}"));
        }
        let msspace: i32 = r.get("msspace")?;
        if msspace != 0 {
            opts.push(format!("MSSPACE = {msspace}"));
        }
        if let Some(f) = r.get::<Option<String>>("mfinalfunc")? {
            opts.push(format!("MFINALFUNC = {f}"));
            if r.get::<bool>("mfinalfunc_extra")? {
                opts.push("MFINALFUNC_EXTRA".to_string());
            }
            let m = r.char("mfinalfunc_modify")?;
            if m != default_modify {
                opts.push(format!("MFINALFUNC_MODIFY = {}", modify(m)));
            }
        }
        if let Some(v) = r.get::<Option<String>>("minitcond")? {
            opts.push(format!("MINITCOND = {}", literal(&v)));
        }
    }
    if let Some(op) = r.get::<Option<String>>("sortop")? {
        opts.push(format!("SORTOP = {op}"));
    }
    match r.char("parallel")? {
        's' => opts.push("PARALLEL = safe".to_string()),
        'r' => opts.push("PARALLEL = restricted".to_string()),
        _ => {}
    }
    if aggkind == 'h' {
        opts.push("HYPOTHETICAL".to_string());
    }
    Ok(format!(
        "CREATE AGGREGATE {qualified}({args}) (\n    {}\n);",
        opts.join(",\n    ")
    ))
}

/// `attstorage` / `typstorage` as `SET STORAGE` spells it.
fn storage_name(code: &str) -> &'static str {
    match code {
        "p" => "PLAIN",
        "e" => "EXTERNAL",
        "m" => "MAIN",
        _ => "EXTENDED",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_defaults_render_nothing() {
        assert!(identity_options("integer", 1, 1, 1, i32::MAX as i64, 1, false).is_empty());
        // descending: the bounds and start follow the direction
        assert_eq!(
            identity_options("bigint", -1, -1, i64::MIN, -1, 1, false),
            vec!["INCREMENT BY -1"]
        );
        assert_eq!(
            identity_options("bigint", 5, 2, 1, i64::MAX, 10, true),
            vec!["START WITH 5", "INCREMENT BY 2", "CACHE 10", "CYCLE"]
        );
        // MINVALUE alone moves the default start with it
        assert_eq!(
            identity_options("smallint", 10, 1, 10, 100, 1, false),
            vec!["MINVALUE 10", "MAXVALUE 100"]
        );
    }

    #[test]
    fn multirange_default_names() {
        assert_eq!(default_multirange_name("floatrange"), "floatmultirange");
        assert_eq!(default_multirange_name("mytype"), "mytype_multirange");
    }
}
