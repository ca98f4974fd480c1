//! `schemaplan lint`: read a plan directory's `plan.sql` and `inverse.sql` the way `apply` and
//! `rollback` do, with no database: syntax, header fields, and whether every step's header owns
//! up to what its statements do (locks that block traffic, rows deleted or overwritten).

use super::EXIT_OK;
use crate::plan::Direction;
use crate::planfile;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct LintArgs {
    /// The plan directory (plans/<id>).
    pub plan_dir: PathBuf,
}

pub fn run(a: LintArgs) -> anyhow::Result<i32> {
    let mut problems = Vec::new();
    for direction in [Direction::Forward, Direction::Inverse] {
        match planfile::read_dir(&a.plan_dir, direction) {
            Ok(file) => println!(
                "{}: {} steps, ok",
                file.path.display(),
                file.plan.steps.len()
            ),
            Err(e) => problems.push(e.to_string()),
        }
    }
    if problems.is_empty() {
        Ok(EXIT_OK)
    } else {
        anyhow::bail!("{}", problems.join("\nerror: "))
    }
}
