//! The bookkeeping tables (`schemaplan.runs`, `schemaplan.steps`; `src/exec/book.rs`,
//! docs/executor.md "Bookkeeping") through the binary, against a real server: what apply
//! writes and people can query, that plan/drift/dump never see the schema, that a refused run
//! creates nothing, the migration of the old large object, the GRANTs a role lacking privileges
//! is told to get, and a kill during the final verification.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Output, Stdio};

fn text(o: &Output) -> String {
    common::output_text(o)
}

/// A database with one table (and rows), a working directory whose `schema/` adds a column and
/// an index, and the plan for it in `plans/p` (2 steps: the column, then the concurrent build).
struct Case {
    db: String,
    url: String,
    dir: tempfile::TempDir,
}

impl Case {
    fn new(tag: &str) -> Case {
        let server = common::server();
        let (db, url) = server.fresh_db(&format!("book_{tag}"));
        server
            .connect(&db)
            .batch_execute(
                "CREATE TABLE public.t (id bigint PRIMARY KEY, x int);
                 INSERT INTO public.t SELECT g, g FROM generate_series(1, 100) g;",
            )
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("schema")).unwrap();
        std::fs::write(
            dir.path().join("schema/t.sql"),
            "CREATE TABLE public.t (id bigint PRIMARY KEY, x int, y text);\n\
             CREATE INDEX t_x_idx ON public.t (x);\n",
        )
        .unwrap();
        let case = Case { db, url, dir };
        case.expect(&case.plan_args(), 0);
        case
    }

    fn plan_args(&self) -> Vec<String> {
        [
            "plan",
            "--db",
            &self.url,
            "--dev-url",
            &common::server().admin_url(),
            "--out",
            "plans/p",
            "--small-table",
            "0",
        ]
        .map(String::from)
        .to_vec()
    }

    fn expect(&self, args: &[String], code: i32) -> String {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        common::schemaplan_expect(self.dir.path(), &args, code)
    }

    fn run(&self, args: &[&str]) -> Output {
        common::schemaplan(self.dir.path(), args)
    }

    fn apply_as(&self, url: &str) -> Output {
        self.run(&["apply", "--db", url, "plans/p", "--allow-hazards", "all"])
    }

    fn connect(&self) -> postgres::Client {
        schemaplan::db::connect(&self.url).unwrap()
    }

    fn has_schema(&self) -> bool {
        self.connect()
            .query_one("SELECT to_regnamespace('schemaplan') IS NOT NULL", &[])
            .unwrap()
            .get(0)
    }

    /// `(run_id, plan_id, outcome)` of every run.
    fn runs(&self) -> Vec<(i64, String, String)> {
        self.connect()
            .query(
                "SELECT run_id, plan_id, outcome FROM schemaplan.runs ORDER BY run_id",
                &[],
            )
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect()
    }

    fn plan_id(&self) -> String {
        let json: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(self.dir.path().join("plans/p/plan.json")).unwrap(),
        )
        .unwrap();
        json["id"].as_str().unwrap().to_string()
    }

    /// A role that can log in with a password and nothing more (granting it anything on the
    /// application's objects would change the schema the plan starts from).
    fn role(&self, name: &str) -> String {
        let role = format!("{name}_{}", std::process::id());
        self.connect()
            .batch_execute(&format!(
                "DROP ROLE IF EXISTS {role}; CREATE ROLE {role} LOGIN PASSWORD 'pw'"
            ))
            .unwrap();
        let mut u = url::Url::parse(&self.url).unwrap();
        u.set_username(&role).unwrap();
        u.set_password(Some("pw")).unwrap();
        u.to_string()
    }
}

impl Drop for Case {
    fn drop(&mut self) {
        common::server().drop_db(&self.db);
    }
}

/// After an apply the history is in two tables anyone with the grants can query, with the
/// documented columns; `plan` of the same schema files has nothing to do, `drift` exits 0 and
/// `dump` prints no `schemaplan` schema: the bookkeeping is not part of the application's.
#[test]
fn apply_writes_queryable_tables_that_plan_drift_and_dump_ignore() {
    let c = Case::new("tables");
    assert!(!c.has_schema(), "plan creates nothing");
    let out = c.apply_as(&c.url);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(c.runs(), vec![(1, c.plan_id(), "succeeded".to_string())]);
    let mut db = c.connect();
    let steps: Vec<(i32, String, i32, bool)> = db
        .query(
            "SELECT step, outcome, attempts, finished_at >= started_at \
             FROM schemaplan.steps WHERE run_id = 1 ORDER BY step",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect();
    assert_eq!(
        steps,
        vec![
            (1, "succeeded".to_string(), 1, true),
            (2, "succeeded".to_string(), 1, true)
        ]
    );
    let row = db
        .query_one(
            "SELECT direction, phases, length(checksum), from_fingerprint <> to_fingerprint, \
                    started_by LIKE current_user || ' (%@%)', duration_secs >= 0, error IS NULL \
             FROM schemaplan.runs WHERE run_id = 1",
            &[],
        )
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "forward");
    assert_eq!(row.get::<_, String>(1), "expand");
    assert_eq!(row.get::<_, i32>(2), 64);
    assert!(row.get::<_, bool>(3) && row.get::<_, bool>(4));
    assert!(row.get::<_, bool>(5) && row.get::<_, bool>(6));
    // The columns are the documented ones (docs_facts checks the doc lists the same).
    for (table, want) in schemaplan::exec::BOOKKEEPING_COLUMNS {
        let have: Vec<String> = db
            .query(
                "SELECT column_name::text FROM information_schema.columns \
                 WHERE table_schema = 'schemaplan' AND table_name = $1 ORDER BY ordinal_position",
                &[table],
            )
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert_eq!(have, want.to_vec(), "schemaplan.{table}");
    }
    // Plan, drift and dump do not see it.
    let mut again = c.plan_args();
    again[6] = "plans/q".into();
    let t = c.expect(&again, 0);
    assert!(t.contains("No changes"), "{t}");
    let t = c.expect(
        &[
            "drift".into(),
            "--db".into(),
            c.url.clone(),
            "--dev-url".into(),
            common::server().admin_url(),
        ],
        0,
    );
    assert!(!t.contains("schemaplan."), "{t}");
    let out = c.run(&["dump", "--db", &c.url, "--out", "dumped"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    let mut all = String::new();
    let mut stack = vec![c.dir.path().join("dumped")];
    while let Some(p) = stack.pop() {
        for e in std::fs::read_dir(&p).unwrap() {
            let path = e.unwrap().path();
            all.push_str(&format!("== {}\n", path.display()));
            if path.is_dir() {
                stack.push(path);
            } else {
                all.push_str(&std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    assert!(all.contains("public.t"), "{all}");
    for unwanted in ["schemaplan.", "SCHEMA schemaplan", "dumped/schemaplan"] {
        assert!(!all.contains(unwanted), "{unwanted} in:\n{all}");
    }
}

/// A run refused by its checks (the from-fingerprint check, the hazard gate) creates no schema
/// `schemaplan`; the first run that passes them does.
#[test]
fn refused_runs_create_no_bookkeeping() {
    let c = Case::new("refused");
    let out = c.run(&["apply", "--db", &c.url, "plans/p"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("--allow-hazards"), "{}", text(&out));
    assert!(
        !c.has_schema(),
        "the hazard gate's refusal created the schema"
    );
    c.connect()
        .batch_execute("ALTER TABLE public.t ADD COLUMN z int")
        .unwrap();
    let out = c.apply_as(&c.url);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("starts from schema"), "{}", text(&out));
    assert!(
        !c.has_schema(),
        "the from check's refusal created the schema"
    );
    c.connect()
        .batch_execute("ALTER TABLE public.t DROP COLUMN z")
        .unwrap();
    let out = c.apply_as(&c.url);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(c.has_schema());
}

/// The old format: one large object at `exec::BOOK_OID` holding `schemaplan-book v1` and a JSON
/// document. `status` reads it without changing anything; the next apply moves it into the
/// tables (a run left `running` becomes `interrupted`) and unlinks it, in one transaction.
#[test]
fn old_large_object_is_read_by_status_and_migrated_by_apply() {
    let c = Case::new("migrate");
    let id = c.plan_id();
    let checksum = {
        use sha2::Digest;
        let bytes = std::fs::read(c.dir.path().join("plans/p/plan.sql")).unwrap();
        format!("{:x}", sha2::Sha256::digest(bytes))
    };
    let run = |run_id: i64, plan: &str, outcome: &str, error: Option<&str>, steps| {
        serde_json::json!({
            "run_id": run_id, "plan_id": plan, "direction": "forward", "phases": "expand",
            "checksum": checksum, "from_fingerprint": "f", "to_fingerprint": "t",
            "live_fingerprint": "f", "forced": false, "started_by": "deployer (ci@runner-7)",
            "started_at": "2026-11-21T10:15:02.000000Z",
            "finished_at": if outcome == "running" { None } else { Some("2026-11-21T10:15:04.500000Z") },
            "duration_secs": if outcome == "running" { None } else { Some(2.5) },
            "outcome": outcome, "error": error, "steps": steps,
        })
    };
    let doc = serde_json::json!({
        "next_run_id": 3,
        "runs": [
            run(1, "20200101T000000Z_other", "running", None, serde_json::json!([{
                "step": 1, "summary": "fill public.o.c", "transactional": false, "attempts": 1,
                "started_at": "2026-11-21T10:15:03.000000Z", "finished_at": null,
                "duration_secs": null, "outcome": "running", "error": null,
                "batch": {"cursor": {"key": ["4000"]}, "rows": 4000, "batches": 2}
            }])),
            run(2, &id, "failed", Some("step 1 (add column public.t.y): boom"), serde_json::json!([{
                "step": 1, "summary": "add column public.t.y", "transactional": true,
                "attempts": 1, "started_at": "2026-11-21T10:15:03.000000Z",
                "finished_at": "2026-11-21T10:15:03.100000Z", "duration_secs": 0.1,
                "outcome": "failed", "error": "boom"
            }])),
        ]
    });
    let bytes = format!("{}\n{doc}\n", schemaplan::exec::BOOK_MAGIC);
    let mut db = c.connect();
    db.execute(
        "SELECT lo_from_bytea($1, $2)",
        &[&schemaplan::exec::BOOK_OID, &bytes.as_bytes()],
    )
    .unwrap();
    let lo_exists = |db: &mut postgres::Client| -> bool {
        db.query_one(
            "SELECT EXISTS (SELECT FROM pg_largeobject_metadata WHERE oid = $1)",
            &[&schemaplan::exec::BOOK_OID],
        )
        .unwrap()
        .get(0)
    };

    let t = c.expect(&["status".into(), "--db".into(), c.url.clone()], 0);
    assert!(common::status_row(&t, "failed", &id), "{t}");
    assert!(t.contains("run 2 failed by deployer (ci@runner-7)"), "{t}");
    assert!(t.contains("boom"), "{t}");
    assert!(lo_exists(&mut db), "status migrated");
    assert!(!c.has_schema(), "status created the schema");
    // Another role cannot read the large object: told the GRANT, not a raw error.
    let other = c.role("sp_lo");
    let role = url::Url::parse(&other).unwrap().username().to_string();
    let out = c.run(&["status", "--db", &other]);
    let t = text(&out);
    assert_ne!(out.status.code(), Some(0), "{t}");
    assert!(
        t.contains(&format!(
            "GRANT SELECT ON LARGE OBJECT {} TO {role}",
            schemaplan::exec::BOOK_OID
        )),
        "{t}"
    );
    assert!(!t.contains("db error"), "{t}");
    db.batch_execute(&format!("DROP ROLE {role}")).unwrap();

    let out = c.apply_as(&c.url);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(!lo_exists(&mut db), "the large object was not unlinked");
    assert_eq!(
        c.runs(),
        vec![
            (1, "20200101T000000Z_other".into(), "interrupted".into()),
            (2, id.clone(), "failed".into()),
            (3, id.clone(), "succeeded".into()),
        ]
    );
    let migrated = db
        .query_one(
            "SELECT s.outcome, s.batch_cursor::text, s.batch_rows, s.batch_batches, \
                    r.started_at = '2026-11-21T10:15:02Z'::timestamptz, r.started_by \
             FROM schemaplan.steps s JOIN schemaplan.runs r USING (run_id) WHERE run_id = 1",
            &[],
        )
        .unwrap();
    assert_eq!(migrated.get::<_, String>(0), "interrupted");
    assert_eq!(migrated.get::<_, String>(1), r#"{"key": ["4000"]}"#);
    assert_eq!(migrated.get::<_, i64>(2), 4000);
    assert_eq!(migrated.get::<_, i64>(3), 2);
    assert!(migrated.get::<_, bool>(4));
    assert_eq!(migrated.get::<_, String>(5), "deployer (ci@runner-7)");
    let t = c.expect(&["status".into(), "--db".into(), c.url.clone()], 0);
    assert!(common::status_row(&t, "applied", &id), "{t}");
    assert!(t.contains("run 3 succeeded"), "{t}");
}

/// A role without privileges on the bookkeeping is told which GRANTs it needs, not a raw
/// "permission denied ... db error"; its failed apply on a fresh database creates nothing, so
/// it cannot lock the deploy role out; with the grants, status works.
#[test]
fn roles_without_privileges_are_told_which_grants_they_need() {
    let c = Case::new("grants");
    let ro = c.role("sp_ro");
    let role = url::Url::parse(&ro).unwrap().username().to_string();
    // First apply by the read-only role: refused (it cannot create the schema), nothing made.
    let out = c.apply_as(&ro);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains(&format!("GRANT CREATE ON DATABASE {} TO {role}", c.db)),
        "{t}"
    );
    assert!(!t.contains("db error"), "{t}");
    assert!(!c.has_schema());
    // The deploy role applies normally.
    let out = c.apply_as(&c.url);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // Status as the read-only role names the grants.
    let out = c.run(&["status", "--db", &ro]);
    let t = text(&out);
    eprintln!("status as {role}:\n{t}");
    assert_ne!(out.status.code(), Some(0), "{t}");
    assert!(!t.contains("db error"), "{t}");
    for needle in [
        format!("GRANT USAGE ON SCHEMA schemaplan TO {role}"),
        format!("GRANT SELECT ON ALL TABLES IN SCHEMA schemaplan TO {role}"),
    ] {
        assert!(t.contains(&needle), "{needle:?} not in:\n{t}");
    }
    c.connect()
        .batch_execute(&format!(
            "GRANT USAGE ON SCHEMA schemaplan TO {role}; \
             GRANT SELECT ON ALL TABLES IN SCHEMA schemaplan TO {role}"
        ))
        .unwrap();
    let t = c.expect(&["status".into(), "--db".into(), ro.clone()], 0);
    assert!(t.contains("applied"), "{t}");
    // Apply as that role needs more: said the same way, before anything is written.
    let out = c.apply_as(&ro);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains(&format!(
            "GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA schemaplan TO {role}"
        )),
        "{t}"
    );
    assert_eq!(c.runs().len(), 1);
    c.connect()
        .batch_execute(&format!("DROP OWNED BY {role}; DROP ROLE {role}"))
        .unwrap();
}

/// Runs apply on `c`'s plan and SIGKILLs it once every step committed, before its final check
/// (the `verify:2` test pause).
fn kill_during_verification(c: &Case) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_schemaplan"))
        .args(["apply", "--db", &c.url, "plans/p", "--allow-hazards", "all"])
        .current_dir(c.dir.path())
        .env("SCHEMAPLAN_TEST_PAUSE", "verify:2")
        .env_remove("DATABASE_URL")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "apply ended before the pause:\n{seen}"
        );
        seen.push_str(&line);
        if line.trim() == "schemaplan-test-pause verify:2" {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    drop(child.stdin.take().map(|mut s| s.write_all(b"\n")));
}

/// A kill during the final verification (every step committed) leaves the run `verifying`,
/// never `running`/`interrupted`: `status` checks the live schema against `to` and says
/// applied (writing nothing), the next apply records the run succeeded.
#[test]
fn kill_during_final_verification_is_settled_by_the_next_status_and_apply() {
    let c = Case::new("verify_kill");
    let id = c.plan_id();
    kill_during_verification(&c);
    assert_eq!(c.runs(), vec![(1, id.clone(), "verifying".to_string())]);

    let t = c.expect(&["status".into(), "--db".into(), c.url.clone()], 0);
    assert!(common::status_row(&t, "applied", &id), "{t}");
    assert!(t.contains("final check was cut off"), "{t}");
    assert!(t.contains("records the run succeeded"), "{t}");
    assert_eq!(
        c.runs(),
        vec![(1, id.clone(), "verifying".to_string())],
        "status wrote"
    );

    let out = c.apply_as(&c.url);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(t.contains("run 1 had committed every step"), "{t}");
    assert!(t.contains("already applied"), "{t}");
    assert_eq!(c.runs(), vec![(1, id.clone(), "succeeded".to_string())]);
    let t = c.expect(&["status".into(), "--db".into(), c.url.clone()], 0);
    assert!(common::status_row(&t, "applied", &id), "{t}");
    assert!(!t.contains("cut off"), "{t}");
}

/// Schema files that create schema `schemaplan` are refused by `plan`: every catalog read
/// leaves that schema out, so its objects would otherwise be ignored without a word.
#[test]
fn schema_files_cannot_use_the_bookkeeping_schema() {
    let c = Case::new("reserved");
    std::fs::write(
        c.dir.path().join("schema/reserved.sql"),
        "CREATE SCHEMA schemaplan;\nCREATE TABLE schemaplan.x (id int);\n",
    )
    .unwrap();
    let mut args = c.plan_args();
    args[6] = "plans/r".into();
    let t = c.expect(&args, 1);
    assert!(
        t.contains("the schema files create schema schemaplan: that name is reserved"),
        "{t}"
    );
    assert!(!c.dir.path().join("plans/r").exists());
}

/// The same kill, then the schema changes before anyone looks: `status` says the run failed
/// its (late) check, and the next apply records it failed, saying so.
#[test]
fn kill_during_final_verification_then_a_changed_schema_is_recorded_failed() {
    let c = Case::new("verify_kill_changed");
    let id = c.plan_id();
    kill_during_verification(&c);
    c.connect()
        .batch_execute("DROP INDEX public.t_x_idx")
        .unwrap();
    let t = c.expect(&["status".into(), "--db".into(), c.url.clone()], 0);
    assert!(common::status_row(&t, "failed", &id), "{t}");
    assert!(t.contains("is NOT the plan's `to`"), "{t}");
    assert_eq!(c.runs(), vec![(1, id.clone(), "verifying".to_string())]);
    let out = c.apply_as(&c.url);
    let t = text(&out);
    assert!(t.contains("checked now: failed"), "{t}");
    let runs = c.runs();
    assert_eq!(runs[0], (1, id.clone(), "failed".to_string()), "{t}");
    let error: String = c
        .connect()
        .query_one("SELECT error FROM schemaplan.runs WHERE run_id = 1", &[])
        .unwrap()
        .get(0);
    assert!(error.contains("final check was cut off"), "{error}");
}
