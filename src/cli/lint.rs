//! `schemaplan lint`: read a plan directory's `plan.sql` and `inverse.sql` the way `apply` and
//! `rollback` do, with no database: syntax, header fields, and whether every step's header owns
//! up to what its statements do (locks that block traffic, rows deleted or overwritten).
//!
//! The findings are the result: lines for people, or with `--format json` one document on
//! stdout (docs/schemas/lint.json, docs/json.md); either way the exit code is 1 when a file
//! has a problem.

use super::{TextOrJson, EXIT_ERROR, EXIT_OK};
use crate::plan::Direction;
use crate::planfile::{self, PlanFileError};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct LintArgs {
    /// The plan directory (plans/<id>).
    pub plan_dir: PathBuf,
    /// Output: lines for people, or one JSON document on stdout (docs/json.md).
    #[arg(long, value_enum, default_value_t = TextOrJson::Text)]
    pub format: TextOrJson,
}

/// What lint found in one file of the plan directory.
struct FileLint {
    direction: Direction,
    path: PathBuf,
    /// Its steps, when it could be read.
    steps: Option<usize>,
    /// Why it could not be read (the parser stops at the first problem).
    problem: Option<PlanFileError>,
}

pub fn run(a: LintArgs) -> anyhow::Result<i32> {
    let files: Vec<FileLint> = [Direction::Forward, Direction::Inverse]
        .into_iter()
        .map(
            |direction| match planfile::read_dir(&a.plan_dir, direction) {
                Ok(file) => FileLint {
                    direction,
                    path: file.path,
                    steps: Some(file.plan.steps.len()),
                    problem: None,
                },
                Err(e) => FileLint {
                    direction,
                    path: a.plan_dir.join(planfile::file_name(direction)),
                    steps: None,
                    problem: Some(e),
                },
            },
        )
        .collect();
    let ok = files.iter().all(|f| f.problem.is_none());
    if a.format == TextOrJson::Json {
        println!("{}", json(&a, &files, ok));
        return Ok(if ok { EXIT_OK } else { EXIT_ERROR });
    }
    let mut problems = Vec::new();
    for f in &files {
        match (&f.problem, f.steps) {
            (None, Some(n)) => println!("{}: {n} steps, ok", f.path.display()),
            (Some(e), _) => problems.push(e.to_string()),
            (None, None) => {}
        }
    }
    if problems.is_empty() {
        Ok(EXIT_OK)
    } else {
        anyhow::bail!("{}", problems.join("\nerror: "))
    }
}

/// `{"plan_dir", "ok", "files": [{"file", "direction", "ok", "steps", "problem"}]}`; a
/// problem is `{"message", "line"}` (`line` where the parser points at one).
fn json(a: &LintArgs, files: &[FileLint], ok: bool) -> serde_json::Value {
    let files: Vec<serde_json::Value> = files
        .iter()
        .map(|f| {
            let problem = f.problem.as_ref().map(|e| {
                let line = match e {
                    PlanFileError::Syntax { line, .. } => Some(*line),
                    _ => None,
                };
                serde_json::json!({ "message": e.to_string(), "line": line })
            });
            serde_json::json!({
                "file": f.path.display().to_string(),
                "direction": f.direction.as_str(),
                "ok": f.problem.is_none(),
                "steps": f.steps,
                "problem": problem,
            })
        })
        .collect();
    serde_json::json!({
        "plan_dir": a.plan_dir.display().to_string(),
        "ok": ok,
        "files": files,
    })
}
