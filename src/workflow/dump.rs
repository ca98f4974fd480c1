//! A schema as schema-file statements: used by `dump` (one file per object) and by the proof
//! to rebuild the current schema in the shadow. It is the plan from an empty database.

use super::WorkflowError;
use crate::diff;
use crate::model::{ObjectId, QName, Schema};
use crate::plan::{self, PlanOptions, Step};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The statements that create `schema` in a database that looks like `empty`, in order.
pub fn schema_statements(empty: &Schema, schema: &Schema, opts: &PlanOptions) -> Vec<Step> {
    plan::build(&diff::diff(empty, schema), empty, schema, opts)
}

/// The object a reader looks up for `id`: a table (or view) for its columns, constraints,
/// indexes, triggers and policies and for a sequence it owns, a domain for its constraints,
/// the object itself otherwise. A dump writes one file per such object, `drift` shows one
/// definition per such object.
pub fn unit_of(id: &ObjectId, schema: &Schema) -> ObjectId {
    let relation = |q: &QName| {
        if schema.views.contains_key(q) {
            ObjectId::View(q.clone())
        } else {
            ObjectId::Table(q.clone())
        }
    };
    match id {
        ObjectId::Schema(_)
        | ObjectId::Extension(_)
        | ObjectId::Collation(_)
        | ObjectId::Type(_)
        | ObjectId::View(_)
        | ObjectId::Function(_, _)
        | ObjectId::TextSearchDictionary(_)
        | ObjectId::TextSearchConfiguration(_)
        | ObjectId::Operator(..)
        | ObjectId::OperatorClass(..)
        | ObjectId::OperatorFamily(..) => id.clone(),
        ObjectId::DomainConstraint(q, _) => ObjectId::Type(q.clone()),
        ObjectId::Sequence(q) => match schema.sequences.get(q).and_then(|s| s.owned_by.clone()) {
            Some((t, _)) => relation(&t),
            None => id.clone(),
        },
        ObjectId::Index(q) => match schema.indexes.get(q) {
            Some(i) => relation(&i.table),
            None => id.clone(),
        },
        ObjectId::Table(q)
        | ObjectId::Column(q, _)
        | ObjectId::Constraint(q, _)
        | ObjectId::Trigger(q, _)
        | ObjectId::Rule(q, _)
        | ObjectId::Policy(q, _) => relation(q),
        ObjectId::Statistics(q) => match schema.statistics.get(q) {
            Some(s) => relation(&s.table),
            None => id.clone(),
        },
        ObjectId::Publication(_)
        | ObjectId::EventTrigger(_)
        | ObjectId::ForeignDataWrapper(_)
        | ObjectId::ForeignServer(_)
        | ObjectId::Cast(..)
        | ObjectId::AccessMethod(_)
        | ObjectId::Conversion(_)
        | ObjectId::Language(_) => id.clone(),
        ObjectId::PublicationTable(p, _) | ObjectId::PublicationSchema(p, _) => {
            ObjectId::Publication(p.clone())
        }
        ObjectId::UserMapping(s, _) => ObjectId::ForeignServer(s.clone()),
    }
}

/// Which file of a dump an object goes to: the file of its [`unit_of`] (schemas and
/// extensions in one file each; one file per publication with its members, one per event
/// trigger, one per foreign-data wrapper, one per server with its user mappings, one per cast, access method and language;
/// conversions by schema). Every part made of a name goes through [`component`].
fn file_for(id: &ObjectId, schema: &Schema) -> PathBuf {
    let file = |q: &QName, kind: &str| {
        PathBuf::from(component(&q.schema))
            .join(kind)
            .join(format!("{}.sql", component(&q.name)))
    };
    match unit_of(id, schema) {
        ObjectId::Schema(_) => PathBuf::from("00_schemas.sql"),
        ObjectId::Extension(_) => PathBuf::from("01_extensions.sql"),
        ObjectId::Collation(q) => file(&q, "collations"),
        ObjectId::Type(q) | ObjectId::DomainConstraint(q, _) => file(&q, "types"),
        ObjectId::Sequence(q) => file(&q, "sequences"),
        ObjectId::Index(q) => file(&q, "indexes"),
        ObjectId::View(q) => file(&q, "views"),
        ObjectId::Function(q, _) => file(&q, "functions"),
        ObjectId::TextSearchDictionary(q) | ObjectId::TextSearchConfiguration(q) => {
            file(&q, "text_search")
        }
        // One file per schema for its operators, operator families and classes, in the plan's
        // (dependency) order: a family names operators, a class its family, and the loader
        // does not see those names (it would otherwise read the files in name order).
        ObjectId::Operator(q, _)
        | ObjectId::OperatorClass(q, _)
        | ObjectId::OperatorFamily(q, _) => {
            PathBuf::from(component(&q.schema)).join("operators.sql")
        }
        ObjectId::Publication(p)
        | ObjectId::PublicationTable(p, _)
        | ObjectId::PublicationSchema(p, _) => {
            PathBuf::from("02_publications").join(format!("{}.sql", component(&p)))
        }
        ObjectId::EventTrigger(n) => {
            PathBuf::from("03_event_triggers").join(format!("{}.sql", component(&n)))
        }
        ObjectId::ForeignDataWrapper(n) => {
            PathBuf::from("04_foreign_data_wrappers").join(format!("{}.sql", component(&n)))
        }
        ObjectId::ForeignServer(n) | ObjectId::UserMapping(n, _) => {
            PathBuf::from("05_servers").join(format!("{}.sql", component(&n)))
        }
        ObjectId::Cast(s, t) => {
            PathBuf::from("06_casts").join(format!("{}-{}.sql", component(&s), component(&t)))
        }
        ObjectId::AccessMethod(n) => {
            PathBuf::from("07_access_methods").join(format!("{}.sql", component(&n)))
        }
        ObjectId::Language(n) => {
            PathBuf::from("08_languages").join(format!("{}.sql", component(&n)))
        }
        ObjectId::Conversion(q) => file(&q, "conversions"),
        // a statistics object whose table is unknown (never: unit_of gives its table)
        ObjectId::Statistics(q) => file(&q, "statistics"),
        ObjectId::Table(q)
        | ObjectId::Column(q, _)
        | ObjectId::Constraint(q, _)
        | ObjectId::Trigger(q, _)
        | ObjectId::Rule(q, _)
        | ObjectId::Policy(q, _) => file(&q, "tables"),
    }
}

/// A PostgreSQL name as one safe path component, different names giving different components:
/// letters and digits (any script), `_` and `-` are kept; every other byte, `%` included, is
/// written `%XX`. So `..`, `.hidden`, `a/b`, `a\b`, NUL, line breaks and other control
/// characters can neither leave the dump directory nor make a file the loader skips (it skips
/// names starting with `.`). A name is at most 63 bytes, so a component at most 189 (+ `.sql`):
/// within every file system's 255.
fn component(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if c.is_alphanumeric() || c == '_' || c == '-' {
            out.push(c);
        } else {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
    if out.is_empty() {
        out.push_str("%00");
    }
    out
}

/// Paths that differ only in letter case name one file on a case-insensitive file system
/// (macOS, Windows): the later of such paths gets `~2`, `~3`, ... before `.sql`, so no file
/// overwrites another.
fn distinct_on_any_file_system(
    files: BTreeMap<PathBuf, Vec<String>>,
) -> Vec<(PathBuf, Vec<String>)> {
    let mut taken = std::collections::HashSet::new();
    let mut out = Vec::new();
    for (path, stmts) in files {
        let mut candidate = path.clone();
        let mut n = 1;
        while !taken.insert(candidate.to_string_lossy().to_lowercase()) {
            n += 1;
            let stem = path.file_stem().unwrap_or_default().to_string_lossy();
            candidate = path.with_file_name(format!("{stem}~{n}.sql"));
        }
        out.push((candidate, stmts));
    }
    out
}

/// Writes `schema` as schema files under `out` (which must be empty or absent); returns the
/// files written. Loading them back (`plan` against the same database) gives an empty plan.
pub fn dump_files(
    empty: &Schema,
    schema: &Schema,
    opts: &PlanOptions,
    out: &Path,
) -> Result<Vec<PathBuf>, WorkflowError> {
    Ok(dump(empty, schema, opts, out)?.files)
}

/// What [`dump`] wrote.
pub struct Dump {
    /// The files written, in order.
    pub files: Vec<PathBuf>,
    /// The objects of the dump by unit ([`unit_of`]: a table with its columns, indexes, ...),
    /// in the order of their identities, with the file each went to (`dump --format json`).
    pub objects: Vec<DumpedObject>,
}

/// One unit of a dump.
pub struct DumpedObject {
    /// `table`, `foreign table`, `view`, `function`, ... (as in `drift`).
    pub kind: &'static str,
    /// As users write it: `public.users`, `public.f(integer)`.
    pub identity: String,
    /// The file it was written to.
    pub file: PathBuf,
    /// Its statements, as written to the file.
    pub sql: String,
}

/// Refuses an `--out` folder that exists and holds anything: `dump` writes only into an empty
/// or new folder. Asked before the catalog is read, so a wrong folder is said at once, not
/// after a read that takes seconds on a big schema, and again by [`dump`] when it writes.
pub fn check_dump_out(out: &Path) -> Result<(), WorkflowError> {
    let holds_anything = match std::fs::read_dir(out) {
        Ok(mut entries) => entries.next().is_some(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) => {
            return Err(WorkflowError::Io {
                what: out.display().to_string(),
                message: e.to_string(),
            })
        }
    };
    match holds_anything {
        true => Err(WorkflowError::Io {
            what: out.display().to_string(),
            message: "directory is not empty; dump writes into an empty or new directory".into(),
        }),
        false => Ok(()),
    }
}

/// [`dump_files`], also saying which object went where.
pub fn dump(
    empty: &Schema,
    schema: &Schema,
    opts: &PlanOptions,
    out: &Path,
) -> Result<Dump, WorkflowError> {
    let changes = diff::diff(empty, schema);
    let steps = plan::build_tagged(&changes, empty, schema, opts);
    let mut files: BTreeMap<PathBuf, Vec<String>> = BTreeMap::new();
    let mut units: BTreeMap<ObjectId, (PathBuf, Vec<String>)> = BTreeMap::new();
    for (id, step) in steps {
        let file = file_for(&id, schema);
        let unit = units
            .entry(unit_of(&id, schema))
            .or_insert_with(|| (file.clone(), Vec::new()));
        unit.1.push(step.sql.clone());
        files.entry(file).or_default().push(step.sql);
    }
    let io = |what: String, e: std::io::Error| WorkflowError::Io {
        what,
        message: e.to_string(),
    };
    // Checked again here: the folder may have been filled since the caller's check.
    check_dump_out(out)?;
    let planned: Vec<PathBuf> = files.keys().cloned().collect();
    let mut written = Vec::new();
    let mut renamed: BTreeMap<PathBuf, PathBuf> = BTreeMap::new();
    for (planned, (rel, stmts)) in planned.into_iter().zip(distinct_on_any_file_system(files)) {
        let path = out.join(&rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| io(parent.display().to_string(), e))?;
        }
        let text = format!("-- written by schemaplan dump\n\n{}\n", stmts.join("\n\n"));
        std::fs::write(&path, text).map_err(|e| io(path.display().to_string(), e))?;
        renamed.insert(planned, path.clone());
        written.push(path);
    }
    let objects = units
        .into_iter()
        .map(|(unit, (file, sql))| {
            let (kind, identity) = kind_and_identity(&unit, schema);
            DumpedObject {
                kind,
                identity,
                file: renamed
                    .get(&file)
                    .cloned()
                    .unwrap_or_else(|| out.join(file)),
                sql: sql.join("\n\n"),
            }
        })
        .collect();
    Ok(Dump {
        files: written,
        objects,
    })
}

/// An object's kind and its identity as users write it (`table`, `public.users`). A unit of
/// `schema` that is a foreign table is a `foreign table` (its `ObjectId` is a table's: a
/// foreign table is a table with a server).
pub fn kind_and_identity(id: &ObjectId, schema: &Schema) -> (&'static str, String) {
    let shown = id.to_string();
    let identity = shown
        .strip_prefix(id.kind_name())
        .map(|s| s.trim_start().to_string())
        .unwrap_or(shown);
    (unit_kind(id, &[schema]), identity)
}

/// The kind users name unit `id` by: `foreign table` for a table that is foreign in the first
/// of `schemas` that has it, else the id's own kind (`table`, `view`, ...).
pub fn unit_kind(id: &ObjectId, schemas: &[&Schema]) -> &'static str {
    if let ObjectId::Table(q) = id {
        if let Some(t) = schemas.iter().find_map(|s| s.tables.get(q)) {
            if t.is_foreign() {
                return "foreign table";
            }
        }
    }
    id.kind_name()
}

#[cfg(test)]
mod tests {
    use super::component;

    #[test]
    fn every_name_is_one_safe_distinct_component() {
        assert_eq!(component("users"), "users");
        assert_eq!(component("Ünïcode_1-x"), "Ünïcode_1-x");
        assert_eq!(component(".."), "%2E%2E");
        assert_eq!(component("."), "%2E");
        assert_eq!(component(".hidden"), "%2Ehidden");
        assert_eq!(component("a/b\\c"), "a%2Fb%5Cc");
        assert_eq!(component("nul\0\nline"), "nul%00%0Aline");
        assert_eq!(component("a.b"), "a%2Eb");
        assert_ne!(component("a.b"), component("a_b"));
        assert_ne!(component("%2E"), component("."));
        assert!(component(&"\u{7f}".repeat(63)).len() + ".sql".len() <= 255);
    }
}
