//! `apply` and `status` against a real PostgreSQL server, with hand-written plan directories
//! (not the planner): grouping, rollback on failure, non-transactional steps, the apply lock,
//! lock-timeout retries, resume, the hazard and fingerprint gates, that no password leaks, and
//! that the bookkeeping (tables in schema `schemaplan`) is transactional, private and left out
//! of dumps that exclude the schema.
#![allow(clippy::result_large_err)]

mod common;
#[path = "common/exec.rs"]
mod support;

use schemaplan::exec::{
    self, ApplyOptions, ExecError, HazardAllow, OutcomeKind, PhaseSelect, PlanState, ProgressEvent,
};
use schemaplan::plan::{Direction, Hazard, Phase, TxMode};
use std::collections::BTreeSet;
use std::time::Duration;
use support::*;

#[test]
fn transaction_group_commits_atomically() {
    let f = Fixture::new(
        "group_commit",
        &[],
        vec![
            tx_step("create table public.a", "CREATE TABLE public.a (id int);"),
            tx_step(
                "create table public.b",
                "CREATE TABLE public.b (id int);\nINSERT INTO public.b VALUES (1);",
            ),
        ],
    );
    let mut events = Events::default();
    let outcome = exec::apply(&f.opts(), &mut events).unwrap();
    assert_eq!(outcome.kind, OutcomeKind::Applied);
    assert_eq!(outcome.steps_run, vec![1, 2]);
    let mut c = f.connect();
    // Both steps share one transaction id.
    let xmins: BTreeSet<String> = c
        .query(
            "SELECT xmin::text FROM pg_class WHERE oid IN ('public.a'::regclass, 'public.b'::regclass)",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(xmins.len(), 1, "one transaction: {xmins:?}");
    assert_eq!(f.history_outcomes(), vec!["succeeded".to_string()]);
    assert_eq!(
        f.journal(1),
        vec![
            (1, true, "succeeded".to_string()),
            (2, true, "succeeded".to_string())
        ]
    );
    assert!(events
        .0
        .iter()
        .any(|e| matches!(e, ProgressEvent::Committed { steps, .. } if steps == "1-2")));
}

#[test]
fn failure_mid_group_rolls_back_and_is_recorded() {
    let f = Fixture::with_target(
        "group_fail",
        &[],
        vec![
            tx_step("create table public.a", "CREATE TABLE public.a (id int);"),
            tx_step("create table public.b", "CREATE TABLE public.b (id int);"),
            tx_step("bad step", "SELECT 1 / 0;"),
        ],
        &[
            "CREATE TABLE public.a (id int)",
            "CREATE TABLE public.b (id int)",
        ],
    );
    let err = exec::apply(&f.opts(), &mut Events::default()).unwrap_err();
    match &err {
        ExecError::Step {
            number,
            sqlstate,
            error,
            ..
        } => {
            assert_eq!(*number, 3);
            assert_eq!(sqlstate.as_deref(), Some("22012"));
            assert!(error.contains("division by zero"), "{error}");
        }
        other => panic!("expected a step error, got {other}"),
    }
    assert!(
        err.to_string().contains("step 3/3 (bad step) failed"),
        "{err}"
    );
    let mut c = f.connect();
    let a: Option<String> = c
        .query_one("SELECT to_regclass('public.a')::text", &[])
        .unwrap()
        .get(0);
    assert_eq!(a, None, "the group was rolled back");
    let run = &f.book()["runs"][0];
    assert_eq!(run["outcome"], "failed");
    assert!(run["error"].as_str().unwrap().contains("division by zero"));
    assert_eq!(
        f.journal(1),
        vec![(3, true, "failed".to_string())],
        "rolled-back steps leave no journal entries"
    );
}

#[test]
fn non_transactional_step_runs_outside_a_transaction() {
    let f = Fixture::new(
        "cic",
        &[
            "CREATE TABLE public.t (x int)",
            "INSERT INTO public.t SELECT generate_series(1, 100)",
        ],
        vec![
            tx_step(
                "add column public.t.y",
                "ALTER TABLE public.t ADD COLUMN y int;",
            ),
            cic_step(
                "create index public.t_x",
                "CREATE INDEX CONCURRENTLY t_x ON public.t (x);",
            ),
            tx_step(
                "add column public.t.z",
                "ALTER TABLE public.t ADD COLUMN z int;",
            ),
        ],
    );
    let outcome = exec::apply(&f.opts(), &mut Events::default()).unwrap();
    assert_eq!(outcome.kind, OutcomeKind::Applied);
    let mut c = f.connect();
    let valid: bool = c
        .query_one(
            "SELECT indisvalid FROM pg_index WHERE indexrelid = 'public.t_x'::regclass",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(valid);
    assert_eq!(
        f.journal(1),
        vec![
            (1, true, "succeeded".into()),
            (2, false, "succeeded".into()),
            (3, true, "succeeded".into())
        ]
    );
    // Session-level timeouts were reset after the step.
    let lt: String = c.query_one("SHOW lock_timeout", &[]).unwrap().get(0);
    assert_eq!(lt, "0");
}

#[test]
fn a_second_apply_waits_or_fails_with_no_wait() {
    let f = Fixture::new(
        "advisory",
        &[],
        vec![tx_step("sleep", "SELECT pg_sleep(2);")],
    );
    let opts = f.opts();
    let first = std::thread::spawn(move || exec::apply(&opts, &mut Events::default()));
    wait_until(|| f.lock_held(), "the first apply to take the lock");
    let mut no_wait = f.opts();
    no_wait.no_wait = true;
    let err = exec::apply(&no_wait, &mut Events::default()).unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, ExecError::LockBusy { waited: None, .. }),
        "{text}"
    );
    assert!(
        text.contains("schemaplan apply 20261121T101500Z_advisory"),
        "names the holder: {text}"
    );
    let mut waiting = f.opts();
    waiting.lock_wait = Duration::from_secs(30);
    let mut events = Events::default();
    let second = exec::apply(&waiting, &mut events).unwrap();
    assert!(events
        .0
        .iter()
        .any(|e| matches!(e, ProgressEvent::WaitingForLock { .. })));
    assert_eq!(first.join().unwrap().unwrap().kind, OutcomeKind::Applied);
    assert_eq!(second.kind, OutcomeKind::AlreadyApplied);
}

#[test]
fn lock_timeout_is_retried_until_the_lock_is_free() {
    let f = Fixture::new(
        "retry",
        &["CREATE TABLE public.t (x int)"],
        vec![{
            let mut s = tx_step(
                "add column public.t.y",
                "ALTER TABLE public.t ADD COLUMN y int;",
            );
            s.lock_timeout = Some(schemaplan::plan::LockTimeout(Duration::from_millis(100)));
            s
        }],
    );
    // Once the run has started (checks done), another session takes ACCESS EXCLUSIVE on t and
    // keeps it until the first retry is reported.
    let mut holder = lock_holder(&f.url, "LOCK TABLE public.t IN ACCESS EXCLUSIVE MODE");
    let mut events = holder.events_releasing_on(|_| true);
    let outcome = exec::apply(&f.opts(), &mut events).unwrap();
    holder.thread.join().unwrap();
    assert_eq!(outcome.kind, OutcomeKind::Applied);
    assert!(outcome.retries >= 1, "retried: {:?}", events.inner.events.0);
    let retry = events
        .inner
        .events
        .0
        .iter()
        .find(|e| matches!(e, ProgressEvent::Retry { .. }));
    assert!(
        matches!(retry, Some(ProgressEvent::Retry { reason, attempt: 1, .. }) if reason.contains("55P03")),
        "{retry:?}"
    );
}

/// DDL behind a long transaction, with the plan's default `lock_timeout` (100 ms) and the
/// default retry policy: each attempt gives up quickly (releasing what it queued), the
/// transaction is retried after a growing, jittered delay, every retry is reported (and
/// rendered in the plain progress lines), and the step succeeds once the reader is gone.
#[test]
fn ddl_behind_a_long_transaction_is_retried_with_backoff_until_it_ends() {
    let f = Fixture::new(
        "retry_backoff",
        &[
            "CREATE TABLE public.t (x int)",
            "INSERT INTO public.t VALUES (1)",
        ],
        vec![{
            let mut s = tx_step(
                "add column public.t.y",
                "ALTER TABLE public.t ADD COLUMN y int;",
            );
            s.lock_timeout = Some(schemaplan::plan::LockTimeout(Duration::from_millis(
                schemaplan::plan::DEFAULT_LOCK_TIMEOUT_MS,
            )));
            s
        }],
    );
    // A long reader: its ACCESS SHARE lock on t conflicts with ADD COLUMN's ACCESS EXCLUSIVE.
    // It ends after the third retry.
    let mut reader = lock_holder(&f.url, "SELECT count(*) FROM public.t");
    let mut events = reader.events_releasing_on(|attempt| attempt == 3);
    let opts = f.opts();
    assert_eq!(opts.retry, schemaplan::exec::RetryPolicy::default());
    let outcome = exec::apply(&opts, &mut events).unwrap();
    reader.thread.join().unwrap();
    assert_eq!(outcome.kind, OutcomeKind::Applied);
    let retries: Vec<&ProgressEvent> = events
        .inner
        .events
        .0
        .iter()
        .filter(|e| matches!(e, ProgressEvent::Retry { .. }))
        .collect();
    assert!(retries.len() >= 3, "{:?}", events.inner.events.0);
    assert_eq!(outcome.retries as usize, retries.len());
    // Each retry names who holds the lock: the reader's session, idle in its transaction.
    let blocked: Vec<String> = events
        .inner
        .events
        .0
        .iter()
        .filter_map(|e| match e {
            ProgressEvent::Blocked { sessions, .. } => Some(
                sessions
                    .iter()
                    .map(|b| b.to_string())
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            _ => None,
        })
        .collect();
    assert_eq!(blocked.len(), retries.len(), "{blocked:?}");
    // The journal keeps them too: one entry per lock-timeout retry, in the step's row.
    let journal: Vec<String> = f
        .connect()
        .query(
            "SELECT b->>'attempt' || ': ' || (b->'sessions')::text \
             FROM schemaplan.steps s, jsonb_array_elements(s.blockers) b \
             WHERE s.run_id = 1 AND s.step = 1 AND s.outcome = 'succeeded' AND b ? 'at'",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(journal.len(), blocked.len(), "{journal:?}");
    assert!(journal[0].starts_with("1: "), "{journal:?}");
    assert!(
        journal
            .iter()
            .all(|j| j.contains("SELECT count(*) FROM public.t")),
        "{journal:?}"
    );
    for b in &blocked {
        for needle in [
            "idle in transaction",
            "transaction open",
            "AccessShareLock on public.t",
            "SELECT count(*) FROM public.t",
        ] {
            assert!(b.contains(needle), "{needle:?} not in {b}");
        }
    }
    for (i, e) in retries.iter().enumerate() {
        let ProgressEvent::Retry {
            attempt,
            max_attempts,
            reason,
            steps,
            ..
        } = e
        else {
            unreachable!()
        };
        assert_eq!(*attempt as usize, i + 1, "attempts count up: {retries:?}");
        assert_eq!(
            *max_attempts,
            schemaplan::exec::DEFAULT_LOCK_RETRIES + 1,
            "{e:?}"
        );
        assert!(reason.contains("55P03"), "{reason}");
        assert_eq!(steps, "1");
    }
    // The plain progress lines (CI logs) show each retry.
    let mut lines = schemaplan::exec::LineProgress::new(Vec::new());
    for e in &retries {
        schemaplan::exec::Progress::event(&mut lines, (*e).clone());
    }
    let text = String::from_utf8(lines.into_inner()).unwrap();
    let want = format!(
        "step 1: canceling statement due to lock timeout (SQLSTATE 55P03); undone, retry 1/{} in ",
        schemaplan::exec::DEFAULT_LOCK_RETRIES
    );
    assert!(text.contains(&want), "{text}");
    assert_eq!(text.lines().count(), retries.len(), "{text}");
    let mut c = f.connect();
    let cols: i64 = c
        .query_one(
            "SELECT count(*) FROM pg_attribute WHERE attrelid = 'public.t'::regclass AND attname = 'y'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(cols, 1);
    // The journal entry (written by the attempt that committed) counts every attempt.
    let book = f.book();
    let entry = &book["runs"][0]["steps"][0];
    assert_eq!(entry["outcome"], "succeeded", "{book}");
    assert_eq!(
        entry["attempts"].as_u64().unwrap() as usize,
        retries.len() + 1,
        "{book}"
    );
}

/// The retries are bounded (`apply --lock-retries`): a lock held past them fails the step with
/// the lock timeout, says how many attempts were made, and changes nothing.
#[test]
fn lock_retries_are_bounded() {
    let f = Fixture::new(
        "retry_bounded",
        &["CREATE TABLE public.t (x int)"],
        vec![{
            let mut s = tx_step(
                "add column public.t.y",
                "ALTER TABLE public.t ADD COLUMN y int;",
            );
            s.lock_timeout = Some(schemaplan::plan::LockTimeout(Duration::from_millis(50)));
            s
        }],
    );
    let mut holder = lock_holder(&f.url, "LOCK TABLE public.t IN ACCESS SHARE MODE");
    let mut events = OnStart {
        events: Events::default(),
        on_start: holder.take.take(),
    };
    let mut opts = f.opts();
    opts.retry.max_attempts = 3;
    opts.retry.base = Duration::from_millis(10);
    let err = exec::apply(&opts, &mut events).unwrap_err();
    holder.release.send(()).unwrap();
    holder.thread.join().unwrap();
    match &err {
        ExecError::Step {
            sqlstate, attempts, ..
        } => {
            assert_eq!(sqlstate.as_deref(), Some("55P03"));
            assert_eq!(*attempts, 3);
        }
        other => panic!("expected a step error, got {other}"),
    }
    assert!(err.to_string().contains("after 3 attempts"), "{err}");
    let retries = events
        .events
        .0
        .iter()
        .filter(|e| matches!(e, ProgressEvent::Retry { .. }))
        .count();
    assert_eq!(retries, 2);
    let mut c = f.connect();
    let cols: i64 = c
        .query_one(
            "SELECT count(*) FROM pg_attribute WHERE attrelid = 'public.t'::regclass AND attname = 'y'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(cols, 0);
}

/// A step given its plain form because its table was empty at plan time is refused when the
/// table has grown past the threshold since (re-plan advice, nothing changed); `--force` runs it
/// with a warning.
#[test]
fn table_grown_since_the_plan_is_refused_with_replan_advice() {
    let f = Fixture::new(
        "grew",
        &[
            "CREATE TABLE public.t (x int)",
            // some 1.8 MB of heap: over the default --small-table 1MB
            "INSERT INTO public.t SELECT generate_series(1, 50000)",
        ],
        vec![{
            let mut s = tx_step(
                "create index public.t_x",
                "CREATE INDEX t_x ON public.t (x);",
            );
            s.lock = schemaplan::plan::LockLevel::Share;
            s.notes = vec!["public.t was empty at plan time".to_string()];
            s
        }],
    );
    let err = exec::apply(&f.opts(), &mut Events::default()).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, ExecError::TablesGrew { .. }), "{text}");
    assert!(
        text.contains("step 1 (create index public.t_x): public.t is ")
            && text.contains(" now, over 1MB")
            && text.contains("run `schemaplan plan` again"),
        "{text}"
    );
    let mut c = f.connect();
    let index: Option<String> = c
        .query_one("SELECT to_regclass('public.t_x')::text", &[])
        .unwrap()
        .get(0);
    assert_eq!(index, None, "nothing ran");
    assert!(f.book()["runs"].as_array().is_none_or(|r| r.is_empty()));

    let mut forced = f.opts();
    forced.force = true;
    let outcome = exec::apply(&forced, &mut Events::default()).unwrap();
    assert_eq!(outcome.kind, OutcomeKind::Applied);
    assert!(
        outcome.warnings.iter().any(|w| w.contains("tables grew")),
        "{:?}",
        outcome.warnings
    );
}

#[test]
fn interrupted_concurrent_index_build_is_dropped_and_rebuilt() {
    let f = Fixture::new(
        "cic_retry",
        &["CREATE TABLE public.t (x int)"],
        vec![{
            let mut s = cic_step(
                "create index public.t_x",
                "CREATE INDEX CONCURRENTLY t_x ON public.t (x);",
            );
            s.lock_timeout = Some(schemaplan::plan::LockTimeout(Duration::from_millis(200)));
            s
        }],
    );
    // A transaction that wrote to t makes the build wait for it after the (invalid) index entry
    // is committed: the lock timeout then leaves an invalid index behind. The writer commits
    // when the first retry is reported (no sleeps: a slow machine cannot reorder this).
    let mut writer = lock_holder(&f.url, "INSERT INTO public.t VALUES (1)");
    let mut events = writer.events_releasing_on(|_| true);
    let outcome = exec::apply(&f.opts(), &mut events).unwrap();
    writer.thread.join().unwrap();
    assert_eq!(outcome.kind, OutcomeKind::Applied);
    assert!(outcome.retries >= 1);
    assert!(
        events
            .inner
            .events
            .0
            .iter()
            .any(|e| matches!(e, ProgressEvent::Warning(w) if w.contains("invalid index"))),
        "{:?}",
        events.inner.events.0
    );
    let attempts = f.book()["runs"][0]["steps"][0]["attempts"]
        .as_u64()
        .unwrap();
    assert!(attempts >= 2);
}

#[test]
fn resume_after_failure_skips_done_steps() {
    let f = Fixture::with_target(
        "resume",
        &[],
        vec![
            tx_step(
                "create table public.t",
                "CREATE TABLE public.t (x int);\nINSERT INTO public.t VALUES (-1);",
            ),
            cic_step(
                "create index public.t_x",
                "CREATE INDEX CONCURRENTLY t_x ON public.t (x);",
            ),
            tx_step(
                "add check public.t.pos",
                "ALTER TABLE public.t ADD CONSTRAINT pos CHECK (x > 0);",
            ),
        ],
        &[
            "CREATE TABLE public.t (x int)",
            "CREATE INDEX t_x ON public.t (x)",
            "ALTER TABLE public.t ADD CONSTRAINT pos CHECK (x > 0)",
        ],
    );
    let err = exec::apply(&f.opts(), &mut Events::default()).unwrap_err();
    assert!(matches!(err, ExecError::Step { number: 3, .. }), "{err}");
    assert!(err.to_string().contains("violated by some row"), "{err}");
    f.connect().batch_execute("DELETE FROM public.t").unwrap();
    let mut events = Events::default();
    let outcome = exec::apply(&f.opts(), &mut events).unwrap();
    assert_eq!(outcome.kind, OutcomeKind::Applied);
    assert_eq!(outcome.steps_skipped, vec![1, 2]);
    assert_eq!(outcome.steps_run, vec![3]);
    assert_eq!(f.history_outcomes(), vec!["failed", "succeeded"]);
}

#[test]
fn changed_plan_file_refuses_to_resume() {
    let f = Fixture::with_target(
        "resume_changed",
        &[],
        vec![
            tx_step("create table public.t", "CREATE TABLE public.t (x int);"),
            cic_step(
                "create index public.t_x",
                "CREATE INDEX CONCURRENTLY t_x ON public.t (x);",
            ),
            tx_step("fails", "SELECT 1 / 0;"),
        ],
        &[
            "CREATE TABLE public.t (x int)",
            "CREATE INDEX t_x ON public.t (x)",
        ],
    );
    assert!(exec::apply(&f.opts(), &mut Events::default()).is_err());
    let path = f.dir.join("plan.sql");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("SELECT 1 / 0;", "SELECT 1;");
    std::fs::write(&path, text).unwrap();
    let err = exec::apply(&f.opts(), &mut Events::default()).unwrap_err();
    assert!(matches!(err, ExecError::ChecksumChanged { .. }), "{err}");
    let mut forced = f.opts();
    forced.force = true;
    let outcome = exec::apply(&forced, &mut Events::default()).unwrap();
    assert_eq!(outcome.steps_run, vec![3]);
    assert!(!outcome.warnings.is_empty());
}

#[test]
fn hazards_must_be_allowed() {
    let mut drop = tx_step(
        "drop column public.t.old",
        "ALTER TABLE public.t DROP COLUMN old;",
    );
    drop.hazards = vec![Hazard::DataLoss];
    let f = Fixture::new(
        "hazards",
        &["CREATE TABLE public.t (id int, old text)"],
        vec![drop],
    );
    let mut opts = f.opts();
    opts.allow_hazards = HazardAllow::None;
    let err = exec::apply(&opts, &mut Events::default()).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, ExecError::Hazards { .. }), "{text}");
    assert!(
        text.contains("step 1 (drop column public.t.old): data-loss"),
        "{text}"
    );
    assert!(text.contains("--allow-hazards data-loss"), "{text}");
    assert!(f.history_outcomes().is_empty(), "no run recorded");
    opts.allow_hazards = HazardAllow::Some([Hazard::DataLoss].into_iter().collect());
    assert_eq!(
        exec::apply(&opts, &mut Events::default()).unwrap().kind,
        OutcomeKind::Applied
    );
}

#[test]
fn from_fingerprint_mismatch_refuses_unless_forced() {
    let f = Fixture::new(
        "from_mismatch",
        &[],
        vec![tx_step(
            "create table public.t",
            "CREATE TABLE public.t (x int);",
        )],
    );
    f.connect()
        .batch_execute("CREATE TABLE public.drifted (x int)")
        .unwrap();
    let err = exec::apply(&f.opts(), &mut Events::default()).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, ExecError::FromMismatch { .. }), "{text}");
    assert!(text.contains("run `schemaplan plan` again"), "{text}");
    let mut forced = f.opts();
    forced.force = true;
    let mut events = Events::default();
    // Forced: the steps run, but the result is not the plan's `to` (the drifted table is there).
    let err = exec::apply(&forced, &mut events).unwrap_err();
    assert!(matches!(err, ExecError::Verify { .. }), "{err}");
    assert!(events
        .0
        .iter()
        .any(|e| matches!(e, ProgressEvent::Warning(w) if w.contains("--force"))));
    assert_eq!(f.history_outcomes(), vec!["failed"]);
}

#[test]
fn password_never_appears() {
    let f = Fixture::with_target(
        "password",
        &[],
        vec![tx_step("fails", "SELECT 1 / 0;")],
        &[],
    );
    let secret = "s3cret-pw-XyZ";
    let role = format!("sp_pw_{}", std::process::id());
    let mut admin = f.connect();
    admin
        .batch_execute(&format!(
            "DROP ROLE IF EXISTS {role}; CREATE ROLE {role} LOGIN SUPERUSER PASSWORD '{secret}'"
        ))
        .unwrap();
    let url = with_user(&f.url, &role, secret);
    let mut opts = f.opts();
    opts.db_url = url.clone();
    let mut out = exec::LineProgress::new(Vec::new());
    let err = exec::apply(&opts, &mut out).unwrap_err();
    let mut texts = vec![
        err.to_string(),
        format!("{err:?}"),
        String::from_utf8(out.into_inner()).unwrap(),
    ];
    texts.push(f.book().to_string());
    let status = exec::status(&url, f.plans.path()).unwrap();
    texts.push(format!("{status:?}"));
    let mut closed = url::Url::parse(&url).unwrap();
    closed.set_port(Some(1)).unwrap();
    texts.push(
        exec::status(closed.as_str(), f.plans.path())
            .unwrap_err()
            .to_string(),
    );
    let malformed = format!("postgresql://{role}:{secret}@127.0.0.1:notaport/x");
    texts.push(
        exec::status(&malformed, f.plans.path())
            .unwrap_err()
            .to_string(),
    );
    let mut lock_busy = opts.clone();
    lock_busy.no_wait = true;
    let mut holder = f.connect();
    holder
        .query(
            "SELECT pg_advisory_lock($1, $2)",
            &[&exec::LOCK_CLASS, &exec::LOCK_APPLY],
        )
        .unwrap();
    texts.push(
        exec::apply(&lock_busy, &mut Events::default())
            .unwrap_err()
            .to_string(),
    );
    drop(holder);
    for t in &texts {
        assert!(!t.contains(secret), "password leaked: {t}");
    }
    assert!(
        texts.iter().any(|t| t.contains(&format!("{role} ("))),
        "started_by names the database user"
    );
    let _ = admin.batch_execute(&format!("DROP ROLE IF EXISTS {role}"));
}

#[test]
fn bookkeeping_tables_are_queryable_and_excluded_from_the_dump() {
    // pg_dump is Debian's 15 and refuses newer servers (the version matrix runs 16-18).
    let major = common::server().version_num() / 10000;
    if major > 15 {
        eprintln!("skipped: pg_dump 15 cannot dump a PostgreSQL {major} server");
        return;
    }
    let f = Fixture::new(
        "pg_dump",
        &[],
        vec![
            tx_step("create table public.t", "CREATE TABLE public.t (x int);"),
            cic_step(
                "create index public.t_x",
                "CREATE INDEX CONCURRENTLY t_x ON public.t (x);",
            ),
        ],
    );
    let before = pg_dump_schema(&f.url);
    assert!(!before.contains("schemaplan"), "{before}");
    exec::apply(&f.opts(), &mut Events::default()).unwrap();
    assert_eq!(f.history_outcomes(), vec!["succeeded"]);
    let dump = pg_dump_schema(&f.url);
    assert!(dump.contains("CREATE TABLE public.t"), "{dump}");
    assert!(dump.contains("CREATE INDEX t_x"), "{dump}");
    for unwanted in ["schemaplan", "LARGE OBJECT", "lo_create", "lo_open"] {
        assert!(!dump.contains(unwanted), "{unwanted} in the dump:\n{dump}");
    }
    // The bookkeeping is in two tables, readable with SQL; no large object.
    let mut c = f.connect();
    let runs: Vec<(i64, String, String)> = c
        .query(
            "SELECT run_id, plan_id, outcome FROM schemaplan.runs ORDER BY run_id",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        runs,
        vec![(
            1,
            "20261121T101500Z_pg_dump".to_string(),
            "succeeded".to_string()
        )]
    );
    let steps: i64 = c
        .query_one(
            "SELECT count(*) FROM schemaplan.steps WHERE run_id = 1 AND outcome = 'succeeded'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(steps, 2);
    let los: i64 = c
        .query_one("SELECT count(*) FROM pg_largeobject_metadata", &[])
        .unwrap()
        .get(0);
    assert_eq!(los, 0);
}

#[test]
fn bookkeeping_is_private_to_the_applying_role() {
    let f = Fixture::new(
        "private",
        &[],
        vec![tx_step(
            "create table public.t",
            "CREATE TABLE public.t (x int);",
        )],
    );
    exec::apply(&f.opts(), &mut Events::default()).unwrap();
    let role = format!("sp_other_{}", std::process::id());
    let secret = "other-pw";
    let mut admin = f.connect();
    admin
        .batch_execute(&format!(
            "DROP ROLE IF EXISTS {role}; CREATE ROLE {role} LOGIN PASSWORD '{secret}'"
        ))
        .unwrap();
    let other_url = with_user(&f.url, &role, secret);
    let mut other = schemaplan::db::connect(&other_url).unwrap();
    let err = other
        .query_one("SELECT count(*) FROM schemaplan.runs", &[])
        .unwrap_err();
    assert_eq!(err.code().map(|c| c.code()), Some("42501"), "{err}");
    // `status` as that role names the GRANTs it needs instead of reporting wrong states.
    let err = exec::status(&other_url, f.plans.path()).unwrap_err();
    assert!(matches!(err, ExecError::BookPrivileges { .. }), "{err}");
    assert!(
        err.to_string()
            .contains(&format!("GRANT USAGE ON SCHEMA schemaplan TO {role}")),
        "{err}"
    );
    drop(other);
    admin
        .batch_execute(&format!("DROP OWNED BY {role}; DROP ROLE IF EXISTS {role}"))
        .unwrap();
}

#[test]
fn failed_group_leaves_no_journal_entries_of_its_own() {
    let f = Fixture::with_target(
        "tx_journal",
        &["CREATE TABLE public.t (x int)"],
        vec![
            tx_step("create table public.a", "CREATE TABLE public.a (id int);"),
            cic_step(
                "create index public.t_x",
                "CREATE INDEX CONCURRENTLY t_x ON public.t (x);",
            ),
            tx_step("create table public.b", "CREATE TABLE public.b (id int);"),
            tx_step("bad step", "SELECT 1 / 0;"),
        ],
        &[],
    );
    let err = exec::apply(&f.opts(), &mut Events::default()).unwrap_err();
    assert!(matches!(err, ExecError::Step { number: 4, .. }), "{err}");
    // Steps 1 and 2 (their own units) committed with their entries; step 3 shared the failed
    // transaction with step 4 and left neither the table nor an entry.
    assert_eq!(
        f.journal(1),
        vec![
            (1, true, "succeeded".to_string()),
            (2, false, "succeeded".to_string()),
            (4, true, "failed".to_string())
        ]
    );
    let b_missing: bool = f
        .connect()
        .query_one("SELECT to_regclass('public.b') IS NULL", &[])
        .unwrap()
        .get(0);
    assert!(b_missing);
}

/// A large object at the OID older versions used that is not a bookkeeping document is not
/// schemaplan's: apply runs (the history goes to the tables) and leaves it as it was.
#[test]
fn leaves_a_foreign_large_object_alone() {
    let f = Fixture::new(
        "foreign_lo",
        &[],
        vec![tx_step(
            "create table public.t",
            "CREATE TABLE public.t (x int);",
        )],
    );
    let mut c = f.connect();
    c.execute(
        "SELECT lo_from_bytea($1, convert_to('not ours', 'UTF8'))",
        &[&exec::BOOK_OID],
    )
    .unwrap();
    assert_eq!(
        exec::apply(&f.opts(), &mut Events::default()).unwrap().kind,
        OutcomeKind::Applied
    );
    assert_eq!(f.history_outcomes(), vec!["succeeded"]);
    let untouched: String = c
        .query_one(
            "SELECT convert_from(lo_get($1), 'UTF8')",
            &[&exec::BOOK_OID],
        )
        .unwrap()
        .get(0);
    assert_eq!(untouched, "not ours");
}

#[test]
fn function_bodies_are_not_checked_against_later_steps() {
    let f = Fixture::with_target(
        "fn_bodies",
        &[],
        vec![
            tx_step(
                "create function public.n",
                "CREATE FUNCTION public.n() RETURNS bigint LANGUAGE sql AS 'SELECT count(*) FROM public.later';",
            ),
            tx_step("create table public.later", "CREATE TABLE public.later (x int);"),
        ],
        &[
            "CREATE TABLE public.later (x int)",
            "CREATE FUNCTION public.n() RETURNS bigint LANGUAGE sql AS 'SELECT count(*) FROM public.later'",
        ],
    );
    let outcome = exec::apply(&f.opts(), &mut Events::default()).unwrap();
    assert_eq!(outcome.kind, OutcomeKind::Applied);
}

#[test]
fn dry_run_changes_nothing() {
    let f = Fixture::new(
        "dry_run",
        &[],
        vec![
            tx_step("create table public.t", "CREATE TABLE public.t (x int);"),
            cic_step(
                "create index public.t_x",
                "CREATE INDEX CONCURRENTLY t_x ON public.t (x);",
            ),
        ],
    );
    let mut opts = f.opts();
    opts.dry_run = true;
    let mut events = Events::default();
    let outcome = exec::apply(&opts, &mut events).unwrap();
    assert_eq!(outcome.kind, OutcomeKind::DryRun);
    assert_eq!(outcome.steps_run, vec![1, 2]);
    let text: Vec<String> = events.0.iter().map(exec::describe).collect();
    assert!(
        text.iter()
            .any(|t| t.contains("would run step 2 alone, outside a transaction")),
        "{text:?}"
    );
    let untouched: bool = f
        .connect()
        .query_one(
            "SELECT to_regnamespace('schemaplan') IS NULL AND to_regclass('public.t') IS NULL \
               AND NOT EXISTS (SELECT FROM pg_largeobject_metadata WHERE oid = $1)",
            &[&exec::BOOK_OID],
        )
        .unwrap()
        .get(0);
    assert!(untouched);
}

#[test]
fn expand_then_contract() {
    let mut contract = tx_step(
        "drop column public.t.old",
        "ALTER TABLE public.t DROP COLUMN old;",
    );
    contract.phase = Phase::Contract;
    contract.hazards = vec![Hazard::DataLoss];
    let f = Fixture::new(
        "phases",
        &["CREATE TABLE public.t (id int, old text)"],
        vec![
            tx_step(
                "add column public.t.new",
                "ALTER TABLE public.t ADD COLUMN new text;",
            ),
            contract,
        ],
    );
    let mut contract_first = f.opts();
    contract_first.phase = PhaseSelect::Contract;
    let err = exec::apply(&contract_first, &mut Events::default()).unwrap_err();
    assert!(
        matches!(err, ExecError::EarlierStepsMissing { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("--phase expand"), "{err}");
    let expand = exec::apply(&f.opts(), &mut Events::default()).unwrap();
    assert_eq!(
        expand.kind,
        OutcomeKind::PhaseApplied {
            next: Phase::Contract
        }
    );
    assert!(
        expand.message.contains("--phase contract"),
        "{}",
        expand.message
    );
    let again = exec::apply(&f.opts(), &mut Events::default()).unwrap();
    assert_eq!(
        again.kind,
        OutcomeKind::PhaseApplied {
            next: Phase::Contract
        }
    );
    let st = exec::status(&f.url, f.plans.path()).unwrap();
    assert_eq!(
        st[0].state,
        PlanState::PartiallyApplied {
            next: Phase::Contract
        }
    );
    let done = exec::apply(&contract_first, &mut Events::default()).unwrap();
    assert_eq!(done.kind, OutcomeKind::Applied);
    assert_eq!(done.steps_run, vec![2]);
}

#[test]
fn status_and_rollback() {
    let f = Fixture::new_with_inverse(
        "status",
        &[],
        vec![tx_step(
            "create table public.t",
            "CREATE TABLE public.t (x int);",
        )],
        vec![{
            let mut drop = tx_step("drop table public.t", "DROP TABLE public.t;");
            drop.hazards = vec![Hazard::DataLoss, Hazard::Irreversible];
            drop
        }],
    );
    let pending = exec::status(&f.url, f.plans.path()).unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].state, PlanState::Pending);
    exec::apply(&f.opts(), &mut Events::default()).unwrap();
    let applied = exec::status(&f.url, f.plans.path()).unwrap();
    assert_eq!(applied[0].state, PlanState::Applied);
    let run = applied[0].last_run.as_ref().unwrap();
    assert!(run.checksum_matches);
    assert!(run.duration.is_some());
    let mut rollback = f.opts();
    rollback.direction = Direction::Inverse;
    assert_eq!(
        exec::apply(&rollback, &mut Events::default()).unwrap().kind,
        OutcomeKind::Applied
    );
    assert_eq!(
        exec::status(&f.url, f.plans.path()).unwrap()[0].state,
        PlanState::RolledBack
    );
    // Forward again after the rollback: a fresh chain, all steps run.
    let again = exec::apply(&f.opts(), &mut Events::default()).unwrap();
    assert_eq!(again.steps_run, vec![1]);
    std::fs::write(f.dir.join("plan.sql"), "-- edited\n").unwrap();
    let st = exec::status(&f.url, f.plans.path()).unwrap();
    assert!(matches!(st[0].state, PlanState::Unreadable(_)));
}

/// A plan whose step 2 sleeps for `sp.sleep` seconds (a setting only the first run's connection
/// has), so a run can be stopped there and resumed without sleeping.
fn sleepy_fixture(name: &str) -> Fixture {
    let mut sleep = tx_step(
        "sleep",
        "SELECT pg_sleep(coalesce(nullif(current_setting('sp.sleep', true), ''), '0')::float8);",
    );
    sleep.transaction = TxMode::Alone;
    Fixture::new(
        name,
        &[],
        vec![
            tx_step("create table public.t", "CREATE TABLE public.t (x int);"),
            sleep,
            tx_step("create table public.u", "CREATE TABLE public.u (x int);"),
        ],
    )
}

/// Waits until an apply session is inside `pg_sleep`; returns its pid.
fn sleeping_apply(f: &Fixture) -> i32 {
    let mut c = f.connect();
    let mut pid = None;
    wait_until(
        || {
            pid = c
                .query(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() \
                     AND application_name LIKE 'schemaplan apply%' AND state = 'active' \
                     AND query LIKE '%pg_sleep%'",
                    &[],
                )
                .unwrap()
                .first()
                .map(|r| r.get(0));
            pid.is_some()
        },
        "the apply to reach the sleeping step",
    );
    pid.unwrap()
}

#[test]
fn interrupt_cancels_the_running_step_and_resume_continues() {
    let f = sleepy_fixture("interrupt");
    let mut opts = f.opts();
    opts.db_url = with_options(&f.url, "-c sp.sleep=30");
    let interrupt = opts.interrupt.clone();
    let run = std::thread::spawn(move || exec::apply(&opts, &mut Events::default()));
    sleeping_apply(&f);
    interrupt.trigger();
    let err = run.join().unwrap().unwrap_err();
    assert!(
        matches!(err, ExecError::Interrupted { number: 2, .. }),
        "{err}"
    );
    assert_eq!(f.history_outcomes(), vec!["interrupted"]);
    let outcome = exec::apply(&f.opts(), &mut Events::default()).unwrap();
    assert_eq!(outcome.kind, OutcomeKind::Applied);
    assert_eq!(outcome.steps_skipped, vec![1]);
    assert_eq!(outcome.steps_run, vec![2, 3]);
}

/// The child half of `killed_apply_is_marked_interrupted_and_resumes`: runs an apply that
/// sleeps until the parent kills this process.
#[test]
#[ignore = "run by killed_apply_is_marked_interrupted_and_resumes in a child process"]
fn crash_child() {
    let (Ok(url), Ok(dir)) = (std::env::var("SP_CRASH_URL"), std::env::var("SP_CRASH_DIR")) else {
        return;
    };
    let mut opts = ApplyOptions::new(url, dir);
    opts.allow_hazards = HazardAllow::All;
    let _ = exec::apply(&opts, &mut Events::default());
}

#[test]
fn killed_apply_is_marked_interrupted_and_resumes() {
    let f = sleepy_fixture("killed");
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "crash_child", "--ignored", "--nocapture"])
        .env("SP_CRASH_URL", with_options(&f.url, "-c sp.sleep=60"))
        .env("SP_CRASH_DIR", &f.dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = sleeping_apply(&f);
    child.kill().unwrap(); // SIGKILL: no cleanup of any kind
    child.wait().unwrap();
    // The server notices a dead client only when it next talks to it; end the backend (and so
    // its apply lock) the way a TCP keepalive timeout would.
    f.connect()
        .query("SELECT pg_terminate_backend($1)", &[&pid])
        .unwrap();
    let mut events = Events::default();
    let outcome = exec::apply(&f.opts(), &mut events).unwrap();
    assert_eq!(outcome.kind, OutcomeKind::Applied);
    assert_eq!(outcome.steps_skipped, vec![1]);
    assert_eq!(f.history_outcomes(), vec!["interrupted", "succeeded"]);
    let first_run = f.journal(1);
    assert!(
        first_run
            .iter()
            .any(|(step, _, outcome)| *step == 2 && outcome == "interrupted"),
        "{first_run:?}"
    );
    assert!(events
        .0
        .iter()
        .any(|e| matches!(e, ProgressEvent::Info(m) if m.contains("marked interrupted"))));
}
