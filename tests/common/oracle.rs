//! What the fixture suite and the property test share to judge a migrated database: a copy of
//! the binary under test (a concurrent `cargo build` cannot swap it mid-run) and the pg_dump
//! oracle, `pg_dump --schema-only` normalized by the corpus's own `converge.py`, with a readable
//! list of the statements only one side has.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A copy of the `schemaplan` binary built for these tests.
pub struct Bin {
    path: PathBuf,
    _dir: tempfile::TempDir,
}

impl Bin {
    pub fn new() -> Bin {
        let dir = tempfile::tempdir().expect("temp dir for the binary");
        let path = dir.path().join("schemaplan");
        std::fs::copy(env!("CARGO_BIN_EXE_schemaplan"), &path).expect("copy the binary");
        Bin { path, _dir: dir }
    }

    /// Runs `schemaplan args...` in `cwd` (so a stray default `plans/` lands in the case's temp
    /// dir), with no connection settings from the environment and no standard input.
    pub fn run(&self, cwd: &Path, args: &[&str]) -> Output {
        Command::new(&self.path)
            .args(args)
            .current_dir(cwd)
            .env_remove("DATABASE_URL")
            .env_remove("SCHEMAPLAN_DEV_URL")
            .stdin(Stdio::null())
            .output()
            .expect("run schemaplan")
    }
}

/// `pg_dump --schema-only --no-owner --no-privileges`, normalized by converge.py's
/// `normalize_dump` (the same oracle the corpus uses: column order, statement order, comments
/// and `SET` lines do not count). Schema `schemaplan` (where older versions kept the apply
/// bookkeeping) is not part of the user's schema.
pub fn normalized_dump(url: &str) -> Result<Vec<String>, String> {
    let out = Command::new("pg_dump")
        .args([
            "--schema-only",
            "--no-owner",
            "--no-privileges",
            "--exclude-schema=schemaplan",
            "-d",
            url,
        ])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("pg_dump: {e}"))?;
    if !out.status.success() {
        return Err(format!("pg_dump: {}", super::output_text(&out).trim()));
    }
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    let script = "import sys, json; sys.path.insert(0, sys.argv[1]); import converge; \
                  json.dump(converge.normalize_dump(sys.stdin.read()), sys.stdout)";
    let mut child = Command::new("python3")
        .args(["-c", script])
        .arg(corpus)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("python3: {e}"))?;
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin
            .write_all(&out.stdout)
            .map_err(|e| format!("python3 stdin: {e}"))?;
    }
    let res = child
        .wait_with_output()
        .map_err(|e| format!("python3: {e}"))?;
    if !res.status.success() {
        return Err(format!(
            "normalize_dump: {}",
            super::output_text(&res).trim()
        ));
    }
    let stmts: Vec<String> =
        serde_json::from_slice(&res.stdout).map_err(|e| format!("normalize_dump output: {e}"))?;
    let mut stmts: Vec<String> = stmts.iter().map(|s| statistics_columns_sorted(s)).collect();
    stmts.sort();
    Ok(stmts)
}

/// `CREATE STATISTICS s (kinds) ON b, a FROM t` with its plain columns sorted: PostgreSQL
/// keeps them as a set (`stxkeys`) and prints them in column order, which (like the table's own
/// column order, which the normalization ignores) a column rebuilt at the end of its table
/// changes. Expression statistics are left as they are.
fn statistics_columns_sorted(stmt: &str) -> String {
    let parts = stmt
        .strip_prefix("CREATE STATISTICS ")
        .and_then(|rest| rest.split_once(" ON "))
        .and_then(|(head, rest)| {
            rest.split_once(" FROM ")
                .map(|(cols, tail)| (head, cols, tail))
        });
    let Some((head, cols, tail)) = parts else {
        return stmt.to_string();
    };
    if cols.contains('(') {
        return stmt.to_string();
    }
    let mut list: Vec<&str> = cols.split(", ").collect();
    list.sort_unstable();
    format!(
        "CREATE STATISTICS {head} ON {} FROM {tail}",
        list.join(", ")
    )
}

/// `None` when the two normalized dumps are equal; else the statements only one side has (as
/// many times as it has more of them), 12 at most; `got` is the migrated database.
pub fn dump_differences(got: &[String], want: &[String], what: &str) -> Option<String> {
    if got == want {
        return None;
    }
    fn count(v: &[String]) -> BTreeMap<&str, i64> {
        let mut m: BTreeMap<&str, i64> = BTreeMap::new();
        for s in v {
            *m.entry(s.as_str()).or_default() += 1;
        }
        m
    }
    let (a, b) = (count(got), count(want));
    let mut lines = Vec::new();
    for (s, n) in &a {
        if b.get(s).copied().unwrap_or(0) < *n {
            lines.push(format!("  only in migrated: {}", one_line(s)));
        }
    }
    for (s, n) in &b {
        if a.get(s).copied().unwrap_or(0) < *n {
            lines.push(format!("  only in {what}: {}", one_line(s)));
        }
    }
    lines.truncate(12);
    Some(format!(
        "pg_dump differs from {what}:\n{}",
        lines.join("\n")
    ))
}

/// A statement on one line, cut at 200 characters.
pub fn one_line(s: &str) -> String {
    let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if s.chars().count() > 200 {
        format!("{}...", s.chars().take(200).collect::<String>())
    } else {
        s
    }
}
