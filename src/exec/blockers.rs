//! Who stood in a step's way when it had to be retried, so an operator can see that a
//! forgotten `idle in transaction` session, not the database, is what the apply waits for:
//!
//! - after a lock timeout (55P03) the executor asks `pg_locks` which other sessions hold a lock
//!   on the step's relation in a mode that conflicts with the step's ([`blockers`]);
//! - after a deadlock (40P01) PostgreSQL's error detail names the processes of the cycle
//!   (`Process 4711 waits for ShareLock on transaction 812; blocked by process 4712.`): the
//!   other ones are looked up in `pg_stat_activity`, with the lock they hold on the unit's
//!   relations ([`deadlock_blockers`]). PostgreSQL rolled our side back, so the other side
//!   has usually gone on (and may have finished: then only its pid and what it waited for,
//!   from the detail, are known; its queries are only in the server log).
//!
//! Each blocker is a [`Blocker`]: pid, user, application_name, state, the lock mode held, when
//! its transaction and its query started, and the start of its query; it is a JSON object in
//! the `retry` event (docs/json.md) and one line of text in the progress output and the
//! journal (`pid 4711 (app@psql, idle in transaction, transaction open 12s, AccessShareLock on
//! public.users): SELECT ...`).
//!
//! Why not `pg_blocking_pids()`: it answers only while our backend is still waiting, and by the
//! time the error reaches us PostgreSQL has cancelled the wait and rolled the attempt back. The
//! granted conflicting locks are what made the wait time out; sessions queued behind them (also
//! waiting) are not listed.

use crate::plan::LockLevel;
use postgres::Client;

/// `pg_locks.mode` names of the modes that conflict with `level` (PostgreSQL's conflict table,
/// "Explicit Locking", Table 13.2).
fn conflicting_modes(level: LockLevel) -> &'static [&'static str] {
    const AS: &str = "AccessShareLock";
    const RS: &str = "RowShareLock";
    const RE: &str = "RowExclusiveLock";
    const SUE: &str = "ShareUpdateExclusiveLock";
    const S: &str = "ShareLock";
    const SRE: &str = "ShareRowExclusiveLock";
    const E: &str = "ExclusiveLock";
    const AE: &str = "AccessExclusiveLock";
    match level {
        LockLevel::None => &[],
        LockLevel::AccessShare => &[AE],
        LockLevel::RowShare => &[E, AE],
        LockLevel::RowExclusive => &[S, SRE, E, AE],
        LockLevel::ShareUpdateExclusive => &[SUE, S, SRE, E, AE],
        LockLevel::Share => &[RE, SUE, SRE, E, AE],
        LockLevel::ShareRowExclusive => &[RE, SUE, S, SRE, E, AE],
        LockLevel::Exclusive => &[RS, RE, SUE, S, SRE, E, AE],
        LockLevel::AccessExclusive => &[AS, RS, RE, SUE, S, SRE, E, AE],
    }
}

/// A session that held what a retried unit needed.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Blocker {
    /// Why the unit was retried: `lock_timeout` or `deadlock`.
    pub cause: &'static str,
    pub pid: i32,
    /// `pg_stat_activity`'s view of the session; `None` when it is gone (a deadlock's other
    /// side may have finished) or hidden from our role.
    pub user: Option<String>,
    pub application_name: Option<String>,
    /// `active`, `idle in transaction`, ...
    pub state: Option<String>,
    /// The lock it holds on the unit's relation (`AccessShareLock`), when known.
    pub mode: Option<String>,
    /// That relation, as the plan writes it.
    pub relation: Option<String>,
    /// When its transaction and its current (or last) query started (RFC 3339, UTC).
    pub xact_start: Option<String>,
    pub query_start: Option<String>,
    /// Seconds its transaction had been open.
    pub transaction_secs: Option<i64>,
    /// The first 80 characters of its query, white space collapsed.
    pub query: Option<String>,
    /// Deadlock: what it was waiting for itself, from PostgreSQL's detail
    /// (`ShareLock on transaction 812`).
    pub waited_for: Option<String>,
}

impl std::fmt::Display for Blocker {
    /// `pid 4711 (app@psql, idle in transaction, transaction open 12s, AccessShareLock on
    /// public.users): SELECT ...`; a deadlock's side adds what it waited for.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        match (&self.user, &self.application_name) {
            (Some(u), Some(a)) => parts.push(format!("{u}@{a}")),
            (Some(u), None) => parts.push(format!("{u}@-")),
            _ => parts.push("session gone".to_string()),
        }
        if let Some(s) = &self.state {
            parts.push(s.clone());
        }
        if let Some(secs) = self.transaction_secs.filter(|s| *s >= 0) {
            parts.push(format!(
                "transaction open {}",
                super::human_duration(std::time::Duration::from_secs(secs as u64))
            ));
        }
        match (&self.mode, &self.relation) {
            (Some(m), Some(r)) => parts.push(format!("{m} on {r}")),
            (Some(m), None) => parts.push(m.clone()),
            _ => {}
        }
        if let Some(w) = &self.waited_for {
            parts.push(format!("deadlocked with us, it waited for {w}"));
        }
        write!(f, "pid {} ({})", self.pid, parts.join(", "))?;
        if let Some(q) = self.query.as_deref().filter(|q| !q.is_empty()) {
            write!(f, ": {q}")?;
        }
        Ok(())
    }
}

/// The columns of a session in `pg_stat_activity` `a` read into a [`Blocker`] (with `mode`
/// and `relation` selected by the caller).
const SESSION_COLUMNS: &str = "a.usename::text AS usename, \
    nullif(a.application_name, '') AS app, a.state, \
    extract(epoch FROM now() - a.xact_start)::bigint AS xact_secs, \
    to_char(a.xact_start AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') AS xact_start, \
    to_char(a.query_start AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') AS query_start, \
    left(regexp_replace(coalesce(a.query, ''), '\\s+', ' ', 'g'), 80) AS query";

fn blocker_of(row: &postgres::Row, cause: &'static str, waited_for: Option<String>) -> Blocker {
    Blocker {
        cause,
        pid: row.get("pid"),
        user: row.get("usename"),
        application_name: row.get("app"),
        state: row.get("state"),
        mode: row.get("mode"),
        relation: row.get("relation"),
        xact_start: row.get("xact_start"),
        query_start: row.get("query_start"),
        transaction_secs: row.get("xact_secs"),
        query: row.get("query"),
        waited_for,
    }
}

/// The sessions holding a lock on `relation` (a name as the plan writes it) that conflicts
/// with `level`, oldest transaction first, at most 5. Best effort: empty when the relation is
/// gone or the catalogs cannot be read.
pub fn blockers(client: &mut Client, relation: &str, level: LockLevel) -> Vec<Blocker> {
    let modes: Vec<String> = conflicting_modes(level)
        .iter()
        .map(|m| m.to_string())
        .collect();
    if modes.is_empty() {
        return Vec::new();
    }
    let sql = format!(
        "SELECT l.pid, l.mode::text AS mode, $1::text AS relation, {SESSION_COLUMNS} \
         FROM pg_catalog.pg_locks l \
         LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid \
         WHERE l.locktype = 'relation' AND l.granted \
           AND l.relation = pg_catalog.to_regclass($1) \
           AND l.pid <> pg_catalog.pg_backend_pid() \
           AND l.mode = ANY($2) \
         ORDER BY a.xact_start NULLS LAST, l.pid LIMIT 5"
    );
    match client.query(&sql, &[&relation, &modes]) {
        Ok(rows) => rows
            .iter()
            .map(|r| blocker_of(r, "lock_timeout", None))
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// The other processes of a deadlock our unit lost (`error` is its 40P01), from PostgreSQL's
/// detail, each with what `pg_stat_activity` still says about it and the lock it holds on one
/// of `relations` (the unit's lock targets). Best effort: empty when the detail names no
/// process (a server that hides it), a process that is gone is listed with its pid and what
/// it waited for only.
pub fn deadlock_blockers(
    client: &mut Client,
    error: &postgres::Error,
    relations: &[String],
) -> Vec<Blocker> {
    let Some(detail) = error.as_db_error().and_then(|d| d.detail()) else {
        return Vec::new();
    };
    let Ok(ours) = client
        .query_one("SELECT pg_catalog.pg_backend_pid()", &[])
        .map(|r| r.get::<_, i32>(0))
    else {
        return Vec::new();
    };
    let cycle = deadlock_cycle(detail);
    // The relation we waited for (`... on relation 16385 of database 5`): the lock of the
    // other side to name first.
    let waited_relation: Option<i64> =
        cycle
            .iter()
            .find(|(pid, _)| *pid == ours)
            .and_then(|(_, w)| {
                w.split_once(" on relation ")?
                    .1
                    .split(' ')
                    .next()?
                    .parse()
                    .ok()
            });
    let others: Vec<(i32, String)> = cycle.into_iter().filter(|(pid, _)| *pid != ours).collect();
    if others.is_empty() {
        return Vec::new();
    }
    let pids: Vec<i32> = others.iter().map(|(p, _)| *p).collect();
    let sql = format!(
        "SELECT a.pid, l.mode, l.relation, {SESSION_COLUMNS} \
         FROM pg_catalog.pg_stat_activity a \
         LEFT JOIN LATERAL ( \
             SELECT l.mode::text AS mode, \
                    (SELECT pg_catalog.format('%I.%I', n.nspname, c.relname) \
                     FROM pg_catalog.pg_class c \
                     JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
                     WHERE c.oid = l.relation) AS relation \
             FROM pg_catalog.pg_locks l \
             WHERE l.pid = a.pid AND l.granted AND l.locktype = 'relation' \
               AND l.relation IN (SELECT pg_catalog.to_regclass(t) \
                                  FROM unnest($2::text[]) AS t) \
             ORDER BY l.relation = $3::bigint::oid DESC NULLS LAST, l.mode LIMIT 1) l ON true \
         WHERE a.pid = ANY($1)"
    );
    let rows = client
        .query(&sql, &[&pids, &relations, &waited_relation])
        .unwrap_or_default();
    others
        .into_iter()
        .map(
            |(pid, waited)| match rows.iter().find(|r| r.get::<_, i32>("pid") == pid) {
                Some(r) => blocker_of(r, "deadlock", Some(waited)),
                None => Blocker {
                    cause: "deadlock",
                    pid,
                    user: None,
                    application_name: None,
                    state: None,
                    mode: None,
                    relation: None,
                    xact_start: None,
                    query_start: None,
                    transaction_secs: None,
                    query: None,
                    waited_for: Some(waited),
                },
            },
        )
        .collect()
}

/// The processes of a deadlock detail and what each waited for, in the detail's order:
/// `Process 4711 waits for AccessExclusiveLock on relation 16385 of database 5; blocked by
/// process 4712.` gives `(4711, "AccessExclusiveLock on relation 16385 of database 5")`.
fn deadlock_cycle(detail: &str) -> Vec<(i32, String)> {
    detail
        .lines()
        .filter_map(|l| {
            let rest = l.trim().strip_prefix("Process ")?;
            let (pid, rest) = rest.split_once(' ')?;
            let waited = rest.strip_prefix("waits for ")?;
            let waited = waited.split("; blocked by").next()?.trim();
            Some((pid.parse().ok()?, waited.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deadlock_detail_gives_each_process_and_what_it_waited_for() {
        let detail = "Process 4711 waits for AccessExclusiveLock on relation 16385 of database 5; \
                      blocked by process 4712.\nProcess 4712 waits for ShareLock on transaction \
                      812; blocked by process 4711.";
        assert_eq!(
            deadlock_cycle(detail),
            [
                (
                    4711,
                    "AccessExclusiveLock on relation 16385 of database 5".to_string()
                ),
                (4712, "ShareLock on transaction 812".to_string()),
            ]
        );
    }

    #[test]
    fn the_conflict_table_is_symmetric() {
        let all = [
            (LockLevel::AccessShare, "AccessShareLock"),
            (LockLevel::RowShare, "RowShareLock"),
            (LockLevel::RowExclusive, "RowExclusiveLock"),
            (LockLevel::ShareUpdateExclusive, "ShareUpdateExclusiveLock"),
            (LockLevel::Share, "ShareLock"),
            (LockLevel::ShareRowExclusive, "ShareRowExclusiveLock"),
            (LockLevel::Exclusive, "ExclusiveLock"),
            (LockLevel::AccessExclusive, "AccessExclusiveLock"),
        ];
        for (a, an) in all {
            for (b, bn) in all {
                assert_eq!(
                    conflicting_modes(a).contains(&bn),
                    conflicting_modes(b).contains(&an),
                    "{an} vs {bn}"
                );
            }
        }
    }
}
