//! Delta read: the reading of a database whose earlier reading is known, re-running the catalog
//! queries only for the objects whose catalog rows changed since, and giving exactly what a
//! full [`super::read`] would give (the proof reads its scratch database after each run of
//! steps: `workflow::prove`, issue 9).
//!
//! Owns: which queries keep their rows between reads and which object each row belongs to
//! ([`key_of`], `rows`), the census of the catalogs that tells which objects changed, and the
//! closure of that set over `pg_depend` (`census`); this file holds the state between reads
//! and the reads themselves. The rows themselves are turned into the model by the same
//! code as a full read (`catalog::build`). Only the changed objects' rows are built, spliced
//! into the last reading in place of what it had of them (`catalog::splice`, which owns how
//! and when that cannot be trusted); when it cannot, the whole model is built again as a full
//! read would, its kept queries getting the rows of unchanged objects from the last read
//! instead of from the server ([`Build`] says which, `-v` why).
//!
//! **What changed is found in the catalogs, never taken from the plan** (the proof must catch
//! steps that touch objects the plan does not name). The census is one query: for every oid
//! that owns catalog rows (a relation its `pg_attribute` rows, an object its `pg_depend` and
//! `pg_description` rows, ...), how many rows it owns, and whether any of them was written by
//! a transaction the last read's snapshot did not see (`pg_visible_in_snapshot` of its `xmin`
//! against that snapshot, kept from the last read: a transaction still running then counts as
//! unseen, so a concurrent writer cannot slip a row in). A row inserted or updated since is
//! such a row; a row deleted lowers the count (a delete with an insert leaves an unseen row).
//! An owner with unseen rows, or whose count differs, appears or disappears, has changed.
//! `xmin` is a 32-bit id, compared as the 64-bit id of epoch 0: while the cluster's transaction
//! ids have not wrapped around (`pg_current_snapshot()` still in epoch 0) that is exact, frozen
//! rows included (they keep their raw `xmin`, older than any snapshot); past that, a frozen row
//! of an earlier epoch could pass for a new one, and the read is full. A copy by `CREATE
//! DATABASE ... TEMPLATE` keeps its rows and their `xmin`s, so a copy of a read database can be
//! read as a delta of that reading.
//!
//! What a changed object's rows render can also appear in other objects' rows (a renamed
//! table's name in a view's definition, a foreign key's, an index's): the changed set is
//! closed over `pg_depend` - everything that depends on a changed object (whatever the
//! dependency type), and what a changed object belongs to (`a`uto and `i`nternal dependencies:
//! an index's table, a rule's view, a default's table) - until nothing is added.
//!
//! Anything the census cannot vouch for makes the read full, with the reason (`-v`): another
//! server or server version, a role renamed, created or dropped (role names are rendered in
//! owners, grants and policies), a later `xmin` epoch, an earlier read that failed, or a
//! catalog of the census this role may not read (`has_table_privilege`, asked for every
//! catalog of the census on each read; only catalogs no kept row is made of are simply left
//! out, see `NOT_IN_KEPT_ROWS`).
//!
//! The kept rows are held in a compact form (`KeptRows`: each value's bytes as the server sent
//! them after a varint length, a query's rows in one buffer), not as `postgres::Row`s, and are decoded by the builders
//! through the same typed access as live rows (`build::RowSource`). The
//! queries that are not kept (the small ones: schemas, extensions, publications, text search,
//! operators, casts, default privileges, unmodeled objects ...) run in full every time.
//!
//! A state can be stored and restored (`serde`; the file, its key and its integrity are
//! `shadow::reading`'s): a kept desired database's state is stored with its reading, so the
//! read of an updated copy of it and the proof's first reading of it are delta reads in a
//! later run. A restored state names no server start (the server restarts between runs): its
//! file's key vouches for the cluster, and everything else is checked as for a state in
//! memory. Its splice base is stored too, but for the schema, which is the reading stored
//! beside it ([`DeltaState::restore_base`] puts them together): the first delta read of a
//! restored state splices into that reading as into one in memory, with the same checks.
//!
//! Tables' sizes (`Schema::sizes`, a plan-time fact, not schema) of re-used rows are those of
//! the earlier read: data written since does not change the catalog.

use super::build::{RawValue, RowSource};
use super::splice::{self, Base};
use super::{get, CatalogError};
use crate::model::Schema;
use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};
use postgres::types::{ToSql, Type};
use postgres::Row;
use std::sync::Arc;

mod census;
mod rows;

use census::*;
use rows::*;

pub(super) use rows::key_of;
pub use rows::RowCache;

/// The first oid not assigned by initdb (`FirstNormalObjectId`).
const FIRST_USER_OID: u32 = 16384;

/// What a delta read needs of the last read of a database: its kept rows and its census.
/// Made by [`read_full`], advanced by every [`read_delta`].
pub struct DeltaState {
    cache: RowCache,
    /// How many catalog rows each owner owns.
    census: Counts,
    /// The snapshot of the last read (`pg_current_snapshot()` as text).
    snapshot: String,
    /// The role names (md5 of oid and name of every role).
    roles: String,
    /// Which server (start time and port): oids and xids mean nothing on another. Empty in a
    /// state restored from a file (`Deserialize`): the server has restarted since, and whoever
    /// restores a state vouches that it is of the same cluster (its file's key names the
    /// cluster's `system_identifier`, `shadow::reading`); oids and xids survive a restart.
    server: String,
    version: i32,
    /// False after a read that failed half-way (the cache may be partly replaced).
    valid: bool,
    /// The last reading, kept to splice the next delta read into (`catalog::splice`); `None`
    /// before a first reading or after a read that failed. Stored with the rest, but for its
    /// schema (see the `Serialize` impl); a restored state has it once
    /// [`DeltaState::restore_base`] gave it its schema.
    base: Option<Base>,
    /// A restored state's base, stored without its schema, until [`DeltaState::restore_base`].
    stored_base: Option<splice::Stored>,
    /// The schema of the stored base, still on its way ([`DeltaState::restore_base_later`]):
    /// waited for by the next read only once it needs the base.
    coming_base: Option<ComingBase>,
    /// How the last read built its schema.
    built: Build,
}

/// Gives the schema of a stored splice base when it is loaded (`None`: it could not be):
/// [`DeltaState::restore_base_later`].
pub type ComingBase = Box<dyn FnOnce() -> Option<Schema> + Send>;

/// How a read built its schema (the catalog queries it ran are its [`Outcome`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Build {
    /// Only the objects read again were built, into the previous reading
    /// (`catalog::splice`): `roots` objects (a table with its columns, indexes ... is one).
    Spliced { roots: usize },
    /// The whole schema was built (from the server's rows, or the kept ones and those read
    /// again), and why not spliced.
    All { why: String },
}

/// How a [`read_delta`] went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The queries ran for these objects only (`changed` oids after the closure; 0 when
    /// nothing changed).
    Delta { changed: usize },
    /// The whole catalog was read, and why.
    Full { why: String },
}

impl DeltaState {
    /// No reading yet: the first read through it is full.
    fn empty() -> DeltaState {
        DeltaState {
            cache: RowCache::default(),
            census: Counts::default(),
            snapshot: String::new(),
            roles: String::new(),
            server: String::new(),
            version: 0,
            valid: false,
            base: None,
            stored_base: None,
            coming_base: None,
            built: Build::All {
                why: "no reading yet".to_string(),
            },
        }
    }

    /// How the last read through this state built its schema.
    pub fn last_build(&self) -> &Build {
        &self.built
    }

    /// Gives a restored state the schema of its base (the reading the next delta read splices
    /// into, `catalog::splice`): `reading`, the schema stored beside the state, which the
    /// caller vouches is of the same reading (`shadow::reading`: the state's file is keyed
    /// by the reading file's digest). Without it, or when this fails (`Err` says why), the
    /// first delta read builds the whole schema from the kept rows, as before splicing.
    pub fn restore_base(&mut self, reading: Schema) -> Result<(), String> {
        if self.base.is_some() {
            return Err("the delta state's splice base is already in memory".to_string());
        }
        let stored = self
            .stored_base
            .take()
            .ok_or_else(|| "no splice base was stored with the delta state".to_string())?;
        self.base = Some(restored(stored, reading, self.valid)?);
        Ok(())
    }

    /// [`DeltaState::restore_base`] with a schema still being loaded (on a thread of the
    /// caller's): `reading` is called by the next delta read once its census and closure
    /// ran, when it needs its splice base, and not at all by a read that turns out full. The
    /// load runs beside the server's work of that census (~0.2-0.3 s each at 5,000 tables,
    /// the proof's first reading: issue 9) instead of before it.
    pub fn restore_base_later(&mut self, reading: ComingBase) {
        self.coming_base = Some(reading);
    }
}

/// A stored splice base given its schema `reading`, when the state it was stored with is of a
/// complete read (`valid`): [`DeltaState::restore_base`] and a base waited for by a read.
fn restored(stored: splice::Stored, reading: Schema, valid: bool) -> Result<Base, String> {
    if !valid {
        return Err("the stored delta state is of a read that failed".to_string());
    }
    stored.restore(reading)
}

/// The splice base of a restored state whose schema was on its way
/// ([`DeltaState::restore_base_later`]), now given it (`was_valid`: the state was complete
/// before this read began); `None`, said under `-v`, when it cannot be.
fn arrived_base(coming: (ComingBase, splice::Stored), was_valid: bool) -> Option<Base> {
    let (reading, stored) = coming;
    let base = match crate::timings::stage("catalog: splice base wait", reading) {
        None => Err("its schema could not be loaded".to_string()),
        Some(schema) => restored(stored, schema, was_valid),
    };
    base.map_err(|why| crate::timings::note(&format!("the stored splice base is not used: {why}")))
        .ok()
}

impl DeltaState {
    /// Drops the schema of the splice base, keeping the rest of it as it is stored
    /// (`splice::Stored`): [`DeltaState::restore_base`] gives it back, with the reading this
    /// state made (the cached reading of a kept database, or a copy of it). Stored to a file,
    /// a shelved state is written as it would have been with its schema.
    fn shelve_base(&mut self) {
        if let Some(base) = self.base.take() {
            self.stored_base = Some(base.into_stored());
        }
    }
}

/// A state is stored beside the reading of a kept database (`shadow::reading`, which keys the
/// file by build, cluster and database and checks its integrity) so that a later run reads
/// that database, or a `CREATE DATABASE ... TEMPLATE` copy of it, as a delta of it. Stored:
/// whether it is complete, the server version, the snapshot, the roles' digest, the census,
/// every kept query's columns (name and type OID) and rows in their compact form, and the
/// splice base but for its schema (`splice::StoredRef`: its resolver, oid -> root map and
/// coupled roots, and the schema's owners and sizes; the rest of the schema is the reading
/// stored beside the state); not the server's start time (see the `server` field). Queries
/// are written in name order.
impl serde::Serialize for DeltaState {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut queries: Vec<StoredQueryRef<'_>> = self
            .cache
            .rows
            .iter()
            .map(|(name, q)| {
                let columns = q
                    .columns
                    .iter()
                    .map(|(n, t)| (n.as_str(), t.oid()))
                    .collect();
                (*name, columns, &q.rows)
            })
            .collect();
        queries.sort_by_key(|q| q.0);
        let stored = (
            self.valid,
            self.version,
            &self.snapshot,
            &self.roles,
            &self.census,
            queries,
            match (&self.base, &self.stored_base) {
                (Some(base), _) => Some(StoredBase::Ref(base.stored())),
                (None, Some(stored)) => Some(StoredBase::Shelved(stored)),
                (None, None) => None,
            },
        );
        serde::Serialize::serialize(&stored, s)
    }
}

/// The splice base as stored: of a base in memory, or of a shelved one
/// ([`DeltaState::shelve_base`]); the same bytes either way.
enum StoredBase<'a> {
    Ref(splice::StoredRef<'a>),
    Shelved(&'a splice::Stored),
}

impl serde::Serialize for StoredBase<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            StoredBase::Ref(r) => r.serialize(s),
            StoredBase::Shelved(stored) => stored.serialize(s),
        }
    }
}

/// A kept query as stored: its name, its columns (name, type OID), its rows.
type StoredQueryRef<'a> = (&'a str, Vec<(&'a str, u32)>, &'a KeptRows);

/// What [`DeltaState`]'s `Serialize` writes, read back.
type Stored = (
    bool,
    i32,
    String,
    String,
    Counts,
    Vec<(String, Vec<(String, u32)>, KeptRows)>,
    Option<splice::Stored>,
);

/// A restored state names no server (see the `server` field). A query that is no longer kept
/// or a column type this build does not know fails the decoding (the caller reads in full).
impl<'de> serde::Deserialize<'de> for DeltaState {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let (valid, version, snapshot, roles, census, queries, stored_base) =
            <Stored as serde::Deserialize>::deserialize(d)?;
        let mut rows = HashMap::with_capacity(queries.len());
        for (name, columns, kept) in queries {
            let name = KEPT
                .iter()
                .map(|(q, _)| *q)
                .find(|q| *q == name)
                .ok_or_else(|| D::Error::custom(format!("{name} is no kept query")))?;
            let columns = columns
                .into_iter()
                .map(|(n, oid)| {
                    Type::from_oid(oid)
                        .map(|t| (n, t))
                        .ok_or_else(|| D::Error::custom(format!("type {oid} unknown")))
                })
                .collect::<Result<_, _>>()?;
            rows.insert(
                name,
                KeptQuery {
                    columns,
                    rows: kept,
                },
            );
        }
        Ok(DeltaState {
            cache: RowCache {
                rows,
                restrict: None,
                only_fresh: false,
            },
            census,
            snapshot,
            roles,
            server: String::new(),
            version,
            valid,
            // Until `restore_base` gives the stored base its schema, the first delta read
            // builds the whole schema from the kept rows and the rows read again.
            base: None,
            stored_base,
            coming_base: None,
            built: Build::All {
                why: "restored from the cache".to_string(),
            },
        })
    }
}

/// A full read ([`super::read`]) that also keeps what a later [`read_delta`] of the same
/// database (or of a copy of it made with `CREATE DATABASE ... TEMPLATE`) needs.
pub fn read_full(client: &mut postgres::Client) -> Result<(Schema, DeltaState), CatalogError> {
    let (schema, state) = read_full_shared(client)?;
    Ok((Arc::unwrap_or_clone(schema), state))
}

/// [`read_full`] without the copy of the schema it makes for the state: the state's splice
/// base is left without its schema ([`DeltaState::shelve_base`]) and the caller gives it back
/// with [`DeltaState::restore_base`] before the next read (else that read builds the whole
/// schema from the kept rows, as after a restored state without a base). For a caller that
/// saves the reading anyway (a kept desired database's cached reading, `shadow::reading`)
/// and holds it until the next read: at 5,000 tables that copy was ~80 MiB, held from the
/// desired schema's load to the proof (issue 9).
pub fn read_full_alone(
    client: &mut postgres::Client,
) -> Result<(Schema, DeltaState), CatalogError> {
    let (schema, mut state) = read_full_shared(client)?;
    state.shelve_base();
    Ok((Arc::unwrap_or_clone(schema), state))
}

/// [`read_delta`] without the copy of the schema it makes for the state: see
/// [`read_full_alone`].
pub fn read_delta_alone(
    client: &mut postgres::Client,
    state: &mut DeltaState,
) -> Result<(Schema, Outcome), CatalogError> {
    let (schema, outcome) = read_delta_shared(client, state)?;
    state.shelve_base();
    Ok((Arc::unwrap_or_clone(schema), outcome))
}

/// [`read_full`], the schema shared with the state (see [`read_delta_shared`]).
pub fn read_full_shared(
    client: &mut postgres::Client,
) -> Result<(Arc<Schema>, DeltaState), CatalogError> {
    let mut state = DeltaState::empty();
    let (schema, _) = read_tracked(client, &mut state)?;
    Ok((schema, state))
}

/// The reading of the connected database, reading again only what changed since `state`
/// was taken (see the module doc); `state` then describes this reading. Gives exactly what
/// [`super::read`] gives, with the same lock waits (`LockWait::default`).
pub fn read_delta(
    client: &mut postgres::Client,
    state: &mut DeltaState,
) -> Result<(Schema, Outcome), CatalogError> {
    let (schema, outcome) = read_delta_shared(client, state)?;
    Ok((Arc::unwrap_or_clone(schema), outcome))
}

/// [`read_delta`], the schema shared with `state`, which keeps it to splice the next read
/// into (`catalog::splice`). [`read_delta`] copies it; a caller that holds the reading only
/// until the next read saves that copy (the proof, `workflow::prove`: the next read then
/// splices into it in place), one that keeps it longer makes the next read copy it.
pub fn read_delta_shared(
    client: &mut postgres::Client,
    state: &mut DeltaState,
) -> Result<(Arc<Schema>, Outcome), CatalogError> {
    let (schema, outcome) = read_tracked(client, state)?;
    if let Outcome::Full { why } = &outcome {
        crate::timings::note(&format!("catalog read in full: {why}"));
    }
    Ok((schema, outcome))
}

/// [`read_full`] inside a transaction the caller holds open and will roll back (the proof
/// in place, `workflow::prove`): see [`read_delta_in`].
pub fn read_full_in(
    tx: &mut postgres::Transaction<'_>,
) -> Result<(Schema, DeltaState), CatalogError> {
    let (schema, state) = read_full_in_shared(tx)?;
    Ok((Arc::unwrap_or_clone(schema), state))
}

/// [`read_full_in`], the schema shared with the state (see [`read_delta_shared`]).
pub fn read_full_in_shared(
    tx: &mut postgres::Transaction<'_>,
) -> Result<(Arc<Schema>, DeltaState), CatalogError> {
    let mut state = DeltaState::empty();
    let (schema, _) = read_tracked_in(tx, &mut state)?;
    Ok((schema, state))
}

/// [`read_delta`] inside a transaction the caller holds open: the reading runs in a savepoint
/// rolled back after it (`catalog::in_read_savepoint`), and sees the transaction's own
/// changes. One attempt (nobody else's locks are in the way on a database only this session
/// uses; a failure is the caller's to handle).
///
/// **The caller runs every batch of changes between two readings in a savepoint of its own**
/// (released after it). The census finds what changed since the last reading by the `xmin`
/// of catalog rows not visible in that reading's snapshot. Inside one transaction every row
/// this session writes carries this transaction's id, or the id of the subtransaction
/// (savepoint) that wrote it, and a snapshot never lists its own transaction's ids as
/// running: an id below the snapshot's `xmax` counts as seen. The top-level id is assigned at
/// the first write, before the first reading, and is below the `xmax` of any later snapshot
/// as soon as any other transaction of the cluster got a later id and ended (another run, a
/// background worker): rows it writes after a reading would then pass for rows that reading
/// saw, and an object changed in place (same row count) would be missed. A subtransaction
/// gets its id at its first write, which comes after the last reading's snapshot was taken,
/// so that id is at least that snapshot's `xmax`: not visible in it, every row the batch
/// writes is unseen, as a later transaction's would be. Rows of earlier batches (older
/// subtransaction ids) count as seen or unseen depending on the `xmax`; unseen only makes
/// the read take their objects again, never miss one.
pub fn read_delta_in(
    tx: &mut postgres::Transaction<'_>,
    state: &mut DeltaState,
) -> Result<(Schema, Outcome), CatalogError> {
    let (schema, outcome) = read_delta_in_shared(tx, state)?;
    Ok((Arc::unwrap_or_clone(schema), outcome))
}

/// [`read_delta_in`], the schema shared with `state` (see [`read_delta_shared`]).
pub fn read_delta_in_shared(
    tx: &mut postgres::Transaction<'_>,
    state: &mut DeltaState,
) -> Result<(Arc<Schema>, Outcome), CatalogError> {
    let (schema, outcome) = read_tracked_in(tx, state)?;
    if let Outcome::Full { why } = &outcome {
        crate::timings::note(&format!("catalog read in full: {why}"));
    }
    Ok((schema, outcome))
}

/// [`read_tracked`] in a savepoint of the caller's transaction.
fn read_tracked_in(
    tx: &mut postgres::Transaction<'_>,
    state: &mut DeltaState,
) -> Result<(Arc<Schema>, Outcome), CatalogError> {
    let lock_timeout = super::LockWait::default().lock_timeout;
    let mut outcome = None;
    let schema = crate::timings::stage("catalog read (delta)", || {
        super::in_read_savepoint(tx, lock_timeout, |sp, version| {
            let (schema, how) = read_in(sp, version, state)?;
            outcome = Some(how);
            Ok(schema)
        })
    })?;
    let outcome = outcome.unwrap_or(Outcome::Full {
        why: "no earlier reading".to_string(),
    });
    Ok((schema, outcome))
}

/// [`read_delta`] without the note: also the first, full read of [`read_full`].
fn read_tracked(
    client: &mut postgres::Client,
    state: &mut DeltaState,
) -> Result<(Arc<Schema>, Outcome), CatalogError> {
    let wait = super::LockWait::default();
    let lock_timeout = wait.lock_timeout;
    let mut outcome = None;
    let result = super::retry_on_lock(
        wait,
        |c| {
            crate::timings::stage("catalog read (delta)", || {
                super::in_read_tx(c, lock_timeout, |tx, version| {
                    let (schema, how) = read_in(tx, version, state)?;
                    outcome = Some(how);
                    Ok(schema)
                })
            })
        },
        client,
        |e| matches!(e, CatalogError::Query { source, .. } if super::is_lock_timeout(source)),
    );
    let schema = result.map_err(|failure| match failure {
        super::RetryFailure::Other(e) => e,
        super::RetryFailure::LockBusy { attempts, seconds } => CatalogError::LockBusy {
            attempts,
            seconds,
            holders: super::exclusive_holders(client),
        },
    })?;
    let outcome = outcome.unwrap_or(Outcome::Full {
        why: "no earlier reading".to_string(),
    });
    Ok((schema, outcome))
}

/// One attempt, inside the read's transaction.
fn read_in(
    tx: &mut postgres::Transaction<'_>,
    version: i32,
    state: &mut DeltaState,
) -> Result<(Arc<Schema>, Outcome), CatalogError> {
    // Whatever happens below, the state is only valid again once this read succeeded.
    let was_valid = std::mem::replace(&mut state.valid, false);
    // A stored base never given its schema is of no use from here on, unless its schema is
    // on its way: then it is waited for once this read needs it, after the census.
    let stored = state.stored_base.take();
    let coming = state.coming_base.take().zip(stored);
    let facts = tx
        .query_one(
            "SELECT pg_postmaster_start_time()::text || ' port ' || current_setting('port') \
                 AS server, \
             pg_snapshot_xmax(pg_current_snapshot())::text::int8 AS next_xid, \
             pg_current_snapshot()::text AS snapshot, \
             (SELECT md5(coalesce(string_agg(oid::text || ' ' || rolname, ',' ORDER BY oid), \
                         '')) FROM pg_roles) AS roles",
            &[],
        )
        .map_err(|source| CatalogError::Query {
            query: "delta read facts",
            source,
        })?;
    let server: String = get(&facts, "delta read facts", "server")?;
    let next_xid: i64 = get(&facts, "delta read facts", "next_xid")?;
    let roles: String = get(&facts, "delta read facts", "roles")?;
    let snapshot: String = get(&facts, "delta read facts", "snapshot")?;
    let why_full = if !was_valid {
        Some("no complete earlier reading".to_string())
    } else if (!state.server.is_empty() && state.server != server) || state.version != version {
        Some("the earlier reading is of another server".to_string())
    } else if next_xid >= 1 << 32 {
        Some(
            "the server's transaction ids have wrapped around: a row's xmin no longer names its \
             transaction"
                .to_string(),
        )
    } else if state.roles != roles {
        Some("roles were created, dropped or renamed".to_string())
    } else {
        None
    };
    // Against the last read's snapshot; a full read counts against its own (nothing unseen).
    let since = match why_full {
        None => state.snapshot.as_str(),
        Some(_) => snapshot.as_str(),
    };
    let Census {
        rows: census,
        unseen,
        blind,
    } = crate::timings::stage("catalog: census", || {
        census(tx, version, since, state.census.rows())
    })?;
    let why_full = why_full.or_else(|| {
        (!blind.is_empty()).then(|| {
            format!(
                "this role cannot read {}: what changed there cannot be seen",
                blind
                    .iter()
                    .map(|c| format!("pg_catalog.{c}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
    });
    let (outcome, changed) = match why_full {
        Some(why) => {
            state.cache = RowCache::default();
            (Outcome::Full { why }, None)
        }
        None => {
            let (mut own, mut parts) = (HashSet::new(), HashSet::new());
            for (oid, part) in state
                .census
                .changed_since(&census)
                .into_iter()
                .chain(unseen)
            {
                if part {
                    parts.insert(oid);
                } else {
                    own.insert(oid);
                }
            }
            let changed = crate::timings::stage("catalog: closure", || closure(tx, own, parts))?;
            let n = changed.len();
            // Past half of the user objects, filtering and merging costs more than it saves.
            let user_objects = census.user_objects();
            if n > 1000 && n * 2 > user_objects {
                state.cache = RowCache::default();
                (
                    Outcome::Full {
                        why: format!("{n} of {user_objects} objects changed"),
                    },
                    None,
                )
            } else {
                (Outcome::Delta { changed: n }, Some(changed))
            }
        }
    };
    if let (Some(coming), Some(_), None) = (coming, &changed, &state.base) {
        state.base = arrived_base(coming, was_valid);
    }
    let base = state.base.take();
    let built = build(tx, version, state, changed, base);
    state.cache.restrict = None;
    state.cache.only_fresh = false;
    let (schema, base, how) = built?;
    state.base = Some(base);
    state.built = how;
    state.census = census;
    state.snapshot = snapshot;
    state.roles = roles;
    state.server = server;
    state.version = version;
    state.valid = true;
    Ok((schema, outcome))
}

/// Builds the schema of a read whose kept queries re-run for the `changed` oids (`None`: a
/// full read): spliced into `base`, the previous reading, when it is there and the splice can
/// be sure of its result (`catalog::splice`), else all of it, from the kept rows and those
/// read again. Gives the schema, what the next read splices into, and how it was built.
fn build(
    tx: &mut postgres::Transaction<'_>,
    version: i32,
    state: &mut DeltaState,
    changed: Option<HashSet<u32>>,
    base: Option<Base>,
) -> Result<(Arc<Schema>, Base, Build), CatalogError> {
    let Some(changed) = changed else {
        let (schema, resolver) = super::build::Reader::new(tx, version)
            .with_cache(&mut state.cache)
            .read_kept()?;
        return Ok(kept(schema, resolver, "a full read".to_string()));
    };
    let why = match base.map(|b| (splice::plan(&b, &changed), b)) {
        None => "no earlier reading to splice into".to_string(),
        Some((Err(why), _)) => why,
        Some((Ok(plan), base)) => {
            let fetch = plan.fetch().clone();
            state.cache.restrict = Some((fetch.iter().copied().collect(), fetch));
            state.cache.only_fresh = true;
            let (schema, resolver, taken) =
                crate::timings::stage("catalog: splice out", || splice::prepare(base, &plan));
            let built = super::build::Reader::new(tx, version)
                .with_cache(&mut state.cache)
                .splicing(schema, resolver)
                .read_kept();
            state.cache.only_fresh = false;
            let (schema, resolver) = built?;
            match crate::timings::stage("catalog: splice check", || {
                splice::finish(&plan, taken, schema, resolver)
            }) {
                Ok(base) => {
                    let schema = base.shared();
                    let roots = plan.roots();
                    return Ok((schema, base, Build::Spliced { roots }));
                }
                // the kept rows are up to date (those read again replaced): build from them
                Err(why) => why,
            }
        }
    };
    crate::timings::note(&format!("catalog delta read built in full: {why}"));
    if state.cache.restrict.is_none() {
        state.cache.restrict = Some((changed.iter().copied().collect(), changed));
    }
    let (schema, resolver) = super::build::Reader::new(tx, version)
        .with_cache(&mut state.cache)
        .read_kept()?;
    Ok(kept(schema, resolver, why))
}

/// A schema built in full, the base the next read splices into, and why it was built in full.
fn kept(
    schema: Schema,
    resolver: super::resolve::Resolver,
    why: String,
) -> (Arc<Schema>, Base, Build) {
    let schema = Arc::new(schema);
    let base = crate::timings::stage("catalog: splice index", || {
        Base::of(Arc::clone(&schema), resolver)
    });
    (schema, base, Build::All { why })
}
