//! What the schema files say about a statement PostgreSQL rejected while loading the desired
//! schema: the other definition of a duplicate object, the statements of a dependency cycle,
//! or that nothing in the files creates the object a statement needs. Added as notes under
//! PostgreSQL's own message, each with its `file:line:col`.

use crate::shadow::{is_undefined_sqlstate, StatementError};
use crate::source::{SourceSet, Statement};

/// SQLSTATEs meaning "already exists": duplicate table/relation, object, schema, function,
/// column.
const DUPLICATE: [&str; 5] = ["42P07", "42710", "42P06", "42723", "42701"];

/// SQLSTATE `syntax_error`.
const SYNTAX_ERROR: &str = "42601";

/// A syntax error in the shadow on a statement the files' parser (PostgreSQL 18's grammar)
/// accepted: the shadow's server is an older major. One note per 18-only part of the statement
/// (`source::needs_newer`), at its `file:line:col`.
fn newer_syntax(s: &Statement) -> Vec<String> {
    crate::source::needs_newer(&s.sql)
        .into_iter()
        .map(|n| {
            let col = if n.line == 1 {
                s.col + n.col - 1
            } else {
                n.col
            };
            format!(
                "{}:{}:{col}: {} needs PostgreSQL {}; the shadow database's server is older: \
                 use a shadow of the target database's major (PostgreSQL {} or newer), or \
                 write the schema without it",
                s.file.display(),
                s.line + n.line - 1,
                n.what,
                n.major,
                n.major
            )
        })
        .collect()
}

/// `file:line:col` of a statement, as the loader's origins are written.
pub(crate) fn origin(s: &Statement) -> String {
    format!("{}:{}:{}", s.file.display(), s.line, s.col)
}

/// Adds notes to `err` from the schema files.
pub(crate) fn explain(err: &mut StatementError, source: &SourceSet) {
    let Some(failed) = source
        .statements
        .iter()
        .position(|s| origin(s) == err.statement_origin)
    else {
        return;
    };
    if err.sqlstate == SYNTAX_ERROR {
        err.notes.extend(newer_syntax(&source.statements[failed]));
    } else if DUPLICATE.contains(&err.sqlstate.as_str()) {
        err.notes.extend(duplicate(source, failed));
    } else if is_undefined_sqlstate(&err.sqlstate) {
        match source.cycles.iter().find(|c| c.contains(&failed)) {
            Some(cycle) => err.notes.push(cycle_note(source, cycle)),
            None => err.notes.extend(missing(source, failed, &err.message)),
        }
    }
}

/// "`name` is also defined at file:line:col": the other statement creating one of the names
/// the failed statement creates.
fn duplicate(source: &SourceSet, failed: usize) -> Option<String> {
    let this = &source.statements[failed];
    source
        .statements
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != failed)
        .find_map(|(_, other)| {
            let name = this.creates.iter().find(|n| other.creates.contains(n))?;
            Some(format!(
                "{name} is defined twice: here and at {} ({}); keep one definition",
                origin(other),
                other.kind
            ))
        })
}

/// The statements of a cycle and what each needs from the others.
fn cycle_note(source: &SourceSet, cycle: &[usize]) -> String {
    let members: Vec<&Statement> = cycle.iter().map(|&i| &source.statements[i]).collect();
    let mut note = String::from(
        "dependency cycle: these statements need each other, so none of them can be created \
         first:",
    );
    for s in &members {
        let name = s
            .creates
            .first()
            .map(crate::model::Name::as_str)
            .unwrap_or("?");
        let needs: Vec<&str> = s
            .references
            .iter()
            .filter(|r| members.iter().any(|m| m.creates.contains(r)))
            .map(crate::model::Name::as_str)
            .collect();
        note.push_str(&format!(
            "\n  {} {name} at {} needs {}",
            s.kind,
            origin(s),
            needs.join(", ")
        ));
    }
    if members.iter().all(|s| s.kind == "CREATE TABLE") {
        note.push_str(
            "\nbreak the cycle: move one of the FOREIGN KEYs into an ALTER TABLE ... ADD \
             CONSTRAINT statement (it runs after both tables exist)",
        );
    } else {
        note.push_str("\nbreak the cycle: remove one of these references");
    }
    note
}

/// "nothing in the schema files creates X" when the object PostgreSQL names is not created by
/// any statement.
fn missing(source: &SourceSet, failed: usize, message: &str) -> Option<String> {
    let name = named_object(message)?;
    let qualified = if name.contains('.') {
        name.clone()
    } else {
        format!("public.{name}")
    };
    let created = source.statements.iter().any(|s| {
        s.creates
            .iter()
            .any(|c| *c == name || *c == qualified || c.ends_with(&format!(".{name}")))
    });
    (!created).then(|| {
        format!(
            "{qualified} is not created by any schema file (referenced by the {} at {}); \
             define it in a schema file or create it outside schemaplan first",
            source.statements[failed].kind,
            origin(&source.statements[failed])
        )
    })
}

/// The object named in a PostgreSQL "does not exist" message: the first double-quoted name
/// (`relation "public.t" does not exist`), or a function's name before its argument list
/// (`function public.f(integer) does not exist`).
fn named_object(message: &str) -> Option<String> {
    if let Some(start) = message.find('"') {
        let rest = &message[start + 1..];
        let end = rest.find('"')?;
        return Some(rest[..end].to_string());
    }
    let rest = message.strip_prefix("function ")?;
    Some(rest[..rest.find('(')?].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_names_are_read_from_messages() {
        assert_eq!(
            named_object("relation \"public.t\" does not exist").as_deref(),
            Some("public.t")
        );
        assert_eq!(
            named_object("function public.f(integer) does not exist").as_deref(),
            Some("public.f")
        );
        assert_eq!(named_object("something else"), None);
    }
}
