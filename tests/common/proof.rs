//! The proof called as a library (`workflow::plan_both` + `workflow::prove`) on a live database
//! and a desired schema, so a test can inject a wrong step between planning and proving: a
//! wrong plan is not something a user can write into a plan file.

use schemaplan::plan::PlanOptions;
use schemaplan::shadow::{Shadow, ShadowOptions};
use schemaplan::workflow::{self, Planned, WorkflowError};

/// A live database loaded with `live`, the desired schema loaded from `desired`, and the shadow
/// both live in.
pub struct Setup {
    pub shadow: Shadow,
    pub current: schemaplan::model::Schema,
    pub desired: workflow::Desired,
    pub source: schemaplan::source::SourceSet,
    /// The live database's URL.
    pub url: String,
    pub _dir: tempfile::TempDir,
}

pub fn setup(tag: &str, live: &str, desired: &str) -> Setup {
    let server = super::server();
    let (_, url) = server.fresh_db(tag);
    schemaplan::db::connect(&url)
        .unwrap()
        .batch_execute(live)
        .unwrap();
    let shadow = Shadow::start(&ShadowOptions {
        dev_url: Some(server.admin_url()),
        ..Default::default()
    })
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("schema")).unwrap();
    std::fs::write(dir.path().join("schema/schema.sql"), desired).unwrap();
    let source = schemaplan::source::load_dir(&dir.path().join("schema")).unwrap();
    let current = workflow::current(Some(&url), &shadow).unwrap();
    let desired = workflow::desired_db(
        &shadow,
        &source,
        &current.roles,
        &workflow::Context::default(),
    )
    .unwrap();
    Setup {
        shadow,
        current: current.schema,
        desired,
        source,
        url,
        _dir: dir,
    }
}

/// The plan and its inverse from the current schema to the desired one.
pub fn planned(s: &Setup) -> Planned {
    planned_with(s, true)
}

/// [`planned`] with the drops in `contract` (`true`, what `plan` tries first) or all in
/// `expand` (`false`, its fallback when the phased plan does not prove out).
pub fn planned_with(s: &Setup, contract_drops: bool) -> Planned {
    workflow::plan_both(
        &s.current,
        &s.desired.schema,
        None,
        &PlanOptions::default(),
        contract_drops,
    )
}

/// The proof of `planned`: in place on the desired database, or (`from_copy`) from a copy of
/// it as well when that is how the proof goes.
pub fn prove(
    s: &Setup,
    planned: &Planned,
    from_copy: bool,
) -> Result<workflow::ProofReport, WorkflowError> {
    workflow::prove(
        &s.shadow,
        &workflow::Context::default(),
        from_copy.then_some(&s.desired.db),
        &s.current,
        &s.desired.schema,
        planned,
        &PlanOptions::default(),
    )
}
