//! The desired side of a plan: the one decision of how the desired schema is had
//! ([`desired_load`]: a kept database's cached reading or the kept database in place, a kept
//! database of other statements updated incrementally, or a fresh load into the shadow), the
//! reading of a loaded database ([`read_loaded`]) with the delta state the proof reads it by,
//! and the schema-file statements never loaded (subscriptions). What a kept database is keyed
//! by, and the incremental update, are `workflow::warm`'s.

use super::warm::{warm_context, warm_key, warm_statement, warm_update, WarmUpdated};
use super::{explain, owners, scope, Context, WorkflowError};
use crate::catalog::delta::DeltaState;
use crate::catalog::{self, CatalogError};
use crate::model::Schema;
use crate::shadow::{self, LoadError, LoadStatement, ScratchDb, Shadow};
use crate::source::SourceSet;

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

/// The desired schema of the schema files, without a scope: [`desired_in`] with no context
/// (had as [`desired_load`] decides: kept, updated or loaded afresh).
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
/// proof starts from it ([`prove`](super::prove())) instead of loading the current schema again.
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
    ctx: &Context,
) {
    match saved {
        Some(base) => db.set_stored_delta_base(state, held(base, ctx)),
        None => {
            if let Err(why) = state.restore_base(full.clone()) {
                crate::timings::note(&format!("the splice base is not used: {why}"));
            }
            db.set_delta_base(state);
        }
    }
}

/// `base`, the stored reading of a desired schema, said to be the desired schema itself
/// when no scope takes anything out of it ([`in_scope`] gives the reading as it is): the
/// proof may then take its splice base from a copy of that schema rather than the file
/// (`shadow::reading::BaseReading::held_by_caller`).
fn held(mut base: shadow::reading::BaseReading, ctx: &Context) -> shadow::reading::BaseReading {
    if ctx.scope.is_everything() {
        base.held_by_caller();
    }
    base
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
                        db.set_stored_delta_base(state, held(base, ctx));
                    }
                    full
                }
                None => {
                    let (full, state) = read_kept(shadow, &db)?;
                    let saved = shadow.warm_save_reading(kept, &full, state.as_ref());
                    if let Some(state) = state {
                        give_delta_base(&db, state, saved, &full, ctx);
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
            sql: s.sql.as_str().into(),
            origin: explain::origin(s),
        })
        .collect();
    let warm_enabled = shadow.warm_enabled() && ctx.steps.is_empty();
    let warm: Vec<shadow::warm::WarmStatement> = match warm_enabled {
        // Interned: a name that several statements create or reference is stored once.
        true => crate::timings::stage("warm statements", || {
            crate::model::interning(|| loaded.iter().map(|s| warm_statement(s)).collect())
        }),
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
                give_delta_base(&db, state, saved, &full, ctx);
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
                let (db, kept) = crate::timings::stage("keep", || {
                    shadow.warm_keep(db, key, Some(updated.manifest))
                });
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
                        shadow.warm_keep(db, k, Some(manifest))
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
