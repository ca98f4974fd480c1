//! Operations on a deploy day (issue 12, points 4 and 5), through the binary on tables with rows.
//!
//! `apply --abort` (and `rollback --abort`): the way out of a plan that failed or was cut off
//! in the middle of an online strategy. Through the binary, on tables with rows, for each
//! strategy that installs temporary machinery: a failure or a kill is injected mid-way, then
//! `--abort` must leave the schema dump exactly as before the plan (column order included) and
//! every row as it was, record the run `aborted`, and a later `apply` must run the plan from
//! its first step to its end. And the check that keeps a narrowing rollback from getting
//! stuck half-way in the first place (`exec::narrowing`). And a brief lock upgrade after a long
//! validation, in a transaction of its own (`planfile::units`).

mod common;

use common::exit_code as code;
use common::output_text as text;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Output, Stdio};

use common::case::Case;

impl Case {
    /// The 1-based number of the first step of `direction` whose SQL contains `needle`.
    fn step_with(&self, direction: schemaplan::plan::Direction, needle: &str) -> usize {
        let file = schemaplan::planfile::read_dir(&self.plan_dir(), direction).unwrap();
        1 + file
            .plan
            .steps
            .iter()
            .position(|s| s.sql.contains(needle))
            .unwrap_or_else(|| panic!("no step contains {needle:?}"))
    }

    /// `schemaplan <command> --abort --db URL plan`.
    fn abort(&self, command: &str) -> Output {
        self.run(&[command, "--abort", "--db", &self.url, "plan"])
    }

    /// Runs `schemaplan <command>` with the test pause at `pause` (e.g. `before:7`); at the
    /// pause, `at_pause` runs; then the process is killed (`kill`) or let go on.
    fn paused(
        &self,
        command: &str,
        extra: &[&str],
        pause: &str,
        kill: bool,
        at_pause: impl FnOnce(),
    ) -> String {
        let mut args = vec![command, "--db", &self.url, "plan", "--allow-hazards", "all"];
        args.extend_from_slice(extra);
        let mut child = Command::new(env!("CARGO_BIN_EXE_schemaplan"))
            .args(&args)
            .current_dir(self.dir.path())
            .env_remove("DATABASE_URL")
            .env("SCHEMAPLAN_TEST_PAUSE", pause)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut seen = String::new();
        loop {
            let mut line = String::new();
            assert!(
                stderr.read_line(&mut line).unwrap() > 0,
                "{command} ended before {pause}:\n{seen}"
            );
            seen.push_str(&line);
            if line.contains(&format!("schemaplan-test-pause {pause}")) {
                break;
            }
        }
        at_pause();
        if kill {
            child.kill().unwrap();
            child.wait().unwrap();
            return seen;
        }
        child.stdin.take().unwrap().write_all(b"\n").unwrap();
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
        let mut stdout = String::new();
        std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut stdout).unwrap();
        child.wait().unwrap();
        format!("{stdout}{seen}{rest}")
    }

    /// `pg_dump --schema-only` of the database, exactly (column order counts), without the
    /// bookkeeping.
    fn schema_dump(&self) -> String {
        let out = Command::new("pg_dump")
            .args([
                "--schema-only",
                "--no-owner",
                "--exclude-schema=schemaplan",
                "-d",
                &self.url,
            ])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(out.status.success(), "pg_dump: {}", text(&out));
        // pg_dump 13.22/14.19/15.14/16.10/17.6 and later fence the script with a random key.
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with("\\restrict ") && !l.starts_with("\\unrestrict "))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Every row of `table` as text, in key order.
    fn rows(&self, table: &str) -> String {
        self.connect()
            .query_one(
                &format!("SELECT coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '') FROM {table} t"),
                &[],
            )
            .unwrap()
            .get(0)
    }

    fn status(&self) -> String {
        let o = self.run(&["status", "--db", &self.url, "--plans", "."]);
        text(&o)
    }

    /// The schema and rows before the plan; after the abort they must be the same.
    fn snapshot(&self, table: &str) -> (String, String) {
        (self.schema_dump(), self.rows(table))
    }

    /// `--abort` leaves the database as `before`; the run shows as aborted; the plan then
    /// applies from its first step.
    fn assert_aborted_to(&self, command: &str, before: &(String, String), table: &str) {
        let o = self.abort(command);
        let t = text(&o);
        assert_eq!(code(&o), 0, "{t}");
        assert!(t.contains("aborted: took back steps"), "{t}");
        assert!(t.contains("at the plan's `from` again"), "{t}");
        assert_eq!(
            self.schema_dump(),
            before.0,
            "the schema after --abort is not the one before the plan"
        );
        assert_eq!(self.rows(table), before.1, "rows changed");
        let s = self.status();
        assert!(s.contains("aborted"), "{s}");
        // Aborting again finds nothing left.
        let o = self.abort(command);
        assert_eq!(code(&o), 0, "{}", text(&o));
        assert!(text(&o).contains("nothing to abort"), "{}", text(&o));
    }
}

use schemaplan::plan::Direction::{Forward, Inverse};

/// Online `integer -> bigint` (shadow column, sync trigger and function, backfill, NOT NULL
/// check), killed right before its swap: the abort drops trigger, function and shadow column,
/// and the plan then applies from step 1.
#[test]
fn abort_of_an_online_retype_killed_before_its_swap_restores_the_table() {
    let case = Case::new(
        "retype",
        "CREATE TABLE public.orders (id bigint PRIMARY KEY, amount integer NOT NULL DEFAULT 0);
         INSERT INTO public.orders SELECT g, g * 7 FROM generate_series(1, 5000) g;",
        "CREATE TABLE public.orders (id bigint PRIMARY KEY, amount bigint NOT NULL DEFAULT 0);",
    );
    let before = case.snapshot("public.orders");
    case.plan();
    let swap = case.step_with(Forward, "DROP COLUMN amount");
    case.paused("apply", &[], &format!("before:{swap}"), true, || {});
    // The machinery is there, acting on the application's writes.
    assert!(case
        .schema_dump()
        .contains("orders_amount_schemaplan_retype"));
    case.assert_aborted_to("apply", &before, "public.orders");
    let o = case.apply("apply", &[]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(case
        .schema_dump()
        .contains("amount bigint DEFAULT 0 NOT NULL"));
}

/// The rollback of that plan narrows `bigint -> integer` through the same machinery; killed
/// mid-way (before its lossless guard) it leaves a trigger doing `::integer` that makes the
/// application's writes of large values fail. `rollback --abort` removes it: large values can
/// be written again, and the schema and rows are as after the forward plan.
#[test]
fn rollback_abort_removes_the_narrowing_trigger_that_blocks_large_values() {
    let case = Case::new(
        "narrowing",
        "CREATE TABLE public.orders (id bigint PRIMARY KEY, amount integer NOT NULL DEFAULT 0);
         INSERT INTO public.orders SELECT g, g FROM generate_series(1, 3000) g;",
        "CREATE TABLE public.orders (id bigint PRIMARY KEY, amount bigint NOT NULL DEFAULT 0);",
    );
    case.plan();
    let o = case.apply("apply", &[]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let applied = case.snapshot("public.orders");
    let guard = case.step_with(Inverse, "schemaplan_lossless CHECK");
    case.paused("rollback", &[], &format!("before:{guard}"), true, || {});
    let mut app = case.connect();
    assert!(
        app.batch_execute("INSERT INTO public.orders VALUES (9000001, 3000000001)")
            .is_err(),
        "the half-done rollback's trigger refuses large values"
    );
    case.assert_aborted_to("rollback", &applied, "public.orders");
    app.batch_execute("INSERT INTO public.orders VALUES (9000001, 3000000001)")
        .unwrap();
}

/// The same rollback with a row at 3e9 written after the forward plan: it used to fail in its
/// backfill, leaving the trigger behind. Now it checks the rows before installing anything and
/// refuses with the count and the query that lists them; nothing is changed or recorded, and
/// once the row is fixed the rollback runs.
#[test]
fn narrowing_rollback_refuses_rows_that_do_not_fit_before_installing_anything() {
    let case = Case::new(
        "narrowing_check",
        "CREATE TABLE public.orders (id bigint PRIMARY KEY, amount integer NOT NULL DEFAULT 0);
         INSERT INTO public.orders SELECT g, g FROM generate_series(1, 3000) g;",
        "CREATE TABLE public.orders (id bigint PRIMARY KEY, amount bigint NOT NULL DEFAULT 0);",
    );
    case.plan();
    let o = case.apply("apply", &[]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let mut app = case.connect();
    app.batch_execute("UPDATE public.orders SET amount = 3000000000 WHERE id = 1500")
        .unwrap();
    let applied = case.snapshot("public.orders");
    let status_before = case.status();
    for dry in [true, false] {
        let o = case.apply("rollback", if dry { &["--dry-run"] } else { &[] });
        let t = text(&o);
        assert_eq!(code(&o), 1, "{t}");
        assert!(
            t.contains("column amount of public.orders narrows to integer, and in public.orders 1 row cannot be converted (out of range or too long) (its guard orders_amount_schemaplan_lossless would refuse them only after the backfill)")
                && t.contains("see them: `SELECT * FROM public.orders WHERE amount NOT BETWEEN -2147483648 AND 2147483647`")
                && t.contains("nothing was changed"),
            "{t}"
        );
    }
    assert_eq!(case.snapshot("public.orders"), applied);
    assert_eq!(case.status(), status_before, "nothing recorded");
    app.batch_execute("INSERT INTO public.orders VALUES (9000001, 3000000001)")
        .unwrap();
    app.batch_execute("DELETE FROM public.orders WHERE amount > 2147483647")
        .unwrap();
    let o = case.apply("rollback", &[]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(case
        .schema_dump()
        .contains("amount integer DEFAULT 0 NOT NULL"));
}

/// A declared column rename (new column kept in sync by a trigger, backfill, NOT NULL through a
/// validated check, the index built concurrently under a temporary name), killed while the
/// index build step runs: abort drops the index, the NOT NULL, the trigger, its function and
/// the new column.
#[test]
fn abort_of_a_cut_off_column_rename_restores_the_table() {
    let case = Case::new(
        "rename",
        "CREATE TABLE public.users (id bigint PRIMARY KEY, mail text NOT NULL);
         CREATE INDEX users_mail_idx ON public.users (mail);
         INSERT INTO public.users SELECT g, 'u' || g || '@example.com' FROM generate_series(1, 4000) g;",
        "CREATE TABLE public.users (
             id bigint PRIMARY KEY,
             -- @renamed from=mail
             email text NOT NULL
         );
         CREATE INDEX users_email_idx ON public.users (email);",
    );
    let before = case.snapshot("public.users");
    case.plan();
    let build = case.step_with(Forward, "CREATE INDEX CONCURRENTLY");
    case.paused("apply", &[], &format!("after:{build}"), true, || {});
    assert!(case
        .schema_dump()
        .contains("users_email_mail_schemaplan_sync"));
    case.assert_aborted_to("apply", &before, "public.users");
    let o = case.apply("apply", &[]);
    assert_eq!(code(&o), 0, "{}", text(&o));
}

/// SET NOT NULL of an existing column through a NOT VALID check: killed before the validation,
/// abort drops the check.
#[test]
fn abort_of_a_cut_off_set_not_null_drops_its_check() {
    let case = Case::new(
        "not_null",
        "CREATE TABLE public.items (id bigint PRIMARY KEY, code text);
         INSERT INTO public.items SELECT g, 'c' || g FROM generate_series(1, 4000) g;",
        "CREATE TABLE public.items (id bigint PRIMARY KEY, code text NOT NULL);",
    );
    let before = case.snapshot("public.items");
    case.plan();
    let validate = case.step_with(Forward, "VALIDATE CONSTRAINT");
    case.paused("apply", &[], &format!("before:{validate}"), true, || {});
    assert!(case.schema_dump().contains("NOT VALID"));
    case.assert_aborted_to("apply", &before, "public.items");
}

/// A changed CHECK (`<name>_schemaplan_new` NOT VALID beside the old one, validated, then
/// swapped): killed before the swap, abort drops the new one; the old one stays.
#[test]
fn abort_of_a_cut_off_check_change_keeps_the_old_check() {
    let case = Case::new(
        "check",
        "CREATE TABLE public.products (
             id int PRIMARY KEY,
             price numeric NOT NULL,
             CONSTRAINT products_price_check CHECK (price >= 0)
         );
         INSERT INTO public.products SELECT g, g FROM generate_series(1, 3000) g;",
        "CREATE TABLE public.products (
             id int PRIMARY KEY,
             price numeric NOT NULL,
             CONSTRAINT products_price_check CHECK (price >= 0 AND price < 100000)
         );",
    );
    let before = case.snapshot("public.products");
    case.plan();
    let swap = case.step_with(Forward, "DROP CONSTRAINT products_price_check;");
    case.paused("apply", &[], &format!("before:{swap}"), true, || {});
    assert!(case
        .schema_dump()
        .contains("products_price_check_schemaplan_new"));
    case.assert_aborted_to("apply", &before, "public.products");
}

/// A changed index (`<name>_new` built concurrently beside the old one): killed
/// after the build, abort drops the new index concurrently; the old one stays.
#[test]
fn abort_of_a_cut_off_index_change_drops_the_new_index() {
    let case = Case::new(
        "index",
        "CREATE TABLE public.events (id bigint PRIMARY KEY, at timestamptz NOT NULL, kind text);
         CREATE INDEX events_at_idx ON public.events (at);
         INSERT INTO public.events SELECT g, now() - g * interval '1 minute', 'k' || (g % 7)
             FROM generate_series(1, 4000) g;",
        "CREATE TABLE public.events (id bigint PRIMARY KEY, at timestamptz NOT NULL, kind text);
         CREATE INDEX events_at_idx ON public.events (at, kind);",
    );
    let before = case.snapshot("public.events");
    case.plan();
    let build = case.step_with(Forward, "events_at_idx_new ON");
    case.paused("apply", &[], &format!("after:{build}"), true, || {});
    assert!(case.schema_dump().contains("events_at_idx_new"));
    case.assert_aborted_to("apply", &before, "public.events");
    let o = case.apply("apply", &[]);
    assert_eq!(code(&o), 0, "{}", text(&o));
}

/// Nothing recorded: abort says so and changes nothing.
#[test]
fn abort_without_a_run_has_nothing_to_do() {
    let case = Case::new(
        "nothing",
        "CREATE TABLE public.t (id int PRIMARY KEY, a int);",
        "CREATE TABLE public.t (id int PRIMARY KEY, a bigint);",
    );
    case.plan();
    let o = case.abort("apply");
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(text(&o).contains("nothing to abort"), "{}", text(&o));
}

/// An applied plan whose only step installs something abort knows how to take back (a new
/// index built concurrently) is not taken back: a completed phase is a consistent point.
#[test]
fn abort_after_a_completed_phase_takes_nothing_back() {
    let case = Case::new(
        "completed",
        "CREATE TABLE public.t (id int PRIMARY KEY, a int);
         INSERT INTO public.t SELECT g, g FROM generate_series(1, 1000) g;",
        "CREATE TABLE public.t (id int PRIMARY KEY, a int);
         CREATE INDEX t_a_idx ON public.t (a);",
    );
    let plan = case.plan();
    assert!(plan.contains("CREATE INDEX CONCURRENTLY t_a_idx"), "{plan}");
    let o = case.apply("apply", &[]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let applied = case.snapshot("public.t");
    let o = case.abort("apply");
    let t = text(&o);
    assert_eq!(code(&o), 0, "{t}");
    assert!(
        t.contains("nothing to abort: the expand phase is complete"),
        "{t}"
    );
    assert_eq!(case.snapshot("public.t"), applied);
}

/// SET NOT NULL of an existing column: `ADD CONSTRAINT ... NOT VALID`, `VALIDATE` (a scan under
/// SHARE UPDATE EXCLUSIVE), `SET NOT NULL` (a brief ACCESS EXCLUSIVE). A reader holding the
/// table when the upgrade comes makes it fail on its lock_timeout: only the upgrade is rolled
/// back, in its own transaction; the validation's scan stays committed and is not repeated by
/// the retry or by the next apply.
#[test]
fn brief_lock_upgrade_after_a_validation_is_retried_without_repeating_the_scan() {
    let case = Case::new(
        "upgrade",
        "CREATE TABLE public.items (id bigint PRIMARY KEY, code text);
         INSERT INTO public.items SELECT g, 'c' || g FROM generate_series(1, 4000) g;",
        "CREATE TABLE public.items (id bigint PRIMARY KEY, code text NOT NULL);",
    );
    let plan = case.plan();
    let validate = case.step_with(Forward, "VALIDATE CONSTRAINT");
    let upgrade = case.step_with(Forward, "SET NOT NULL");
    assert_eq!(upgrade, validate + 1, "{plan}");
    assert!(
        plan.contains(&format!(
            "{validate} (one transaction), {upgrade} (one transaction)"
        )),
        "{plan}"
    );
    let mut reader = case.connect();
    let out = case.paused(
        "apply",
        &["--lock-retries", "0"],
        &format!("before:{upgrade}"),
        false,
        || {
            reader
                .batch_execute("BEGIN; SELECT count(*) FROM public.items;")
                .unwrap();
        },
    );
    assert!(
        out.contains(&format!("step {upgrade}/"))
            && out.contains("lock timeout")
            && !out.contains(&format!("{validate}-{upgrade}")),
        "{out}"
    );
    reader.batch_execute("ROLLBACK").unwrap();
    // The validation is recorded done: the next apply starts at the upgrade.
    let o = case.apply("apply", &["--dry-run"]);
    let t = text(&o);
    assert_eq!(code(&o), 0, "{t}");
    let skipped: Vec<String> = (1..upgrade).map(|k| k.to_string()).collect();
    assert!(
        t.contains(&format!("would skip steps {}", skipped.join(", "))),
        "{t}"
    );
    let o = case.apply("apply", &[]);
    assert_eq!(code(&o), 0, "{}", text(&o));
}

/// A type change through a shadow column swap and a column renamed through a new column leave
/// the column last in its table (`SELECT *`, positional INSERT and COPY without a column list
/// see it elsewhere): the step says so in plan.sql and lists the column in plan.json's
/// `moves_to_end`; and it is true of the table after apply.
#[test]
fn steps_that_move_a_column_to_the_end_say_so_in_plan_sql_and_plan_json() {
    let case = Case::new(
        "moves",
        "CREATE TABLE public.orders (id bigint PRIMARY KEY, amount integer NOT NULL, mail text, note text);
         INSERT INTO public.orders SELECT g, g, 'm' || g, 'n' FROM generate_series(1, 2000) g;",
        "CREATE TABLE public.orders (
             id bigint PRIMARY KEY,
             amount bigint NOT NULL,
             -- @renamed from=mail
             email text,
             note text
         );",
    );
    let plan = case.plan();
    for column in ["public.orders.amount", "public.orders.email"] {
        assert!(
            plan.contains(&format!(
                "-- note: moves column {column} to the end of its table: `SELECT *`, INSERT and COPY without a column list see it last"
            )),
            "{plan}"
        );
    }
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(case.plan_dir().join("plan.json")).unwrap())
            .unwrap();
    let mut moved: Vec<String> = json["steps"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["moves_to_end"].as_array().cloned().unwrap_or_default())
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    moved.sort();
    assert_eq!(
        moved,
        ["public.orders.amount", "public.orders.email"],
        "{json}"
    );
    let o = case.apply("apply", &["--phase", "all"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let mut columns: Vec<String> = case
        .connect()
        .query(
            "SELECT attname::text FROM pg_attribute WHERE attrelid = 'public.orders'::regclass \
             AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(columns[..2], ["id", "note"], "the moved columns come last");
    columns[2..].sort();
    assert_eq!(columns[2..], ["amount", "email"]);
}

/// `apply --mark-applied`: refused, naming what differs, while the database is not the plan's
/// `to` (at `from`; after a partial hand fix); once a hand hotfix made exactly the change, the
/// plan is recorded applied without running, `status` shows it `succeeded (marked)` and a
/// later `apply` has nothing to do.
#[test]
fn mark_applied_records_a_hotfixed_plan_and_refuses_otherwise() {
    let case = Case::new(
        "mark",
        "CREATE TABLE public.users (id bigint PRIMARY KEY, email text);
         INSERT INTO public.users SELECT g, 'u' || g FROM generate_series(1, 100) g;",
        "CREATE TABLE public.users (id bigint PRIMARY KEY, email text, name text);
         CREATE INDEX users_email_idx ON public.users (email);",
    );
    case.plan();
    let mark = || case.run(&["apply", "--mark-applied", "--db", &case.url, "plan"]);
    let o = mark();
    let t = text(&o);
    assert_eq!(code(&o), 1, "{t}");
    assert!(
        t.contains("cannot mark it applied")
            && t.contains("still at the plan's `from`")
            && t.contains("table public.users")
            && t.contains("index public.users_email_idx"),
        "{t}"
    );
    let mut c = case.connect();
    c.batch_execute("ALTER TABLE public.users ADD COLUMN name text")
        .unwrap();
    let o = mark();
    let t = text(&o);
    assert_eq!(code(&o), 1, "{t}");
    assert!(
        t.contains("index public.users_email_idx") && !t.contains("still at"),
        "{t}"
    );
    assert!(!case.status().contains("succeeded"), "nothing recorded");
    c.batch_execute("CREATE INDEX users_email_idx ON public.users (email)")
        .unwrap();
    let o = mark();
    let t = text(&o);
    assert_eq!(code(&o), 0, "{t}");
    assert!(t.contains("marked applied without running it"), "{t}");
    let s = case.status();
    assert!(
        s.contains("applied") && s.contains("succeeded (marked)"),
        "{s}"
    );
    let o = case.apply("apply", &[]);
    let t = text(&o);
    assert_eq!(code(&o), 0, "{t}");
    assert!(t.contains("already applied"), "{t}");
}

/// The narrowing check reads the table in batches of heap blocks, each its own read-only
/// statement (no snapshot held across the whole table): with batches of 2 blocks, rows that do
/// not fit in the first, a middle and the last block are all counted. The inverse step says
/// `narrowing`.
#[test]
fn narrowing_check_in_block_batches_counts_rows_in_every_batch() {
    let case = Case::new(
        "narrowing_batches",
        "CREATE TABLE public.orders (id bigint PRIMARY KEY, amount integer NOT NULL DEFAULT 0);
         INSERT INTO public.orders SELECT g, g FROM generate_series(1, 3000) g;",
        "CREATE TABLE public.orders (id bigint PRIMARY KEY, amount bigint NOT NULL DEFAULT 0);",
    );
    case.plan();
    let inverse = std::fs::read_to_string(case.plan_dir().join("inverse.sql")).unwrap();
    assert!(
        inverse.contains("hazards: narrowing"),
        "the narrowing inverse carries its hazard:\n{inverse}"
    );
    let o = case.apply("apply", &[]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let mut app = case.connect();
    app.batch_execute(
        "UPDATE public.orders SET amount = 3000000000 WHERE id IN (1, 1500);
         UPDATE public.orders SET amount = -3000000000 WHERE id = 3000;",
    )
    .unwrap();
    let blocks: i64 = app
        .query_one(
            "SELECT pg_relation_size('public.orders') / current_setting('block_size')::bigint",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(
        blocks > 6,
        "the table spans several batches ({blocks} blocks)"
    );
    let o = Command::new(env!("CARGO_BIN_EXE_schemaplan"))
        .current_dir(case.dir.path())
        .args([
            "rollback",
            "--db",
            &case.url,
            "plan",
            "--allow-hazards",
            "all",
        ])
        .env("SCHEMAPLAN_NARROWING_BATCH_BLOCKS", "2")
        .output()
        .unwrap();
    let t = text(&o);
    assert_eq!(code(&o), 1, "{t}");
    assert!(
        t.contains("in public.orders 3 rows cannot be converted"),
        "{t}"
    );
}

/// A table renamed with a column in one plan, killed while the column's index builds on the
/// renamed table: abort takes back what the column rename installed (trigger, function, new
/// column, NOT NULL, index) on the renamed table and keeps the table rename (with its
/// compatibility view: not temporary machinery, as for a table rename alone), every row as it
/// was through the old name; apply again finishes the plan with every row.
#[test]
fn abort_of_a_cut_off_table_and_column_rename_takes_back_the_column_machinery() {
    let case = Case::new(
        "rename_table_column",
        "CREATE TABLE public.members (id bigint PRIMARY KEY, mail text NOT NULL);
         CREATE INDEX members_mail_idx ON public.members (mail);
         INSERT INTO public.members SELECT g, 'u' || g || '@example.com' FROM generate_series(1, 4000) g;",
        "-- @renamed from=members
         CREATE TABLE public.users (
             id bigint PRIMARY KEY,
             -- @renamed from=mail
             email text NOT NULL
         );
         CREATE INDEX users_email_idx ON public.users (email);",
    );
    let rows = case.rows("public.members");
    case.plan();
    let build = case.step_with(Forward, "CREATE INDEX CONCURRENTLY");
    case.paused("apply", &[], &format!("after:{build}"), true, || {});
    let dump = case.schema_dump();
    assert!(dump.contains("users_email_mail_schemaplan_sync"), "{dump}");
    assert!(dump.contains("CREATE VIEW public.members"), "{dump}");
    let o = case.abort("apply");
    let t = text(&o);
    assert_eq!(code(&o), 0, "{t}");
    assert!(
        t.contains("took back steps 2, 3, 4, 5, 6, 7; steps up to 1 stay applied"),
        "{t}"
    );
    let dump = case.schema_dump();
    for gone in ["schemaplan_sync", "email", "schemaplan_new"] {
        assert!(!dump.contains(gone), "{gone} left after abort:\n{dump}");
    }
    assert!(dump.contains("CREATE VIEW public.members"), "{dump}");
    assert_eq!(
        case.rows("public.members"),
        rows,
        "rows through the old name"
    );
    let o = case.apply("apply", &["--phase", "all"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert_eq!(
        case.rows("public.users"),
        rows,
        "rows after the finished plan"
    );
    assert!(!case.schema_dump().contains("VIEW public.members"));
}
