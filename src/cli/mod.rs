//! Command line: argument parsing (clap), one module per command, exit codes; `style` owns
//! colour and verbosity.
//!
//! Exit codes: 0 success, 1 error, 2 differences found (`drift`, `plan --exit-code`).
//! With `--format json` a command's result is JSON on stdout (JSON lines of events for
//! `apply` / `rollback`) and an error is one JSON object on stderr; the documents are
//! described by the JSON Schemas in docs/schemas/ (docs/json.md).

mod apply;
mod drift;
mod dump;
mod lint;
mod plan;
mod status;
pub mod style;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

pub const EXIT_OK: i32 = 0;
pub const EXIT_ERROR: i32 = 1;
pub const EXIT_DIFFERENCES: i32 = 2;

#[derive(Parser, Debug)]
#[command(
    name = "schemaplan",
    version,
    // Help is wrapped to the terminal (clap's wrap_help: its width, else $COLUMNS), and never
    // wider than 100 columns, which stays readable on a wide terminal.
    max_term_width = 100,
    about = "Desired-state schema tool for PostgreSQL: safe, ordered, reviewable plans",
    long_about = "Keep the schema you want in schema/*.sql as CREATE statements. `schemaplan plan` \
                  diffs it against a live database and writes a reviewed, safe plan (and its \
                  inverse); `schemaplan apply` runs it; `schemaplan drift` fails CI when a \
                  database no longer matches schema/.\n\nExit codes: 0 success, 1 error, \
                  2 differences found (drift, plan --exit-code)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Project file (default: schemaplan.toml in the working directory or the nearest folder
    /// above it). Its values are option defaults: a flag or its environment variable wins.
    #[arg(long, global = true, env = "SCHEMAPLAN_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Environment of the project file to use (its [env.NAME] table: database URL, shadow,
    /// option overrides).
    #[arg(
        long = "env",
        global = true,
        env = "SCHEMAPLAN_ENV",
        value_name = "NAME"
    )]
    pub environment: Option<String>,
    /// Less output: no progress and no notes on stderr (results, warnings and errors remain).
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// More output: `-v` prints how long each stage took (source, shadow start, catalog reads,
    /// shadow load, diff, plan and proof, write), with CPU time and peak RSS, on stderr; `-vv`
    /// also the stages inside them.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// When to colour output: auto (on a terminal, unless NO_COLOR is set; CLICOLOR_FORCE
    /// forces it), always, never. JSON output is never coloured.
    #[arg(long, global = true, value_enum, default_value_t = style::ColorWhen::Auto, value_name = "WHEN")]
    pub color: style::ColorWhen,
}

/// Options shared by commands that need the shadow database.
#[derive(clap::Args, Debug, Clone)]
pub struct ShadowArgs {
    /// Server where schemaplan may create and drop scratch databases for the desired schema
    /// (default: a private throw-away cluster started from the local PostgreSQL binaries).
    #[arg(
        long,
        env = "SCHEMAPLAN_DEV_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    pub dev_url: Option<String>,
    /// Directory with the PostgreSQL server binaries for the embedded shadow cluster.
    #[arg(long, env = "SCHEMAPLAN_PG_BINDIR", value_name = "DIR")]
    pub pg_bindir: Option<PathBuf>,
    /// Load the schema files afresh and keep nothing: without it, the embedded shadow keeps
    /// the loaded desired schema and reuses it while files, server and settings are unchanged.
    #[arg(long)]
    pub no_cache: bool,
}

/// Which objects are the project's (`catalog::scope`, docs/configuration.md "Scope"). Given
/// on the command line, a list replaces the project file's (`--exclude ''` empties it).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ScopeArgs {
    /// Only objects matching KIND:GLOB are in scope (repeatable; none: everything), e.g.
    /// `schema:app`, `table:public.orders_*`. Kinds: schema, extension, collation, type,
    /// sequence, table, foreign_table, view, function, publication, event_trigger,
    /// foreign_data_wrapper, server, cast, text_search, operator, operator_class,
    /// operator_family.
    #[arg(long = "include", value_name = "KIND:GLOB")]
    pub include: Vec<String>,
    /// Objects matching KIND:GLOB are out of scope (repeatable), e.g. `schema:audit`,
    /// `table:public.legacy_*`: invisible to plan, drift and dump on both sides.
    #[arg(long = "exclude", value_name = "KIND:GLOB")]
    pub exclude: Vec<String>,
}

impl ScopeArgs {
    /// The scope; a bad pattern is an error naming it.
    pub fn scope(&self) -> anyhow::Result<crate::catalog::Scope> {
        crate::catalog::Scope::new(&self.include, &self.exclude).map_err(anyhow::Error::msg)
    }
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Diff schema files against a database and write a proven plan and its inverse.
    Plan(plan::PlanArgs),
    /// Run a reviewed plan's plan.sql against a database.
    Apply(apply::ApplyArgs),
    /// Run a plan's inverse.sql (undo an applied plan).
    Rollback(apply::ApplyArgs),
    /// Compare a live database with the schema files: exit 0 in sync, 2 drifted, 1 error.
    Drift(drift::DriftArgs),
    /// Write a live database's schema as schema files.
    Dump(dump::DumpArgs),
    /// List plans and whether each is applied, failed, running or pending on a database.
    Status(status::StatusArgs),
    /// Write a commented starter schemaplan.toml and the schema/ and plans/ folders here.
    Init,
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) to stdout.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff) to stdout: `schemaplan man > schemaplan.1`.
    Man,
    /// Check a plan directory without a database: syntax, and that every step's header says
    /// at least what its SQL does (locks that block traffic, rows lost).
    Lint(lint::LintArgs),
}

/// Parses arguments, runs the command, prints errors, returns the exit code.
pub fn run() -> i32 {
    // Usage errors exit 1 like every other error: 2 means "differences found", and a CI job
    // must be able to tell a typo from drift. `--help` and `--version` exit 0.
    let cli = match parse() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    style::set_verbosity(cli.quiet, cli.verbose);
    let json_errors = cli.command.json_output();
    let result = match cli.command {
        Command::Plan(a) => plan::run(a),
        Command::Apply(a) => apply::run(a, crate::plan::Direction::Forward),
        Command::Rollback(a) => apply::run(a, crate::plan::Direction::Inverse),
        Command::Drift(a) => drift::run(a),
        Command::Dump(a) => dump::run(a),
        Command::Status(a) => status::run(a, cli.config.as_deref()),
        Command::Lint(a) => lint::run(a),
        Command::Init => init(),
        Command::Completions { shell } => completions(shell),
        Command::Man => man(),
    };
    crate::timings::print_if_asked();
    match result {
        Ok(code) => code,
        Err(e) if json_errors => {
            // One JSON object on stderr, so a pipeline reading --format json output can tell
            // an error from a result without parsing prose.
            let causes: Vec<String> = e.chain().skip(1).map(|c| c.to_string()).collect();
            eprintln!(
                "{}",
                serde_json::json!({
                    "error": { "kind": "error", "message": error_text(&e), "causes": causes,
                               "exit_code": EXIT_ERROR }
                })
            );
            EXIT_ERROR
        }
        Err(e) => {
            style::error(&error_text(&e));
            EXIT_ERROR
        }
    }
}

/// Reads the project file (if any) into option defaults, then the arguments; on failure
/// prints the message and gives the exit code (0 for `--help` / `--version`).
fn parse() -> Result<Cli, i32> {
    use clap::{CommandFactory, FromArgMatches};
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    // Before the arguments are parsed the command's `format` is not known: when they ask for
    // JSON output, errors found while reading them are the one JSON object on stderr too.
    let json = prescan_json(&args);
    let fail = |e: &dyn std::fmt::Display| {
        print_error(json, ErrorKind::Error, &e.to_string(), &[]);
        EXIT_ERROR
    };
    let color = style::set_color(style::prescan_color(&args));
    let (config, env) = crate::config::prescan(&args);
    let cwd = std::env::current_dir().map_err(|e| fail(&e))?;
    let project = crate::config::Project::find(config.as_deref(), &cwd).map_err(|e| fail(&e))?;
    let mut cmd = Cli::command().color(color);
    let mut injected = crate::config::Injected::default();
    match (&project, &env) {
        (Some(p), _) => {
            (cmd, injected) = crate::config::inject(cmd, p, env.as_deref()).map_err(|e| fail(&e))?
        }
        (None, Some(name)) => {
            return Err(fail(&format!(
                "--env {name}: no {} in {} or above it (`schemaplan init` writes one, \
                 --config names one)",
                crate::config::FILE_NAME,
                cwd.display()
            )))
        }
        (None, None) => {}
    }
    let matches = cmd.try_get_matches_from_mut(&args).map_err(|e| {
        let notes = if e.kind() == clap::error::ErrorKind::MissingRequiredArgument {
            let mut notes: Vec<String> = injected.unresolved().map(str::to_string).collect();
            notes.extend(unset_env_notes(&cmd, &e));
            notes
        } else {
            Vec::new()
        };
        usage_error(json, &e, &notes)
    })?;
    for w in injected.check(&matches).map_err(|e| fail(&e))? {
        style::warning(&w);
    }
    Cli::from_arg_matches(&matches).map_err(|e| usage_error(json, &e, &[]))
}

/// Prints clap's error (`--help` and `--version` are "errors" printed on stdout, exit 0) and
/// gives the exit code. A usage error under `--format json` is the JSON error object, of kind
/// `usage`, with clap's message (without its `error: ` prefix, and never coloured).
fn usage_error(json: bool, e: &clap::Error, notes: &[String]) -> i32 {
    if !e.use_stderr() {
        let _ = e.print();
        return EXIT_OK;
    }
    if json {
        // `render` gives styled text; its Display is the plain text.
        let text = e.render().to_string();
        let message = text.trim().strip_prefix("error: ").unwrap_or(text.trim());
        print_error(true, ErrorKind::Usage, message, notes);
    } else {
        let _ = e.print();
        for note in notes {
            eprintln!("note: {note}");
        }
    }
    EXIT_ERROR
}

/// For each missing option that could have come from an environment variable (`--db` from
/// `DATABASE_URL`), a note saying so: clap names only the option, and a CI job whose variable
/// did not reach the step would otherwise not learn which one to set.
fn unset_env_notes(cmd: &clap::Command, e: &clap::Error) -> Vec<String> {
    use clap::error::{ContextKind, ContextValue};
    let Some(ContextValue::Strings(missing)) = e.get(ContextKind::InvalidArg) else {
        return Vec::new();
    };
    missing
        .iter()
        .filter_map(|m| {
            let long = m.split_whitespace().next()?.strip_prefix("--")?;
            let arg = std::iter::once(cmd)
                .chain(cmd.get_subcommands())
                .flat_map(|c| c.get_arguments())
                .find(|a| a.get_long() == Some(long) && a.get_env().is_some())?;
            let env = arg.get_env()?.to_string_lossy();
            Some(format!(
                "--{long} can also be given as ${env}, which is not set"
            ))
        })
        .collect()
}

/// What kind of failure a JSON error object reports (its `kind`, docs/schemas/error.json).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ErrorKind {
    /// The arguments: an unknown option, a missing or bad value (clap's message).
    Usage,
    /// Anything else: the command failed.
    Error,
}

/// An error on stderr: `error: ...` for people, or with `json` the one JSON object
/// `{"error": {"kind", "message", "causes", "exit_code"}}` (docs/schemas/error.json); `notes`
/// are added to the message as `note: ` lines.
fn print_error(json: bool, kind: ErrorKind, message: &str, notes: &[String]) {
    if !json {
        style::error(message);
        return;
    }
    let mut message = message.to_string();
    for note in notes {
        message.push_str(&format!("\nnote: {note}"));
    }
    let kind = match kind {
        ErrorKind::Usage => "usage",
        ErrorKind::Error => "error",
    };
    eprintln!(
        "{}",
        serde_json::json!({
            "error": { "kind": kind, "message": message, "causes": [], "exit_code": EXIT_ERROR }
        })
    );
}

/// Whether the raw arguments ask for JSON output (`--format json` or `--format=json`, the
/// last `--format` winning as in clap), read before parsing so that a usage error can be
/// reported in the format asked for. A bad `--format` value itself is text: the arguments
/// did not ask for JSON.
fn prescan_json(args: &[std::ffi::OsString]) -> bool {
    let mut json = false;
    let mut it = args.iter().skip(1).map(|a| a.to_string_lossy().to_string());
    while let Some(a) = it.next() {
        if a == "--" {
            break;
        }
        let value = match a.strip_prefix("--format=") {
            Some(v) => Some(v.to_string()),
            None if a == "--format" => it.next(),
            None => None,
        };
        if let Some(v) = value {
            json = v == "json";
        }
    }
    json
}

impl Command {
    /// Whether the command was asked for JSON output (then errors are JSON too).
    fn json_output(&self) -> bool {
        match self {
            Command::Plan(a) => a.format == Format::Json,
            Command::Drift(a) => a.format == Format::Json,
            Command::Status(a) => a.format == status::StatusFormat::Json,
            Command::Apply(a) | Command::Rollback(a) => a.format == TextOrJson::Json,
            Command::Dump(a) => a.format == TextOrJson::Json,
            Command::Lint(a) => a.format == TextOrJson::Json,
            Command::Init | Command::Completions { .. } | Command::Man => false,
        }
    }
}

/// `schemaplan completions SHELL`.
fn completions(shell: clap_complete::Shell) -> anyhow::Result<i32> {
    use clap::CommandFactory;
    let mut cmd = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "schemaplan", &mut out);
    write_stdout(&out)
}

/// `schemaplan man`.
fn man() -> anyhow::Result<i32> {
    use clap::CommandFactory;
    let cmd = Cli::command();
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd).render(&mut out)?;
    write_stdout(&out)
}

/// Writes generated text to stdout; a reader that stops early (`| head`) is not an error.
fn write_stdout(bytes: &[u8]) -> anyhow::Result<i32> {
    use std::io::Write;
    match std::io::stdout().write_all(bytes) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(EXIT_OK),
    }
}

/// `schemaplan init`.
fn init() -> anyhow::Result<i32> {
    let dir = std::env::current_dir()?;
    for p in crate::config::init(&dir)? {
        let shown = p.strip_prefix(&dir).unwrap_or(&p);
        println!("created {}", shown.display());
    }
    Ok(EXIT_OK)
}

/// The error and its causes, each cause added only when the message does not already say it
/// (most module errors include their source's text).
pub(crate) fn error_text(e: &anyhow::Error) -> String {
    let mut text = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !text.contains(&c) {
            text.push_str(": ");
            text.push_str(&c);
        }
    }
    text
}

/// Starts the shadow (embedded cluster or `--dev-url`).
pub(crate) fn start_shadow(a: &ShadowArgs) -> anyhow::Result<crate::shadow::Shadow> {
    let opts = crate::shadow::ShadowOptions {
        dev_url: a.dev_url.clone(),
        bindir: a.pg_bindir.clone(),
        cache_dir: None,
        no_cache: a.no_cache,
    };
    Ok(crate::shadow::Shadow::start(&opts)?)
}

/// Where `plan` and `drift` keep the parses of unchanged schema files (`source::cache`): beside
/// the embedded shadow's cluster, `<cache>/sources`. Like the warm shadow, only with the
/// embedded shadow and without `--no-cache`; `None` also when there is no cache folder.
pub(crate) fn source_cache(a: &ShadowArgs) -> Option<std::path::PathBuf> {
    cache_folder(a, "sources")
}

/// Where `plan` keeps the live schema's fingerprints between runs (`catalog::fingerprints`):
/// `<cache>/fingerprints`, under the same conditions as [`source_cache`].
pub(crate) fn fingerprint_cache(a: &ShadowArgs) -> Option<std::path::PathBuf> {
    cache_folder(a, "fingerprints")
}

/// The folder `name` of the cache root, without `--no-cache` or `--dev-url`.
fn cache_folder(a: &ShadowArgs, name: &str) -> Option<std::path::PathBuf> {
    if a.no_cache || a.dev_url.is_some() {
        return None;
    }
    let opts = crate::shadow::ShadowOptions {
        dev_url: None,
        bindir: a.pg_bindir.clone(),
        cache_dir: None,
        no_cache: false,
    };
    crate::shadow::cache_root(&opts)
        .ok()
        .map(|root| root.join(name))
}

/// Output format of `plan` and `drift`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    #[default]
    Text,
    Json,
    /// A review summary to post as a pull-request comment.
    Markdown,
}

/// Output format of `apply`, `rollback`, `dump` and `lint`: lines for people, or JSON
/// (docs/json.md).
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TextOrJson {
    #[default]
    Text,
    Json,
}
