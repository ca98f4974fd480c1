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

use super::{schema_statements, WorkflowError};
use crate::catalog::scope::{self, Scope};
use crate::model::{ObjectId, Schema};
use crate::plan::{PlanOptions, Step};
use crate::source::SourceSet;

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
        Ok(self.scope.inside(&crate::catalog::read(client)?))
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
    v.extend(s.schemas.keys().cloned().map(ObjectId::Schema));
    v.extend(s.extensions.keys().cloned().map(ObjectId::Extension));
    v.extend(s.collations.keys().cloned().map(ObjectId::Collation));
    v.extend(s.types.keys().cloned().map(ObjectId::Type));
    v.extend(s.sequences.keys().cloned().map(ObjectId::Sequence));
    v.extend(s.tables.keys().cloned().map(ObjectId::Table));
    v.extend(s.indexes.keys().cloned().map(ObjectId::Index));
    v.extend(s.views.keys().cloned().map(ObjectId::View));
    v.extend(
        s.functions
            .keys()
            .map(|(q, a)| ObjectId::Function(q.clone(), a.clone())),
    );
    v.extend(
        s.triggers
            .keys()
            .map(|(q, n)| ObjectId::Trigger(q.clone(), n.clone())),
    );
    v.extend(s.publications.keys().cloned().map(ObjectId::Publication));
    v.extend(s.event_triggers.keys().cloned().map(ObjectId::EventTrigger));
    v
}
