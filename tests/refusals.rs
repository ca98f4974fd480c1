//! Every refusal of `schemaplan apply`, through the binary on a real server: a clear message,
//! exit 1, and nothing changed (the live schema's fingerprint and every row of the bookkeeping
//! tables are what they were; a refused first apply creates no schema `schemaplan`). The concurrent-apply refusal (`--no-wait`) is in
//! `tests/fault_injection.rs` (`two_applies_started_together_run_the_plan_once`); an
//! unsupported server version cannot be produced with the one local PostgreSQL, so its check
//! (`catalog::check_server_version`, run before the lock and any write) has a unit test.

mod common;

use std::path::Path;
use std::process::Output;

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// What "nothing changed" compares: the schema's fingerprint and the whole content of the
/// bookkeeping tables (`None` while schema `schemaplan` does not exist: a refused first apply
/// must not create it).
fn state(url: &str) -> (String, Option<String>) {
    let mut c = schemaplan::db::connect(url).unwrap();
    let fp = schemaplan::catalog::fingerprint(&schemaplan::catalog::read(&mut c).unwrap());
    let exists: bool = c
        .query_one("SELECT to_regnamespace('schemaplan') IS NOT NULL", &[])
        .unwrap()
        .get(0);
    let book = exists.then(|| {
        c.query_one(
            "SELECT (SELECT coalesce(string_agg(r::text, E'\\n' ORDER BY run_id), '') \
                     FROM schemaplan.runs r) || E'\\n' || \
                    (SELECT coalesce(string_agg(s::text, E'\\n' ORDER BY run_id, step), '') \
                     FROM schemaplan.steps s)",
            &[],
        )
        .unwrap()
        .get(0)
    });
    (fp, book)
}

/// A database with one table, a plan directory (`plans/p`) that adds a column and an index,
/// and the working directory.
struct Case {
    db: String,
    url: String,
    dir: tempfile::TempDir,
}

impl Case {
    fn new(tag: &str) -> Case {
        let server = common::server();
        let (db, url) = server.fresh_db(&format!("refuse_{tag}"));
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
        let out = case.run(&[
            "plan",
            "--db",
            &case.url,
            "--dev-url",
            &server.admin_url(),
            "--out",
            "plans/p",
            // Online forms even on this small table: the concurrent index build is a unit of
            // its own.
            "--small-table",
            "0",
        ]);
        assert!(out.status.success(), "{}", text(&out));
        case
    }

    fn run(&self, args: &[&str]) -> Output {
        common::schemaplan(self.dir.path(), args)
    }

    fn apply(&self, extra: &[&str]) -> Output {
        let mut args = vec![
            "apply",
            "--db",
            &self.url,
            "plans/p",
            "--allow-hazards",
            "all",
        ];
        args.extend_from_slice(extra);
        self.run(&args)
    }

    fn plan_sql(&self) -> std::path::PathBuf {
        self.dir.path().join("plans/p/plan.sql")
    }

    /// Runs `apply`, expects exit 1 with every one of `needles` in the output, and that the
    /// database is unchanged.
    fn refused(&self, extra: &[&str], needles: &[&str]) -> String {
        let before = state(&self.url);
        let out = self.apply(extra);
        let t = text(&out);
        assert_eq!(out.status.code(), Some(1), "{t}");
        for n in needles {
            assert!(t.contains(n), "missing {n:?} in:\n{t}");
        }
        assert_eq!(
            state(&self.url),
            before,
            "the refusal changed something:\n{t}"
        );
        t
    }
}

impl Drop for Case {
    fn drop(&mut self) {
        common::server().drop_db(&self.db);
    }
}

fn edit(path: &Path, f: impl FnOnce(String) -> String) {
    let s = std::fs::read_to_string(path).unwrap();
    std::fs::write(path, f(s)).unwrap();
}

#[test]
fn refuses_a_database_that_is_not_the_plans_from_state() {
    let c = Case::new("from");
    common::server()
        .connect(&c.db)
        .batch_execute("ALTER TABLE public.t ADD COLUMN z int")
        .unwrap();
    c.refused(
        &[],
        &[
            "starts from schema",
            "but the database has",
            // plan.json's digests of the `from` objects name the one that differs.
            "what differs from the schema the plan starts from (1 object):",
            "changed: table public.t",
            "run `schemaplan plan` again",
        ],
    );
}

#[test]
fn refuses_a_missing_plan_file() {
    let c = Case::new("missing");
    std::fs::remove_file(c.plan_sql()).unwrap();
    c.refused(&[], &["plan.sql: cannot read plan file"]);
}

#[test]
fn refuses_a_truncated_plan_file() {
    let c = Case::new("truncated");
    // Cut after the first step: the header's `steps:` count no longer matches.
    edit(&c.plan_sql(), |s| {
        let second = s
            .find("\n-- step 2 |")
            .expect("a plan of two steps or more");
        s[..second + 1].to_string()
    });
    c.refused(&[], &["plan.sql", "steps"]);
}

#[test]
fn refuses_a_corrupt_plan_file() {
    let c = Case::new("corrupt");
    let mut bytes = std::fs::read(c.plan_sql()).unwrap();
    let at = bytes.len() / 2;
    bytes[at] = 0xff;
    std::fs::write(c.plan_sql(), bytes).unwrap();
    c.refused(&[], &["plan.sql: plan file is not valid UTF-8"]);
}

#[test]
fn refuses_a_plan_from_an_incompatible_version() {
    let c = Case::new("version");
    edit(&c.plan_sql(), |s| {
        let line = s
            .lines()
            .find(|l| l.starts_with("-- version: "))
            .unwrap()
            .to_string();
        s.replace(&line, "-- version: 99.0.0")
    });
    c.refused(
        &[],
        &[
            "plan written by schemaplan 99.0.0",
            "re-plan with this version",
        ],
    );
}

#[test]
fn refuses_to_resume_from_a_plan_file_changed_after_its_run_started() {
    let c = Case::new("checksum");
    // The first unit runs and is recorded; the run then fails in the last step (made to fail by
    // an edit of its SQL).
    edit(&c.plan_sql(), |s| {
        let last = s.rfind("\n-- step ").unwrap();
        let (head, tail) = s.split_at(last);
        let mut tail = tail.to_string();
        let sql_start = tail
            .find("\nCREATE")
            .or_else(|| tail.find("\nALTER"))
            .unwrap();
        tail.insert_str(sql_start + 1, "SELECT 1/0;\n");
        format!("{head}{tail}")
    });
    let out = c.apply(&[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    // The file changes again (a fix), after part of it ran.
    edit(&c.plan_sql(), |s| s.replace("SELECT 1/0;\n", ""));
    c.refused(
        &[],
        &[
            "plan.sql changed since run 1 applied part of it",
            "restore the file as it was, or pass --force",
        ],
    );
}

/// Rows of `public.t`, to show a refused plan deleted none.
fn rows(c: &Case) -> i64 {
    common::server()
        .connect(&c.db)
        .query_one("SELECT count(*) FROM public.t", &[])
        .unwrap()
        .get(0)
}

#[test]
fn refuses_a_step_whose_concurrently_was_removed() {
    let c = Case::new("concurrently");
    edit(&c.plan_sql(), |s| {
        assert!(s.contains("CREATE INDEX CONCURRENTLY"), "{s}");
        s.replace("CREATE INDEX CONCURRENTLY", "CREATE INDEX")
    });
    let needles = [
        "plan.sql:",
        "CREATE INDEX (without CONCURRENTLY) on public.t takes SHARE (blocks writes)",
        "`lock: SHARE UPDATE EXCLUSIVE`",
    ];
    c.refused(&["--dry-run"], &needles);
    c.refused(&[], &needles);
}

#[test]
fn refuses_rows_deleted_by_a_step_that_declares_no_data_loss() {
    let c = Case::new("dml");
    for added in [
        "DELETE FROM public.t;",
        "TRUNCATE public.t CASCADE;",
        "ALTER TABLE public.t DROP COLUMN x;",
        "DO $$ BEGIN DELETE FROM public.t; END $$;",
    ] {
        let original = std::fs::read_to_string(c.plan_sql()).unwrap();
        edit(&c.plan_sql(), |s| {
            let add = "ADD COLUMN y text;";
            assert!(s.contains(add), "{s}");
            s.replacen(add, &format!("{add}\n{added}"), 1)
        });
        let t = c.refused(&[], &["deletes or overwrites rows", "`data-loss`"]);
        assert!(t.contains("step 1"), "{t}");
        assert_eq!(rows(&c), 100, "{added}");
        std::fs::write(c.plan_sql(), original).unwrap();
    }
    // A header that owns up to the loss is a reviewed hand edit: it runs (with the flag).
    edit(&c.plan_sql(), |s| {
        s.replacen(
            "ADD COLUMN y text;",
            "ADD COLUMN y text;\nDELETE FROM public.t WHERE id > 90;",
            1,
        )
        .replacen(
            "hazards: none\n-- add column",
            "hazards: data-loss\n-- add column",
            1,
        )
        .replacen(
            "-- hazards: index-build",
            "-- hazards: data-loss, index-build",
            1,
        )
    });
    let out = c.apply(&[]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(rows(&c), 90);
}

#[test]
fn refuses_a_lock_timeout_of_zero() {
    let c = Case::new("lock_timeout_zero");
    edit(&c.plan_sql(), |s| {
        s.replacen("lock_timeout: 100ms", "lock_timeout: 0ms", 1)
    });
    c.refused(&[], &["lock_timeout must be between 1ms", "wait forever"]);
    // And `plan` never writes one.
    let out = c.run(&[
        "plan",
        "--db",
        &c.url,
        "--lock-timeout-ms",
        "0",
        "--out",
        "plans/q",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("--lock-timeout-ms"), "{}", text(&out));
    assert!(!c.dir.path().join("plans/q").exists());
}

#[test]
fn lint_reads_a_plan_directory_like_apply_without_a_database() {
    let c = Case::new("lint");
    let out = c.run(&["lint", "plans/p"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("plan.sql:"), "{}", text(&out));
    assert!(text(&out).contains("inverse.sql:"), "{}", text(&out));
    edit(&c.plan_sql(), |s| {
        s.replace("CREATE INDEX CONCURRENTLY", "CREATE INDEX")
    });
    let out = c.run(&["lint", "plans/p"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("takes SHARE (blocks writes)"),
        "{}",
        text(&out)
    );
}
