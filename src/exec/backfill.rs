//! Running a `transaction: batched` step: its one `UPDATE <table> SET ... WHERE <pending>;`
//! (split by `planfile::batched`) in key-range batches, each batch its own short transaction.
//!
//! The walk:
//! - **Key walk** over the primary key, or else the narrowest valid, non-partial unique index on
//!   plain NOT NULL columns: each batch takes the next `n` keys after the cursor in key order
//!   (`WHERE (k) > (cursor) ORDER BY k LIMIT n`, an index range scan), updates those of them
//!   that are still pending, and moves the cursor to the last of the `n` keys.
//! - **Block walk** when the table has no such key: each batch covers a range of heap blocks
//!   (`ctid >= '(b,0)' AND ctid < '(e,0)'`, a TID range scan), up to the table's size when the
//!   step started. An updated row may move to a block already walked (a concurrent update can
//!   do that too), so after the walk a **mop-up** pass updates what is still pending
//!   (`ctid = ANY(ARRAY(SELECT ctid ... WHERE <pending> LIMIT n))`) until a pass finds fewer than
//!   `n` rows. The key walk ends with the same mop-up (one scan that finds nothing when no row
//!   was missed), so either way the end state is the statement's.
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
                if mopped > 2 * estimate.unwrap_or(0) + 10 * size {
                    let message = format!(
                        "step {n}: after the walk over the table the mop-up updated {mopped} rows \
                         and rows are still pending: the SET does not make the WHERE false for \
                         them (does the expression yield NULL for some rows?)"
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
        "SELECT coalesce(max(pg_catalog.pg_relation_size(t.relid)), 0) \
                  / current_setting('block_size')::bigint, \
                coalesce(sum(c.reltuples) FILTER (WHERE c.reltuples > 0), 0)::float8, \
                coalesce(sum(c.relpages) FILTER (WHERE c.reltuples > 0), 0)::float8 \
         FROM pg_catalog.pg_partition_tree($1::text::regclass) t \
         JOIN pg_catalog.pg_class c ON c.oid = t.relid",
        &[&update.table_sql],
    )?;
    let end: i64 = row.get(0);
    let (tuples, pages): (f64, f64) = (row.get(1), row.get(2));
    Ok(Walk::Blocks {
        end: u32::try_from(end).unwrap_or(u32::MAX),
        rows_per_block: if pages > 0.0 { tuples / pages } else { 100.0 }.max(1.0),
    })
}

/// The planner's estimate of the table's rows (`None` when never analyzed), for progress.
fn estimate_rows(
    client: &mut Client,
    update: &BatchedUpdate,
) -> Result<Option<u64>, postgres::Error> {
    let row = client.query_one(
        "SELECT sum(c.reltuples) FILTER (WHERE c.reltuples >= 0)::float8 \
         FROM pg_catalog.pg_partition_tree($1::text::regclass) t \
         JOIN pg_catalog.pg_class c ON c.oid = t.relid",
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
            RETURNING 1) \
         SELECT (SELECT count(*) FROM schemaplan_updated), \
                (SELECT count(*) FROM schemaplan_batch), {texts} \
         FROM schemaplan_batch ORDER BY {desc} LIMIT 1",
        cols = columns.join(", "),
        table = update.table_sql,
        set = update.update_sql,
        pending = update.pending_sql,
        texts = texts.join(", "),
        desc = desc.join(", "),
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
            cursor: Cursor::Swept,
            last: false,
        });
    };
    let updated: i64 = row.get(0);
    let walked: i64 = row.get(1);
    let last_key: Vec<String> = (0..columns.len()).map(|i| row.get(2 + i)).collect();
    Ok(BatchResult {
        updated: updated as u64,
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
    let updated = tx.execute(&sql, &[])?;
    Ok(BatchResult {
        updated,
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
    let updated = tx.execute(&sql, &[])?;
    Ok(BatchResult {
        updated,
        cursor: Cursor::Swept,
        last: updated < size,
    })
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
