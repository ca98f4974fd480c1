//! Loading the desired schema's statements into a shadow database, with errors reported at the
//! statement's place in its schema file.
//!
//! Statements arrive already ordered by the `source` stage. Ordering from static analysis can be
//! imperfect (a reference hidden in a function body or a default expression), so a statement
//! failing with an "undefined object" error is deferred and retried after the others, for as
//! long as each round makes progress. Any other error stops the load at once.

use postgres::error::{DbError, ErrorPosition, SqlState};

/// One statement to run, with where it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadStatement {
    pub sql: String,
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
             undefined objects)"
        ));
    }
    for note in notes {
        s.push('\n');
        s.push_str(note);
    }
    s
}

/// Errors that may only mean "something this statement uses comes later": deferred and retried.
const UNDEFINED: [SqlState; 5] = [
    SqlState::UNDEFINED_TABLE,     // 42P01
    SqlState::UNDEFINED_OBJECT,    // 42704
    SqlState::UNDEFINED_FUNCTION,  // 42883
    SqlState::UNDEFINED_COLUMN,    // 42703
    SqlState::INVALID_SCHEMA_NAME, // 3F000
];

fn is_undefined(code: &SqlState) -> bool {
    UNDEFINED.contains(code)
}

/// Whether a SQLSTATE (as text) is one of the "undefined object" errors.
pub fn is_undefined_sqlstate(code: &str) -> bool {
    UNDEFINED.iter().any(|c| c.code() == code)
}

/// Runs `statements` in order on `client` (simple query protocol, one statement per call, so
/// each runs in its own implicit transaction), deferring and retrying those that fail on an
/// undefined object while progress is made. Sets `check_function_bodies = off` (function
/// bodies may reference objects created later), `client_min_messages = warning` and
/// `standard_conforming_strings = on` (schema files are read with it) for the session.
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
const OID_MARK: &str = "SELECT pg_catalog.pg_nextoid('pg_catalog.pg_class'::pg_catalog.regclass, \
                        'oid', 'pg_catalog.pg_class_oid_index'::pg_catalog.regclass)";

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
/// statements that made them. Costs one extra round trip per statement (a `pg_nextoid` call
/// after it), so it needs a superuser session: the embedded cluster's.
pub fn load_tracked(
    client: &mut postgres::Client,
    statements: &[LoadStatement],
) -> Result<Vec<OidRange>, LoadError> {
    run(client, statements, true)
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
        for &i in &pending {
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
                    if !is_undefined(db.code()) {
                        return Err(statement_error(st, db, rounds));
                    }
                    deferred.push(i);
                    if first_error.is_none() {
                        first_error = Some((i, e));
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
    fn positions_map_to_lines() {
        let sql = "CREATE VIEW v AS\n  SELECT x FROM t";
        assert_eq!(line_col(sql, 1), Some((1, 1, "CREATE VIEW v AS")));
        assert_eq!(line_col(sql, 26), Some((2, 9, "  SELECT x FROM t")));
        assert_eq!(line_col("é x", 3), Some((1, 3, "é x")));
    }
}
