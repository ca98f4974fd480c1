//! The old bookkeeping format, kept only to migrate it: earlier versions kept the whole
//! history in ONE large object at [`BOOK_OID`] (the line [`BOOK_MAGIC`], then the JSON of
//! [`Book`]). Reads use it while a database has nothing else ([`read_old`]); the first apply
//! that passes its checks copies it into the tables and unlinks it ([`migrate`], called by
//! `book::ensure` in its transaction).

use super::journal::cursor_json;
use super::{Book, ExecError};
use crate::catalog::BOOKKEEPING_SCHEMA;
use crate::render::quote;
use postgres::GenericClient;

/// OID of the large object older versions kept the bookkeeping in: the ASCII bytes `SPLN`
/// (0x53504C4E) with the top bit set. Read only to migrate it ([`ensure`]).
pub const BOOK_OID: u32 = 0xD350_4C4E;

/// First line of the old bookkeeping large object; anything else at [`BOOK_OID`] is not ours.
pub const BOOK_MAGIC: &str = "schemaplan-book v1";

/// The old large object's document, if there is one of ours. A large object at [`BOOK_OID`]
/// that is not ours is not our concern any more (the bookkeeping is in tables now) and is
/// left alone.
pub(super) fn read_old(client: &mut impl GenericClient) -> Result<Option<Book>, ExecError> {
    let rows = match client.query(
        "SELECT lo_get(m.oid) FROM pg_catalog.pg_largeobject_metadata m WHERE m.oid = $1",
        &[&BOOK_OID],
    ) {
        Ok(rows) => rows,
        Err(e) if e.code() == Some(&postgres::error::SqlState::INSUFFICIENT_PRIVILEGE) => {
            let role: String = client
                .query_one("SELECT current_user::text", &[])
                .map(|r| r.get(0))
                .unwrap_or_else(|_| "<role>".into());
            return Err(ExecError::BookPrivileges {
                role: role.clone(),
                doing: "read schemaplan's history, still in the large object older versions kept it in",
                missing: format!("SELECT on large object {BOOK_OID}"),
                grantor: "as the owner of that large object (the role that applied first) or a superuser",
                grants: format!(
                    "GRANT SELECT ON LARGE OBJECT {BOOK_OID} TO {}; (or run apply once as its owner: it moves the history into tables of schema {BOOKKEEPING_SCHEMA})",
                    quote::ident(&role)
                ),
            });
        }
        Err(e) => {
            return Err(ExecError::bookkeeping(
                "read the old bookkeeping large object",
            )(e))
        }
    };
    match rows.first() {
        None => Ok(None),
        Some(r) => match parse(r.get::<_, &[u8]>(0)) {
            Ok(book) => Ok(Some(book)),
            Err(Old::NotOurs) => Ok(None),
            Err(Old::Bad(problem)) => Err(ExecError::BookUnreadable {
                oid: BOOK_OID,
                problem,
            }),
        },
    }
}

/// Why the old large object cannot be used.
#[derive(Debug)]
enum Old {
    /// Not a bookkeeping document: someone else's large object.
    NotOurs,
    /// Ours, but damaged or from an unknown version.
    Bad(String),
}

/// The old format (kept to migrate it): the line [`BOOK_MAGIC`], then the JSON of [`Book`].
fn parse(bytes: &[u8]) -> Result<Book, Old> {
    let (first, rest) = match bytes.iter().position(|&b| b == b'\n') {
        Some(i) => (&bytes[..i], &bytes[i + 1..]),
        None => (bytes, &[][..]),
    };
    if first != BOOK_MAGIC.as_bytes() {
        let first = String::from_utf8_lossy(&first[..first.len().min(40)]).into_owned();
        return Err(if first.starts_with("schemaplan-book ") {
            Old::Bad(format!("it is in format {first:?}, which this version of schemaplan does not know (it reads {BOOK_MAGIC:?}); use a newer schemaplan"))
        } else {
            Old::NotOurs
        });
    }
    serde_json::from_slice(rest).map_err(|e| {
        Old::Bad(format!(
            "the old bookkeeping document is damaged ({e}); nothing was changed\nhint: inspect it with SELECT convert_from(lo_get({BOOK_OID}), 'UTF8')"
        ))
    })
}

/// Copies the old document into the tables and unlinks the large object, in the caller's
/// transaction. Runs left `running` become `interrupted`, as [`mark_stale_runs`] would.
pub(super) fn migrate(tx: &mut impl GenericClient, book: &Book) -> Result<(), postgres::Error> {
    let interrupted = "the apply stopped before finishing (process killed or connection lost)";
    for r in &book.runs {
        let running = r.outcome == "running";
        let end = r
            .steps
            .iter()
            .filter_map(|s| s.finished_at.clone())
            .max()
            .unwrap_or_else(|| r.started_at.clone());
        tx.execute(
            "INSERT INTO schemaplan.runs (run_id, plan_id, direction, phases, checksum, \
                from_fingerprint, to_fingerprint, live_fingerprint, forced, started_by, started_at, \
                finished_at, duration_secs, outcome, error) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::text::timestamptz, \
                $12::text::timestamptz, \
                coalesce($13, extract(epoch FROM $12::text::timestamptz - $11::text::timestamptz)::float8), \
                $14, $15)",
            &[
                &r.run_id,
                &r.plan_id,
                &r.direction,
                &r.phases,
                &r.checksum,
                &r.from_fingerprint,
                &r.to_fingerprint,
                &r.live_fingerprint,
                &r.forced,
                &r.started_by,
                &r.started_at,
                &if running { Some(end) } else { r.finished_at.clone() },
                &r.duration_secs,
                &if running { "interrupted" } else { r.outcome.as_str() },
                &if running {
                    Some(interrupted.to_string())
                } else {
                    r.error.clone()
                },
            ],
        )?;
        for s in &r.steps {
            let stale = running && s.outcome == "running";
            let batch = s.batch.as_ref();
            tx.execute(
                "INSERT INTO schemaplan.steps (run_id, step, summary, transactional, attempts, \
                    started_at, finished_at, duration_secs, outcome, error, batch_cursor, \
                    batch_rows, batch_batches) \
                 VALUES ($1, $2, $3, $4, $5, $6::text::timestamptz, $7::text::timestamptz, $8, \
                    $9, $10, $11::text::jsonb, $12, $13)",
                &[
                    &r.run_id,
                    &(s.step as i32),
                    &s.summary,
                    &s.transactional,
                    &(s.attempts as i32),
                    &s.started_at,
                    &s.finished_at,
                    &s.duration_secs,
                    &if stale {
                        "interrupted"
                    } else {
                        s.outcome.as_str()
                    },
                    &if stale {
                        Some(
                            "the apply stopped during this step (process killed or connection lost)"
                                .to_string(),
                        )
                    } else {
                        s.error.clone()
                    },
                    &batch.and_then(|b| b.cursor.as_ref()).map(cursor_json),
                    &batch.map(|b| b.rows as i64),
                    &batch.map(|b| b.batches as i64),
                ],
            )?;
        }
    }
    tx.execute("SELECT lo_unlink($1)", &[&BOOK_OID])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_old_format_and_leaves_foreign_objects_alone() {
        let bytes = format!("{BOOK_MAGIC}\n{{\"next_run_id\":3,\"runs\":[]}}\n");
        assert_eq!(parse(bytes.as_bytes()).unwrap().next_run_id, 3);
        assert!(matches!(parse(b"hello"), Err(Old::NotOurs)));
        assert!(
            matches!(parse(b"schemaplan-book v9\n{}"), Err(Old::Bad(m)) if m.contains("newer"))
        );
        assert!(
            matches!(parse(b"schemaplan-book v1\n{"), Err(Old::Bad(m)) if m.contains("damaged"))
        );
    }
}
