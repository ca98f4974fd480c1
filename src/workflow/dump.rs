//! A schema as schema-file statements: used by `dump` (one file per object) and by the proof
//! to rebuild the current schema in the shadow. It is the plan from an empty database.

use super::WorkflowError;
use crate::diff;
use crate::model::{ObjectId, Schema};
use crate::plan::{self, PlanOptions, Step};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The statements that create `schema` in a database that looks like `empty`, in order.
pub fn schema_statements(empty: &Schema, schema: &Schema, opts: &PlanOptions) -> Vec<Step> {
    plan::build(&diff::diff(empty, schema), empty, schema, opts)
}

/// Which file of a dump an object goes to: tables with their columns, constraints, indexes,
/// triggers and policies; one file per view, function, type, sequence; schemas and extensions
/// in one file each.
fn file_for(id: &ObjectId, schema: &Schema) -> PathBuf {
    let name = |s: &str| sanitize(s);
    match id {
        ObjectId::Schema(_) => PathBuf::from("00_schemas.sql"),
        ObjectId::Extension(_) => PathBuf::from("01_extensions.sql"),
        ObjectId::Collation(q) => PathBuf::from(&q.schema)
            .join("collations")
            .join(format!("{}.sql", name(&q.name))),
        ObjectId::Type(q) | ObjectId::DomainConstraint(q, _) => PathBuf::from(&q.schema)
            .join("types")
            .join(format!("{}.sql", name(&q.name))),
        ObjectId::Sequence(q) => match schema.sequences.get(q).and_then(|s| s.owned_by.clone()) {
            Some((t, _)) => PathBuf::from(&t.schema)
                .join("tables")
                .join(format!("{}.sql", name(&t.name))),
            None => PathBuf::from(&q.schema)
                .join("sequences")
                .join(format!("{}.sql", name(&q.name))),
        },
        ObjectId::Index(q) => match schema.indexes.get(q) {
            Some(i) if schema.views.contains_key(&i.table) => PathBuf::from(&i.table.schema)
                .join("views")
                .join(format!("{}.sql", name(&i.table.name))),
            Some(i) => PathBuf::from(&i.table.schema)
                .join("tables")
                .join(format!("{}.sql", name(&i.table.name))),
            None => PathBuf::from(&q.schema)
                .join("indexes")
                .join(format!("{}.sql", name(&q.name))),
        },
        ObjectId::View(q) => PathBuf::from(&q.schema)
            .join("views")
            .join(format!("{}.sql", name(&q.name))),
        ObjectId::Function(q, _) => PathBuf::from(&q.schema)
            .join("functions")
            .join(format!("{}.sql", name(&q.name))),
        ObjectId::Table(q)
        | ObjectId::Column(q, _)
        | ObjectId::Constraint(q, _)
        | ObjectId::Trigger(q, _)
        | ObjectId::Policy(q, _) => {
            let dir = if schema.views.contains_key(q) {
                "views"
            } else {
                "tables"
            };
            PathBuf::from(&q.schema)
                .join(dir)
                .join(format!("{}.sql", name(&q.name)))
        }
    }
}

/// A file-name-safe form of an object name.
fn sanitize(s: &str) -> String {
    let out: String = s
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() {
        "_".into()
    } else {
        out
    }
}

/// Writes `schema` as schema files under `out` (which must be empty or absent); returns the
/// files written. Loading them back (`plan` against the same database) gives an empty plan.
pub fn dump_files(
    empty: &Schema,
    schema: &Schema,
    opts: &PlanOptions,
    out: &Path,
) -> Result<Vec<PathBuf>, WorkflowError> {
    let changes = diff::diff(empty, schema);
    let steps = plan::build_tagged(&changes, empty, schema, opts);
    let mut files: BTreeMap<PathBuf, Vec<String>> = BTreeMap::new();
    for (id, step) in steps {
        files
            .entry(file_for(&id, schema))
            .or_default()
            .push(step.sql);
    }
    let io = |what: String, e: std::io::Error| WorkflowError::Io {
        what,
        message: e.to_string(),
    };
    if out.exists()
        && std::fs::read_dir(out)
            .map_err(|e| io(out.display().to_string(), e))?
            .next()
            .is_some()
    {
        return Err(WorkflowError::Io {
            what: out.display().to_string(),
            message: "directory is not empty; dump writes into an empty or new directory".into(),
        });
    }
    let mut written = Vec::new();
    for (rel, stmts) in files {
        let path = out.join(&rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| io(parent.display().to_string(), e))?;
        }
        let text = format!("-- written by schemaplan dump\n\n{}\n", stmts.join("\n\n"));
        std::fs::write(&path, text).map_err(|e| io(path.display().to_string(), e))?;
        written.push(path);
    }
    Ok(written)
}
