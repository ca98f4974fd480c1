//! Plan -> text: `plan.sql` / `inverse.sql` (the reviewed, executed format of
//! `docs/plan-format.md`), `plan.json`, the short stdout summary, and writing a plan directory
//! atomically. SQL quoting lives in [`quote`], the one place identifiers and literals are quoted.
//!
//! Output is a pure function of the [`Plan`]: the same plan renders byte-identically.

mod files;
mod json;
pub mod markdown;
pub mod quote;
mod reread;
mod sql;
mod summary;

pub use files::write_plan_dir;
pub use json::plan_json;
pub use markdown::markdown;
pub use sql::plan_sql;
pub use summary::summary;

use std::path::PathBuf;

/// Why a plan directory could not be written.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} exists and is not a directory", path.display())]
    NotADirectory { path: PathBuf },
    /// The rendered file does not read back as the plan that was rendered: `apply` would run
    /// something else than what was planned and proven. Nothing is written.
    #[error(
        "{file} as rendered does not read back as the plan ({problem}); no plan was written: \
             this is a bug in schemaplan, or a name it cannot write into a plan file"
    )]
    Unreadable { file: &'static str, problem: String },
}

/// `expand, contract` or `none`.
fn list_or_none<T>(items: &[T], name: impl Fn(&T) -> &'static str) -> String {
    if items.is_empty() {
        "none".to_string()
    } else {
        items.iter().map(name).collect::<Vec<_>>().join(", ")
    }
}

#[cfg(test)]
mod tests;
