//! `schemaplan dump`: write a live database's schema as schema files.

use super::{start_shadow, ShadowArgs, EXIT_OK};
use crate::catalog;
use crate::db;
use crate::plan::PlanOptions;
use crate::workflow;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct DumpArgs {
    /// Database to read (default: $DATABASE_URL).
    #[arg(long, env = "DATABASE_URL", value_name = "URL", hide_env_values = true)]
    pub db: String,
    /// Folder to write (must be empty or absent).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    #[command(flatten)]
    pub shadow: ShadowArgs,
    #[command(flatten)]
    pub scope: super::ScopeArgs,
}

pub fn run(a: DumpArgs) -> anyhow::Result<i32> {
    let scope = a.scope.scope()?;
    let mut client = db::connect(&a.db)?;
    let full = catalog::read(&mut client)?;
    // Out-of-scope objects are not the project's: not written (and counted).
    let (mut schema, outside) = scope.split(&full);
    super::plan::report_unmodeled(&schema);
    let left_out = catalog::scope::object_count(&outside);
    if left_out > 0 {
        eprintln!(
            "note: {left_out} object(s) of the database are out of scope ({scope}) and not written"
        );
    }
    // Owners stay the database's business unless the user declares them: dumped files say
    // nothing about them (a plan keeps the live owner of every object it re-creates).
    schema.owners.clear();
    // What an empty database looks like (schema public ...), read from the shadow server.
    let shadow = start_shadow(&a.shadow)?;
    let empty = scope.inside(&workflow::empty_schema(&shadow)?);
    let files = workflow::dump_files(&empty, &schema, &PlanOptions::default(), &a.out)?;
    println!("Wrote {} file(s) under {}", files.len(), a.out.display());
    Ok(EXIT_OK)
}
