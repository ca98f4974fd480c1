//! The project file's values as command-line defaults, and the precedence that follows:
//! a flag > its environment variable (`DATABASE_URL`, `SCHEMAPLAN_DEV_URL`, ...) > the chosen
//! `[env.NAME]` > the file's own tables > the built-in default.
//!
//! The mechanism is clap's own: each value becomes the default of the option it names before
//! the arguments are parsed, so clap's `flag > env > default` order, its value parsers and its
//! error messages apply to values from the file too. What clap cannot express (an environment
//! that demands `--phase`, a `$DATABASE_URL` that overrides an environment's database) is
//! checked after parsing, in [`Injected::check`].

use super::{ApplyDefaults, ConfigError, Env, PlanDefaults, Project};
use clap::parser::ValueSource;
use clap::{ArgMatches, Command};
use std::ffi::OsString;
use std::path::PathBuf;

/// What was injected, for the checks after parsing.
#[derive(Debug, Default)]
pub struct Injected {
    /// The environment in use.
    pub env: Option<String>,
    /// That environment demands `--phase` on `apply` / `rollback`.
    require_phase: bool,
    /// That environment names a database.
    env_has_url: bool,
    /// URLs read from a variable that is not set (option id, message): an error unless the
    /// option is given by a flag or its own variable.
    unresolved: Vec<(&'static str, String)>,
}

/// `--config` and `--env` (and their variables), read before clap parses anything: they
/// decide the defaults clap is given.
pub fn prescan(args: &[OsString]) -> (Option<PathBuf>, Option<String>) {
    let mut config = std::env::var_os("SCHEMAPLAN_CONFIG")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    let mut env = std::env::var("SCHEMAPLAN_ENV")
        .ok()
        .filter(|v| !v.is_empty());
    let mut it = args.iter().skip(1).map(|a| a.to_string_lossy().to_string());
    while let Some(a) = it.next() {
        if a == "--" {
            break;
        }
        if let Some(v) = a.strip_prefix("--config=") {
            config = Some(PathBuf::from(v));
        } else if a == "--config" {
            config = it.next().map(PathBuf::from);
        } else if let Some(v) = a.strip_prefix("--env=") {
            env = Some(v.to_string());
        } else if a == "--env" {
            env = it.next();
        }
    }
    (config, env)
}

/// The defaults of every subcommand from `project` and the environment `requested` (or the
/// file's `default_env`).
pub fn inject(
    mut cmd: Command,
    project: &Project,
    requested: Option<&str>,
) -> Result<(Command, Injected), ConfigError> {
    let env = project.env(requested)?;
    let mut injected = Injected::default();
    let none = Env::default();
    let e: &Env = match &env {
        Some((name, e)) => {
            injected.env = Some(name.clone());
            injected.require_phase = e.require_phase;
            injected.env_has_url = e.url.is_some();
            e
        }
        None => &none,
    };
    let env_label = |what: &str| match &injected.env {
        Some(n) => format!("[env.{n}] {what}"),
        None => what.to_string(),
    };
    let f = &project.file;

    // Values shared by several commands.
    let mut url = |id: &'static str, u: Option<(&toml::Spanned<super::UrlSource>, String)>| {
        let (u, what) = u?;
        match project.url_value(u, &what) {
            Ok(v) => Some(v),
            Err(e) => {
                injected.unresolved.push((id, e.to_string()));
                None
            }
        }
    };
    let db = url("db", e.url.as_ref().map(|u| (u, env_label("url"))));
    let dev_url = url(
        "dev_url",
        match (&e.dev_url, &f.shadow.dev_url) {
            (Some(u), _) => Some((u, env_label("dev_url"))),
            (None, Some(u)) => Some((u, "[shadow] dev_url".to_string())),
            (None, None) => None,
        },
    );
    let schema = f.schema.as_ref().map(|s| project.path_value(s.get_ref()));
    let plans = f.plans.as_ref().map(|s| project.path_value(s.get_ref()));
    let pg_bindir = f
        .shadow
        .pg_bindir
        .as_ref()
        .map(|s| project.path_value(s.get_ref()));
    let plan = merged_plan(&f.plan, &e.plan);
    // `[env.NAME.scope]` replaces each list it names; a flag replaces the list again.
    let list = |v: &Option<Vec<toml::Spanned<String>>>| {
        v.as_ref()
            .map(|v| v.iter().map(|p| p.get_ref().clone()).collect::<Vec<_>>())
    };
    let include = list(&e.scope.include).or_else(|| list(&f.scope.include));
    let exclude = list(&e.scope.exclude).or_else(|| list(&f.scope.exclude));
    let apply = merged_apply(&f.apply, &e.apply, e.hazards_by_flag_only);

    for sub in ["plan", "apply", "rollback", "drift", "dump", "status"] {
        let mut values: Vec<(&str, String)> = Vec::new();
        let mut add = |id: &'static str, v: &Option<String>| {
            if let Some(v) = v {
                values.push((id, v.clone()));
            }
        };
        add("db", &db);
        match sub {
            "plan" | "drift" | "dump" => {
                add("dev_url", &dev_url);
                add("pg_bindir", &pg_bindir);
            }
            _ => {}
        }
        match sub {
            "plan" | "drift" => add("schema", &schema),
            _ => {}
        }
        match sub {
            "plan" | "status" => add("plans", &plans),
            _ => {}
        }
        if sub == "plan" {
            add("lock_timeout_ms", &plan.lock_timeout_ms);
            add("small_table", &plan.small_table);
        }
        if sub == "apply" || sub == "rollback" {
            if !e.require_phase {
                add("phase", &apply.phase);
            }
            add("allow_hazards", &apply.allow_hazards);
            add("lock_wait", &apply.lock_wait);
            add("lock_retries", &apply.lock_retries);
            add("lock_retry_max_delay_ms", &apply.lock_retry_max_delay_ms);
            add("batch_rows", &apply.batch_rows);
            add("batch_target_ms", &apply.batch_target_ms);
            add("batch_pause_ms", &apply.batch_pause_ms);
        }
        let mut lists: Vec<(&str, Vec<String>)> = Vec::new();
        if matches!(sub, "plan" | "drift" | "dump" | "apply" | "rollback") {
            // An empty list in the file is a value too (nothing included = everything).
            for (id, v) in [("include", &include), ("exclude", &exclude)] {
                if let Some(v) = v {
                    lists.push((id, v.clone()));
                }
            }
        }
        cmd = cmd.mut_subcommand(sub, |mut s| {
            for (id, v) in lists {
                if s.get_arguments().any(|a| a.get_id() == id) {
                    let v: Vec<&'static str> = v
                        .into_iter()
                        .map(|p| &*Box::leak(p.into_boxed_str()))
                        .collect();
                    s = s.mut_arg(id, |a| a.default_values(v));
                }
            }
            for (id, v) in values {
                if s.get_arguments().any(|a| a.get_id() == id) {
                    // clap keeps defaults as `'static`; a few bytes once per run.
                    let v: &'static str = Box::leak(v.into_boxed_str());
                    let secret = matches!(id, "db" | "dev_url");
                    s = s.mut_arg(id, |a| {
                        // A value from the file satisfies "required" in every form
                        // (`status --db` is required unless --all-envs).
                        a.default_value(v)
                            .required(false)
                            .required_unless_present(clap::builder::Resettable::<clap::Id>::Reset)
                            .hide_default_value(secret)
                    });
                }
            }
            s
        });
    }
    Ok((cmd, injected))
}

/// Every value as clap reads it on the command line.
#[derive(Default)]
struct Values {
    lock_timeout_ms: Option<String>,
    small_table: Option<String>,
    phase: Option<String>,
    allow_hazards: Option<String>,
    lock_wait: Option<String>,
    lock_retries: Option<String>,
    lock_retry_max_delay_ms: Option<String>,
    batch_rows: Option<String>,
    batch_target_ms: Option<String>,
    batch_pause_ms: Option<String>,
}

/// `[env.NAME.plan]` over `[plan]`.
fn merged_plan(file: &PlanDefaults, env: &PlanDefaults) -> Values {
    Values {
        lock_timeout_ms: pick(&env.lock_timeout_ms, &file.lock_timeout_ms),
        small_table: pick(&env.small_table, &file.small_table),
        ..Values::default()
    }
}

/// `[env.NAME.apply]` over `[apply]`; with `hazards_by_flag_only` no hazard is allowed by the
/// file at all (not even by the environment's own table).
fn merged_apply(file: &ApplyDefaults, env: &ApplyDefaults, hazards_by_flag_only: bool) -> Values {
    let hazards = if hazards_by_flag_only {
        None
    } else {
        env.allow_hazards
            .as_ref()
            .or(file.allow_hazards.as_ref())
            .map(|h| h.get_ref().join(","))
            .filter(|h| !h.is_empty())
    };
    Values {
        phase: pick(&env.phase, &file.phase),
        allow_hazards: hazards,
        lock_wait: pick(&env.lock_wait, &file.lock_wait),
        lock_retries: pick(&env.lock_retries, &file.lock_retries),
        lock_retry_max_delay_ms: pick(&env.lock_retry_max_delay_ms, &file.lock_retry_max_delay_ms),
        batch_rows: pick(&env.batch_rows, &file.batch_rows),
        batch_target_ms: pick(&env.batch_target_ms, &file.batch_target_ms),
        batch_pause_ms: pick(&env.batch_pause_ms, &file.batch_pause_ms),
        ..Values::default()
    }
}

fn pick<T: ToString>(
    first: &Option<toml::Spanned<T>>,
    then: &Option<toml::Spanned<T>>,
) -> Option<String> {
    first
        .as_ref()
        .or(then.as_ref())
        .map(|v| v.get_ref().to_string())
}

impl Injected {
    /// Why an option the file names has no value (a variable that is not set).
    pub fn unresolved(&self) -> impl Iterator<Item = &str> {
        self.unresolved.iter().map(|(_, m)| m.as_str())
    }

    /// Checks after parsing; returns warnings to print.
    pub fn check(&self, matches: &ArgMatches) -> Result<Vec<String>, ConfigError> {
        let mut warnings = Vec::new();
        let Some((sub, m)) = matches.subcommand() else {
            return Ok(warnings);
        };
        let env = self.env.as_deref().unwrap_or_default();
        for (id, message) in &self.unresolved {
            let given = m.try_get_raw(id).is_ok()
                && matches!(
                    m.value_source(id),
                    Some(ValueSource::CommandLine | ValueSource::EnvVariable)
                );
            if m.try_get_raw(id).is_ok() && !given {
                return Err(ConfigError::Usage(message.clone()));
            }
        }
        if self.require_phase
            && matches!(sub, "apply" | "rollback")
            && m.value_source("phase") != Some(ValueSource::CommandLine)
        {
            return Err(ConfigError::Usage(format!(
                "environment {env} requires --phase on {sub} (expand, contract or all): say \
                 which part of the plan runs"
            )));
        }
        if self.env_has_url
            && m.try_get_raw("db").is_ok()
            && m.value_source("db") == Some(ValueSource::EnvVariable)
        {
            warnings.push(format!(
                "the database is $DATABASE_URL, not [env.{env}] url: the environment variable \
                 comes first (unset it, or pass --db)"
            ));
        }
        Ok(warnings)
    }
}
