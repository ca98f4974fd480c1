//! One `apply` per database: a session-level advisory lock held by a guard.
//!
//! Lock mechanics: `pg_advisory_lock(k1, k2)` takes an advisory lock in the current database
//! (advisory locks are per database) owned by the *session*, not a transaction: it survives our
//! COMMITs and ROLLBACKs and is released by `pg_advisory_unlock` or when the connection ends — so
//! a crashed or killed apply never leaves it behind. A second apply waits for it by polling
//! `pg_try_advisory_lock`, never by blocking in `pg_advisory_lock` (see [`wait_for_lock`]). The two-int4 form shows up in
//! `pg_locks` as `classid = k1, objid = k2, objsubid = 2`, which is how we name the holder.

use super::ExecError;
use crate::db;
use postgres::Client;
use std::ops::{Deref, DerefMut};
use std::time::Duration;

/// `'schp'` in ASCII: schemaplan's advisory-lock namespace.
pub const LOCK_CLASS: i32 = 0x7363_6870;
/// The apply lock within that namespace.
pub const LOCK_APPLY: i32 = 1;

/// A session holding the apply lock; unlocks on drop. Derefs to the client.
pub struct LockedSession {
    client: Client,
}

impl Deref for LockedSession {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}

impl DerefMut for LockedSession {
    fn deref_mut(&mut self) -> &mut Client {
        &mut self.client
    }
}

impl Drop for LockedSession {
    fn drop(&mut self) {
        // Best effort: if the connection is gone, the server released the lock with it.
        let _ = self.client.execute(
            "SELECT pg_advisory_unlock($1, $2)",
            &[&LOCK_CLASS, &LOCK_APPLY],
        );
    }
}

/// Takes the apply lock: at once, or by waiting up to `wait` (`None`: do not wait).
/// `on_wait` is told who holds it before waiting.
pub fn acquire(
    mut client: Client,
    wait: Option<Duration>,
    on_wait: &mut dyn FnMut(&str, Duration),
) -> Result<LockedSession, ExecError> {
    if try_lock(&mut client)? {
        return Ok(LockedSession { client });
    }
    let holder = holder(&mut client);
    let wait = match wait {
        Some(w) if !w.is_zero() => w,
        _ => {
            return Err(ExecError::LockBusy {
                holder,
                waited: None,
            })
        }
    };
    on_wait(&holder, wait);
    wait_for_lock(&mut client, wait).map_err(|e| match e {
        ExecError::LockBusy { .. } => ExecError::LockBusy {
            holder: self::holder(&mut client),
            waited: Some(wait),
        },
        other => other,
    })?;
    Ok(LockedSession { client })
}

/// Takes the apply lock if it is free.
pub fn try_lock(client: &mut Client) -> Result<bool, ExecError> {
    let row = client
        .query_one(
            "SELECT pg_try_advisory_lock($1, $2)",
            &[&LOCK_CLASS, &LOCK_APPLY],
        )
        .map_err(ExecError::bookkeeping("take the apply lock"))?;
    Ok(row.get(0))
}

/// Waits up to `wait` for the apply lock by trying `pg_try_advisory_lock` every quarter second
/// (with jitter), outside any transaction between tries.
///
/// Not a blocking `pg_advisory_lock` under `lock_timeout`: a session blocked in a statement
/// holds a snapshot, and the running apply's `CREATE INDEX CONCURRENTLY` waits for every
/// transaction with an older snapshot to end before it finishes. The waiter would wait for the
/// apply's lock while the apply's index build waits for the waiter: a deadlock (PostgreSQL
/// cancels one of them), or with a long `lock_timeout` a build stalled for that long.
fn wait_for_lock(client: &mut Client, wait: Duration) -> Result<(), ExecError> {
    use rand::Rng;
    let deadline = std::time::Instant::now() + wait;
    loop {
        if try_lock(client)? {
            return Ok(());
        }
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Err(ExecError::LockBusy {
                holder: String::new(),
                waited: Some(wait),
            });
        }
        let pause = Duration::from_millis(rand::thread_rng().gen_range(200..=300));
        std::thread::sleep(pause.min(left));
    }
}

/// Who holds the apply lock, from `pg_locks` and `pg_stat_activity` (seeing other users'
/// sessions may need `pg_read_all_stats`; then we say so instead).
pub fn holder(client: &mut Client) -> String {
    let rows = client.query(
        "SELECT l.pid, coalesce(a.usename::text, '?'), coalesce(a.application_name, ''), \
                coalesce(host(a.client_addr), 'local socket'), \
                coalesce(to_char(a.backend_start AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), '?') \
         FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid \
         WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2 \
           AND l.classid = $1::int4::oid AND l.objid = $2::int4::oid \
           AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        &[&LOCK_CLASS, &LOCK_APPLY],
    );
    match rows {
        Ok(rows) if !rows.is_empty() => {
            let r = &rows[0];
            let pid: i32 = r.get(0);
            let app: String = r.get(2);
            format!(
                "pid {pid}, user {}, application {:?}, client {}, connected since {}",
                r.get::<_, String>(1),
                db::redact(&app),
                r.get::<_, String>(3),
                r.get::<_, String>(4)
            )
        }
        Ok(_) => "holder not visible (it may have just finished)".to_string(),
        Err(_) => "holder unknown (cannot read pg_locks)".to_string(),
    }
}

/// Whether some session holds the apply lock now (used by `status` to tell a running apply
/// from one that died).
pub fn is_held(client: &mut Client) -> Result<bool, ExecError> {
    let row = client
        .query_one(
            "SELECT EXISTS (SELECT FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted \
               AND l.objsubid = 2 AND l.classid = $1::int4::oid AND l.objid = $2::int4::oid \
               AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()))",
            &[&LOCK_CLASS, &LOCK_APPLY],
        )
        .map_err(ExecError::bookkeeping("read pg_locks"))?;
    Ok(row.get(0))
}
