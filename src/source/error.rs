//! Errors of the source stage, rendered like a compiler's: `file:line:col: message`, then the
//! offending source line with a caret under the column.

use std::fmt;
use std::path::PathBuf;

/// Where a problem is: file, 1-based line and character column, and the text of that line.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Location {
    pub file: PathBuf,
    pub line: usize,
    pub col: usize,
    /// The whole source line (without its line break), shown under the message.
    pub source_line: String,
}

impl Location {
    /// The source line and a caret under the column, each line prefixed by a gutter.
    pub fn snippet(&self) -> String {
        let number = self.line.to_string();
        let gutter = " ".repeat(number.len());
        let caret = caret_padding(&self.source_line, self.col);
        // A password in an OPTIONS clause is never shown, not even the user's own.
        format!(
            "\n{gutter} |\n{number} | {}\n{gutter} | {caret}^",
            crate::model::mask_option_secrets(&self.source_line)
        )
    }
}

/// Whitespace reaching column `col`, keeping tabs so the caret lines up under tabbed text.
fn caret_padding(line: &str, col: usize) -> String {
    line.chars()
        .take(col.saturating_sub(1))
        .map(|c| if c == '\t' { '\t' } else { ' ' })
        .collect()
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.col)
    }
}

/// Everything that can go wrong turning schema files into statements.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// PostgreSQL's grammar rejected the text (or its scanner did: unterminated string, ...).
    #[error("{at}: {message}{}", .at.snippet())]
    Syntax { at: Location, message: String },

    /// A statement that changes data, drops, renames or otherwise does not describe schema.
    #[error("{at}: {kind} does not belong in a schema file: {reason}{}", .at.snippet())]
    NotSchema {
        at: Location,
        kind: String,
        reason: String,
    },

    /// A psql backslash command such as `\connect`.
    #[error(
        "{at}: psql meta-command `{command}` does not belong in a schema file: schema files are \
         plain SQL, not psql scripts{}",
        .at.snippet()
    )]
    MetaCommand { at: Location, command: String },

    /// A malformed `-- @renamed` / `-- @backfill` annotation, or one in a place it cannot apply.
    #[error("{at}: {message}{}", .at.snippet())]
    Annotation { at: Location, message: String },

    /// Two statements define the same object and one of them says `IF NOT EXISTS` or
    /// `OR REPLACE`, so PostgreSQL would take one silently and the order decide which
    /// (`source::twice` words the message).
    #[error("{at}: {message}{}", .at.snippet())]
    DefinedTwice { at: Location, message: String },

    /// The file is not UTF-8 text (or holds a NUL byte, which PostgreSQL cannot take).
    #[error("{at}: {message}{}", .at.snippet())]
    Encoding { at: Location, message: String },

    #[error("{}: cannot read: {source}", .path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("{}: schema directory does not exist", .path.display())]
    MissingDir { path: PathBuf },

    #[error("{}: not a directory", .path.display())]
    NotADir { path: PathBuf },

    #[error("{}: no *.sql files found (schema files end in .sql)", .dir.display())]
    Empty { dir: PathBuf },

    /// Several independent errors, reported together like a compiler does.
    #[error("{}\n\n{} errors", join_errors(.0), .0.len())]
    Many(Vec<SourceError>),
}

fn join_errors(errors: &[SourceError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n\n")
}

impl SourceError {
    /// One error stays itself; several become `Many`; none is `None`.
    pub(crate) fn collect(mut errors: Vec<SourceError>) -> Option<SourceError> {
        match errors.len() {
            0 => None,
            1 => errors.pop(),
            _ => Some(SourceError::Many(errors)),
        }
    }

    /// The errors this value stands for, flattening `Many`.
    pub fn into_list(self) -> Vec<SourceError> {
        match self {
            SourceError::Many(list) => list.into_iter().flat_map(Self::into_list).collect(),
            one => vec![one],
        }
    }

    /// Where the error points, when it points into a file.
    pub fn location(&self) -> Option<&Location> {
        match self {
            SourceError::Syntax { at, .. }
            | SourceError::NotSchema { at, .. }
            | SourceError::MetaCommand { at, .. }
            | SourceError::Annotation { at, .. }
            | SourceError::DefinedTwice { at, .. }
            | SourceError::Encoding { at, .. } => Some(at),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(line: &str, col: usize) -> Location {
        Location {
            file: PathBuf::from("schema/users.sql"),
            line: 12,
            col,
            source_line: line.to_string(),
        }
    }

    #[test]
    fn syntax_error_renders_position_line_and_caret() {
        let err = SourceError::Syntax {
            at: at("CREATE TABL users (", 8),
            message: "syntax error at or near \"TABL\"".into(),
        };
        assert_eq!(
            err.to_string(),
            "schema/users.sql:12:8: syntax error at or near \"TABL\"\n   |\n12 | CREATE TABL users (\n   |        ^"
        );
    }

    #[test]
    fn caret_keeps_tabs_aligned() {
        assert_eq!(caret_padding("\tab c", 5), "\t   ");
    }

    #[test]
    fn many_errors_are_counted_and_flattened() {
        let one = || SourceError::Empty {
            dir: PathBuf::from("schema"),
        };
        let many = SourceError::collect(vec![one(), one()]).unwrap();
        assert!(many.to_string().ends_with("\n\n2 errors"));
        assert_eq!(many.into_list().len(), 2);
    }
}
