//! What `drift` reports: each object that differs between the live database and the schema
//! files, with its definition on both sides and a unified diff of the two.
//!
//! An object here is what a reader looks up ([`super::dump::unit_of`]: a table with its
//! columns, constraints, indexes, triggers, policies and owned sequences; a view; a function
//! ...), and its definition is the statements that would create it in an empty database, the
//! same text `dump` writes to its file. Only the objects a difference touches are rendered, so
//! the cost follows the drift, not the size of the schema.
//!
//! Between a plan's `expand` and `contract` phases the database still has what the contract
//! drops: the planned window, not drift. [`pending_contract`] says whether a contract phase
//! the journal has pending explains the differences exactly.

use super::dump::{unit_kind, unit_of};
use crate::diff::{self, Change};
use crate::model::{ObjectId, Schema};
use crate::plan::{self, PlanOptions};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// One object that differs.
#[derive(Debug, Clone, Serialize)]
pub struct ObjectDrift {
    /// `table`, `foreign table`, `view`, `function`, `type`, ...
    pub kind: &'static str,
    /// As users write it: `public.users`, `public.f(integer)`, `audit`.
    pub identity: String,
    /// What differs, one short line each (`column email: type changed`, ...).
    pub changes: Vec<String>,
    /// Its definition in the live database; `None` when only the schema files have it.
    pub live: Option<String>,
    /// Its definition in the schema files; `None` when only the database has it.
    pub desired: Option<String>,
    /// Unified diff from `live` to `desired` (headers `live` and `schema files`).
    pub diff: String,
}

/// The objects `changes` (from `diff::diff(live, desired)`) touch, in a stable order.
///
/// `live` and `desired` are borrowed mutably only to render the definitions with their
/// owners aligned (see below); both come back as they were.
pub fn object_drifts(
    empty: &Schema,
    live: &mut Schema,
    desired: &mut Schema,
    changes: &[Change],
) -> Vec<ObjectDrift> {
    let mut touched: BTreeMap<ObjectId, Vec<String>> = BTreeMap::new();
    for c in changes {
        let id = c.object();
        // A dropped object is known to the live side only, a created one to the desired side.
        let unit = if desired_knows(desired, &id) {
            unit_of(&id, desired)
        } else {
            unit_of(&id, live)
        };
        let line = describe(c, &id, &unit);
        let lines = touched.entry(unit).or_default();
        if !lines.contains(&line) {
            lines.push(line);
        }
    }
    let units: BTreeSet<ObjectId> = touched.keys().cloned().collect();
    // Owners are compared only where both sides name one (the files declare few): the
    // definitions show them on the same terms, or every live object would differ by its
    // `OWNER TO`. Only the owner maps are swapped for the shared part while the definitions
    // are rendered (the schemas are not cloned: on a big schema that doubled the memory of
    // every drifted run), and put back after.
    let live_owners = std::mem::take(&mut live.owners);
    let desired_owners = std::mem::take(&mut desired.owners);
    let shared = |mine: &BTreeMap<ObjectId, String>, other: &BTreeMap<ObjectId, String>| {
        mine.iter()
            .filter(|(id, _)| other.contains_key(*id))
            .map(|(id, o)| (id.clone(), o.clone()))
            .collect()
    };
    live.owners = shared(&live_owners, &desired_owners);
    desired.owners = shared(&desired_owners, &live_owners);
    let live_defs = definitions(empty, live, &units);
    let desired_defs = definitions(empty, desired, &units);
    live.owners = live_owners;
    desired.owners = desired_owners;
    touched
        .into_iter()
        .map(|(unit, changes)| {
            // A foreign table is a table by its id: named by what it is on either side.
            let kind = unit_kind(&unit, &[&*desired, &*live]);
            let live = live_defs.get(&unit).cloned();
            let desired = desired_defs.get(&unit).cloned();
            let diff = similar::TextDiff::from_lines(
                live.as_deref().unwrap_or(""),
                desired.as_deref().unwrap_or(""),
            )
            .unified_diff()
            .context_radius(3)
            .header("live", "schema files")
            .to_string();
            let shown = unit.to_string();
            let identity = shown
                .strip_prefix(unit.kind_name())
                .map(|s| s.trim_start().to_string())
                .unwrap_or(shown);
            ObjectDrift {
                kind,
                identity,
                changes,
                live,
                desired,
                diff,
            }
        })
        .collect()
}

/// Whether `id`'s object (or the table / type holding it) exists in `schema`.
fn desired_knows(schema: &Schema, id: &ObjectId) -> bool {
    match id {
        ObjectId::Schema(n) => schema.schemas.contains_key(n.as_str()),
        ObjectId::Extension(n) => schema.extensions.contains_key(n.as_str()),
        ObjectId::Collation(q) => schema.collations.contains_key(q),
        ObjectId::Type(q) | ObjectId::DomainConstraint(q, _) => schema.types.contains_key(q),
        ObjectId::Sequence(q) => schema.sequences.contains_key(q),
        ObjectId::Index(q) => schema.indexes.contains_key(q),
        ObjectId::View(q) => schema.views.contains_key(q),
        ObjectId::Function(q, a) => schema.functions.contains_key(&(q.clone(), a.to_string())),
        ObjectId::Table(q)
        | ObjectId::Column(q, _)
        | ObjectId::Constraint(q, _)
        | ObjectId::Trigger(q, _)
        | ObjectId::Rule(q, _)
        | ObjectId::Policy(q, _) => schema.tables.contains_key(q) || schema.views.contains_key(q),
        ObjectId::Statistics(q) => schema.statistics.contains_key(q),
        ObjectId::Publication(n)
        | ObjectId::PublicationTable(n, _)
        | ObjectId::PublicationSchema(n, _) => schema.publications.contains_key(n.as_str()),
        ObjectId::EventTrigger(n) => schema.event_triggers.contains_key(n.as_str()),
        ObjectId::ForeignDataWrapper(n) => schema.foreign_data_wrappers.contains_key(n.as_str()),
        ObjectId::ForeignServer(n) | ObjectId::UserMapping(n, _) => {
            schema.foreign_servers.contains_key(n.as_str())
        }
        ObjectId::Cast(s, t) => schema.casts.contains_key(&(s.to_string(), t.to_string())),
        ObjectId::AccessMethod(n) => schema.access_methods.contains_key(n.as_str()),
        ObjectId::Conversion(q) => schema.conversions.contains_key(q),
        ObjectId::Language(n) => schema.languages.contains_key(n.as_str()),
        ObjectId::TextSearchDictionary(q) => schema.ts_dictionaries.contains_key(q),
        ObjectId::TextSearchConfiguration(q) => schema.ts_configurations.contains_key(q),
        ObjectId::Operator(q, a) => schema.operators.contains_key(&(q.clone(), a.to_string())),
        ObjectId::OperatorClass(q, m) => schema
            .operator_classes
            .contains_key(&(q.clone(), m.to_string())),
        ObjectId::OperatorFamily(q, m) => schema
            .operator_families
            .contains_key(&(q.clone(), m.to_string())),
    }
}

/// One line for a change: the part of the object it is about, and what happens to it when
/// the database is brought to the schema files (the verb of the change).
fn describe(c: &Change, id: &ObjectId, unit: &ObjectId) -> String {
    let what = words(&super::prove::change_verb(c));
    if id == unit {
        what
    } else {
        format!("{id}: {what}")
    }
}

/// `AlterColumn` -> `alter column`.
fn words(camel: &str) -> String {
    let mut out = String::new();
    for (i, ch) in camel.chars().enumerate() {
        if ch.is_uppercase() && i > 0 {
            out.push(' ');
        }
        out.extend(ch.to_lowercase());
    }
    out
}

/// The definition of each of `units` in `schema`: the statements creating it from `empty`.
fn definitions(
    empty: &Schema,
    schema: &Schema,
    units: &BTreeSet<ObjectId>,
) -> BTreeMap<ObjectId, String> {
    let changes: Vec<Change> = diff::diff(empty, schema)
        .into_iter()
        .filter(|c| units.contains(&unit_of(&c.object(), schema)))
        .collect();
    let mut defs: BTreeMap<ObjectId, String> = BTreeMap::new();
    for (id, step) in plan::build_tagged(&changes, empty, schema, &PlanOptions::default()) {
        let text = defs.entry(unit_of(&id, schema)).or_default();
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(step.sql.trim_end());
        text.push('\n');
    }
    defs
}

/// What a pending contract phase says about the differences `drift` found.
#[derive(Debug, Default)]
pub struct PendingContract {
    /// Plans whose expand ran and whose contract did not (from the journal).
    pub plans: Vec<String>,
    /// Their contract steps, run on a copy of the live schema, give the desired schema.
    pub explained: bool,
    /// Why not, when that could not be checked (` (...)`, or empty).
    pub why_not: String,
}

/// Whether a pending contract phase explains the differences between `live` (the database
/// at `url`) and `desired`: the journal's plans whose expand ran and whose contract did not
/// (`exec::contract_pending`), their `plan.sql` found under `plans_dir`, and their contract
/// steps run on a shadow copy of the live schema (`contract::explains`) giving exactly the
/// desired schema. A plan whose file is not there is named in `why_not`, not an error.
pub fn pending_contract(
    url: &str,
    plans_dir: &std::path::Path,
    shadow: &crate::shadow::Shadow,
    ctx: &super::Context,
    live: &Schema,
    desired: &Schema,
) -> anyhow::Result<PendingContract> {
    let mut client = crate::db::connect(url)?;
    let plans = crate::exec::contract_pending(&mut client, &crate::catalog::fingerprint(live))?;
    if plans.is_empty() {
        return Ok(PendingContract::default());
    }
    let mut steps = Vec::new();
    for id in &plans {
        match find_plan(plans_dir, id) {
            Some(plan) => steps.extend(
                plan.steps
                    .into_iter()
                    .filter(|s| s.phase == crate::plan::Phase::Contract),
            ),
            None => {
                return Ok(PendingContract {
                    plans,
                    explained: false,
                    why_not: format!(
                        " (its plan.sql is not under {}: pass --plans)",
                        plans_dir.display()
                    ),
                })
            }
        }
    }
    let explained = super::contract::explains(shadow, ctx, live, desired, &steps)?;
    Ok(PendingContract {
        plans,
        explained,
        why_not: String::new(),
    })
}

/// The forward plan with id `id` among the plan directories of `dir` (or `dir` itself).
fn find_plan(dir: &std::path::Path, id: &str) -> Option<crate::plan::Plan> {
    let mut dirs = vec![dir.to_path_buf()];
    if let Ok(entries) = std::fs::read_dir(dir) {
        let mut subs: Vec<std::path::PathBuf> = entries.flatten().map(|e| e.path()).collect();
        subs.sort();
        dirs.extend(subs.into_iter().filter(|p| p.is_dir()));
    }
    dirs.into_iter()
        .filter_map(|d| crate::planfile::read_dir(&d, crate::plan::Direction::Forward).ok())
        .map(|f| f.plan)
        .find(|p| p.id == id)
}
