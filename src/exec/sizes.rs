//! Apply-time re-check of the plan's size judgements: a step given its plain form because its
//! table was empty or small at plan time says so in a note (`public.users was empty at plan
//! time`, `... was 48 kB at plan time, within --small-table 1MB`, see `plan::size`). Before a
//! run, the tables those notes name are measured again (`pg_relation_size`, one query); if one
//! has grown past the note's threshold, the plain form would hold its lock for a long scan or
//! build, so the run is refused with advice to plan again (`--force` runs it anyway, with a
//! warning). Cheap: catalog lookups and one `stat` per table, ACCESS SHARE taken and released
//! at once per table.

use super::ExecError;
use crate::catalog;
use crate::plan::size::{note_assumption, pretty, setting};
use crate::plan::Plan;
use postgres::{Client, Row};
use std::collections::BTreeMap;

/// Checks the size notes of the steps in `to_run`. `Ok` with warnings when `force` overrides.
pub fn check(
    client: &mut Client,
    plan: &Plan,
    to_run: &[usize],
    force: bool,
    warnings: &mut Vec<String>,
) -> Result<(), ExecError> {
    // (step, table, limit)
    let assumed: Vec<(usize, String, u64)> = to_run
        .iter()
        .flat_map(|&k| {
            plan.steps[k - 1]
                .notes
                .iter()
                .filter_map(|n| note_assumption(n))
                .map(move |(t, limit)| (k, t, limit))
        })
        .collect();
    if assumed.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = assumed.iter().map(|(_, t, _)| t.clone()).collect();
    // pg_relation_size takes ACCESS SHARE on each table: waited for as the catalog read waits
    // (short lock_timeout, the whole query retried), never queued behind a long DDL.
    let wait = catalog::LockWait::default();
    let measured = catalog::retry_on_lock(
        wait,
        |c| measure(c, &names, wait.lock_timeout),
        client,
        catalog::is_lock_timeout,
    );
    let rows = measured.map_err(|failure| match failure {
        catalog::RetryFailure::Other(source) => ExecError::Bookkeeping {
            what: "measure the tables the plan judged empty or small",
            source,
        },
        catalog::RetryFailure::LockBusy { attempts, seconds } => {
            ExecError::Catalog(catalog::CatalogError::LockBusy {
                attempts,
                seconds,
                holders: catalog::exclusive_holders(client),
            })
        }
    })?;
    let now: BTreeMap<String, u64> = rows
        .iter()
        .map(|r| {
            let bytes: Option<i64> = r.get("bytes");
            (r.get("name"), bytes.unwrap_or(0).max(0) as u64)
        })
        .collect();
    let mut grown = Vec::new();
    for (k, table, limit) in &assumed {
        let Some(&bytes) = now.get(table) else {
            continue; // gone or renamed: the step itself will say
        };
        if bytes > *limit {
            grown.push(format!(
                "  step {k} ({}): {table} is {} now, over {}",
                plan.steps[k - 1].summary,
                pretty(bytes),
                setting(*limit)
            ));
        }
    }
    if grown.is_empty() {
        return Ok(());
    }
    if force {
        warnings.push(format!(
            "--force: tables grew since the plan was made; their plain-form steps will hold their locks while they scan:\n{}",
            grown.join("\n")
        ));
        return Ok(());
    }
    Err(ExecError::TablesGrew {
        plan_id: plan.id.clone(),
        steps: grown,
    })
}

/// Heap sizes of the named tables (`schema.name`), in one transaction whose lock waits end
/// after `lock_timeout`. Notes name tables unquoted; a name containing a dot could match more
/// than one relation, and then the largest counts.
fn measure(
    client: &mut Client,
    names: &[String],
    lock_timeout: std::time::Duration,
) -> Result<Vec<Row>, postgres::Error> {
    let mut tx = client.transaction()?;
    tx.batch_execute(&format!(
        "SET LOCAL lock_timeout = {}",
        lock_timeout.as_millis().max(1)
    ))?;
    let rows = tx.query(
        "SELECT n.nspname || '.' || c.relname AS name,
                max(CASE WHEN c.relkind = 'p' THEN
                      (SELECT coalesce(sum(pg_relation_size(pt.relid)), 0)::int8
                       FROM pg_partition_tree(c.oid) pt WHERE pt.isleaf)
                    ELSE pg_relation_size(c.oid) END) AS bytes
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relkind IN ('r', 'p', 'm') AND n.nspname || '.' || c.relname = ANY($1)
         GROUP BY 1",
        &[&names],
    )?;
    tx.commit()?;
    Ok(rows)
}
