//! Loading the desired schema's statements into a shadow database, with errors reported at the
//! statement's place in its schema file.
//!
//! Statements arrive already ordered by the `source` stage. Ordering from static analysis can be
//! imperfect (a reference hidden in a function body or a default expression), so a statement
//! failing with an "undefined object" error is deferred and retried after the others, for as
//! long as each round makes progress. Any other error stops the load at once.
//!
//! Round trips and commits are what a load of thousands of small DDL statements costs beyond
//! PostgreSQL's own work, so consecutive plain DDL statements (`CREATE`, `ALTER`, `COMMENT`,
//! `GRANT`, `REVOKE`: [`batchable`]) go as *one* simple-query message of up to
//! [`BATCH_STATEMENTS`] statements, which PostgreSQL runs as one implicit transaction: all of
//! them or none. When such a batch fails for any reason, nothing of it stays, and its
//! statements run again one at a time, each in its own implicit transaction, exactly as without
//! batching: so an error keeps its statement, its `file:line:col` (PostgreSQL's cursor position
//! is relative to the message, which then holds the statement alone) and the deferral decides
//! statement by statement. Differences between one transaction and several only ever show as an
//! error (a new enum value used in the transaction that added it, a statement that refuses to
//! run in a transaction block), never as a different database, so the fallback covers them.
//! The tracked load ([`load_tracked`]) puts an OID mark after each statement of a batch in the
//! same message, so each statement's range stays exact.

use postgres::error::{DbError, ErrorPosition, SqlState};

/// One statement to run, with where it came from. Its text is borrowed from the schema files'
/// model when there is one (a copy of every statement's text was ~6 MiB at 5,000 tables, held
/// through the desired load: issue 9, peak RSS).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadStatement<'a> {
    pub sql: std::borrow::Cow<'a, str>,
    /// `path:line:col` of the statement's first character.
    pub origin: String,
}

/// Why loading failed.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// PostgreSQL rejected a statement.
    #[error("{0}")]
    Statement(Box<StatementError>),
    #[error("preparing the shadow session: {0}")]
    Session(String),
    #[error("{origin}: lost the shadow database connection: {message}")]
    Connection { origin: String, message: String },
}

/// A statement PostgreSQL rejected. The display form is what users see: `path:line:col:
/// message`, the offending line with a caret, then DETAIL/HINT/QUERY/CONTEXT.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{origin}: {message} (SQLSTATE {sqlstate}){}", render_extra(.snippet, .detail, .hint, .context, .internal_query, .deferred_rounds, .notes))]
pub struct StatementError {
    /// `path:line:col` of the error itself when PostgreSQL gave a position, else of the
    /// statement.
    pub origin: String,
    /// `path:line:col` of the statement.
    pub statement_origin: String,
    pub sqlstate: String,
    pub message: String,
    pub detail: Option<String>,
    pub hint: Option<String>,
    pub context: Option<String>,
    /// For errors inside generated queries (e.g. SQL function bodies): the query and the
    /// 1-based character position in it.
    pub internal_query: Option<(String, u32)>,
    /// The statement line the error points at, with a caret under the column.
    pub snippet: Option<String>,
    /// How many retry rounds had passed (non-zero: ordering was imperfect).
    pub deferred_rounds: usize,
    /// What the schema files say about the error (the other definition of a duplicate, the
    /// statements of a dependency cycle, a name nothing creates), added by the caller.
    pub notes: Vec<String>,
}

fn render_extra(
    snippet: &Option<String>,
    detail: &Option<String>,
    hint: &Option<String>,
    context: &Option<String>,
    internal: &Option<(String, u32)>,
    rounds: &usize,
    notes: &[String],
) -> String {
    let mut s = String::new();
    if let Some(sn) = snippet {
        s.push('\n');
        s.push_str(sn);
    }
    if let Some(d) = detail {
        s.push_str("\nDETAIL: ");
        s.push_str(d);
    }
    if let Some(h) = hint {
        s.push_str("\nHINT: ");
        s.push_str(h);
    }
    if let Some((q, p)) = internal {
        s.push_str(&format!("\nQUERY: {q}\n(at character {p} of that query)"));
    }
    if let Some(c) = context {
        s.push_str("\nCONTEXT: ");
        s.push_str(c);
    }
    if *rounds > 0 {
        s.push_str(&format!(
            "\n(still failing after {rounds} retry round(s) of statements deferred for \
             undefined objects or casts)"
        ));
    }
    for note in notes {
        s.push('\n');
        s.push_str(note);
    }
    s
}

/// "Undefined object" errors: may only mean "something this statement uses comes later".
const UNDEFINED: [SqlState; 5] = [
    SqlState::UNDEFINED_TABLE,     // 42P01
    SqlState::UNDEFINED_OBJECT,    // 42704
    SqlState::UNDEFINED_FUNCTION,  // 42883
    SqlState::UNDEFINED_COLUMN,    // 42703
    SqlState::INVALID_SCHEMA_NAME, // 3F000
];

/// Errors that may mean a cast comes later: a cast has no name the ordering could follow (an
/// expression names only the types), so what uses one written after it fails with "cannot
/// cast type x to y" (explicit casts) or a datatype mismatch (an assignment cast in a
/// default).
const CAST_LATER: [SqlState; 2] = [
    SqlState::CANNOT_COERCE,     // 42846
    SqlState::DATATYPE_MISMATCH, // 42804
];

/// Whether a failed statement is deferred and retried after the others.
fn is_deferred(code: &SqlState) -> bool {
    UNDEFINED.contains(code) || CAST_LATER.contains(code)
}

/// Whether a SQLSTATE (as text) is one of the "undefined object" errors.
pub fn is_undefined_sqlstate(code: &str) -> bool {
    UNDEFINED.iter().any(|c| c.code() == code)
}

/// Runs `statements` in order on `client` (simple query protocol; consecutive plain DDL
/// statements in batches of one implicit transaction each, any statement of a failed batch and
/// any other statement alone, in its own implicit transaction: see the module doc), deferring
/// and retrying those that fail on an undefined object while progress is made. Sets
/// `check_function_bodies = off` (function bodies may reference objects created later),
/// `client_min_messages = warning` and `standard_conforming_strings = on` (schema files are
/// read with it) for the session.
pub fn load(client: &mut postgres::Client, statements: &[LoadStatement]) -> Result<(), LoadError> {
    run(client, statements, false).map(drop)
}

/// The OIDs a statement's objects got: every object it created has an OID in `lo < oid < hi`
/// (see [`load_tracked`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OidRange {
    pub lo: u32,
    pub hi: u32,
}

impl OidRange {
    pub fn contains(&self, oid: u32) -> bool {
        self.lo < oid && oid < self.hi
    }
}

/// Allocates an OID from the cluster-wide counter (superuser only, PostgreSQL 12+). Every
/// object PostgreSQL creates takes its OID from that same counter, which only grows (until
/// it wraps around at 2^32, which [`load_tracked`]'s callers detect as a range that does not
/// grow), so two calls around a statement bracket the OIDs of everything it created.
/// The column is named so a batch's marks are told from anything else in its replies.
const OID_MARK: &str = "SELECT pg_catalog.pg_nextoid('pg_catalog.pg_class'::pg_catalog.regclass, \
                        'oid', 'pg_catalog.pg_class_oid_index'::pg_catalog.regclass) \
                        AS schemaplan_oid_mark";
const OID_MARK_COLUMN: &str = "schemaplan_oid_mark";

/// One round trip (the simple query protocol: no separate parse step).
fn oid_mark(client: &mut postgres::Client) -> Result<u32, LoadError> {
    let failed = |why: String| LoadError::Session(format!("marking OIDs: {why}"));
    let messages = client
        .simple_query(OID_MARK)
        .map_err(|e| failed(crate::db::error_text(&e)))?;
    messages
        .iter()
        .find_map(|m| match m {
            postgres::SimpleQueryMessage::Row(row) => row.get(0).and_then(|v| v.parse().ok()),
            _ => None,
        })
        .ok_or_else(|| failed("no OID returned".to_string()))
}

/// [`load`], also telling which OIDs each statement's objects got (by statement index): the
/// incremental warm shadow (`shadow::warm`) maps the objects of a loaded database back to the
/// statements that made them. A `pg_nextoid` call after each statement (in the same message
/// for a batch, one more round trip for a statement run alone), so it needs a superuser
/// session: the embedded cluster's.
pub fn load_tracked(
    client: &mut postgres::Client,
    statements: &[LoadStatement],
) -> Result<Vec<OidRange>, LoadError> {
    run(client, statements, true)
}

/// At most this many statements go in one batch (one message, one transaction). A failed
/// batch is run again statement by statement, so the size bounds what an error costs; 50
/// already takes the round trips and commits out of the load's time (docs/benchmarks.md).
const BATCH_STATEMENTS: usize = 50;
/// And at most this much text (a few huge function bodies make a batch of their own).
const BATCH_BYTES: usize = 512 * 1024;

/// Whether a statement may share a batch with its neighbours: plain DDL, by its first word. A
/// `DO` block, a `SELECT set_config(...)` or anything else runs alone, as does `ALTER TYPE
/// ... ADD VALUE` (the value cannot be used in the transaction that added it, so the batch
/// after it would fail and run again one by one: correct, but slower). A wrong answer here
/// only costs time: a batch that fails runs again statement by statement.
fn batchable(sql: &str) -> bool {
    let mut words = sql.split_ascii_whitespace();
    let first = words.next().unwrap_or("");
    let plain = ["CREATE", "ALTER", "COMMENT", "GRANT", "REVOKE"]
        .iter()
        .any(|w| first.eq_ignore_ascii_case(w));
    if !plain {
        return false;
    }
    let is_alter_type = first.eq_ignore_ascii_case("ALTER")
        && words.next().is_some_and(|w| w.eq_ignore_ascii_case("TYPE"));
    let words: Vec<&str> = match is_alter_type {
        true => words.collect(),
        false => Vec::new(),
    };
    let adds_value = words
        .windows(2)
        .any(|w| w[0].eq_ignore_ascii_case("ADD") && w[1].eq_ignore_ascii_case("VALUE"));
    !adds_value
}

/// How many of `pending` (at least one) go in the next message: a run of batchable statements
/// within the limits, or the one statement that is not.
fn next_batch(statements: &[LoadStatement], pending: &[usize]) -> usize {
    let mut bytes = 0;
    let mut n = 0;
    for &i in pending.iter().take(BATCH_STATEMENTS) {
        let sql = &statements[i].sql;
        if !batchable(sql) || (n > 0 && bytes + sql.len() > BATCH_BYTES) {
            break;
        }
        bytes += sql.len();
        n += 1;
    }
    n.max(1)
}

/// Runs `batch` (two or more statements) as one message, one implicit transaction. `Some`
/// with the OID mark after each statement (empty when not tracking) when all of it ran;
/// `None` when it failed, which left nothing behind (the caller runs its statements one by
/// one, which also reports a lost connection at the right statement).
fn run_batch(
    client: &mut postgres::Client,
    statements: &[LoadStatement],
    batch: &[usize],
    track: bool,
) -> Result<Option<Vec<u32>>, LoadError> {
    let mut text = String::new();
    for &i in batch {
        // The separator on a line of its own: a statement ends at its last token, but that
        // token may be on a line ending in a `--` comment.
        text.push_str(&statements[i].sql);
        text.push_str("\n;\n");
        if track {
            text.push_str(OID_MARK);
            text.push_str(";\n");
        }
    }
    let Ok(messages) = client.simple_query(&text) else {
        return Ok(None);
    };
    if !track {
        return Ok(Some(Vec::new()));
    }
    let marks: Vec<u32> = messages
        .iter()
        .filter_map(|m| match m {
            postgres::SimpleQueryMessage::Row(row)
                if row.columns().first().map(|c| c.name()) == Some(OID_MARK_COLUMN) =>
            {
                row.get(0).and_then(|v| v.parse().ok())
            }
            _ => None,
        })
        .collect();
    if marks.len() != batch.len() {
        return Err(LoadError::Session(format!(
            "marking OIDs: {} mark(s) for a batch of {} statement(s)",
            marks.len(),
            batch.len()
        )));
    }
    Ok(Some(marks))
}

fn run(
    client: &mut postgres::Client,
    statements: &[LoadStatement],
    track: bool,
) -> Result<Vec<OidRange>, LoadError> {
    let mut ranges = vec![OidRange { lo: 0, hi: 0 }; if track { statements.len() } else { 0 }];
    client
        .batch_execute(
            "SET check_function_bodies = off; SET client_min_messages = warning; \
             SET standard_conforming_strings = on;",
        )
        .map_err(|e| LoadError::Session(crate::db::error_text(&e)))?;
    // A failed attempt creates nothing (its implicit transaction is rolled back), so the mark
    // after the last success is the low end of the next statement's range.
    let mut mark = if track { oid_mark(client)? } else { 0 };
    let mut pending: Vec<usize> = (0..statements.len()).collect();
    let mut rounds = 0;
    loop {
        let mut deferred = Vec::new();
        let mut first_error: Option<(usize, postgres::Error)> = None;
        let mut progress = false;
        let mut at = 0;
        while at < pending.len() {
            let batch = &pending[at..at + next_batch(statements, &pending[at..])];
            at += batch.len();
            if batch.len() > 1 {
                if let Some(marks) = run_batch(client, statements, batch, track)? {
                    progress = true;
                    for (&i, &next) in batch.iter().zip(&marks) {
                        ranges[i] = OidRange { lo: mark, hi: next };
                        mark = next;
                    }
                    continue;
                }
            }
            for &i in batch {
                let st = &statements[i];
                match client.batch_execute(&st.sql) {
                    Ok(()) => {
                        progress = true;
                        if track {
                            let next = oid_mark(client)?;
                            ranges[i] = OidRange { lo: mark, hi: next };
                            mark = next;
                        }
                    }
                    Err(e) => {
                        let Some(db) = e.as_db_error() else {
                            return Err(LoadError::Connection {
                                origin: st.origin.clone(),
                                message: crate::db::error_text(&e),
                            });
                        };
                        if !is_deferred(db.code()) {
                            return Err(statement_error(st, db, rounds));
                        }
                        deferred.push(i);
                        if first_error.is_none() {
                            first_error = Some((i, e));
                        }
                    }
                }
            }
        }
        match first_error {
            None => return Ok(ranges),
            Some((i, e)) if !progress => {
                let db = e.as_db_error().expect("checked above");
                return Err(statement_error(&statements[i], db, rounds));
            }
            Some(_) => {
                pending = deferred;
                rounds += 1;
            }
        }
    }
}

/// `path:line:col` split into its parts (the path may itself contain colons).
fn parse_origin(origin: &str) -> Option<(&str, usize, usize)> {
    let mut it = origin.rsplitn(3, ':');
    let col = it.next()?.parse().ok()?;
    let line = it.next()?.parse().ok()?;
    let path = it.next()?;
    Some((path, line, col))
}

/// 1-based (line, column, line text) of 1-based character `pos` in `sql`.
fn line_col(sql: &str, pos: usize) -> Option<(usize, usize, &str)> {
    let byte = sql
        .char_indices()
        .nth(pos.checked_sub(1)?)
        .map(|(b, _)| b)
        .unwrap_or(sql.len());
    let before = &sql[..byte];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let col = sql[line_start..byte].chars().count() + 1;
    let line_end = sql[line_start..]
        .find('\n')
        .map(|i| line_start + i)
        .unwrap_or(sql.len());
    Some((line, col, sql[line_start..line_end].trim_end_matches('\r')))
}

fn statement_error(st: &LoadStatement, db: &DbError, rounds: usize) -> LoadError {
    let mut origin = st.origin.clone();
    let mut snippet = None;
    let mut internal_query = None;
    match db.position() {
        Some(ErrorPosition::Original(pos)) => {
            if let Some((line, col, text)) = line_col(&st.sql, *pos as usize) {
                let (abs_line, _) = match parse_origin(&st.origin) {
                    Some((path, l0, c0)) => {
                        let abs = if line == 1 {
                            (l0, c0 + col - 1)
                        } else {
                            (l0 + line - 1, col)
                        };
                        origin = format!("{path}:{}:{}", abs.0, abs.1);
                        abs
                    }
                    None => {
                        origin = format!("{} (statement line {line}, column {col})", st.origin);
                        (line, col)
                    }
                };
                // The statement's first line may start mid-line in the file: the text shown
                // is the statement's, so the caret goes under the statement-relative column.
                let shown_col = col;
                let gutter = format!("{abs_line} | ");
                let pad: String = text
                    .chars()
                    .take(shown_col.saturating_sub(1))
                    .map(|c| if c == '\t' { '\t' } else { ' ' })
                    .collect();
                // A password in an OPTIONS clause is never shown (same length: the caret holds).
                let text = crate::model::mask_option_secrets(text);
                snippet = Some(format!(
                    "{gutter}{text}\n{}| {pad}^",
                    " ".repeat(gutter.len() - 2)
                ));
            }
        }
        Some(ErrorPosition::Internal { position, query }) => {
            internal_query = Some((query.clone(), *position));
        }
        None => {}
    }
    LoadError::Statement(Box::new(StatementError {
        origin,
        statement_origin: st.origin.clone(),
        sqlstate: db.code().code().to_string(),
        message: db.message().to_string(),
        detail: db.detail().map(str::to_string),
        hint: db.hint().map(str::to_string),
        context: db.where_().map(str::to_string),
        internal_query,
        snippet,
        deferred_rounds: rounds,
        notes: Vec::new(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_parsing() {
        assert_eq!(parse_origin("a/b.sql:3:7"), Some(("a/b.sql", 3, 7)));
        assert_eq!(parse_origin("c:/x.sql:1:1"), Some(("c:/x.sql", 1, 1)));
        assert_eq!(parse_origin("inline"), None);
    }

    #[test]
    fn plain_ddl_is_batched_and_the_rest_runs_alone() {
        assert!(batchable("CREATE TABLE t (x int)"));
        assert!(batchable("create\nindex i on t (x)"));
        assert!(batchable("COMMENT ON TABLE t IS 'x'"));
        assert!(batchable("ALTER TYPE e RENAME VALUE 'a' TO 'b'"));
        assert!(!batchable("ALTER TYPE e ADD VALUE 'c'"));
        assert!(!batchable("alter type e add\n  value if not exists 'c'"));
        assert!(!batchable("DO $$ BEGIN END $$"));
        assert!(!batchable(
            "SELECT pg_catalog.set_config('search_path', '', false)"
        ));
        let st = |sql: &'static str| LoadStatement {
            sql: sql.into(),
            origin: "s.sql:1:1".to_string(),
        };
        let statements = vec![
            st("CREATE TABLE a (x int)"),
            st("CREATE TABLE b (x int)"),
            st("DO $$ BEGIN END $$"),
            st("CREATE TABLE c (x int)"),
        ];
        assert_eq!(next_batch(&statements, &[0, 1, 2, 3]), 2);
        assert_eq!(next_batch(&statements, &[2, 3]), 1);
        assert_eq!(next_batch(&statements, &[3]), 1);
        let many: Vec<usize> = (0..200).map(|k| k % 2).collect();
        assert_eq!(next_batch(&statements, &many), BATCH_STATEMENTS);
    }

    #[test]
    fn positions_map_to_lines() {
        let sql = "CREATE VIEW v AS\n  SELECT x FROM t";
        assert_eq!(line_col(sql, 1), Some((1, 1, "CREATE VIEW v AS")));
        assert_eq!(line_col(sql, 26), Some((2, 9, "  SELECT x FROM t")));
        assert_eq!(line_col("é x", 3), Some((1, 3, "é x")));
    }
}
