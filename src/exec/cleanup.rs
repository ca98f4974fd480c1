//! Making a non-transactional step safe to run again, and saying what a resume will do.
//!
//! Owns the inspection of what a cut-off `CONCURRENTLY` statement left behind. A
//! non-transactional step is not rolled back when it is cut off (apply killed, backend ended,
//! lock timeout, failure), so before running it again the executor looks at the catalog:
//!
//! - `CREATE [UNIQUE] INDEX CONCURRENTLY` commits its catalog entry before it builds: a build
//!   stopped part-way leaves an INVALID index of that name behind, and running the statement
//!   again fails with "already exists". The leftover is dropped with `DROP INDEX CONCURRENTLY`
//!   (SHARE UPDATE EXCLUSIVE, like the build: it does not block reads or writes) under the
//!   step's own timeouts, then the index is built again. A VALID index of that name means the
//!   build finished but its journal entry was never closed: the step is done. (The `_new` index
//!   of an index replacement is such a build.)
//! - `DROP INDEX CONCURRENTLY` marks the index invalid, waits, then removes it: cut off
//!   part-way, the index is left INVALID and running the statement again finishes the drop. If
//!   the index is gone, the drop finished: the step is done.
//! - `REINDEX ... CONCURRENTLY` builds `<index>_ccnew` beside each index and swaps; cut off, it
//!   leaves INVALID `_ccnew` (or `_ccold`) indexes, which are dropped before it runs again.
//!
//! [`inspect`] is read-only (used by `status` to say what the next apply will do); [`clean`]
//! drops the leftovers; [`Inspection::done`] says whether the step can be marked done.

use super::progress::{Progress, ProgressEvent};
use super::run::set_timeouts;
use crate::model::QName;
use crate::plan::Step;
use crate::render::quote;
use pg_query::protobuf::{ObjectType, RangeVar, ReindexObjectType};
use pg_query::NodeEnum;
use postgres::Client;

/// One concurrent statement of a step, with the relation names as written (quoted for
/// `to_regclass`).
enum Concurrent {
    /// `CREATE INDEX CONCURRENTLY name ON table`.
    Build { table: String, name: String },
    /// `DROP INDEX CONCURRENTLY index`.
    Drop { index: String },
    /// `REINDEX INDEX|TABLE CONCURRENTLY relation`.
    Reindex { relation: String, index: bool },
}

fn range_var(rel: &RangeVar) -> String {
    if rel.schemaname.is_empty() {
        quote::ident(&rel.relname)
    } else {
        quote::qname(&QName::new(&rel.schemaname, &rel.relname))
    }
}

/// The concurrent statements of `sql`, and how many statements it has in all.
fn concurrent_statements(sql: &str) -> (Vec<Concurrent>, usize) {
    let Ok(parsed) = pg_query::parse(sql, pg_query::ParserOptions::DEFAULT) else {
        return (Vec::new(), 0);
    };
    let stmts = &parsed.protobuf.stmts;
    let found = stmts
        .iter()
        .flat_map(
            |raw| match raw.stmt.as_ref().and_then(|s| s.node.as_ref()) {
                Some(NodeEnum::IndexStmt(s)) if s.concurrent && !s.idxname.is_empty() => s
                    .relation
                    .as_ref()
                    .map(|rel| Concurrent::Build {
                        table: range_var(rel),
                        name: s.idxname.clone(),
                    })
                    .into_iter()
                    .collect::<Vec<_>>(),
                Some(NodeEnum::DropStmt(s))
                    if s.concurrent && s.remove_type == ObjectType::ObjectIndex as i32 =>
                {
                    s.objects
                        .iter()
                        .filter_map(|o| match o.node.as_ref()? {
                            NodeEnum::List(l) => {
                                let parts: Vec<String> = l
                                    .items
                                    .iter()
                                    .filter_map(|i| match i.node.as_ref()? {
                                        NodeEnum::String(s) => Some(quote::ident(&s.sval)),
                                        _ => None,
                                    })
                                    .collect();
                                Some(Concurrent::Drop {
                                    index: parts.join("."),
                                })
                            }
                            _ => None,
                        })
                        .collect()
                }
                Some(NodeEnum::ReindexStmt(s)) if reindex_concurrently(s) => s
                    .relation
                    .as_ref()
                    .map(|rel| Concurrent::Reindex {
                        relation: range_var(rel),
                        index: s.kind == ReindexObjectType::ReindexObjectIndex as i32,
                    })
                    .into_iter()
                    .collect(),
                _ => Vec::new(),
            },
        )
        .collect();
    (found, stmts.len())
}

fn reindex_concurrently(s: &pg_query::protobuf::ReindexStmt) -> bool {
    s.params.iter().any(
        |p| matches!(p.node.as_ref(), Some(NodeEnum::DefElem(d)) if d.defname == "concurrently"),
    )
}

/// What a cut-off non-transactional step left, and what running it again will do.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Inspection {
    /// The step's work is complete (every index it builds exists and is valid, every index it
    /// drops is gone): it is marked done without running.
    pub done: bool,
    /// Invalid indexes to drop (`DROP INDEX CONCURRENTLY`) before the step runs again.
    pub invalid: Vec<String>,
    /// One sentence per finding, for progress and `status`.
    pub notes: Vec<String>,
}

/// `(qualified name, valid)` of the index `name` on `table`, if it exists.
fn find_built(
    client: &mut Client,
    table: &str,
    name: &str,
) -> Result<Option<(String, bool)>, postgres::Error> {
    let rows = client.query(
        "SELECT n.nspname::text, c.relname::text, i.indisvalid \
         FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE i.indrelid = to_regclass($1) AND c.relname = $2",
        &[&table, &name],
    )?;
    Ok(rows.first().map(|r| {
        (
            quote::qname(&QName::new(r.get::<_, String>(0), r.get::<_, String>(1))),
            r.get(2),
        )
    }))
}

/// `(qualified name, valid)` of the index `index` (as written), if it exists.
fn find_index(client: &mut Client, index: &str) -> Result<Option<(String, bool)>, postgres::Error> {
    let rows = client.query(
        "SELECT n.nspname::text, c.relname::text, i.indisvalid \
         FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE i.indexrelid = to_regclass($1)",
        &[&index],
    )?;
    Ok(rows.first().map(|r| {
        (
            quote::qname(&QName::new(r.get::<_, String>(0), r.get::<_, String>(1))),
            r.get(2),
        )
    }))
}

/// Invalid `_ccnew`/`_ccold` indexes a cut-off `REINDEX CONCURRENTLY` of `relation` left.
fn reindex_leftovers(
    client: &mut Client,
    relation: &str,
    index: bool,
) -> Result<Vec<String>, postgres::Error> {
    let rows = client.query(
        "WITH target AS (SELECT x.indrelid AS tab, c.relname::text AS base \
                         FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid \
                         WHERE $2 AND x.indexrelid = to_regclass($1) \
                         UNION ALL SELECT to_regclass($1), '' WHERE NOT $2) \
         SELECT n.nspname::text, c.relname::text \
         FROM target, pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE NOT i.indisvalid AND i.indrelid = target.tab \
           AND starts_with(c.relname::text, target.base) \
           AND substr(c.relname::text, length(target.base) + 1) ~ (CASE WHEN $2 THEN '^' ELSE '' END || '_cc(new|old)[0-9]*$') \
         ORDER BY 1, 2",
        &[&relation, &index],
    )?;
    Ok(rows
        .iter()
        .map(|r| quote::qname(&QName::new(r.get::<_, String>(0), r.get::<_, String>(1))))
        .collect())
}

/// Looks at what the step's concurrent statements left behind. Read-only.
pub fn inspect(client: &mut Client, step: &Step) -> Result<Inspection, postgres::Error> {
    let (found, statements) = concurrent_statements(&step.sql);
    let mut out = Inspection::default();
    // Done only if every statement of the step is one whose completion the catalog shows.
    let mut complete = !found.is_empty()
        && found.len() == statements
        && found
            .iter()
            .all(|c| !matches!(c, Concurrent::Reindex { .. }));
    for c in &found {
        match c {
            Concurrent::Build { table, name } => match find_built(client, table, name)? {
                Some((q, true)) => out.notes.push(format!("index {q} was built completely")),
                Some((q, false)) => {
                    complete = false;
                    out.notes.push(format!(
                        "invalid index {q} (left by a cut-off build) will be dropped and built again"
                    ));
                    out.invalid.push(q);
                }
                None => complete = false,
            },
            Concurrent::Drop { index } => match find_index(client, index)? {
                None => out.notes.push(format!("index {index} is already dropped")),
                Some((q, valid)) => {
                    complete = false;
                    if !valid {
                        out.notes.push(format!(
                            "index {q} is half dropped (invalid); the drop will be run again to finish it"
                        ));
                    }
                }
            },
            Concurrent::Reindex { relation, index } => {
                for q in reindex_leftovers(client, relation, *index)? {
                    out.notes.push(format!(
                        "invalid index {q} (left by a cut-off REINDEX CONCURRENTLY) will be dropped before reindexing again"
                    ));
                    out.invalid.push(q);
                }
            }
        }
    }
    out.done = complete;
    Ok(out)
}

/// Drops the invalid leftovers [`inspect`] found, concurrently, under the step's timeouts.
pub fn clean(
    client: &mut Client,
    step: &Step,
    found: &Inspection,
    out: &mut dyn Progress,
) -> Result<(), postgres::Error> {
    for qname in &found.invalid {
        out.event(ProgressEvent::Warning(format!(
            "dropping invalid index {qname} left by a cut-off build, then running the step again"
        )));
        client.batch_execute(&set_timeouts(step, "SET"))?;
        let dropped = client.batch_execute(&format!("DROP INDEX CONCURRENTLY IF EXISTS {qname}"));
        let reset = client.batch_execute("RESET lock_timeout; RESET statement_timeout");
        dropped?;
        reset?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_concurrent_statements() {
        let (found, n) = concurrent_statements(
            "CREATE UNIQUE INDEX CONCURRENTLY \"A b\" ON s.t (x); DROP INDEX CONCURRENTLY s.\"I x\"; \
             REINDEX INDEX CONCURRENTLY s.i; REINDEX TABLE t; SELECT 1",
        );
        assert_eq!(n, 5);
        assert_eq!(found.len(), 3);
        assert!(
            matches!(&found[0], Concurrent::Build { table, name } if table == "s.t" && name == "A b")
        );
        assert!(matches!(&found[1], Concurrent::Drop { index } if index == "s.\"I x\""));
        assert!(
            matches!(&found[2], Concurrent::Reindex { relation, index: true } if relation == "s.i")
        );
    }
}
