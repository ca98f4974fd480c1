//! The plan-file parser: header, step lines, summary and notes, SQL (see `docs/plan-format.md`).
//!
//! Which `--` lines are plan structure is decided by pg_query's scanner, the server's own lexer:
//! a line counts only when a real SQL comment token starts at its first column, so a line that
//! looks like `-- step 2 | ...` inside a dollar-quoted function body or a `/* */` comment stays
//! part of the step's SQL.

use super::text::unescape_comment;
use super::{compatible_version, PlanFileError};
use crate::plan::step::{parse_pg_duration, ALL_HAZARDS};
use crate::plan::{
    Direction, Hazard, LockLevel, LockTimeout, Phase, Plan, StatementTimeout, Step, TxMode,
};
use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;

const MAGIC: &str = "-- schemaplan plan";
const HEADER_KEYS: [&str; 8] = [
    "version",
    "id",
    "direction",
    "from",
    "to",
    "phases",
    "hazards",
    "steps",
];
/// Header keys that may be absent: `proven` (`no (<why>)` on a plan that was not proven;
/// absent or `yes` otherwise).
/// `scope` (`include [..] exclude [..]` on a plan made with a scope; absent: everything).
const OPTIONAL_HEADER_KEYS: [&str; 2] = ["proven", "scope"];
const STEP_KEYS: [&str; 6] = [
    "phase",
    "transaction",
    "lock",
    "lock_timeout",
    "statement_timeout",
    "hazards",
];

/// One line of the file.
struct Line<'a> {
    /// 1-based.
    no: usize,
    /// Without the line break (and without a trailing `\r`).
    text: &'a str,
    /// A `--` comment starting in column 1 (not inside a string, dollar quote or `/* */`).
    comment: bool,
}

type Result<T> = std::result::Result<T, PlanFileError>;

fn syntax(line: usize, message: impl Into<String>) -> PlanFileError {
    PlanFileError::Syntax {
        path: PathBuf::new(),
        line,
        message: message.into(),
    }
}

/// Parses the text of a `plan.sql` / `inverse.sql`. Errors carry the line number (the path is
/// added by [`super::read_dir`]).
pub fn parse(text: &str) -> Result<Plan> {
    let lines = split_lines(text);
    let header_end = lines
        .iter()
        .position(|l| step_number(l).is_some())
        .unwrap_or(lines.len());
    let header = parse_header(&lines[..header_end])?;
    let steps = parse_steps(&lines[header_end..])?;
    let plan = Plan {
        id: header.value("id")?.to_string(),
        version: header.value("version")?.to_string(),
        direction: header.direction()?,
        from: header.fingerprint("from")?,
        to: header.fingerprint("to")?,
        steps,
        from_objects: Default::default(),
        unproven: header.proven()?,
        scope: header.scope()?,
    };
    header.check_against(&plan, &lines[header_end..])?;
    Ok(plan)
}

fn split_lines(text: &str) -> Vec<Line<'_>> {
    let comment_starts = comment_starts(text);
    let mut out = Vec::new();
    let mut start = 0;
    for (i, raw) in text.split_inclusive('\n').enumerate() {
        let body = raw.strip_suffix('\n').unwrap_or(raw);
        let body = body.strip_suffix('\r').unwrap_or(body);
        let comment = body.starts_with("--")
            && comment_starts
                .as_ref()
                .is_none_or(|set| set.contains(&start));
        out.push(Line {
            no: i + 1,
            text: body,
            comment,
        });
        start += raw.len();
    }
    out
}

/// Byte offsets where the scanner saw a `--` comment begin. `None` when the text does not scan
/// (e.g. an unterminated quote in a hand edit): then every line starting with `--` counts as a
/// comment, and the server reports the broken SQL when the step runs.
fn comment_starts(text: &str) -> Option<HashSet<usize>> {
    use pg_query::protobuf::Token;
    let scan = pg_query::scan(text).ok()?;
    Some(
        scan.tokens
            .iter()
            .filter(|t| t.token == Token::SqlComment as i32)
            .map(|t| t.start as usize)
            .collect(),
    )
}

/// `Some(N)` when the line is a step line `-- step N | ...`.
fn step_number(line: &Line) -> Option<usize> {
    if !line.comment {
        return None;
    }
    let rest = line.text.strip_prefix("-- step ")?;
    let digits = rest.split(' ').next()?;
    let after = &rest[digits.len()..];
    if !after.starts_with(" |") {
        return None;
    }
    digits.parse().ok()
}

struct Header {
    values: BTreeMap<&'static str, (usize, String)>,
    /// The line after the header block, for "missing key" errors.
    end_line: usize,
}

fn parse_header(lines: &[Line]) -> Result<Header> {
    let mut rest = lines.iter().skip_while(|l| l.text.trim().is_empty());
    let first = rest.next().ok_or_else(|| syntax(1, "empty plan file"))?;
    if first.text.trim_end() != MAGIC {
        return Err(syntax(
            first.no,
            format!("not a schemaplan plan file: the first line must be `{MAGIC}`"),
        ));
    }
    let mut header = Header {
        values: BTreeMap::new(),
        end_line: lines.last().map_or(first.no + 1, |l| l.no + 1),
    };
    // A plan from another version may have other header keys: report the version first.
    let mut first_error = None;
    for line in rest {
        if line.text.trim() == "--" {
            header.end_line = line.no;
            break;
        }
        if let Err(e) = header.add(line) {
            first_error.get_or_insert(e);
        }
    }
    header.check_version()?;
    if let Some(e) = first_error {
        return Err(e);
    }
    check_preamble(lines, header.end_line)?;
    Ok(header)
}

/// Between the header and the first step only comments and blank lines are allowed.
fn check_preamble(lines: &[Line], header_end: usize) -> Result<()> {
    let stray = lines
        .iter()
        .filter(|l| l.no > header_end)
        .find(|l| !l.comment && !l.text.trim().is_empty());
    match stray {
        Some(l) => Err(syntax(
            l.no,
            "SQL before the first step line (`-- step 1 | ...`): every statement must belong to a step",
        )),
        None => Ok(()),
    }
}

impl Header {
    fn add(&mut self, line: &Line) -> Result<()> {
        let malformed = || {
            syntax(
                line.no,
                format!(
                    "malformed header line `{}`: expected `-- key: value` with key one of {} \
                     (and optionally {})",
                    line.text,
                    HEADER_KEYS.join(", "),
                    OPTIONAL_HEADER_KEYS.join(", ")
                ),
            )
        };
        if !line.comment {
            return Err(malformed());
        }
        let body = line.text.strip_prefix("-- ").ok_or_else(malformed)?;
        let (key, value) = body.split_once(':').ok_or_else(malformed)?;
        let key = HEADER_KEYS
            .iter()
            .chain(OPTIONAL_HEADER_KEYS.iter())
            .find(|k| **k == key.trim())
            .ok_or_else(malformed)?;
        let previous = self.values.insert(key, (line.no, value.trim().to_string()));
        if let Some((first, _)) = previous {
            return Err(syntax(
                line.no,
                format!("header key `{key}` repeated (first on line {first})"),
            ));
        }
        Ok(())
    }

    fn check_version(&self) -> Result<()> {
        match self.values.get("version") {
            Some((_, v)) if !compatible_version(v) => Err(PlanFileError::Version {
                path: PathBuf::new(),
                found: v.clone(),
                ours: env!("CARGO_PKG_VERSION").to_string(),
            }),
            _ => Ok(()),
        }
    }

    fn entry(&self, key: &'static str) -> Result<(usize, &str)> {
        self.values
            .get(key)
            .map(|(line, v)| (*line, v.as_str()))
            .ok_or_else(|| syntax(self.end_line, format!("header has no `{key}:` line")))
    }

    fn value(&self, key: &'static str) -> Result<&str> {
        let (line, v) = self.entry(key)?;
        if v.is_empty() {
            return Err(syntax(line, format!("header `{key}:` is empty")));
        }
        Ok(v)
    }

    fn direction(&self) -> Result<Direction> {
        let (line, v) = self.entry("direction")?;
        match v {
            "forward" => Ok(Direction::Forward),
            "inverse" => Ok(Direction::Inverse),
            _ => Err(syntax(
                line,
                format!("direction must be `forward` or `inverse`, not `{v}`"),
            )),
        }
    }

    /// `proven:` absent or `yes`: `None`; `no (<why>)`: why the plan was not proven.
    fn proven(&self) -> Result<Option<String>> {
        let Some((line, v)) = self.values.get("proven") else {
            return Ok(None);
        };
        if v == "yes" {
            return Ok(None);
        }
        let why = v
            .strip_prefix("no")
            .map(str::trim)
            .and_then(|r| match r {
                "" => Some("no reason given"),
                r => r.strip_prefix('(')?.strip_suffix(')'),
            })
            .ok_or_else(|| {
                syntax(
                    *line,
                    format!("`proven:` must be `yes` or `no (<why>)`, not `{v}`"),
                )
            })?;
        Ok(Some(unescape_comment(why)))
    }

    /// `scope:` absent: everything; else the [`crate::catalog::Scope`] it writes.
    fn scope(&self) -> Result<crate::catalog::Scope> {
        match self.values.get("scope") {
            None => Ok(crate::catalog::Scope::default()),
            Some((line, v)) => crate::catalog::Scope::parse_display(&unescape_comment(v))
                .map_err(|e| syntax(*line, format!("`scope:` {e}"))),
        }
    }

    fn fingerprint(&self, key: &'static str) -> Result<String> {
        let (line, v) = self.entry(key)?;
        let hex = v.len() == 64
            && v.chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c));
        if !hex {
            return Err(syntax(
                line,
                format!("`{key}:` must be a fingerprint (64 lower-case hex characters), not `{v}`"),
            ));
        }
        Ok(v.to_string())
    }

    /// The derived header fields (`steps`, `phases`, `hazards`) must describe the steps: a
    /// truncated file or a hand edit that forgot the header is caught here.
    fn check_against(&self, plan: &Plan, step_lines: &[Line]) -> Result<()> {
        let (line, count) = self.entry("steps")?;
        if count.parse::<usize>().ok() != Some(plan.steps.len()) {
            let at = step_lines.last().map_or(line, |l| l.no);
            return Err(syntax(
                at,
                format!(
                    "header says `steps: {count}` (line {line}) but the file has {} step(s): truncated or edited without updating the header",
                    plan.steps.len()
                ),
            ));
        }
        let phases: Vec<&str> = plan.phases().iter().map(|p| p.as_str()).collect();
        self.check_list("phases", &phases)?;
        let hazards: Vec<&str> = plan.hazards().iter().map(|h| h.as_str()).collect();
        self.check_list("hazards", &hazards)
    }

    fn check_list(&self, key: &'static str, actual: &[&str]) -> Result<()> {
        let (line, v) = self.entry(key)?;
        if list_items(v) != actual {
            let actual = if actual.is_empty() {
                "none".to_string()
            } else {
                actual.join(", ")
            };
            return Err(syntax(
                line,
                format!("header says `{key}: {v}` but the steps have `{actual}`"),
            ));
        }
        Ok(())
    }
}

/// `a, b` -> `[a, b]`; `none` -> `[]`.
fn list_items(v: &str) -> Vec<&str> {
    if v.trim() == "none" {
        return Vec::new();
    }
    v.split(',').map(str::trim).collect()
}

fn parse_steps(lines: &[Line]) -> Result<Vec<Step>> {
    let starts: Vec<usize> = (0..lines.len())
        .filter(|&i| step_number(&lines[i]).is_some())
        .collect();
    let mut steps: Vec<Step> = Vec::new();
    let mut created = super::honesty::Created::default();
    for (k, &i) in starts.iter().enumerate() {
        let end = starts.get(k + 1).copied().unwrap_or(lines.len());
        let step = parse_step(&lines[i..end], k + 1)?;
        super::checks::check_step(&step, k + 1, &mut created)
            .map_err(|m| syntax(lines[i].no, m))?;
        if let Some(prev) = steps.last() {
            if step.phase < prev.phase {
                return Err(syntax(
                    lines[i].no,
                    format!(
                        "step {} is in phase {} after a {} step: all expand steps must come before contract steps",
                        k + 1,
                        step.phase.as_str(),
                        prev.phase.as_str()
                    ),
                ));
            }
        }
        steps.push(step);
    }
    Ok(steps)
}

fn parse_step(lines: &[Line], expected: usize) -> Result<Step> {
    let head = &lines[0];
    let number = step_number(head).unwrap_or(0);
    if number != expected {
        return Err(syntax(
            head.no,
            format!("steps must be numbered from 1 without gaps: expected step {expected}, found step {number}"),
        ));
    }
    let fields = step_fields(head)?;
    let field = |key: &str| fields.get(key).map(String::as_str).unwrap_or_default();
    let (lock, lock_target) = parse_lock(head.no, field("lock"))?;
    let (summary, notes, sql_from) = parse_comments(lines, number)?;
    let sql = step_sql(&lines[sql_from..]);
    if sql.is_empty() {
        return Err(syntax(head.no, format!("step {number} has no SQL")));
    }
    let step = Step {
        summary,
        sql,
        phase: Phase::parse(field("phase")).ok_or_else(|| {
            syntax(
                head.no,
                format!(
                    "phase must be `expand` or `contract`, not `{}`",
                    field("phase")
                ),
            )
        })?,
        transaction: parse_tx_mode(head.no, field("transaction"))?,
        lock,
        lock_target,
        lock_timeout: parse_lock_timeout(head.no, field("lock_timeout"))?.map(LockTimeout),
        statement_timeout: parse_timeout(head.no, "statement_timeout", field("statement_timeout"))?
            .map(StatementTimeout),
        hazards: parse_hazards(head.no, field("hazards"))?,
        notes,
    };
    Ok(step)
}

/// `key: value` pairs of a step line, separated by ` | ` outside double quotes (a lock target is
/// a quoted name, which may hold ` | ` and `key: `). Pieces that do not start with a known key
/// belong to the previous value (an unquoted lock target of a hand edit may contain ` | `).
fn step_fields(head: &Line) -> Result<BTreeMap<String, String>> {
    let mut pieces = split_outside_quotes(head.text, " | ").into_iter();
    pieces.next(); // `-- step N`
    let mut fields: Vec<(String, String)> = Vec::new();
    for piece in pieces {
        let known = piece
            .split_once(": ")
            .filter(|(k, _)| STEP_KEYS.contains(k) && !fields.iter().any(|(f, _)| f == k));
        match (known, fields.last_mut()) {
            (Some((k, v)), _) => fields.push((k.to_string(), v.to_string())),
            (None, Some(last)) => {
                last.1.push_str(" | ");
                last.1.push_str(piece);
            }
            (None, None) => {
                return Err(syntax(
                    head.no,
                    format!("malformed step line: unexpected `{piece}`"),
                ))
            }
        }
    }
    let missing: Vec<&str> = STEP_KEYS
        .iter()
        .copied()
        .filter(|k| !fields.iter().any(|(f, _)| f == k))
        .collect();
    if !missing.is_empty() {
        return Err(syntax(
            head.no,
            format!(
                "malformed step line: missing {} (expected `-- step N | {}`)",
                missing.join(", "),
                STEP_KEYS.map(|k| format!("{k}: ...")).join(" | ")
            ),
        ));
    }
    Ok(fields.into_iter().collect())
}

/// `text` split on `sep` where `sep` is not inside a double-quoted identifier (`""` inside one
/// is an escaped quote: the state toggles twice).
fn split_outside_quotes<'a>(text: &'a str, sep: &str) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut quoted = false;
    let mut start = 0;
    let mut i = 0;
    while i < text.len() {
        if text.as_bytes()[i] == b'"' {
            quoted = !quoted;
        } else if !quoted && text.as_bytes()[i..].starts_with(sep.as_bytes()) {
            out.push(&text[start..i]);
            i += sep.len();
            start = i;
            continue;
        }
        i += 1;
    }
    out.push(&text[start..]);
    out
}

fn parse_tx_mode(line: usize, v: &str) -> Result<TxMode> {
    TxMode::parse(v).ok_or_else(|| {
        syntax(
            line,
            format!("transaction must be `yes`, `no` or `batched`, not `{v}`"),
        )
    })
}

fn parse_lock(line: usize, v: &str) -> Result<(LockLevel, Option<String>)> {
    let (mode, target) = match v.split_once(" on ") {
        Some((m, t)) => (m, Some(unescape_comment(t))),
        None => (v, None),
    };
    let level = LockLevel::parse(mode).ok_or_else(|| {
        syntax(
            line,
            format!("unknown lock mode `{mode}` (use a PostgreSQL lock mode name such as ACCESS EXCLUSIVE, or none)"),
        )
    })?;
    Ok((level, target))
}

fn parse_timeout(line: usize, key: &str, v: &str) -> Result<Option<std::time::Duration>> {
    if v.trim() == "none" {
        return Ok(None);
    }
    parse_pg_duration(v).map(Some).ok_or_else(|| {
        syntax(
            line,
            format!("{key} must be `none` or a duration such as 500ms, 2s, 5min, 1h; not `{v}`"),
        )
    })
}

/// A step's `lock_timeout`: `none`, or a duration PostgreSQL takes as a bound. `0` is not one:
/// PostgreSQL reads `lock_timeout = 0` as "wait forever", and a step waiting forever for its
/// lock queues every query on the table behind it.
fn parse_lock_timeout(line: usize, v: &str) -> Result<Option<std::time::Duration>> {
    let t = parse_timeout(line, "lock_timeout", v)?;
    if let Some(d) = t {
        if d.is_zero() || d.as_millis() > i32::MAX as u128 {
            return Err(syntax(
                line,
                format!(
                    "lock_timeout must be between 1ms and {}ms (PostgreSQL reads 0 as \"wait \
                     forever\", which queues traffic behind the step); not `{v}`",
                    i32::MAX
                ),
            ));
        }
    }
    Ok(t)
}

fn parse_hazards(line: usize, v: &str) -> Result<Vec<Hazard>> {
    list_items(v)
        .into_iter()
        .map(|name| {
            Hazard::parse(name).ok_or_else(|| {
                let known: Vec<&str> = ALL_HAZARDS.iter().map(|h| h.as_str()).collect();
                syntax(
                    line,
                    format!("unknown hazard `{name}` (known: {})", known.join(", ")),
                )
            })
        })
        .collect()
}

/// The summary line, the `-- note:` lines, and the index of the first SQL line.
fn parse_comments(lines: &[Line], number: usize) -> Result<(String, Vec<String>, usize)> {
    let summary_line = lines.get(1).filter(|l| l.comment).ok_or_else(|| {
        syntax(
            lines[0].no + 1,
            format!("step {number}: expected a summary line `-- <what the step does>` after the step line"),
        )
    })?;
    let summary = comment_body(summary_line.text);
    let mut notes = Vec::new();
    let mut i = 2;
    while let Some(note) = lines
        .get(i)
        .filter(|l| l.comment)
        .and_then(|l| l.text.strip_prefix("-- note: "))
    {
        notes.push(unescape_comment(note));
        i += 1;
    }
    Ok((unescape_comment(summary), notes, i))
}

fn comment_body(text: &str) -> &str {
    text.strip_prefix("-- ")
        .or_else(|| text.strip_prefix("--"))
        .unwrap_or(text)
}

/// The step's SQL: its lines joined, without leading blank lines and trailing whitespace.
fn step_sql(lines: &[Line]) -> String {
    let first = lines
        .iter()
        .position(|l| !l.text.trim().is_empty())
        .unwrap_or(lines.len());
    let text: Vec<&str> = lines[first..].iter().map(|l| l.text).collect();
    text.join("\n").trim_end().to_string()
}
