//! A database is never left stuck by a plan that stops half-way. Through the binary, on tables
//! with rows:
//! - a batched backfill on a table without a key (the heap-block walk) finishes on a table far
//!   larger than any fallback bound of its mop-up, and a SET that can never finish the rows
//!   fails at once, saying which rows;
//! - a changed CHECK whose validation fails leaves the old CHECK in place; the failure says
//!   which rows and what to do, and both `rollback` and, after fixing the rows, `apply` work;
//! - a row written with NULL into a new NOT NULL column between its backfill and its NOT NULL
//!   check does not make every later run fail;
//! - on PostgreSQL 18, a NOT VALID NOT NULL whose validation fails is taken back.

mod common;
#[path = "common/exec.rs"]
mod support;

use common::case::Case;

impl Case {
    fn count(&self, sql: &str) -> i64 {
        self.connect().query_one(sql, &[]).unwrap().get(0)
    }

    /// `name: definition [NOT VALID]` of the table's CHECK constraints, sorted.
    fn checks(&self, table: &str) -> Vec<String> {
        self.connect()
            .query(
                "SELECT conname || ': ' || pg_get_constraintdef(oid) \
                 FROM pg_constraint WHERE conrelid = $1::text::regclass AND contype = 'c' \
                 ORDER BY 1",
                &[&table],
            )
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect()
    }
}

use common::exit_code as code;
use common::output_text as text;
/// 250,000 rows and no primary key or unique NOT NULL key: the backfill of a new NOT NULL
/// column walks heap blocks. Every row must be filled by the walk, far past the bound
/// (10 x the largest batch, 100,000 rows) the mop-up stops at.
#[test]
fn backfill_without_a_key_fills_a_table_larger_than_any_fallback_bound() {
    const ROWS: i64 = 250_000;
    let case = Case::new(
        "blocks",
        &format!(
            "CREATE TABLE public.readings (sensor int NOT NULL, val int NOT NULL);
             INSERT INTO public.readings SELECT g % 100, g FROM generate_series(1, {ROWS}) g;
             ANALYZE public.readings;"
        ),
        "CREATE TABLE public.readings (
             sensor int NOT NULL,
             val int NOT NULL,
             -- @backfill val * 2
             doubled bigint NOT NULL
         );",
    );
    let plan = case.plan();
    assert!(
        plan.contains("transaction: batched")
            && plan.contains("UPDATE public.readings SET doubled = val * 2 WHERE doubled IS NULL;"),
        "{plan}"
    );
    let o = case.apply("apply", &[]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert_eq!(
        case.count(
            "SELECT count(*) FROM public.readings WHERE doubled IS DISTINCT FROM val::bigint * 2"
        ),
        0
    );
    assert_eq!(case.count("SELECT count(*) FROM public.readings"), ROWS);
}

/// A backfill whose expression yields NULL for some rows can never finish them: the step
/// stops at the first batch that meets one (not after walking the whole table), names the
/// predicate and how to see the rows, and keeps what earlier batches committed.
#[test]
fn backfill_whose_expression_yields_null_stops_at_once_saying_which_rows() {
    let case = Case::new(
        "null_backfill",
        "CREATE TABLE public.items (id bigint PRIMARY KEY, code text);
         INSERT INTO public.items SELECT g, CASE WHEN g <> 4321 THEN 'c' || g END
             FROM generate_series(1, 20000) g;",
        "CREATE TABLE public.items (
             id bigint PRIMARY KEY,
             code text,
             -- @backfill upper(code)
             label text NOT NULL
         );",
    );
    case.plan();
    let o = case.apply("apply", &["--batch-rows", "1000", "--batch-target-ms", "0"]);
    let t = text(&o);
    assert_eq!(code(&o), 1, "{t}");
    assert!(
        t.contains("1 of the 1000 rows of batch 5 still match `WHERE label IS NULL`")
            && t.contains("SELECT * FROM public.items WHERE label IS NULL")
            && t.contains("resumes after its last committed batch (4000 rows done)"),
        "{t}"
    );
    assert_eq!(
        case.count("SELECT count(*) FROM public.items WHERE label IS NOT NULL"),
        4000
    );
    // Fixed the row: the next apply continues and finishes.
    case.connect()
        .batch_execute("UPDATE public.items SET code = 'fixed' WHERE id = 4321")
        .unwrap();
    let o = case.apply("apply", &["--batch-rows", "1000", "--batch-target-ms", "0"]);
    let t = text(&o);
    assert_eq!(code(&o), 0, "{t}");
    assert!(t.contains("resuming after batch 4"), "{t}");
    assert_eq!(
        case.count("SELECT count(*) FROM public.items WHERE label IS DISTINCT FROM upper(code)"),
        0
    );
}

/// A CHECK made stricter on a table with rows that violate the new one: `plan` refuses, with
/// the count and the query. Fixed, the plan adds the new CHECK beside the old one (NOT VALID,
/// temporary name), validates it, and only then drops the old one. Rows written between plan
/// and apply violate it again: the validation fails, the old CHECK is still there and the new
/// one is taken back, the message counts the rows and shows the query; `rollback` has nothing
/// to undo, and after the rows are fixed `apply` runs the plan to its end.
#[test]
fn stricter_check_that_rows_violate_leaves_the_old_check_and_both_rollback_and_apply_work() {
    let case = Case::new(
        "stricter_check",
        "CREATE TABLE public.products (
             id int PRIMARY KEY,
             price numeric NOT NULL,
             CONSTRAINT products_price_check CHECK (price >= 0)
         );
         INSERT INTO public.products SELECT g, g FROM generate_series(1, 1000) g;",
        "CREATE TABLE public.products (
             id int PRIMARY KEY,
             price numeric NOT NULL,
             CONSTRAINT products_price_check CHECK (price >= 0 AND price < 900)
         );",
    );
    let old = vec!["products_price_check: CHECK ((price >= (0)::numeric))".to_string()];
    assert_eq!(case.checks("public.products"), old);
    let o = case.run(&[
        "plan",
        "--db",
        &case.url,
        "--dev-url",
        &common::server().admin_url(),
        "--out",
        "plan",
    ]);
    let t = text(&o);
    assert_eq!(code(&o), 1, "{t}");
    assert!(
        t.contains("constraint products_price_check on public.products: 101 rows violate CHECK (((price >= (0)::numeric) AND (price < (900)::numeric))); see them: `SELECT * FROM public.products WHERE NOT (((price >= (0)::numeric) AND (price < (900)::numeric)))`"),
        "{t}"
    );
    assert!(!case.plan_dir().exists());
    let mut c = case.connect();
    c.batch_execute("UPDATE public.products SET price = 899 WHERE price >= 900")
        .unwrap();
    let plan = case.plan();
    // Written by the application after the plan was made.
    c.batch_execute(
        "INSERT INTO public.products SELECT g, 900 + g FROM generate_series(1001, 1101) g",
    )
    .unwrap();
    let o = case.apply("apply", &[]);
    let t = text(&o);
    assert_eq!(code(&o), 1, "{t}");
    assert!(
        t.contains("101 rows of public.products violate constraint products_price_check_schemaplan_new; see them: `SELECT * FROM public.products WHERE NOT (((price >= (0)::numeric) AND (price < (900)::numeric)))`")
            && t.contains("was dropped again")
            && t.contains("`rollback` has nothing to undo")
            && t.contains("next: fix those rows and apply again"),
        "{t}"
    );
    assert_eq!(
        case.checks("public.products"),
        old,
        "the old CHECK stays, the new one is taken back:\n{plan}"
    );
    // The application is held to the old rule only.
    c.batch_execute("INSERT INTO public.products VALUES (2001, 5000)")
        .unwrap();
    assert!(c
        .batch_execute("INSERT INTO public.products VALUES (2002, -1)")
        .is_err());

    let o = case.apply("rollback", &[]);
    let t = text(&o);
    assert_eq!(code(&o), 0, "{t}");
    assert!(t.contains("nothing to roll back"), "{t}");
    assert_eq!(case.checks("public.products"), old);

    c.batch_execute("UPDATE public.products SET price = 899 WHERE price >= 900")
        .unwrap();
    let o = case.apply("apply", &[]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert_eq!(
        case.checks("public.products"),
        ["products_price_check: CHECK (((price >= (0)::numeric) AND (price < (900)::numeric)))"]
    );
    assert!(
        plan.contains("ADD CONSTRAINT products_price_check_schemaplan_new CHECK")
            && plan.contains("VALIDATE CONSTRAINT products_price_check_schemaplan_new"),
        "{plan}"
    );
}

/// The application (an old version that does not know the new column) inserts a row between
/// the backfill of a new NOT NULL column without a default and the NOT VALID check: the row
/// gets NULL. The validation must not fail on it (it did on every re-run: the backfill never
/// ran again): the validation step fills such rows first.
#[test]
fn row_inserted_between_backfill_and_not_null_check_does_not_make_validation_fail() {
    use std::io::{BufRead, BufReader, Write};
    let case = Case::new(
        "late_insert",
        "CREATE TABLE public.accounts (id bigint PRIMARY KEY, email text NOT NULL);
         INSERT INTO public.accounts SELECT g, 'user' || g || '@example.com'
             FROM generate_series(1, 5000) g;",
        "CREATE TABLE public.accounts (
             id bigint PRIMARY KEY,
             email text NOT NULL,
             -- @backfill length(email)
             score integer NOT NULL
         );",
    );
    case.plan();
    let file =
        schemaplan::planfile::read_dir(&case.plan_dir(), schemaplan::plan::Direction::Forward)
            .unwrap();
    let check = 1 + file
        .plan
        .steps
        .iter()
        .position(|s| s.sql.contains("IS NOT NULL) NOT VALID"))
        .expect("a NOT VALID NOT NULL check");
    assert_eq!(
        file.plan.steps[check - 2].transaction,
        schemaplan::plan::TxMode::Batched,
        "the check follows the backfill"
    );
    let pause = format!("before:{check}");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_schemaplan"))
        .args(["apply", "--db", &case.url, "plan", "--allow-hazards", "all"])
        .current_dir(case.dir.path())
        .env_remove("DATABASE_URL")
        .env("SCHEMAPLAN_TEST_PAUSE", &pause)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "apply ended before {pause}:\n{seen}"
        );
        seen.push_str(&line);
        if line.contains(&format!("schemaplan-test-pause {pause}")) {
            break;
        }
    }
    case.connect()
        .batch_execute("INSERT INTO public.accounts (id, email) VALUES (5001, 'late@example.com')")
        .unwrap();
    child.stdin.take().unwrap().write_all(b"\n").unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{seen}{rest}");
    assert_eq!(
        case.count(
            "SELECT count(*) FROM public.accounts WHERE score IS DISTINCT FROM length(email)"
        ),
        0
    );
    assert_eq!(
        case.count(
            "SELECT count(*) FROM pg_attribute WHERE attrelid = 'public.accounts'::regclass \
             AND attname = 'score' AND attnotnull"
        ),
        1
    );
}

/// The taking back of a failed validation's NOT VALID constraint (`exec::undo`) never leaves a
/// table with neither rule: when a done step of the plan had dropped a constraint of that name
/// first (a changed foreign key is dropped and added again), the NOT VALID one stays.
#[test]
fn failed_validation_keeps_the_not_valid_constraint_when_the_old_one_was_dropped_first() {
    let step = support::tx_step;
    let f = support::Fixture::with_target(
        "stuck_dropped_first",
        &["CREATE TABLE public.t (a int, CONSTRAINT t_a_check CHECK (a > 0));"],
        vec![
            step(
                "drop constraint t_a_check on public.t",
                "ALTER TABLE public.t DROP CONSTRAINT t_a_check;",
            ),
            step(
                "add constraint t_a_check on public.t",
                "ALTER TABLE public.t ADD CONSTRAINT t_a_check CHECK (a > 50) NOT VALID;",
            ),
            schemaplan::plan::Step {
                lock: schemaplan::plan::LockLevel::ShareUpdateExclusive,
                ..step(
                    "validate constraint t_a_check on public.t",
                    "ALTER TABLE public.t VALIDATE CONSTRAINT t_a_check;",
                )
            },
        ],
        &[
            "ALTER TABLE public.t DROP CONSTRAINT t_a_check",
            "ALTER TABLE public.t ADD CONSTRAINT t_a_check CHECK (a > 50)",
        ],
    );
    // Rows after the fixture is made: its `to` is computed on a copy without them.
    f.connect()
        .batch_execute("INSERT INTO public.t SELECT g FROM generate_series(1, 100) g")
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let o = common::schemaplan(
        dir.path(),
        &[
            "apply",
            "--db",
            &f.url,
            f.dir.to_str().unwrap(),
            "--allow-hazards",
            "all",
        ],
    );
    let t = text(&o);
    assert_eq!(code(&o), 1, "{t}");
    assert!(t.contains("fix the cause and apply again"), "{t}");
    let def: String = f
        .connect()
        .query_one(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 't_a_check'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(def, "CHECK ((a > 50)) NOT VALID");
}

/// PostgreSQL 18: SET NOT NULL on a table with rows is `ADD CONSTRAINT ... NOT NULL ... NOT
/// VALID` then `VALIDATE`. A NULL written after the plan was made fails the validation (23502):
/// the NOT VALID constraint is dropped again, so the column is as it was (nullable, `rollback`
/// has nothing to undo), the error counts the rows and shows the query that lists them, and
/// once they are fixed `apply` runs the plan through.
#[test]
fn not_null_whose_validation_fails_on_18_is_taken_back_and_apply_works_after_the_fix() {
    if common::server().version_num() < 180000 {
        eprintln!("skipped: NOT VALID NOT NULL constraints are PostgreSQL 18");
        return;
    }
    let case = Case::new(
        "not_null_not_valid",
        "CREATE TABLE public.users (id int PRIMARY KEY, email text);
         INSERT INTO public.users SELECT g, 'u' || g FROM generate_series(1, 1000) g;",
        "CREATE TABLE public.users (id int PRIMARY KEY, email text NOT NULL);",
    );
    let plan = case.plan();
    assert!(
        plan.contains("ADD CONSTRAINT users_email_not_null NOT NULL email NOT VALID;"),
        "{plan}"
    );
    let mut c = case.connect();
    // Written by the application after the plan was made.
    c.batch_execute("INSERT INTO public.users VALUES (1001, NULL)")
        .unwrap();
    let o = case.apply("apply", &[]);
    let t = text(&o);
    assert_eq!(code(&o), 1, "{t}");
    assert!(
        t.contains("1 row of public.users violates constraint users_email_not_null; see it: `SELECT * FROM public.users WHERE NOT (email IS NOT NULL)`")
            && t.contains("was dropped again")
            && t.contains("`rollback` has nothing to undo"),
        "{t}"
    );
    let not_null: bool = c
        .query_one(
            "SELECT attnotnull FROM pg_attribute WHERE attrelid = 'public.users'::regclass \
             AND attname = 'email'",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(!not_null, "the NOT VALID constraint is taken back:\n{t}");
    c.batch_execute("UPDATE public.users SET email = 'late' WHERE email IS NULL")
        .unwrap();
    let o = case.apply("apply", &[]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert_eq!(
        case.count("SELECT count(*) FROM pg_constraint WHERE conname = 'users_email_not_null' AND convalidated"),
        1
    );
}
