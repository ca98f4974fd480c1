//! Who holds the lock a step could not get: after a lock timeout (55P03) the executor asks
//! `pg_locks` which other sessions hold a lock on the step's relation in a mode that conflicts
//! with the step's, and names them (pid, user, application, state, transaction age, the start
//! of their query) with the retry, so an operator can see that a forgotten `idle in
//! transaction` session, not the database, is what the apply waits for.
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

/// One line per session holding a lock on `relation` (a name as the plan writes it) that
/// conflicts with `level`: `pid 4711 (app@psql, idle in transaction, transaction open 12s,
/// AccessShareLock on public.users): SELECT ...`. Best effort: empty when the relation is gone
/// or the catalogs cannot be read.
pub fn blockers(client: &mut Client, relation: &str, level: LockLevel) -> Vec<String> {
    let modes: Vec<String> = conflicting_modes(level)
        .iter()
        .map(|m| m.to_string())
        .collect();
    if modes.is_empty() {
        return Vec::new();
    }
    let rows = client.query(
        "SELECT l.pid, l.mode, coalesce(a.usename::text, '?') AS usename, \
                coalesce(nullif(a.application_name, ''), '-') AS app, \
                coalesce(a.state, '?') AS state, \
                coalesce(extract(epoch FROM now() - a.xact_start)::bigint, -1) AS xact_secs, \
                left(regexp_replace(coalesce(a.query, ''), '\\s+', ' ', 'g'), 80) AS query \
         FROM pg_catalog.pg_locks l \
         LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid \
         WHERE l.locktype = 'relation' AND l.granted \
           AND l.relation = pg_catalog.to_regclass($1) \
           AND l.pid <> pg_catalog.pg_backend_pid() \
           AND l.mode = ANY($2) \
         ORDER BY a.xact_start NULLS LAST, l.pid LIMIT 5",
        &[&relation, &modes],
    );
    let Ok(rows) = rows else {
        return Vec::new();
    };
    rows.iter()
        .map(|r| {
            let secs: i64 = r.get("xact_secs");
            let age = if secs >= 0 {
                format!(
                    ", transaction open {}",
                    super::human_duration(std::time::Duration::from_secs(secs as u64))
                )
            } else {
                String::new()
            };
            format!(
                "pid {} ({}@{}, {}{age}, {} on {relation}): {}",
                r.get::<_, i32>("pid"),
                r.get::<_, String>("usename"),
                r.get::<_, String>("app"),
                r.get::<_, String>("state"),
                r.get::<_, String>("mode"),
                r.get::<_, String>("query"),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

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
