//! The pipeline the commands share: read the desired schema (schema files -> shadow ->
//! catalog), read the current one (live database or empty), plan both directions, prove the
//! plan on a scratch copy, and render a schema as statements (`dump`).
//!
//! The CLI modules only turn arguments into calls of these functions and results into output
//! and exit codes.

pub mod backfill;
pub mod casts;
pub mod checks;
pub mod contract;
mod diffs;
mod drift;
mod dump;
mod explain;
pub mod lossy;
mod original;
mod owners;
mod pipeline;
mod prove;
pub mod renames;
pub mod scope;
pub mod secrets;
mod sides;
pub mod unmodeled;

pub use diffs::PlanDiffs;
pub use drift::{object_drifts, pending_contract, ObjectDrift, PendingContract};
pub use dump::{dump, dump_files, kind_and_identity, schema_statements, Dump, DumpedObject};
pub use pipeline::{make_plan, unmodeled_warnings, PlanRequest, ProvenPlans};
pub use prove::{describe, prove, ProofReport};
pub use renames::Renames;
pub use scope::Context;
pub use sides::{read_sides, Sides, SidesRequest};

use crate::catalog::delta::DeltaState;
use crate::catalog::{self, CatalogError};
use crate::db::{self, DbError};
use crate::diff;
use crate::model::{ObjectId, Schema};
use crate::plan::{self, PlanOptions, Step};
use crate::shadow::{self, LoadError, LoadStatement, ScratchDb, Shadow, ShadowError};
use crate::source::{SourceError, SourceSet};

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

/// Refuses desired schema files that create the bookkeeping schema (see
/// [`WorkflowError::ReservedSchema`]); the catalog read would drop it without a word.
fn reserved_schema(client: &mut postgres::Client) -> Result<(), WorkflowError> {
    let found: bool = client
        .query_one(
            "SELECT EXISTS (SELECT FROM pg_catalog.pg_namespace WHERE nspname = $1)",
            &[&catalog::BOOKKEEPING_SCHEMA],
        )
        .map_err(|source| CatalogError::Query {
            query: "bookkeeping schema in the desired schema",
            source,
        })?
        .get(0);
    if found {
        return Err(WorkflowError::ReservedSchema(catalog::BOOKKEEPING_SCHEMA));
    }
    Ok(())
}

/// The current side of a plan.
pub struct Current {
    /// The part in scope (everything without a scope).
    pub schema: Schema,
    /// The out-of-scope part the desired schema may depend on (`workflow::scope`).
    pub context: Context,
    /// The roles of the target server, with the attribute that decides whether a statement
    /// loads (made in the shadow so GRANTs and OWNER TO load, `Shadow::prepare_roles`).
    pub roles: Vec<shadow::Role>,
    pub server_version_num: Option<i32>,
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

/// Reads the live database, or an empty database of the shadow when there is none.
pub fn current(db_url: Option<&str>, shadow: &Shadow) -> Result<Current, WorkflowError> {
    current_in(db_url, shadow, &catalog::Scope::default())
}

/// [`current`], split by `scope` into the part in scope and the context.
pub fn current_in(
    db_url: Option<&str>,
    shadow: &Shadow,
    scope: &catalog::Scope,
) -> Result<Current, WorkflowError> {
    scoped(current_full(db_url, shadow)?, shadow, scope)
}

/// A whole current side ([`current_full`]) split by `scope` into the part in scope and the
/// context.
fn scoped(
    mut c: Current,
    shadow: &Shadow,
    scope: &catalog::Scope,
) -> Result<Current, WorkflowError> {
    if !scope.is_everything() {
        let empty = empty_schema(shadow)?;
        let (inside, outside) = scope.split(&c.schema);
        c.context = Context::new(scope, &c.schema, &outside, &empty);
        c.schema = inside;
    }
    Ok(c)
}

fn current_full(db_url: Option<&str>, shadow: &Shadow) -> Result<Current, WorkflowError> {
    match db_url {
        Some(url) => live_full(url, |_, _| {}),
        None => Ok(Current {
            schema: empty_schema(shadow)?,
            context: Context::default(),
            roles: Vec::new(),
            server_version_num: None,
        }),
    }
}

/// The whole live database at `url` (no scope applied). `early` hears its role names and
/// server version as soon as they are read, before the catalog: they are all the desired load
/// needs of the live side, so it can start while the catalog is read (`sides`).
fn live_full(
    url: &str,
    early: impl FnOnce(&[shadow::Role], i32),
) -> Result<Current, WorkflowError> {
    let mut client = db::connect(url)?;
    // Names and `rolsuper` only (never a password: `pg_roles` shows none anyway).
    let roles: Vec<shadow::Role> = client
        .query(
            "SELECT rolname::text, rolsuper FROM pg_roles WHERE rolname !~ '^pg_' ORDER BY 1",
            &[],
        )
        .map_err(|e| DbError::Query {
            url: db::redact(url),
            what: "listing roles",
            message: db::error_text(&e),
        })?
        .iter()
        .map(|r| shadow::Role {
            name: r.get(0),
            superuser: r.get(1),
        })
        .collect();
    let v = db::server_version_num(&mut client)?;
    early(&roles, v);
    let schema = catalog::read(&mut client)?;
    Ok(Current {
        schema,
        context: Context::default(),
        roles,
        server_version_num: Some(v),
    })
}

/// The schema of a fresh, empty database on the shadow server (what "nothing" looks like).
pub fn empty_schema(shadow: &Shadow) -> Result<Schema, WorkflowError> {
    let db = shadow.scratch("empty")?;
    let mut client = db.connect()?;
    Ok(catalog::read(&mut client)?)
}

/// Loads the schema files into a fresh shadow database and reads them back.
/// Whether a schema-file statement creates, alters or comments on a subscription. Such
/// statements are never loaded into the shadow nor planned: `CREATE SUBSCRIPTION` connects to
/// its publisher, which a shadow cannot (and must not) reach. They are reported instead
/// ([`subscription_warnings`]); a live subscription is reported as not modeled.
fn about_subscription(s: &crate::source::Statement) -> bool {
    s.kind.ends_with(" SUBSCRIPTION")
        || s.creates
            .iter()
            .chain(&s.references)
            .any(|n| n.starts_with("subscription:"))
}

/// One warning per schema-file statement about a subscription (left out of the plan).
pub fn subscription_warnings(source: &SourceSet) -> Vec<String> {
    source
        .statements
        .iter()
        .filter(|s| about_subscription(s))
        .map(|s| {
            format!(
                "{}:{}:{}: {} is not planned: a subscription needs a live publisher, so \
                 schemaplan leaves subscriptions to be created and changed by hand",
                s.file.display(),
                s.line,
                s.col,
                s.kind
            )
        })
        .collect()
}

pub fn desired(
    shadow: &Shadow,
    source: &SourceSet,
    roles: &[shadow::Role],
) -> Result<Schema, WorkflowError> {
    desired_in(shadow, source, roles, &Context::default())
}

/// [`desired`] with a scope: the context objects are created before the schema files, a file
/// that defines an out-of-scope object is refused, and only the part in scope is returned.
/// The schema alone ([`Need::Reading`]): from a kept database's cached reading when there is
/// one, without copying any database.
pub fn desired_in(
    shadow: &Shadow,
    source: &SourceSet,
    roles: &[shadow::Role],
    ctx: &Context,
) -> Result<Schema, WorkflowError> {
    Ok(desired_load(shadow, source, roles, ctx, Need::Reading)?.schema)
}

/// What a caller needs of the desired schema ([`desired_load`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// Its reading alone (`drift`): a kept database's cached reading serves without a copy.
    Reading,
    /// Also a loaded database of it (`plan`: the proof starts from it, `workflow::prove`).
    Database,
}

/// The desired schema and the shadow database it was read from, kept for the proof: the
/// proof starts from it ([`prove`]) instead of loading the current schema again.
pub struct Desired {
    pub schema: Schema,
    /// The loaded database, untouched after the read (no session left open on it, so it can
    /// be the template of a copy). On the embedded shadow with the cache on, it is the kept
    /// database itself, used in place ([`ScratchDb::is_kept`]: pinned, let go of, not
    /// dropped, with this value); otherwise a scratch database dropped with this value.
    pub db: ScratchDb,
    /// Whether it is the database a previous run loaded from the same statements (the
    /// embedded shadow keeps it: [`Shadow::warm_keep`]) instead of a fresh load.
    pub warm: bool,
    /// Whether the schema is the kept database's cached reading (`shadow::reading`) rather
    /// than a read of its catalog.
    pub cached_reading: bool,
    /// When it is a kept database of other statements brought up to date incrementally
    /// (`shadow::warm`): how many statements re-ran.
    pub incremental: Option<usize>,
    /// Why a kept database of other statements was not updated incrementally, when there was
    /// one and the load was fresh instead.
    pub fallback: Option<String>,
}

/// What [`desired_load`] gives: the desired schema, how it was had, and the loaded database
/// when it was asked for ([`Need::Database`]; `None` for [`Need::Reading`]).
pub struct Loaded {
    pub schema: Schema,
    pub db: Option<ScratchDb>,
    /// Whether it is (or, for [`Need::Reading`], comes from) the database a previous run
    /// loaded from the same statements, instead of a fresh load or an update.
    pub warm: bool,
    /// Whether the schema is the kept database's cached reading (`shadow::reading`) rather
    /// than a read of its catalog.
    pub cached_reading: bool,
    /// See [`Desired::incremental`].
    pub incremental: Option<usize>,
    /// See [`Desired::fallback`].
    pub fallback: Option<String>,
}

/// Length-prefixed SHA-256 (no two different lists hash alike), cut to 40 hex digits.
fn digest<'a>(parts: impl IntoIterator<Item = &'a str>) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for part in parts {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    h.finalize()
        .iter()
        .take(20)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The key of what a loaded desired database depends on besides its statements: the roles
/// created in the shadow beforehand, the shadow's version, settings and available extensions
/// ([`Shadow::warm_context`]), and schemaplan's version (the loader's session settings). A
/// kept database of another context is neither reused nor updated.
fn warm_context(shadow: &Shadow, roles: &[shadow::Role]) -> Result<String, WorkflowError> {
    // A role's `SUPERUSER` attribute changes what loads (`Shadow::prepare_roles`).
    let mut roles: Vec<String> = roles
        .iter()
        .map(|r| match r.superuser {
            true => format!("{}\tsuperuser", r.name),
            false => r.name.clone(),
        })
        .collect();
    roles.sort();
    roles.dedup();
    let settings = shadow.warm_context()?;
    let roles = roles.join("\n");
    Ok(digest([
        concat!("schemaplan ", env!("CARGO_PKG_VERSION"), " desired load"),
        settings.as_str(),
        roles.as_str(),
    ]))
}

/// The key of a kept desired database: its context ([`warm_context`]) and every statement as
/// loaded (so a file edited during the run changes nothing: what was read is what is keyed),
/// by digest ([`warm_statement`]). Anything else differing gives another key.
fn warm_key(context: &str, statements: &[shadow::warm::WarmStatement]) -> String {
    digest(std::iter::once(context).chain(statements.iter().map(|s| s.digest.as_str())))
}

/// What the incremental warm shadow needs to know of a statement: its digest (text and
/// annotations), the names it creates and references, and how it may be undone
/// ([`shadow::warm::Mode`]).
fn warm_statement(s: &crate::source::Statement) -> shadow::warm::WarmStatement {
    use crate::source::Annotation as A;
    use shadow::warm::Mode;
    // What each annotation says, not where: a statement moved to another line is the same.
    let annotations: String = s
        .annotations
        .iter()
        .map(|a| match a {
            A::RenamedFrom { from, column, .. } => format!("renamed {from:?} {column:?}\n"),
            A::Backfill { expr, column, .. } => format!("backfill {expr:?} {column:?}\n"),
            A::Using { expr, column, .. } => format!("using {expr:?} {column:?}\n"),
        })
        .collect();
    let upper = s.sql.to_ascii_uppercase();
    let mode = if s.imperative
        || matches!(
            s.kind.as_str(),
            "DO" | "ALTER DEFAULT PRIVILEGES" | "CREATE EVENT TRIGGER" | "ALTER EVENT TRIGGER"
        )
        // `GRANT ... ON ALL TABLES IN SCHEMA s` reaches the objects that exist when it runs.
        || (matches!(s.kind.as_str(), "GRANT" | "REVOKE") && upper.contains(" IN SCHEMA "))
    {
        Mode::Unsafe
    } else if s.kind == "CREATE CAST" {
        Mode::Untracked
    } else if s.kind.starts_with("CREATE ") || s.kind == "IMPORT FOREIGN SCHEMA" {
        Mode::Creates
    } else if s.references.is_empty() {
        // An attached statement naming nothing: the incremental path could not know when
        // what it changed is made again, so it would not re-run it.
        Mode::Unsafe
    } else {
        Mode::Attached
    };
    shadow::warm::WarmStatement {
        digest: digest([s.sql.as_str(), annotations.as_str()]),
        mode,
        creates: s.creates.clone(),
        references: s.references.clone(),
        kind: s.kind.clone(),
    }
}

/// The whole desired schema, before any scope, as read from its loaded database `client` is
/// connected to: what a kept database's cached reading holds (`shadow::reading`). It depends
/// on the database alone (the checks and clean-ups here too), so it can be cached with it;
/// the scope, which may differ from run to run, is applied after ([`in_scope`]).
///
/// How the catalog is read (`catalog::delta`): as a delta of `base` when there is one (the
/// delta state of the reading of the database this one is a copy of: an update of a kept
/// database, `shadow::warm`); else in full, keeping the delta state of this reading when
/// `track` (a database that is kept, or that the proof starts from); the state is returned
/// with the schema.
fn read_loaded(
    client: &mut postgres::Client,
    track: bool,
    base: Option<DeltaState>,
) -> Result<(Schema, Option<DeltaState>), WorkflowError> {
    reserved_schema(client)?;
    // The state's splice base is left without its schema (no copy of it is held until the
    // proof): [`give_delta_base`] gives it back.
    let (mut full, state) = match base {
        Some(mut state) => (
            catalog::delta::read_delta_alone(client, &mut state)?.0,
            Some(state),
        ),
        None if track => {
            let (schema, state) = catalog::delta::read_full_alone(client)?;
            (schema, Some(state))
        }
        None => (catalog::read(client)?, None),
    };
    // The shadow's tables are empty: the desired schema has no size facts, so nothing is
    // judged small by them (an inverse plan treats them as unknown). Sizes and owners are
    // all that the desired schema (a kept database's cached reading) takes out of the
    // catalog reading: the splice base stored with its delta state restores exactly those
    // (`catalog::splice::Stored::restore`), anything else changed here must be stored there.
    full.sizes.clear();
    owners::declared_owners(client, &mut full)?;
    Ok((full, state))
}

/// Gives `db` the delta state of its reading `full` ([`read_loaded`]) for the proof, with its
/// splice base's schema, which the read left out: loaded again from the cached reading when
/// the proof takes the state (`saved`, where [`Shadow::warm_save_reading`] put it), else a
/// copy of `full` made now (a database that is not kept).
fn give_delta_base(
    db: &ScratchDb,
    mut state: DeltaState,
    saved: Option<shadow::reading::BaseReading>,
    full: &Schema,
) {
    match saved {
        Some(base) => db.set_stored_delta_base(state, base),
        None => {
            if let Err(why) = state.restore_base(full.clone()) {
                crate::timings::note(&format!("the splice base is not used: {why}"));
            }
            db.set_delta_base(state);
        }
    }
}

/// The part in scope of a whole desired schema ([`read_loaded`]); a file that defines an
/// out-of-scope object is refused.
fn in_scope(full: Schema, ctx: &Context) -> Result<Schema, WorkflowError> {
    scope::check_loaded(&full, ctx)?;
    Ok(ctx.scope.into_inside(full))
}

/// [`read_loaded`] of `db` (the session closed after: a copy needs its template unused).
fn read_db(
    db: &ScratchDb,
    track: bool,
    base: Option<DeltaState>,
) -> Result<(Schema, Option<DeltaState>), WorkflowError> {
    let mut client = db.connect()?;
    read_loaded(&mut client, track, base)
}

/// The desired schema from the database kept for exactly these statements (`kept`): its
/// cached reading when there is one, else a read of its catalog (then cached). No copy is
/// made: for [`Need::Database`] the kept database itself is returned, pinned and used in place
/// ([`Shadow::warm_pin`]; the proof changes it only inside a transaction it rolls back), and
/// its catalog is read in place when no other run is copying it (else from a copy, as
/// before). `Ok(None)` when the kept database is gone meanwhile (evicted by another
/// process): the caller goes on as if there was none. The database returned carries the delta
/// state of its reading (stored with the cached reading, or made by the read here) for the
/// proof ([`ScratchDb::set_delta_base`]).
fn from_kept(
    shadow: &Shadow,
    kept: &shadow::Kept,
    ctx: &Context,
    need: Need,
) -> Result<Option<Loaded>, WorkflowError> {
    // For the database, the delta state stored with the reading too (the proof's first
    // reading of it is a delta read, spliced into the reading, loaded again then).
    let cached = match need {
        Need::Database => shadow.warm_reading_with_delta(kept),
        Need::Reading => shadow.warm_reading(kept).map(|full| (full, None)),
    };
    let cached_reading = cached.is_some();
    let (full, db) = match (cached, need) {
        (Some((full, _)), Need::Reading) => (full, None),
        (cached, _) => {
            let Some(db) = shadow.warm_pin(kept) else {
                return Ok(None);
            };
            let full = match cached {
                Some((full, stored)) => {
                    if let Some((state, base)) = stored {
                        db.set_stored_delta_base(state, base);
                    }
                    full
                }
                None => {
                    let (full, state) = read_kept(shadow, &db)?;
                    let saved = shadow.warm_save_reading(kept, &full, state.as_ref());
                    if let Some(state) = state {
                        give_delta_base(&db, state, saved, &full);
                    }
                    full
                }
            };
            (full, (need == Need::Database).then_some(db))
        }
    };
    Ok(Some(Loaded {
        schema: in_scope(full, ctx)?,
        db,
        warm: true,
        cached_reading,
        incremental: None,
        fallback: None,
    }))
}

/// [`read_loaded`] of a kept database used in place: connected to it when no other run is
/// copying it (the session is closed before the borrow ends), else read from a copy.
/// A copy keeps the rows' `xmin`s, so the delta state of its reading is one of the kept
/// database's too.
fn read_kept(
    shadow: &Shadow,
    db: &ScratchDb,
) -> Result<(Schema, Option<DeltaState>), WorkflowError> {
    match db.borrow() {
        Ok(borrowed) => {
            let mut client = borrowed.connect()?;
            let read = read_loaded(&mut client, true, None)?;
            drop(client);
            drop(borrowed);
            Ok(read)
        }
        Err(_) => read_db(&shadow.scratch_copy(db, "desired")?, true, None),
    }
}

/// A kept database of other statements (the one sharing the most with these), copied and
/// brought up to date incrementally (`shadow::warm::update`), with its new manifest and the
/// delta state stored with the base's reading (`shadow::reading`), of which the copy is read
/// as a delta (`None`: it is read in full, and `-v` says why). `Ok(None)` when there is none;
/// `Err` says why the incremental path gave up (the copy is dropped).
fn warm_update(
    shadow: &Shadow,
    context: &str,
    statements: &[LoadStatement],
    warm: &[shadow::warm::WarmStatement],
) -> Result<Option<WarmUpdated>, String> {
    let Some((name, manifest)) = shadow
        .warm_bases(context)
        .into_iter()
        .map(|(name, m)| (m.shared(warm), name, m))
        // The most shared statements, then the fewest left to undo (a base with one more
        // statement, say a `DO` block, would need more work or a fallback); newest first, so
        // the newest of the best.
        .fold(
            None,
            |best: Option<(usize, String, shadow::warm::Manifest)>, cand| {
                let better = |a: &(usize, String, shadow::warm::Manifest)| {
                    (cand.0, std::cmp::Reverse(cand.2.entries.len()))
                        > (a.0, std::cmp::Reverse(a.2.entries.len()))
                };
                match &best {
                    Some(b) if !better(b) => best,
                    _ => Some(cand),
                }
            },
        )
        // Sharing less than half, re-running would cost about what a fresh load does.
        .filter(|(shared, _, _)| shared * 2 >= warm.len())
        .map(|(_, name, m)| (name, m))
    else {
        return Ok(None);
    };
    // Exactly the base of that name (its OID checked after the copy): the stored state is
    // of that database, and only its copies may be read as deltas of it.
    let Some(base) = shadow.warm_kept_named(&name) else {
        return Ok(None);
    };
    // The base's stored delta state is loaded on a thread of its own while the server copies
    // the base and the update runs (~0.6 s of client CPU at 5,000 tables beside the copy's
    // server work: issue 9); used only when the copy and the update succeed.
    let (copied, base) = std::thread::scope(|s| {
        let state = s.spawn(|| shadow.warm_delta_state(&base));
        let copied = (|| {
            // In place when no other run uses the base: no copy (issue 9). The update runs in
            // one transaction, so when it fails (an error in the edited files, a statement no
            // transaction block runs, an enum value used where it was added) the base is as it
            // was: it is given back and a copy of it updated, as when another run uses it.
            if let Some(db) = shadow.warm_take(&base, "desired") {
                match update_in_place(&db, &manifest, statements, warm) {
                    Ok(updated) => return Ok(Some((db, updated))),
                    Err(why) => {
                        crate::timings::note(&format!(
                            "the kept database was not updated in place ({why}): a copy is"
                        ));
                        if !shadow.warm_give_back(db, &base) {
                            return Ok(None);
                        }
                    }
                }
            }
            let Some(db) = shadow.warm_copy_of(&base, "desired") else {
                return Ok(None);
            };
            let mut client = db.connect().map_err(|e| e.to_string())?;
            let updated = crate::timings::stage("warm shadow update", || {
                shadow::warm::update(&mut client, &manifest, statements, warm)
            })
            .map_err(|e| e.0)?;
            Ok::<_, String>(Some((db, updated)))
        })();
        let state = state
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (copied, state)
    });
    let Some((db, updated)) = copied? else {
        return Ok(None);
    };
    if base.is_none() {
        crate::timings::note(
            "the updated desired database is read in full: no delta state is stored with the \
             reading of the kept database it was copied from",
        );
    }
    Ok(Some(WarmUpdated { db, updated, base }))
}

/// [`shadow::warm::update`] of `db` (a kept database taken over by this run,
/// `Shadow::warm_take`) in one transaction: committed when it succeeds, rolled back (leaving
/// `db` as it was) when not. The session is closed on return.
fn update_in_place(
    db: &ScratchDb,
    manifest: &shadow::warm::Manifest,
    statements: &[LoadStatement],
    warm: &[shadow::warm::WarmStatement],
) -> Result<shadow::warm::Updated, String> {
    let mut client = db.connect().map_err(|e| e.to_string())?;
    let sql_error = |e: postgres::Error| crate::db::error_text(&e);
    client.batch_execute("BEGIN").map_err(sql_error)?;
    let updated = crate::timings::stage("warm shadow update", || {
        shadow::warm::update(&mut client, manifest, statements, warm)
    });
    match updated {
        Ok(updated) => {
            client.batch_execute("COMMIT").map_err(sql_error)?;
            Ok(updated)
        }
        Err(why) => {
            let _ = client.batch_execute("ROLLBACK");
            Err(why.0)
        }
    }
}

/// What [`warm_update`] gives.
struct WarmUpdated {
    /// The updated copy.
    db: ScratchDb,
    updated: shadow::warm::Updated,
    /// The delta state of the base's reading, when stored.
    base: Option<DeltaState>,
}

/// Like [`desired_in`], keeping the loaded database ([`Need::Database`]).
pub fn desired_db(
    shadow: &Shadow,
    source: &SourceSet,
    roles: &[shadow::Role],
    ctx: &Context,
) -> Result<Desired, WorkflowError> {
    Ok(desired_load(shadow, source, roles, ctx, Need::Database)?.into_desired())
}

impl Loaded {
    /// The [`Desired`] of a load made for [`Need::Database`].
    pub fn into_desired(self) -> Desired {
        Desired {
            schema: self.schema,
            db: self
                .db
                .expect("desired_load returns the database it was asked for"),
            warm: self.warm,
            cached_reading: self.cached_reading,
            incremental: self.incremental,
            fallback: self.fallback,
        }
    }
}

/// The one place that decides how the desired schema is had, for every command that needs it
/// (`plan`, `drift`). A scoped run (context objects created before the files) neither uses nor
/// keeps a warm database: its key would have to cover the live context too.
///
/// On the embedded shadow, in this order: the database kept for exactly these statements
/// (its cached reading, `shadow::reading`, and the kept database itself, used in place, when
/// `need` asks for the database: no copy); else a copy of the kept database sharing the most
/// statements, updated incrementally (`shadow::warm`); else (or when the update gives up) a
/// fresh load. Every loaded or updated database is kept for the next run by renaming it (no
/// copy), with its manifest and its reading, and (for [`Need::Database`]) returned as the
/// kept database in place. `--no-cache` (or `--dev-url`) is always a fresh load.
pub fn desired_load(
    shadow: &Shadow,
    source: &SourceSet,
    roles: &[shadow::Role],
    ctx: &Context,
    need: Need,
) -> Result<Loaded, WorkflowError> {
    scope::check_source(source, &ctx.scope)?;
    shadow.prepare_roles(roles)?;
    owners::check_superuser_owners(shadow, source, roles)?;
    let loaded: Vec<&crate::source::Statement> = source
        .statements
        .iter()
        .filter(|s| !about_subscription(s))
        .collect();
    let statements: Vec<LoadStatement> = loaded
        .iter()
        .map(|s| LoadStatement {
            sql: s.sql.clone(),
            origin: explain::origin(s),
        })
        .collect();
    let warm_enabled = shadow.warm_enabled() && ctx.steps.is_empty();
    let warm: Vec<shadow::warm::WarmStatement> = match warm_enabled {
        true => loaded.iter().map(|s| warm_statement(s)).collect(),
        false => Vec::new(),
    };
    let context = match warm_enabled {
        true => Some(warm_context(shadow, roles)?),
        false => None,
    };
    let key = context.as_deref().map(|c| warm_key(c, &warm));
    if let Some(kept) = key.as_deref().and_then(|k| shadow.warm_kept(k)) {
        if let Some(desired) = from_kept(shadow, &kept, ctx, need)? {
            return Ok(desired);
        }
    }
    // Whatever database is loaded or updated below is the one read, kept, and (for
    // `Need::Database`) returned with the delta state of its reading (for the proof); its
    // reading and that state are saved as the new kept database's.
    let finish =
        |db: ScratchDb, full: Schema, state: Option<DeltaState>, kept: Option<shadow::Kept>| {
            let saved = kept
                .as_ref()
                .and_then(|kept| shadow.warm_save_reading(kept, &full, state.as_ref()));
            if let Some(state) = state.filter(|_| need == Need::Database) {
                give_delta_base(&db, state, saved, &full);
            }
            let schema = in_scope(full, ctx)?;
            Ok::<_, WorkflowError>((schema, (need == Need::Database).then_some(db)))
        };
    // The delta state of a reading is kept when the database is (the next run's update or
    // proof reads it as a delta), or when the proof starts from it.
    let track = context.is_some() || need == Need::Database;
    let mut fallback = None;
    if let (Some(context), Some(key)) = (&context, &key) {
        match warm_update(shadow, context, &statements, &warm) {
            Ok(Some(WarmUpdated { db, updated, base })) => {
                let (full, state) = read_db(&db, track, base)?;
                let (db, kept) = shadow.warm_keep(db, key, Some(&updated.manifest));
                let (schema, db) = finish(db, full, state, kept)?;
                return Ok(Loaded {
                    schema,
                    db,
                    warm: false,
                    cached_reading: false,
                    incremental: Some(updated.rerun),
                    fallback: None,
                });
            }
            Ok(None) => {}
            Err(why) => fallback = Some(why),
        }
    }
    // Roles are cluster-wide and never part of schema files: a role the files grant to but
    // the shadow lacks is created there (NOLOGIN) and the load is retried.
    let mut attempts = 0;
    loop {
        let db = shadow.scratch("desired")?;
        let mut client = db.connect()?;
        ctx.load(&mut client)?;
        // Kept loads record which OIDs each statement's objects got, for later updates.
        let result = match &context {
            Some(_) => shadow::load_tracked(&mut client, &statements).map(Some),
            None => shadow::load(&mut client, &statements).map(|()| None),
        };
        match result {
            Ok(oids) => {
                let (full, state) = read_loaded(&mut client, track, None)?;
                // Closed before keeping: a database with a session cannot be renamed.
                drop(client);
                let (db, kept) = match (&key, &context, oids) {
                    (Some(k), Some(c), Some(oids)) => {
                        let manifest = shadow::warm::Manifest::new(c, &warm, &oids);
                        shadow.warm_keep(db, k, Some(&manifest))
                    }
                    _ => (db, None),
                };
                let (schema, db) = finish(db, full, state, kept)?;
                return Ok(Loaded {
                    schema,
                    db,
                    warm: false,
                    cached_reading: false,
                    incremental: None,
                    fallback,
                });
            }
            Err(e) => match owners::missing_role(&e) {
                Some(role) if attempts < 50 => {
                    attempts += 1;
                    shadow.ensure_roles(&[role])?;
                }
                _ => {
                    let mut e = e;
                    if let LoadError::Statement(st) = &mut e {
                        explain::explain(st, source);
                    }
                    return Err(WorkflowError::Load(e));
                }
            },
        }
    }
}

/// A plan in both directions.
pub struct Planned {
    pub forward: Vec<Step>,
    pub inverse: Vec<Step>,
    /// Columns the inverse adds back without their `NOT NULL` and constraints it adds back
    /// `NOT VALID` or leaves out (see `contract::unrestorable`, `contract::relax`), named as in
    /// the current schema (before declared table renames): the proof expects them to differ
    /// from the current schema in that alone.
    pub unrestored: Vec<crate::model::ObjectId>,
    /// Whether the drops wait for `contract` ([`contract`]); false when the desired schema
    /// drops nothing or the phased plan did not prove out ([`plan_proven`]).
    pub contract_drops: bool,
}

/// Steps tagged with the object each is about, all in `phase`.
fn in_phase(steps: Vec<plan::Tagged>, phase: plan::Phase) -> Vec<plan::Tagged> {
    steps
        .into_iter()
        .map(|mut t| {
            t.step.phase = phase;
            t
        })
        .collect()
}

/// The steps from `from` to `to`, with the unmodeled objects of `live` they must carry over.
/// The diff is `diffs`' when it is one of its two, else made here.
fn part(
    diffs: &PlanDiffs,
    from: &Schema,
    to: &Schema,
    live: &Schema,
    opts: &PlanOptions,
) -> Vec<plan::Tagged> {
    let made;
    let changes = match diffs.of(from, to, opts.server_version) {
        Some(c) => c,
        None => {
            made = diff::diff_for(from, to, opts.server_version);
            &made
        }
    };
    let steps = plan::build_marked(changes, from, to, opts);
    unmodeled::carry_over(changes, steps, live, to, opts)
}

/// Plans `current -> desired` and the inverse `desired -> current`. Inverse steps that
/// re-create what a forward step destroyed say that the data does not come back.
///
/// What the desired schema drops waits for `contract` (see [`contract`]): the forward plan is
/// `current -> middle` (expand) then `middle -> desired` (contract), the inverse
/// `desired -> middle` (expand) then `middle -> current` (contract). With declared renames the
/// forward plan is framed by the renames' `expand` steps before and their `contract` steps
/// after: the rest is diffed from the current schema with the renames done. The inverse undoes
/// each phase: its `expand` steps undo the forward `contract` (the old names and the dropped
/// objects come back beside the new ones), its `contract` steps undo the forward `expand` (the
/// rest of the inverse, then the renames back). A rollback after the forward `expand` alone
/// therefore runs only the inverse's `contract` steps (`exec::preflight`). A plan without
/// contract steps keeps everything in `expand`, both ways. `contract_drops: false` plans the
/// drops in `expand` (the fallback of [`plan_proven`]).
pub fn plan_both(
    current: &Schema,
    desired: &Schema,
    renames: Option<&Renames>,
    opts: &PlanOptions,
    contract_drops: bool,
) -> Planned {
    let base = renames.map(|r| &r.current).unwrap_or(current);
    let diffs = PlanDiffs::new(base, desired, opts.server_version);
    plan_both_with(&diffs, current, desired, renames, opts, contract_drops)
}

/// [`plan_both`] with the diffs of `base -> desired` and back from `diffs` (made for the
/// schema the plan starts from: `current`, or the renames' `current`).
pub(crate) fn plan_both_with(
    diffs: &PlanDiffs,
    current: &Schema,
    desired: &Schema,
    renames: Option<&Renames>,
    opts: &PlanOptions,
    contract_drops: bool,
) -> Planned {
    use plan::Phase::{Contract, Expand};
    let base = renames.map(|r| &r.current).unwrap_or(current);
    // What the inverse cannot restore on a database with rows (dropped NOT NULL columns whose
    // values are gone, keys to dropped tables, constraints over those columns): it brings
    // them back relaxed, phased or not, and says so on the step that creates each.
    let lost = contract::unrestorable(base, desired);
    let middle = contract_drops
        .then(|| contract::middle(base, desired, &lost))
        .flatten();
    let unrestored: Vec<ObjectId> = lost.iter().map(|u| u.id.clone()).collect();
    // The inverse's end: the diffs' own `base` when nothing is lost (their cached diff, and no
    // copy of the whole schema: issue 9), else a copy relaxed as the inverse leaves it.
    let relaxed_base;
    let target = if lost.is_empty() {
        base
    } else {
        let mut copy = base.clone();
        contract::relax(&mut copy, &unrestored);
        relaxed_base = copy;
        &relaxed_base
    };
    let with_relax_notes = |steps: Vec<plan::Tagged>| -> Vec<plan::Tagged> {
        steps
            .into_iter()
            .map(|mut t| {
                if t.creates {
                    let notes = lost.iter().filter(|u| u.step == t.object);
                    t.step = t.step.clone().notes(notes.map(|u| u.note.clone()));
                }
                t
            })
            .collect()
    };
    let (forward, inverse) = match &middle {
        None => (
            in_phase(part(diffs, base, desired, current, opts), Expand),
            in_phase(
                with_relax_notes(part(diffs, desired, target, current, opts)),
                if renames.is_some() { Contract } else { Expand },
            ),
        ),
        Some(m) => {
            let forward_expand = part(diffs, base, &m.schema, current, opts)
                .into_iter()
                .map(|mut t| {
                    let id = &t.object;
                    let notes = m.notes.iter().filter(|(o, _)| o == id);
                    let mut s = t.step.notes(notes.map(|(_, n)| n.clone()));
                    if m.relaxed
                        .iter()
                        .any(|(q, c)| *id == ObjectId::Column(q.clone(), c.clone()))
                    {
                        s = s.note(
                            "NOT NULL is dropped in expand because the column is dropped in \
                             contract: the new application inserts without it",
                        );
                    }
                    t.step = s;
                    t
                })
                .collect();
            // The inverse sees the middle like the desired schema: sizes unknown.
            let mut back_middle = m.schema.clone();
            back_middle.sizes.clear();
            let mut forward = in_phase(forward_expand, Expand);
            forward.extend(in_phase(
                part(diffs, &m.schema, desired, current, opts),
                Contract,
            ));
            let mut inverse = in_phase(
                with_relax_notes(part(diffs, desired, &back_middle, current, opts)),
                Expand,
            );
            inverse.extend(in_phase(
                with_relax_notes(part(diffs, &back_middle, target, current, opts)),
                Contract,
            ));
            (forward, inverse)
        }
    };
    // A VIRTUAL generated column (PostgreSQL 18) stores nothing: its forward drop keeps the
    // conservative `data-loss` (`kinds::column::drop`), but adding it back loses nothing,
    // so its inverse step gets no "not restored" note.
    let stores_nothing = |id: &ObjectId| match id {
        ObjectId::Column(q, c) => base
            .tables
            .get(q)
            .and_then(|t| t.column(c))
            .is_some_and(|col| col.generated_virtual),
        _ => false,
    };
    let data_lost: std::collections::BTreeSet<&ObjectId> = forward
        .iter()
        .filter(|t| t.step.hazards.contains(&plan::Hazard::DataLoss) && !stores_nothing(&t.object))
        .map(|t| &t.object)
        .collect();
    // On the step that re-creates the object only, not on its comment or grants.
    let inverse: Vec<Step> = inverse
        .iter()
        .map(|t| {
            if t.creates
                && data_lost.contains(&t.object)
                && !t.step.hazards.contains(&plan::Hazard::DataLoss)
            {
                t.step.clone().note(
                    "re-creates the structure only: data the forward plan dropped is not restored",
                )
            } else {
                t.step.clone()
            }
        })
        .collect();
    // A dropped column of a NOT NULL domain cannot come back on a table with rows: the
    // reviewer reads it on the drop.
    let domain_lost = contract::unrestorable_domain_columns(base, desired);
    let forward: Vec<Step> = forward
        .into_iter()
        .map(|t| {
            if domain_lost.contains(&t.object) && t.step.hazards.contains(&plan::Hazard::DataLoss) {
                t.step.note(
                    "its type is a NOT NULL domain without a default: the inverse cannot add it \
                     back while the table has rows (each would be NULL), so a rollback after \
                     this step fails there",
                )
            } else {
                t.step
            }
        })
        .collect();
    let contract_drops = forward.iter().any(|s| s.phase == Contract);
    let (forward, inverse) = match renames {
        None => (forward, inverse),
        Some(r) => {
            let changes: Vec<diff::Change> =
                r.list.iter().cloned().map(diff::Change::Rename).collect();
            let undo: Vec<diff::Change> = r
                .list
                .iter()
                .rev()
                .cloned()
                .map(diff::Change::UndoRename)
                .collect();
            // A column renamed on a table renamed by the same plan: its steps run on the new
            // table name, whose live size (what the online forms go by) is the old one's.
            let sized;
            let renames_current = if r.list.iter().any(|x| {
                matches!(x, diff::Rename::Column { table, table_before, .. } if table != table_before)
            }) {
                let mut s = current.clone();
                for (q, bytes) in &r.current.sizes {
                    s.sizes.entry(q.clone()).or_insert(*bytes);
                }
                sized = s;
                &sized
            } else {
                current
            };
            let (expand, contract) = plan::build_renames(&changes, renames_current, desired, opts);
            let (undo_expand, undo_contract) = plan::build_renames(&undo, desired, current, opts);
            let forward = expand.into_iter().chain(forward).chain(contract).collect();
            let inverse = undo_expand
                .into_iter()
                .chain(inverse)
                .chain(undo_contract)
                .collect();
            (forward, inverse)
        }
    };
    // A plan without contract steps keeps everything in `expand`, both ways.
    let phased = forward.iter().any(|s| s.phase == Contract);
    let flat = |steps: Vec<Step>| -> Vec<Step> {
        steps
            .into_iter()
            .map(|mut s| {
                if !phased {
                    s.phase = Expand;
                }
                s
            })
            .collect()
    };
    // `unrestored` names the tables as the middle does, after the declared table renames; the
    // inverse renames them back, so its end (the proof, the inverse's `to` fingerprint) has
    // them under their current names.
    let unrestored = unrestored
        .into_iter()
        .map(|id| {
            let Some(r) = renames else {
                return id;
            };
            let back = |q: crate::model::QName| {
                r.list
                    .iter()
                    .find_map(|x| match x {
                        diff::Rename::Table { from, to, .. } if *to == q => Some(from.clone()),
                        _ => None,
                    })
                    .unwrap_or(q)
            };
            match id {
                ObjectId::Column(q, c) => ObjectId::Column(back(q), c),
                ObjectId::Constraint(q, n) => ObjectId::Constraint(back(q), n),
                id => id,
            }
        })
        .collect();
    Planned {
        forward: flat(forward),
        inverse: flat(inverse),
        unrestored,
        contract_drops,
    }
}

/// Plans both directions and proves them. When the only objects that fail the proof are CHECK
/// constraints PostgreSQL cannot print back faithfully, plans once more with the user's own
/// text for them (see `original`) and proves that.
///
/// A plan whose drops wait for `contract` goes through an intermediate schema PostgreSQL may
/// refuse in a case [`contract::middle`] does not foresee (a dropped view reading a column
/// whose type changes, ...). When that plan fails its proof, or its inverse does and the
/// plan with the drops in `expand` has a proven inverse, the latter is used and
/// [`ProofReport::drops_in_expand`] says why.
///
/// `diffs` holds the diffs of the schema the plan starts from (`current`, or the renames'
/// `current`) to `desired` and back, shared with the caller's checks: every plan made here
/// takes them from there (each is made once, [`PlanDiffs`]).
// The scope's context and the loaded desired database joined the proof's inputs together: a
// `ProofInputs` value would carry them (left for the issue 9 follow-up).
#[allow(clippy::too_many_arguments)]
pub fn plan_proven(
    diffs: &PlanDiffs,
    shadow: &Shadow,
    ctx: &Context,
    desired_db: Option<&ScratchDb>,
    current: &Schema,
    desired: &Schema,
    source: &SourceSet,
    renames: Option<&Renames>,
    opts: &PlanOptions,
) -> Result<(Planned, ProofReport), WorkflowError> {
    let phased = plan_proven_with(
        diffs, shadow, ctx, desired_db, current, desired, source, renames, opts, true,
    );
    let why = match &phased {
        Ok((p, _)) if !p.contract_drops => return phased,
        Ok((_, report)) => match &report.inverse_problem {
            None => return phased,
            Some(p) => format!("its inverse did not prove out: {p}"),
        },
        Err(WorkflowError::Proof(m)) | Err(WorkflowError::ProofMismatch { message: m, .. }) => {
            format!("it did not prove out: {m}")
        }
        Err(_) => return phased,
    };
    match plan_proven_with(
        diffs, shadow, ctx, desired_db, current, desired, source, renames, opts, false,
    ) {
        Ok((planned, mut report)) if phased.is_err() || report.inverse_problem.is_none() => {
            report.drops_in_expand = Some(format!(
                "the plan with the drops in the contract phase was not used, {why}"
            ));
            Ok((planned, report))
        }
        _ => phased,
    }
}

#[allow(clippy::too_many_arguments)]
fn plan_proven_with(
    diffs: &PlanDiffs,
    shadow: &Shadow,
    ctx: &Context,
    desired_db: Option<&ScratchDb>,
    current: &Schema,
    desired: &Schema,
    source: &SourceSet,
    renames: Option<&Renames>,
    opts: &PlanOptions,
    contract_drops: bool,
) -> Result<(Planned, ProofReport), WorkflowError> {
    let planned = plan_both_with(diffs, current, desired, renames, opts, contract_drops);
    match prove(shadow, ctx, desired_db, current, desired, &planned, opts) {
        Ok(report) => Ok((planned, report)),
        Err(WorkflowError::ProofMismatch { objects, message }) => {
            let texts = original::check_texts(source);
            let mut opts = opts.clone();
            for id in &objects {
                let crate::model::ObjectId::Constraint(t, n) = id else {
                    return Err(WorkflowError::ProofMismatch { objects, message });
                };
                match texts.get(&(t.clone(), n.clone())) {
                    Some(text) => {
                        opts.check_texts
                            .insert((t.clone(), n.clone()), text.clone());
                    }
                    None => return Err(WorkflowError::ProofMismatch { objects, message }),
                }
            }
            let planned = plan_both_with(diffs, current, desired, renames, &opts, contract_drops);
            let report = prove(shadow, ctx, desired_db, current, desired, &planned, &opts)?;
            Ok((planned, report))
        }
        Err(e) => Err(e),
    }
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
