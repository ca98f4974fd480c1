//! Runs the catalog queries (one per object kind) and turns their rows into the model.
//!
//! Order matters only for cross-references resolved in Rust: types before columns (composite
//! attributes), tables and views before columns, sequences before columns (identity options),
//! everything before comments, grants and depends (which go through the [`Resolver`]).
//!
//! The rows come from the server, or, in a delta read (`catalog::delta`), partly from the
//! previous read's kept rows ([`Reader::with_cache`]): the model is made of them by this same
//! code either way.
//!
//! This file owns the [`Reader`], the order of the queries ([`Reader::read`]), the query texts
//! and their version placeholders, and how rows are fetched ([`each_row`], `Reader::run`).
//! What each kind's rows become is in `build/`, one file per group of kinds: `schemas`
//! (schemas, extensions, extension members), `types` (collations, types, the type index),
//! `relations` (tables, views, sequences, columns, constraints, indexes), `routines`
//! (functions, aggregates, triggers), `access` (policies, comments, grants, default
//! privileges), `depends` (dependency edges), and one file per smaller kind (casts, foreign
//! data, operators, owners, publications, text search, event triggers, extended
//! statistics, rules, unmodeled objects).

use super::delta::{self, RowCache};
use super::resolve::Resolver;
use super::CatalogError;
use crate::model::*;
use postgres::types::{FromSql, Type, WrongType};
use postgres::Row;
use std::collections::HashMap;

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
query!(ACCESS_METHODS, "access_methods");
query!(CONVERSIONS, "conversions");
query!(LANGUAGES, "languages");
query!(STATISTICS, "statistics");
query!(RULES, "rules");

mod access;
mod access_methods;
mod casts;
mod conversions;
mod depends;
mod event_triggers;
mod foreign;
mod index_keys;
mod languages;
mod operators;
mod owners;
mod publications;
mod relations;
mod routines;
mod rules;
mod schemas;
mod statistics;
mod text_search;
mod types;
mod unmodeled;

/// One row of a named query, with typed, error-reporting column access. The row is a live
/// `postgres::Row` or one the delta read's cache kept in its compact form
/// (`delta::KeptRows`): the builders read both the same way ([`RowSource`]).
struct R<'a> {
    row: &'a dyn RowSource,
    query: &'static str,
}

impl<'a> R<'a> {
    /// Column `column` decoded as `T`, checked as `postgres::Row::try_get` checks it (the
    /// column exists, `T` accepts its type).
    fn get<T: FromSql<'a>>(&self, column: &'static str) -> Result<T, CatalogError> {
        let failed = |source| CatalogError::Decode {
            query: self.query,
            column,
            source,
        };
        let (ty, raw) = self
            .row
            .raw(column)
            .ok_or_else(|| failed("no such column in the query's result".into()))?;
        if !T::accepts(ty) {
            return Err(failed(Box::new(WrongType::new::<T>(ty.clone()))));
        }
        T::from_sql_nullable(ty, raw).map_err(failed)
    }

    /// A `"char"` column.
    fn char(&self, column: &'static str) -> Result<char, CatalogError> {
        Ok(self.get::<i8>(column)? as u8 as char)
    }
}

/// A row as the builders read it: each column's type and its value in PostgreSQL's binary
/// format (what `FromSql` decodes), by column name.
pub(super) trait RowSource {
    /// The type and raw value (`None`: NULL) of `column`; `None` when there is no such column.
    fn raw(&self, column: &str) -> Option<(&Type, Option<&[u8]>)>;
}

impl RowSource for Row {
    fn raw(&self, column: &str) -> Option<(&Type, Option<&[u8]>)> {
        let at = self.columns().iter().position(|c| c.name() == column)?;
        let RawValue(raw) = self.try_get(at).ok()?;
        Some((self.columns()[at].type_(), raw))
    }
}

/// A column's value as the server sent it, undecoded (any type; `None`: NULL): how a live
/// row's values are copied into the compact form the delta read keeps, and read by name.
pub(super) struct RawValue<'a>(pub(super) Option<&'a [u8]>);

impl<'a> FromSql<'a> for RawValue<'a> {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(RawValue(Some(raw)))
    }

    fn from_sql_null(_: &Type) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(RawValue(None))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// Runs `text` (query `name`) and hands each row to `each` as it arrives, instead of
/// collecting the whole result first (`query` buffers every row: at 5,000 tables the columns
/// and dependencies are hundreds of thousands of rows, held beside the schema being built).
/// The rows come through `query_raw`'s row stream, which the connection fills as the client
/// reads it.
///
/// With a row cache (`catalog::delta`), the queries it keeps go through it: their rows are
/// kept (in a compact form) as they are handed over, and in a delta read the rows of the
/// objects that did not change come from it (the query re-run only for the others).
///
/// With a digest ([`Reader::with_digest`]; never beside a row cache), every row is fed to it
/// as it is handed over ([`RowsDigest`]).
fn each_row(
    tx: &mut postgres::Transaction<'_>,
    cache: Option<&mut RowCache>,
    mut digest: Option<&mut RowsDigest>,
    text: &str,
    name: &'static str,
    mut each: impl FnMut(R<'_>) -> Result<(), CatalogError>,
) -> Result<(), CatalogError> {
    use postgres::fallible_iterator::FallibleIterator;
    if let (Some(cache), Some(key)) = (cache, delta::key_of(name)) {
        debug_assert!(
            digest.is_none(),
            "a read through a row cache is not digested"
        );
        return cache.fetch(tx, text, name, key, |row| each(R { row, query: name }));
    }
    let failed = |source| CatalogError::Query {
        query: name,
        source,
    };
    let mut rows = tx
        .query_raw(text, std::iter::empty::<&dyn postgres::types::ToSql>())
        .map_err(failed)?;
    if let Some(d) = digest.as_deref_mut() {
        d.query(name);
    }
    while let Some(row) = rows.next().map_err(failed)? {
        if let Some(d) = digest.as_deref_mut() {
            d.row(&row);
        }
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
    /// Building into a previous reading (`catalog::splice`): only the objects read again are
    /// built, into `schema` and `resolver` as [`Reader::splicing`] set them.
    splicing: bool,
    /// Every row read, digested ([`Reader::with_digest`]).
    digest: Option<RowsDigest>,
}

/// The digest of everything a read was built from: the server version, then each query's
/// name and the multiset of its rows (each row's SHA-256 over every value, a NULL told apart
/// from an empty value, each value length-prefixed; the rows' digests summed as 256-bit
/// integers, with their count). The schema a [`Reader`] builds is a function of these alone
/// (and of the build of schemaplan), so two reads of equal digests built equal schemas: what
/// lets `catalog::fingerprints` give a kept fingerprint for a live database that did not
/// change since the last plan (issue 9). A sum, not a digest of the rows in order: a query
/// without `ORDER BY` may give its rows in another order on each run (a sequential scan
/// joining one already running starts where that one is), and the builders do not depend on
/// it. The sum holds no row: nothing to keep memory for at 600,000 rows.
pub(super) struct RowsDigest {
    all: sha2::Sha256,
    /// The query whose rows are being summed, the sum and how many.
    query: Option<&'static str>,
    sum: [u64; 4],
    rows: u64,
}

impl RowsDigest {
    fn new(version: i32) -> Self {
        use sha2::Digest;
        let mut all = sha2::Sha256::new();
        all.update(b"schemaplan catalog rows v1\0");
        all.update(version.to_le_bytes());
        RowsDigest {
            all,
            query: None,
            sum: [0; 4],
            rows: 0,
        }
    }

    /// The rows of query `name` come next.
    fn query(&mut self, name: &'static str) {
        self.end_query();
        self.query = Some(name);
    }

    fn row(&mut self, row: &Row) {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        for at in 0..row.len() {
            match row.try_get::<_, RawValue>(at) {
                Ok(RawValue(Some(value))) => {
                    h.update([b'V']);
                    h.update((value.len() as u64).to_le_bytes());
                    h.update(value);
                }
                Ok(RawValue(None)) => h.update([b'N']),
                // Cannot happen (`RawValue` takes any type); told apart all the same.
                Err(_) => h.update([b'E']),
            }
        }
        add_256(&mut self.sum, &h.finalize().into());
        self.rows += 1;
    }

    /// The query whose rows were summed, into the whole digest.
    fn end_query(&mut self) {
        use sha2::Digest;
        if let Some(name) = self.query.take() {
            self.all.update((name.len() as u64).to_le_bytes());
            self.all.update(name.as_bytes());
            self.all.update(self.rows.to_le_bytes());
            for limb in self.sum {
                self.all.update(limb.to_le_bytes());
            }
        }
        self.sum = [0; 4];
        self.rows = 0;
    }

    fn finish(mut self) -> String {
        use sha2::Digest;
        self.end_query();
        self.all
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// `sum += digest`, both 256-bit integers (`digest`'s bytes little-endian), modulo 2^256:
/// the same sum whatever order the digests come in.
fn add_256(sum: &mut [u64; 4], digest: &[u8; 32]) {
    let mut carry = false;
    for (limb, part) in sum.iter_mut().zip(digest.chunks_exact(8)) {
        let part = u64::from_le_bytes(part.try_into().expect("8 bytes"));
        let (s1, c1) = limb.overflowing_add(part);
        let (s2, c2) = s1.overflowing_add(carry as u64);
        *limb = s2;
        carry = c1 || c2;
    }
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
            splicing: false,
            digest: None,
        }
    }

    /// Digests every row read ([`RowsDigest`], given by [`Reader::read_digested`]). Not with
    /// a row cache: a delta read's rows are not all read.
    pub fn with_digest(mut self) -> Self {
        debug_assert!(
            self.cache.is_none(),
            "a read through a row cache is not digested"
        );
        self.digest = Some(RowsDigest::new(self.version));
        self
    }

    /// [`Reader::read`] and the digest of the rows it was built from ([`RowsDigest`]; the
    /// reader must have been made [`Reader::with_digest`]).
    pub fn read_digested(mut self) -> Result<(Schema, String), CatalogError> {
        self.fill()?;
        let digest = self
            .digest
            .expect("read_digested needs a reader made with_digest");
        Ok((self.schema, digest.finish()))
    }

    /// Reads through `cache`: keeps the rows of the queries `delta::key_of` names, and
    /// during a delta read re-runs them only for the objects it says changed.
    pub fn with_cache(mut self, cache: &'t mut RowCache) -> Self {
        self.cache = Some(cache);
        self
    }

    /// Builds into `schema` and `resolver` (a previous reading without the objects read
    /// again: `catalog::splice::prepare`) instead of empty ones; the cache hands over only
    /// the rows read again.
    pub(super) fn splicing(mut self, schema: Schema, resolver: Resolver) -> Self {
        self.schema = schema;
        self.resolver = resolver;
        self.splicing = true;
        self
    }

    pub fn read(self) -> Result<Schema, CatalogError> {
        Ok(self.read_kept()?.0)
    }

    /// [`Reader::read`], giving the resolver too (kept for a splice, `catalog::splice`).
    pub(super) fn read_kept(mut self) -> Result<(Schema, Resolver), CatalogError> {
        self.fill()?;
        Ok((self.schema, self.resolver))
    }

    /// Runs every query, building the schema.
    fn fill(&mut self) -> Result<(), CatalogError> {
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
        stage("catalog: access_methods", || self.access_methods())?;
        stage("catalog: conversions", || self.conversions())?;
        stage("catalog: languages", || self.languages())?;
        stage("catalog: statistics", || self.statistics())?;
        stage("catalog: rules", || self.rules())?;
        stage("catalog: text_search", || self.text_search())?;
        stage("catalog: operators", || self.operators())?;
        stage("catalog: comments", || self.comments())?;
        stage("catalog: owners", || self.owners())?;
        stage("catalog: grants", || self.grants())?;
        stage("catalog: default_privileges", || self.default_privileges())?;
        stage("catalog: depends", || self.depends())?;
        stage("catalog: unmodeled", || self.unmodeled())?;
        self.shrink();
        Ok(())
    }

    /// Gives back the spare capacity of the lists filled row by row (a table's columns grow
    /// by doubling: 12 columns sit in room for 16) and of the maps filled key by key
    /// (`Schema::compact`). A plan holds several schemas read here at once (issue 9's memory
    /// target). A splice built only the objects read again into a reading that was compacted
    /// when it was read in full or decoded: its maps are not rebuilt again for the few keys a
    /// splice inserts (~18 ms of CPU per read at 5,000 tables; a warm `plan` splices four
    /// times).
    fn shrink(&mut self) {
        for t in self.schema.tables.values_mut() {
            t.columns.shrink_to_fit();
        }
        for v in self.schema.views.values_mut() {
            v.columns.shrink_to_fit();
        }
        if !self.splicing {
            self.schema.compact();
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
        let subst: [(&str, &str); 13] = [
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
            // A statistics object's expressions (14+; 13 has none).
            (
                "{{stxexprs}}",
                if v >= 140000 {
                    "coalesce(pg_catalog.pg_get_statisticsobjdef_expressions(s.oid), '{}'::text[])"
                } else {
                    "'{}'::text[]"
                },
            ),
        ];
        for (from, to) in subst {
            text = text.replace(from, to);
        }
        text
    }

    /// The rows of `q`, all at once: for the small queries that the delta read does not keep
    /// (`delta::key_of`). The big ones (a row per column or per dependency) and the kept ones
    /// go through [`each_row`].
    fn run(&mut self, q: &Query) -> Result<Vec<Row>, CatalogError> {
        debug_assert!(
            delta::key_of(q.name).is_none(),
            "kept query {} must go through each_row",
            q.name
        );
        let text = self.sql(q);
        let rows = self
            .tx
            .query(text.as_str(), &[])
            .map_err(|source| CatalogError::Query {
                query: q.name,
                source,
            })?;
        if let Some(d) = self.digest.as_mut() {
            d.query(q.name);
            rows.iter().for_each(|row| d.row(row));
        }
        Ok(rows)
    }
}

fn qname_opt(schema: Option<String>, name: Option<String>) -> Option<QName> {
    Some(QName::new(schema?, name?))
}

#[cfg(test)]
mod tests {
    use super::add_256;

    #[test]
    fn rows_digest_sum_carries_and_ignores_order() {
        let mut max = [0xffu8; 32];
        let mut sum = [0u64; 4];
        add_256(&mut sum, &max);
        let one = {
            let mut d = [0u8; 32];
            d[0] = 1;
            d
        };
        add_256(&mut sum, &one);
        assert_eq!(
            sum,
            [0, 0, 0, 0],
            "2^256 - 1 + 1 wraps to 0, carrying through every limb"
        );
        max[31] = 0x7f;
        let digests = [max, one, [7u8; 32]];
        let (mut a, mut b) = ([0u64; 4], [0u64; 4]);
        digests.iter().for_each(|d| add_256(&mut a, d));
        digests.iter().rev().for_each(|d| add_256(&mut b, d));
        assert_eq!(a, b);
        // A row counted twice is not a row counted once.
        let mut c = a;
        add_256(&mut c, &one);
        assert_ne!(a, c);
    }
}
