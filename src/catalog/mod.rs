//! Live or shadow database -> [`Schema`]: the one introspection path used for both sides.
//!
//! Owns every catalog query (`src/catalog/sql/*.sql`, one set-based query per object kind, never
//! one per table) and the mapping of catalog rows onto the model: which objects are user objects
//! (system schemas and extension members are left out), how privileges are expressed
//! (relative to `acldefault`), which sequences belong to identity columns, how `pg_depend` rows
//! become [`ObjectId`] edges, and what is reported as unmodeled. Also owns [`fingerprint`].
//!
//! Everything is read in one `REPEATABLE READ READ ONLY` transaction with fixed settings
//! (`search_path = ''`, ISO dates, UTC ...) so that PostgreSQL's renderings (`format_type`,
//! `pg_get_expr`, `pg_get_viewdef`, ...) do not depend on the session: with an empty search
//! path every user object is printed schema-qualified, the way `pg_dump` does it.
//! Supported servers: PostgreSQL 13 to 18 (version-specific columns are chosen from
//! `server_version_num`). See `docs/catalog.md` for the decisions.

mod build;
pub mod delta;
pub mod fingerprints;
mod resolve;
pub mod scope;
mod splice;

pub use scope::Scope;

use crate::model::Schema;
use postgres::types::FromSql;
use postgres::Row;

/// Oldest supported server (`server_version_num`).
pub const MIN_SERVER_VERSION: i32 = 130000;
/// Newest supported server: the last major version whose catalogs the queries were checked
/// against. A newer major may have changed a catalog column the queries read, and `apply`
/// must not run a plan whose `from` state it cannot read reliably.
pub const MAX_SERVER_VERSION: i32 = 189999;

/// Refuses a server outside [`MIN_SERVER_VERSION`]..=[`MAX_SERVER_VERSION`].
pub fn check_server_version(version: i32) -> Result<(), CatalogError> {
    if (MIN_SERVER_VERSION..=MAX_SERVER_VERSION).contains(&version) {
        Ok(())
    } else {
        Err(CatalogError::UnsupportedVersion { version })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("catalog query {query} failed: {source}")]
    Query {
        query: &'static str,
        #[source]
        source: postgres::Error,
    },
    #[error("catalog query {query}: cannot read column {column}: {source}")]
    Decode {
        query: &'static str,
        column: &'static str,
        /// `postgres::Error` for a live row; the decoder's own error for a row the delta
        /// read kept (`delta::KeptRows`), which no `postgres::Error` can be made for.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("unsupported PostgreSQL server version {version} (server_version_num); schemaplan supports PostgreSQL 13 to 18")]
    UnsupportedVersion { version: i32 },
    #[error("cannot parse server_version_num {value:?}")]
    BadVersion { value: String },
    #[error("reading the catalog: a relation lock was not granted within the lock timeout, {attempts} times over {seconds:.1} s{}; another session holds ACCESS EXCLUSIVE (DDL, VACUUM FULL, ...); try again when it is done", if holders.is_empty() { String::new() } else { format!(" (held by {holders})") })]
    LockBusy {
        attempts: u32,
        seconds: f64,
        holders: String,
    },
}

/// How the catalog read waits for relation locks. Rendering functions (`pg_get_expr`,
/// `pg_get_viewdef`, `pg_relation_size`, ...) take ACCESS SHARE on the relation they describe
/// and keep it until the read's transaction ends, as `pg_dump` does. ACCESS SHARE conflicts only
/// with ACCESS EXCLUSIVE, but a read stuck behind one table's ACCESS EXCLUSIVE holder (a
/// rewriting `ALTER TABLE`, `VACUUM FULL`, ...) would keep its locks on the tables already read,
/// and any DDL queued behind those would stall their traffic for as long. So every lock is
/// waited for at most `lock_timeout`; on SQLSTATE 55P03 the whole read is rolled back (its locks
/// released) and tried again after a growing pause, `attempts` times in all.
#[derive(Clone, Copy, Debug)]
pub struct LockWait {
    pub lock_timeout: std::time::Duration,
    pub attempts: u32,
    /// Pause after the first failed attempt; doubled after each, up to `max_pause`.
    pub first_pause: std::time::Duration,
    pub max_pause: std::time::Duration,
}

impl Default for LockWait {
    /// 100 ms per lock (the plans' default `lock_timeout`), 20 attempts over about half a
    /// minute: outlasts a short DDL, gives up with a clear error behind a long one.
    fn default() -> Self {
        LockWait {
            lock_timeout: std::time::Duration::from_millis(100),
            attempts: 20,
            first_pause: std::time::Duration::from_millis(200),
            max_pause: std::time::Duration::from_secs(2),
        }
    }
}

/// Reads the whole user schema of the connected database, waiting for relation locks as
/// [`LockWait::default`] says.
pub fn read(client: &mut postgres::Client) -> Result<Schema, CatalogError> {
    read_with(client, LockWait::default())
}

/// [`read`], then only the part of it in `scope` (`catalog::scope`): what a plan made with
/// that scope fingerprints, and what `apply` compares with it.
pub fn read_scoped(client: &mut postgres::Client, scope: &Scope) -> Result<Schema, CatalogError> {
    Ok(scope.into_inside(read(client)?))
}

/// [`read`] with an explicit lock-wait policy.
pub fn read_with(client: &mut postgres::Client, wait: LockWait) -> Result<Schema, CatalogError> {
    read_retrying(client, wait, |tx, version| {
        build::Reader::new(tx, version).read()
    })
}

/// [`read`], with the digest of every catalog row the schema was built from
/// (`build::RowsDigest`): two reads of equal digests built equal schemas (for the same build of
/// schemaplan).
pub fn read_digested(client: &mut postgres::Client) -> Result<(Schema, String), CatalogError> {
    read_retrying(client, LockWait::default(), |tx, version| {
        build::Reader::new(tx, version)
            .with_digest()
            .read_digested()
    })
}

/// One read (`body`) in its own read-only transaction ([`in_read_tx`]), retried while
/// relation locks time out as `wait` says.
fn read_retrying<S: Reading>(
    client: &mut postgres::Client,
    wait: LockWait,
    body: impl Fn(&mut postgres::Transaction<'_>, i32) -> Result<S, CatalogError>,
) -> Result<S, CatalogError> {
    let lock_timeout = wait.lock_timeout;
    let result = retry_on_lock(
        wait,
        |c| crate::timings::stage("catalog read", || in_read_tx(c, lock_timeout, &body)),
        client,
        |e| matches!(e, CatalogError::Query { source, .. } if is_lock_timeout(source)),
    );
    result.map_err(|failure| match failure {
        RetryFailure::Other(e) => e,
        RetryFailure::LockBusy { attempts, seconds } => CatalogError::LockBusy {
            attempts,
            seconds,
            holders: exclusive_holders(client),
        },
    })
}

/// Whether a statement failed because a lock was not granted within `lock_timeout` (55P03).
pub fn is_lock_timeout(e: &postgres::Error) -> bool {
    e.code() == Some(&postgres::error::SqlState::LOCK_NOT_AVAILABLE)
}

/// How [`retry_on_lock`] gave up.
pub enum RetryFailure<E> {
    /// Some other error: returned at once, never retried.
    Other(E),
    /// Every attempt's lock wait timed out.
    LockBusy { attempts: u32, seconds: f64 },
}

/// Runs `attempt` (a whole transaction that set its own `lock_timeout`) until it succeeds,
/// fails for a reason other than a lock timeout (`is_lock`), or `wait.attempts` attempts timed
/// out, pausing between attempts as [`LockWait`] says. Catalog-side reads only: the executor's
/// steps have their own retry with jitter (`exec::run`).
pub fn retry_on_lock<T, E>(
    wait: LockWait,
    mut attempt: impl FnMut(&mut postgres::Client) -> Result<T, E>,
    client: &mut postgres::Client,
    is_lock: impl Fn(&E) -> bool,
) -> Result<T, RetryFailure<E>> {
    let started = std::time::Instant::now();
    let attempts = wait.attempts.max(1);
    let mut pause = wait.first_pause;
    for n in 1..=attempts {
        match attempt(client) {
            Err(e) if is_lock(&e) => {
                if n == attempts {
                    break;
                }
                std::thread::sleep(pause);
                pause = (pause * 2).min(wait.max_pause);
            }
            Err(e) => return Err(RetryFailure::Other(e)),
            Ok(v) => return Ok(v),
        }
    }
    Err(RetryFailure::LockBusy {
        attempts,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Runs `body` in the read's transaction (one consistent snapshot, fixed settings, the server
/// version checked), then leaves the bookkeeping schema out of what it read: the frame of
/// [`read_with`] and of the delta read (`catalog::delta`).
fn in_read_tx<S: Reading>(
    client: &mut postgres::Client,
    lock_timeout: std::time::Duration,
    body: impl FnOnce(&mut postgres::Transaction<'_>, i32) -> Result<S, CatalogError>,
) -> Result<S, CatalogError> {
    let mut tx = client
        .build_transaction()
        .isolation_level(postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .map_err(|source| CatalogError::Query {
            query: "begin",
            source,
        })?;
    let schema = read_frame(&mut tx, lock_timeout, body)?;
    tx.commit().map_err(|source| CatalogError::Query {
        query: "commit",
        source,
    })?;
    Ok(schema)
}

/// [`in_read_tx`] inside a transaction the caller holds open (the proof's, which is rolled
/// back: `workflow::prove`), in a savepoint that is rolled back after the read: the read
/// writes nothing, and its `SET LOCAL`s end with the savepoint instead of lasting until the
/// end of the caller's transaction. The read sees that transaction's own changes. Its
/// isolation level is the caller's: a READ COMMITTED transaction takes a snapshot per
/// statement, which gives one consistent picture as long as nobody else writes the
/// database's catalogs (a scratch or kept shadow database nobody else connects to).
pub(crate) fn in_read_savepoint<S: Reading>(
    tx: &mut postgres::Transaction<'_>,
    lock_timeout: std::time::Duration,
    body: impl FnOnce(&mut postgres::Transaction<'_>, i32) -> Result<S, CatalogError>,
) -> Result<S, CatalogError> {
    let mut sp = tx
        .savepoint("schemaplan_read")
        .map_err(|source| CatalogError::Query {
            query: "savepoint",
            source,
        })?;
    let schema = read_frame(&mut sp, lock_timeout, body)?;
    // `ROLLBACK TO` keeps the savepoint; released too, so the caller's transaction is back at
    // its own level (its later writes are not nested in the reading's savepoint).
    sp.rollback()
        .and_then(|()| tx.batch_execute("RELEASE SAVEPOINT schemaplan_read"))
        .map_err(|source| CatalogError::Query {
            query: "rollback to savepoint",
            source,
        })?;
    Ok(schema)
}

/// The settings, the version check and `body`, then the bookkeeping schema left out: what
/// [`in_read_tx`] and [`in_read_savepoint`] run inside their transaction.
fn read_frame<S: Reading>(
    tx: &mut postgres::Transaction<'_>,
    lock_timeout: std::time::Duration,
    body: impl FnOnce(&mut postgres::Transaction<'_>, i32) -> Result<S, CatalogError>,
) -> Result<S, CatalogError> {
    // Settings that change how PostgreSQL renders expressions and constants:
    // - search_path: empty, so every user object is schema-qualified (pg_catalog is still
    //   searched implicitly, so built-in types and functions stay unqualified);
    // - DateStyle/IntervalStyle/TimeZone/extra_float_digits/bytea_output: constants in defaults,
    //   CHECKs and view bodies are printed with the type's output function;
    // - quote_all_identifiers: would quote every name;
    // - standard_conforming_strings: with it off, string constants holding a backslash are
    //   printed as E'...' with doubled backslashes, so the same schema would read differently
    //   (and plan files assume it on).
    // And lock_timeout (see [`LockWait`]); statement_timeout off, the read may be long.
    // And jit off: the planner's cost estimates of the big catalog queries (a subquery per
    // column in `columns.sql`, ~800,000 at 5,000 tables) are far above `jit_above_cost`, so a
    // server built with LLVM (Debian's and most packages; `jit` is on by default since 12)
    // compiles each of them to machine code before running it: 0.6 s for `columns` alone at
    // 5,000 tables, more than the query then runs, and the same again on every read. The
    // queries touch each row once; compiled expressions never pay for themselves here. The
    // embedded shadow already runs with jit off (`shadow::cluster`); a live server or a
    // `--dev-url` shadow does not (issue 9: the live read, the census of delta reads).
    tx.batch_execute(&format!(
        "SET LOCAL search_path = ''; \
         SET LOCAL jit = off; \
         SET LOCAL standard_conforming_strings = on; \
         SET LOCAL DateStyle = 'ISO, MDY'; \
         SET LOCAL IntervalStyle = 'postgres'; \
         SET LOCAL TimeZone = 'UTC'; \
         SET LOCAL extra_float_digits = 1; \
         SET LOCAL bytea_output = 'hex'; \
         SET LOCAL quote_all_identifiers = off; \
         SET LOCAL lock_timeout = {}; \
         SET LOCAL statement_timeout = 0",
        lock_timeout.as_millis().max(1)
    ))
    .map_err(|source| CatalogError::Query {
        query: "session settings",
        source,
    })?;
    let version = server_version(tx)?;
    // Names read in separate rows (a table's in each of its columns' and constraints' rows,
    // every object's schema) are stored once (`model::name`).
    let mut schema = crate::model::interning(|| body(tx, version))?;
    schema.without_bookkeeping();
    Ok(schema)
}

/// What a read's frame ([`read_frame`]) gives: a schema, or one shared with a delta read's
/// base (`catalog::delta`), which is copied only when it has something to leave out.
pub(crate) trait Reading {
    /// [`without_bookkeeping`].
    fn without_bookkeeping(&mut self);
}

impl Reading for Schema {
    fn without_bookkeeping(&mut self) {
        without_bookkeeping(self);
    }
}

/// A schema and the digest of its rows ([`read_digested`]).
impl Reading for (Schema, String) {
    fn without_bookkeeping(&mut self) {
        without_bookkeeping(&mut self.0);
    }
}

impl Reading for std::sync::Arc<Schema> {
    fn without_bookkeeping(&mut self) {
        if has_bookkeeping(self) {
            without_bookkeeping(std::sync::Arc::make_mut(self));
        }
    }
}

/// Whether [`without_bookkeeping`] would leave anything out of `schema`: anything in schema
/// [`BOOKKEEPING_SCHEMA`] (found by a range of each map keyed by schema-qualified names,
/// which sort by schema first), a publication's member there, a default privilege or an
/// unmodeled object of it. Entries keyed by object id (comments, grants, dependencies,
/// owners) are of objects those maps hold (a column's table, a domain constraint's type).
/// Asks of more maps than [`without_bookkeeping`] filters: a needless copy, never a miss.
fn has_bookkeeping(schema: &Schema) -> bool {
    use crate::model::QName;
    use std::collections::BTreeMap;
    let from = || QName::new(BOOKKEEPING_SCHEMA, "");
    fn any<V>(m: &BTreeMap<QName, V>, from: QName) -> bool {
        m.range(from..)
            .next()
            .is_some_and(|(q, _)| q.schema == BOOKKEEPING_SCHEMA)
    }
    fn any2<V>(m: &BTreeMap<(QName, String), V>, from: QName) -> bool {
        m.range((from, String::new())..)
            .next()
            .is_some_and(|((q, _), _)| q.schema == BOOKKEEPING_SCHEMA)
    }
    let prefix = format!("{BOOKKEEPING_SCHEMA}.");
    schema.schemas.contains_key(BOOKKEEPING_SCHEMA)
        || any(&schema.collations, from())
        || any(&schema.types, from())
        || any(&schema.sequences, from())
        || any(&schema.tables, from())
        || any(&schema.indexes, from())
        || any(&schema.views, from())
        || any(&schema.ts_dictionaries, from())
        || any(&schema.ts_configurations, from())
        || any(&schema.conversions, from())
        || any(&schema.statistics, from())
        || any(&schema.sizes, from())
        || any2(&schema.functions, from())
        || any2(&schema.triggers, from())
        || any2(&schema.policies, from())
        || any2(&schema.operators, from())
        || any2(&schema.operator_families, from())
        || any2(&schema.operator_classes, from())
        || any2(&schema.rules, from())
        || schema
            .publication_tables
            .keys()
            .any(|(_, q)| q.schema == BOOKKEEPING_SCHEMA)
        || schema
            .publication_schemas
            .iter()
            .any(|(_, n)| n == BOOKKEEPING_SCHEMA)
        || schema
            .default_privileges
            .iter()
            .any(|d| d.schema.as_deref() == Some(BOOKKEEPING_SCHEMA))
        || schema
            .unmodeled
            .iter()
            .any(|u| u.identity.starts_with(&prefix))
}

/// The schema `apply` keeps its history and journal in (`exec::book`, `docs/executor.md`).
pub const BOOKKEEPING_SCHEMA: &str = "schemaplan";

/// Leaves schema [`BOOKKEEPING_SCHEMA`] and everything in it out of a schema read from a
/// database: it is schemaplan's bookkeeping, not the application's, so `plan`, `drift`,
/// `dump` and the fingerprints never see it. Done once here, after the per-kind queries,
/// rather than in each query's namespace filter: the queries that select by OID (owners,
/// grants, comments, dependencies, unmodeled objects) have no namespace filter to extend.
pub fn without_bookkeeping(schema: &mut Schema) {
    use crate::model::ObjectId;
    let ours = |q: &crate::model::QName| q.schema == BOOKKEEPING_SCHEMA;
    let id_ours = |id: &ObjectId| match id {
        ObjectId::Schema(n) => n == BOOKKEEPING_SCHEMA,
        ObjectId::Extension(_) => false,
        ObjectId::Collation(q)
        | ObjectId::Type(q)
        | ObjectId::DomainConstraint(q, _)
        | ObjectId::Sequence(q)
        | ObjectId::Table(q)
        | ObjectId::Column(q, _)
        | ObjectId::Constraint(q, _)
        | ObjectId::Index(q)
        | ObjectId::View(q)
        | ObjectId::Function(q, _)
        | ObjectId::Trigger(q, _)
        | ObjectId::Policy(q, _)
        | ObjectId::TextSearchDictionary(q)
        | ObjectId::TextSearchConfiguration(q)
        | ObjectId::Operator(q, _)
        | ObjectId::OperatorClass(q, _)
        | ObjectId::OperatorFamily(q, _)
        | ObjectId::Conversion(q)
        | ObjectId::Statistics(q)
        | ObjectId::Rule(q, _) => ours(q),
        // Database-wide objects; a publication's members are tables or schemas of the
        // application (a member in the bookkeeping schema is left out below).
        ObjectId::Publication(_)
        | ObjectId::EventTrigger(_)
        | ObjectId::ForeignDataWrapper(_)
        | ObjectId::ForeignServer(_)
        | ObjectId::UserMapping(..)
        | ObjectId::Cast(..)
        | ObjectId::AccessMethod(_)
        | ObjectId::Language(_) => false,
        ObjectId::PublicationTable(_, q) => ours(q),
        ObjectId::PublicationSchema(_, n) => n == BOOKKEEPING_SCHEMA,
    };
    schema.schemas.remove(BOOKKEEPING_SCHEMA);
    schema.collations.retain(|q, _| !ours(q));
    schema.types.retain(|q, _| !ours(q));
    schema.sequences.retain(|q, _| !ours(q));
    schema.tables.retain(|q, _| !ours(q));
    schema.indexes.retain(|q, _| !ours(q));
    schema.views.retain(|q, _| !ours(q));
    schema.functions.retain(|(q, _), _| !ours(q));
    schema.triggers.retain(|(q, _), _| !ours(q));
    schema.policies.retain(|(q, _), _| !ours(q));
    schema.publication_tables.retain(|(_, q), _| !ours(q));
    schema.ts_dictionaries.retain(|q, _| !ours(q));
    schema.ts_configurations.retain(|q, _| !ours(q));
    schema.operators.retain(|(q, _), _| !ours(q));
    schema.operator_families.retain(|(q, _), _| !ours(q));
    schema.operator_classes.retain(|(q, _), _| !ours(q));
    schema
        .publication_schemas
        .retain(|(_, n)| n != BOOKKEEPING_SCHEMA);
    schema.comments.retain(|id, _| !id_ours(id));
    schema.grants.retain(|g| !id_ours(&g.on));
    schema
        .default_privileges
        .retain(|d| d.schema.as_deref() != Some(BOOKKEEPING_SCHEMA));
    schema.depends.retain(|id, _| !id_ours(id));
    for targets in schema.depends.values_mut() {
        targets.retain(|t| !id_ours(t));
    }
    schema.owners.retain(|id, _| !id_ours(id));
    schema.sizes.retain(|q, _| !ours(q));
    let prefix = format!("{BOOKKEEPING_SCHEMA}.");
    let foreign = |u: &crate::model::Unmodeled| u.identity.starts_with(&prefix);
    schema.unmodeled.retain(|u| !foreign(u));
    schema.unmodeled_deps.retain(|u, _| !foreign(u));
}

/// Who holds ACCESS EXCLUSIVE on a relation of this database (for [`CatalogError::LockBusy`]):
/// `public.orders (pid 4711: ALTER TABLE ...)`, best effort (empty when it cannot be read).
pub fn exclusive_holders(client: &mut postgres::Client) -> String {
    let rows = client.query(
        "SELECT l.relation::regclass::text AS rel, l.pid, \
                left(regexp_replace(coalesce(a.query, ''), '\\s+', ' ', 'g'), 80) AS query \
         FROM pg_catalog.pg_locks l \
         LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid \
         WHERE l.locktype = 'relation' AND l.mode = 'AccessExclusiveLock' AND l.granted \
           AND l.pid <> pg_catalog.pg_backend_pid() \
           AND l.database = (SELECT oid FROM pg_catalog.pg_database \
                             WHERE datname = pg_catalog.current_database()) \
         ORDER BY 1, 2 LIMIT 5",
        &[],
    );
    let Ok(rows) = rows else {
        return String::new();
    };
    rows.iter()
        .map(|r| {
            format!(
                "{} (pid {}: {})",
                r.get::<_, String>("rel"),
                r.get::<_, i32>("pid"),
                r.get::<_, String>("query")
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `server_version_num` of the connected server, checked by [`check_server_version`].
fn server_version(tx: &mut postgres::Transaction<'_>) -> Result<i32, CatalogError> {
    let row = tx
        .query_one("SHOW server_version_num", &[])
        .map_err(|source| CatalogError::Query {
            query: "server_version_num",
            source,
        })?;
    let value: String = get(&row, "server_version_num", "server_version_num")?;
    let version: i32 = value
        .trim()
        .parse()
        .map_err(|_| CatalogError::BadVersion { value })?;
    check_server_version(version)?;
    Ok(version)
}

/// Reads one column of a catalog row, naming the query and column on failure.
fn get<'a, T: FromSql<'a>>(
    row: &'a Row,
    query: &'static str,
    column: &'static str,
) -> Result<T, CatalogError> {
    row.try_get(column).map_err(|source| CatalogError::Decode {
        query,
        column,
        source: Box::new(source),
    })
}

/// One short digest per object of the schema's canonical form, keyed by a label a reader knows
/// (`table public.users`, `index public.users_email_idx`, `grants on Table(...)`): written into
/// `plan.json` for the plan's `from` state, so that `apply` can say WHICH objects differ when
/// the live fingerprint is not `from` (the fingerprint alone only says that something does).
pub fn object_digests(schema: &Schema) -> std::collections::BTreeMap<String, String> {
    crate::timings::stage("object digests", || object_digests_of(schema))
}

fn object_digests_of(schema: &Schema) -> std::collections::BTreeMap<String, String> {
    use crate::model::{canonical_table, canonical_view, Printed};
    let s = schema;
    let mut out = Digests::new();
    // The kinds a fingerprint prints one object at a time ([`fingerprint_and_digests`]).
    let mut put = |p: Printed, value: &dyn std::fmt::Debug| {
        out.insert(printed_label(p), short_digest(&debug_digest(value)));
    };
    s.types.iter().for_each(|(k, v)| put(Printed::Type(k), v));
    s.sequences
        .iter()
        .for_each(|(k, v)| put(Printed::Sequence(k), v));
    s.tables
        .iter()
        .for_each(|(k, v)| put(Printed::Table(k), &canonical_table(v)));
    s.indexes
        .iter()
        .for_each(|(k, v)| put(Printed::Index(k), v));
    s.views
        .iter()
        .for_each(|(k, v)| put(Printed::View(k), &canonical_view(v)));
    s.functions
        .iter()
        .for_each(|(k, v)| put(Printed::Function(k), v));
    s.triggers
        .iter()
        .for_each(|(k, v)| put(Printed::Trigger(k), v));
    s.policies
        .iter()
        .for_each(|(k, v)| put(Printed::Policy(k), v));
    other_digests(s, &mut out);
    unmodeled_digests(&s.unmodeled, &mut out);
    out
}

/// Digests of a schema's objects ([`object_digests`]), by label.
pub type Digests = std::collections::BTreeMap<String, String>;

/// The label of an object of [`object_digests`] among the kinds `model::Printed` names.
fn printed_label(p: crate::model::Printed) -> String {
    use crate::model::Printed;
    match p {
        Printed::Type(k) => format!("type {k}"),
        Printed::Sequence(k) => format!("sequence {k}"),
        Printed::Table(k) => format!("table {k}"),
        Printed::Index(k) => format!("index {k}"),
        Printed::View(k) => format!("view {k}"),
        Printed::Function((q, args)) => format!("function {q}({args})"),
        Printed::Trigger((q, name)) => format!("trigger {name} on {q}"),
        Printed::Policy((q, name)) => format!("policy {name} on {q}"),
    }
}

/// An object's digest as `plan.json` holds it: the first 16 hex digits of the SHA-256.
fn short_digest(sha: &[u8]) -> String {
    hex(&sha[..8])
}

/// The schema's fingerprint ([`fingerprint`]) and object digests ([`object_digests`]), the
/// same values, from one printing of the schema: the objects of the big kinds (tables,
/// indexes, views, functions ...) are printed once for both (`model::canonical_lines`),
/// where the two functions print each twice (issue 9: a plan needs both of its `from` and of
/// its target schema).
pub fn fingerprint_and_digests(schema: &Schema) -> (String, Digests) {
    crate::timings::stage("fingerprint and object digests", || {
        head_of(schema).finish(&schema.unmodeled)
    })
}

/// A plan's target fingerprint and object digests (those of [`with_unmodeled_of`]`(schema,
/// live)`, without the copy of `schema` that would take), in two parts: this one prints
/// everything that does not depend on the live side's unmodeled objects (all but the last
/// lines of the canonical text, and the digests of every object of `schema`);
/// [`PrintedHead::finish`] adds the rest, the same values. A `plan` prints this part on a
/// thread of its own from the moment the desired side is loaded, often while the live catalog
/// is still being read, and finishes it beside the proof, which still reads the desired
/// schema (issue 9: ~0.4 s of CPU at 5,000 tables).
pub fn printed_head(schema: &Schema) -> PrintedHead {
    crate::timings::stage("target fingerprint, first part", || head_of(schema))
}

/// [`printed_head`] without its timing stage: [`fingerprint_and_digests`] is the same two
/// parts, one after the other.
fn head_of(schema: &Schema) -> PrintedHead {
    use sha2::{Digest, Sha256};
    let mut digests = Digests::new();
    let mut hasher = Sha256::new();
    crate::model::canonical_head(
        schema,
        crate::model::Lines {
            keep: |line| !empty_field(line),
            text: &mut |text| hasher.update(text.as_bytes()),
            each: &mut |p, text| {
                digests.insert(printed_label(p), short_digest(&Sha256::digest(text)));
            },
        },
    );
    other_digests(schema, &mut digests);
    PrintedHead { hasher, digests }
}

/// A schema printed up to its unmodeled objects ([`printed_head`]).
pub struct PrintedHead {
    hasher: sha2::Sha256,
    digests: Digests,
}

impl PrintedHead {
    /// The fingerprint and object digests of the schema [`printed_head`] printed, with
    /// `unmodeled` as its unmodeled objects: what [`fingerprint_and_digests`] gives for the
    /// schema with those unmodeled objects.
    pub fn finish(
        self,
        unmodeled: &std::collections::BTreeSet<crate::model::Unmodeled>,
    ) -> (String, Digests) {
        use sha2::Digest;
        let PrintedHead {
            mut hasher,
            mut digests,
        } = self;
        crate::model::canonical_tail(unmodeled, |line| !empty_field(line), &mut |text| {
            hasher.update(text.as_bytes())
        });
        unmodeled_digests(unmodeled, &mut digests);
        (hex(&hasher.finalize()), digests)
    }
}

/// The fingerprint of `schema` with `unmodeled` as its unmodeled objects: SHA-256 of the
/// canonical text without the lines of fields holding their empty value ([`empty_field`]),
/// hashed as `model::canonical_lines` writes it (each object printed once, filtered where it
/// is written; the text is never held whole), `each` called with each object of the kinds of
/// `model::Printed` and its own text.
fn fingerprint_of<'a>(
    schema: &'a Schema,
    unmodeled: &'a std::collections::BTreeSet<crate::model::Unmodeled>,
    each: &mut dyn FnMut(crate::model::Printed<'a>, &str),
) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    crate::model::canonical_lines(
        schema,
        unmodeled,
        crate::model::Lines {
            keep: |line| !empty_field(line),
            text: &mut |text| hasher.update(text.as_bytes()),
            each,
        },
    );
    hex(&hasher.finalize())
}

/// The digests of the objects of the kinds `model::Printed` does not name, but for the
/// unmodeled ones ([`unmodeled_digests`]).
fn other_digests(s: &Schema, out: &mut Digests) {
    use std::fmt::Debug;
    // Each object in its canonical form (`model::canonical`), normalized one at a time: no
    // canonical copy of the whole schema.
    let mut put = |label: String, value: &dyn Debug| {
        out.insert(label, short_digest(&debug_digest(value)));
    };
    for (k, v) in &s.schemas {
        put(format!("schema {k}"), v);
    }
    for (k, v) in &s.extensions {
        put(
            format!("extension {k}"),
            &crate::model::canonical_extension(v),
        );
    }
    for (k, v) in &s.collations {
        put(format!("collation {k}"), v);
    }
    for (k, v) in &s.publications {
        put(format!("publication {k}"), v);
    }
    for ((p, q), v) in &s.publication_tables {
        put(format!("table {q} in publication {p}"), v);
    }
    for (p, n) in &s.publication_schemas {
        put(format!("schema {n} in publication {p}"), &(p, n));
    }
    for (k, v) in &s.event_triggers {
        put(format!("event trigger {k}"), v);
    }
    for (k, v) in &s.foreign_data_wrappers {
        put(format!("foreign-data wrapper {k}"), v);
    }
    for (k, v) in &s.foreign_servers {
        put(format!("server {k}"), v);
    }
    for ((srv, u), v) in &s.user_mappings {
        put(format!("user mapping for {u} on server {srv}"), v);
    }
    for ((from, to), v) in &s.casts {
        put(format!("cast ({from} AS {to})"), v);
    }
    for (k, v) in &s.access_methods {
        put(format!("access method {k}"), v);
    }
    for (k, v) in &s.conversions {
        put(format!("conversion {k}"), v);
    }
    for (k, v) in &s.languages {
        put(format!("language {k}"), v);
    }
    for (k, v) in &s.statistics {
        put(format!("statistics {k}"), v);
    }
    for ((t, n), v) in &s.rules {
        put(format!("rule {n} on {t}"), v);
    }
    for (k, v) in &s.ts_dictionaries {
        put(
            format!("text search dictionary {k}"),
            &crate::model::canonical_ts_dictionary(v),
        );
    }
    for (k, v) in &s.ts_configurations {
        put(format!("text search configuration {k}"), v);
    }
    for ((q, args), v) in &s.operators {
        put(format!("operator {q}({args})"), v);
    }
    for ((q, m), v) in &s.operator_families {
        put(format!("operator family {q} using {m}"), v);
    }
    for ((q, m), v) in &s.operator_classes {
        put(format!("operator class {q} using {m}"), v);
    }
    for (id, text) in &s.comments {
        put(format!("comment on {id:?}"), text);
    }
    let mut grants: std::collections::BTreeMap<String, Vec<_>> = Default::default();
    for g in &s.grants {
        grants
            .entry(format!("grants on {:?}", g.on))
            .or_default()
            .push(g);
    }
    for (label, list) in grants {
        put(label, &list);
    }
    if !s.default_privileges.is_empty() {
        put("default privileges".to_string(), &s.default_privileges);
    }
}

/// The digests of `unmodeled` (the schema's unmodeled objects, or the live database's, see
/// [`printed_head`]).
fn unmodeled_digests(
    unmodeled: &std::collections::BTreeSet<crate::model::Unmodeled>,
    out: &mut Digests,
) {
    for u in unmodeled {
        out.insert(
            format!("{} {} (not modeled)", u.kind, u.identity),
            short_digest(&debug_digest(u)),
        );
    }
}

/// The objects whose digests differ between two [`object_digests`] maps, one line each
/// (`changed: table public.t`, `only in the database: ...`, `missing from the database: ...`).
pub fn digest_differences(
    expected: &std::collections::BTreeMap<String, String>,
    live: &std::collections::BTreeMap<String, String>,
) -> Vec<String> {
    let mut out = Vec::new();
    for (k, v) in expected {
        match live.get(k) {
            None => out.push(format!("missing from the database: {k}")),
            Some(l) if l != v => out.push(format!("changed: {k}")),
            Some(_) => {}
        }
    }
    for k in live.keys().filter(|k| !expected.contains_key(*k)) {
        out.push(format!("only in the database: {k}"));
    }
    out
}

/// `schema` with the unmodeled objects of `live` instead of its own: the state a plan from
/// `live` to `schema` ends in. A plan leaves unmodeled objects as they are (carrying over
/// those it would drop, refusing the rest) and never creates any, so the fingerprint `apply`
/// checks after the last step must count the live database's, not the shadow's.
/// Takes `schema` by value: the caller is done with it, and a copy of a big schema is what
/// issue 9's memory target cannot afford.
pub fn with_unmodeled_of(mut schema: Schema, live: &Schema) -> Schema {
    schema.unmodeled.clone_from(&live.unmodeled);
    schema.unmodeled_deps.clone_from(&live.unmodeled_deps);
    schema
}

/// Hex SHA-256 of the schema's canonical text; equal schemas have equal fingerprints.
/// The text is printed object by object from `schema` ([`crate::model::canonical_lines`]):
/// no canonical copy of the schema is built.
///
/// The canonical text is the `Debug` rendering of [`Schema::canonical`] (no dependency edges,
/// no column order, no extension versions: what diff does not compare either). Every
/// collection in the model is ordered (`BTreeMap`/`BTreeSet`/`Vec` in catalog order), so the
/// text is deterministic. Catalog oids never enter the model, so two databases loaded from the
/// same statements in different orders fingerprint the same.
///
/// Fields holding their empty value (`[]`, `{}`, `None`, `false`, `""`, `0`) are left out of
/// the text, so a field a later version adds to the model, empty wherever the feature is
/// unused, leaves the fingerprints of schemas without it unchanged: a plan written before the
/// upgrade still matches the database it was made for. Pretty `Debug` prints each field on a
/// line of its own and escapes line breaks inside strings, so a left-out line is always a whole
/// field, and a field with any other value is still printed.
pub fn fingerprint(schema: &Schema) -> String {
    crate::timings::stage("fingerprint", || {
        fingerprint_of(schema, &schema.unmodeled, &mut |_, _| {})
    })
}

/// SHA-256 of `value`'s `{:#?}` text, hashed as it is written: the text of a big schema is
/// never held in memory whole (it is several times the size of the schema itself).
fn debug_digest(value: &dyn std::fmt::Debug) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    struct Hashing(Sha256);
    impl std::fmt::Write for Hashing {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            self.0.update(s.as_bytes());
            Ok(())
        }
    }
    let mut h = Hashing(Sha256::new());
    std::fmt::Write::write_fmt(&mut h, format_args!("{value:#?}")).expect("hashing cannot fail");
    h.0.finalize().to_vec()
}

/// Whether a line of pretty `Debug` output is a named field with its type's empty value.
fn empty_field(line: &str) -> bool {
    // Most lines end otherwise: refused by their last bytes alone (every line of the text of
    // a big schema passes here, issue 9).
    let b = line.as_bytes();
    let empty_ending = [&b"[],"[..], b"{},", b"None,", b"false,", b"\"\",", b": 0,"];
    if !empty_ending.iter().any(|e| b.ends_with(e)) {
        return false;
    }
    let Some((name, value)) = line.trim_start().split_once(": ") else {
        return false;
    };
    let named = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_');
    named && matches!(value, "[]," | "{}," | "None," | "false," | "\"\"," | "0,")
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn empty_fields_are_left_out_of_the_fingerprint_text_and_nothing_else() {
        for empty in [
            "    comment: None,",
            "        grants: [],",
            "  options: {},",
            "    unlogged: false,",
            "    name: \"\",",
            "    statistics_target: 0,",
        ] {
            assert!(super::empty_field(empty), "{empty}");
        }
        for kept in [
            "    comment: Some(",
            "    unlogged: true,",
            "    grants: [",
            "        None,",
            "    name: \"x\",",
            "    statistics_target: 10,",
            "    Column {",
            "            \"a: None,\",",
            // ending as an empty field does, and not one
            "    statistics_target: 10,",
            "    Name: None,",
            "    a: b: [],",
            "        [],",
            "    k: x: 0,",
        ] {
            assert!(!super::empty_field(kept), "{kept}");
        }
    }

    #[test]
    fn supported_server_versions_are_13_to_18() {
        for ok in [130000, 130020, 150006, 180000, 189999] {
            assert!(super::check_server_version(ok).is_ok(), "{ok}");
        }
        for bad in [90624, 120017, 129999, 190000, 200001] {
            let err = super::check_server_version(bad).unwrap_err().to_string();
            assert!(
                err.contains(&bad.to_string()) && err.contains("13 to 18"),
                "{err}"
            );
        }
    }
}
