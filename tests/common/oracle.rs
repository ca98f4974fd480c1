//! What the fixture suite and the property test share to judge a migrated database: a copy of
//! the binary under test (a concurrent `cargo build` cannot swap it mid-run) and the pg_dump
//! oracle, `pg_dump --schema-only` normalized by the corpus's own `converge.py`, with a readable
//! list of the statements only one side has.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Output, Stdio};
use std::sync::Mutex;

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
    let text = String::from_utf8_lossy(&out.stdout);
    let stmts = NORMALIZER.normalize(&text)?;
    // The oracle must never pass by saying nothing: a dump that creates something normalizes
    // to at least one statement.
    if stmts.is_empty() && text.contains("\nCREATE ") {
        return Err("normalize_dump gave no statement for a dump with CREATE statements".into());
    }
    let mut stmts: Vec<String> = stmts.iter().map(|s| statistics_columns_sorted(s)).collect();
    stmts.sort();
    Ok(stmts)
}

/// converge.py's `normalize_dump`, run in one long-lived `python3` per test process: a fixture
/// case compares four dumps, and starting Python for each (through a pyenv shim: bash, readlink
/// and the interpreter, ~0.2 s of CPU) was a fifth of the fixture suite's time. Requests are a
/// line with the dump's length in bytes, then the dump; each answer is one JSON line. Calls are
/// serialized (the normalization itself takes milliseconds); a worker that died is started again.
static NORMALIZER: Normalizer = Normalizer(Mutex::new(None));

struct Normalizer(Mutex<Option<Worker>>);

struct Worker {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

const NORMALIZER_SCRIPT: &str = r#"
import sys, json
sys.path.insert(0, sys.argv[1])
import converge
inp = sys.stdin.buffer
while True:
    line = inp.readline()
    if not line:
        break
    text = inp.read(int(line)).decode("utf-8")
    try:
        answer = {"ok": converge.normalize_dump(text)}
    except Exception as e:
        answer = {"error": repr(e)}
    sys.stdout.write(json.dumps(answer) + "\n")
    sys.stdout.flush()
"#;

impl Normalizer {
    fn normalize(&self, dump: &str) -> Result<Vec<String>, String> {
        let mut slot = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_none() {
            *slot = Some(Worker::start()?);
        }
        let answer = slot.as_mut().unwrap().ask(dump);
        if answer.is_err() {
            // The worker is in an unknown state (died, or half an answer): never reuse it.
            if let Some(mut w) = slot.take() {
                let _ = w.child.kill();
                let _ = w.child.wait();
            }
        }
        answer
    }
}

impl Worker {
    fn start() -> Result<Worker, String> {
        let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
        let mut child = Command::new("python3")
            .args(["-c", NORMALIZER_SCRIPT])
            .arg(corpus)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("python3: {e}"))?;
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Ok(Worker {
            child,
            stdin,
            stdout,
        })
    }

    fn ask(&mut self, dump: &str) -> Result<Vec<String>, String> {
        let io = |e: std::io::Error| format!("normalize_dump worker: {e}");
        writeln!(self.stdin, "{}", dump.len()).map_err(io)?;
        self.stdin.write_all(dump.as_bytes()).map_err(io)?;
        self.stdin.flush().map_err(io)?;
        let mut line = String::new();
        if self.stdout.read_line(&mut line).map_err(io)? == 0 {
            return Err("normalize_dump worker: python3 ended (its stderr is above)".into());
        }
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "lowercase")]
        enum Answer {
            Ok(Vec<String>),
            Error(String),
        }
        match serde_json::from_str::<Answer>(&line) {
            Ok(Answer::Ok(stmts)) => Ok(stmts),
            Ok(Answer::Error(e)) => Err(format!("normalize_dump: {e}")),
            Err(e) => Err(format!("normalize_dump output: {e}")),
        }
    }
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
