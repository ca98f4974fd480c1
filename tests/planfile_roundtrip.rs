//! plan.sql -> Plan -> plan.sql: the reader gives back exactly what the renderer wrote, for SQL
//! that is hard to split (dollar quotes, semicolons in strings, comments, look-alike step lines).

use schemaplan::plan::{
    Direction, Hazard, LockLevel, LockTimeout, Phase, Plan, StatementTimeout, Step, TxMode,
};
use schemaplan::planfile::{self, PlanFileError};
use schemaplan::render::{plan_sql, write_plan_dir};
use std::time::Duration;

fn step(summary: &str, sql: &str) -> Step {
    Step {
        summary: summary.to_string(),
        sql: sql.to_string(),
        phase: Phase::Expand,
        transaction: TxMode::Transaction,
        lock: LockLevel::AccessExclusive,
        lock_target: Some("public.t".to_string()),
        lock_timeout: Some(LockTimeout(Duration::from_millis(500))),
        statement_timeout: Some(StatementTimeout(Duration::from_secs(300))),
        hazards: vec![],
        notes: vec![],
    }
}

fn plan(steps: Vec<Step>) -> Plan {
    Plan {
        id: "20261121T101500Z_tricky".to_string(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        direction: Direction::Forward,
        from: "0".repeat(64),
        to: "a".repeat(64),
        steps,
        from_objects: Default::default(),
        unproven: None,
        scope: Default::default(),
    }
}

fn tricky() -> Plan {
    let function = "CREATE FUNCTION public.f() RETURNS text\n    LANGUAGE plpgsql\n    AS $body$\nBEGIN\n-- step 2 | phase: expand | transaction: yes | lock: none | lock_timeout: none | statement_timeout: none | hazards: none\n  RETURN 'a;b'; -- a comment; with semicolon\nEND\n$body$;";
    let mut odd_target = step(
        "add column to a table with a | in its name",
        "ALTER TABLE public.\"a | b\" ADD COLUMN c int;",
    );
    odd_target.lock_target = Some("public.\"a | b\"".to_string());
    let mut newline = step(
        "rename table public.\"line\nbreak\"",
        "ALTER TABLE public.\"line\nbreak\" RENAME TO x;",
    );
    newline.lock_target = Some("public.\"line\nbreak\"".to_string());
    newline.notes = vec!["a note with \\ backslash".into(), "second note".into()];
    let mut cic = step(
        "create index public.i",
        "CREATE INDEX CONCURRENTLY i ON public.t (a);",
    );
    cic.transaction = TxMode::Alone;
    cic.lock = LockLevel::ShareUpdateExclusive;
    cic.hazards = vec![Hazard::IndexBuild, Hazard::NonTransactional];
    cic.lock_timeout = None;
    cic.statement_timeout = None;
    let mut contract = step(
        "drop column public.t.old",
        "ALTER TABLE public.t DROP COLUMN old;",
    );
    let mut backfill = step(
        "backfill public.t.b",
        "UPDATE public.t SET b = coalesce(a, 'x;y') WHERE b IS NULL;",
    );
    backfill.transaction = TxMode::Batched;
    backfill.lock = LockLevel::RowExclusive;
    contract.phase = Phase::Contract;
    contract.hazards = vec![Hazard::DataLoss];
    contract.lock_target = None;
    // Its UPDATE overwrites values: the header owns up to it (see planfile's honesty check).
    let mut dml = step(
        "insert with semicolons in strings",
        "INSERT INTO public.t VALUES ('a;b', 'c''; --d', E'\\n;');\nUPDATE public.t SET a = ';';",
    );
    dml.hazards = vec![Hazard::DataLoss];
    plan(vec![
        dml,
        step("create function public.f()", function),
        step("comments inside the SQL", "-- leading comment inside the step\nCREATE TABLE public.u (\n    a int -- trailing; comment\n);\n/* block\n-- step 9 | not a step\n*/\nSELECT 1;"),
        odd_target,
        newline,
        cic,
        backfill,
        contract,
    ])
}

#[test]
fn tricky_sql_round_trips() {
    let p = tricky();
    let text = plan_sql(&p);
    let back = planfile::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(back, p);
    assert_eq!(plan_sql(&back), text);
}

#[test]
fn empty_plan_round_trips() {
    let p = plan(vec![]);
    assert_eq!(planfile::parse(&plan_sql(&p)).unwrap(), p);
}

#[test]
fn read_dir_checks_direction_and_checksums_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("20261121T101500Z_tricky");
    let p = tricky();
    let inverse = Plan {
        direction: Direction::Inverse,
        ..plan(vec![])
    };
    write_plan_dir(&dir, &p, &inverse).unwrap();
    let file = planfile::read_dir(&dir, Direction::Forward).unwrap();
    assert_eq!(file.plan, p);
    assert_eq!(file.checksum, planfile::sha256_hex(plan_sql(&p).as_bytes()));
    assert_eq!(file.path, dir.join("plan.sql"));
    let inv = planfile::read_dir(&dir, Direction::Inverse).unwrap();
    assert_eq!(inv.plan.direction, Direction::Inverse);
    std::fs::copy(dir.join("plan.sql"), dir.join("inverse.sql")).unwrap();
    let err = planfile::read_dir(&dir, Direction::Inverse).unwrap_err();
    assert!(matches!(err, PlanFileError::Direction { .. }), "{err}");
}

fn parse_err(text: &str) -> String {
    planfile::parse(text).unwrap_err().to_string()
}

#[test]
fn missing_and_corrupt_files_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let err = planfile::read_dir(tmp.path(), Direction::Forward).unwrap_err();
    assert!(
        err.to_string().contains("plan.sql: cannot read plan file"),
        "{err}"
    );
    std::fs::write(tmp.path().join("plan.sql"), b"-- schemaplan plan\n\xff\xfe").unwrap();
    let err = planfile::read_dir(tmp.path(), Direction::Forward).unwrap_err();
    assert!(err.to_string().contains("not valid UTF-8"), "{err}");
    std::fs::write(tmp.path().join("plan.sql"), "CREATE TABLE x ();\n").unwrap();
    let err = planfile::read_dir(tmp.path(), Direction::Forward)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("plan.sql:1: not a schemaplan plan file"),
        "{err}"
    );
}

#[test]
fn malformed_lines_name_their_line() {
    let good = plan_sql(&tricky());
    let bad_header = good.replacen("-- direction: forward", "-- direction forward", 1);
    assert!(
        parse_err(&bad_header).starts_with(":4: malformed header line"),
        "{}",
        parse_err(&bad_header)
    );
    let bad_step = good.replacen(
        "| transaction: yes | lock: ACCESS EXCLUSIVE",
        "| transaction: maybe | lock: ACCESS EXCLUSIVE",
        1,
    );
    let line = bad_step.lines().position(|l| l.contains("maybe")).unwrap() + 1;
    assert!(
        parse_err(&bad_step).starts_with(&format!(":{line}: transaction must be")),
        "{}",
        parse_err(&bad_step)
    );
    let unknown_hazard = good.replacen(
        "hazards: data-loss\n",
        "hazards: data-loss, explosions\n",
        1,
    );
    assert!(parse_err(&unknown_hazard).contains("unknown hazard `explosions`"));
    let gap = good.replacen("-- step 3 |", "-- step 4 |", 1);
    assert!(
        parse_err(&gap).contains("expected step 3, found step 4"),
        "{}",
        parse_err(&gap)
    );
}

#[test]
fn truncated_file_is_refused() {
    let good = plan_sql(&tricky());
    let cut = &good[..good.find("-- step 6 |").unwrap()];
    let err = parse_err(cut);
    assert!(
        err.contains("header says `steps: 8`") && err.contains("5 step(s)"),
        "{err}"
    );
}

#[test]
fn other_versions_are_refused() {
    let good = plan_sql(&tricky());
    let newer = good.replacen(
        &format!("-- version: {}", env!("CARGO_PKG_VERSION")),
        "-- version: 9.4.0\n-- newfield: x",
        1,
    );
    let err = planfile::parse(&newer).unwrap_err();
    assert!(matches!(err, PlanFileError::Version { .. }), "{err}");
    assert!(err.to_string().contains("9.4.0"));
    let patch = good.replacen(
        &format!("-- version: {}", env!("CARGO_PKG_VERSION")),
        "-- version: 0.1.99",
        1,
    );
    assert!(planfile::parse(&patch).is_ok());
}

#[test]
fn header_must_match_steps() {
    let good = plan_sql(&tricky());
    let lying = good.replacen(
        "-- hazards: data-loss, index-build, non-transactional",
        "-- hazards: none",
        1,
    );
    assert!(
        parse_err(&lying).contains("header says `hazards: none`"),
        "{}",
        parse_err(&lying)
    );
}

#[test]
fn hand_edits_are_accepted() {
    // Within what the header says (ACCESS EXCLUSIVE, data-loss): comments, blank lines and a
    // narrower UPDATE.
    let mut backfill = step("backfill", "UPDATE public.t SET a = 1;");
    backfill.hazards = vec![Hazard::DataLoss];
    let mut text = plan_sql(&plan(vec![backfill]));
    text = text.replace(
        "UPDATE public.t SET a = 1;",
        "-- reviewed by ops: batch it\nUPDATE public.t SET a = 1 WHERE a IS NULL;\n\n\n",
    );
    let p = planfile::parse(&text).unwrap();
    assert_eq!(
        p.steps[0].sql,
        "-- reviewed by ops: batch it\nUPDATE public.t SET a = 1 WHERE a IS NULL;"
    );
}

#[test]
fn step_sql_is_checked_when_read() {
    let with = |s: Step| plan_sql(&plan(vec![step("first", "SELECT 1;"), s]));
    let line_of_step_2 = |text: &str| {
        text.lines()
            .position(|l| l.starts_with("-- step 2 |"))
            .unwrap()
            + 1
    };
    let cic = with(step(
        "index",
        "CREATE INDEX CONCURRENTLY i ON public.t (a);",
    ));
    let err = parse_err(&cic);
    assert!(
        err.starts_with(&format!(
            ":{}: step 2 is `transaction: yes` but CREATE INDEX CONCURRENTLY",
            line_of_step_2(&cic)
        )),
        "{err}"
    );
    let commit = with(step("sneaky", "UPDATE public.t SET a = 1;\nCOMMIT;"));
    assert!(
        parse_err(&commit).contains("step 2 contains transaction control"),
        "{}",
        parse_err(&commit)
    );
    let mut alone = step("vacuum", "VACUUM public.t;");
    alone.transaction = TxMode::Alone;
    assert!(planfile::parse(&with(alone)).is_ok());
    let mut batched = step("backfill", "UPDATE public.t SET a = 1;");
    batched.transaction = TxMode::Batched;
    let err = parse_err(&with(batched));
    assert!(
        err.contains("step 2: a `transaction: batched` step must be exactly one `UPDATE")
            && err.contains("add a WHERE that excludes finished rows"),
        "{err}"
    );
    let broken = with(step("typo", "ALTER TABEL public.t ADD COLUMN b int;"));
    assert!(
        parse_err(&broken).contains(
            "step 2: the SQL does not parse: Invalid statement: syntax error at or near \"TABEL\""
        ),
        "{}",
        parse_err(&broken)
    );
}

/// Every plan the planner wrote into a fixture snapshot (every PostgreSQL major) passes the
/// reader's honesty check: the headers the planner writes say at least what the statements
/// do (a lock that blocks traffic, a loss of rows), so `apply` never refuses a plan as written.
#[test]
fn every_planned_snapshot_header_owns_up_to_its_statements() {
    let zero = "0".repeat(64);
    let mut files = Vec::new();
    let mut dirs = vec![std::path::PathBuf::from("tests/snapshots")];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "snap") {
                files.push(p);
            }
        }
    }
    let mut checked = 0;
    let mut failures = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        // insta's front matter: `---\n...\n---\n`.
        let Some(body) = text.splitn(3, "---\n").nth(2) else {
            continue;
        };
        if !body.starts_with("-- schemaplan plan") {
            continue;
        }
        let body = body
            .replace("[fingerprint]", &zero)
            .replace("[id]", "snapshot");
        if let Err(e) = planfile::parse(&body) {
            failures.push(format!("{}: {e}", f.display()));
        }
        checked += 1;
    }
    assert!(checked > 300, "only {checked} plan snapshots found");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
