//! The fixture suite: every `fixtures/<category>/<case>/{before.sql, after.sql}` is migrated with
//! the real `schemaplan` binary against the shared test server (`tests/common`), and the four
//! properties of `DESIGN.md` are checked:
//!
//! 1. **converges**: after `plan` + `apply --phase all --allow-hazards all`, the database's
//!    catalog equals that of a database loaded directly from `after.sql`, both for schemaplan's
//!    own reader (`catalog::read` + `diff::diff` is empty) and for an independent oracle
//!    (`pg_dump --schema-only --no-owner --no-privileges`, normalized by the corpus's
//!    `converge.py`: column order, statement order, comments and `SET` lines do not count);
//! 2. **idempotent**: planning again (`plan --exit-code`) exits 0 with no steps;
//! 3. **locks are bounded**: every step of `plan.sql` and `inverse.sql` that takes a lock other
//!    than `none` has a `lock_timeout`;
//! 4. **reversible**: `rollback --phase all --allow-hazards all` brings the database back to
//!    `before.sql`'s catalog (same two comparisons).
//!
//! The rendered `plan.sql` and `inverse.sql` of each passing case are insta snapshots
//! (`tests/snapshots/fixtures__<category>__<case>__{plan,inverse}.snap`), with the `from:`,
//! `to:` and `id:` header lines replaced by placeholders.
//!
//! All cases run in one test so that every failure is reported, not only the first. Cases
//! listed in `fixtures/known-failures.txt` may fail; the test fails when a case not listed fails
//! (a regression) and when a listed case passes (remove it from the list: the list only
//! shrinks). See `docs/testing.md`.
//!
//! Scoped cases (`plan-args --exclude schema:audit`, see [`scope_args`]): `context.sql` holds
//! the objects that are not the project's (with rows); it is loaded into both databases before
//! `before.sql` / `after.sql`, so the full comparisons above also prove them left alone. Every
//! command of such a case (apply, re-plan, `drift`, rollback) gets the same scope, `drift`
//! must say in sync after apply, and the rows of the out-of-scope tables must be unchanged
//! after apply and after rollback.
//!
//! Other PostgreSQL majors (`scripts/pg-matrix`, `SCHEMAPLAN_PG_BINDIR`): the pg_dump oracle is
//! skipped, with the reason printed, where Debian's pg_dump 15 cannot dump the server (16+);
//! a case with `min-version N` in its `expect.txt` is skipped (and listed) on older servers;
//! snapshots are 15's, with `tests/snapshots/pg<major>/` where a major prints a plan
//! differently (see [`snapshot_dir`]).
//!
//! Environment:
//! - `SCHEMAPLAN_FIXTURE=pat[,pat...]`: run only cases whose `category/case` name contains one
//!   of the patterns (e.g. `SCHEMAPLAN_FIXTURE=indexes/partial_index`).
//! - `SCHEMAPLAN_FIXTURE_JOBS=N`: cases run in parallel (default 2).
//! - `SCHEMAPLAN_FIXTURE_KEEP=1`: keep the databases of failing cases (useful with
//!   `SCHEMAPLAN_TEST_URL`, as a temporary test server is deleted at exit).

mod common;

use common::oracle::{dump_differences, normalized_dump, Bin};

use schemaplan::plan::{Direction, LockLevel};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

/// Categories under `fixtures/` that are not before/after cases.
const NOT_CASES: [&str; 2] = ["source", "errors"];

/// Progress and report lines, written to the real stderr: the test harness's capture (which only
/// shows output of failing tests) would hide a 10-minute run's progress.
fn say(msg: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "{msg}");
}

fn crate_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[derive(Clone, Debug)]
struct Case {
    /// `category/case`.
    name: String,
    dir: PathBuf,
}

/// Every case directory, sorted by name, filtered by `SCHEMAPLAN_FIXTURE`.
fn cases() -> Vec<Case> {
    let root = crate_root().join("fixtures");
    let mut out = Vec::new();
    for cat in read_dir_sorted(&root) {
        let cat_name = file_name(&cat);
        if !cat.is_dir() || NOT_CASES.contains(&cat_name.as_str()) {
            continue;
        }
        for dir in read_dir_sorted(&cat) {
            if dir.join("before.sql").is_file() && dir.join("after.sql").is_file() {
                out.push(Case {
                    name: format!("{cat_name}/{}", file_name(&dir)),
                    dir,
                });
            } else if dir.is_dir() {
                panic!(
                    "{}: a fixture case needs both before.sql and after.sql",
                    dir.display()
                );
            }
        }
    }
    if let Ok(filter) = std::env::var("SCHEMAPLAN_FIXTURE") {
        let pats: Vec<&str> = filter
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .collect();
        if !pats.is_empty() {
            out.retain(|c| pats.iter().any(|p| c.name.contains(p)));
        }
    }
    out
}

fn read_dir_sorted(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

fn file_name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

/// `fixtures/known-failures.txt`: `category/case<TAB>reason` per line, `#` comments.
fn known_failures() -> BTreeMap<String, String> {
    let path = crate_root().join("fixtures/known-failures.txt");
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let mut out = BTreeMap::new();
    for (no, line) in text.lines().enumerate() {
        let line = line.trim_end();
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let (name, reason) = match line.split_once('\t') {
            Some((n, r)) => (n.trim(), r.trim()),
            None => (line.trim(), ""),
        };
        if out.insert(name.to_string(), reason.to_string()).is_some() {
            panic!("{}:{}: {name} listed twice", path.display(), no + 1);
        }
    }
    out
}

fn output_text(o: &Output) -> String {
    let mut s = String::from_utf8_lossy(&o.stderr).trim().to_string();
    let out = String::from_utf8_lossy(&o.stdout);
    if !out.trim().is_empty() {
        if !s.is_empty() {
            s.push('\n');
        }
        s.push_str(out.trim());
    }
    s
}

/// `schemaplan apply|rollback --db URL PLAN --phase all --allow-hazards all [SCOPE]`; `Err`
/// with the end of its output when it fails.
fn run_all_phases(
    bin: &Bin,
    cwd: &Path,
    command: &str,
    db_url: &str,
    plan: &str,
    scope: &[&str],
) -> Result<(), String> {
    let args = [
        &[
            command,
            "--db",
            db_url,
            plan,
            "--phase",
            "all",
            "--allow-hazards",
            "all",
        ][..],
        scope,
    ]
    .concat();
    let o = bin.run(cwd, &args);
    if o.status.success() {
        return Ok(());
    }
    Err(format!(
        "{command}: exit {:?}:\n{}",
        o.status.code(),
        tail(&output_text(&o), 15)
    ))
}

/// `problems`, each prefixed with `label: `.
fn labelled(label: &str, problems: Vec<String>) -> impl Iterator<Item = String> + '_ {
    problems.into_iter().map(move |p| format!("{label}: {p}"))
}

fn tail(s: &str, lines: usize) -> String {
    let v: Vec<&str> = s.lines().collect();
    let start = v.len().saturating_sub(lines);
    v[start..].join("\n")
}

/// What the test server is, and whether the `pg_dump` oracle can be used on it. Decided once per
/// run and printed (never silently): `pg_dump` refuses to dump a server of a newer major
/// ("aborting because of server version mismatch"), and the one on the machine is Debian's
/// PostgreSQL 15, so against 16+ (the version matrix, `scripts/pg-matrix`) the fixture suite
/// keeps the catalog oracle, the re-plan, the lock check and the rollback, and skips the dump
/// comparison.
struct ServerInfo {
    /// `server_version_num` of the test server.
    version_num: u32,
    /// `Err(reason)` when pg_dump is not used as the second oracle.
    dump: Result<(), String>,
}

static SERVER_INFO: std::sync::OnceLock<ServerInfo> = std::sync::OnceLock::new();

fn server_info() -> &'static ServerInfo {
    SERVER_INFO.get_or_init(|| {
        let server = common::server();
        let mut client = server.connect("postgres");
        let version_num: u32 = client
            .query_one("SELECT current_setting('server_version_num')::int", &[])
            .map(|r| r.get::<_, i32>(0) as u32)
            .expect("server_version_num");
        let dump = match pg_dump_major() {
            Err(e) => panic!("pg_dump (the fixture suite's second oracle): {e}"),
            Ok(dump_major) if dump_major < version_num / 10000 => Err(format!(
                "pg_dump {dump_major} cannot dump a PostgreSQL {} server (pg_dump refuses \
                 servers newer than itself); the dump oracle is skipped, the catalog oracle, \
                 re-plan, lock and rollback checks run",
                version_num / 10000
            )),
            Ok(_) => Ok(()),
        };
        ServerInfo { version_num, dump }
    })
}

/// Major version of the `pg_dump` on PATH (`pg_dump (PostgreSQL) 15.14 (Debian ...)`).
fn pg_dump_major() -> Result<u32, String> {
    let out = Command::new("pg_dump")
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    text.split_whitespace()
        .find_map(|w| w.split('.').next()?.parse::<u32>().ok())
        .ok_or_else(|| format!("cannot read the version from `{}`", text.trim()))
}

/// Both views of a database's schema: schemaplan's model and the normalized pg_dump (`None`
/// when the dump oracle is skipped on this server, see [`ServerInfo`]).
struct Snapshot {
    schema: schemaplan::model::Schema,
    dump: Option<Vec<String>>,
}

fn read_state(url: &str) -> Result<Snapshot, String> {
    let mut client = schemaplan::db::connect(url).map_err(|e| format!("connect: {e}"))?;
    let schema = schemaplan::catalog::read(&mut client).map_err(|e| format!("catalog: {e}"))?;
    let dump = match server_info().dump {
        Ok(()) => Some(normalized_dump(url)?),
        Err(_) => None,
    };
    Ok(Snapshot { schema, dump })
}

/// Empty when equal; else what differs, `label_a` being the database under test.
fn compare(got: &Snapshot, want: &Snapshot, what: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let changes = schemaplan::diff::diff(&got.schema, &want.schema);
    // The proof skips the diff where `diff::same` says two readings are the same (issue 9):
    // it must never say so where the diff finds a change, and a reading diffed with itself
    // must give nothing (src/diff/same.rs). Checked on every pair of readings compared here.
    if schemaplan::diff::same(&got.schema, &want.schema) && !changes.is_empty() {
        problems.push(format!(
            "diff::same says the catalog is the same as {what}'s but the diff finds {} change(s)",
            changes.len()
        ));
    }
    for (side, s) in [("migrated", &got.schema), (what, &want.schema)] {
        let own = schemaplan::diff::diff(s, s);
        if !own.is_empty() || !schemaplan::diff::same(s, s) {
            problems.push(format!(
                "the {side} catalog differs from itself ({} change(s)):\n{}",
                own.len(),
                tail(schemaplan::workflow::describe(&own).trim_end(), 20)
            ));
        }
    }
    if !changes.is_empty() {
        problems.push(format!(
            "catalog differs from {what} ({} change(s) still needed):\n{}",
            changes.len(),
            tail(schemaplan::workflow::describe(&changes).trim_end(), 20)
        ));
    }
    if let (Some(got_dump), Some(want_dump)) = (&got.dump, &want.dump) {
        problems.extend(dump_differences(got_dump, want_dump, what));
    }
    problems
}

/// Loads a SQL file into a database (one simple-query batch, like `psql -1` without the
/// transaction).
fn load(url: &str, file: &Path) -> Result<(), String> {
    let sql = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let mut client = schemaplan::db::connect(url).map_err(|e| format!("connect: {e}"))?;
    client
        .batch_execute(&sql)
        .map_err(|e| format!("{}: {}", file_name(file), schemaplan::db::error_text(&e)))
}

/// Steps that take a lock but have no lock_timeout, in `plan.sql` or `inverse.sql`.
fn unbounded_locks(plan_dir: &Path) -> Result<Vec<String>, String> {
    let mut bad = Vec::new();
    for direction in [Direction::Forward, Direction::Inverse] {
        let file =
            schemaplan::planfile::read_dir(plan_dir, direction).map_err(|e| e.to_string())?;
        for (i, step) in file.plan.steps.iter().enumerate() {
            if step.lock != LockLevel::None && step.lock_timeout.is_none() {
                bad.push(format!(
                    "{} step {} ({}) takes {} without a lock_timeout",
                    schemaplan::planfile::file_name(direction),
                    i + 1,
                    step.summary,
                    step.lock.as_str()
                ));
            }
        }
    }
    Ok(bad)
}

/// What a case's rollback is expected to leave beyond `before.sql`: `rollback-leaves SQL`
/// lines of its `expect.txt`, run after `before.sql` on the database the rollback is compared
/// with. Only for a difference the inverse plan declares in a note (a dropped `NOT NULL`
/// column whose values are gone comes back nullable; a key to a dropped table, or a
/// constraint over such a column, comes back `NOT VALID` or not at all:
/// `workflow::contract::unrestorable`).
fn rollback_leaves(case_dir: &Path) -> Vec<String> {
    let spec = std::fs::read_to_string(case_dir.join("expect.txt")).unwrap_or_default();
    spec.lines()
        .filter_map(|l| l.trim().strip_prefix("rollback-leaves "))
        .map(str::to_string)
        .collect()
}

/// Extra `plan` arguments of a case: `plan-args ...` lines of its `expect.txt`, words split at
/// spaces. Unless a case sets `--small-table` itself, plans are made with `--small-table 0`: a
/// table with a few rows in `before.sql` counts as large, so the online forms are exercised,
/// while an empty one gets the plain forms.
fn plan_args(case_dir: &Path) -> Vec<String> {
    let spec = std::fs::read_to_string(case_dir.join("expect.txt")).unwrap_or_default();
    let mut args: Vec<String> = spec
        .lines()
        .filter_map(|l| l.trim().strip_prefix("plan-args "))
        .flat_map(|l| l.split_whitespace().map(str::to_string))
        .collect();
    if !args.iter().any(|a| a == "--small-table") {
        args.extend(["--small-table".to_string(), "0".to_string()]);
    }
    args
}

/// The scope arguments among a case's `plan-args` (`--include X`, `--exclude X`, also written
/// `--exclude=X`): given to every command of the case, not only `plan`: `apply` and `rollback`
/// refuse a plan made with another scope, and the re-plan and `drift` must see what `plan`
/// saw.
fn scope_args(case_dir: &Path) -> Vec<String> {
    let args = plan_args(case_dir);
    let mut out = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--include" || a == "--exclude" {
            out.push(a.clone());
            out.extend(it.next().cloned());
        } else if a.starts_with("--include=") || a.starts_with("--exclude=") {
            out.push(a.clone());
        }
    }
    out
}

/// The case's scope (`scope_args` read the way the binary reads them), to judge which tables
/// are out of scope.
fn case_scope(scope_args: &[&str]) -> schemaplan::catalog::Scope {
    let (mut include, mut exclude) = (Vec::new(), Vec::new());
    let mut it = scope_args.iter();
    while let Some(a) = it.next() {
        let (flag, value) = match a.split_once('=') {
            Some((f, v)) => (f, Some(v.to_string())),
            None => (*a, it.next().map(|v| v.to_string())),
        };
        let list = if flag == "--include" {
            &mut include
        } else {
            &mut exclude
        };
        list.extend(value);
    }
    schemaplan::catalog::Scope::new(&include, &exclude).expect("the case's scope patterns")
}

/// Row count and checksum of every table of `schema` that is out of `scope`, by name: the
/// rows a scoped plan, its apply and its rollback must leave exactly as they were.
fn out_of_scope_rows(
    url: &str,
    schema: &schemaplan::model::Schema,
    scope: &schemaplan::catalog::Scope,
) -> Result<BTreeMap<String, (i64, String)>, String> {
    let (_, outside) = scope.split(schema);
    let mut client = schemaplan::db::connect(url).map_err(|e| format!("connect: {e}"))?;
    let ident = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    let mut rows = BTreeMap::new();
    for q in outside.tables.keys() {
        let sql = format!(
            "SELECT count(*)::bigint, coalesce(md5(string_agg(x::text, '|' ORDER BY x::text)), '') \
             FROM {}.{} x",
            ident(&q.schema),
            ident(&q.name)
        );
        let row = client
            .query_one(sql.as_str(), &[])
            .map_err(|e| format!("{q}: {}", schemaplan::db::error_text(&e)))?;
        rows.insert(q.to_string(), (row.get(0), row.get(1)));
    }
    Ok(rows)
}

/// `expect.txt` of a case (optional): what the plan must (not) contain, for the online
/// strategies of DESIGN.md that the four properties cannot see (a plan that takes an ACCESS
/// EXCLUSIVE lock for an index build still converges). One check per line, `#` comments;
/// `plan-args` lines are extra arguments of `plan` (see [`plan_args`]):
///
/// ```text
/// plan contains CREATE INDEX CONCURRENTLY
/// plan lacks ACCESS EXCLUSIVE
/// inverse contains DROP INDEX CONCURRENTLY
/// plan order CREATE INDEX CONCURRENTLY ... DROP INDEX CONCURRENTLY
/// plan order DROP COLUMN ... RENAME COLUMN ... SET DEFAULT   (first occurrences in this order)
/// plan-args --small-table 64kB
/// rollback-leaves ALTER TABLE public.t ALTER c DROP NOT NULL   (see [`rollback_leaves`])
/// ```
fn check_expectations(case_dir: &Path, plan_dir: &Path) -> Vec<String> {
    let path = case_dir.join("expect.txt");
    let Ok(spec) = std::fs::read_to_string(&path) else {
        return Vec::new();
    };
    let mut problems = Vec::new();
    for (no, line) in spec.lines().enumerate() {
        let line = line.trim();
        if line.is_empty()
            || line.starts_with('#')
            || line.starts_with("plan-args ")
            || line.starts_with("rollback-leaves ")
            || line.starts_with("min-version ")
        {
            continue;
        }
        let bad = |m: &str| format!("expect.txt:{}: {m}", no + 1);
        let mut words = line.splitn(3, ' ');
        let (Some(file), Some(op), Some(arg)) = (words.next(), words.next(), words.next()) else {
            problems.push(bad("want `<plan|inverse> <contains|lacks|order> TEXT`"));
            continue;
        };
        let file_name = match file {
            "plan" => "plan.sql",
            "inverse" => "inverse.sql",
            _ => {
                problems.push(bad("the file is `plan` or `inverse`"));
                continue;
            }
        };
        let text = std::fs::read_to_string(plan_dir.join(file_name)).unwrap_or_default();
        let ok = match op {
            "contains" => text.contains(arg),
            "lacks" => !text.contains(arg),
            // `A ... B [... C]`: the first occurrences appear in this order.
            "order" => {
                let parts: Vec<&str> = arg.split(" ... ").collect();
                if parts.len() < 2 {
                    problems.push(bad("`order` wants `A ... B`"));
                    continue;
                }
                let at: Vec<Option<usize>> = parts.iter().map(|p| text.find(p)).collect();
                at.iter().all(Option::is_some) && at.windows(2).all(|w| w[0] < w[1])
            }
            _ => {
                problems.push(bad("the check is `contains`, `lacks` or `order`"));
                continue;
            }
        };
        if !ok {
            problems.push(format!(
                "strategy: {file_name} fails `{line}` (expect.txt:{})",
                no + 1
            ));
        }
    }
    problems
}

/// The oldest PostgreSQL major a case runs on: a `min-version N` line of its `expect.txt`
/// (`N` a major, e.g. `15` for `NULLS NOT DISTINCT`), with the reason after a `#` on the same
/// line. A case whose SQL an older server cannot load is skipped there, and the skip is printed
/// with the reason: it is never silently passed, and never deleted.
fn min_version(case_dir: &Path) -> Option<(u32, String)> {
    let spec = std::fs::read_to_string(case_dir.join("expect.txt")).unwrap_or_default();
    let line = spec
        .lines()
        .find_map(|l| l.trim().strip_prefix("min-version "))?;
    let (num, why) = match line.split_once('#') {
        Some((n, w)) => (n.trim(), w.trim()),
        None => (line.trim(), ""),
    };
    let major: u32 = num.parse().unwrap_or_else(|_| {
        panic!(
            "{}: `min-version {line}`: want a major version number",
            case_dir.join("expect.txt").display()
        )
    });
    assert!(
        !why.is_empty(),
        "{}: `min-version {major}` needs a reason after `#`",
        case_dir.join("expect.txt").display()
    );
    Some((major, why.to_string()))
}

/// The plan file with its run-specific header lines replaced by placeholders.
fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let (body, nl) = match line.strip_suffix('\n') {
            Some(b) => (b, "\n"),
            None => (line, ""),
        };
        let replaced = if body.starts_with("-- from: ") {
            "-- from: [fingerprint]"
        } else if body.starts_with("-- to: ") {
            "-- to: [fingerprint]"
        } else if body.starts_with("-- id: ") {
            "-- id: [id]"
        } else {
            body
        };
        out.push_str(replaced);
        out.push_str(nl);
    }
    out
}

struct Outcome {
    case: Case,
    /// Empty when every property holds.
    problems: Vec<String>,
    /// (snapshot name, redacted text) of plan.sql and inverse.sql, when a plan was written.
    rendered: Vec<(String, String)>,
    seconds: f64,
}

fn run_case(case: &Case, bin: &Bin) -> Outcome {
    let t0 = Instant::now();
    let mut problems = Vec::new();
    let mut rendered = Vec::new();
    let mut timings: Vec<(&'static str, f64)> = Vec::new();
    let mut lap = Instant::now();
    let mut mark = |what: &'static str| {
        timings.push((what, lap.elapsed().as_secs_f64()));
        lap = Instant::now();
    };
    let server = common::server();
    let mut dbs = Vec::new();
    let tmp = tempfile::tempdir().expect("temp dir");
    let result = (|| -> Result<(), String> {
        // B: the database to migrate; A: the desired state, loaded directly.
        let (b_name, b_url) = server.fresh_db(&format!("fx_b_{}", case.name));
        dbs.push(b_name);
        let (a_name, a_url) = server.fresh_db(&format!("fx_a_{}", case.name));
        dbs.push(a_name);
        // context.sql (scoped cases): the out-of-scope objects, in both databases first.
        let context = case.dir.join("context.sql");
        if context.is_file() {
            load(&b_url, &context).map_err(|e| format!("setup: {e}"))?;
            load(&a_url, &context).map_err(|e| format!("setup: {e}"))?;
        }
        load(&b_url, &case.dir.join("before.sql")).map_err(|e| format!("setup: {e}"))?;
        load(&a_url, &case.dir.join("after.sql")).map_err(|e| format!("setup: {e}"))?;
        mark("setup");
        let before = read_state(&b_url).map_err(|e| format!("setup: before: {e}"))?;
        let after = read_state(&a_url).map_err(|e| format!("setup: after: {e}"))?;
        // The scope of the case (plan-args), for every command; the out-of-scope rows.
        let scope = scope_args(&case.dir);
        let scope: Vec<&str> = scope.iter().map(String::as_str).collect();
        let scope_of_case = case_scope(&scope);
        let rows_before = if scope.is_empty() {
            BTreeMap::new()
        } else {
            out_of_scope_rows(&b_url, &before.schema, &scope_of_case)
                .map_err(|e| format!("setup: out-of-scope rows: {e}"))?
        };
        let rows_unchanged = |when: &str| -> Vec<String> {
            if scope.is_empty() {
                return Vec::new();
            }
            match out_of_scope_rows(&b_url, &before.schema, &scope_of_case) {
                Ok(now) if now == rows_before => Vec::new(),
                Ok(now) => vec![format!(
                    "{when}: rows of out-of-scope tables changed: {rows_before:?} -> {now:?}"
                )],
                Err(e) => vec![format!("{when}: out-of-scope rows: {e}")],
            }
        };

        let schema_dir = tmp.path().join("schema");
        std::fs::create_dir(&schema_dir).unwrap();
        std::fs::copy(case.dir.join("after.sql"), schema_dir.join("after.sql")).unwrap();
        let plan_dir = tmp.path().join("plan");
        let plan_s = plan_dir.to_str().unwrap();
        let schema_s = schema_dir.to_str().unwrap();
        // The shadow databases go to the test server too (`--dev-url`), unless
        // SCHEMAPLAN_FIXTURE_EMBEDDED is set (then the embedded default cluster is used).
        let dev_args: Vec<String> = if std::env::var_os("SCHEMAPLAN_FIXTURE_EMBEDDED").is_some() {
            Vec::new()
        } else {
            vec!["--dev-url".to_string(), server.admin_url()]
        };
        let dev_args: Vec<&str> = dev_args.iter().map(String::as_str).collect();
        let cwd = tmp.path();

        // plan
        let case_args = plan_args(&case.dir);
        let case_args: Vec<&str> = case_args.iter().map(String::as_str).collect();
        let args = [
            &[
                "plan", "--db", &b_url, "--schema", schema_s, "--out", plan_s,
            ][..],
            &case_args,
            &dev_args,
        ]
        .concat();
        let o = bin.run(cwd, &args);
        if !o.status.success() {
            return Err(format!(
                "plan: exit {:?}:\n{}",
                o.status.code(),
                tail(&output_text(&o), 15)
            ));
        }
        mark("plan");
        // plan.json matches its published schema (docs/schemas/plan.json).
        match std::fs::read_to_string(plan_dir.join("plan.json")) {
            Ok(text) => problems.extend(
                common::schemas::violations_of_text("plan", &text)
                    .into_iter()
                    .map(|v| format!("plan.json does not match docs/schemas/plan.json: {v}")),
            ),
            Err(e) => problems.push(format!("plan: plan.json: {e}")),
        }
        for (file, kind) in [("plan.sql", "plan"), ("inverse.sql", "inverse")] {
            match std::fs::read_to_string(plan_dir.join(file)) {
                Ok(text) => rendered.push((
                    format!("{}__{kind}", case.name.replace('/', "__")),
                    redact(&text),
                )),
                Err(e) => problems.push(format!("plan: {file}: {e}")),
            }
        }

        // the online strategies the case expects (expect.txt)
        problems.extend(check_expectations(&case.dir, &plan_dir));

        // (3) every step that takes a lock has a lock_timeout
        match unbounded_locks(&plan_dir) {
            Ok(bad) => problems.extend(bad.into_iter().map(|b| format!("lock_timeout: {b}"))),
            Err(e) => problems.push(format!("planfile: {e}")),
        }

        // apply
        run_all_phases(bin, cwd, "apply", &b_url, plan_s, &scope)?;
        mark("apply");
        problems.extend(labelled("converge", rows_unchanged("after apply")));
        // (1) converges
        let migrated = read_state(&b_url).map_err(|e| format!("after apply: {e}"))?;
        problems.extend(labelled(
            "converge",
            compare(&migrated, &after, "after.sql"),
        ));

        mark("compare");
        // (2) planning again is empty
        let args = [
            &["plan", "--db", &b_url, "--schema", schema_s, "--exit-code"][..],
            &scope,
            &dev_args,
        ]
        .concat();
        let o = bin.run(cwd, &args);
        if o.status.code() != Some(0) {
            problems.push(format!(
                "re-plan: exit {:?} (want 0, no steps):\n{}",
                o.status.code(),
                tail(&output_text(&o), 15)
            ));
        }
        // A scoped case: drift with the same scope sees the database in sync.
        if !scope.is_empty() {
            let args = [
                &["drift", "--db", &b_url, "--schema", schema_s][..],
                &scope,
                &dev_args,
            ]
            .concat();
            let o = bin.run(cwd, &args);
            if o.status.code() != Some(0) {
                problems.push(format!(
                    "re-plan: drift exit {:?} (want 0, in sync):\n{}",
                    o.status.code(),
                    tail(&output_text(&o), 15)
                ));
            }
        }

        mark("re-plan");
        // (4) the inverse brings back before.sql
        run_all_phases(bin, cwd, "rollback", &b_url, plan_s, &scope)?;
        mark("rollback");
        problems.extend(labelled("rollback", rows_unchanged("after rollback")));
        let back = read_state(&b_url).map_err(|e| format!("after rollback: {e}"))?;
        let leaves = rollback_leaves(&case.dir);
        if leaves.is_empty() {
            problems.extend(labelled("rollback", compare(&back, &before, "before.sql")));
        } else {
            let (c_name, c_url) = server.fresh_db(&format!("fx_c_{}", case.name));
            dbs.push(c_name);
            if context.is_file() {
                load(&c_url, &context).map_err(|e| format!("setup: {e}"))?;
            }
            load(&c_url, &case.dir.join("before.sql")).map_err(|e| format!("setup: {e}"))?;
            let mut client =
                schemaplan::db::connect(&c_url).map_err(|e| format!("connect: {e}"))?;
            for sql in &leaves {
                client
                    .batch_execute(sql)
                    .map_err(|e| format!("rollback-leaves: {sql}: {e}"))?;
            }
            let want = read_state(&c_url).map_err(|e| format!("rollback-leaves: {e}"))?;
            let what = "before.sql + rollback-leaves";
            problems.extend(labelled("rollback", compare(&back, &want, what)));
        }
        mark("compare");
        Ok(())
    })();
    if let Err(e) = result {
        problems.push(e);
    }
    if std::env::var_os("SCHEMAPLAN_FIXTURE_VERBOSE").is_some() {
        let t: Vec<String> = timings
            .iter()
            .map(|(w, s)| format!("{w} {s:.2}s"))
            .collect();
        say(&format!("fixture {}: {}", case.name, t.join(", ")));
    }
    let keep = !problems.is_empty() && std::env::var_os("SCHEMAPLAN_FIXTURE_KEEP").is_some();
    if keep {
        problems.push(format!(
            "kept databases {} and {}",
            dbs.join(", "),
            tmp.keep().display()
        ));
    } else {
        for db in &dbs {
            server.drop_db(db);
        }
    }
    Outcome {
        case: case.clone(),
        problems,
        rendered,
        seconds: t0.elapsed().as_secs_f64(),
    }
}

/// The PostgreSQL major the snapshots in `tests/snapshots/` were recorded on (Debian's 15, what
/// CI and the development machines run). Plans quote what the server prints
/// (`pg_get_function_identity_arguments`, the default ACL of `public`, ...), so on another major
/// a plan may differ for reasons that are not schemaplan's: see [`snapshot_dir`].
const SNAPSHOT_MAJOR: u32 = 15;

/// Where a case's snapshot is checked on this server: `tests/snapshots/` on
/// [`SNAPSHOT_MAJOR`]; on another major `tests/snapshots/pg<major>/`, unless the reference
/// snapshot is exactly what this major renders (the common case: then nothing is duplicated).
/// A version-specific snapshot is reviewed and recorded like any other
/// (`INSTA_UPDATE=always scripts/pg-matrix 13` writes only under `pg13/`).
fn snapshot_dir(name: &str, text: &str) -> PathBuf {
    let base = crate_root().join("tests/snapshots");
    let major = server_info().version_num / 10000;
    if major == SNAPSHOT_MAJOR {
        return base;
    }
    let own = base.join(format!("pg{major}"));
    if own.join(format!("fixtures__{name}.snap")).is_file() {
        return own;
    }
    let reference =
        std::fs::read_to_string(base.join(format!("fixtures__{name}.snap"))).unwrap_or_default();
    // The snapshot body follows the second `---` line of insta's header.
    let body = reference.splitn(3, "---\n").nth(2).unwrap_or("");
    if body.trim_end() == text.trim_end() {
        base
    } else {
        own
    }
}

/// Checks the snapshots of a passing case; returns the mismatches.
fn check_snapshots(rendered: &[(String, String)]) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, text) in rendered {
        let dir = snapshot_dir(name, text);
        let mut settings = insta::Settings::clone_current();
        settings.set_snapshot_path(&dir);
        settings.set_omit_expression(true);
        settings.set_prepend_module_to_snapshot(true);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            settings.bind(|| insta::assert_snapshot!(name.as_str(), text.as_str()));
        }));
        if r.is_err() {
            let shown = dir
                .strip_prefix(crate_root())
                .unwrap_or(&dir)
                .display()
                .to_string();
            problems.push(format!(
                "snapshot: {shown}/fixtures__{name}.snap differs or is new \
                 (review with `cargo insta review`, or INSTA_UPDATE=always)"
            ));
        }
    }
    problems
}

#[test]
fn fixtures() {
    let cases = cases();
    assert!(
        !cases.is_empty() || std::env::var_os("SCHEMAPLAN_FIXTURE").is_some(),
        "no fixture cases found under fixtures/"
    );
    let known = known_failures();
    let all_names: BTreeSet<String> = cases_unfiltered_names();
    let stale: Vec<&String> = known.keys().filter(|k| !all_names.contains(*k)).collect();
    assert!(
        stale.is_empty(),
        "fixtures/known-failures.txt lists cases that do not exist: {stale:?}"
    );

    let server = common::server();
    server.ensure_corpus_roles();
    let info = server_info();
    let server_major = info.version_num / 10000;
    say(&format!(
        "fixtures: PostgreSQL server_version_num {}; pg_dump oracle: {}",
        info.version_num,
        match &info.dump {
            Ok(()) => "used".to_string(),
            Err(why) => format!("SKIPPED: {why}"),
        }
    ));
    let skipped: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let bin = Bin::new();
    let jobs: usize = std::env::var("SCHEMAPLAN_FIXTURE_JOBS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2)
        .max(1);
    let t0 = Instant::now();
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Outcome>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..jobs.min(cases.len().max(1)) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(case) = cases.get(i) else { break };
                if let Some((min, why)) = min_version(&case.dir) {
                    if server_major < min {
                        say(&format!(
                            "fixture skip  {} (needs PostgreSQL {min}+: {why})",
                            case.name
                        ));
                        skipped
                            .lock()
                            .unwrap()
                            .push(format!("{} (PostgreSQL {min}+: {why})", case.name));
                        continue;
                    }
                }
                let mut out = run_case(case, &bin);
                let is_known = known.contains_key(&case.name);
                // Snapshots are reviewed output: only a case that passes records one.
                if out.problems.is_empty() && !is_known {
                    out.problems = check_snapshots(&out.rendered);
                }
                let mark = match (out.problems.is_empty(), is_known) {
                    (true, false) => "ok",
                    (true, true) => "FIXED",
                    (false, true) => "known",
                    (false, false) => "FAIL",
                };
                say(&format!(
                    "fixture {mark:<5} {} ({:.1}s)",
                    case.name, out.seconds
                ));
                results.lock().unwrap().push(out);
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort_by(|a, b| a.case.name.cmp(&b.case.name));

    let mut passed = 0;
    let mut known_failed = Vec::new();
    let mut regressions = Vec::new();
    let mut fixed = Vec::new();
    for r in &results {
        match (r.problems.is_empty(), known.get(&r.case.name)) {
            (true, None) => passed += 1,
            (true, Some(_)) => fixed.push(r),
            (false, Some(_)) => known_failed.push(r),
            (false, None) => regressions.push(r),
        }
    }
    let detail = |r: &Outcome| -> String {
        let mut s = format!("\n=== {} ({})\n", r.case.name, r.case.dir.display());
        for p in &r.problems {
            for (i, l) in p.lines().enumerate() {
                s.push_str(if i == 0 { "  - " } else { "    " });
                s.push_str(l);
                s.push('\n');
            }
        }
        s
    };
    let mut report = String::new();
    if !known_failed.is_empty() {
        report.push_str("\n--- known failures (fixtures/known-failures.txt) ---");
        for r in &known_failed {
            report.push_str(&detail(r));
        }
    }
    if !regressions.is_empty() {
        report.push_str("\n--- FAILING fixtures not in fixtures/known-failures.txt ---");
        for r in &regressions {
            report.push_str(&detail(r));
        }
    }
    if !fixed.is_empty() {
        report.push_str(
            "\n--- listed in fixtures/known-failures.txt but PASS now: remove them from the list ---\n",
        );
        for r in &fixed {
            report.push_str(&format!("  {}\n", r.case.name));
        }
    }
    let mut skipped = skipped.into_inner().unwrap();
    skipped.sort();
    if !skipped.is_empty() {
        report.push_str(&format!(
            "\n--- skipped on PostgreSQL {server_major} (min-version in expect.txt) ---\n"
        ));
        for s in &skipped {
            report.push_str(&format!("  {s}\n"));
        }
    }
    if let Err(why) = &info.dump {
        report.push_str(&format!("\npg_dump oracle not used: {why}\n"));
    }
    say(&report);
    say(&format!(
        "fixtures: {} cases, {passed} passed, {} known failures, {} unexpected failures, {} fixed but still listed, {} skipped (PostgreSQL {server_major}, pg_dump oracle {}) ({:.0}s)",
        results.len() + skipped.len(),
        known_failed.len(),
        regressions.len(),
        fixed.len(),
        skipped.len(),
        if info.dump.is_ok() { "used" } else { "skipped" },
        t0.elapsed().as_secs_f64()
    ));
    let names = |v: &[&Outcome]| -> Vec<String> { v.iter().map(|r| r.case.name.clone()).collect() };
    assert!(
        regressions.is_empty() && fixed.is_empty(),
        "fixture suite: failing (not listed): {:?}; passing but listed in fixtures/known-failures.txt: {:?}",
        names(&regressions),
        names(&fixed)
    );
}

/// Every case name, ignoring `SCHEMAPLAN_FIXTURE` (to validate the known-failures list).
fn cases_unfiltered_names() -> BTreeSet<String> {
    let root = crate_root().join("fixtures");
    let mut out = BTreeSet::new();
    for cat in read_dir_sorted(&root) {
        let cat_name = file_name(&cat);
        if !cat.is_dir() || NOT_CASES.contains(&cat_name.as_str()) {
            continue;
        }
        for dir in read_dir_sorted(&cat) {
            if dir.join("after.sql").is_file() {
                out.insert(format!("{cat_name}/{}", file_name(&dir)));
            }
        }
    }
    out
}

#[test]
fn redact_replaces_run_specific_header_lines() {
    let text = "-- schemaplan plan\n-- version: 0.1.0\n-- id: 2026_x\n-- direction: forward\n-- from: abc\n-- to: def\nSELECT 1;\n";
    assert_eq!(
        redact(text),
        "-- schemaplan plan\n-- version: 0.1.0\n-- id: [id]\n-- direction: forward\n-- from: [fingerprint]\n-- to: [fingerprint]\nSELECT 1;\n"
    );
}

/// The bundled example (`schema/` and its committed plan `plans/*_initial/`) stays current:
/// planning `schema/` from an empty database gives the committed `plan.sql` and `inverse.sql`
/// (ignoring the id and fingerprint lines), and the committed plan applies to an empty database,
/// after which `drift` is in sync and `status` lists it as applied.
///
/// When the planner's output changes on purpose, regenerate the example:
/// `rm -r plans/*_initial && cargo run -- plan --schema schema --name initial`
/// (and update the plan id quoted in README.md).
#[test]
fn example_schema_plan_is_current_and_applies() {
    let root = crate_root();
    let committed: Vec<PathBuf> = read_dir_sorted(&root.join("plans"))
        .into_iter()
        .filter(|p| file_name(p).ends_with("_initial"))
        .collect();
    assert_eq!(
        committed.len(),
        1,
        "expected exactly one plans/*_initial directory, found {committed:?}"
    );
    let committed = &committed[0];
    let server = common::server();
    let bin = Bin::new();
    let tmp = tempfile::tempdir().unwrap();
    let fresh = tmp.path().join("p");
    let dev = server.admin_url();
    let o = bin.run(
        tmp.path(),
        &[
            "plan",
            "--schema",
            root.join("schema").to_str().unwrap(),
            "--out",
            fresh.to_str().unwrap(),
            "--dev-url",
            &dev,
        ],
    );
    assert!(o.status.success(), "plan schema/: {}", output_text(&o));
    let regenerate = "regenerate it: rm -r plans/*_initial && cargo run -- plan --schema schema \
                      --name initial (and update the plan id in README.md)";
    for file in ["plan.sql", "inverse.sql"] {
        let want = std::fs::read_to_string(committed.join(file)).unwrap();
        let got = std::fs::read_to_string(fresh.join(file)).unwrap();
        let strip = |s: &str| {
            redact(s)
                .lines()
                .filter(|l| !l.starts_with("-- from: ") && !l.starts_with("-- to: "))
                .collect::<Vec<_>>()
                .join("\n")
        };
        assert_eq!(
            strip(&got),
            strip(&want),
            "{}/{file} is not what schemaplan plans for schema/ today; {regenerate}",
            committed.display()
        );
    }
    let (db, url) = server.fresh_db("example_schema");
    // The committed plan starts from the fingerprint of an empty database on PostgreSQL 15.
    // An empty database reads differently on other majors (13 and 14 grant CREATE on `public`
    // to PUBLIC), and `apply` rightly refuses a plan whose `from` is not the live schema: there
    // the plan just made (same steps, checked above) is applied instead.
    let major = server_info().version_num / 10000;
    let to_apply = if major == SNAPSHOT_MAJOR {
        committed.clone()
    } else {
        say(&format!(
            "example plan: applying the fresh plan, not the committed one: its `from` is an \
             empty database on PostgreSQL {SNAPSHOT_MAJOR}, this server is {major}"
        ));
        fresh.clone()
    };
    let o = bin.run(
        tmp.path(),
        &["apply", "--db", &url, to_apply.to_str().unwrap()],
    );
    assert!(
        o.status.success(),
        "the committed example plan does not apply to an empty database ({regenerate}):\n{}",
        output_text(&o)
    );
    let o = bin.run(
        tmp.path(),
        &[
            "drift",
            "--db",
            &url,
            "--schema",
            root.join("schema").to_str().unwrap(),
            "--dev-url",
            &dev,
        ],
    );
    assert_eq!(o.status.code(), Some(0), "drift: {}", output_text(&o));
    let o = bin.run(
        tmp.path(),
        &[
            "status",
            "--db",
            &url,
            "--plans",
            // the folder of the plan that was applied
            to_apply.parent().unwrap().to_str().unwrap(),
        ],
    );
    let t = output_text(&o);
    assert!(o.status.success() && t.contains("applied"), "status: {t}");
    server.drop_db(&db);
}
