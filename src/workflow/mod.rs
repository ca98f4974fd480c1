//! The pipeline the commands share: read the desired schema (schema files -> shadow ->
//! catalog), read the current one (live database or empty), plan both directions, prove the
//! plan on a scratch copy, and render a schema as statements (`dump`).
//!
//! The CLI modules only turn arguments into calls of these functions and results into output
//! and exit codes.
//!
//! Each step is a module of its own (its first comment says what it owns): the current side
//! (`current`), the desired side (`desired`, with the warm path's keys and update in `warm`),
//! both read at once (`sides`), planning both directions (`planning`) and the proof (`prove`),
//! `plan`'s whole pipeline (`pipeline`), and the plan-time checks beside them. This file holds
//! the module list, the re-exports every caller goes through (`workflow::X`), the error every
//! step returns ([`WorkflowError`]) and the helpers several steps share (`drop_aside`,
//! `run_steps`).

pub mod backfill;
pub mod casts;
pub mod checks;
pub mod contract;
mod current;
mod desired;
mod diffs;
mod drift;
mod dump;
mod explain;
pub mod lossy;
mod original;
mod owners;
mod pipeline;
mod planning;
mod prove;
pub mod renames;
pub mod scope;
pub mod secrets;
mod sides;
pub mod unmodeled;
mod warm;

pub use current::{current, current_in, empty_schema, Current};
pub use desired::{
    desired, desired_db, desired_in, desired_load, subscription_warnings, Desired, Loaded, Need,
};
pub use diffs::PlanDiffs;
pub use drift::{object_drifts, pending_contract, ObjectDrift, PendingContract};
pub use dump::{
    check_dump_out, dump, dump_files, kind_and_identity, schema_statements, Dump, DumpedObject,
};
pub use original::CheckSources;
pub use pipeline::{make_plan, unmodeled_warnings, PlanRequest, ProvenPlans};
pub use planning::{plan_both, plan_proven, Planned};
pub use prove::{describe, prove, ProofReport};
pub use renames::Renames;
pub use scope::Context;
pub use sides::{read_sides, LiveSide, Sides, SidesRequest};

use crate::catalog::CatalogError;
use crate::db::{self, DbError};
use crate::plan::Step;
use crate::shadow::{LoadError, ShadowError};
use crate::source::SourceError;

/// Everything that can stop a command before it changes anything.
#[derive(Debug, thiserror::Error)]
pub enum WorkflowError {
    #[error("{0}")]
    Source(#[from] SourceError),
    #[error("{0}")]
    Shadow(#[from] ShadowError),
    #[error("{0}")]
    Db(#[from] DbError),
    #[error("reading the schema: {0}")]
    Catalog(#[from] CatalogError),
    #[error("loading the desired schema into the shadow database failed:\n{0}")]
    Load(LoadError),
    #[error("the plan failed its proof and was not written:\n{0}")]
    Proof(String),
    #[error("the plan failed its proof and was not written:\n{message}")]
    ProofMismatch {
        /// Objects that still differ from the desired schema after the plan.
        objects: Vec<crate::model::ObjectId>,
        message: String,
    },
    /// A `-- @renamed` annotation that cannot be planned (file:line and why).
    #[error("{0}")]
    Rename(String),
    /// A schema file defines an out-of-scope object, the context could not be created, or the
    /// plan drops what an out-of-scope object depends on (`workflow::scope`).
    #[error("{0}")]
    Scope(String),
    #[error("{what}: {message}")]
    Io { what: String, message: String },
    /// New NOT NULL columns on filled tables with nothing to fill them with (one per line).
    #[error("{0}")]
    Unfillable(String),
    /// Type changes without a cast on filled tables, without `@using` (one per line).
    #[error("{0}")]
    NoCast(String),
    /// New or changed CHECKs that live rows violate (one per line).
    #[error("{0}")]
    Violated(String),
    /// Type changes that would change or fail on rows of the live database (one per line).
    #[error("{0}")]
    Lossy(String),
    /// Unmodeled objects the plan would drop and cannot create again (one per line).
    #[error("{0}")]
    Unmodeled(String),
    /// Secrets (user mapping passwords) the plan or its inverse would have to write (one per
    /// line): never read, never printed (`workflow::secrets`).
    #[error("{0}")]
    Secret(String),
    /// The schema files create schema `schemaplan`, which holds apply's bookkeeping and which
    /// every catalog read leaves out: its objects would be silently ignored.
    #[error("the schema files create schema {0}: that name is reserved for schemaplan's own bookkeeping (tables {0}.runs and {0}.steps, docs/executor.md), which plan, drift and dump leave out, so nothing in it would ever be planned\nhint: give the schema another name")]
    ReservedSchema(&'static str),
    /// Statements making a role the owner of an event trigger or a foreign-data wrapper whose
    /// `SUPERUSER` attribute on the `--dev-url` server is not the target's (one per line): the
    /// shadow would load them differently than the target runs them, and schemaplan never
    /// changes a role there ([`owners::check_superuser_owners`]).
    #[error("{0}")]
    SuperuserOwner(String),
}

/// Frees `value` on a thread of its own. A whole schema is hundreds of thousands of
/// allocations (~0.1-0.3 s to free at 5,000 tables, issue 9): what the pipeline is done with
/// is freed beside what it does next rather than before it. Only for plain data: nothing
/// whose drop must have happened by the time the caller goes on (a server, a lock, a file).
/// A process that ends first simply does not free it; when no thread can be started, the
/// failed spawn drops the closure, and `value` with it, here.
pub(crate) fn drop_aside<T: Send + 'static>(value: T) {
    let _ = std::thread::Builder::new()
        .name("drop aside".into())
        .spawn(move || drop(value));
}

/// Executes steps one by one on a scratch database (proof and dump reload): each step as a
/// simple-query batch, which PostgreSQL runs as one implicit transaction.
pub(crate) fn run_steps(
    client: &mut impl postgres::GenericClient,
    steps: &[Step],
    what: &str,
) -> Result<(), WorkflowError> {
    client
        .batch_execute(
            "SET check_function_bodies = off; SET client_min_messages = warning; \
             SET standard_conforming_strings = on;",
        )
        .map_err(|e| WorkflowError::Proof(format!("{what}: {}", db::error_text(&e))))?;
    for (i, s) in steps.iter().enumerate() {
        client.batch_execute(&s.sql).map_err(|e| {
            WorkflowError::Proof(format!(
                "{what}: step {} ({}) failed: {}\n{}",
                i + 1,
                s.summary,
                db::error_text(&e),
                s.sql
            ))
        })?;
    }
    Ok(())
}
