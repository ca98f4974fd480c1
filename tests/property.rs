//! The property test: random (before, after) schema pairs with random rows, each migrated with
//! the real binary (plan, apply, re-plan, rollback) and checked by every oracle: converges to
//! `after` (catalog and normalized `pg_dump`), re-plan empty, rollback returns to `before`,
//! bounded locks, and the data oracle (every value of every column that survives keeps its
//! value, unless a step declared `data-loss` on it; a type change keeps every value read back
//! as the old type). See `property/gen.rs` (what is generated) and `property/run.rs` (the
//! oracles and failure classes); docs/testing.md, "The property test".
//!
//! - `property_seeded` (in `cargo test`): seeds `0..DEFAULT_SEEDS`, each case several
//!   independent tables with their own changes. Seeds listed in
//!   `tests/property-known-failures.txt` (`seed<TAB>class: reason`) may fail with the listed
//!   classes; a listed seed that passes fails the test (the list only shrinks), and so does a
//!   listed seed failing with another class.
//! - `property_soak` (ignored): `SCHEMAPLAN_PROPERTY_SEEDS=1000..2000`; failures whose classes
//!   are all known classes (named in the known-failures file) are reported, others fail.
//! - `property_kinds_seeded` (in `cargo test`) and `property_kinds_soak` (ignored): the same
//!   for *kinds cases* (`property/kinds.rs`): one unit per other kind (operators and classes,
//!   casts, text search, foreign data, publications, event triggers, aggregates, collations,
//!   carried-over statistics and rules; triggers, policies, materialized views, domains)
//!   around a table with rows; seeds
//!   `SCHEMAPLAN_PROPERTY_KINDS_SEEDS` (default `0..KINDS_DEFAULT_SEEDS`), known failures in
//!   `tests/property-kinds-known-failures.txt`; one more oracle, `secret`.
//!
//! A failure is printed with its seed, `before.sql`, `after.sql`, the plan and the failed
//! oracles, then minimised (units, changes, then rows dropped while the same class still fails;
//! not for listed seeds) and the minimal case written to `target/property/seed-<N>/` in the
//! fixture format (`before.sql`, `after.sql`, `expect.txt`), ready to copy to
//! `fixtures/<category>/<case>/`.
//!
//! Environment: `SCHEMAPLAN_PROPERTY_SEEDS=a..b` (both tests), `SCHEMAPLAN_PROPERTY_JOBS`
//! (default 2), `SCHEMAPLAN_PROPERTY_MINIMIZE=0` (skip minimising), `SCHEMAPLAN_PROPERTY_KEEP=1`
//! (keep databases and plan of failing runs).

mod common;
#[path = "property/draw.rs"]
mod draw;
#[path = "property/gen.rs"]
mod gen;
#[path = "property/kinds.rs"]
mod kinds;
#[path = "property/oracle.rs"]
mod oracle;
#[path = "property/run.rs"]
mod run;
#[path = "property/sql.rs"]
mod sql;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use run::{Bin, Verdict};

/// Seeds of the default run: each case has `gen::UNITS_PER_CASE` independent tables with 1-3
/// changes each, so this is a few hundred changes (timings in docs/testing.md).
const DEFAULT_SEEDS: u64 = 40;

fn say(msg: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "{msg}");
}

fn crate_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `tests/property-known-failures.txt`: seed -> the classes it may fail with (the reason's
/// first word before `:`; several as `narrowing+data: ...`) and the reason.
fn known_failures(file: &str) -> BTreeMap<u64, (BTreeSet<String>, String)> {
    let path = crate_root().join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let mut out = BTreeMap::new();
    for (no, line) in text.lines().enumerate() {
        let line = line.trim_end();
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let where_ = format!("{}:{}", path.display(), no + 1);
        let (seed, reason) = line
            .split_once('\t')
            .unwrap_or_else(|| panic!("{where_}: want `seed<TAB>class: reason`"));
        let seed: u64 = seed
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{where_}: `{seed}` is not a seed"));
        let (classes, _) = reason
            .split_once(':')
            .unwrap_or_else(|| panic!("{where_}: the reason starts with `class:`"));
        let classes = classes.split('+').map(|c| c.trim().to_string()).collect();
        if out
            .insert(seed, (classes, reason.trim().to_string()))
            .is_some()
        {
            panic!("{where_}: seed {seed} listed twice");
        }
    }
    out
}

fn seeds(default: std::ops::Range<u64>) -> std::ops::Range<u64> {
    seeds_from("SCHEMAPLAN_PROPERTY_SEEDS", default)
}

fn seeds_from(var: &str, default: std::ops::Range<u64>) -> std::ops::Range<u64> {
    let Ok(spec) = std::env::var(var) else {
        return default;
    };
    let (a, b) = spec
        .split_once("..")
        .unwrap_or_else(|| panic!("{var}={spec}: want `a..b`"));
    a.trim().parse().expect("seed range start")..b.trim().parse().expect("seed range end")
}

struct Outcome {
    seed: u64,
    verdict: Verdict,
    seconds: f64,
}

/// Runs the seeds two at a time (`SCHEMAPLAN_PROPERTY_JOBS`).
fn run_seeds(range: std::ops::Range<u64>, bin: &Bin, draw: fn(u64) -> gen::Case) -> Vec<Outcome> {
    let seeds: Vec<u64> = range.collect();
    let jobs: usize = std::env::var("SCHEMAPLAN_PROPERTY_JOBS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2)
        .max(1);
    let next = AtomicUsize::new(0);
    let out = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..jobs.min(seeds.len().max(1)) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(&seed) = seeds.get(i) else { break };
                let t0 = Instant::now();
                let verdict = run::check(&draw(seed), bin);
                let seconds = t0.elapsed().as_secs_f64();
                let classes: Vec<&str> = verdict.classes().into_iter().collect();
                let refused = if verdict.refused.is_empty() {
                    String::new()
                } else {
                    format!(
                        " (plan refused units {:?}, a pass: {})",
                        verdict.refused, verdict.refusal
                    )
                };
                say(&format!(
                    "property seed {seed}{}: {}{refused} ({seconds:.1}s)",
                    if draw(0).flavour.is_empty() {
                        ""
                    } else {
                        " (kinds)"
                    },
                    if classes.is_empty() {
                        "ok".to_string()
                    } else {
                        format!("FAIL {}", classes.join(","))
                    }
                ));
                out.lock().unwrap().push(Outcome {
                    seed,
                    verdict,
                    seconds,
                });
            });
        }
    });
    let mut v = out.into_inner().unwrap();
    v.sort_by_key(|o| o.seed);
    v
}

/// Everything needed to reproduce a failure.
fn report(case: &gen::Case, v: &Verdict) -> String {
    let mut s = format!(
        "\n=== seed {} (plan --small-table {})\n{}",
        case.seed,
        case.small_table,
        case.summary()
    );
    for f in &v.failures {
        s.push_str(&format!("--- failed oracle: {}\n{}\n", f.class, f.detail));
    }
    s.push_str(&format!(
        "--- before.sql\n{}--- after.sql\n{}--- plan.sql\n{}\n",
        case.before_sql(),
        case.after_sql(),
        v.plan
    ));
    s
}

/// Whether `case` still fails with one of `classes`.
fn still_fails(case: &gen::Case, bin: &Bin, classes: &BTreeSet<&'static str>) -> bool {
    run::check(case, bin)
        .classes()
        .iter()
        .any(|c| classes.contains(c))
}

/// Drops units, then changes, then rows, one at a time, while the case still fails with one
/// of `classes`. Every attempt is a full run (a few seconds).
fn minimise(case: &gen::Case, bin: &Bin, classes: &BTreeSet<&'static str>) -> gen::Case {
    let mut cur = case.clone();
    let mut i = 0;
    while i < cur.units.len() && cur.units.len() > 1 {
        let mut t = cur.clone();
        t.units.remove(i);
        if still_fails(&t, bin, classes) {
            cur = t;
        } else {
            i += 1;
        }
    }
    for u in 0..cur.units.len() {
        let mut c = 0;
        while c < cur.units[u].changes.len() && cur.units[u].changes.len() > 1 {
            let mut t = cur.clone();
            t.units[u].changes.remove(c);
            if still_fails(&t, bin, classes) {
                cur = t;
            } else {
                c += 1;
            }
        }
        // The table itself: drop columns, constraints, indexes, ... one at a time.
        loop {
            let mut progressed = false;
            for smaller in cur.units[u].shrunk() {
                let mut t = cur.clone();
                t.units[u] = smaller;
                if still_fails(&t, bin, classes) {
                    cur = t;
                    progressed = true;
                    break;
                }
            }
            if !progressed {
                break;
            }
        }
        // Rows: all, then halves, then one at a time (bounded).
        let mut t = cur.clone();
        t.units[u].rows.clear();
        if still_fails(&t, bin, classes) {
            cur = t;
            continue;
        }
        let mut budget = 12;
        let mut r = 0;
        while r < cur.units[u].rows.len() && cur.units[u].rows.len() > 1 && budget > 0 {
            budget -= 1;
            let mut t = cur.clone();
            let n = t.units[u].rows.len();
            let cut = if n >= 8 && r == 0 { n / 2 } else { 1 };
            t.units[u].rows.drain(r..r + cut);
            if still_fails(&t, bin, classes) {
                cur = t;
            } else {
                r += cut;
            }
        }
    }
    cur
}

/// Writes the minimal case in the fixture format; returns the directory.
fn write_fixture(case: &gen::Case, classes: &BTreeSet<&'static str>) -> PathBuf {
    let dir = crate_root()
        .join("target/property")
        .join(format!("{}seed-{}", case.flavour, case.seed));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("before.sql"), case.before_sql()).unwrap();
    std::fs::write(dir.join("after.sql"), case.after_sql()).unwrap();
    let classes: Vec<&str> = classes.iter().copied().collect();
    std::fs::write(
        dir.join("expect.txt"),
        format!(
            "# found by tests/property.rs, seed {} (failed: {}), minimised\nplan-args --small-table {}\n",
            case.seed,
            classes.join(", "),
            case.small_table
        ),
    )
    .unwrap();
    dir
}

/// Prints a failure and its minimal form.
fn explain(case: gen::Case, v: &Verdict, bin: &Bin, minimise_it: bool) -> String {
    let mut s = report(&case, v);
    let classes = v.classes();
    let minimise_it =
        minimise_it && std::env::var("SCHEMAPLAN_PROPERTY_MINIMIZE").as_deref() != Ok("0");
    if minimise_it {
        let small = minimise(&case, bin, &classes);
        let dir = write_fixture(&small, &classes);
        s.push_str(&format!(
            "--- minimal case (also in {}/; copy to fixtures/<category>/<case>/):\n\
             --- fixtures/<category>/<case>/before.sql\n{}--- fixtures/<category>/<case>/after.sql\n{}",
            dir.display(),
            small.before_sql(),
            small.after_sql()
        ));
    }
    s
}

/// Runs the cases `draw` makes of `range`, against the known failures listed in `known_file`.
fn check_range(
    range: std::ops::Range<u64>,
    soak: bool,
    draw: fn(u64) -> gen::Case,
    known_file: &str,
) {
    let server = common::server();
    server.ensure_corpus_roles();
    let known = known_failures(known_file);
    let known_classes: BTreeSet<String> = known.values().flat_map(|(c, _)| c.clone()).collect();
    let bin = Bin::new();
    let t0 = Instant::now();
    say(&format!(
        "property: seeds {range:?}, {} units each",
        draw(range.start).units.len()
    ));
    let outcomes = run_seeds(range.clone(), &bin, draw);

    let mut passed = 0;
    let mut refused = 0;
    let mut known_failed = Vec::new();
    let mut unexpected = Vec::new();
    let mut fixed = Vec::new();
    let mut text = String::new();
    for o in &outcomes {
        refused += o.verdict.refused.len();
        let classes: BTreeSet<String> = o.verdict.classes().iter().map(|c| c.to_string()).collect();
        let listed = known.get(&o.seed);
        match (classes.is_empty(), listed) {
            (true, None) => passed += 1,
            (true, Some(_)) => fixed.push(o.seed),
            (false, Some((allowed, _))) if classes.is_subset(allowed) => known_failed.push(o.seed),
            (false, None) if soak && classes.is_subset(&known_classes) => {
                known_failed.push(o.seed);
                text.push_str(&format!(
                    "\nseed {} fails with known classes {classes:?} (not minimised):",
                    o.seed
                ));
                // The first line of each failure: a known class can hide a new cause.
                for f in &o.verdict.failures {
                    let first = f
                        .detail
                        .lines()
                        .find(|l| l.starts_with("error"))
                        .or_else(|| f.detail.lines().next())
                        .unwrap_or("");
                    text.push_str(&format!("\n  {}: {}", f.class, first));
                }
            }
            (false, _) => {
                unexpected.push(o.seed);
                text.push_str(&explain(draw(o.seed), &o.verdict, &bin, true));
            }
        }
    }
    for o in &outcomes {
        if known_failed.contains(&o.seed) && !soak {
            text.push_str(&format!(
                "\nseed {} known ({}): {:?}",
                o.seed,
                known[&o.seed].1,
                o.verdict.classes()
            ));
        }
    }
    say(&text);
    let units: usize = range.clone().map(|s| draw(s).units.len()).sum();
    let changes: usize = range
        .clone()
        .map(|s| draw(s).units.iter().map(|u| u.changes.len()).sum::<usize>())
        .sum();
    say(&format!(
        "property: {} seeds ({units} tables, {changes} changes), {passed} passed, {} known failures, \
         {} unexpected failures {:?}, {} listed but passing {:?}; plan refused {refused} lossy unit(s) (a pass) ({:.0}s, slowest seed {:.1}s)",
        outcomes.len(),
        known_failed.len(),
        unexpected.len(),
        unexpected,
        fixed.len(),
        fixed,
        t0.elapsed().as_secs_f64(),
        outcomes.iter().map(|o| o.seconds).fold(0.0, f64::max)
    ));
    assert!(
        unexpected.is_empty() && fixed.is_empty(),
        "property test: failing seeds not listed in tests/property-known-failures.txt (or failing \
         with another class) in {known_file}: {unexpected:?}; listed but passing (remove them): \
         {fixed:?}"
    );
}

const KNOWN: &str = "tests/property-known-failures.txt";
const KINDS_KNOWN: &str = "tests/property-kinds-known-failures.txt";

#[test]
fn property_seeded() {
    check_range(seeds(0..DEFAULT_SEEDS), false, draw::case, KNOWN);
}

/// Soak: `SCHEMAPLAN_PROPERTY_SEEDS=1000..2000 cargo test --test property -- --ignored`.
#[test]
#[ignore]
fn property_soak() {
    check_range(seeds(1000..1100), true, draw::case, KNOWN);
}

/// Seeds of the default kinds run: each case is one unit of every kind of `kinds::KINDS`.
const KINDS_DEFAULT_SEEDS: u64 = 2;

/// The other kinds (operators, casts, text search, foreign data, publications, event
/// triggers, aggregates, collations, carried-over statistics and rules) around tables with
/// rows: `SCHEMAPLAN_PROPERTY_KINDS_SEEDS=a..b` for more seeds (listed failures:
/// `tests/property-kinds-known-failures.txt`).
#[test]
fn property_kinds_seeded() {
    check_range(
        seeds_from("SCHEMAPLAN_PROPERTY_KINDS_SEEDS", 0..KINDS_DEFAULT_SEEDS),
        false,
        kinds::case,
        KINDS_KNOWN,
    );
}

/// Soak of the kinds cases: `SCHEMAPLAN_PROPERTY_KINDS_SEEDS=100..200 cargo test --test
/// property -- --ignored property_kinds_soak`.
#[test]
#[ignore]
fn property_kinds_soak() {
    check_range(
        seeds_from("SCHEMAPLAN_PROPERTY_KINDS_SEEDS", 100..140),
        true,
        kinds::case,
        KINDS_KNOWN,
    );
}

/// Dropped `NOT NULL` columns without a default, in several shapes, run as one case in
/// `cargo test` (soak seeds 150 and 201 found it): on a table with rows the rollback adds them
/// back nullable (their values are gone after contract) and the plan's inverse says so; the
/// rollback oracle expects exactly that (`run::rollback_leaves`), and only there: a dropped
/// `NOT NULL` column with a default, or on an empty table, comes back `NOT NULL`. A CHECK over
/// such a column comes back `NOT VALID` (`contract::unrestorable`), on a renamed table too.
#[test]
fn property_dropped_not_null_columns() {
    use gen::{Case, Change, Col, Table, Ty, Unit};
    let col = |name: &str, ty: Ty, not_null: bool, default: Option<&str>| Col {
        name: name.into(),
        ty,
        not_null,
        default: default.map(str::to_string),
        comment: None,
        backfill: None,
        renamed_from: None,
        collation: None,
    };
    let table = |base: &str, pk: bool, cols: Vec<Col>| {
        Table::plain(
            base,
            pk,
            [vec![col("id", Ty::Int, true, None)], cols].concat(),
        )
    };
    let v = |s: &str| Some(s.to_string());
    let drop = |c: &str| Change::DropColumn(c.into());
    // An enum column with a primary key beside it (seed 150's shape).
    let mut t0 = table(
        "t0",
        true,
        vec![
            col("c0", Ty::Text, true, None),
            col("kind", Ty::Enum, true, None),
        ],
    );
    t0.enum_labels = Some(vec!["a".into(), "b".into()]);
    // Two of them from one table without a key, and one with a default (restorable).
    let mut t1 = table(
        "t1",
        false,
        vec![
            col("c0", Ty::BigInt, true, None),
            col("c1", Ty::Varchar(20), true, None),
            col("c2", Ty::Int, true, Some("7")),
        ],
    );
    // A CHECK over a dropped column comes back NOT VALID (NULL on every row may break it).
    let check = |name: &str, col: &str| gen::Check {
        name: name.into(),
        col: col.into(),
        bound: 20,
    };
    t1.checks.push(check("t1_c1_len", "c1"));
    // The table renamed in the same plan, and a comment on the column.
    let mut t2 = table("t2", true, vec![col("c0", Ty::Date, true, None)]);
    t2.cols[1].comment = Some("column c0".into());
    t2.checks.push(check("t2_c0_len", "c0"));
    // An empty table: nothing lost, so NOT NULL comes back.
    let t3 = table("t3", false, vec![col("c0", Ty::Numeric(12, 2), true, None)]);
    // Another column of the table made NOT NULL while this one goes (seed 201's shape).
    let t4 = table(
        "t4",
        false,
        vec![
            col("c0", Ty::SmallInt, false, None),
            col("c1", Ty::BigInt, true, None),
        ],
    );
    let unit = |t: Table, changes: Vec<Change>, rows: Vec<Vec<gen::Val>>| Unit {
        before: Some(t),
        changes,
        rows,
        extra: None,
    };
    let case = Case {
        seed: 9_000_001,
        units: vec![
            unit(
                t0,
                vec![drop("kind")],
                vec![
                    vec![v("1"), v("'x'"), v("'b'")],
                    vec![v("2"), v("''"), v("'a'")],
                ],
            ),
            unit(
                t1,
                vec![drop("c0"), drop("c1"), drop("c2")],
                vec![
                    vec![v("1"), v("9223372036854775807"), v("'it''s'"), v("3")],
                    vec![v("4"), v("-1"), v("''"), v("7")],
                ],
            ),
            unit(
                t2,
                vec![Change::RenameTable("t2_renamed".into()), drop("c0")],
                vec![vec![v("1"), v("'infinity'")]],
            ),
            unit(t3, vec![drop("c0")], vec![]),
            unit(
                t4,
                vec![Change::SetNotNull("c0".into(), true), drop("c1")],
                vec![
                    vec![v("1"), v("5"), v("0")],
                    vec![v("2"), v("-32768"), v("1")],
                ],
            ),
        ],
        small_table: "0",
        flavour: "",
    };
    common::server().ensure_corpus_roles();
    let bin = Bin::new();
    let verdict = run::check(&case, &bin);
    assert!(
        verdict.failures.is_empty(),
        "dropped NOT NULL columns:{}",
        report(&case, &verdict)
    );
}

#[test]
fn generator_is_deterministic() {
    for seed in 0..50 {
        let (a, b) = (draw::case(seed), draw::case(seed));
        assert_eq!(a.before_sql(), b.before_sql());
        assert_eq!(a.after_sql(), b.after_sql());
        let (a, b) = (kinds::case(seed), kinds::case(seed));
        assert_eq!(a.before_sql(), b.before_sql());
        assert_eq!(a.after_sql(), b.after_sql());
    }
}
