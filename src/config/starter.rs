//! `schemaplan init`: a commented starter `schemaplan.toml`, and the `schema/` and `plans/`
//! folders it names. Never overwrites a project file.

use super::FILE_NAME;
use std::path::{Path, PathBuf};

/// The starter file: every key, with the built-in value, commented where it is optional.
pub const STARTER: &str = r#"# schemaplan project file (docs/configuration.md). Found from this folder and below, like
# Cargo.toml; paths are relative to this file. Precedence, highest first: a command-line flag,
# its environment variable (DATABASE_URL, SCHEMAPLAN_DEV_URL, ...), the chosen [env.NAME],
# this file's tables, the built-in default.

# Folder of schema files (*.sql, recursively) and folder of plan directories.
schema = "schema"
plans = "plans"

# The environment used when neither --env nor $SCHEMAPLAN_ENV names one.
# default_env = "development"

[plan]
# lock_timeout of steps whose lock blocks reads or writes (1 to 2147483647).
# lock_timeout_ms = 100
# Existing tables up to this heap size get plain (not online) forms, with a note.
# small_table = "1MB"

[apply]
# Which phase apply and rollback run without --phase: expand, contract or all.
# phase = "expand"
# Hazards accepted without --allow-hazards (names, or "all").
# allow_hazards = []
# lock_wait = 60                     # seconds to wait for another apply
# lock_retries = 14                  # retries of a unit that hit its lock_timeout
# lock_retry_max_delay_ms = 5000
# batch_rows = 2000                  # first batch of a backfill
# batch_target_ms = 50               # batch duration that batch sizes adapt to
# batch_pause_ms = 20

[shadow]
# A server where schemaplan may create and drop scratch databases (default: a private
# throw-away cluster from the local PostgreSQL binaries).
# dev_url = { env = "SCHEMAPLAN_DEV_URL" }
# pg_bindir = "/usr/lib/postgresql/16/bin"

[scope]
# Which objects are the project's: KIND:GLOB patterns (docs/configuration.md, "Scope").
# Out-of-scope objects are never planned, dropped, reported as drift or dumped.
# include = []                       # empty: everything
# exclude = ["schema:audit", "table:public.legacy_*"]

# One table per environment: its database (never a literal password: name the environment
# variable that holds the URL) and what differs there. Use with --env NAME.
[env.development]
url = { env = "DATABASE_URL" }

# [env.staging]
# url = { env = "STAGING_DATABASE_URL" }

# [env.production]
# url = { env = "PRODUCTION_DATABASE_URL" }
# require_phase = true               # apply/rollback must say --phase
# hazards_by_flag_only = true        # [apply] allow_hazards does not apply here
# [env.production.apply]
# lock_retries = 30
"#;

/// Writes the starter file and the two folders in `dir`; returns what it created.
pub fn init(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let file = dir.join(FILE_NAME);
    if file.exists() {
        anyhow::bail!(
            "{} already exists: init never overwrites a project file",
            file.display()
        );
    }
    let mut created = Vec::new();
    for sub in ["schema", "plans"] {
        let d = dir.join(sub);
        if !d.exists() {
            std::fs::create_dir_all(&d)?;
            created.push(d);
        }
    }
    // create_new: a file appearing since the check above is not overwritten either.
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&file)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", file.display()))?;
    f.write_all(STARTER.as_bytes())?;
    created.push(file);
    Ok(created)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_starter_file_is_a_valid_project_file() {
        let dir = tempfile::tempdir().unwrap();
        init(dir.path()).unwrap();
        let p = crate::config::Project::load(&dir.path().join(FILE_NAME)).unwrap();
        assert!(p.env(Some("development")).unwrap().is_some());
        assert!(dir.path().join("schema").is_dir() && dir.path().join("plans").is_dir());
        let again = init(dir.path()).unwrap_err().to_string();
        assert!(again.contains("never overwrites"), "{again}");
    }
}
