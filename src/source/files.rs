//! Finding schema files: every `*.sql` under a directory, recursively, sorted by path. Hidden
//! entries (names starting with `.`) are skipped; symlinked directories are followed once.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

use super::error::SourceError;

/// All schema files under `dir`, sorted by path. Paths start with `dir` as given.
pub(crate) fn schema_files(dir: &Path) -> Result<Vec<PathBuf>, SourceError> {
    let meta = fs::metadata(dir).map_err(|source| missing_or_unreadable(dir, source))?;
    if !meta.is_dir() {
        return Err(SourceError::NotADir {
            path: dir.to_path_buf(),
        });
    }
    let mut files = Vec::new();
    let mut seen = HashSet::new();
    collect(dir, &mut files, &mut seen)?;
    files.sort();
    if files.is_empty() {
        return Err(SourceError::Empty {
            dir: dir.to_path_buf(),
        });
    }
    Ok(files)
}

fn missing_or_unreadable(path: &Path, source: std::io::Error) -> SourceError {
    if source.kind() == std::io::ErrorKind::NotFound {
        SourceError::MissingDir {
            path: path.to_path_buf(),
        }
    } else {
        read_error(path, source)
    }
}

fn read_error(path: &Path, source: std::io::Error) -> SourceError {
    SourceError::Read {
        path: path.to_path_buf(),
        source,
    }
}

fn collect(
    dir: &Path,
    files: &mut Vec<PathBuf>,
    seen: &mut HashSet<PathBuf>,
) -> Result<(), SourceError> {
    let canonical = fs::canonicalize(dir).map_err(|e| read_error(dir, e))?;
    if !seen.insert(canonical) {
        return Ok(());
    }
    let entries = fs::read_dir(dir).map_err(|e| read_error(dir, e))?;
    for entry in entries {
        let path = entry.map_err(|e| read_error(dir, e))?.path();
        if is_hidden(&path) {
            continue;
        }
        let meta = fs::metadata(&path).map_err(|e| read_error(&path, e))?;
        if meta.is_dir() {
            collect(&path, files, seen)?;
        } else if is_sql(&path) {
            files.push(path);
        }
    }
    Ok(())
}

fn is_hidden(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with('.'))
}

fn is_sql(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("sql"))
}

/// A file's bytes (the source cache keys a file by them before it is decoded).
pub(crate) fn read_bytes(path: &Path) -> Result<Vec<u8>, SourceError> {
    fs::read(path).map_err(|e| read_error(path, e))
}

/// A file's bytes as text. Not UTF-8 is an error pointing at the first bad byte.
pub(crate) fn decode(path: &Path, bytes: Vec<u8>) -> Result<String, SourceError> {
    String::from_utf8(bytes).map_err(|err| {
        let valid = err.utf8_error().valid_up_to();
        let prefix = String::from_utf8_lossy(&err.as_bytes()[..valid]).into_owned();
        let at = super::text::SourceText::new(path, &prefix).location(prefix.len());
        SourceError::Encoding {
            at,
            message: "file is not valid UTF-8; schema files must be UTF-8 text".into(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_dir_is_reported_with_its_path() {
        let err = schema_files(Path::new("/nonexistent/schema")).unwrap_err();
        assert!(matches!(err, SourceError::MissingDir { .. }));
        assert_eq!(
            err.to_string(),
            "/nonexistent/schema: schema directory does not exist"
        );
    }

    #[test]
    fn sql_files_are_found_recursively_and_sorted() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("b/c")).unwrap();
        fs::create_dir_all(dir.path().join(".git")).unwrap();
        for f in ["z.sql", "b/c/a.SQL", "b/a.sql", "notes.md", ".git/x.sql"] {
            fs::write(dir.path().join(f), "").unwrap();
        }
        let found = schema_files(dir.path()).unwrap();
        let rel: Vec<_> = found
            .iter()
            .map(|p| {
                p.strip_prefix(dir.path())
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(rel, ["b/a.sql", "b/c/a.SQL", "z.sql"]);
    }

    #[test]
    fn empty_dir_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            schema_files(dir.path()),
            Err(SourceError::Empty { .. })
        ));
    }
}
