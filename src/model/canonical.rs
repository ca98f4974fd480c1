//! The canonical form of a schema, object by object: what fingerprints and object digests see
//! (`catalog::fingerprint`, `catalog::object_digests`).
//!
//! Owns the normalizations themselves (column order, storage options, extension versions,
//! ...: see [`Schema::canonical`]) as one function per object kind, and [`canonical_lines`],
//! which writes the `Debug` text of `schema.canonical()` without building that second schema:
//! each object is normalized as it is printed, one at a time. A fingerprint of a schema of
//! 5,000 tables then costs one table's copy, not the whole schema's (issue 9). The two must
//! give the same text, byte for byte (the fingerprints of written plans depend on it): the
//! tests below compare them, and `Schema::canonical` is built from the same functions.
//!
//! [`canonical_lines`] also hands its caller, on the way, the text of each object of the big
//! kinds (tables, indexes, views, functions, ...) exactly as `format!("{:#?}", canonical form
//! of the object)` prints it: that is what the object's digest hashes
//! (`catalog::object_digests`), so a plan's fingerprint and object digests of a schema cost
//! one printing of it (issue 9). The schema's outer structure (its fields, their maps and
//! sets) is written by the printer itself, each entry's text indented line by line by the
//! fixed amount the derived `Debug` would indent it, and filtered line by line where it is
//! written (`catalog` leaves out the lines of empty fields): no `PadAdapter` over the whole
//! text, no second pass over it.

use super::*;
use std::fmt::Debug;

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

/// An object [`canonical_lines`] hands its caller, by kind and key.
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

/// How [`canonical_lines`] hands over its text and objects.
pub struct Lines<'a, 'h> {
    /// Whether a line of the text is written: it sees the whole line as the text holds it
    /// (indentation included, no line break); lines it refuses are left out.
    pub keep: fn(&str) -> bool,
    /// Takes the text, in order, in chunks of whole lines each ending with a line break.
    pub text: &'h mut dyn FnMut(&str),
    /// Called with each object of the kinds of [`Printed`] and its own text,
    /// `format!("{:#?}", canonical form of the object)`.
    pub each: &'h mut dyn FnMut(Printed<'a>, &str),
}

/// Writes the text of `format!("{:#?}", schema.canonical())` with `unmodeled` in place of the
/// schema's unmodeled objects (the only field the canonical form keeps of them; a plan's
/// target is the desired schema with the live database's, `catalog::with_unmodeled_of`),
/// line by line, each line followed by a line break, to `lines.text`, leaving out the lines
/// `lines.keep` refuses; on the way, hands each object of the kinds of [`Printed`] and its own
/// text to `lines.each` (what its digest hashes).
///
/// No canonical copy of the schema is built and the schema's text is never held whole: each
/// entry of each map or set is printed on its own into a buffer (one for all of them, no
/// allocation per object), normalized as it is printed, and written line by line after the
/// indentation the derived `Debug` would give it (the schema's fields are indented by 4
/// spaces and their entries by 8: pretty `Debug` indents every line of a nested value by 4
/// more, whatever the text). An object's text is thus printed once for its digest and the
/// schema's text, and filtered where it is written (issue 9).
pub fn canonical_lines<'a>(
    schema: &'a Schema,
    unmodeled: &'a BTreeSet<Unmodeled>,
    lines: Lines<'a, '_>,
) {
    let Lines { keep, text, each } = lines;
    canonical_head(
        schema,
        Lines {
            keep,
            text: &mut *text,
            each,
        },
    );
    canonical_tail(unmodeled, keep, text);
}

/// The first part of [`canonical_lines`]'s text: every line before the unmodeled objects,
/// the only lines that depend on its `unmodeled`. Followed by [`canonical_tail`], the same
/// text: a plan's target fingerprint is printed this far while the live database, whose
/// unmodeled objects it takes, is still being read (issue 9).
pub fn canonical_head<'a>(schema: &'a Schema, lines: Lines<'a, '_>) {
    let Lines { keep, text, each } = lines;
    let mut w = Writer::new(keep, text);
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
        // left out of the canonical form: printed as the empty maps they are there
        depends: _,
        owners: _,
        // printed from the parameter
        unmodeled: _,
        unmodeled_deps: _,
        sizes: _,
    } = schema;
    w.lines("", "Schema {");
    w.map("schemas", schemas, |_, v, b| pretty(v, b));
    w.map("extensions", extensions, |_, v, b| pretty(&extension(v), b));
    w.map("collations", collations, |_, v, b| pretty(v, b));
    w.map("types", types, |k, v, b| {
        printed(b, Printed::Type(k), v, each)
    });
    w.map("sequences", sequences, |k, v, b| {
        printed(b, Printed::Sequence(k), v, each)
    });
    w.map("tables", tables, |k, v, b| {
        printed(b, Printed::Table(k), &table(v), each)
    });
    w.map("indexes", indexes, |k, v, b| {
        printed(b, Printed::Index(k), v, each)
    });
    w.map("views", views, |k, v, b| {
        printed(b, Printed::View(k), &view(v), each)
    });
    w.map("functions", functions, |k, v, b| {
        printed(b, Printed::Function(k), v, each)
    });
    w.map("triggers", triggers, |k, v, b| {
        printed(b, Printed::Trigger(k), v, each)
    });
    w.map("policies", policies, |k, v, b| {
        printed(b, Printed::Policy(k), v, each)
    });
    w.map("publications", publications, |_, v, b| pretty(v, b));
    w.map("publication_tables", publication_tables, |_, v, b| {
        pretty(v, b)
    });
    w.set("publication_schemas", publication_schemas);
    w.map("event_triggers", event_triggers, |_, v, b| pretty(v, b));
    w.map("foreign_data_wrappers", foreign_data_wrappers, |_, v, b| {
        pretty(v, b)
    });
    w.map("foreign_servers", foreign_servers, |_, v, b| pretty(v, b));
    w.map("user_mappings", user_mappings, |_, v, b| pretty(v, b));
    w.map("casts", casts, |_, v, b| pretty(v, b));
    w.map("ts_dictionaries", ts_dictionaries, |_, v, b| {
        pretty(&ts_dictionary(v), b)
    });
    w.map("ts_configurations", ts_configurations, |_, v, b| {
        pretty(v, b)
    });
    w.map("operators", operators, |_, v, b| pretty(v, b));
    w.map("operator_families", operator_families, |_, v, b| {
        pretty(v, b)
    });
    w.map("operator_classes", operator_classes, |_, v, b| pretty(v, b));
    w.map("access_methods", access_methods, |_, v, b| pretty(v, b));
    w.map("conversions", conversions, |_, v, b| pretty(v, b));
    w.map("languages", languages, |_, v, b| pretty(v, b));
    w.map("statistics", statistics, |_, v, b| pretty(v, b));
    w.map("rules", rules, |_, v, b| pretty(v, b));
    w.map("comments", comments, |_, v, b| pretty(v, b));
    w.set("grants", grants);
    w.set("default_privileges", default_privileges);
    w.set::<ObjectId>("depends", &BTreeSet::new());
    w.set::<ObjectId>("owners", &BTreeSet::new());
    w.flush();
}

/// The rest of [`canonical_lines`]'s text after [`canonical_head`]: `unmodeled` and the end.
pub fn canonical_tail(
    unmodeled: &BTreeSet<Unmodeled>,
    keep: fn(&str) -> bool,
    text: &mut dyn FnMut(&str),
) {
    let mut w = Writer::new(keep, text);
    w.set("unmodeled", unmodeled);
    w.set::<Unmodeled>("unmodeled_deps", &BTreeSet::new());
    w.set::<QName>("sizes", &BTreeSet::new());
    w.lines("", "}");
    w.flush();
}

/// The text is handed over once this much of it is written.
const FLUSH_AT: usize = 64 * 1024;

/// The indentation of a field of the schema and of an entry of a field's map or set.
const FIELD: &str = "    ";
const ENTRY: &str = "        ";

/// The text [`canonical_lines`] writes, line by line.
struct Writer<'h> {
    keep: fn(&str) -> bool,
    sink: &'h mut dyn FnMut(&str),
    /// Lines written and not yet handed over.
    out: String,
    /// The entry being printed (reused).
    entry: String,
}

impl<'h> Writer<'h> {
    fn new(keep: fn(&str) -> bool, sink: &'h mut dyn FnMut(&str)) -> Writer<'h> {
        Writer {
            keep,
            sink,
            out: String::with_capacity(FLUSH_AT + 4096),
            entry: String::new(),
        }
    }

    /// Writes each line of `text` after `indent`, the ones `keep` takes.
    fn lines(&mut self, indent: &str, text: &str) {
        for line in text.split('\n') {
            let start = self.out.len();
            self.out.push_str(indent);
            self.out.push_str(line);
            if (self.keep)(&self.out[start..]) {
                self.out.push('\n');
            } else {
                self.out.truncate(start);
            }
        }
        if self.out.len() >= FLUSH_AT {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if !self.out.is_empty() {
            (self.sink)(&self.out);
            self.out.clear();
        }
    }

    /// The field `name` holding `map`, as the derived `Debug` prints it (`name: {`, an entry
    /// `key: value,` per key, `},`; `name: {},` when empty), each value printed by `value`.
    fn map<'a, K: Debug, V>(
        &mut self,
        name: &str,
        map: &'a BTreeMap<K, V>,
        mut value: impl FnMut(&'a K, &'a V, &mut String),
    ) {
        self.open(name, map.is_empty());
        let mut entry = std::mem::take(&mut self.entry);
        for (k, v) in map {
            entry.clear();
            pretty(k, &mut entry);
            entry.push_str(": ");
            value(k, v, &mut entry);
            entry.push(',');
            self.lines(ENTRY, &entry);
        }
        self.entry = entry;
        self.close(map.is_empty());
    }

    /// The field `name` holding `set` (`name: {`, an entry `item,` per item, `},`).
    fn set<T: Debug>(&mut self, name: &str, set: &BTreeSet<T>) {
        self.open(name, set.is_empty());
        let mut entry = std::mem::take(&mut self.entry);
        for item in set {
            entry.clear();
            pretty(item, &mut entry);
            entry.push(',');
            self.lines(ENTRY, &entry);
        }
        self.entry = entry;
        self.close(set.is_empty());
    }

    fn open(&mut self, name: &str, empty: bool) {
        let mut line = std::mem::take(&mut self.entry);
        line.clear();
        line.push_str(name);
        line.push_str(if empty { ": {}," } else { ": {" });
        self.lines(FIELD, &line);
        self.entry = line;
    }

    fn close(&mut self, empty: bool) {
        if !empty {
            self.lines(FIELD, "},");
        }
    }
}

/// Appends `{:#?}` of `value` to `buf` and hands that text to `each` as `key`'s.
fn printed<'a>(
    buf: &mut String,
    key: Printed<'a>,
    value: &dyn Debug,
    each: &mut dyn FnMut(Printed<'a>, &str),
) {
    let start = buf.len();
    pretty(value, buf);
    each(key, &buf[start..]);
}

use super::pretty::pretty;

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
            not_null: true,
            not_null_name: Some(Box::new(format!("t_{name}_not_null"))),
            default: volatile.then(|| "random()".to_string()),
            default_volatile: volatile,
            ..Column::plain(name, "integer")
        };
        s.tables.insert(
            q("t"),
            Table {
                name: q("t"),
                kind: TableKind::Ordinary,
                unlogged: false,
                columns: vec![column("z", true), column("a", false)],
                constraints: Default::default(),
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

    /// All of [`canonical_lines`]'s text, nothing left out, and the objects it hands over.
    fn all_lines<'a>(
        s: &'a Schema,
        unmodeled: &'a BTreeSet<Unmodeled>,
    ) -> (String, Vec<(String, String)>) {
        let mut text = String::new();
        let mut seen = Vec::new();
        canonical_lines(
            s,
            unmodeled,
            Lines {
                keep: |_| true,
                text: &mut |t| text.push_str(t),
                each: &mut |p, t| seen.push((format!("{p:?}"), t.to_string())),
            },
        );
        (text, seen)
    }

    #[test]
    fn the_canonical_lines_are_what_the_canonical_schema_prints() {
        let s = sample();
        let (text, _) = all_lines(&s, &s.unmodeled);
        assert_eq!(text, format!("{:#?}\n", s.canonical()));
        let empty = Schema::default();
        let (text, _) = all_lines(&empty, &empty.unmodeled);
        assert_eq!(text, format!("{:#?}\n", empty.canonical()));
        // another schema's unmodeled objects in place of its own
        let mut other = BTreeSet::new();
        other.insert(Unmodeled {
            kind: "foreign table".into(),
            identity: "public.f".into(),
        });
        let (text, _) = all_lines(&s, &other);
        let mut with_other = s.clone();
        with_other.unmodeled = other.clone();
        assert_eq!(text, format!("{:#?}\n", with_other.canonical()));
        let (text, _) = all_lines(&empty, &other);
        let with_other = Schema {
            unmodeled: other,
            ..Default::default()
        };
        assert_eq!(text, format!("{:#?}\n", with_other.canonical()));
    }

    /// The lines `keep` refuses are left out, whole, wherever they are (fields of the
    /// schema, of its entries, of the objects handed over), and the objects handed over are
    /// their whole text all the same.
    #[test]
    fn refused_lines_are_left_out_and_objects_are_handed_over_whole() {
        let s = sample();
        let mut text = String::new();
        let mut seen = Vec::new();
        canonical_lines(
            &s,
            &s.unmodeled,
            Lines {
                keep: |l| !l.ends_with("{},") && !l.ends_with("false,"),
                text: &mut |t| text.push_str(t),
                each: &mut |p, t| seen.push((format!("{p:?}"), t.to_string())),
            },
        );
        let want: String = format!("{:#?}", s.canonical())
            .lines()
            .filter(|l| !l.ends_with("{},") && !l.ends_with("false,"))
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(text, want);
        assert!(seen.iter().any(|(_, t)| t.contains("false,")), "{seen:?}");
    }

    /// [`canonical_lines`] hands over each object of the kinds of [`Printed`] with its text as
    /// `{:#?}` of its canonical form (what its digest hashes), in the order of the text.
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
        let (text, seen) = all_lines(&s, &s.unmodeled);
        assert_eq!(text, format!("{:#?}\n", s.canonical()));
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
