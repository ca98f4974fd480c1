//! Reviewed plan files -> [`Plan`] again: reading `plan.sql` / `inverse.sql` from a plan
//! directory, parsing the format of `docs/plan-format.md` (header, step lines, summaries, notes,
//! SQL), the file checksum recorded by `apply`, and the rule that groups steps into execution
//! units (which steps share a transaction). `render` writes what this module reads.

pub mod batched;
mod checks;
mod honesty;
mod parse;
mod text;
mod units;

pub use parse::parse;
pub use text::{escape_comment, unescape_comment};
pub use units::{units, Unit};

use crate::plan::{Direction, Plan};
use std::path::{Path, PathBuf};

/// A plan file read from disk, with what `apply` records about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanFile {
    pub plan: Plan,
    /// Hex SHA-256 of the file's bytes, exactly as read.
    pub checksum: String,
    pub path: PathBuf,
}

/// Why a plan file could not be read. Every variant names the file; syntax errors also the line.
#[derive(Debug, thiserror::Error)]
pub enum PlanFileError {
    #[error("{}: cannot read plan file: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: plan file is not valid UTF-8 (byte {offset}): the file is corrupt", path.display())]
    NotUtf8 { path: PathBuf, offset: usize },
    #[error("{}:{line}: {message}", path.display())]
    Syntax {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{}: plan written by schemaplan {found}, this is {ours}: re-plan with this version (major.minor must match)", path.display())]
    Version {
        path: PathBuf,
        found: String,
        ours: String,
    },
    #[error("{}: expected a {expected} plan (direction: {expected}) but the file says {found}", path.display())]
    Direction {
        path: PathBuf,
        expected: &'static str,
        found: &'static str,
    },
}

impl PlanFileError {
    /// The same error, naming `path` (parse errors are built before the path is known).
    fn at(self, path: &Path) -> PlanFileError {
        match self {
            PlanFileError::Syntax { line, message, .. } => PlanFileError::Syntax {
                path: path.to_path_buf(),
                line,
                message,
            },
            PlanFileError::Version { found, ours, .. } => PlanFileError::Version {
                path: path.to_path_buf(),
                found,
                ours,
            },
            other => other,
        }
    }
}

/// The file of a plan directory holding `direction`: `plan.sql` or `inverse.sql`.
pub fn file_name(direction: Direction) -> &'static str {
    match direction {
        Direction::Forward => "plan.sql",
        Direction::Inverse => "inverse.sql",
    }
}

/// Reads and parses `plan.sql` (forward) or `inverse.sql` (inverse) of the plan directory `dir`,
/// checking that the file's `direction:` header matches.
pub fn read_dir(dir: &Path, direction: Direction) -> Result<PlanFile, PlanFileError> {
    let path = dir.join(file_name(direction));
    let bytes = std::fs::read(&path).map_err(|source| PlanFileError::Read {
        path: path.clone(),
        source,
    })?;
    let checksum = sha256_hex(&bytes);
    let text = std::str::from_utf8(&bytes).map_err(|e| PlanFileError::NotUtf8 {
        path: path.clone(),
        offset: e.valid_up_to(),
    })?;
    let plan = parse(text).map_err(|e| e.at(&path))?;
    if plan.direction != direction {
        return Err(PlanFileError::Direction {
            path,
            expected: direction.as_str(),
            found: plan.direction.as_str(),
        });
    }
    Ok(PlanFile {
        plan,
        checksum,
        path,
    })
}

/// Hex SHA-256 of `bytes` (the checksum `apply` records).
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Whether a plan written by `version` can be read by this build: same major.minor.
pub fn compatible_version(version: &str) -> bool {
    major_minor(version).is_some_and(|v| Some(v) == major_minor(env!("CARGO_PKG_VERSION")))
}

fn major_minor(version: &str) -> Option<(u64, u64)> {
    let mut parts = version.trim().split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}
