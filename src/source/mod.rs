//! source: schema files -> statements in dependency order.
//!
//! Owns reading `schema/**/*.sql`, splitting and parsing them with pg_query (the PostgreSQL
//! grammar), compiler-style diagnostics (`file:line:col`, the line, a caret), rejecting
//! statements without a well-defined result on a fresh database (`INSERT`, transaction control,
//! session settings, psql meta-commands, ...), keeping imperative statements (`DROP`,
//! `RENAME`, `ALTER ... DROP COLUMN`) in their written order against the objects they name,
//! reading `-- @renamed` / `-- @backfill` annotations, and ordering all statements of all files
//! by what they create and reference, so file order never matters. See `docs/source.md`.
//!
//! Nothing here talks to a database: the shadow loader runs the statements in the order given
//! and PostgreSQL elaborates them.

mod annotate;
mod cache;
mod classify;
mod error;
mod events;
mod expr;
mod files;
mod names;
mod order;
mod owners;
mod refs;
mod split;
mod text;
mod twice;
mod versions;

use crate::model::Name;
use std::path::{Path, PathBuf};

pub use error::{Location, SourceError};
pub use owners::SuperuserOwner;
pub use versions::{needs_newer, NewerSyntax};

use annotate::Target;
use classify::Verdict;
use refs::Facts;
use split::Span;
use text::SourceText;

/// One statement of a schema file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Statement {
    /// The statement text exactly as written, from its first token to its last (no `;`, no
    /// leading or trailing comments; comments inside are kept).
    pub sql: String,
    /// The file's path as given (relative to the working directory if the directory was).
    pub file: PathBuf,
    /// 1-based line of the statement's first token.
    pub line: usize,
    /// 1-based character column of the statement's first token.
    pub col: usize,
    /// `CREATE TABLE`, `CREATE INDEX`, `COMMENT`, `GRANT`, `ALTER TABLE`, `DO`, ...
    pub kind: Name,
    /// Normalized names of the objects it defines (`schema.name`, see `docs/source.md`).
    /// [`Name`]s, shared by every statement of one load that names the same object (the
    /// loader interns them), and by what the warm shadow keeps of each statement (issue 9).
    pub creates: Vec<Name>,
    /// Normalized names it refers to (sorted; without its own creates).
    pub references: Vec<Name>,
    pub annotations: Vec<Annotation>,
    /// Acts on objects other statements made (`DROP`, `RENAME`, `ALTER ... DROP COLUMN`, ...;
    /// see `classify::is_imperative`): the incremental warm shadow cannot undo such a
    /// statement, so a schema with one is always loaded afresh when it changes.
    pub imperative: bool,
}

/// An annotation read from a comment.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Annotation {
    /// `-- @renamed from=old_name` (sqldef compatible; also `-- @rename from=...`), placed on
    /// the line before a CREATE TABLE/INDEX/TYPE statement or on/just before a column or
    /// constraint line inside CREATE TABLE; `column` says which column/constraint (or enum
    /// value) it is attached to (None = the statement's object). `from` is folded to lower case
    /// unless written in double quotes.
    RenamedFrom {
        from: String,
        column: Option<String>,
        line: usize,
    },
    /// `-- @backfill <expression>` on/before a column line.
    Backfill {
        expr: String,
        column: Option<String>,
        line: usize,
    },
    /// `-- @using <expression>` on/before a column line: how a type change computes the
    /// column's new value from the old row (`ALTER COLUMN ... TYPE ... USING`).
    Using {
        expr: String,
        column: Option<String>,
        line: usize,
    },
}

/// All statements of a schema directory (or a list of files), in dependency order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceSet {
    pub dir: PathBuf,
    /// The files read, sorted by path.
    pub files: Vec<PathBuf>,
    /// Dependency-ordered: every statement comes after the statements creating what it uses
    /// (except inside a dependency cycle, which keeps file order).
    pub statements: Vec<Statement>,
    /// Groups of statements that reference each other (directly or around a loop), as indexes
    /// into `statements`. PostgreSQL loads some (a function and a table using each other can
    /// succeed on a retry); when one fails, the error names the cycle.
    pub cycles: Vec<Vec<usize>>,
}

/// Reads every `*.sql` under `dir` (recursively, sorted by path) and orders all statements.
pub fn load_dir(dir: &Path) -> Result<SourceSet, SourceError> {
    load_dir_cached(dir, None)
}

/// [`load_dir`], taking the statements of files unchanged since the last run from the store
/// in `cache` (a folder; `None`: parse every file), and storing those parsed anew (see
/// `cache`). The result, errors included, is the same as [`load_dir`]'s.
pub fn load_dir_cached(dir: &Path, cache: Option<&Path>) -> Result<SourceSet, SourceError> {
    let files = files::schema_files(dir)?;
    let store = cache.map(|folder| cache::Store::open(folder, dir));
    load(dir.to_path_buf(), files, store)
}

/// Reads the given files (in the given order) and orders all their statements. `dir` is the
/// first file's directory.
pub fn load_files(files: &[PathBuf]) -> Result<SourceSet, SourceError> {
    let Some(first) = files.first() else {
        return Err(SourceError::Empty {
            dir: PathBuf::from("."),
        });
    };
    let dir = first.parent().map(Path::to_path_buf).unwrap_or_default();
    load(dir, files.to_vec(), None)
}

/// Parses one file's text into its statements, in file order (not dependency-ordered).
pub fn parse_text(file: &Path, text: &str) -> Result<Vec<Statement>, SourceError> {
    Ok(parse_file(file, text)?
        .into_iter()
        .map(|loaded| loaded.statement)
        .collect())
}

/// A statement with the ordering facts that are not part of the public [`Statement`]: what
/// parsing a file gives, and what the source cache stores per file (`cache`).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Loaded {
    statement: Statement,
    order: refs::OrderFacts,
    /// Where the statement starts (for errors about it as a whole).
    at: Location,
    defines: twice::Defines,
    /// Acts on objects other statements made (see `classify::is_imperative`).
    imperative: bool,
}

/// A parsed statement before annotations are attached.
struct Parsed {
    span: Span,
    kind: String,
    node: pg_query::NodeEnum,
    facts: Facts,
    defines: twice::Defines,
}

fn load(
    dir: PathBuf,
    files: Vec<PathBuf>,
    store: Option<cache::Store>,
) -> Result<SourceSet, SourceError> {
    // One allocation per distinct name for the whole load (a table's name in every statement
    // that creates, alters or refers to it), parsed or taken from the cache alike.
    crate::model::interning(|| load_interned(dir, files, store))
}

fn load_interned(
    dir: PathBuf,
    files: Vec<PathBuf>,
    mut store: Option<cache::Store>,
) -> Result<SourceSet, SourceError> {
    let mut loaded = Vec::new();
    let mut errors = Vec::new();
    let mut unchanged = 0;
    for file in &files {
        let bytes = match files::read_bytes(file) {
            Ok(bytes) => bytes,
            Err(err) => {
                errors.extend(err.into_list());
                continue;
            }
        };
        if let Some(statements) = store.as_mut().and_then(|s| s.get(file, &bytes)) {
            loaded.extend(statements);
            unchanged += 1;
            continue;
        }
        let parsed = files::decode(file, bytes.clone()).and_then(|text| parse_file(file, &text));
        match parsed {
            Ok(statements) => {
                // Only what parsed without an error is stored: an error is found again.
                if let Some(store) = store.as_mut() {
                    store.put(file, &bytes, &statements);
                }
                loaded.extend(statements)
            }
            Err(err) => errors.extend(err.into_list()),
        }
    }
    if let Some(store) = store {
        crate::timings::note(&format!(
            "schema files: {unchanged} unchanged since the last run, {} parsed",
            files.len() - unchanged
        ));
        crate::timings::stage("source cache saved", || store.save());
    }
    errors.extend(defined_twice(&mut loaded));
    if let Some(err) = SourceError::collect(errors) {
        return Err(err);
    }
    let (statements, cycles) = dependency_order(loaded);
    Ok(SourceSet {
        dir,
        files,
        statements,
        cycles,
    })
}

/// Reads one file's bytes as the only schema file (what the fuzz target drives: decoding,
/// splitting, parsing, annotations and ordering, no file system).
pub fn load_bytes(file: &Path, bytes: &[u8]) -> Result<SourceSet, SourceError> {
    let text = files::decode(file, bytes.to_vec())?;
    let mut loaded = parse_file(file, &text)?;
    if let Some(err) = SourceError::collect(defined_twice(&mut loaded)) {
        return Err(err);
    }
    let (statements, cycles) = dependency_order(loaded);
    Ok(SourceSet {
        dir: file.parent().map(Path::to_path_buf).unwrap_or_default(),
        files: vec![file.to_path_buf()],
        statements,
        cycles,
    })
}

/// Objects defined twice with `IF NOT EXISTS` / `OR REPLACE` (see [`twice`]), in load order;
/// a `CREATE OR REPLACE` redefining what its own file defined earlier is marked imperative
/// instead (it runs in its written position, see `order`).
fn defined_twice(loaded: &mut [Loaded]) -> Vec<SourceError> {
    let entries: Vec<twice::Entry> = loaded
        .iter()
        .map(|l| twice::Entry {
            at: &l.at,
            kind: &l.statement.kind,
            defines: &l.defines,
        })
        .collect();
    let checked = twice::check(&entries);
    for i in checked.replacements {
        loaded[i].imperative = true;
        loaded[i].statement.imperative = true;
    }
    checked.errors
}

/// The statements in dependency order, and the cycles as indexes into that order.
fn dependency_order(loaded: Vec<Loaded>) -> (Vec<Statement>, Vec<Vec<usize>>) {
    let items: Vec<order::Item> = loaded.iter().map(order_item).collect();
    let ordered = order::order_with_cycles(&items);
    let mut position = vec![0; items.len()];
    for (at, &i) in ordered.sequence.iter().enumerate() {
        position[i] = at;
    }
    let cycles = ordered
        .cycles
        .iter()
        .map(|members| members.iter().map(|&i| position[i]).collect())
        .collect();
    drop(items);
    let mut slots: Vec<Option<Statement>> = loaded.into_iter().map(|l| Some(l.statement)).collect();
    // Sized at once: collected from `filter_map`, the list would grow by doubling and keep up
    // to twice its room for the whole run (~5 MiB at 5,000 tables, issue 9).
    let mut statements = Vec::with_capacity(slots.len());
    statements.extend(ordered.sequence.into_iter().filter_map(|i| slots[i].take()));
    (statements, cycles)
}

fn names<S: AsRef<str>>(list: &[S]) -> Vec<&str> {
    list.iter().map(AsRef::as_ref).collect()
}

fn order_item(loaded: &Loaded) -> order::Item<'_> {
    let s = &loaded.statement;
    let mut takes = names(&s.references);
    takes.extend(names(&loaded.order.needs));
    order::Item {
        creates: names(&s.creates),
        provides: names(&loaded.order.provides),
        takes,
        priority: priority(&s.kind),
        imperative: loaded.imperative,
        partition_of: s
            .kind
            .eq("CREATE TABLE")
            .then(|| loaded.order.partitions.iter().map(|(_, p)| p.as_str()))
            .into_iter()
            .flatten()
            .collect(),
        unvalidated_check_on: names(&loaded.order.unvalidated_check_on),
    }
}

/// Schemas, extensions, languages and `DO` blocks (in practice: setup such as creating roles)
/// run as early as their own dependencies allow.
fn priority(kind: &str) -> u8 {
    match kind {
        "CREATE SCHEMA" | "CREATE EXTENSION" | "CREATE LANGUAGE" | "DO" => 0,
        _ => 1,
    }
}

fn parse_file(file: &Path, text: &str) -> Result<Vec<Loaded>, SourceError> {
    let src = SourceText::new(file, text);
    reject_nul(&src)?;
    let code = split::scan(src.text).map_err(|e| syntax_error(&src, e.offset, e.message))?;
    let original = src.text;
    let src = src.with_code(&code.text);
    let scanned = &code.scanned;
    let mut errors: Vec<SourceError> = code
        .meta_commands
        .iter()
        .filter_map(|line| meta_command(&src, original, *line))
        .collect();
    let mut parsed = Vec::new();
    for span in split::statements(src.text, scanned) {
        match parse_statement(&src, span, scanned) {
            Ok(statements) => parsed.extend(statements),
            Err(err) => errors.push(err),
        }
    }
    let targets: Vec<Target> = parsed.iter().map(|p| target(&src, p, scanned)).collect();
    let annotations = annotate::attach(&src, &scanned.comments, &targets).unwrap_or_else(|e| {
        errors.extend(e);
        Vec::new()
    });
    errors.sort_by_key(|e| e.location().map(|at| (at.line, at.col)));
    if let Some(err) = SourceError::collect(errors) {
        return Err(err);
    }
    Ok(parsed
        .into_iter()
        .zip(annotations)
        .map(|(p, annotations)| loaded(&src, p, annotations))
        .collect())
}

fn target<'a>(src: &SourceText, parsed: &'a Parsed, scanned: &split::Scanned) -> Target<'a> {
    let (shape, elements) = annotate::elements(&parsed.node, src, parsed.span, &scanned.tokens);
    Target {
        span: parsed.span,
        kind: &parsed.kind,
        shape,
        elements,
    }
}

fn loaded(src: &SourceText, parsed: Parsed, annotations: Vec<Annotation>) -> Loaded {
    let (line, col) = src.position(parsed.span.start);
    let Facts {
        creates,
        references,
        order,
    } = parsed.facts;
    let defines = parsed.defines;
    let imperative = classify::is_imperative(&parsed.node);
    Loaded {
        imperative,
        at: src.location(parsed.span.start),
        defines,
        statement: Statement {
            sql: src.text[parsed.span.start..parsed.span.end].to_string(),
            file: src.file.to_path_buf(),
            line,
            col,
            kind: parsed.kind.into(),
            creates: creates.into_iter().map(Name::from).collect(),
            references: references.into_iter().map(Name::from).collect(),
            annotations,
            imperative,
        },
        order,
    }
}

fn reject_nul(src: &SourceText) -> Result<(), SourceError> {
    match src.text.find('\0') {
        Some(offset) => Err(SourceError::Encoding {
            at: src.location(offset),
            message: "file contains a NUL byte; schema files must be text".into(),
        }),
        None => Ok(()),
    }
}

fn syntax_error(src: &SourceText, offset: usize, message: String) -> SourceError {
    SourceError::Syntax {
        at: src.location(offset),
        message,
    }
}

/// Parses one statement and decides whether it belongs. A span holding several statements
/// (possible only when the token-level fallback split missed a boundary) is split again on the
/// parser's statement locations.
fn parse_statement(
    src: &SourceText,
    span: Span,
    scanned: &split::Scanned,
) -> Result<Vec<Parsed>, SourceError> {
    let sql = &src.text[span.start..span.end];
    let tree = pg_query::parse(sql, pg_query::ParserOptions::DEFAULT)
        .map_err(|err| parse_error(src, span, err))?;
    let stmts = tree.protobuf.stmts;
    if stmts.len() > 1 {
        return reparse(src, span, &stmts, scanned);
    }
    let Some(node) = stmts.into_iter().next().and_then(|s| s.stmt?.node) else {
        return Ok(Vec::new());
    };
    let (kind, verdict) = classify::classify(&node);
    match verdict {
        Verdict::Accept => {
            let facts = refs::facts(&node);
            let defines = twice::defines(&node, &kind, &facts.creates);
            Ok(vec![Parsed {
                span,
                kind,
                facts,
                defines,
                node,
            }])
        }
        Verdict::Skip => Ok(Vec::new()),
        Verdict::Reject(reason) => Err(SourceError::NotSchema {
            at: src.location(span.start),
            kind,
            reason,
        }),
    }
}

/// A psql meta-command line: an error, except pg_dump's `\restrict KEY` / `\unrestrict KEY`
/// guard lines (pg_dump 17.6, 16.10, 15.14 and later write them around every dump), which change
/// nothing in the database and are skipped.
fn meta_command(src: &SourceText, original: &str, line: Span) -> Option<SourceError> {
    let text = &original[line.start..line.end];
    let command = text.trim();
    let mut words = command.split_whitespace();
    let guard = matches!(words.next(), Some("\\restrict" | "\\unrestrict"))
        && words.next().is_some()
        && words.next().is_none();
    let indent = text.len() - text.trim_start().len();
    (!guard).then(|| SourceError::MetaCommand {
        at: src.location(line.start + indent),
        command: command.to_string(),
    })
}

fn reparse(
    src: &SourceText,
    span: Span,
    stmts: &[pg_query::protobuf::RawStmt],
    scanned: &split::Scanned,
) -> Result<Vec<Parsed>, SourceError> {
    let mut parsed = Vec::new();
    for raw in stmts {
        let start = span.start + raw.stmt_location as usize;
        let end = match raw.stmt_len {
            0 => span.end,
            len => start + len as usize,
        };
        if let Some(inner) = split::trim_to_tokens(start..end, &scanned.tokens) {
            parsed.extend(parse_statement(src, inner, scanned)?);
        }
    }
    Ok(parsed)
}

/// A parse error, pointed at its token.
fn parse_error(src: &SourceText, span: Span, err: pg_query::Error) -> SourceError {
    let sql = &src.text[span.start..span.end];
    let message = split::error_message(err);
    let offset = span.start
        + split::error_offset(sql, &message, |prefix| {
            pg_query::parse(prefix, pg_query::ParserOptions::DEFAULT)
                .err()
                .map(split::error_message)
        });
    syntax_error(src, offset, message)
}
