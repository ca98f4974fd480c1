//! The project file `schemaplan.toml`: where it is found, what it may say, and the option
//! defaults it gives each command, for the chosen environment.
//!
//! Found upward from the working directory (like `Cargo.toml`), or named by `--config PATH` /
//! `$SCHEMAPLAN_CONFIG`. Paths in it are relative to the file's folder. Unknown keys, wrong
//! types and a password written into a URL are errors with `file:line:col`; a URL is either a
//! literal without a password (`.pgpass`, `PGPASSWORD` or a client certificate supply it) or
//! `{ env = "VARIABLE" }`, read when the environment is used. The layering itself (flag >
//! environment variable > `[env.NAME]` > file > built-in) is in [`defaults`]: this module only
//! reads and checks the file. docs/configuration.md is the user's reference.

mod defaults;
mod starter;

pub use defaults::{inject, prescan, Injected};
pub use starter::init;

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// The project file's name.
pub const FILE_NAME: &str = "schemaplan.toml";

/// A problem with the project file or the environment chosen, said the way a user can fix it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {message}")]
    Read { path: String, message: String },
    #[error("{path}:{line}:{col}: {message}")]
    At {
        path: String,
        line: usize,
        col: usize,
        message: String,
    },
    #[error("{0}")]
    Usage(String),
}

/// A loaded project file.
#[derive(Debug)]
pub struct Project {
    /// The file, as found or given.
    pub path: PathBuf,
    /// Its folder: relative paths in the file are relative to it.
    pub root: PathBuf,
    text: String,
    file: File,
}

/// What the file may say (every table and key; anything else is an error).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    /// Folder of schema files.
    schema: Option<Spanned<String>>,
    /// Folder of plan directories.
    plans: Option<Spanned<String>>,
    /// The environment used when neither `--env` nor `$SCHEMAPLAN_ENV` names one.
    default_env: Option<Spanned<String>>,
    #[serde(default)]
    plan: PlanDefaults,
    #[serde(default)]
    apply: ApplyDefaults,
    #[serde(default)]
    shadow: ShadowDefaults,
    #[serde(default)]
    scope: ScopeDefaults,
    #[serde(default)]
    env: BTreeMap<String, Spanned<Env>>,
}

/// `[scope]`: which objects are the project's (`catalog::scope`); the default of `--include`
/// and `--exclude` on `plan`, `drift`, `dump`, `apply` and `rollback`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScopeDefaults {
    pub include: Option<Vec<Spanned<String>>>,
    pub exclude: Option<Vec<Spanned<String>>>,
}

/// Defaults of `plan` options.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanDefaults {
    pub lock_timeout_ms: Option<Spanned<u64>>,
    pub small_table: Option<Spanned<String>>,
}

/// Defaults of `apply` and `rollback` options.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplyDefaults {
    pub phase: Option<Spanned<String>>,
    pub allow_hazards: Option<Spanned<Vec<String>>>,
    pub lock_wait: Option<Spanned<u64>>,
    pub lock_retries: Option<Spanned<u32>>,
    pub lock_retry_max_delay_ms: Option<Spanned<u64>>,
    pub batch_rows: Option<Spanned<u64>>,
    pub batch_target_ms: Option<Spanned<u64>>,
    pub batch_pause_ms: Option<Spanned<u64>>,
}

/// Defaults of the shadow options of `plan`, `drift` and `dump`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShadowDefaults {
    pub dev_url: Option<Spanned<UrlSource>>,
    pub pg_bindir: Option<Spanned<String>>,
}

/// One `[env.NAME]` table: a database and what differs there.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Env {
    /// The database of this environment (`--db`).
    pub url: Option<Spanned<UrlSource>>,
    /// The shadow server used when planning for it (`--dev-url`).
    pub dev_url: Option<Spanned<UrlSource>>,
    /// `apply` / `rollback` must be given `--phase` (no default phase).
    #[serde(default)]
    pub require_phase: bool,
    /// Hazards are accepted only by `--allow-hazards` on the command line: the file's
    /// `[apply] allow_hazards` does not apply here.
    #[serde(default)]
    pub hazards_by_flag_only: bool,
    #[serde(default)]
    pub plan: PlanDefaults,
    #[serde(default)]
    pub apply: ApplyDefaults,
    /// Replaces the file's `[scope]` lists it names (`include`, `exclude`).
    #[serde(default)]
    pub scope: ScopeDefaults,
}

/// A URL in the file: a literal, or the name of the environment variable holding it.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum UrlSource {
    Literal(String),
    Env { env: String },
}

impl Project {
    /// The project file for this run: `explicit` (from `--config` or `$SCHEMAPLAN_CONFIG`),
    /// else the first `schemaplan.toml` in `cwd` or above it; `None` when there is none.
    pub fn find(explicit: Option<&Path>, cwd: &Path) -> Result<Option<Project>, ConfigError> {
        if let Some(p) = explicit {
            return Project::load(p).map(Some);
        }
        for dir in cwd.ancestors() {
            let candidate = dir.join(FILE_NAME);
            if candidate.is_file() {
                return Project::load(&candidate).map(Some);
            }
        }
        Ok(None)
    }

    /// Reads and checks one project file.
    pub fn load(path: &Path) -> Result<Project, ConfigError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            path: shown.clone(),
            message: format!("cannot read the project file: {e}"),
        })?;
        let file: File = toml::from_str(&text).map_err(|e| {
            let (line, col) = e.span().map(|s| line_col(&text, s.start)).unwrap_or((1, 1));
            ConfigError::At {
                path: shown.clone(),
                line,
                col,
                message: e.message().trim().to_string(),
            }
        })?;
        let root = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let project = Project {
            path: path.to_path_buf(),
            root,
            text,
            file,
        };
        project.check()?;
        Ok(project)
    }

    /// What serde cannot say: no password in a literal URL, a known phase, known hazards, a
    /// `default_env` that exists.
    fn check(&self) -> Result<(), ConfigError> {
        let mut urls: Vec<&Spanned<UrlSource>> = self.file.shadow.dev_url.iter().collect();
        for env in self.file.env.values() {
            urls.extend(env.get_ref().url.iter());
            urls.extend(env.get_ref().dev_url.iter());
        }
        for u in urls {
            if let UrlSource::Literal(s) = u.get_ref() {
                if has_password(s.as_str()) {
                    return Err(self.at(
                        u.span().start,
                        "a password in the project file would be committed with it: write \
                         `url = { env = \"VARIABLE\" }` and keep the URL in that environment \
                         variable (or the password in ~/.pgpass or $PGPASSWORD)"
                            .to_string(),
                    ));
                }
            }
        }
        let applies = std::iter::once(&self.file.apply)
            .chain(self.file.env.values().map(|e| &e.get_ref().apply));
        for a in applies {
            if let Some(p) = &a.phase {
                if !matches!(p.get_ref().as_str(), "expand" | "contract" | "all") {
                    return Err(self.at(
                        p.span().start,
                        format!("unknown phase {:?}: expand, contract or all", p.get_ref()),
                    ));
                }
            }
            if let Some(h) = &a.allow_hazards {
                for name in h.get_ref() {
                    if name != "all" && crate::plan::Hazard::parse(name).is_none() {
                        let names: Vec<&str> = crate::plan::step::ALL_HAZARDS
                            .iter()
                            .map(|h| h.as_str())
                            .collect();
                        return Err(self.at(
                            h.span().start,
                            format!(
                                "unknown hazard {name:?}; known: {}, or all",
                                names.join(", ")
                            ),
                        ));
                    }
                }
            }
        }
        let scopes = std::iter::once(&self.file.scope)
            .chain(self.file.env.values().map(|e| &e.get_ref().scope));
        for sc in scopes {
            for p in sc.include.iter().chain(&sc.exclude).flatten() {
                if let Err(message) = crate::catalog::scope::Pattern::parse(p.get_ref()) {
                    return Err(self.at(p.span().start, message));
                }
            }
        }
        if let Some(d) = &self.file.default_env {
            if !self.file.env.contains_key(d.get_ref()) {
                return Err(self.at(
                    d.span().start,
                    format!(
                        "default_env {:?} has no [env.{}] table",
                        d.get_ref(),
                        d.get_ref()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// An error at byte `offset` of the file.
    fn at(&self, offset: usize, message: String) -> ConfigError {
        let (line, col) = line_col(&self.text, offset);
        ConfigError::At {
            path: self.path.display().to_string(),
            line,
            col,
            message,
        }
    }

    /// The environment to use: `requested` (`--env` / `$SCHEMAPLAN_ENV`), else `default_env`.
    pub fn env(&self, requested: Option<&str>) -> Result<Option<(String, &Env)>, ConfigError> {
        let name = match requested {
            Some(n) => n.to_string(),
            None => match &self.file.default_env {
                Some(d) => d.get_ref().clone(),
                None => return Ok(None),
            },
        };
        match self.file.env.get(&name) {
            Some(e) => Ok(Some((name, e.get_ref()))),
            None => {
                let known: Vec<&str> = self.file.env.keys().map(String::as_str).collect();
                Err(ConfigError::Usage(format!(
                    "environment {name:?} is not in {}{}",
                    self.path.display(),
                    if known.is_empty() {
                        " (it has no [env.NAME] tables)".to_string()
                    } else {
                        format!(" (known: {})", known.join(", "))
                    }
                )))
            }
        }
    }

    /// Every `[env.NAME]` with its database URL resolved now (sorted by name): an environment
    /// without `url`, or whose variable is not set, gives the reason instead, so a caller that
    /// reads them all (`status --all-envs`) reports it and goes on.
    pub fn environment_urls(&self) -> Vec<(String, Result<String, ConfigError>)> {
        self.file
            .env
            .iter()
            .map(|(name, e)| {
                let url = match &e.get_ref().url {
                    Some(u) => self.url_value(u, &format!("[env.{name}] url")),
                    None => Err(ConfigError::Usage(format!(
                        "[env.{name}] has no url in {}",
                        self.path.display()
                    ))),
                };
                (name.clone(), url)
            })
            .collect()
    }

    /// A path of the file, relative to its folder.
    fn path_value(&self, p: &str) -> String {
        let p = Path::new(p);
        if p.is_absolute() || self.root == Path::new(".") {
            p.display().to_string()
        } else {
            self.root.join(p).display().to_string()
        }
    }

    /// A URL of the file, resolved now: a literal as written, `{ env = "X" }` from `$X`.
    fn url_value(&self, u: &Spanned<UrlSource>, what: &str) -> Result<String, ConfigError> {
        match u.get_ref() {
            UrlSource::Literal(s) => Ok(s.clone()),
            UrlSource::Env { env } => match std::env::var(env) {
                Ok(v) if !v.is_empty() => Ok(v),
                _ => {
                    let (line, _) = line_col(&self.text, u.span().start);
                    Err(ConfigError::Usage(format!(
                        "{what} is read from ${env} ({}:{line}), which is not set",
                        self.path.display()
                    )))
                }
            },
        }
    }
}

/// Whether a connection string carries a password (either form libpq accepts).
fn has_password(url: &str) -> bool {
    match crate::db::parse(url) {
        Ok(c) => c.get_password().is_some(),
        // Not a connection string at all: the command that uses it will say so; refuse only
        // what visibly holds a secret.
        Err(_) => url.contains("password"),
    }
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rsplit('\n')
        .next()
        .map(|l| l.chars().count())
        .unwrap_or(0)
        + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Project, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        std::fs::write(&path, text).unwrap();
        Project::load(&path)
    }

    fn error(text: &str) -> String {
        let e = load(text).expect_err("should be refused").to_string();
        e.rsplit_once("schemaplan.toml").unwrap().1.to_string()
    }

    #[test]
    fn unknown_keys_are_errors_with_line_and_column() {
        let e = error("schema = \"db\"\n[plan]\nlock_timeout = 5\n");
        assert!(e.starts_with(":3:1: unknown field `lock_timeout`"), "{e}");
        let e = error("[env.prod]\nurl = { env = \"X\" }\nrequire_phases = true\n");
        assert!(e.starts_with(":3:1: unknown field `require_phases`"), "{e}");
    }

    #[test]
    fn wrong_types_are_errors_with_line() {
        let e = error("[apply]\nlock_retries = \"five\"\n");
        assert!(e.starts_with(":2:"), "{e}");
    }

    #[test]
    fn a_literal_password_is_refused_in_either_url_form() {
        let e = error("[env.prod]\nurl = \"postgres://app:s3cret@db/app\"\n");
        assert!(e.starts_with(":2:7: a password in the project file"), "{e}");
        assert!(!e.contains("s3cret"), "{e}");
        let e = error("[env.prod]\nurl = \"host=db password=s3cret dbname=app\"\n");
        assert!(e.contains("a password in the project file"), "{e}");
        let e = error("[shadow]\ndev_url = \"postgres://u:pw@localhost/x\"\n");
        assert!(e.starts_with(":2:11:"), "{e}");
        // Without a password a literal is fine.
        load("[env.dev]\nurl = \"postgres://app@localhost/app\"\n").unwrap();
    }

    #[test]
    fn unknown_phase_hazard_and_default_env_are_refused() {
        assert!(error("[apply]\nphase = \"both\"\n").contains("unknown phase"));
        assert!(error("[apply]\nallow_hazards = [\"dataloss\"]\n").contains("unknown hazard"));
        assert!(error("default_env = \"stage\"\n").contains("no [env.stage] table"));
    }

    #[test]
    fn a_bad_scope_pattern_is_an_error_at_its_line() {
        let e = error("[scope]\nexclude = [\n  \"schema:audit\",\n  \"tabel:public.x\",\n]\n");
        assert!(
            e.starts_with(":4:3: scope pattern \"tabel:public.x\": unknown kind"),
            "{e}"
        );
        let e = error("[env.prod.scope]\ninclude = [\"public\"]\n");
        assert!(
            e.starts_with(":2:12: scope pattern \"public\" has no kind"),
            "{e}"
        );
        load("[scope]\nexclude = [\"schema:audit\", \"table:public.legacy_*\"]\n").unwrap();
    }

    #[test]
    fn an_unknown_environment_lists_the_known_ones() {
        let p = load("[env.staging]\n[env.production]\n").unwrap();
        let e = p.env(Some("prod")).unwrap_err().to_string();
        assert!(e.contains("known: production, staging"), "{e}");
        assert!(p.env(None).unwrap().is_none());
    }

    #[test]
    fn found_upward_from_the_working_directory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE_NAME), "schema = \"db/schema\"\n").unwrap();
        let deep = dir.path().join("a/b");
        std::fs::create_dir_all(&deep).unwrap();
        let p = Project::find(None, &deep).unwrap().unwrap();
        assert_eq!(p.root, dir.path());
        assert_eq!(
            p.path_value("db/schema"),
            dir.path().join("db/schema").display().to_string()
        );
        let none = tempfile::tempdir().unwrap();
        // A temp dir has no project file above it (unless / has one).
        if !Path::new("/schemaplan.toml").exists() {
            assert!(Project::find(None, none.path()).unwrap().is_none());
        }
    }
}
