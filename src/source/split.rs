//! Splitting a file into statements with PostgreSQL's own scanner and parser (pg_query), and
//! pointing a parse error at the token that caused it.
//!
//! pg_query's split is used when the whole file parses. When it does not, a token-level split
//! (on `;` outside parentheses and `BEGIN ATOMIC ... END` bodies, and around psql `\` lines)
//! takes over, so that an error in statement 5 is reported inside statement 5 and the other
//! statements are still checked. pg_query's errors carry no position, only the text of the
//! offending token (`at or near "TABL"`); the position is the first occurrence of that text at
//! which the same error reproduces when the input is cut right after it.

use std::ops::Range;

use pg_query::protobuf::Token as TokenKind;

/// A byte range of the file's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span {
    pub start: usize,
    pub end: usize,
}

/// The file's tokens: code tokens and comments apart.
#[derive(Debug, Default)]
pub(crate) struct Scanned {
    pub tokens: Vec<Span>,
    pub comments: Vec<Span>,
}

/// A scanner error (unterminated string or comment, ...) and its byte offset.
#[derive(Debug)]
pub(crate) struct LexError {
    pub offset: usize,
    pub message: String,
}

/// A file's SQL: its text with psql meta-command lines blanked out (same byte offsets), the
/// tokens of that text, and where the meta-command lines were.
#[derive(Debug)]
pub(crate) struct Code {
    pub text: String,
    pub scanned: Scanned,
    pub meta_commands: Vec<Span>,
}

/// Scans the whole text. A line starting with `\` (outside strings, comments and bodies) is a
/// psql meta-command: it is recorded and blanked, and the text scanned again, so that what
/// psql would read as arguments (`\restrict 4DYi...`, `\set x 'a`) never reaches the SQL
/// scanner.
pub(crate) fn scan(text: &str) -> Result<Code, LexError> {
    let mut code = text.to_string();
    let mut meta_commands = Vec::new();
    loop {
        let found = match pg_query::scan(&code) {
            Ok(result) => {
                let lines = meta_lines(&code, &result.tokens);
                if lines.is_empty() {
                    meta_commands.sort_by_key(|s: &Span| s.start);
                    let scanned = split_comments(result.tokens);
                    return Ok(Code {
                        text: code,
                        scanned,
                        meta_commands,
                    });
                }
                lines
            }
            Err(err) => {
                let lex = lex_error(&code, err);
                match meta_line_before(&code, lex.offset) {
                    Some(line) => vec![line],
                    None => return Err(lex),
                }
            }
        };
        for line in found {
            code.replace_range(line.start..line.end, &" ".repeat(line.end - line.start));
            meta_commands.push(line);
        }
    }
}

/// The lines whose first token is a `\`.
fn meta_lines(text: &str, tokens: &[pg_query::protobuf::ScanToken]) -> Vec<Span> {
    tokens
        .iter()
        .filter(|t| &text[t.start as usize..t.end as usize] == "\\")
        .filter(|t| starts_line(text, t.start as usize))
        .map(|t| line_at(text, t.start as usize))
        .collect()
}

/// When scanning fails, the first line up to the error that starts with `\\` at top level (the
/// text before it scans cleanly, so the `\\` is not inside a string or comment): its arguments
/// may be what the scanner choked on.
fn meta_line_before(text: &str, offset: usize) -> Option<Span> {
    let mut start = 0;
    while start <= offset && start < text.len() {
        let line = line_at(text, start);
        let first = text[line.start..line.end].trim_start();
        if first.starts_with('\\') && pg_query::scan(&text[..line.start]).is_ok() {
            return Some(line);
        }
        start = line.end + 1;
    }
    None
}

/// The line holding `offset`, without its line break.
fn line_at(text: &str, offset: usize) -> Span {
    let start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
    Span { start, end }
}

fn split_comments(tokens: Vec<pg_query::protobuf::ScanToken>) -> Scanned {
    let mut scanned = Scanned::default();
    for token in tokens {
        let span = Span {
            start: token.start as usize,
            end: token.end as usize,
        };
        if is_comment(token.token) {
            scanned.comments.push(span);
        } else {
            scanned.tokens.push(span);
        }
    }
    scanned
}

fn is_comment(kind: i32) -> bool {
    kind == TokenKind::SqlComment as i32 || kind == TokenKind::CComment as i32
}

fn lex_error(text: &str, err: pg_query::Error) -> LexError {
    let message = error_message(err);
    let offset = error_offset(text, &message, |prefix| {
        pg_query::scan(prefix).err().map(error_message)
    });
    LexError { offset, message }
}

/// The message of a pg_query error without the crate's own prefix.
pub(crate) fn error_message(err: pg_query::Error) -> String {
    match err {
        pg_query::Error::Parse(m) | pg_query::Error::Scan(m) | pg_query::Error::Split(m) => m,
        other => other.to_string(),
    }
}

/// The statements of the text, each trimmed to its first and last code token (leading
/// comments, trailing comments and the `;` are outside the span). Comment-only pieces vanish.
pub(crate) fn statements(text: &str, scanned: &Scanned) -> Vec<Span> {
    let ranges = parser_split(text).unwrap_or_else(|| token_split(text, &scanned.tokens));
    ranges
        .into_iter()
        .filter_map(|range| trim_to_tokens(range, &scanned.tokens))
        .collect()
}

/// pg_query's parser-based split; `None` when some statement does not parse.
fn parser_split(text: &str) -> Option<Vec<Range<usize>>> {
    let pieces = pg_query::split_with_parser(text).ok()?;
    let base = text.as_ptr() as usize;
    Some(
        pieces
            .into_iter()
            .map(|piece| {
                let start = piece.as_ptr() as usize - base;
                start..start + piece.len()
            })
            .collect(),
    )
}

/// Splits on `;` tokens outside parentheses and `BEGIN ATOMIC` bodies.
fn token_split(text: &str, tokens: &[Span]) -> Vec<Range<usize>> {
    let mut splitter = TokenSplitter::default();
    for token in tokens {
        splitter.token(&text[token.start..token.end], *token);
    }
    splitter.finish(text.len())
}

#[derive(Default)]
struct TokenSplitter {
    ranges: Vec<Range<usize>>,
    start: usize,
    parens: i32,
    atomic: i32,
    after_begin: bool,
}

impl TokenSplitter {
    fn token(&mut self, word: &str, span: Span) {
        match word {
            "(" => self.parens += 1,
            ")" => self.parens -= 1,
            ";" if self.parens <= 0 && self.atomic == 0 => {
                self.ranges.push(self.start..span.start);
                self.start = span.end;
            }
            _ => self.track_atomic(word),
        }
    }

    fn track_atomic(&mut self, word: &str) {
        let opens = (self.after_begin && word.eq_ignore_ascii_case("atomic"))
            || (self.atomic > 0 && word.eq_ignore_ascii_case("case"));
        if opens {
            self.atomic += 1;
        } else if self.atomic > 0 && word.eq_ignore_ascii_case("end") {
            self.atomic -= 1;
        }
        self.after_begin = word.eq_ignore_ascii_case("begin");
    }

    fn finish(mut self, len: usize) -> Vec<Range<usize>> {
        self.ranges.push(self.start..len);
        self.ranges
    }
}

/// Whether only whitespace precedes `offset` on its line.
pub(crate) fn starts_line(text: &str, offset: usize) -> bool {
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    text[line_start..offset].trim().is_empty()
}

/// The span from the first to the last code token inside `range`, excluding a final `;`.
pub(crate) fn trim_to_tokens(range: Range<usize>, tokens: &[Span]) -> Option<Span> {
    let first = tokens.partition_point(|t| t.start < range.start);
    let inside = tokens[first..]
        .iter()
        .take_while(|t| t.end <= range.end)
        .collect::<Vec<_>>();
    let start = inside.first()?.start;
    let end = inside.last()?.end;
    Some(Span { start, end })
}

/// The byte offset in `sql` that an error message points at. `reproduce` runs the failing
/// step on a prefix of `sql` and returns its error message, if any.
pub(crate) fn error_offset(
    sql: &str,
    message: &str,
    reproduce: impl Fn(&str) -> Option<String>,
) -> usize {
    if message.ends_with("at end of input") {
        return sql.trim_end().len();
    }
    let Some(near) = near_text(message) else {
        return 0;
    };
    let candidates: Vec<usize> = sql
        .match_indices(near)
        .map(|(i, _)| i)
        .filter(|&i| whole_token(sql, i, near))
        .collect();
    candidates
        .iter()
        .copied()
        .find(|&i| reproduce(&sql[..i + near.len()]).as_deref() == Some(message))
        .or_else(|| candidates.first().copied())
        .unwrap_or(0)
}

/// Whether `near` at offset `i` is not part of a longer word (`TABL` inside `TABLE`).
fn whole_token(sql: &str, i: usize, near: &str) -> bool {
    let word = |c: char| c.is_alphanumeric() || c == '_' || c == '$';
    let glued_before = near.starts_with(word) && sql[..i].ends_with(word);
    let glued_after = near.ends_with(word) && sql[i + near.len()..].starts_with(word);
    !glued_before && !glued_after
}

/// The token text in `... at or near "X"`.
pub(crate) fn near_text(message: &str) -> Option<&str> {
    let (_, rest) = message.rsplit_once(" at or near \"")?;
    rest.strip_suffix('"').filter(|near| !near.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(text: &str) -> Vec<&str> {
        let code = scan(text).unwrap();
        statements(&code.text, &code.scanned)
            .into_iter()
            .map(|s| &text[s.start..s.end])
            .collect()
    }

    fn parse_error_offset(sql: &str) -> usize {
        let message =
            error_message(pg_query::parse(sql, pg_query::ParserOptions::DEFAULT).unwrap_err());
        error_offset(sql, &message, |p| {
            pg_query::parse(p, pg_query::ParserOptions::DEFAULT)
                .err()
                .map(error_message)
        })
    }

    #[test]
    fn statements_exclude_leading_comments_and_semicolons() {
        let text = "-- head\nCREATE TABLE a (x int); -- tail\n/* b */ CREATE VIEW v AS SELECT 1;\n";
        assert_eq!(
            pieces(text),
            ["CREATE TABLE a (x int)", "CREATE VIEW v AS SELECT 1"]
        );
    }

    #[test]
    fn dollar_bodies_with_semicolons_stay_whole() {
        let text = "CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql; SELECT 2";
        assert_eq!(pieces(text).len(), 2);
    }

    #[test]
    fn token_split_isolates_the_broken_statement() {
        let text = "CREATE TABLE a (x int);\nCREATE TABL b (x int);\nCREATE TABLE c (x int)";
        assert_eq!(pieces(text)[1], "CREATE TABL b (x int)");
    }

    #[test]
    fn token_split_keeps_begin_atomic_bodies_whole() {
        let text = "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT CASE WHEN true THEN 2 END; END; CREATE TABL x";
        let got = pieces(text);
        assert_eq!(got.len(), 2);
        assert!(got[0].ends_with("END; END"));
    }

    #[test]
    fn psql_meta_command_lines_are_blanked_and_recorded() {
        let text = "\\restrict 4DYi\nCREATE TABLE t ();\n  \\set x 'a\nSELECT '\\x';";
        let code = scan(text).unwrap();
        let lines: Vec<&str> = code
            .meta_commands
            .iter()
            .map(|s| &text[s.start..s.end])
            .collect();
        assert_eq!(lines, ["\\restrict 4DYi", "  \\set x 'a"]);
        assert_eq!(code.text.len(), text.len());
        assert_eq!(pieces(text), ["CREATE TABLE t ()", "SELECT '\\x'"]);
    }

    #[test]
    fn error_offset_finds_the_offending_token() {
        assert_eq!(parse_error_offset("CREATE TABL x (a int)"), 7);
        assert_eq!(parse_error_offset("CREATE TABLE t (x int"), 21);
    }

    #[test]
    fn error_offset_ignores_matches_inside_longer_words() {
        assert_eq!(parse_error_offset("COMMENT ON TABLE t IS 'x' TABL"), 26);
    }

    #[test]
    fn error_offset_skips_earlier_harmless_occurrences() {
        // The first `foo` is a fine column name; the second is the error.
        let sql = "CREATE TABLE t (foo int, x int foo)";
        assert_eq!(parse_error_offset(sql), 31);
    }

    #[test]
    fn scanner_errors_are_located() {
        let err = scan("SELECT 1;\nSELECT 'abc").unwrap_err();
        assert_eq!(err.offset, 17);
        assert!(err.message.starts_with("unterminated quoted string"));
    }
}
