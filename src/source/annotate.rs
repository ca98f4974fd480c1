//! Annotations: `-- @renamed from=old_name` (alias `@rename`, sqldef compatible),
//! `-- @backfill <expression>` and `-- @using <expression>`, read from comments and attached to a statement or to one of its
//! elements (a column or constraint of a table, a value of an enum).
//!
//! Where an annotation comment sits decides what it is attached to (`docs/source.md`):
//! - before a statement (anywhere after the previous one), or after its `;` on its last line:
//!   the statement's object;
//! - inside a statement, after code on the same line: the last element that starts before the
//!   comment (`email text, -- @renamed from=mail`), or the statement's object when no element
//!   starts before it (`CREATE TABLE users ( -- @renamed from=members`,
//!   `CREATE TYPE s /* @renamed from=t */ AS ENUM`);
//! - inside a table, on a line of its own: the next column or constraint;
//! - inside an enum type, on a line of its own: the type (sqldef reads it that way).
//!
//! `ALTER TABLE ... ADD COLUMN` with a single new column takes statement-level annotations for
//! that column. Anything else is an error, never silently dropped.

use pg_query::protobuf::{self, AlterTableType};
use pg_query::NodeEnum;

use super::error::SourceError;
use super::names::parse_dotted;
use super::split::{starts_line, Span};
use super::text::SourceText;
use super::Annotation;

/// A column, constraint or enum value a statement defines, and where it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Element {
    pub name: String,
    pub offset: usize,
    pub is_column: bool,
}

/// What shape of statement the elements come from; it changes how comments attach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    Table,
    Enum,
    AlterTable,
    Other,
}

/// A statement as the annotation pass sees it.
pub(crate) struct Target<'a> {
    pub span: Span,
    pub kind: &'a str,
    pub shape: Shape,
    pub elements: Vec<Element>,
}

/// What a comment says, before it is attached.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Said {
    Renamed(String),
    Backfill(String),
    Using(String),
}

/// Statement kinds whose own object can be declared renamed.
const RENAMABLE: &[&str] = &[
    "CREATE TABLE",
    "CREATE INDEX",
    "CREATE TYPE",
    "CREATE DOMAIN",
    "CREATE VIEW",
    "CREATE MATERIALIZED VIEW",
    "CREATE SEQUENCE",
    "CREATE SCHEMA",
    "CREATE FOREIGN TABLE",
];

/// The elements of a statement, with file offsets (`stmt_start` is where its text begins).
pub(crate) fn elements(
    node: &NodeEnum,
    src: &SourceText,
    span: Span,
    tokens: &[Span],
) -> (Shape, Vec<Element>) {
    match node {
        NodeEnum::CreateStmt(s) => (Shape::Table, table_elements(s, span.start)),
        NodeEnum::CreateForeignTableStmt(s) => (
            Shape::Table,
            s.base_stmt
                .as_ref()
                .map(|b| table_elements(b, span.start))
                .unwrap_or_default(),
        ),
        NodeEnum::CreateEnumStmt(s) => (Shape::Enum, enum_elements(s, src, span, tokens)),
        NodeEnum::AlterTableStmt(s) => (Shape::AlterTable, alter_elements(s, span.start)),
        _ => (Shape::Other, Vec::new()),
    }
}

fn table_elements(s: &protobuf::CreateStmt, base: usize) -> Vec<Element> {
    s.table_elts
        .iter()
        .filter_map(|e| element(e.node.as_ref()?, base))
        .collect()
}

fn element(node: &NodeEnum, base: usize) -> Option<Element> {
    let (name, location, is_column) = match node {
        NodeEnum::ColumnDef(c) => (&c.colname, c.location, true),
        NodeEnum::Constraint(c) => (&c.conname, c.location, false),
        _ => return None,
    };
    Some(Element {
        name: name.clone(),
        offset: base + usize::try_from(location).ok()?,
        is_column,
    })
}

fn alter_elements(s: &protobuf::AlterTableStmt, base: usize) -> Vec<Element> {
    let adds = [AlterTableType::AtAddColumn, AlterTableType::AtAddConstraint];
    s.cmds
        .iter()
        .filter_map(|c| match &c.node {
            Some(NodeEnum::AlterTableCmd(cmd)) if adds.iter().any(|a| *a as i32 == cmd.subtype) => {
                element(cmd.def.as_ref()?.node.as_ref()?, base)
            }
            _ => None,
        })
        .collect()
}

/// Enum values carry no position in the parse tree: they are the string literals of the
/// statement, in order.
fn enum_elements(
    s: &protobuf::CreateEnumStmt,
    src: &SourceText,
    span: Span,
    tokens: &[Span],
) -> Vec<Element> {
    let literals = tokens
        .iter()
        .filter(|t| t.start >= span.start && t.end <= span.end)
        .filter(|t| is_string_literal(&src.text[t.start..t.end]));
    s.vals
        .iter()
        .zip(literals)
        .filter_map(|(val, token)| match &val.node {
            Some(NodeEnum::String(v)) => Some(Element {
                name: v.sval.clone(),
                offset: token.start,
                is_column: false,
            }),
            _ => None,
        })
        .collect()
}

fn is_string_literal(token: &str) -> bool {
    let lower = token.to_ascii_lowercase();
    lower.starts_with('\'') || lower.starts_with("e'") || lower.starts_with("u&'")
}

/// Reads every annotation comment and attaches it; returns each target's annotations (same
/// order as `targets`).
pub(crate) fn attach(
    src: &SourceText,
    comments: &[Span],
    targets: &[Target],
) -> Result<Vec<Vec<Annotation>>, Vec<SourceError>> {
    let mut result = vec![Vec::new(); targets.len()];
    let mut errors = Vec::new();
    for comment in comments {
        let Some(said) = read_comment(&src.text[comment.start..comment.end]) else {
            continue;
        };
        let placed = said
            .map_err(|(offset, message)| annotation_error(src, comment.start + offset, message))
            .and_then(|said| place(src, *comment, said, targets));
        match placed {
            Ok((index, annotation)) => result[index].push(annotation),
            Err(err) => errors.push(err),
        }
    }
    if errors.is_empty() {
        Ok(result)
    } else {
        Err(errors)
    }
}

fn annotation_error(src: &SourceText, offset: usize, message: String) -> SourceError {
    SourceError::Annotation {
        at: src.location(offset),
        message,
    }
}

/// `Some` when the comment is an annotation (`@renamed`, `@rename`, `@backfill`, `@using`); other
/// comments, including ones that merely start with another `@word`, are prose. An error carries
/// the byte offset in the comment it is about.
fn read_comment(comment: &str) -> Option<Result<Said, (usize, String)>> {
    let body = comment
        .strip_prefix("--")
        .or_else(|| comment.strip_prefix("/*")?.strip_suffix("*/"))?
        .trim();
    let rest = body.strip_prefix('@')?;
    let (word, args) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    let args = args.trim();
    // Where `args` starts in `comment` (0 when there are none: `""` is not a slice of it).
    let at = (args.as_ptr() as usize)
        .checked_sub(comment.as_ptr() as usize)
        .filter(|at| *at <= comment.len())
        .unwrap_or(0);
    let whole = |message: String| (0, message);
    match word {
        "renamed" | "rename" => Some(read_renamed(args).map_err(whole)),
        "backfill" => Some(
            read_expression("backfill", args)
                .map(Said::Backfill)
                .map_err(|(offset, message)| (at + offset, message)),
        ),
        "using" => Some(
            read_expression("using", args)
                .map(Said::Using)
                .map_err(|(offset, message)| (at + offset, message)),
        ),
        _ => None,
    }
}

fn read_renamed(args: &str) -> Result<Said, String> {
    let usage = "expected `@renamed from=old_name` (quote names with capitals or spaces: \
                 from=\"Old Name\")";
    let value = args
        .strip_prefix("from")
        .map(str::trim_start)
        .and_then(|r| r.strip_prefix('='))
        .ok_or_else(|| usage.to_string())?;
    let parts = parse_dotted(value).ok_or_else(|| format!("{usage}; got `{args}`"))?;
    Ok(Said::Renamed(parts.join(".")))
}

/// The expression of `@backfill <expression>` / `@using <expression>` (`word`): exactly one
/// scalar expression ([`super::expr`]); an error carries the byte offset in `expr`.
fn read_expression(word: &str, expr: &str) -> Result<String, (usize, String)> {
    if expr.is_empty() {
        let example = if word == "using" {
            "to_timestamp(created)"
        } else {
            "lower(email)"
        };
        return Err((
            0,
            format!("expected `@{word} <expression>`, e.g. `@{word} {example}`"),
        ));
    }
    super::expr::check(word, expr).map_err(|r| (r.offset, r.message))?;
    Ok(expr.to_string())
}

/// Where an annotation at `comment` goes: the target's index and the attached annotation.
fn place(
    src: &SourceText,
    comment: Span,
    said: Said,
    targets: &[Target],
) -> Result<(usize, Annotation), SourceError> {
    let (line, _) = src.position(comment.start);
    let err = |message: String| annotation_error(src, comment.start, message);
    let index = owner(src, comment, targets)
        .ok_or_else(|| err("annotation is not followed by a statement it could apply to".into()))?;
    let target = &targets[index];
    let element = if target.span.start <= comment.start && comment.start < target.span.end {
        inner_element(src, comment, target).map_err(err)?
    } else {
        None
    };
    let element = match element {
        Some(e) => Some(e),
        None => statement_level(&said, target).map_err(err)?,
    };
    annotation(said, element, line)
        .map(|a| (index, a))
        .map_err(err)
}

/// The statement an annotation comment belongs to: the one it is inside, the one whose last
/// line it trails, or the next one.
fn owner(src: &SourceText, comment: Span, targets: &[Target]) -> Option<usize> {
    let after = targets.partition_point(|t| t.span.start <= comment.start);
    if let Some(prev) = after.checked_sub(1) {
        let span = targets[prev].span;
        let trails = src.position(span.end).0 == src.position(comment.start).0
            && !starts_line(src.text, comment.start);
        if comment.start < span.end || trails {
            return Some(prev);
        }
    }
    (after < targets.len()).then_some(after)
}

/// The element a comment inside a statement is attached to; `None` means the statement itself.
fn inner_element<'t>(
    src: &SourceText,
    comment: Span,
    target: &'t Target,
) -> Result<Option<&'t Element>, String> {
    let trailing = !starts_line(src.text, comment.start);
    let before = target
        .elements
        .iter()
        .rev()
        .find(|e| e.offset < comment.start);
    let next = target.elements.iter().find(|e| e.offset > comment.start);
    match (target.shape, trailing) {
        (_, true) => Ok(before),
        (Shape::Table | Shape::AlterTable, false) => next.map(Some).ok_or_else(|| {
            "annotation inside a table must be on or just before a column or constraint line"
                .to_string()
        }),
        (Shape::Enum, false) => Ok(before.and(next)),
        (Shape::Other, false) => Ok(None),
    }
}

/// The element a statement-level annotation means: none (the statement's object), or the single
/// element of an `ALTER TABLE ... ADD`.
fn statement_level<'t>(said: &Said, target: &'t Target) -> Result<Option<&'t Element>, String> {
    if target.shape == Shape::AlterTable {
        return match target.elements.as_slice() {
            [only] => Ok(Some(only)),
            _ => Err(format!(
                "an annotation on {} must be on the line of the column or constraint it is for",
                target.kind
            )),
        };
    }
    match said {
        Said::Renamed(_) if RENAMABLE.contains(&target.kind) => Ok(None),
        Said::Renamed(_) => Err(format!(
            "@renamed cannot apply to {}: it applies to {} and to columns and constraints",
            target.kind,
            RENAMABLE.join(", ")
        )),
        Said::Backfill(_) => {
            Err("@backfill must be on or just before the line of the column it fills".to_string())
        }
        Said::Using(_) => Err(
            "@using must be on or just before the line of the column whose type changes"
                .to_string(),
        ),
    }
}

fn annotation(said: Said, element: Option<&Element>, line: usize) -> Result<Annotation, String> {
    if let Some(e) = element {
        if e.name.is_empty() {
            return Err(
                "annotation is attached to a constraint without a name; name it with \
                        CONSTRAINT name"
                    .into(),
            );
        }
    }
    let column = element.map(|e| e.name.clone());
    match said {
        Said::Renamed(from) => Ok(Annotation::RenamedFrom { from, column, line }),
        Said::Backfill(_) if element.is_some_and(|e| !e.is_column) => Err(format!(
            "@backfill applies to a column, not to `{}`",
            column.unwrap_or_default()
        )),
        Said::Backfill(expr) => Ok(Annotation::Backfill { expr, column, line }),
        Said::Using(_) if element.is_some_and(|e| !e.is_column) => Err(format!(
            "@using applies to a column, not to `{}`",
            column.unwrap_or_default()
        )),
        Said::Using(expr) => Ok(Annotation::Using { expr, column, line }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renamed_values_fold_unless_quoted() {
        assert_eq!(
            read_comment("-- @renamed from=UserName"),
            Some(Ok(Said::Renamed("username".into())))
        );
        assert_eq!(
            read_comment("/* @renamed from=\"user name\" */"),
            Some(Ok(Said::Renamed("user name".into())))
        );
        assert_eq!(
            read_comment("-- @rename from = app.Old"),
            Some(Ok(Said::Renamed("app.old".into())))
        );
    }

    #[test]
    fn prose_comments_are_not_annotations() {
        assert_eq!(read_comment("-- renamed from x"), None);
        assert_eq!(read_comment("-- @author someone"), None);
    }

    #[test]
    fn malformed_annotations_are_errors() {
        assert!(matches!(read_comment("-- @renamed old"), Some(Err(_))));
        assert!(matches!(read_comment("-- @renamed from=a b"), Some(Err(_))));
        assert!(matches!(read_comment("-- @backfill"), Some(Err(_))));
        assert!(matches!(read_comment("-- @backfill lower("), Some(Err(_))));
    }

    #[test]
    fn backfill_keeps_the_expression_text() {
        assert_eq!(
            read_comment("-- @backfill lower(email) || 'x'"),
            Some(Ok(Said::Backfill("lower(email) || 'x'".into())))
        );
    }
}
