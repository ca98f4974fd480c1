//! Running a `transaction: batched` step: its one `UPDATE <table> SET ... WHERE <pending>;`
//! (split by `planfile::batched`) in key-range batches, each batch its own short transaction.
//!
//! The walk:
//! - **Key walk** over the primary key, or else the narrowest valid, non-partial unique index on
//!   plain NOT NULL columns: each batch takes the next `n` keys after the cursor in key order
//!   (`WHERE (k) > (cursor) ORDER BY k LIMIT n`, an index range scan), updates those of them
//!   that are still pending, and moves the cursor to the last of the `n` keys.
//! - **Block walk** when the table has no such key: each batch covers a range of heap blocks
//!   (`ctid >= '(b,0)' AND ctid < '(e,0)'`, a TID range scan), up to the size when the step
//!   started of the largest relation the UPDATE writes (the table, its partitions and
//!   inheritance children: the range applies to each heap). An updated row may move to a block already walked (a concurrent update can
//!   do that too), so after the walk a **mop-up** pass updates what is still pending
//!   (`ctid = ANY(ARRAY(SELECT ctid ... WHERE <pending> LIMIT n))`) until a pass finds fewer than
//!   `n` rows. The key walk ends with the same mop-up (one scan that finds nothing when no row
//!   was missed), so either way the end state is the statement's.
//! - Every batch checks that the rows it updated no longer match the pending predicate (the
//!   new row versions, after triggers, through `RETURNING`): a SET that leaves a row pending
//!   (an expression yielding NULL for `WHERE b IS NULL`) could never finish; the batch is
//!   rolled back and the step fails at once, saying which predicate and how to see the rows.
//!
//! Lock mechanics: an UPDATE takes ROW EXCLUSIVE on the table (conflicts only with SHARE and
//! stronger: DDL, not the application's reads and writes) and row locks on the rows it changes,
//! held until the batch commits. Short batches keep those row locks short: a concurrent
//! transaction writing a row of the batch waits at most one batch. Each batch transaction runs
//! `SET LOCAL lock_timeout` / `statement_timeout` (the step's values); a batch that cannot get a
//! row lock in time (55P03) or deadlocks (40P01) is rolled back and retried alone, with the
//! apply's backoff. The journal entry's cursor is written in the batch's transaction, so it
//! commits exactly with the batch's rows: a killed run resumes after the last committed batch
//! and never redoes one (the pending predicate would make a redo harmless anyway).
//!
//! Batch size: starts at [`BatchPolicy::initial_rows`] (2,000: measured on a 2-core machine
//! under pgbench load, 10k-row batches pushed the application's p99 to ~130 ms while 2k-row
//! batches kept it at baseline) and adapts to how long batches take: halved when a batch takes
//! more than twice the target, grown by half when it takes less than half of it, within bounds.
//! Between batches the executor pauses ([`BatchPolicy::pause`]) so the application's
//! transactions queued on the batch's row locks, and autovacuum, get their turn.

use super::book::{self, BatchState, Cursor};
use super::progress::ProgressEvent;
use super::run::{raise, retryable, set_timeouts, short_error, Runner, StepFailure};
use crate::plan::Step;
use crate::planfile::batched::{self, BatchedUpdate};
use crate::render::quote;
use postgres::types::ToSql;
use postgres::Client;
use std::time::{Duration, Instant};

/// How big batches are and how fast they follow each other.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchPolicy {
    /// Rows in the first batch.
    pub initial_rows: u64,
    pub min_rows: u64,
    pub max_rows: u64,
    /// The batch duration the size adapts to.
    pub target: Duration,
    /// Pause after each batch.
    pub pause: Duration,
}

impl Default for BatchPolicy {
    fn default() -> Self {
        BatchPolicy {
            initial_rows: 2_000,
            min_rows: 100,
            max_rows: 10_000,
            target: Duration::from_millis(50),
            pause: Duration::from_millis(20),
        }
    }
}

impl BatchPolicy {
    /// The size of the next batch after one of `rows` rows took `took`.
    pub fn next_size(&self, rows: u64, took: Duration) -> u64 {
        let next = if took > self.target * 2 {
            rows / 2
        } else if took < self.target / 2 {
            rows + rows / 2
        } else {
            rows
        };
        next.clamp(
            self.min_rows.max(1),
            self.max_rows.max(self.min_rows.max(1)),
        )
    }
}

/// How the batches walk the table.
enum Walk {
    /// Key columns, quoted, with their SQL types (for casting the text cursor back).
    Key {
        columns: Vec<String>,
        types: Vec<String>,
    },
    /// Heap blocks up to `end` (exclusive), with the estimated rows per block.
    Blocks { end: u32, rows_per_block: f64 },
}

/// What one batch did.
struct BatchResult {
    /// Rows updated.
    updated: u64,
    /// Rows updated that still match the pending predicate afterwards: the SET does not
    /// finish them, so no number of batches would (see [`Runner::try_batch`]).
    still_pending: u64,
    /// The cursor after it.
    cursor: Cursor,
    /// The walk (or mop-up) is over after this batch.
    last: bool,
}

impl Runner<'_> {
    /// Runs batched step `n` to the end, continuing from the journal's cursor of an earlier run.
    /// Batches are retried on lock timeouts and deadlocks, each on its own.
    pub(super) fn run_batched(&mut self, n: usize) -> Result<(), StepFailure> {
        let step = self.plan.steps[n - 1].clone();
        let fail = |error| StepFailure {
            step: n,
            error,
            attempts: 1,
        };
        let update = batched::parse(&step.sql).map_err(|m| fail(raise(self.client, &m)))?;
        book::journal_start(self.client, self.run_id, n, &step.summary, false).map_err(fail)?;
        let walk = walk(self.client, &update).map_err(fail)?;
        let estimate = estimate_rows(self.client, &update).map_err(fail)?;
        let mut state = self.batches.get(&n).cloned().unwrap_or_default();
        if state.cursor.is_some() {
            self.out.event(ProgressEvent::Info(format!(
                "step {n}/{}: resuming after batch {} ({} rows done by the interrupted run)",
                self.plan.steps.len(),
                state.batches,
                state.rows
            )));
        }
        self.out.event(ProgressEvent::StepStarted {
            number: n,
            total: self.plan.steps.len(),
            summary: step.summary.clone(),
        });
        let t0 = Instant::now();
        super::run::test_pause("before", n);
        let mut size = self.batch.initial_rows;
        // Rows the mop-up updated in this run: bounded, since a SET that leaves some rows
        // pending (an expression yielding NULL for `WHERE b IS NULL`) would never finish.
        let mut mopped = 0;
        loop {
            if self.interrupt.requested() {
                return Err(self.interrupted(n, &state));
            }
            let mut attempt = 1;
            let (result, took) = loop {
                let started = Instant::now();
                match self.try_batch(n, &step, &update, &walk, &state, size) {
                    Ok(r) => break (r, started.elapsed()),
                    Err(e)
                        if retryable(&e)
                            && attempt < self.retry.max_attempts
                            && !self.interrupt.requested() =>
                    {
                        self.report_blockers(
                            &[n],
                            format!("{n} (batch {})", state.batches + 1),
                            n,
                            attempt,
                            &e,
                        );
                        let delay = self.retry.delay(attempt);
                        self.out.event(ProgressEvent::Retry {
                            steps: format!("{n} (batch {})", state.batches + 1),
                            attempt,
                            max_attempts: self.retry.max_attempts,
                            delay,
                            reason: short_error(&e),
                        });
                        self.sleep(delay);
                        attempt += 1;
                    }
                    Err(error) => {
                        return Err(StepFailure {
                            step: n,
                            error,
                            attempts: attempt,
                        })
                    }
                }
            };
            if state.cursor == Some(Cursor::Swept) {
                mopped += result.updated;
                // Every row the mop-up updates is finished (`try_batch` checks), so rows that
                // keep coming are being written by someone else as fast as they are fixed.
                let bound = 2 * estimate.unwrap_or(0).max(state.rows) + 10 * size;
                if mopped > bound {
                    let message = format!(
                        "step {n}: after the walk over {table} the mop-up updated {mopped} rows \
                         and more keep matching `WHERE {pending}`: another session is writing \
                         such rows as fast as the backfill finishes them (an application \
                         writing NULL into the column?). Stop that writer, then apply again: \
                         the backfill resumes after its last committed batch",
                        table = update.table_sql,
                        pending = update.pending_sql,
                    );
                    return Err(fail(raise(self.client, &message)));
                }
            }
            state.rows += result.updated;
            state.batches += 1;
            state.cursor = Some(result.cursor);
            self.batches.insert(n, state.clone());
            self.out.event(ProgressEvent::Batch {
                number: n,
                total: self.plan.steps.len(),
                batch: state.batches,
                rows: state.rows,
                estimate,
                size,
                took,
            });
            if result.last {
                break;
            }
            size = self.batch.next_size(size, took);
            self.sleep(self.batch.pause);
        }
        super::run::test_pause("after", n);
        self.step_succeeded(n, &step, t0).map_err(fail)
    }

    /// One batch in its own transaction: timeouts, the UPDATE, the journal's cursor, COMMIT.
    fn try_batch(
        &mut self,
        n: usize,
        step: &Step,
        update: &BatchedUpdate,
        walk: &Walk,
        state: &BatchState,
        size: u64,
    ) -> Result<BatchResult, postgres::Error> {
        let mut tx = self.client.transaction()?;
        tx.batch_execute(&set_timeouts(step, "SET LOCAL"))?;
        let result = match (&state.cursor, walk) {
            (Some(Cursor::Swept), _) => mop_up(&mut tx, update, size)?,
            (cursor, Walk::Key { columns, types }) => {
                let after = match cursor {
                    Some(Cursor::Key(k)) => Some(k.as_slice()),
                    _ => None,
                };
                key_batch(&mut tx, update, columns, types, after, size)?
            }
            (
                cursor,
                Walk::Blocks {
                    end,
                    rows_per_block,
                },
            ) => {
                let from = match cursor {
                    Some(Cursor::Block(b)) => *b,
                    _ => 0,
                };
                let blocks = ((size as f64 / rows_per_block).ceil() as u32).max(1);
                block_batch(&mut tx, update, from, blocks, *end)?
            }
        };
        let next = BatchState {
            cursor: Some(result.cursor.clone()),
            rows: state.rows + result.updated,
            batches: state.batches + 1,
        };
        if result.still_pending > 0 {
            // Raised inside the batch's transaction, which is then rolled back: the journal
            // keeps the cursor of the last good batch.
            let message = still_pending_message(n, update, &result, state);
            return Err(raise(&mut tx, &message));
        }
        book::journal_batch_in_tx(&mut tx, self.run_id, n, &next)?;
        tx.commit()?;
        Ok(result)
    }

    /// Stopped between batches. The caller records the step and the run as interrupted (the
    /// journal's cursor already says where to continue); the error is raised through the server,
    /// like every failure of a step.
    fn interrupted(&mut self, n: usize, state: &BatchState) -> StepFailure {
        let message = format!(
            "interrupted between batches: {} batches ({} rows) committed; the next apply continues after them",
            state.batches, state.rows
        );
        StepFailure {
            step: n,
            error: raise(self.client, &message),
            attempts: 1,
        }
    }
}

/// The key to walk (primary key first, else the narrowest usable unique index), or blocks.
fn walk(client: &mut Client, update: &BatchedUpdate) -> Result<Walk, postgres::Error> {
    let rows = client.query(
        "SELECT array_agg(quote_ident(a.attname::text) ORDER BY k.n), \
                array_agg(format_type(a.atttypid, a.atttypmod) ORDER BY k.n) \
         FROM pg_catalog.pg_index i \
         CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, n) \
         JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum \
         WHERE i.indrelid = $1::text::regclass AND i.indisunique AND i.indisvalid \
           AND i.indpred IS NULL AND i.indexprs IS NULL \
           AND k.n <= i.indnkeyatts \
         GROUP BY i.indexrelid, i.indisprimary \
         HAVING bool_and(a.attnotnull) \
         ORDER BY i.indisprimary DESC, count(*), i.indexrelid \
         LIMIT 1",
        &[&update.table_sql],
    )?;
    if let Some(row) = rows.first() {
        return Ok(Walk::Key {
            columns: row.get(0),
            types: row.get(1),
        });
    }
    let row = client.query_one(
        &format!(
            "{UPDATED} SELECT coalesce(max(pg_catalog.pg_relation_size(r.relid)), 0) \
                      / current_setting('block_size')::bigint, \
                    coalesce(sum(c.reltuples) FILTER (WHERE c.reltuples > 0), 0)::float8, \
                    coalesce(sum(c.relpages) FILTER (WHERE c.reltuples > 0), 0)::float8 \
             FROM schemaplan_updated r JOIN pg_catalog.pg_class c ON c.oid = r.relid"
        ),
        &[&update.table_sql],
    )?;
    let end: i64 = row.get(0);
    let (tuples, pages): (f64, f64) = (row.get(1), row.get(2));
    Ok(Walk::Blocks {
        end: u32::try_from(end).unwrap_or(u32::MAX),
        rows_per_block: if pages > 0.0 { tuples / pages } else { 100.0 }.max(1.0),
    })
}

/// The relations an `UPDATE` of table `$1` writes: the table itself and, recursively, its
/// partitions and inheritance children (`pg_inherits` holds both). The block walk must cover
/// the largest of them: a ctid range applies to each one's heap. (`pg_partition_tree()` would
/// not do: it returns no rows for an ordinary table and ignores inheritance children.)
const UPDATED: &str = "WITH RECURSIVE schemaplan_updated(relid) AS ( \
        SELECT $1::text::regclass::oid \
        UNION \
        SELECT i.inhrelid FROM pg_catalog.pg_inherits i \
        JOIN schemaplan_updated u ON i.inhparent = u.relid)";

/// The planner's estimate of the table's rows (`None` when never analyzed), for progress.
fn estimate_rows(
    client: &mut Client,
    update: &BatchedUpdate,
) -> Result<Option<u64>, postgres::Error> {
    let row = client.query_one(
        &format!(
            "{UPDATED} SELECT sum(c.reltuples) FILTER (WHERE c.reltuples >= 0)::float8 \
             FROM schemaplan_updated r JOIN pg_catalog.pg_class c ON c.oid = r.relid \
             WHERE c.relkind <> 'p'"
        ),
        &[&update.table_sql],
    )?;
    Ok(row.get::<_, Option<f64>>(0).map(|t| t as u64))
}

/// `(a, b)` of quoted columns.
fn row_of(items: &[String]) -> String {
    format!("({})", items.join(", "))
}

/// The next `size` keys after `after`; updates the pending rows among them.
fn key_batch(
    tx: &mut postgres::Transaction,
    update: &BatchedUpdate,
    columns: &[String],
    types: &[String],
    after: Option<&[String]>,
    size: u64,
) -> Result<BatchResult, postgres::Error> {
    let keys = row_of(columns);
    let lower = match after {
        Some(_) => {
            let casts: Vec<String> = types
                .iter()
                .enumerate()
                .map(|(i, t)| format!("CAST(${}::text AS {t})", i + 1))
                .collect();
            format!(" WHERE {keys} > {}", row_of(&casts))
        }
        None => String::new(),
    };
    let desc: Vec<String> = columns.iter().map(|c| format!("{c} DESC")).collect();
    // Aliased: an output column named like a key column would be what ORDER BY sorts by.
    let texts: Vec<String> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{c}::text AS schemaplan_key_{i}"))
        .collect();
    let sql = format!(
        "WITH schemaplan_batch AS (\
            SELECT {cols} FROM {table}{lower} ORDER BY {cols} LIMIT {size}), \
         schemaplan_updated AS (\
            {set} WHERE {keys} IN (SELECT {cols} FROM schemaplan_batch) AND ({pending}) \
            RETURNING {still}) \
         SELECT (SELECT count(*) FROM schemaplan_updated), \
                (SELECT count(*) FROM schemaplan_updated WHERE schemaplan_still), \
                (SELECT count(*) FROM schemaplan_batch), {texts} \
         FROM schemaplan_batch ORDER BY {desc} LIMIT 1",
        cols = columns.join(", "),
        table = update.table_sql,
        set = update.update_sql,
        pending = update.pending_sql,
        texts = texts.join(", "),
        desc = desc.join(", "),
        still = still_pending_sql(update),
    );
    let params: Vec<&(dyn ToSql + Sync)> = after
        .unwrap_or_default()
        .iter()
        .map(|v| v as &(dyn ToSql + Sync))
        .collect();
    let rows = tx.query(&sql, &params)?;
    let Some(row) = rows.first() else {
        // No key after the cursor: the walk is over.
        return Ok(BatchResult {
            updated: 0,
            still_pending: 0,
            cursor: Cursor::Swept,
            last: false,
        });
    };
    let updated: i64 = row.get(0);
    let still: i64 = row.get(1);
    let walked: i64 = row.get(2);
    let last_key: Vec<String> = (0..columns.len()).map(|i| row.get(3 + i)).collect();
    Ok(BatchResult {
        updated: updated as u64,
        still_pending: still as u64,
        cursor: if (walked as u64) < size {
            Cursor::Swept
        } else {
            Cursor::Key(last_key)
        },
        last: false,
    })
}

/// Blocks `[from, from + blocks)`: updates the pending rows there.
fn block_batch(
    tx: &mut postgres::Transaction,
    update: &BatchedUpdate,
    from: u32,
    blocks: u32,
    end: u32,
) -> Result<BatchResult, postgres::Error> {
    if from >= end {
        return Ok(BatchResult {
            updated: 0,
            still_pending: 0,
            cursor: Cursor::Swept,
            last: false,
        });
    }
    let to = from.saturating_add(blocks).min(end);
    let sql = format!(
        "{set} WHERE ctid >= {lo}::tid AND ctid < {hi}::tid AND ({pending})",
        set = update.update_sql,
        lo = quote::literal(&format!("({from},0)")),
        hi = quote::literal(&format!("({to},0)")),
        pending = update.pending_sql,
    );
    let (updated, still_pending) = counted(tx, update, &sql)?;
    Ok(BatchResult {
        updated,
        still_pending,
        cursor: if to >= end {
            Cursor::Swept
        } else {
            Cursor::Block(to)
        },
        last: false,
    })
}

/// Up to `size` rows still pending anywhere in the table; the last pass finds fewer.
fn mop_up(
    tx: &mut postgres::Transaction,
    update: &BatchedUpdate,
    size: u64,
) -> Result<BatchResult, postgres::Error> {
    let alias = update
        .alias_sql
        .as_ref()
        .map_or(String::new(), |a| format!(" AS {a}"));
    let sql = format!(
        "{set} WHERE ctid = ANY (ARRAY(SELECT ctid FROM {table}{alias} WHERE {pending} LIMIT {size})) \
         AND ({pending})",
        set = update.update_sql,
        table = update.table_sql,
        pending = update.pending_sql,
    );
    let (updated, still_pending) = counted(tx, update, &sql)?;
    Ok(BatchResult {
        updated,
        still_pending,
        cursor: Cursor::Swept,
        last: updated < size,
    })
}

/// `RETURNING` item telling whether an updated row (its new version, after triggers) still
/// matches the pending predicate.
fn still_pending_sql(update: &BatchedUpdate) -> String {
    format!(
        "coalesce(({}), false) AS schemaplan_still",
        update.pending_sql
    )
}

/// Runs `update_sql` (an UPDATE without RETURNING); returns the rows it updated and how many of
/// them still match the pending predicate.
fn counted(
    tx: &mut postgres::Transaction,
    update: &BatchedUpdate,
    update_sql: &str,
) -> Result<(u64, u64), postgres::Error> {
    let row = tx.query_one(
        &format!(
            "WITH schemaplan_updated AS ({update_sql} RETURNING {}) \
             SELECT count(*), count(*) FILTER (WHERE schemaplan_still) FROM schemaplan_updated",
            still_pending_sql(update)
        ),
        &[],
    )?;
    let (updated, still): (i64, i64) = (row.get(0), row.get(1));
    Ok((updated as u64, still as u64))
}

/// What to say when a batch's SET left rows pending (the batch is rolled back).
fn still_pending_message(
    n: usize,
    update: &BatchedUpdate,
    result: &BatchResult,
    state: &BatchState,
) -> String {
    format!(
        "step {n}: rows are still pending after the backfill set them: {still} of the {updated} \
         rows of batch {batch} still match `WHERE {pending}` after `{set}`, so no number of \
         batches would finish the step (does the expression yield NULL for them?). See them \
         with `SELECT * FROM {table}{alias} WHERE {pending}`; fix those rows or the expression, then \
         apply again: the backfill resumes after its last committed batch ({done} rows done)",
        still = result.still_pending,
        updated = result.updated,
        batch = state.batches + 1,
        pending = update.pending_sql,
        set = update.update_sql,
        table = update.table_sql,
        alias = update
            .alias_sql
            .as_ref()
            .map_or(String::new(), |a| format!(" AS {a}")),
        done = state.rows,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_size_follows_batch_duration() {
        let p = BatchPolicy::default();
        let ms = Duration::from_millis;
        assert_eq!(p.next_size(2000, ms(50)), 2000, "on target: unchanged");
        assert_eq!(p.next_size(2000, ms(10)), 3000, "fast: grows by half");
        assert_eq!(p.next_size(2000, ms(300)), 1000, "slow: halves");
        assert_eq!(p.next_size(9000, ms(1)), 10_000, "never above max");
        assert_eq!(p.next_size(150, ms(900)), 100, "never below min");
    }
}
