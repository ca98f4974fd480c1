//! Making a non-transactional step safe to run again.
//!
//! `CREATE INDEX CONCURRENTLY` commits its catalog entry before it builds: a build stopped by a
//! lock timeout, a cancel or a crash leaves an INVALID index of that name behind, and running the
//! statement again fails with "already exists". Before re-running such a step (a retry, or a
//! resume after an interrupted run) the executor drops the invalid leftover with
//! `DROP INDEX CONCURRENTLY` (SHARE UPDATE EXCLUSIVE, like the build: it does not block reads or
//! writes) under the step's own timeouts. A VALID index of that name means the build finished
//! but its journal row was never closed: the step is done.

use super::progress::{Progress, ProgressEvent};
use super::run::set_timeouts;
use crate::model::QName;
use crate::plan::Step;
use crate::render::quote;
use pg_query::NodeEnum;
use postgres::Client;

/// An index a step builds concurrently: the table as written in the SQL, and the index name.
struct ConcurrentIndex {
    table: String,
    name: String,
}

fn concurrent_indexes(sql: &str) -> Vec<ConcurrentIndex> {
    let Ok(parsed) = pg_query::parse(sql) else {
        return Vec::new();
    };
    parsed
        .protobuf
        .stmts
        .iter()
        .filter_map(|raw| match raw.stmt.as_ref()?.node.as_ref()? {
            NodeEnum::IndexStmt(s) if s.concurrent && !s.idxname.is_empty() => {
                let rel = s.relation.as_ref()?;
                let table = if rel.schemaname.is_empty() {
                    quote::ident(&rel.relname)
                } else {
                    quote::qname(&QName::new(&rel.schemaname, &rel.relname))
                };
                Some(ConcurrentIndex {
                    table,
                    name: s.idxname.clone(),
                })
            }
            _ => None,
        })
        .collect()
}

/// `(schema, name, valid)` of the index `name` on `table`, if it exists.
fn find(
    client: &mut Client,
    ix: &ConcurrentIndex,
) -> Result<Option<(String, String, bool)>, postgres::Error> {
    let rows = client.query(
        "SELECT n.nspname::text, c.relname::text, i.indisvalid \
         FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE i.indrelid = to_regclass($1) AND c.relname = $2",
        &[&ix.table, &ix.name],
    )?;
    Ok(rows.first().map(|r| (r.get(0), r.get(1), r.get(2))))
}

/// Drops invalid leftovers of the step's concurrent index builds.
pub fn invalid_indexes(
    client: &mut Client,
    step: &Step,
    out: &mut dyn Progress,
) -> Result<(), postgres::Error> {
    for ix in concurrent_indexes(&step.sql) {
        let Some((schema, name, false)) = find(client, &ix)? else {
            continue;
        };
        let qname = quote::qname(&QName::new(schema, name));
        out.event(ProgressEvent::Warning(format!(
            "dropping invalid index {qname} left by an interrupted build, then building it again"
        )));
        client.batch_execute(&set_timeouts(step, "SET"))?;
        let dropped = client.batch_execute(&format!("DROP INDEX CONCURRENTLY IF EXISTS {qname}"));
        let reset = client.batch_execute("RESET lock_timeout; RESET statement_timeout");
        dropped?;
        reset?;
    }
    Ok(())
}

/// Whether every statement of the step is a concurrent index build whose index already exists
/// and is valid: an interrupted run finished the build but not its journal row.
pub fn already_built(client: &mut Client, step: &Step) -> Result<bool, postgres::Error> {
    let indexes = concurrent_indexes(&step.sql);
    let statements = pg_query::split_with_parser(&step.sql).map_or(0, |s| s.len());
    if indexes.is_empty() || indexes.len() != statements {
        return Ok(false);
    }
    for ix in &indexes {
        if !matches!(find(client, ix)?, Some((_, _, true))) {
            return Ok(false);
        }
    }
    Ok(true)
}
