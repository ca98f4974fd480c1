//! Snapshot tests of the rendered files: reviewed like code.

use super::*;
use crate::plan::{
    Direction, Hazard, LockLevel, LockTimeout, Phase, Plan, StatementTimeout, Step, TxMode,
};
use std::time::Duration;

fn step(summary: &str, sql: &str, phase: Phase, transactional: bool) -> Step {
    Step {
        summary: summary.to_string(),
        sql: sql.to_string(),
        phase,
        transaction: if transactional {
            TxMode::Transaction
        } else {
            TxMode::Alone
        },
        lock: LockLevel::AccessExclusive,
        lock_target: Some("public.users".to_string()),
        lock_timeout: Some(LockTimeout(Duration::from_secs(1))),
        statement_timeout: Some(StatementTimeout(Duration::from_secs(60))),
        hazards: vec![],
        notes: vec![],
    }
}

pub(crate) fn sample() -> Plan {
    let mut index = step(
        "create index public.users_email_idx",
        "CREATE INDEX CONCURRENTLY users_email_idx ON public.users USING btree (email);",
        Phase::Expand,
        false,
    );
    index.lock = LockLevel::ShareUpdateExclusive;
    index.statement_timeout = Some(StatementTimeout(Duration::from_secs(3600)));
    index.hazards = vec![Hazard::IndexBuild, Hazard::NonTransactional];
    index.notes = vec!["built CONCURRENTLY: the table already has rows".to_string()];
    let mut drop = step(
        "drop column public.users.legacy",
        "ALTER TABLE public.users DROP COLUMN legacy;",
        Phase::Contract,
        true,
    );
    drop.hazards = vec![Hazard::DataLoss];
    Plan {
        id: "20261121T101500Z_add_users".to_string(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        direction: Direction::Forward,
        from: "3f".repeat(32),
        to: "9b".repeat(32),
        steps: vec![
            step(
                "create table public.users",
                "CREATE TABLE public.users (\n    id bigint NOT NULL,\n    email text\n);",
                Phase::Expand,
                true,
            ),
            step(
                "add column public.users.name",
                "ALTER TABLE public.users ADD COLUMN name text;",
                Phase::Expand,
                true,
            ),
            index,
            drop,
        ],
        from_objects: Default::default(),
        unproven: None,
        scope: Default::default(),
    }
}

fn empty_inverse() -> Plan {
    let p = sample();
    Plan {
        direction: Direction::Inverse,
        from: p.to.clone(),
        to: p.from.clone(),
        steps: vec![],
        ..p
    }
}

#[test]
fn plan_sql_snapshot() {
    insta::assert_snapshot!(plan_sql(&sample()));
}

#[test]
fn empty_plan_snapshot() {
    insta::assert_snapshot!(plan_sql(&empty_inverse()));
}

#[test]
fn plan_json_snapshot() {
    insta::assert_snapshot!(plan_json(&sample(), &empty_inverse()));
}

#[test]
fn summary_snapshot() {
    insta::assert_snapshot!(summary(&sample()));
}

#[test]
fn rendering_is_deterministic() {
    assert_eq!(plan_sql(&sample()), plan_sql(&sample().clone()));
}

#[test]
fn writes_a_whole_directory_and_replaces_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("plans").join("20261121T101500Z_add_users");
    write_plan_dir(&dir, &sample(), &empty_inverse()).unwrap();
    let sql = std::fs::read_to_string(dir.join("plan.sql")).unwrap();
    assert_eq!(sql, plan_sql(&sample()));
    write_plan_dir(&dir, &empty_inverse(), &sample()).unwrap();
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 3, "no temporary files left: {names:?}");
    let leftovers = std::fs::read_dir(dir.parent().unwrap()).unwrap().count();
    assert_eq!(leftovers, 1);
}

#[test]
fn a_plan_scope_is_written_in_the_header_and_reads_back() {
    let scope = crate::catalog::Scope::new(
        &["schema:app".to_string()],
        &[
            "schema:audit".to_string(),
            "table:app.legacy_{a,b}".to_string(),
        ],
    )
    .unwrap();
    let plan = Plan {
        scope: scope.clone(),
        ..sample()
    };
    let text = plan_sql(&plan);
    assert!(
        text.contains(
            "-- scope: include [\"schema:app\"] exclude [\"schema:audit\",\"table:app.legacy_{a,b}\"]\n"
        ),
        "{text}"
    );
    let back = crate::planfile::parse(&text).unwrap();
    assert_eq!(back.scope, scope);
    // Everything in scope: no line at all (plans made before scopes read the same).
    assert!(!plan_sql(&sample()).contains("-- scope:"));
    assert!(plan_json(&plan, &empty_inverse()).contains("\"exclude\": ["));
}
