//! The canonical form of a schema, object by object: what fingerprints and object digests see
//! (`catalog::fingerprint`, `catalog::object_digests`).
//!
//! Owns the normalizations themselves (column order, storage options, extension versions,
//! ...: see [`Schema::canonical`]) as one function per object kind, and [`CanonicalDebug`],
//! which prints the `Debug` text of `schema.canonical()` without building that second schema:
//! each object is normalized as it is printed, one at a time. A fingerprint of a schema of
//! 5,000 tables then costs one table's copy, not the whole schema's (issue 9). The two must
//! print the same text, byte for byte (the fingerprints of written plans depend on it): the
//! test below compares them, and `Schema::canonical` is built from the same functions.

use super::*;
use std::fmt::{self, Debug, Formatter};

/// A table as fingerprinted: columns by name, no default volatility, options sorted, and no
/// `NOT VALID` on NOT NULL constraints (PostgreSQL 18): a valid one satisfies a `NOT VALID`
/// one in the schema files, which `CREATE TABLE` cannot even make (`diff` plans only NOT
/// VALID -> valid, `VALIDATE CONSTRAINT`); no NOT NULL constraint names of inherited columns
/// (a partition attached keeps its own, one created `PARTITION OF` gets the parent's: the
/// same schema); no partition key columns (derived from the key).
pub fn table(t: &Table) -> Table {
    let mut t = t.clone();
    t.columns.sort_by(|a, b| a.name.cmp(&b.name));
    t.columns.iter_mut().for_each(|c| {
        c.default_volatile = false;
        c.not_null_not_valid = false;
        if c.inherited {
            c.not_null_name = None;
        }
    });
    t.options.sort();
    // derived from the key and the column names (kept out: fingerprints of plans written
    // before the field was read stay as they were)
    t.partition_key_columns.clear();
    // a partition's copies of its partitioned table's keys are made by those keys
    t.key_copies.clear();
    t
}

/// A view as fingerprinted: options sorted.
pub fn view(v: &View) -> View {
    let mut v = v.clone();
    v.options.sort();
    v
}

/// An extension as fingerprinted: no version.
pub fn extension(e: &Extension) -> Extension {
    let mut e = e.clone();
    e.version.clear();
    e
}

/// A text search dictionary as fingerprinted: options sorted.
pub fn ts_dictionary(d: &TextSearchDictionary) -> TextSearchDictionary {
    let mut d = d.clone();
    d.options.sort();
    d
}

/// Prints `map` as `BTreeMap`'s `Debug` does, each value normalized by `f` as it is printed.
struct Normalized<'a, K, V, W> {
    map: &'a BTreeMap<K, V>,
    f: fn(&V) -> W,
}

impl<K: Debug, V, W: Debug> Debug for Normalized<'_, K, V, W> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let mut m = f.debug_map();
        for (k, v) in self.map {
            m.entry(k, &(self.f)(v));
        }
        m.finish()
    }
}

/// `Debug` of `schema.canonical()`, printed from `schema` itself (see the module doc).
pub struct CanonicalDebug<'a>(pub &'a Schema);

impl Debug for CanonicalDebug<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        // Every field by name, so a field added to `Schema` does not compile here until it is
        // printed (in declaration order, as the derived `Debug` does) or normalized away.
        let Schema {
            schemas,
            extensions,
            collations,
            types,
            sequences,
            tables,
            indexes,
            views,
            functions,
            triggers,
            policies,
            publications,
            publication_tables,
            publication_schemas,
            event_triggers,
            foreign_data_wrappers,
            foreign_servers,
            user_mappings,
            casts,
            ts_dictionaries,
            ts_configurations,
            operators,
            operator_families,
            operator_classes,
            access_methods,
            conversions,
            languages,
            comments,
            grants,
            default_privileges,
            depends: _,
            owners: _,
            unmodeled,
            unmodeled_deps: _,
            sizes: _,
        } = self.0;
        // Left out of the canonical form: printed as the empty collections it holds there.
        let depends: BTreeMap<ObjectId, DepSet> = BTreeMap::new();
        let owners: BTreeMap<ObjectId, String> = BTreeMap::new();
        let unmodeled_deps: BTreeMap<Unmodeled, UnmodeledDeps> = BTreeMap::new();
        let sizes: BTreeMap<QName, u64> = BTreeMap::new();
        f.debug_struct("Schema")
            .field("schemas", schemas)
            .field(
                "extensions",
                &Normalized {
                    map: extensions,
                    f: extension,
                },
            )
            .field("collations", collations)
            .field("types", types)
            .field("sequences", sequences)
            .field(
                "tables",
                &Normalized {
                    map: tables,
                    f: table,
                },
            )
            .field("indexes", indexes)
            .field(
                "views",
                &Normalized {
                    map: views,
                    f: view,
                },
            )
            .field("functions", functions)
            .field("triggers", triggers)
            .field("policies", policies)
            .field("publications", publications)
            .field("publication_tables", publication_tables)
            .field("publication_schemas", publication_schemas)
            .field("event_triggers", event_triggers)
            .field("foreign_data_wrappers", foreign_data_wrappers)
            .field("foreign_servers", foreign_servers)
            .field("user_mappings", user_mappings)
            .field("casts", casts)
            .field(
                "ts_dictionaries",
                &Normalized {
                    map: ts_dictionaries,
                    f: ts_dictionary,
                },
            )
            .field("ts_configurations", ts_configurations)
            .field("operators", operators)
            .field("operator_families", operator_families)
            .field("operator_classes", operator_classes)
            .field("access_methods", access_methods)
            .field("conversions", conversions)
            .field("languages", languages)
            .field("comments", comments)
            .field("grants", grants)
            .field("default_privileges", default_privileges)
            .field("depends", &depends)
            .field("owners", &owners)
            .field("unmodeled", unmodeled)
            .field("unmodeled_deps", &unmodeled_deps)
            .field("sizes", &sizes)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A schema touching every normalization, with something in every field.
    fn sample() -> Schema {
        let q = |n: &str| QName::new("public", n);
        let mut s = Schema::default();
        s.schemas.insert(
            "public".into(),
            Namespace {
                name: "public".into(),
            },
        );
        s.extensions.insert(
            "pgcrypto".into(),
            Extension {
                name: "pgcrypto".into(),
                schema: "public".into(),
                version: "1.3".into(),
            },
        );
        let column = |name: &str, volatile: bool| Column {
            name: name.into(),
            type_name: "integer".into(),
            collation: None,
            not_null: true,
            not_null_name: Some(format!("t_{name}_not_null")),
            not_null_not_valid: false,
            not_null_no_inherit: false,
            default: volatile.then(|| "random()".to_string()),
            default_volatile: volatile,
            identity: None,
            generated: None,
            generated_virtual: false,
            compression: None,
            storage: None,
            default_storage: "p".into(),
            statistics: None,
            attoptions: vec![],
            fdw_options: vec![],
            inherited: false,
            is_local: true,
        };
        s.tables.insert(
            q("t"),
            Table {
                name: q("t"),
                kind: TableKind::Ordinary,
                unlogged: false,
                columns: vec![column("z", true), column("a", false)],
                constraints: BTreeMap::new(),
                partition_key: None,
                partition_key_columns: Vec::new(),
                key_copies: Default::default(),
                partition_of: None,
                inherits: vec![],
                options: vec!["fillfactor=70".into(), "autovacuum_enabled=false".into()],
                rls_enabled: false,
                rls_forced: false,
                replica_identity: ReplicaIdentity::Default,
                access_method: None,
                foreign: None,
            },
        );
        s.views.insert(
            q("v"),
            View {
                name: q("v"),
                materialized: false,
                definition: " SELECT 1".into(),
                options: vec!["security_barrier=true".into(), "check_option=local".into()],
                columns: vec![("x".into(), "integer".into())],
                populated: true,
            },
        );
        s.ts_dictionaries.insert(
            q("d"),
            TextSearchDictionary {
                name: q("d"),
                template: QName::new("pg_catalog", "simple"),
                options: vec![
                    ("stopwords".into(), "'english'".into()),
                    ("accept".into(), "false".into()),
                ],
            },
        );
        s.comments.insert(ObjectId::Table(q("t")), "a table".into());
        s.add_dependency(ObjectId::View(q("v")), ObjectId::Table(q("t")));
        s.owners.insert(ObjectId::Table(q("t")), "alice".into());
        s.sizes.insert(q("t"), 8192);
        let u = Unmodeled {
            kind: "rule".into(),
            identity: "r on public.t".into(),
        };
        s.unmodeled.insert(u.clone());
        s.unmodeled_deps.insert(u, UnmodeledDeps::default());
        s
    }

    #[test]
    fn the_canonical_debug_view_prints_what_the_canonical_schema_prints() {
        let s = sample();
        assert_eq!(
            format!("{:#?}", CanonicalDebug(&s)),
            format!("{:#?}", s.canonical())
        );
        assert_eq!(
            format!("{:?}", CanonicalDebug(&s)),
            format!("{:?}", s.canonical())
        );
        let empty = Schema::default();
        assert_eq!(
            format!("{:#?}", CanonicalDebug(&empty)),
            format!("{:#?}", empty.canonical())
        );
    }
}
