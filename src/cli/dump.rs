//! `schemaplan dump`: write a live database's schema as schema files.

use super::{start_shadow, ShadowArgs, TextOrJson, EXIT_OK};
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
    /// Output: a line for people, or JSON: the files and the objects by unit, each with its
    /// file and statements (docs/json.md).
    #[arg(long, value_enum, default_value_t = TextOrJson::Text)]
    pub format: TextOrJson,
}

pub fn run(a: DumpArgs) -> anyhow::Result<i32> {
    let scope = a.scope.scope()?;
    workflow::check_dump_out(&a.out)?;
    let mut client = db::connect(&a.db)?;
    let full = crate::timings::stage("catalog reads", || catalog::read(&mut client))?;
    // Out-of-scope objects are not the project's: not written (and counted).
    let (mut schema, outside) = scope.split(&full);
    super::plan::report_unmodeled(&schema);
    let left_out = catalog::scope::object_count(&outside);
    if left_out > 0 {
        eprintln!(
            "note: {left_out} object(s) of the database are out of scope ({scope}) and not written"
        );
    }
    let schema_unmodeled: Vec<String> = schema
        .unmodeled
        .iter()
        .map(|u| format!("{} {}", u.kind, u.identity))
        .collect();
    // Owners stay the database's business unless the user declares them: dumped files say
    // nothing about them (a plan keeps the live owner of every object it re-creates).
    schema.owners.clear();
    // What an empty database looks like (schema public ...), read from the shadow server.
    let shadow = start_shadow(&a.shadow)?;
    let empty = scope.inside(&workflow::empty_schema(&shadow)?);
    let dump = crate::timings::stage("write", || {
        workflow::dump(&empty, &schema, &PlanOptions::default(), &a.out)
    })?;
    match a.format {
        TextOrJson::Json => {
            let objects: Vec<serde_json::Value> = dump
                .objects
                .iter()
                .map(|o| {
                    serde_json::json!({
                        "kind": o.kind,
                        "identity": o.identity,
                        "file": o.file.display().to_string(),
                        "sql": o.sql,
                    })
                })
                .collect();
            let files: Vec<String> = dump.files.iter().map(|f| f.display().to_string()).collect();
            println!(
                "{}",
                serde_json::json!({
                    "out": a.out.display().to_string(),
                    "files": files,
                    "objects": objects,
                    "unmodeled": schema_unmodeled,
                })
            );
        }
        TextOrJson::Text => println!(
            "Wrote {} file(s) under {}",
            dump.files.len(),
            a.out.display()
        ),
    }
    Ok(EXIT_OK)
}
