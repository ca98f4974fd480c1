//! Running the binary with its caches (the embedded shadow's kept databases and readings, the
//! parsed schema files) in a folder of the test's own, and what a user sees of such runs: for
//! the tests that compare warm runs with cold ones (`warm_reading`, `source_cache`).

use std::path::Path;
use std::process::{Command, Output};

/// Runs the binary in `cwd` with its caches in `cache` (no URL, environment, project file or
/// timings taken from the test's own environment).
pub fn run(cwd: &Path, cache: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_schemaplan"))
        .args(args)
        .current_dir(cwd)
        .env("SCHEMAPLAN_CACHE_DIR", cache)
        .env_remove("DATABASE_URL")
        .env_remove("SCHEMAPLAN_DEV_URL")
        .env_remove("SCHEMAPLAN_ENV")
        .env_remove("SCHEMAPLAN_CONFIG")
        .env_remove("SCHEMAPLAN_TIMINGS")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

/// What a user sees of a run: exit code and stdout (the report; stderr has notes only).
pub fn seen(o: &Output) -> (i32, String) {
    (
        super::exit_code(o),
        String::from_utf8_lossy(&o.stdout).to_string(),
    )
}

/// `drift` in text and JSON, as seen.
pub fn drift(cwd: &Path, cache: &Path, url: &str, extra: &[&str]) -> Vec<(i32, String)> {
    let text: Vec<&str> = [&["drift", "--db", url][..], extra].concat();
    let json: Vec<&str> = [&text[..], &["--format", "json"][..]].concat();
    vec![seen(&run(cwd, cache, &text)), seen(&run(cwd, cache, &json))]
}
