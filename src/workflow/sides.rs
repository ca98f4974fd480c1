//! Both sides of a comparison, read at once (issue 9): the schema files (source stage,
//! shadow start, desired load) on the calling thread while the live database's catalog is read
//! on a thread of its own, over its own connection. The source stage itself runs on a thread
//! beside the shadow start (on a cold cache: parsing every file beside the cluster's initdb).
//! The live read is mostly waiting on the server, and at 5,000 tables it costs about what the
//! source stage and the desired load cost together, so overlapping them takes the shorter off
//! a warm run's wall time. [`read_sides`] returns once the desired side is loaded, the live
//! read possibly still running ([`LiveSide`]), so that `plan` starts on the desired schema
//! (its target fingerprint) meanwhile.
//!
//! What depends on what: the desired load needs the live side's role names (they are created
//! in the shadow so GRANTs load) and, in a scoped run, the out-of-scope context (objects of
//! the live catalog). The live thread sends the roles and the server version as soon as it
//! has them, before the catalog read ([`super::current::live_full`]), so an unscoped run starts
//! the desired load meanwhile; a scoped run waits for the whole live side first.
//!
//! Errors are reported as a run doing one stage after the other would: the first failing stage
//! in the order source, shadow start, live read, desired load wins, whatever the thread that
//! failed first (both failing: the live read's error, never the load's). A source or shadow
//! error returns as soon as both of these stages are done; the live thread is then left to end
//! on its own (its connection closes when it does, or when the process exits), so a syntax
//! error is not kept waiting for a catalog read. Ctrl-C is unchanged: its handler (`shadow::interrupt_cleanup`) drops the
//! shadow's scratch databases, and the live thread holds none. Each stage still records its
//! timing (`crate::timings`), the live read's on its own thread.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};

use super::{Context, Current, Loaded, Need, WorkflowError};
use crate::catalog::Scope;
use crate::shadow::Shadow;
use crate::source::{self, SourceSet};

/// What to read.
pub struct SidesRequest<'a> {
    /// The folder of schema files.
    pub schema: &'a Path,
    /// Where the parses of unchanged files are kept (`source::load_dir_cached`); `None`: every
    /// file is parsed.
    pub source_cache: Option<&'a Path>,
    /// The live database (`None`: an empty database of the shadow).
    pub db: Option<&'a str>,
    pub scope: &'a Scope,
    /// Whether the loaded desired database is kept for the caller (`plan`'s proof).
    pub need: Need,
    /// Where the live schema's fingerprints are kept between runs (`catalog::fingerprints`);
    /// `None`: computed every time.
    pub fingerprints: Option<&'a crate::catalog::fingerprints::Place>,
}

/// Both sides, and what they were read with: the live side possibly still being read
/// ([`LiveSide`]), so that `plan` starts on the desired schema (its target fingerprint's
/// first part) before it joins; `drift` joins at once.
pub struct Sides {
    /// The schema files' statements: kept for [`Need::Database`] (`plan` plans from them);
    /// for [`Need::Reading`] (`drift`) dropped as soon as the desired schema is loaded,
    /// before the live read is joined, so that they are not held while it builds the current
    /// schema (issue 9's memory target: ~25 MiB at 5,000 tables).
    pub source: Option<SourceSet>,
    pub shadow: Shadow,
    pub live: LiveSide,
    pub desired: Loaded,
}

/// The live side of [`Sides`]: read, or still being read on its own thread.
pub enum LiveSide {
    Read(Box<Live>),
    Reading(std::thread::JoinHandle<Result<Live, WorkflowError>>),
}

impl LiveSide {
    /// The current side, once read, and its fingerprint and object digests when the live
    /// thread had time for them ([`Need::Database`] only, unscoped: the plan's `from`): its
    /// read ended while the desired load still ran (a cold cache: the load takes several times
    /// the read), so they were computed there rather than after both sides (issue 9). `None`:
    /// the caller computes them. The live thread's panic goes on here.
    pub fn join(self) -> Result<Live, WorkflowError> {
        match self {
            LiveSide::Read(live) => Ok(*live),
            LiveSide::Reading(handle) => join(handle),
        }
    }
}

/// Reads both sides of `req`, the live catalog on its own thread (see the module doc), and
/// returns as soon as the desired side is loaded, the live read possibly still running.
/// `before_load` hears the schema files, the shadow and the live server's version (`None`
/// without a live database) right before the desired load starts: `plan` warns there. A
/// failed desired load joins the live side first, whose error wins.
pub fn read_sides(
    req: &SidesRequest,
    start_shadow: impl FnOnce() -> anyhow::Result<Shadow>,
    before_load: &mut dyn FnMut(&SourceSet, &Shadow, Option<i32>),
) -> anyhow::Result<Sides> {
    let (early_tx, early_rx) = mpsc::channel::<(Vec<crate::shadow::Role>, i32)>();
    // Set when the desired load is over: from then on the live thread leaves the fingerprint
    // to the caller, which computes it beside its own work.
    let desired_done = Arc::new(AtomicBool::new(false));
    let fingerprint_if_idle = req.need == Need::Database && req.scope.is_everything();
    let live = req.db.map(|url| {
        let place = req.fingerprints.cloned();
        let url = url.to_string();
        let desired_done = Arc::clone(&desired_done);
        std::thread::Builder::new()
            .name("live catalog read".into())
            .spawn(move || {
                let current = crate::timings::stage("catalog reads", || {
                    super::current::live_full(&url, fingerprint_if_idle, |roles, version| {
                        // The receiver may be gone (the other side failed): nothing to tell.
                        let _ = early_tx.send((roles.to_vec(), version));
                    })
                })?;
                // Kept from an earlier run for exactly these catalog rows, or computed while
                // the desired load still runs.
                let rows = current.rows_digest.as_deref();
                let kept = match (fingerprint_if_idle, rows, &place) {
                    (true, Some(rows), Some(place)) => {
                        crate::catalog::fingerprints::kept(place, rows)
                    }
                    _ => None,
                };
                let digests = kept.or_else(|| {
                    (fingerprint_if_idle && !desired_done.load(Ordering::Acquire)).then(|| {
                        match rows {
                            Some(rows) => crate::catalog::fingerprints::computed(
                                &current.schema,
                                rows,
                                place.as_ref(),
                            ),
                            None => crate::catalog::fingerprint_and_digests(&current.schema),
                        }
                    })
                });
                Ok((current, digests))
            })
    });
    // The source stage (parsing every file on a cold cache) runs on a thread of its own while
    // the shadow starts here (initdb on a cold cache): neither needs the other. The source's
    // error still wins over the shadow's, as when they ran one after the other; it waits for
    // the shadow start (a fraction of a second, a few seconds on a fresh cache folder).
    let (source, shadow) = std::thread::scope(|s| {
        // The main thread's usual stack (8 MiB), not a spawned thread's default 2 MiB: the
        // parser and the walks over its trees recurse as deep as a statement nests.
        let source = std::thread::Builder::new()
            .name("source".into())
            .stack_size(8 << 20)
            .spawn_scoped(s, || {
                crate::timings::stage("source", || {
                    source::load_dir_cached(req.schema, req.source_cache)
                })
            });
        let shadow = crate::timings::stage("shadow start", start_shadow);
        // A thread that could not be started: the source stage runs here, as without one.
        let source = match source {
            Ok(handle) => match handle.join() {
                Ok(result) => result,
                Err(panic) => std::panic::resume_unwind(panic),
            },
            Err(_) => crate::timings::stage("source", || {
                source::load_dir_cached(req.schema, req.source_cache)
            }),
        };
        (source, shadow)
    });
    let source = source?;
    let shadow = shadow?;
    // A thread that could not be started: the live side is read here, as without one.
    let live = match live {
        Some(Ok(handle)) => Some(handle),
        Some(Err(_)) | None => None,
    };
    // Unscoped, the desired load needs only the live roles: it runs while the catalog is read.
    // Without them (the live side failed before sending them), the join below reports why.
    let early = match &live {
        Some(_) if req.scope.is_everything() => early_rx.recv().ok(),
        _ => None,
    };
    if let Some((roles, version)) = early {
        before_load(&source, &shadow, Some(version));
        let desired = crate::timings::stage("shadow load", || {
            super::desired_load(&shadow, &source, &roles, &Context::default(), req.need)
        });
        desired_done.store(true, Ordering::Release);
        let source = kept(source, req.need);
        let live = live.expect("early roles come from the live thread");
        return match desired {
            Ok(desired) => Ok(Sides {
                source,
                shadow,
                live: LiveSide::Reading(live),
                desired,
            }),
            // The live side's error first, as when it is read before the load.
            Err(e) => {
                join(live)?;
                Err(e.into())
            }
        };
    }
    let full = match live {
        Some(handle) => join(handle)?.0,
        None => match req.db {
            Some(url) => crate::timings::stage("catalog reads", || {
                super::current::live_full(url, fingerprint_if_idle, |_, _| {})
            })?,
            None => crate::timings::stage("catalog reads", || {
                super::current::current_full(None, &shadow)
            })?,
        },
    };
    let current = match req.scope.is_everything() {
        true => full,
        false => {
            crate::timings::stage("scope", || super::current::scoped(full, &shadow, req.scope))?
        }
    };
    before_load(&source, &shadow, current.server_version_num);
    let desired = crate::timings::stage("shadow load", || {
        super::desired_load(&shadow, &source, &current.roles, &current.context, req.need)
    })?;
    Ok(Sides {
        source: kept(source, req.need),
        shadow,
        live: LiveSide::Read(Box::new((current, None))),
        desired,
    })
}

/// The statements, when the caller needs them after the load ([`Sides::source`]).
fn kept(source: SourceSet, need: Need) -> Option<SourceSet> {
    match need {
        Need::Database => Some(source),
        Need::Reading => None,
    }
}

/// What the live thread gives: the current side, and its fingerprint and object digests when
/// it had time for them ([`LiveSide::join`]).
pub type Live = (Current, Option<(String, crate::catalog::Digests)>);

/// The live thread's result; its panic goes on here.
fn join(
    handle: std::thread::JoinHandle<Result<Live, WorkflowError>>,
) -> Result<Live, WorkflowError> {
    match handle.join() {
        Ok(result) => result,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}
