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
//!
//! [`CanonicalDebugEach`] prints the same text and hands its caller, on the way, the text of
//! each object of the big kinds (tables, indexes, views, functions, ...) exactly as
//! `format!("{:#?}", canonical form of the object)` prints it: that is what the object's
//! digest hashes (`catalog::object_digests`), so a plan's fingerprint and object digests of a
//! schema cost one printing of it instead of two (issue 9). Each such object is printed once
//! into a buffer (reused, no allocation per object), handed over, then written into the
//! schema's text where the derived `Debug` would have printed it: the map's entry indents it
//! line by line as it indents any value (`PadAdapter` depends on the text alone), so the
//! schema's text is byte for byte the same (the tests below compare them).

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
    // read later than the fingerprint's form was fixed (the diff compares it)
    t.unvalidated_copies.clear();
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
        print(self.0, &self.0.unmodeled, f, None)
    }
}

/// An object [`CanonicalDebugEach`] hands its caller, by kind and key.
#[derive(Clone, Copy, Debug)]
pub enum Printed<'a> {
    Type(&'a QName),
    Sequence(&'a QName),
    Table(&'a QName),
    Index(&'a QName),
    View(&'a QName),
    Function(&'a (QName, String)),
    Trigger(&'a (QName, String)),
    Policy(&'a (QName, String)),
}

/// [`CanonicalDebug`] that also calls `each` with every object of the kinds of [`Printed`] and
/// its canonical text, `format!("{:#?}", ...)` of its canonical form (see the module doc).
pub struct CanonicalDebugEach<'a, 'h> {
    schema: &'a Schema,
    /// The unmodeled objects printed for the schema's own (see [`Self::with_unmodeled`]).
    unmodeled: &'a BTreeSet<Unmodeled>,
    each: std::cell::RefCell<Each<'a, 'h>>,
}

impl<'a, 'h> CanonicalDebugEach<'a, 'h> {
    pub fn new(schema: &'a Schema, each: &'h mut dyn FnMut(Printed<'a>, &str)) -> Self {
        CanonicalDebugEach {
            schema,
            unmodeled: &schema.unmodeled,
            each: std::cell::RefCell::new(Each {
                hook: each,
                buf: String::new(),
            }),
        }
    }

    /// The text of the schema with `unmodeled` in place of its own unmodeled objects (the
    /// only field the canonical form keeps of them; `unmodeled_deps` is left out): what the
    /// schema with those objects prints, without a copy of it (a plan's target, the desired
    /// schema with the live database's unmodeled objects, `catalog::with_unmodeled_of`).
    pub fn with_unmodeled(mut self, unmodeled: &'a BTreeSet<Unmodeled>) -> Self {
        self.unmodeled = unmodeled;
        self
    }
}

impl Debug for CanonicalDebugEach<'_, '_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        print(self.schema, self.unmodeled, f, Some(&self.each))
    }
}

/// The caller's hook and the buffer each object is printed into (one for all of them).
struct Each<'a, 'h> {
    hook: &'h mut dyn FnMut(Printed<'a>, &str),
    buf: String,
}

/// Text written as it is: an object printed beforehand.
struct Verbatim<'a>(&'a str);

impl Debug for Verbatim<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// A map of one of the kinds of [`Printed`], printed as `BTreeMap`'s `Debug` does with each
/// value in its canonical form: `entry` writes one entry directly, `text` prints the value
/// into a buffer (`{:#?}`) for [`Each`]'s hook, after which the buffer is the entry's value.
struct Kind<'s, 'a, 'h, K, V> {
    map: &'a BTreeMap<K, V>,
    entry: fn(&mut fmt::DebugMap<'_, '_>, &K, &V),
    text: fn(&V, &mut String),
    key: fn(&'a K) -> Printed<'a>,
    each: Option<&'s std::cell::RefCell<Each<'a, 'h>>>,
}

impl<'s, 'a, 'h, K: Debug, V: Debug> Kind<'s, 'a, 'h, K, V> {
    /// A kind whose values are printed as they are (no normalization).
    fn plain(
        map: &'a BTreeMap<K, V>,
        key: fn(&'a K) -> Printed<'a>,
        each: Option<&'s std::cell::RefCell<Each<'a, 'h>>>,
    ) -> Self {
        Kind {
            map,
            entry: |m, k, v| {
                m.entry(k, v);
            },
            text: |v, b| pretty(v, b),
            key,
            each,
        }
    }
}

impl<K: Debug, V> Debug for Kind<'_, '_, '_, K, V> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let mut m = f.debug_map();
        match self.each {
            None => {
                for (k, v) in self.map {
                    (self.entry)(&mut m, k, v);
                }
            }
            Some(each) => {
                let mut each = each.borrow_mut();
                let Each { hook, buf } = &mut *each;
                for (k, v) in self.map {
                    buf.clear();
                    (self.text)(v, buf);
                    hook((self.key)(k), buf);
                    m.entry(k, &Verbatim(buf));
                }
            }
        }
        m.finish()
    }
}

/// `{:#?}` of `value` appended to `buf` (writing to a `String` cannot fail).
fn pretty(value: &dyn Debug, buf: &mut String) {
    let _ = fmt::Write::write_fmt(buf, format_args!("{value:#?}"));
}

/// The text of [`CanonicalDebug`] and [`CanonicalDebugEach`] (`each`).
fn print<'a>(
    schema: &'a Schema,
    unmodeled: &BTreeSet<Unmodeled>,
    f: &mut Formatter<'_>,
    each: Option<&std::cell::RefCell<Each<'a, '_>>>,
) -> fmt::Result {
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
        statistics,
        rules,
        comments,
        grants,
        default_privileges,
        depends: _,
        owners: _,
        // printed from the parameter (`CanonicalDebugEach::with_unmodeled`)
        unmodeled: _,
        unmodeled_deps: _,
        sizes: _,
    } = schema;
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
        .field("types", &Kind::plain(types, Printed::Type, each))
        .field(
            "sequences",
            &Kind::plain(sequences, Printed::Sequence, each),
        )
        .field(
            "tables",
            &Kind {
                map: tables,
                entry: |m, k, v| {
                    m.entry(k, &table(v));
                },
                text: |v, b| pretty(&table(v), b),
                key: Printed::Table,
                each,
            },
        )
        .field("indexes", &Kind::plain(indexes, Printed::Index, each))
        .field(
            "views",
            &Kind {
                map: views,
                entry: |m, k, v| {
                    m.entry(k, &view(v));
                },
                text: |v, b| pretty(&view(v), b),
                key: Printed::View,
                each,
            },
        )
        .field(
            "functions",
            &Kind::plain(functions, Printed::Function, each),
        )
        .field("triggers", &Kind::plain(triggers, Printed::Trigger, each))
        .field("policies", &Kind::plain(policies, Printed::Policy, each))
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
        .field("statistics", statistics)
        .field("rules", rules)
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
                unvalidated_copies: Default::default(),
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

    /// [`CanonicalDebugEach`] prints the text [`CanonicalDebug`] prints, and hands over each
    /// object's text as `{:#?}` of its canonical form (what its digest hashes).
    #[test]
    fn printing_each_object_once_gives_the_same_text_and_each_objects_own() {
        let mut s = sample();
        let q = |n: &str| QName::new("public", n);
        // an object of another printed kind, and a second table
        let mut t2 = s.tables[&q("t")].clone();
        t2.name = q("t2");
        t2.columns.reverse();
        s.tables.insert(q("t2"), t2);
        s.sequences.insert(
            q("seq"),
            Sequence {
                name: q("seq"),
                data_type: "bigint".into(),
                start: 1,
                increment: 1,
                min_value: 1,
                max_value: 9,
                cache: 1,
                cycle: false,
                owned_by: None,
                unlogged: false,
            },
        );
        let mut seen = Vec::new();
        let mut each = |p: Printed, text: &str| seen.push((format!("{p:?}"), text.to_string()));
        let text = format!("{:#?}", CanonicalDebugEach::new(&s, &mut each));
        assert_eq!(text, format!("{:#?}", CanonicalDebug(&s)));
        assert_eq!(text, format!("{:#?}", s.canonical()));
        let mut want = Vec::new();
        for (k, v) in &s.sequences {
            want.push((format!("{:?}", Printed::Sequence(k)), format!("{v:#?}")));
        }
        for (k, v) in &s.tables {
            want.push((
                format!("{:?}", Printed::Table(k)),
                format!("{:#?}", table(v)),
            ));
        }
        for (k, v) in &s.views {
            want.push((format!("{:?}", Printed::View(k)), format!("{:#?}", view(v))));
        }
        assert_eq!(seen, want);
    }
}
