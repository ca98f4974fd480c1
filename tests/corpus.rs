//! The external convergence corpus (`../shared/corpus`, 538 cases from other tools' test
//! suites) run through its own checker, `converge.py`, with the real `schemaplan` binary as
//! planner and applier, forward and back (round trip).
//!
//! Ignored by default (it takes 10-20 minutes on 2 cores); run it with
//! `cargo test --test corpus -- --ignored` (`.ci/run` does, via `--include-ignored`).
//!
//! Per-case results go to `target/corpus.jsonl` (one JSON object per case, as written by
//! converge.py) and a summary to `target/corpus-summary.json`. The outcomes are compared with
//! the checked-in list `tests/corpus-known-failures.txt` (`name<TAB>status<TAB>reason`):
//!
//! - a case that fails and is not listed is a regression: the test fails;
//! - a listed case that now passes fails the test too, so the list only shrinks and stays
//!   honest: delete its line (or regenerate the list, below) in the commit that fixed it;
//! - a listed case that fails with another status than listed is printed, not failed.
//!
//! Environment:
//! - `SCHEMAPLAN_CORPUS_FILTER=regex`: only the matching cases (converge.py `--filter`);
//! - `SCHEMAPLAN_CORPUS_JOBS=N`: parallel cases (default 2);
//! - `SCHEMAPLAN_CORPUS_UPDATE=1`: rewrite `tests/corpus-known-failures.txt` from this run
//!   (full runs only) instead of comparing;
//! - `SCHEMAPLAN_CORPUS_REUSE=1`: do not run converge.py; judge the last run's
//!   `target/corpus.jsonl` again (after editing the list, say).
//!
//! The planner gets `--dev-url` pointing at the test server, so the shadow databases live on the
//! same throw-away server as the cases (nothing is shared with other schemaplan processes on
//! the machine); otherwise the templates are the corpus README's.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

const TOTAL_CASES: usize = 538;

/// Report lines go to the real stderr (the test harness would show captured output only on
/// failure, and the summary is wanted in every CI log).
macro_rules! say {
    ($($t:tt)*) => {{
        use std::io::Write;
        let _ = writeln!(std::io::stderr().lock(), $($t)*);
    }};
}

fn crate_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[derive(Debug, Clone)]
struct Record {
    case: String,
    /// `passed`, or the failure: converge.py's status (`diverged`, `planner-error`,
    /// `apply-error`, `timeout`, `setup-error`), or `roundtrip-<status>` when the forward run
    /// converged and the way back did not.
    status: String,
    converged: bool,
    reason: String,
}

fn one_line(s: &str, max: usize) -> String {
    let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if s.chars().count() > max {
        format!("{}...", s.chars().take(max).collect::<String>())
    } else {
        s
    }
}

/// The most telling line of a tool's error output: the last `error:` line (joined with the next
/// line when it ends in `:`), else the last line; fingerprints shortened.
fn error_line(text: &str) -> String {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let at = lines
        .iter()
        .rposition(|l| l.starts_with("error:") || l.starts_with("ERROR:"))
        .or(lines.len().checked_sub(1));
    let Some(at) = at else {
        return String::new();
    };
    let mut pick = lines[at].to_string();
    if pick.ends_with(':') {
        if let Some(next) = lines.get(at + 1) {
            pick.push(' ');
            pick.push_str(next);
        }
    }
    let pick = pick
        .trim_start_matches("error: ")
        .replace("the plan failed its proof and was not written: ", "proof: ")
        .replace("applying the plan: ", "");
    shorten_hex(&pick)
}

/// Runs of 16+ hex digits (fingerprints) cut to 8, so reasons stay short and stable.
fn shorten_hex(s: &str) -> String {
    let mut out = String::new();
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if run.len() >= 16 {
            out.push_str(&run[..8]);
            out.push_str("..");
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in s.chars() {
        if c.is_ascii_hexdigit() {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

fn diff_reason(diff: Option<&serde_json::Value>) -> String {
    let Some(d) = diff else {
        return String::new();
    };
    let kinds = d
        .get("kinds_differing")
        .and_then(|k| k.as_object())
        .map(|o| o.keys().cloned().collect::<Vec<_>>().join(","))
        .unwrap_or_default();
    let first = d
        .get("only_in_migrated")
        .and_then(|v| v.as_array())
        .and_then(|a| a.first())
        .map(|s| format!("migrated has: {}", s.as_str().unwrap_or("")))
        .or_else(|| {
            d.get("only_in_desired")
                .and_then(|v| v.as_array())
                .and_then(|a| a.first())
                .map(|s| format!("missing: {}", s.as_str().unwrap_or("")))
        })
        .unwrap_or_default();
    format!("[{kinds}] {first}")
}

fn parse_record(v: &serde_json::Value) -> Record {
    let s = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("").to_string();
    let case = s("case");
    let status = s("status");
    let converged = status == "converged";
    let passed = v.get("passed").and_then(|p| p.as_bool()).unwrap_or(false);
    let (status, reason) = if passed {
        ("passed".to_string(), String::new())
    } else if !converged {
        let reason = if status == "diverged" {
            diff_reason(v.get("diff"))
        } else {
            error_line(&s("error"))
        };
        (status, reason)
    } else {
        let rt = s("roundtrip");
        let reason = if rt == "diverged" {
            diff_reason(v.get("roundtrip_diff"))
        } else {
            error_line(&s("roundtrip_error"))
        };
        (
            format!("roundtrip-{}", if rt.is_empty() { "missing" } else { &rt }),
            reason,
        )
    };
    Record {
        case,
        status,
        converged,
        reason: one_line(&reason.replace('\t', " "), 240),
    }
}

/// `tests/corpus-known-failures.txt`: case -> (status, reason).
fn known_list(path: &Path) -> BTreeMap<String, (String, String)> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut out = BTreeMap::new();
    for line in text.lines() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let mut parts = line.splitn(3, '\t');
        let name = parts.next().unwrap_or("").trim().to_string();
        let status = parts.next().unwrap_or("").trim().to_string();
        let reason = parts.next().unwrap_or("").trim().to_string();
        out.insert(name, (status, reason));
    }
    out
}

fn write_list(path: &Path, records: &[Record]) {
    let mut text = String::from(
        "# Corpus cases (../shared/corpus) that schemaplan does not pass yet: converge.py forward\n\
         # and round trip. Generated by `SCHEMAPLAN_CORPUS_UPDATE=1 cargo test --test corpus -- --ignored`;\n\
         # a failing case is a bug or a missing feature, never a case to delete. Format:\n\
         # name<TAB>status<TAB>short reason   (status: converge.py's, or roundtrip-<status>)\n",
    );
    for r in records.iter().filter(|r| r.status != "passed") {
        text.push_str(&format!("{}\t{}\t{}\n", r.case, r.status, r.reason));
    }
    std::fs::write(path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

fn noop_cases(cases_dir: &Path) -> std::collections::BTreeSet<String> {
    let mut out = std::collections::BTreeSet::new();
    for e in std::fs::read_dir(cases_dir).unwrap().flatten() {
        let meta = e.path().join("meta.json");
        if let Ok(text) = std::fs::read_to_string(&meta) {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) {
                if v.pointer("/validation/oracle_noop")
                    .and_then(|x| x.as_bool())
                    == Some(true)
                {
                    out.insert(e.file_name().to_string_lossy().into_owned());
                }
            }
        }
    }
    out
}

#[test]
#[ignore = "takes 10-20 minutes: cargo test --test corpus -- --ignored"]
fn corpus() {
    let corpus = crate_root().join("../shared/corpus");
    let converge = corpus.join("converge.py");
    assert!(converge.is_file(), "{} is missing", converge.display());
    let server = common::server();
    server.ensure_corpus_roles();
    let cfg = schemaplan::db::parse(&server.admin_url()).expect("test server URL");
    let host = cfg
        .get_hosts()
        .iter()
        .find_map(|h| match h {
            postgres::config::Host::Tcp(h) => Some(h.clone()),
            #[allow(unreachable_patterns)]
            _ => None,
        })
        .unwrap_or_else(|| "127.0.0.1".to_string());
    let user = cfg.get_user().unwrap_or("postgres").to_string();
    let port = server.port();

    // A private copy of the binary: a concurrent `cargo build` must not swap it mid-run.
    let bin_dir = tempfile::tempdir().unwrap();
    let bin = bin_dir.path().join("schemaplan");
    std::fs::copy(env!("CARGO_BIN_EXE_schemaplan"), &bin).unwrap();
    let bin = bin.to_str().unwrap();
    let dev = "--dev-url postgresql://{pg_user}@{pg_host}:{pg_port}/postgres";
    let planner = |sub: &str| {
        format!("{bin} plan --db {{before_url}} --schema {{schema_dir}}/schema --out {{plan_dir}}/{sub} {dev}")
    };
    let applier = |sub: &str| {
        format!(
            "{bin} apply --db {{before_url}} {{plan_dir}}/{sub} --phase all --allow-hazards all"
        )
    };

    let target = crate_root().join("target");
    std::fs::create_dir_all(&target).unwrap();
    let jsonl = target.join("corpus.jsonl");
    let summary = target.join("corpus-summary.json");
    let filter = std::env::var("SCHEMAPLAN_CORPUS_FILTER")
        .ok()
        .filter(|f| !f.is_empty());
    let jobs = std::env::var("SCHEMAPLAN_CORPUS_JOBS").unwrap_or_else(|_| "2".into());

    let mut cmd = Command::new("python3");
    cmd.arg(&converge)
        .args([
            "--pg-host",
            &host,
            "--pg-port",
            &port.to_string(),
            "--pg-user",
            &user,
        ])
        .args(["--jobs", &jobs])
        // apply keeps its history in schema `schemaplan` of the migrated database: not part
        // of either schema the dumps compare.
        .args(["--exclude-schema", schemaplan::exec::BOOKKEEPING_SCHEMA])
        .args(["--planner", &planner("p"), "--applier", &applier("p")])
        .args([
            "--inverse-planner",
            &planner("q"),
            "--inverse-applier",
            &applier("q"),
        ])
        .arg("--out")
        .arg(&jsonl)
        .arg("--summary")
        .arg(&summary)
        .env_remove("DATABASE_URL")
        .env_remove("SCHEMAPLAN_DEV_URL")
        .stdin(Stdio::null())
        // progress lines ("[12/538] converged  name") go straight to the terminal / CI log
        .stderr(Stdio::inherit());
    if let Some(pw) = cfg.get_password() {
        cmd.env("PGPASSWORD", String::from_utf8_lossy(pw).into_owned());
    }
    if let Some(f) = &filter {
        cmd.args(["--filter", f]);
    }
    let t0 = Instant::now();
    if std::env::var_os("SCHEMAPLAN_CORPUS_REUSE").is_some() {
        say!(
            "corpus: SCHEMAPLAN_CORPUS_REUSE: not running converge.py, reading the last run's {}",
            jsonl.display()
        );
    } else {
        say!(
            "corpus: running converge.py on 127.0.0.1:{port} with {jobs} job(s); results in {}",
            jsonl.display()
        );
        let out = cmd.output().expect("run python3 converge.py");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "converge.py failed ({:?}) after {:.0}s:\n{stdout}",
            out.status.code(),
            t0.elapsed().as_secs_f64()
        );
        say!("corpus: converge.py says: {}", stdout.trim());
    }
    let elapsed = t0.elapsed().as_secs_f64();

    let mut records: Vec<Record> = std::fs::read_to_string(&jsonl)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| parse_record(&serde_json::from_str(l).expect("JSON line")))
        .collect();
    records.sort_by(|a, b| a.case.cmp(&b.case));
    let total = records.len();
    let noop = noop_cases(&corpus.join("cases"));
    let converged = records.iter().filter(|r| r.converged).count();
    let passed = records.iter().filter(|r| r.status == "passed").count();
    let passed_noop = records
        .iter()
        .filter(|r| r.status == "passed" && noop.contains(&r.case))
        .count();
    let mut by_status: BTreeMap<&str, usize> = BTreeMap::new();
    for r in &records {
        *by_status.entry(r.status.as_str()).or_default() += 1;
    }

    let list_path = crate_root().join("tests/corpus-known-failures.txt");
    if std::env::var_os("SCHEMAPLAN_CORPUS_UPDATE").is_some() {
        assert!(
            filter.is_none(),
            "SCHEMAPLAN_CORPUS_UPDATE needs a full run (no SCHEMAPLAN_CORPUS_FILTER)"
        );
        write_list(&list_path, &records);
        say!("corpus: wrote {}", list_path.display());
    }
    let known = known_list(&list_path);

    let mut regressions = Vec::new();
    let mut fixed = Vec::new();
    let mut changed = Vec::new();
    for r in &records {
        match (r.status.as_str(), known.get(&r.case)) {
            ("passed", None) => {}
            ("passed", Some(_)) => fixed.push(r),
            (_, None) => regressions.push(r),
            (s, Some((ks, _))) if s != ks => changed.push((r, ks.clone())),
            _ => {}
        }
    }
    if !changed.is_empty() {
        say!("\n--- listed cases failing differently than listed (informational) ---");
        for (r, was) in &changed {
            say!("  {}: {was} -> {}: {}", r.case, r.status, r.reason);
        }
    }
    if !regressions.is_empty() {
        say!("\n--- FAILING corpus cases not in tests/corpus-known-failures.txt ---");
        for r in &regressions {
            say!("  {}\t{}\t{}", r.case, r.status, r.reason);
        }
    }
    if !fixed.is_empty() {
        say!(
            "\n--- PASSING now but still listed in tests/corpus-known-failures.txt: delete these lines ---"
        );
        for r in &fixed {
            say!("  {}", r.case);
        }
    }
    let denominator = if filter.is_some() { total } else { TOTAL_CASES };
    say!("\ncorpus: by status {by_status:?}");
    say!(
        "corpus: converged {converged}/{denominator}, round trip {passed}/{denominator} \
         ({passed_noop} of the passing are oracle no-ops), {} unexpected failures, {} fixed but listed, \
         {} listed ({:.0}s)",
        regressions.len(),
        fixed.len(),
        known.len(),
        elapsed
    );
    if filter.is_none() {
        assert_eq!(
            total, TOTAL_CASES,
            "converge.py ran {total} cases, expected {TOTAL_CASES}"
        );
    }
    let names = |v: &[&Record]| v.iter().map(|r| r.case.clone()).collect::<Vec<_>>();
    assert!(
        regressions.is_empty() && fixed.is_empty(),
        "corpus: failing but not listed: {:?}; passing but listed: {:?} (see tests/corpus.rs for how to update the list)",
        names(&regressions),
        names(&fixed)
    );
}
