//! Secrets in foreign-data wrapper, server, user mapping and foreign table (and column) options
//! are never printed.
//!
//! The stance (docs/kinds.md, "Secrets"): the catalog never reads a secret's value
//! (`model::FdwOption`, `model::is_secret_option`), so it is in no output: not in `plan.sql`,
//! `inverse.sql`, `plan.json`, `drift`, `dump` nor any error. Secrets compare by presence only:
//! a password changed by hand is no difference, and rotating one is done outside schemaplan.
//! A plan that would have to write a secret into a database (creating a user mapping or a
//! server that has one, adding one to an existing object), forward or in its inverse, is
//! refused here, naming the object and the key: schemaplan cannot write what it never read.
//! The fix is to create the object (or add the option) by hand, after which the schema files
//! and the database agree whatever value either holds. Dropping a secret, or an object that
//! has one, prints nothing; but its inverse would have to create it again, so it is refused
//! just the same.

use super::WorkflowError;
use crate::diff::Change;
use crate::model::{FdwOption, ObjectId};

/// The secrets a change writes: (object, key).
fn written(c: &Change) -> Vec<(ObjectId, String)> {
    let secret = |o: &&FdwOption| o.value.is_none();
    let added = |from: &[FdwOption], to: &[FdwOption]| -> Vec<String> {
        to.iter()
            .filter(secret)
            .filter(|o| !from.iter().any(|f| f.key == o.key))
            .map(|o| o.key.clone())
            .collect()
    };
    let keys: Vec<String> = match c {
        Change::CreateForeignDataWrapper(w) => w
            .options
            .iter()
            .filter(secret)
            .map(|o| o.key.clone())
            .collect(),
        Change::CreateServer(s) => s
            .options
            .iter()
            .filter(secret)
            .map(|o| o.key.clone())
            .collect(),
        Change::CreateUserMapping(m) => m
            .options
            .iter()
            .filter(secret)
            .map(|o| o.key.clone())
            .collect(),
        Change::AlterForeignDataWrapper { from, to } => added(&from.options, &to.options),
        Change::AlterServer { from, to } => added(&from.options, &to.options),
        Change::AlterUserMapping { from, to } => added(&from.options, &to.options),
        // a foreign table's and its columns' options
        Change::CreateTable(t) => t
            .foreign
            .iter()
            .flat_map(|f| f.options.iter())
            .chain(t.columns.iter().flat_map(|c| c.fdw_options.iter()))
            .filter(secret)
            .map(|o| o.key.clone())
            .collect(),
        Change::AlterTable { from, to, .. } => match (&from.foreign, &to.foreign) {
            (Some(a), Some(b)) => added(&a.options, &b.options),
            _ => Vec::new(),
        },
        Change::AddColumn { column, .. } => column
            .fdw_options
            .iter()
            .filter(secret)
            .map(|o| o.key.clone())
            .collect(),
        Change::AlterColumn { from, to, .. } => added(&from.fdw_options, &to.fdw_options),
        _ => Vec::new(),
    };
    keys.into_iter().map(|k| (c.object(), k)).collect()
}

/// Refuses a plan (`current -> desired`) whose forward `changes` or `inverse` changes
/// (`desired -> current`, the diff the planner makes of it too: `workflow::PlanDiffs`) would
/// write a secret, one line per object and key.
pub fn check(changes: &[Change], inverse: &[Change]) -> Result<(), WorkflowError> {
    let mut lines = Vec::new();
    for c in changes {
        for (id, key) in written(c) {
            lines.push(format!(
                "{id}: option {key} holds a secret, which schemaplan never reads nor prints, so \
                 the plan cannot set it"
            ));
        }
    }
    for c in inverse {
        for (id, key) in written(c) {
            lines.push(format!(
                "{id}: option {key} holds a secret, which the inverse plan would have to set \
                 again after the plan removes it; schemaplan never reads nor prints one"
            ));
        }
    }
    if lines.is_empty() {
        return Ok(());
    }
    lines.sort();
    lines.dedup();
    Err(WorkflowError::Secret(format!(
        "the plan would have to write secrets it never reads:\n{}\n\
         Create (or drop) these by hand, with their secret options, then plan again: a secret is \
         compared by its key only, so the schema files and the database then agree.",
        lines
            .iter()
            .map(|l| format!("  - {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    )))
}
