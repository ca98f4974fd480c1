//! Command line: argument parsing (clap), one module per command, exit codes.
//!
//! Exit codes: 0 success, 1 error, 2 differences found (`drift`, `plan --exit-code`).

mod apply;
mod drift;
mod dump;
mod lint;
mod plan;
mod status;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

pub const EXIT_OK: i32 = 0;
pub const EXIT_ERROR: i32 = 1;
pub const EXIT_DIFFERENCES: i32 = 2;

#[derive(Parser, Debug)]
#[command(
    name = "schemaplan",
    version,
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
    /// Check a plan directory without a database: syntax, and that every step's header says
    /// at least what its SQL does (locks that block traffic, rows lost).
    Lint(lint::LintArgs),
}

/// Parses arguments, runs the command, prints errors, returns the exit code.
pub fn run() -> i32 {
    // Usage errors exit 1 like every other error: 2 means "differences found", and a CI job
    // must be able to tell a typo from drift. `--help` and `--version` exit 0.
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { EXIT_ERROR } else { EXIT_OK };
        }
    };
    let result = match cli.command {
        Command::Plan(a) => plan::run(a),
        Command::Apply(a) => apply::run(a, crate::plan::Direction::Forward),
        Command::Rollback(a) => apply::run(a, crate::plan::Direction::Inverse),
        Command::Drift(a) => drift::run(a),
        Command::Dump(a) => dump::run(a),
        Command::Status(a) => status::run(a),
        Command::Lint(a) => lint::run(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", error_text(&e));
            EXIT_ERROR
        }
    }
}

/// The error and its causes, each cause added only when the message does not already say it
/// (most module errors include their source's text).
fn error_text(e: &anyhow::Error) -> String {
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
    };
    Ok(crate::shadow::Shadow::start(&opts)?)
}

/// Output format of `plan` and `drift`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    #[default]
    Text,
    Json,
}
