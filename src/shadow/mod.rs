//! The shadow database server: where the desired schema is loaded so PostgreSQL itself
//! elaborates it (principle 1 of the design).
//!
//! Owns: choosing the server (`--dev-url`, or the embedded cluster kept in the cache folder and
//! shared between concurrent schemaplan processes), scratch databases (created per use, dropped
//! on drop and on Ctrl-C), creating referenced roles, the version-mismatch warning, and loading
//! statements ([`load`]), and the kept ("warm") desired databases with their manifests
//! (`kept`: which one a run uses, kept by renaming, used in place under file locks
//! (`KeptLocks`), evicted; [`warm`] updates one incrementally), and the cached catalog
//! readings of those ([`reading`]).
//! The cluster mechanics (binaries, initdb, start/stop) live in
//! [`cluster`] and are reused by the test harness. See `docs/shadow.md`.

pub mod cluster;
mod kept;
mod load;
pub mod lock;
pub mod reading;
mod roles;
pub mod warm;

pub use load::{
    is_undefined_sqlstate, load, load_tracked, LoadError, LoadStatement, OidRange, StatementError,
};
pub use roles::{attribute, Role};

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Once, OnceLock, Weak};

use cluster::{Cluster, ClusterError, StartOptions};
use lock::FileLock;

use crate::catalog::delta::DeltaState;
use crate::db::{self, DbError};
use crate::render::quote;

/// Errors of the shadow server and its scratch databases.
#[derive(Debug, thiserror::Error)]
pub enum ShadowError {
    #[error("embedded shadow cluster: {0}")]
    Cluster(#[from] ClusterError),
    #[error("shadow cache directory {path}: {source}")]
    Cache {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "no cache directory for the embedded shadow cluster: set SCHEMAPLAN_CACHE_DIR, \
         XDG_CACHE_HOME or HOME"
    )]
    NoCacheDir,
    #[error("shadow server: {0}")]
    Db(#[from] DbError),
    #[error("shadow server {server}: {what}: {message}")]
    Sql {
        server: String,
        what: String,
        message: String,
    },
    #[error("shadow roles: {0}")]
    Roles(String),
}

/// Where the shadow comes from. Empty = the embedded cluster with binaries and cache folder
/// found automatically.
#[derive(Clone, Debug, Default)]
pub struct ShadowOptions {
    /// A server to create scratch databases on (`--dev-url`); nothing else is touched there.
    pub dev_url: Option<String>,
    /// Directory with `initdb` and `postgres` (else `$SCHEMAPLAN_PG_BINDIR`, `PATH`, ...).
    pub bindir: Option<PathBuf>,
    /// Where the embedded cluster is kept (else `$SCHEMAPLAN_CACHE_DIR`, ...).
    pub cache_dir: Option<PathBuf>,
    /// `--no-cache`: keep no loaded database between runs and use none ([`Shadow::warm_copy`]).
    pub no_cache: bool,
}

/// A running shadow server. Cheap to share by reference across threads.
pub struct Shadow {
    inner: Arc<Inner>,
}

/// A database created for one use; dropped (with `FORCE`) when this value is dropped. Or a
/// kept desired database used in place ([`Shadow::warm_pin`], [`Shadow::warm_keep`]): then
/// this value pins it (it is neither evicted nor changed while the value lives), dropping the
/// value only lets go of it, and it is only ever changed inside a transaction that is rolled
/// back, under [`ScratchDb::borrow`] (the proof, `workflow::prove`).
pub struct ScratchDb {
    pub name: String,
    pub url: String,
    inner: Arc<Inner>,
    /// `Some` for a kept database used in place.
    kept: Option<InPlace>,
    /// One [`ScratchDb::borrow`] at a time.
    busy: Mutex<()>,
    /// The delta state of this database's reading, when the run has one
    /// ([`ScratchDb::set_delta_base`]): the proof's first reading is a delta of it. With
    /// the cached reading its splice base is restored from when it is taken
    /// ([`ScratchDb::set_stored_delta_base`]).
    delta: Mutex<Option<(DeltaState, Option<reading::BaseReading>)>>,
}

/// The locks of a kept database used in place: its pin, held for as long as it is used, and
/// the path of its connection lock, taken exclusively while connected
/// ([`ScratchDb::borrow`]).
struct InPlace {
    _pin: FileLock,
    conn: PathBuf,
}

/// Exclusive use of a database for one session ([`ScratchDb::borrow`]): connect through it;
/// close the connection before dropping it.
pub struct Borrowed<'a> {
    db: &'a ScratchDb,
    _conn: Option<FileLock>,
    _busy: std::sync::MutexGuard<'a, ()>,
}

impl Borrowed<'_> {
    /// A new connection to the borrowed database.
    pub fn connect(&self) -> Result<postgres::Client, ShadowError> {
        self.db.connect()
    }
}

/// The lock files of kept database `name`, in `<cache>/pg<major>/kept/`. Every user of a kept
/// database takes them (`flock(2)`, dropped by the kernel with the process):
/// - `<name>.pin`, shared by whoever needs the database to stay as it is: a run using it in
///   place (from its load to the end of its proof) and a copy in progress (`CREATE DATABASE
///   ... TEMPLATE`); eviction takes it exclusively without waiting and keeps a database it
///   cannot lock (for the next eviction), so a pinned database is never dropped;
/// - `<name>.conn`, exclusive while a session is connected to the database (a run reading or
///   proving in place), shared by a copy in progress: PostgreSQL refuses to copy a database
///   with sessions (and waits 5 s first), so copies wait for the session to end instead, and
///   a session is only opened when no copy is running (tried without waiting: otherwise the
///   run copies too). Nobody waits for `.conn` while holding it exclusively, and a session on
///   a kept database never outlives a proof: waits are bounded, and there is no cycle.
struct KeptLocks {
    pin: PathBuf,
    conn: PathBuf,
}

/// The embedded cluster as used by this `Shadow`: our shared "user" lock keeps other
/// processes from stopping it under us.
struct Embedded {
    cluster: Cluster,
    users: FileLock,
    start_lock: PathBuf,
}

struct Inner {
    admin_url: String,
    /// `admin_url` parsed, with its TLS connector: reconnects the admin session.
    target: db::Target,
    version_num: i32,
    admin: Mutex<Option<postgres::Client>>,
    scratch: Mutex<BTreeSet<String>>,
    embedded: Mutex<Option<Embedded>>,
    no_cache: bool,
    /// The cluster's `system_identifier`, asked once (`Shadow::warm_reading`).
    system: OnceLock<Option<String>>,
    /// `roles.lock` of the embedded cluster, shared once this shadow made its roles
    /// (`Shadow::prepare_roles`): no other run changes their attributes while it is held.
    roles_lock: Mutex<Option<FileLock>>,
}

/// One kept database: its name and OID. A kept database evicted and made again under the same
/// name is another database (another OID), and a reading of the first is not the second's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Kept {
    pub name: String,
    pub oid: u32,
}

/// Scratch database numbering, unique within the process (all shadows).
static COUNTER: AtomicU64 = AtomicU64::new(0);
/// Live shadows, for the Ctrl-C handler.
static LIVE: Mutex<Vec<Weak<Inner>>> = Mutex::new(Vec::new());
static CTRLC: Once = Once::new();

/// Port of the embedded server. Only names the socket file inside the private socket
/// directory (no TCP), so it never conflicts with anything.
const EMBEDDED_PORT: u16 = 5432;
const SCRATCH_PREFIX: &str = "schemaplan_shadow_";
/// Databases kept between runs ([`Shadow::warm_keep`]): `schemaplan_warm_<key>`. Not scratch
/// databases: never dropped as orphans, only evicted by [`WARM_KEEP`].
const WARM_PREFIX: &str = "schemaplan_warm_";
/// How many kept databases the embedded cluster holds (the newest by creation): a working
/// copy of the schema files and one or two others (a branch switched back and forth).
const WARM_KEEP: usize = 3;

impl Shadow {
    /// Connects to the `--dev-url` server, or starts (or joins) the embedded cluster.
    pub fn start(opts: &ShadowOptions) -> Result<Shadow, ShadowError> {
        let inner = match &opts.dev_url {
            Some(url) => {
                let target = db::Target::new(url)?;
                let mut client = target
                    .connect()
                    .map_err(|e| target.connect_error(url, &e))?;
                let version_num = db::server_version_num(&mut client)?;
                Inner {
                    admin_url: url.clone(),
                    target,
                    version_num,
                    admin: Mutex::new(Some(client)),
                    scratch: Mutex::new(BTreeSet::new()),
                    embedded: Mutex::new(None),
                    no_cache: opts.no_cache,
                    system: OnceLock::new(),
                    roles_lock: Mutex::new(None),
                }
            }
            None => start_embedded(opts)?,
        };
        let inner = Arc::new(inner);
        {
            let mut live = LIVE.lock().unwrap_or_else(|p| p.into_inner());
            live.retain(|w| w.strong_count() > 0);
            live.push(Arc::downgrade(&inner));
        }
        install_ctrlc_handler();
        if inner.embedded.lock().map(|e| e.is_some()).unwrap_or(false) {
            inner.drop_orphaned_scratch();
        }
        Ok(Shadow { inner })
    }

    /// `server_version_num` of the shadow server (e.g. `150006`).
    pub fn server_version_num(&self) -> i32 {
        self.inner.version_num
    }

    /// URL of the server's `postgres` database (the `--dev-url` as given in dev mode).
    pub fn admin_url(&self) -> String {
        self.inner.admin_url.clone()
    }

    /// Whether this is the embedded cluster (not `--dev-url`).
    pub fn is_embedded(&self) -> bool {
        self.inner
            .embedded
            .lock()
            .map(|e| e.is_some())
            .unwrap_or(false)
    }

    /// Creates an empty, uniquely named database (`schemaplan_shadow_<pid>_<n>_<purpose>`).
    pub fn scratch(&self, purpose: &str) -> Result<ScratchDb, ShadowError> {
        self.create_scratch(purpose, "template0")
    }

    /// Creates a scratch database that is a copy of `template` (`CREATE DATABASE ...
    /// TEMPLATE`): PostgreSQL copies the files (or the blocks through the WAL, see
    /// [`Shadow::copy_strategy`]) instead of replaying statements, so a copy of a loaded schema costs a fraction of loading it again.
    /// Nobody may be connected to `template` meanwhile: PostgreSQL waits up to 5 s for sessions
    /// that are closing (a connection just dropped) and then refuses, which comes back as an
    /// error here; callers close their sessions on `template` first.
    ///
    /// A kept database used in place is pinned by `template` already; its connection lock is
    /// held shared while copying (another run's session on it is waited for, `KeptLocks`), so
    /// the caller must not hold a [`ScratchDb::borrow`] of it.
    pub fn scratch_copy(
        &self,
        template: &ScratchDb,
        purpose: &str,
    ) -> Result<ScratchDb, ShadowError> {
        let _conn = match &template.kept {
            Some(k) => Some(
                FileLock::shared(&k.conn).map_err(|source| ShadowError::Cache {
                    path: k.conn.clone(),
                    source,
                })?,
            ),
            None => None,
        };
        self.create_scratch(purpose, &template.name)
    }

    /// How `CREATE DATABASE ... TEMPLATE` copies a loaded database. PostgreSQL 15+ defaults to
    /// `WAL_LOG` (every block written through the WAL: 2.1 s for a 5,000-table schema of 306
    /// MB); `FILE_COPY` copies the files after a checkpoint (0.6 s). The checkpoint is cheap on
    /// the embedded cluster, which runs with `fsync` off, and not ours to force on a
    /// `--dev-url` server, so only there; `template0` (a few MB) stays with the default.
    fn copy_strategy(&self, template: &str) -> &'static str {
        if template != "template0" && self.is_embedded() && self.inner.version_num >= 150000 {
            " STRATEGY = FILE_COPY"
        } else {
            ""
        }
    }

    fn create_scratch(&self, purpose: &str, template: &str) -> Result<ScratchDb, ShadowError> {
        loop {
            let name = scratch_name(purpose);
            let sql = format!(
                "CREATE DATABASE {} TEMPLATE {}{}",
                quote::ident(&name),
                quote::ident(template),
                self.copy_strategy(template)
            );
            // Register first: a Ctrl-C between CREATE and registration must not leak it.
            self.inner.lock_scratch().insert(name.clone());
            // A copy of a loaded database is its own stage (`SCHEMAPLAN_TIMINGS=1` lists each
            // one): on a big schema every copy costs seconds (issue 9).
            let created = match template {
                "template0" => self.inner.admin_execute(&sql),
                _ => crate::timings::stage("database copy", || self.inner.admin_execute(&sql)),
            };
            match created {
                Ok(()) => {
                    return Ok(ScratchDb {
                        url: db::with_database(&self.inner.admin_url, &name),
                        name,
                        inner: self.inner.clone(),
                        kept: None,
                        busy: Mutex::new(()),
                        delta: Mutex::new(None),
                    })
                }
                Err(e) => {
                    self.inner.lock_scratch().remove(&name);
                    // Another machine/container with the same pid on a shared --dev-url
                    // server: take the next number.
                    if e.code() == Some(&postgres::error::SqlState::DUPLICATE_DATABASE) {
                        continue;
                    }
                    return Err(self.inner.sql_error(&format!("CREATE DATABASE {name}"), &e));
                }
            }
        }
    }

    /// Creates the roles that do not exist yet, `NOLOGIN` and plain (roles are cluster-wide:
    /// schemas name them in GRANT, policies and OWNER TO). `public` (PUBLIC; a role `Public` or
    /// `PUBLIC` is a real role) and `pg_*` names are skipped. The target's roles are made with
    /// their attributes by [`Shadow::prepare_roles`]; this makes the ones only the files name.
    pub fn ensure_roles(&self, roles: &[String]) -> Result<(), ShadowError> {
        let wanted: Vec<&String> = roles.iter().filter(|r| roles::made(r)).collect();
        if wanted.is_empty() {
            return Ok(());
        }
        let existing = self.role_attributes(wanted.iter().map(|s| s.as_str()))?;
        for role in wanted {
            if !existing.contains_key(role.as_str()) {
                self.create_role(role, false)?;
            }
        }
        Ok(())
    }

    /// A warning for the user when the shadow's major version is not the target's: the desired
    /// schema is elaborated (and its expressions printed) by the shadow's version.
    pub fn version_warning(&self, target_version_num: i32) -> Option<String> {
        let (ours, theirs) = (major(self.inner.version_num), major(target_version_num));
        if ours == theirs {
            return None;
        }
        Some(format!(
            "the shadow database runs PostgreSQL {ours} but the target runs PostgreSQL {theirs}: \
             the desired schema is checked and printed by version {ours}, so some expressions \
             may compare differently and features of {theirs} may be missing. Use --dev-url \
             with a PostgreSQL {theirs} server, or point SCHEMAPLAN_PG_BINDIR at PostgreSQL \
             {theirs} binaries."
        ))
    }
}

/// Major version from `server_version_num`: `150006` -> "15", `90624` -> "9.6".
fn major(num: i32) -> String {
    if num >= 100_000 {
        (num / 10_000).to_string()
    } else {
        format!("{}.{}", num / 10_000, num / 100 % 100)
    }
}

impl ScratchDb {
    /// A new connection to this database. On a kept database used in place
    /// ([`ScratchDb::is_kept`]), connect through [`ScratchDb::borrow`]: a session there makes
    /// other runs' copies of it fail.
    pub fn connect(&self) -> Result<postgres::Client, ShadowError> {
        Ok(db::connect(&self.url)?)
    }

    /// Gives this database the delta state of its reading (`catalog::delta`), made when the
    /// desired schema was read from it, or the state stored with a kept database's reading
    /// ([`Shadow::warm_delta_state`]). Only a state of exactly this database, read as it is
    /// now, may be given: the proof reads this database, or a copy of it, as a delta of it.
    pub fn set_delta_base(&self, state: DeltaState) {
        if let Ok(mut d) = self.delta.lock() {
            *d = Some((state, None));
        }
    }

    /// [`ScratchDb::set_delta_base`] with a state stored with a kept database's reading
    /// ([`Shadow::warm_reading_with_delta`]), whose splice base's schema is that reading,
    /// loaded again from `base` when the proof takes the state, or before, on a thread of
    /// its own ([`ScratchDb::load_delta_base_aside`]).
    pub fn set_stored_delta_base(&self, state: DeltaState, base: reading::BaseReading) {
        if let Ok(mut d) = self.delta.lock() {
            *d = Some((state, Some(base)));
        }
    }

    /// Starts loading the splice base of a stored delta state on a thread of its own
    /// ([`reading::BaseReading::load_aside`]), for the proof to take it loaded: `plan` calls
    /// it once the diff is done and the schema files' statements are dropped, so that the
    /// load runs beside the proof's start, not beside the live database's reading nor the
    /// diff (each pair was the peak of a warm `plan`: issue 9), and only for a plan that
    /// drops nothing (`workflow::pipeline`).
    pub fn load_delta_base_aside(&self) {
        if let Ok(mut d) = self.delta.lock() {
            if let Some((_, Some(base))) = d.as_mut() {
                base.load_aside();
            }
        }
    }

    /// Whether the stored splice base's reading is the desired schema the run holds
    /// ([`reading::BaseReading::held_by_caller`]): then [`ScratchDb::copy_delta_base_aside`]
    /// can stand for [`ScratchDb::load_delta_base_aside`].
    pub fn delta_base_held(&self) -> bool {
        self.delta
            .lock()
            .is_ok_and(|d| matches!(d.as_ref(), Some((_, Some(base))) if base.is_held()))
    }

    /// [`ScratchDb::load_delta_base_aside`] from a copy of the desired schema, which `copy`
    /// gives ([`reading::BaseReading::copy_aside`]); loaded from the file when the reading is
    /// not the one the run holds.
    pub fn copy_delta_base_aside(&self, copy: crate::catalog::delta::ComingBase) {
        if let Ok(mut d) = self.delta.lock() {
            if let Some((_, Some(base))) = d.as_mut() {
                if !base.copy_aside(copy) {
                    base.load_aside();
                }
            }
        }
    }

    /// The delta state given with [`ScratchDb::set_delta_base`], taken: the proof's first
    /// reading advances it, so a second proof of the same run (a retry) reads in full. A
    /// stored splice base is restored by that reading once its census ran (the `catalog:
    /// splice base wait` stage, [`reading::BaseReading::restore_later`]), not here.
    pub fn take_delta_base(&self) -> Option<DeltaState> {
        let (mut state, base) = self.delta.lock().ok()?.take()?;
        if let Some(base) = base {
            base.restore_later(&mut state);
        }
        Some(state)
    }

    /// Whether this is a kept database used in place rather than a scratch database of this
    /// run: nothing may change it but a transaction that is rolled back.
    pub fn is_kept(&self) -> bool {
        self.kept.is_some()
    }

    /// The database for one session of this run alone, when that can be had without waiting:
    /// on a kept database, the exclusive connection lock (see `KeptLocks`; `Err` says why
    /// not: another run is copying it); and one borrow at a time of this value.
    pub fn borrow(&self) -> Result<Borrowed<'_>, String> {
        let busy = self
            .busy
            .try_lock()
            .map_err(|_| "the database is in use by another thread of this run".to_string())?;
        let conn = match &self.kept {
            None => None,
            Some(k) => match FileLock::try_exclusive(&k.conn) {
                Ok(Some(lock)) => Some(lock),
                Ok(None) => {
                    return Err(format!(
                        "another schemaplan run is copying the kept database {}",
                        self.name
                    ))
                }
                Err(e) => return Err(format!("{}: {e}", k.conn.display())),
            },
        };
        Ok(Borrowed {
            db: self,
            _conn: conn,
            _busy: busy,
        })
    }

    /// Drops the database now, reporting errors (dropping the value ignores them). A kept
    /// database used in place is only let go of.
    pub fn drop_now(self) -> Result<(), ShadowError> {
        if self.is_kept() {
            return Ok(());
        }
        self.inner.drop_database(&self.name)
    }
}

/// A new scratch database name of this process: `schemaplan_shadow_<pid>_<n>_<purpose>`, the
/// purpose lowercased to ASCII letters, digits and `_` (orphans are found by the prefix and
/// the pid).
fn scratch_name(purpose: &str) -> String {
    let purpose: String = purpose
        .chars()
        .map(|c| match c.is_ascii_alphanumeric() {
            true => c.to_ascii_lowercase(),
            false => '_',
        })
        .collect();
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let mut name = format!("{SCRATCH_PREFIX}{}_{n}_{purpose}", std::process::id());
    name.truncate(63); // NAMEDATALEN - 1; all ASCII
    name
}

impl Drop for ScratchDb {
    fn drop(&mut self) {
        // A kept database stays (its pin goes with `self.kept`).
        if self.kept.is_none() {
            let _ = self.inner.drop_database(&self.name);
        }
    }
}

impl std::fmt::Debug for ScratchDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScratchDb")
            .field("name", &self.name)
            .field("url", &db::redact(&self.url))
            .field("kept", &self.is_kept())
            .finish()
    }
}

impl std::fmt::Debug for Shadow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shadow")
            .field("admin_url", &db::redact(&self.inner.admin_url))
            .field("version_num", &self.inner.version_num)
            .field("embedded", &self.is_embedded())
            .finish()
    }
}

impl Inner {
    fn lock_scratch(&self) -> std::sync::MutexGuard<'_, BTreeSet<String>> {
        self.scratch.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` on the shared admin connection, reconnecting once if the connection broke.
    fn with_admin<T>(
        &self,
        mut f: impl FnMut(&mut postgres::Client) -> Result<T, postgres::Error>,
    ) -> Result<T, postgres::Error> {
        let mut guard = self.admin.lock().unwrap_or_else(|p| p.into_inner());
        for attempt in 0..2 {
            if guard.as_ref().is_none_or(|c| c.is_closed()) {
                // Parsed successfully when the shadow started, so only connecting can fail.
                *guard = Some(self.target.connect()?);
            }
            let client = guard.as_mut().expect("connected above");
            match f(client) {
                Err(e) if e.as_db_error().is_none() && client.is_closed() && attempt == 0 => {
                    *guard = None;
                }
                other => return other,
            }
        }
        unreachable!("the second attempt always returns")
    }

    /// [`Inner::with_admin`] on a session of its own, closed after `f`: for a statement or a
    /// result of megabytes (a kept database's manifest, `warm::Manifest`, ~10 MiB of JSON at
    /// 5,000 tables). A client keeps the buffers its largest message needed for as long as it
    /// lives, and the admin session lives as long as the run: two manifests through it kept
    /// ~46 MiB until the end (issue 9, peak memory).
    fn with_own_admin<T>(
        &self,
        f: impl FnOnce(&mut postgres::Client) -> Result<T, postgres::Error>,
    ) -> Result<T, postgres::Error> {
        let mut client = self.target.connect()?;
        f(&mut client)
    }

    fn admin_execute(&self, sql: &str) -> Result<(), postgres::Error> {
        self.with_admin(|c| c.batch_execute(sql))
    }

    fn sql_error(&self, what: &str, e: &postgres::Error) -> ShadowError {
        ShadowError::Sql {
            server: db::redact(&self.admin_url),
            what: what.to_string(),
            message: db::scrub(&db::error_text(e), &self.admin_url),
        }
    }

    fn drop_database(&self, name: &str) -> Result<(), ShadowError> {
        let result = self.with_admin(|c| drop_database_on(c, self.version_num, name));
        self.lock_scratch().remove(name);
        result.map_err(|e| self.sql_error(&format!("DROP DATABASE {name}"), &e))
    }

    /// Drops scratch databases left by schemaplan processes that no longer exist (killed
    /// before they could clean up). Only on the embedded server, where PIDs are meaningful.
    fn drop_orphaned_scratch(&self) {
        let names: Vec<String> = self
            .with_admin(|c| {
                c.query(
                    "SELECT datname::text FROM pg_database WHERE datname LIKE 'schemaplan\\_shadow\\_%'",
                    &[],
                )
                .map(|rows| rows.iter().map(|r| r.get(0)).collect())
            })
            .unwrap_or_default();
        for name in names {
            let pid: Option<i32> = name
                .strip_prefix(SCRATCH_PREFIX)
                .and_then(|rest| rest.split('_').next())
                .and_then(|p| p.parse().ok());
            let Some(pid) = pid else { continue };
            // SAFETY: kill(pid, 0) only probes for existence.
            let alive = unsafe { libc::kill(pid, 0) } == 0
                || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
            if !alive {
                let _ = self.drop_database(&name);
            }
        }
    }

    /// Drops every scratch database still registered and lets go of the embedded cluster
    /// (stopping it when no other process uses it). Idempotent.
    ///
    /// Runs on the Ctrl-C thread while the main thread may be busy on the shared admin
    /// connection, so it uses a connection of its own and never waits for that one.
    fn cleanup(&self) {
        let names: Vec<String> = self.lock_scratch().iter().cloned().collect();
        if !names.is_empty() {
            if let Ok(mut c) = db::connect(&self.admin_url) {
                for name in names {
                    if drop_database_on(&mut c, self.version_num, &name).is_ok() {
                        self.lock_scratch().remove(&name);
                    }
                }
            }
        }
        self.release_embedded();
    }

    fn release_embedded(&self) {
        // Close our own admin connection first so a fast shutdown has nothing of ours to wait
        // for.
        // (`try_lock`: on the Ctrl-C path the main thread may be using it; the server's fast
        // shutdown disconnects it anyway.)
        if let Ok(mut admin) = self.admin.try_lock() {
            *admin = None;
        }
        let taken = self
            .embedded
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(mut e) = taken {
            // Serialize with starters: nobody may join between our "am I last?" check and
            // the stop.
            let start_lock = FileLock::exclusive(&e.start_lock);
            if start_lock.is_ok() && matches!(e.users.try_upgrade_exclusive(), Ok(true)) {
                let _ = e.cluster.stop();
            }
            drop(e.users);
            drop(start_lock);
        }
    }
}

/// `DROP DATABASE ... WITH (FORCE)` (13+), or terminate its sessions and drop (older).
fn drop_database_on(
    c: &mut postgres::Client,
    version_num: i32,
    name: &str,
) -> Result<(), postgres::Error> {
    let q = quote::ident(name);
    if version_num >= 130_000 {
        c.batch_execute(&format!("DROP DATABASE IF EXISTS {q} WITH (FORCE)"))
    } else {
        c.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = $1 AND pid <> pg_backend_pid()",
            &[&name],
        )?;
        c.batch_execute(&format!("DROP DATABASE IF EXISTS {q}"))
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.release_embedded();
    }
}

/// Drops the scratch databases of every live shadow in this process and releases embedded
/// clusters (stopping them if this process was the last user). Called by the Ctrl-C handler;
/// a CLI that installs its own SIGINT handler (before any `Shadow::start`) must call this
/// from it.
pub fn interrupt_cleanup() {
    let live: Vec<Arc<Inner>> = LIVE
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .filter_map(Weak::upgrade)
        .collect();
    for inner in live {
        inner.cleanup();
    }
}

fn install_ctrlc_handler() {
    CTRLC.call_once(|| {
        // Fails when the application already installed a handler: then it is responsible for
        // calling `interrupt_cleanup` (documented above).
        let _ = ctrlc::set_handler(|| {
            interrupt_cleanup();
            std::process::exit(130);
        });
    });
}

/// The folder holding the embedded clusters (one subfolder per major version).
pub fn cache_root(opts: &ShadowOptions) -> Result<PathBuf, ShadowError> {
    if let Some(dir) = &opts.cache_dir {
        return Ok(dir.clone());
    }
    if let Some(dir) = std::env::var_os("SCHEMAPLAN_CACHE_DIR").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    // SAFETY: geteuid has no preconditions.
    let uid = unsafe { libc::geteuid() };
    // Memory-backed storage when the machine has it: creating and dropping the scratch
    // databases of every plan is dominated by file creation, which costs ~1 s per database on a
    // slow disk and ~0.1 s in memory. The cluster is a cache: losing it at reboot is harmless.
    if let Some(shm) = memory_dir() {
        let name = if uid == 0 {
            "schemaplan-root".to_string()
        } else {
            format!("schemaplan-{uid}")
        };
        return Ok(shm.join(name));
    }
    if uid == 0 {
        // The server runs as `nobody`, which cannot reach root's home.
        return Ok(PathBuf::from("/var/tmp/schemaplan-root"));
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
        return Ok(Path::new(&dir).join("schemaplan"));
    }
    match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        Some(home) => Ok(Path::new(&home).join(".cache").join("schemaplan")),
        None => Err(ShadowError::NoCacheDir),
    }
}

/// `/dev/shm` when it is a writable directory (Linux tmpfs); `SCHEMAPLAN_SHADOW_ON_DISK=1`
/// opts out.
fn memory_dir() -> Option<PathBuf> {
    if std::env::var_os("SCHEMAPLAN_SHADOW_ON_DISK").is_some_and(|v| v == "1") {
        return None;
    }
    let shm = Path::new("/dev/shm");
    let meta = std::fs::metadata(shm).ok()?;
    let writable = std::ffi::CString::new("/dev/shm")
        .ok()
        // SAFETY: access() reads a NUL-terminated path.
        .is_some_and(|c| unsafe { libc::access(c.as_ptr(), libc::W_OK | libc::X_OK) } == 0);
    (meta.is_dir() && writable).then(|| shm.to_path_buf())
}

/// Joins (or starts) the embedded cluster.
///
/// Locking protocol, in `<cache>/pg<major>/`:
/// - `start.lock`, exclusive, held while deciding to init/start and while deciding to stop, so
///   those decisions never interleave between processes;
/// - `users.lock`, shared, held by every process using the server for as long as it does.
///   On release, a process takes `start.lock` and then tries to turn its shared `users.lock`
///   into an exclusive one without waiting: success means nobody else uses the server, so it
///   stops it. A process killed outright loses its locks with it; the server it leaves
///   running is found ready and reused by the next process, which then stops it when done.
fn start_embedded(opts: &ShadowOptions) -> Result<Inner, ShadowError> {
    let bindir = cluster::find_bindir(opts.bindir.as_deref())?;
    let major = cluster::major_version(&bindir)?;
    let root = cache_root(opts)?;
    std::fs::create_dir_all(&root).map_err(|source| ShadowError::Cache {
        path: root.clone(),
        source,
    })?;
    let base = root.join(format!("pg{major}"));
    let mut cluster = Cluster::new(&bindir, &base, EMBEDDED_PORT, None)?;
    let start_lock_path = base.join("start.lock");
    let lock_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ShadowError::Cache { path, source }
    };
    let start_lock = FileLock::exclusive(&start_lock_path).map_err(lock_err(&start_lock_path))?;
    let users_path = base.join("users.lock");
    let users = FileLock::shared(&users_path).map_err(lock_err(&users_path))?;
    start_or_repair(&mut cluster)?;
    drop(start_lock);
    let admin_url = cluster.admin_url();
    let embedded = Embedded {
        cluster,
        users,
        start_lock: start_lock_path,
    };
    // From here on, dropping `inner` releases the cluster properly on error paths.
    let mut inner = Inner {
        target: db::Target::new(&admin_url)?,
        admin_url: admin_url.clone(),
        version_num: 0,
        admin: Mutex::new(None),
        scratch: Mutex::new(BTreeSet::new()),
        embedded: Mutex::new(Some(embedded)),
        no_cache: opts.no_cache,
        system: OnceLock::new(),
        roles_lock: Mutex::new(None),
    };
    let mut client = db::connect(&admin_url)?;
    inner.version_num = db::server_version_num(&mut client)?;
    *inner.admin.lock().unwrap_or_else(|p| p.into_inner()) = Some(client);
    Ok(inner)
}

/// Initializes if needed and makes sure the server runs (caller holds `start.lock`).
///
/// The data directory is only a cache, so when an existing one cannot be started (binaries
/// replaced by an incompatible build, a disk that filled up, a crash mid-initdb of an older
/// version...) it is initialized afresh once. The first retry waits a little instead: after a
/// `kill -9` of the postmaster its backends can hold the shared memory for a moment.
fn start_or_repair(cluster: &mut Cluster) -> Result<(), ShadowError> {
    let opts = StartOptions {
        detach: true,
        die_with_parent: false,
    };
    if !cluster.is_initialized() {
        cluster.init()?;
    }
    let first = match cluster.ensure_running(opts) {
        Ok(_) => return Ok(()),
        Err(e) => e,
    };
    std::thread::sleep(std::time::Duration::from_millis(500));
    if cluster.ensure_running(opts).is_ok() {
        return Ok(());
    }
    if cluster.running_pid().is_some() {
        // Something is running there that we cannot use: never wipe under a live server.
        return Err(first.into());
    }
    cluster.init()?;
    cluster.ensure_running(opts)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shadow_types_are_shareable_across_threads() {
        fn check<T: Send + Sync>() {}
        check::<Shadow>();
        check::<ScratchDb>();
    }

    #[test]
    fn major_versions() {
        assert_eq!(major(150_006), "15");
        assert_eq!(major(170_000), "17");
        assert_eq!(major(90_624), "9.6");
    }
}
