//! `schemaplan plan`'s pipeline, end to end: schema files and the live database in, the
//! proven forward and inverse [`Plan`]s out. Order matters and is fixed here: read both sides,
//! resolve declared renames, diff, ask the shadow about casts, run every plan-time refusal
//! against the live rows (new NOT NULL columns nothing fills, conversions without a cast or
//! that would change values, CHECKs rows violate, unmodeled objects the plan would drop,
//! out-of-scope objects that depend on what the plan drops, secrets the plan or its inverse
//! would have to write),
//! then plan and prove. The CLI turns arguments into a [`PlanRequest`] and the result into
//! files and output.

use crate::catalog;
use crate::model::Schema;
use crate::plan::{Direction, Plan, PlanOptions, Step};
use crate::shadow::Shadow;
use crate::source::SourceSet;
use std::time::Duration;

/// What to plan.
pub struct PlanRequest<'a> {
    /// The live database (`None`: an empty one).
    pub db: Option<&'a str>,
    /// The schema files, loaded and ordered (before the shadow starts, so a syntax error
    /// costs no server).
    pub source: &'a SourceSet,
    pub lock_timeout: Duration,
    pub small_table: u64,
    /// The plan id written into both files.
    pub id: String,
    /// Debugging only: skip the proof (both plans are then marked unproven).
    pub no_proof: bool,
    /// Which objects are the project's (`catalog::scope`); recorded in both plans.
    pub scope: crate::catalog::Scope,
}

/// The proven plans.
pub struct ProvenPlans {
    pub forward: Plan,
    pub inverse: Plan,
    /// How many objects of the database were out of scope, said when any were.
    pub scope_note: Option<String>,
}

/// One warning per object schemaplan does not manage: reported, never silently skipped.
pub fn unmodeled_warnings(s: &Schema) -> Vec<String> {
    s.unmodeled
        .iter()
        .map(|u| {
            format!(
                "{} {} is not modeled by schemaplan and is left as it is",
                u.kind, u.identity
            )
        })
        .collect()
}

/// Whether warning `w` about a live unmodeled object was already said about the desired
/// schema (the same object on both sides is reported once).
fn desired_has_same(desired: &Schema, live: &Schema, w: &str) -> bool {
    live.unmodeled
        .iter()
        .filter(|u| desired.unmodeled.contains(*u))
        .any(|u| w.starts_with(&format!("{} {} ", u.kind, u.identity)))
}

/// Runs the pipeline. Every refusal comes back as an error before anything is planned;
/// `warn` hears what the user should know on the way, as soon as it is known (a shadow of
/// another major can explain a later error).
pub fn make_plan(
    req: &PlanRequest,
    shadow: &Shadow,
    warn: &mut dyn FnMut(String),
) -> anyhow::Result<ProvenPlans> {
    let src = req.source;
    // Stage timings (crate::timings, `-v`): catalog reads, shadow load, diff, proof.
    let current = crate::timings::stage("catalog reads", || {
        super::current_in(req.db, shadow, &req.scope)
    })?;
    if let Some(w) = current
        .server_version_num
        .and_then(|v| shadow.version_warning(v))
    {
        warn(w);
    }
    super::subscription_warnings(src)
        .into_iter()
        .for_each(&mut *warn);
    // The loaded database stays until the proof, which starts from a copy of it.
    let super::Desired {
        schema: desired,
        db: desired_db,
        ..
    } = crate::timings::stage("shadow load", || {
        super::desired_db(shadow, src, &current.roles, &current.context)
    })?;
    // Objects schemaplan does not model, on both sides: reported, never silently skipped.
    unmodeled_warnings(&desired)
        .into_iter()
        .chain(
            unmodeled_warnings(&current.schema)
                .into_iter()
                .filter(|w| !desired_has_same(&desired, &current.schema, w)),
        )
        .for_each(&mut *warn);

    let mut opts = PlanOptions {
        lock_timeout: req.lock_timeout,
        small_table: req.small_table,
        backfills: super::backfill::backfills(src),
        usings: super::casts::usings(src),
        server_version: current
            .server_version_num
            .unwrap_or_else(|| shadow.server_version_num())
            .try_into()
            .unwrap_or(0),
        ..PlanOptions::default()
    };
    let diff_stage = crate::timings::start("diff");
    let renames = super::renames::resolve(
        shadow,
        &current.context,
        src,
        &current.schema,
        &desired,
        &opts,
    )?;
    let renames = renames.as_ref();
    let base = renames.map_or(&current.schema, |r| &r.current);
    let changes = crate::diff::diff(base, &desired);
    super::casts::probe(shadow, &desired, &changes, &mut opts)?;
    // Before any planning: a new NOT NULL column nothing can fill, a type change without a
    // cast on a table with rows, or one that would change or fail on live rows, a CHECK live
    // rows violate, an unmodeled object the plan would drop: each stops here, with the fix.
    super::backfill::check(&changes, base, &desired, src, &opts)?;
    super::casts::check(&changes, base, &desired, src, &opts)?;
    if let Some(url) = req.db {
        super::checks::check(url, &changes)?;
    }
    super::lossy::check(
        req.db,
        &current.schema,
        &changes,
        base,
        &desired,
        src,
        &opts,
    )?;
    super::unmodeled::check(&changes, &current.schema, &desired)?;
    // Out-of-scope objects that need what the plan drops: not in the shadow, so refused here.
    super::scope::check_dependents(&changes, &current.context, &desired)?;
    super::secrets::check(&changes, base, &desired)?;
    drop(diff_stage);
    let proof_stage = crate::timings::start("plan and proof");
    let (planned, report) = if req.no_proof {
        (
            super::plan_both(&current.schema, &desired, renames, &opts, true),
            super::ProofReport::default(),
        )
    } else {
        super::plan_proven(
            shadow,
            &current.context,
            Some(&desired_db),
            &current.schema,
            &desired,
            src,
            renames,
            &opts,
        )?
    };
    drop(proof_stage);
    // The proof is done with it: drop it now rather than after the files are written.
    drop(desired_db);
    if let Some(p) = &report.drops_in_expand {
        warn(format!("the drops run in the expand phase: {p}"));
    }
    if let Some(p) = &report.rebuild_problem {
        warn(format!(
            "the current schema could not be reproduced exactly in the shadow:\n{p}"
        ));
    }
    if let Some(p) = &report.inverse_problem {
        warn(format!(
            "the inverse plan did not prove out: {p}\n  inverse.sql is marked `proven: no`; \
             `rollback` refuses it without --allow-unproven"
        ));
    }
    // The plan ends in the desired schema with the current database's unmodeled objects,
    // which it leaves as they are (or carries over): that is what `apply` checks at the end.
    // `desired` is not needed any more: it becomes the target rather than being copied.
    let target = catalog::with_unmodeled_of(desired, &current.schema);
    let from = catalog::fingerprint(&current.schema);
    let to = catalog::fingerprint(&target);
    let make = |direction, steps: Vec<Step>, from: &str, to: &str, from_schema: &Schema| Plan {
        id: req.id.clone(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        direction,
        from: from.to_string(),
        to: to.to_string(),
        steps,
        from_objects: catalog::object_digests(from_schema),
        unproven: None,
        scope: req.scope.clone(),
    };
    let mut forward = make(
        Direction::Forward,
        planned.forward,
        &from,
        &to,
        &current.schema,
    );
    // The inverse ends where it started, but for the dropped NOT NULL columns it adds back
    // nullable (`contract::unrestorable`): its `to` says so. Without such columns that is the
    // current schema itself, whose fingerprint is `from` (no copy to fingerprint).
    let back = match planned.unrestored.is_empty() {
        true => from.clone(),
        false => unrestored_fingerprint(&current.schema, &planned.unrestored),
    };
    let mut inverse = make(Direction::Inverse, planned.inverse, &to, &back, &target);
    inverse.unproven = report.inverse_problem.clone();
    if req.no_proof {
        let why = Some("written with --no-proof".to_string());
        forward.unproven = why.clone();
        inverse.unproven = why;
    }
    Ok(ProvenPlans {
        forward,
        inverse,
        scope_note: current.context.note(),
    })
}

/// The fingerprint of `current` with the `unrestored` columns nullable: where the inverse of a
/// plan that drops NOT NULL columns ends.
fn unrestored_fingerprint(current: &Schema, unrestored: &[crate::model::ObjectId]) -> String {
    let mut back = current.clone();
    for id in unrestored {
        if let crate::model::ObjectId::Column(q, c) = id {
            let column = back
                .tables
                .get_mut(q)
                .and_then(|t| t.columns.iter_mut().find(|x| &x.name == c));
            if let Some(column) = column {
                column.make_nullable();
            }
        }
    }
    catalog::fingerprint(&back)
}
