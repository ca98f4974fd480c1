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
use std::path::Path;
use std::time::Duration;

/// What to plan.
pub struct PlanRequest<'a> {
    /// The live database (`None`: an empty one).
    pub db: Option<&'a str>,
    /// The folder of schema files (loaded and ordered before the shadow starts, so a syntax
    /// error costs no server).
    pub schema: &'a Path,
    /// Where the parses of unchanged schema files are kept (`source::load_dir_cached`).
    pub source_cache: Option<&'a Path>,
    /// Where the live schema's fingerprints are kept (`catalog::fingerprints`).
    pub fingerprint_cache: Option<&'a Path>,
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

/// Runs the pipeline: reads both sides (`sides`: the schema files and the shadow on this
/// thread, the live catalog on its own), then plans and proves. Every refusal comes back as an
/// error before anything is planned; `warn` hears what the user should know on the way, as
/// soon as it is known (a shadow of another major can explain a later error).
pub fn make_plan(
    req: &PlanRequest,
    start_shadow: impl FnOnce() -> anyhow::Result<Shadow>,
    warn: &mut dyn FnMut(String),
) -> anyhow::Result<ProvenPlans> {
    // Stage timings (crate::timings, `-v`): source, shadow start, catalog reads, shadow load,
    // diff, proof.
    let fingerprints = req
        .fingerprint_cache
        .zip(req.db)
        .map(|(folder, url)| catalog::fingerprints::Place::new(folder, url));
    let sides = super::read_sides(
        &super::SidesRequest {
            schema: req.schema,
            source_cache: req.source_cache,
            db: req.db,
            scope: &req.scope,
            need: super::Need::Database,
            fingerprints: fingerprints.as_ref(),
        },
        start_shadow,
        &mut |src, shadow, version| {
            if let Some(w) = version.and_then(|v| shadow.version_warning(v)) {
                warn(w);
            }
            super::subscription_warnings(src)
                .into_iter()
                .for_each(&mut *warn);
        },
    )?;
    let super::Sides {
        source,
        shadow,
        live,
        desired,
    } = sides;
    let source = source.expect("read_sides keeps the statements for Need::Database");
    let shadow = &shadow;
    // The loaded database stays until the proof, which starts from a copy of it.
    let super::Desired {
        schema: desired,
        db: desired_db,
        ..
    } = desired.into_desired();
    let (current, proven) = std::thread::scope(|outer| {
        // The plan's target fingerprint and object digests: everything but the live side's
        // unmodeled objects is printed from here on, on a thread of its own, and finished
        // beside the proof (`PrintedHead::finish`). When the desired side is done first (a
        // warm plan), that is while the live catalog is still read, with a core the read
        // leaves idle; the diff starts as soon as the read ends, whether the print has
        // (~0.4 s of CPU at 5,000 tables) or not (issue 9).
        let desired = &desired;
        let head = outer.spawn(|| catalog::printed_head(desired));
        let (current, current_digests) = live.join()?;
        // Objects schemaplan does not model, on both sides: reported, never silently skipped.
        unmodeled_warnings(desired)
            .into_iter()
            .chain(
                unmodeled_warnings(&current.schema)
                    .into_iter()
                    .filter(|w| !desired_has_same(desired, &current.schema, w)),
            )
            .for_each(&mut *warn);
        // The plan's `from` fingerprint and object digests depend on the current schema
        // alone: computed on a thread of their own while the rest of the pipeline (diff,
        // refusals, proof) runs on this one (~1.2 s of client CPU at 5,000 tables, issue 9),
        // both from one printing of the schema (`catalog::fingerprint_and_digests`).
        let proven = std::thread::scope(|s| {
            let current = &current;
            let from_side = s.spawn(|| {
                current_digests.unwrap_or_else(|| {
                    catalog::fingerprints::of_live(
                        &current.schema,
                        current.rows_digest.as_deref(),
                        fingerprints.as_ref(),
                    )
                })
            });
            plan_and_prove(
                s,
                req,
                source,
                shadow,
                current,
                (desired, head),
                desired_db,
                warn,
                from_side,
            )
        });
        Ok::<_, anyhow::Error>((current, proven))
    })?;
    // Both schemas are done with: freed beside the files being written.
    super::drop_aside((current, desired));
    proven
}

/// Digests of a schema's objects (`catalog::object_digests`).
type Digests = std::collections::BTreeMap<String, String>;

/// [`make_plan`] once both sides are read: diff, refusals, plan and proof, and the plans'
/// headers. `from_side` computes the current schema's fingerprint and object digests;
/// `head` prints the desired schema's up to the live side's unmodeled objects, and a thread
/// of `scope` finishes them beside the proof.
#[allow(clippy::too_many_arguments)]
fn plan_and_prove<'s, 'e: 's, 'o: 's>(
    scope: &'s std::thread::Scope<'s, 'e>,
    req: &PlanRequest,
    source: crate::source::SourceSet,
    shadow: &Shadow,
    current: &'e super::Current,
    (desired, head): (
        &'e Schema,
        std::thread::ScopedJoinHandle<'o, catalog::PrintedHead>,
    ),
    desired_db: crate::shadow::ScratchDb,
    warn: &mut dyn FnMut(String),
    from_side: std::thread::ScopedJoinHandle<'s, (String, Digests)>,
) -> anyhow::Result<ProvenPlans> {
    let src = &source;
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
        desired,
        &opts,
    )?;
    let renames = renames.as_ref();
    let base = renames.map_or(&current.schema, |r| &r.current);
    // Each way diffed once for the whole plan: the refusals below, the secrets check (the
    // inverse) and every plan `plan_proven` makes take them from here.
    let diffs = super::PlanDiffs::new(base, desired, opts.server_version).made_both();
    let changes = diffs.forward();
    super::casts::probe(shadow, desired, changes, &mut opts)?;
    // Before any planning: a new NOT NULL column nothing can fill, a type change without a
    // cast on a table with rows, or one that would change or fail on live rows, a CHECK live
    // rows violate, an unmodeled object the plan would drop: each stops here, with the fix.
    super::backfill::check(changes, base, desired, src, &opts)?;
    super::casts::check(changes, base, desired, src, &opts)?;
    if let Some(url) = req.db {
        super::checks::check(url, changes)?;
    }
    super::lossy::check(req.db, &current.schema, changes, base, desired, src, &opts)?;
    super::unmodeled::check(changes, &current.schema, desired)?;
    // Out-of-scope objects that need what the plan drops: not in the shadow, so refused here.
    super::scope::check_dependents(changes, &current.context, desired)?;
    super::secrets::check(changes, diffs.inverse())?;
    drop(diff_stage);
    // The statements are done with but for the texts of CHECK constraints a failed proof may
    // ask for: freed before the proof, whose readings are the peak of a `plan` (issue 9).
    let checks = super::CheckSources::of(src);
    super::drop_aside(source);
    // The proof's first reading splices into the desired database's stored reading: loaded
    // from here on, beside the start of the proof (planning, the copy of the desired
    // database), not beside the diff while the statements are held, nor beside the live
    // side's reading: either pair was the warm plan's peak of memory (issue 9). Not when the
    // plan drops something: planning then holds a middle schema (`contract::middle`), and the
    // two side by side were the peak of such a plan; the proof loads it when it starts.
    if !req.no_proof && super::contract::drops_nothing(base, desired) {
        // When that reading is the desired schema itself (no scope), a copy of it made here
        // stands for the file, for a third of the CPU (`ScratchDb::copy_delta_base_aside`).
        if desired_db.delta_base_held() {
            let (sent, copy) = std::sync::mpsc::sync_channel(1);
            scope.spawn(move || {
                let _ = sent.send(crate::timings::stage("splice base copy", || {
                    desired.clone()
                }));
            });
            desired_db.copy_delta_base_aside(Box::new(move || copy.recv().ok()));
        } else {
            desired_db.load_delta_base_aside();
        }
    }
    // Nothing was refused: the plan ends in the desired schema with the current database's
    // unmodeled objects, which it leaves as they are (or carries over): that is what `apply`
    // checks at the end. Its fingerprint and object digests: the desired schema's printing
    // (`head`, no copy of it), finished with those objects on a thread beside the proof.
    let to_side = scope.spawn(move || match head.join() {
        Ok(head) => head.finish(&current.schema.unmodeled),
        Err(panic) => std::panic::resume_unwind(panic),
    });
    let proof_stage = crate::timings::start("plan and proof");
    let (planned, report) = if req.no_proof {
        (
            super::planning::plan_both_with(&diffs, &current.schema, desired, renames, &opts, true),
            super::ProofReport::default(),
        )
    } else {
        super::plan_proven(
            &diffs,
            shadow,
            &current.context,
            Some(&desired_db),
            &current.schema,
            desired,
            &checks,
            renames,
            &opts,
        )?
    };
    drop(proof_stage);
    // The diffs hold copies of what they create: gone before the plans are assembled.
    drop(diffs);
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
    let (to, target_objects) = joined(to_side);
    let (from, from_objects) = joined(from_side);
    let make = |direction, steps: Vec<Step>, from: &str, to: &str, from_objects| Plan {
        id: req.id.clone(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        direction,
        from: from.to_string(),
        to: to.to_string(),
        steps,
        from_objects,
        unproven: None,
        scope: req.scope.clone(),
    };
    let mut forward = make(
        Direction::Forward,
        planned.forward,
        &from,
        &to,
        from_objects,
    );
    // The inverse ends where it started, but for what it cannot restore (`contract::unrestorable`:
    // dropped NOT NULL columns added back nullable, constraints NOT VALID): its `to` says so. Without such columns that is the
    // current schema itself, whose fingerprint is `from` (no copy to fingerprint).
    let back = match planned.unrestored.is_empty() {
        true => from.clone(),
        false => unrestored_fingerprint(&current.schema, &planned.unrestored),
    };
    let mut inverse = make(
        Direction::Inverse,
        planned.inverse,
        &to,
        &back,
        target_objects,
    );
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

/// A scoped thread's result; its panic goes on here.
fn joined<T>(handle: std::thread::ScopedJoinHandle<'_, T>) -> T {
    handle
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// The fingerprint of `current` relaxed as the inverse leaves it (`contract::relax`): where the
/// inverse of a plan that drops NOT NULL columns or referenced tables ends.
fn unrestored_fingerprint(current: &Schema, unrestored: &[crate::model::ObjectId]) -> String {
    let mut back = current.clone();
    super::contract::relax(&mut back, unrestored);
    catalog::fingerprint(&back)
}
