//! Scope in the pipeline (`catalog::scope` says which objects are in it).
//!
//! The live read is split into the in-scope part (what is diffed, fingerprinted and proven)
//! and the context (the rest). Desired objects may depend on context objects (an FK to
//! `audit.users`, a trigger calling `audit.fn()`, a view over an excluded table): the context
//! objects that do not depend on in-scope ones are created, from the model, with the same
//! rendering as a plan from an empty database, in the desired shadow before the schema files
//! and in the proof's scratch database before the current schema ([`Context::steps`]). Only
//! the in-scope part of what is read back is compared.
//!
//! A schema file that defines an out-of-scope object is an error naming the object, the
//! pattern and the statement's `file:line` ([`check_source`] before loading, by the names the
//! parser saw; [`check_loaded`] after, by what the shadow holds).
//!
//! Context objects that depend on in-scope ones (an out-of-scope view over an in-scope table,
//! an out-of-scope FK to it, an out-of-scope column of an in-scope type, a trigger of an
//! out-of-scope table calling an in-scope function) are not in the shadow: they cannot be
//! created before the in-scope objects they need, and they are not the project's to recreate.
//! A plan that drops, drops and creates again, or retypes what such an object depends on would
//! be proven without it and then fail on the live database (PostgreSQL refuses to drop an
//! object others depend on; schemaplan never adds `CASCADE`, which would drop the other team's
//! object, rows and all). [`check_dependents`] refuses such a plan before anything is planned,
//! naming each dependent, why it is out of scope, and what the plan would do to what it needs.
//! Plans that leave those objects alone (add a column, change another one, a default ...) go
//! ahead: PostgreSQL keeps the dependents as they are.

use super::{schema_statements, WorkflowError};
use crate::catalog::scope::{self, Scope};
use crate::diff::{Change, ColumnChange};
use crate::model::{ObjectId, Schema};
use crate::plan::{PlanOptions, Step};
use crate::source::SourceSet;
use std::collections::{BTreeMap, BTreeSet};

/// The out-of-scope side of a run.
#[derive(Clone, Debug, Default)]
pub struct Context {
    pub scope: Scope,
    /// The loadable context objects (`scope::loadable_context`).
    pub schema: Schema,
    /// The statements that create them in a database like the shadow's empty one.
    pub steps: Vec<Step>,
    /// How many objects of the database were out of scope (`scope::object_count`).
    pub out_of_scope: usize,
    /// Out-of-scope objects of the live database that depend on in-scope ones (left out of
    /// the shadow; [`check_dependents`]).
    pub dependents: Vec<Dependent>,
}

/// An out-of-scope object that depends on in-scope objects.
#[derive(Clone, Debug)]
pub struct Dependent {
    pub id: ObjectId,
    /// The pattern that puts it out of scope (`exclude "schema:audit"`).
    pub why: String,
    /// The in-scope objects it depends on (pg_depend, as the catalog maps it).
    pub on: BTreeSet<ObjectId>,
}

impl Context {
    /// The context of `outside` (the out-of-scope part of `full`), rendered against the
    /// out-of-scope part of `empty` (the shadow's empty database: `public` ...).
    pub fn new(scope: &Scope, full: &Schema, outside: &Schema, empty: &Schema) -> Context {
        if scope.is_everything() {
            return Context::default();
        }
        let mut schema = scope::loadable_context(outside, full, empty);
        // Owners of objects not ours are not ours to reproduce either.
        schema.owners.clear();
        let (_, empty_outside) = scope.split(empty);
        let steps = schema_statements(&empty_outside, &schema, &PlanOptions::default());
        Context {
            scope: scope.clone(),
            out_of_scope: scope::object_count(outside),
            schema,
            steps,
            dependents: dependents(scope, full),
        }
    }

    /// Creates the context objects in a scratch database of the shadow.
    pub fn load(&self, client: &mut postgres::Client) -> Result<(), WorkflowError> {
        if self.steps.is_empty() {
            return Ok(());
        }
        super::run_steps(client, &self.steps, "creating the out-of-scope objects").map_err(|e| {
            WorkflowError::Scope(format!(
                "the out-of-scope objects the schema files may use could not be created in the \
                 shadow: {e}"
            ))
        })
    }

    /// Prepares a fresh scratch database for rebuilding an in-scope schema: reads what it holds
    /// (the part in scope: what the statements of a schema are rendered against), then creates
    /// the context objects. Later reads of it go through [`Context::read`].
    pub fn prepare(&self, client: &mut postgres::Client) -> Result<Schema, WorkflowError> {
        let empty = self.read(client)?;
        self.load(client)?;
        Ok(empty)
    }

    /// The part in scope of a scratch database's schema.
    pub fn read(&self, client: &mut postgres::Client) -> Result<Schema, WorkflowError> {
        Ok(self.scope.into_inside(crate::catalog::read(client)?))
    }

    /// One line saying how many objects were left out, when any were.
    pub fn note(&self) -> Option<String> {
        (self.out_of_scope > 0).then(|| {
            format!(
                "{} object(s) of the database are out of scope ({}) and left alone",
                self.out_of_scope, self.scope
            )
        })
    }
}

/// The out-of-scope objects of `full` that depend on in-scope ones, from its dependency edges.
fn dependents(scope: &Scope, full: &Schema) -> Vec<Dependent> {
    let mut found: BTreeMap<ObjectId, BTreeSet<ObjectId>> = BTreeMap::new();
    for (id, targets) in &full.depends {
        if scope.contains(id, full) {
            continue;
        }
        for t in targets {
            if full.contains(t) && scope.contains(t, full) {
                found.entry(id.clone()).or_default().insert(t.clone());
            }
        }
    }
    found
        .into_iter()
        .map(|(id, on)| Dependent {
            why: scope.excluded_by(&id, full).unwrap_or_default(),
            id,
            on,
        })
        .collect()
}

/// Refuses a plan (`changes`, towards `desired`) that drops, drops and creates again, or
/// retypes an in-scope object that an out-of-scope object depends on: one line per dependent,
/// with what it needs and what the plan does to it, then the ways out. The shadow proved the
/// plan without these objects, and on the live database PostgreSQL would refuse the `DROP`
/// (schemaplan never writes `CASCADE`, which would take the other team's object with it).
pub fn check_dependents(
    changes: &[Change],
    ctx: &Context,
    desired: &Schema,
) -> Result<(), WorkflowError> {
    if ctx.dependents.is_empty() {
        return Ok(());
    }
    let dropped = super::unmodeled::dropped(changes);
    let retyped: BTreeSet<ObjectId> = changes
        .iter()
        .filter_map(|c| match c {
            Change::AlterColumn {
                table, from, kinds, ..
            } if kinds.contains(&ColumnChange::Type) => {
                Some(ObjectId::Column(table.clone(), from.name.clone()))
            }
            _ => None,
        })
        .collect();
    // The object the plan drops that `id` needs: itself, or the table it belongs to.
    let hit = |id: &ObjectId| -> Option<ObjectId> {
        if dropped.contains(id) {
            Some(id.clone())
        } else {
            id.parent().filter(|p| dropped.contains(p))
        }
    };
    let mut lines = Vec::new();
    for d in &ctx.dependents {
        let hits: BTreeSet<ObjectId> = d.on.iter().filter_map(&hit).collect();
        if hits.is_empty() {
            continue;
        }
        let what: Vec<String> = hits
            .iter()
            .map(|h| {
                let done = if retyped.contains(h) {
                    "changes the type of"
                } else if desired.contains(h) {
                    "drops and creates again"
                } else {
                    "drops"
                };
                format!("{h}, which the plan {done}")
            })
            .collect();
        lines.push(format!(
            "  - {} (out of scope: {}) depends on {}",
            d.id,
            d.why,
            what.join("; ")
        ));
    }
    if lines.is_empty() {
        return Ok(());
    }
    Err(WorkflowError::Scope(format!(
        "the plan would break objects outside the scope that depend on objects it changes \
         (PostgreSQL refuses to drop what others depend on, and schemaplan never uses CASCADE, \
         which would drop them with their rows):\n{}\n\
         Bring them into scope (define them in the schema files, and the plan takes care of \
         them), drop them by hand before the apply and create them again after it, or change \
         the schema files so that what they depend on stays.",
        lines.join("\n")
    )))
}

/// Refuses schema-file statements that create an out-of-scope object, naming the statement's
/// place, the object and the pattern.
pub fn check_source(source: &SourceSet, scope: &Scope) -> Result<(), WorkflowError> {
    if scope.is_everything() {
        return Ok(());
    }
    let mut problems = Vec::new();
    for s in &source.statements {
        for name in &s.creates {
            if let Some(why) = scope.source_excluded_by(&s.kind, name) {
                problems.push(format!(
                    "{}:{}:{}: {} defines {name}, which is out of scope ({why}): remove it from \
                     the schema files or change the scope",
                    s.file.display(),
                    s.line,
                    s.col,
                    s.kind
                ));
                break;
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(WorkflowError::Scope(problems.join("\n")))
    }
}

/// After loading: the out-of-scope objects of the desired schema `full` that the context did
/// not create came from the schema files (what [`check_source`] cannot see by name: an index
/// on an excluded table, a `DO` block ...).
pub fn check_loaded(full: &Schema, ctx: &Context) -> Result<(), WorkflowError> {
    if ctx.scope.is_everything() {
        return Ok(());
    }
    let (_, outside) = ctx.scope.split(full);
    let mut problems = Vec::new();
    for id in top_level(&outside) {
        if !ctx.schema.contains(&id) {
            let why = ctx.scope.excluded_by(&id, full).unwrap_or_default();
            problems.push(format!(
                "the schema files define {id}, which is out of scope ({why}): remove it from \
                 the schema files or change the scope"
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(WorkflowError::Scope(problems.join("\n")))
    }
}

/// The top-level objects of a schema (members follow them).
fn top_level(s: &Schema) -> Vec<ObjectId> {
    let mut v: Vec<ObjectId> = Vec::new();
    v.extend(s.schemas.keys().map(|n| ObjectId::Schema(n.into())));
    v.extend(s.extensions.keys().map(|n| ObjectId::Extension(n.into())));
    v.extend(s.collations.keys().cloned().map(ObjectId::Collation));
    v.extend(s.types.keys().cloned().map(ObjectId::Type));
    v.extend(s.sequences.keys().cloned().map(ObjectId::Sequence));
    v.extend(s.tables.keys().cloned().map(ObjectId::Table));
    v.extend(s.indexes.keys().cloned().map(ObjectId::Index));
    v.extend(s.views.keys().cloned().map(ObjectId::View));
    v.extend(
        s.functions
            .keys()
            .map(|(q, a)| ObjectId::Function(q.clone(), a.into())),
    );
    v.extend(
        s.triggers
            .keys()
            .map(|(q, n)| ObjectId::Trigger(q.clone(), n.into())),
    );
    v.extend(
        s.publications
            .keys()
            .map(|n| ObjectId::Publication(n.into())),
    );
    v.extend(
        s.event_triggers
            .keys()
            .map(|n| ObjectId::EventTrigger(n.into())),
    );
    v
}
