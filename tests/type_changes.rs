//! Column type changes never change or lose a value silently, through the real binary: a
//! change that would (`text` -> `varchar(5)` with longer values, numeric scale reduction,
//! `float8` -> `integer`, `timestamptz` -> `date`, `bigint` -> `integer` out of range) is
//! refused at plan time with the count of rows, the column's `file:line:col` and the
//! `-- @using` fix; one whose rows all fit plans and applies with every value byte-identical;
//! a value written between plan and apply that would not fit fails the apply (online and plain
//! forms) instead of being truncated or rounded; `@using` is marked `data-loss`; and the
//! rollback of `serial` -> `integer` leaves the sequence past the existing keys.

mod common;

use std::path::Path;
use std::process::Output;

use common::schemaplan as run;

use common::exit_code as code;
use common::output_text as text;
/// A database loaded with `before`, a schema folder holding `after` as `schema/t.sql`.
struct Case {
    db: String,
    url: String,
    client: postgres::Client,
    tmp: tempfile::TempDir,
}

impl Case {
    fn new(tag: &str, before: &str, after: &str) -> Case {
        let server = common::server();
        let (db, url) = server.fresh_db(&format!("types_{tag}"));
        let mut client = server.connect(&db);
        client.batch_execute(before).unwrap();
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir(tmp.path().join("schema")).unwrap();
        std::fs::write(tmp.path().join("schema/t.sql"), after).unwrap();
        Case {
            db,
            url,
            client,
            tmp,
        }
    }

    fn plan(&self, out: &str, extra: &[&str]) -> Output {
        let dev = common::server().admin_url();
        let mut args = vec![
            "plan",
            "--schema",
            "schema",
            "--db",
            &self.url,
            "--dev-url",
            &dev,
            "--out",
            out,
        ];
        args.extend_from_slice(extra);
        run(self.tmp.path(), &args)
    }

    fn apply(&self, cmd: &str, out: &str) -> Output {
        run(
            self.tmp.path(),
            &[
                cmd,
                "--db",
                &self.url,
                out,
                "--phase",
                "all",
                "--allow-hazards",
                "all",
            ],
        )
    }

    fn dir(&self) -> &Path {
        self.tmp.path()
    }

    /// Every value of `expr` over the table, ordered by `id`, as text.
    fn values(&mut self, expr: &str) -> Vec<Option<String>> {
        self.client
            .query(&format!("SELECT ({expr})::text FROM t ORDER BY id"), &[])
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect()
    }
}

impl Drop for Case {
    fn drop(&mut self) {
        common::server().drop_db(&self.db);
    }
}

/// Plans `after` against `before` and expects the refusal: exit 1, no plan written, and the
/// message naming `at`, the types and `rows`, with the `@using` fix.
fn refused(tag: &str, before: &str, after: &str, at: &str, rows: &str) {
    let c = Case::new(tag, before, after);
    let o = c.plan("p", &[]);
    let t = text(&o);
    assert_eq!(code(&o), 1, "{t}");
    assert!(t.contains(&format!("t.sql:{at}: column public.t.")), "{t}");
    assert!(t.contains(rows), "{t}");
    assert!(t.contains("`-- @using <expression>`"), "{t}");
    assert!(!c.dir().join("p").exists());
}

#[test]
fn text_to_varchar_with_long_values_is_refused_with_the_count_and_the_fix() {
    refused(
        "long",
        "CREATE TABLE t (id int PRIMARY KEY, s text);
         INSERT INTO t VALUES (1, 'abc'), (2, 'abcdefgh'), (3, NULL), (4, '123456'), (5, 'abcde');",
        "CREATE TABLE t (\n    id int PRIMARY KEY,\n    s varchar(5)\n);\n",
        "3:5",
        "from text to character varying(5), and in public.t 2 rows would change",
    );
}

#[test]
fn numeric_scale_reduction_that_rounds_is_refused() {
    refused(
        "scale",
        "CREATE TABLE t (id int PRIMARY KEY, n numeric(12,2));
         INSERT INTO t VALUES (1, 1.50), (2, 2.00), (3, 3.25);",
        "CREATE TABLE t (id int PRIMARY KEY, n numeric(12,0));\n",
        "1:37",
        "2 rows would change",
    );
}

#[test]
fn float_to_integer_that_rounds_is_refused() {
    refused(
        "float",
        "CREATE TABLE t (id int PRIMARY KEY, f float8);
         INSERT INTO t VALUES (1, 1.5), (2, 2), (3, -0.25);",
        "CREATE TABLE t (id int PRIMARY KEY, f integer);\n",
        "1:37",
        "2 rows would change",
    );
}

#[test]
fn timestamptz_to_date_that_drops_the_time_is_refused() {
    refused(
        "date",
        "CREATE TABLE t (id int PRIMARY KEY, at timestamptz);
         INSERT INTO t VALUES (1, '2024-03-01 12:34:56+00'), (2, NULL);",
        "CREATE TABLE t (id int PRIMARY KEY, at date);\n",
        "1:37",
        "1 row would change",
    );
}

#[test]
fn bigint_to_integer_out_of_range_is_refused_with_the_exact_count() {
    refused(
        "range",
        "CREATE TABLE t (id int PRIMARY KEY, b bigint);
         INSERT INTO t VALUES (1, 5), (2, 3000000000), (3, -3000000000), (4, 7);",
        "CREATE TABLE t (id int PRIMARY KEY, b integer);\n",
        "1:37",
        "2 rows cannot be converted",
    );
}

/// Values that fit plan and apply (online form under `--small-table 0`, plain form under the
/// default) byte-identical; a longer value written after plan time fails the apply instead of
/// being cut, and stays as it was.
#[test]
fn text_to_varchar_keeps_fitting_values_and_refuses_late_long_ones() {
    for (tag, args) in [("online", &["--small-table", "0"][..]), ("plain", &[][..])] {
        let before = "CREATE TABLE t (id int PRIMARY KEY, s text);
             INSERT INTO t VALUES (1, 'abc'), (2, 'abcde'), (3, NULL), (4, ''), (5, 'é€x');";
        let after = "CREATE TABLE t (id int PRIMARY KEY, s varchar(5));\n";
        let mut c = Case::new(tag, before, after);
        let original = c.values("s");
        let o = c.plan("p", args);
        assert_eq!(code(&o), 0, "{tag}: {}", text(&o));
        let plan = std::fs::read_to_string(c.dir().join("p/plan.sql")).unwrap();
        // Assigned, never cast: `USING s` / `SET s_schemaplan_new = s` / `:= NEW.s`.
        assert!(
            plan.contains("USING s;") || plan.contains("SET s_schemaplan_new = s WHERE"),
            "{tag}: {plan}"
        );
        assert!(!plan.contains("s::character varying(5)"), "{tag}: {plan}");
        assert!(plan.contains("t_s_schemaplan_lossless"), "{tag}: {plan}");
        // A long value arrives between plan and apply: the apply fails, nothing is cut.
        c.client
            .batch_execute("INSERT INTO t VALUES (6, 'abcdefgh')")
            .unwrap();
        let o = c.apply("apply", "p");
        assert_eq!(code(&o), 1, "{tag}: {}", text(&o));
        assert_eq!(
            c.values("s").last().cloned().flatten().as_deref(),
            Some("abcdefgh"),
            "{tag}"
        );
        // Without it the same plan, run again, finishes, every value unchanged.
        c.client
            .batch_execute("DELETE FROM t WHERE id = 6")
            .unwrap();
        let o = c.apply("apply", "p");
        assert_eq!(code(&o), 0, "{tag}: {}", text(&o));
        let ty: String = c
            .client
            .query_one(
                "SELECT format_type(atttypid, atttypmod) FROM pg_attribute \
                 WHERE attrelid = 't'::regclass AND attname = 's'",
                &[],
            )
            .unwrap()
            .get(0);
        assert_eq!(ty, "character varying(5)", "{tag}");
        assert_eq!(c.values("s"), original, "{tag}");
    }
}

/// Numeric scale reduction rounds even under assignment: with integral values it plans (the
/// data check finds nothing to change), and a fractional value written after plan time fails
/// the guard instead of being rounded.
#[test]
fn numeric_scale_reduction_guard_refuses_a_late_fraction() {
    for (tag, args) in [("online", &["--small-table", "0"][..]), ("plain", &[][..])] {
        let before = "CREATE TABLE t (id int PRIMARY KEY, n numeric(12,2));
             INSERT INTO t VALUES (1, 1.00), (2, 20), (3, NULL);";
        let after = "CREATE TABLE t (id int PRIMARY KEY, n numeric(12,0));\n";
        let mut c = Case::new(&format!("late_{tag}"), before, after);
        let o = c.plan("p", args);
        assert_eq!(code(&o), 0, "{tag}: {}", text(&o));
        c.client
            .batch_execute("INSERT INTO t VALUES (4, 2.50)")
            .unwrap();
        let o = c.apply("apply", "p");
        assert_eq!(code(&o), 1, "{tag}: {}", text(&o));
        assert!(
            text(&o).contains("t_n_schemaplan_lossless"),
            "{tag}: {}",
            text(&o)
        );
        assert_eq!(
            c.values("n").last().cloned().flatten().as_deref(),
            Some("2.50")
        );
    }
}

/// `-- @using` states the conversion: the plan uses it and marks the step `data-loss`.
#[test]
fn using_a_truncating_expression_is_marked_data_loss() {
    let mut c = Case::new(
        "using",
        "CREATE TABLE t (id int PRIMARY KEY, s text);
         INSERT INTO t VALUES (1, 'abcdefgh');",
        "CREATE TABLE t (\n    id int PRIMARY KEY,\n    -- @using left(s, 5)\n    s varchar(5)\n);\n",
    );
    let o = c.plan("p", &[]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let plan = std::fs::read_to_string(c.dir().join("p/plan.sql")).unwrap();
    assert!(plan.contains("-- hazards: data-loss"), "{plan}");
    assert!(plan.contains("USING (left(s, 5))"), "{plan}");
    let o = run(c.dir(), &["apply", "--db", &c.url, "p"]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(text(&o).contains("data-loss"), "{}", text(&o));
    let o = c.apply("apply", "p");
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert_eq!(c.values("s"), vec![Some("abcde".to_string())]);
}

/// `serial` -> `integer` drops the sequence; its rollback creates it again past the existing
/// keys, so the next INSERT gets a new key instead of a duplicate-key error.
#[test]
fn serial_to_integer_rollback_continues_after_the_existing_keys() {
    let mut c = Case::new(
        "serial",
        "CREATE TABLE t (id serial PRIMARY KEY, s text);
         INSERT INTO t (s) SELECT 'row ' || g FROM generate_series(1, 5) g;",
        "CREATE TABLE t (id integer PRIMARY KEY, s text);\n",
    );
    let o = c.plan("p", &[]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let o = c.apply("apply", "p");
    assert_eq!(code(&o), 0, "{}", text(&o));
    c.client
        .batch_execute("INSERT INTO t VALUES (6, 'row 6'), (7, 'row 7')")
        .unwrap();
    let o = c.apply("rollback", "p");
    assert_eq!(code(&o), 0, "{}", text(&o));
    c.client
        .batch_execute("INSERT INTO t (s) VALUES ('after rollback')")
        .unwrap();
    let id: i32 = c
        .client
        .query_one("SELECT id FROM t WHERE s = 'after rollback'", &[])
        .unwrap()
        .get(0);
    assert_eq!(id, 8);
}

/// How long the plan-time data check takes on a 1M-row table (on demand: `cargo test --test
/// type_changes -- --ignored --nocapture`): `plan` of `text` -> `varchar(20)` whose values fit
/// (the quick count), and of `bigint` -> `integer` with one value out of range (the quick count
/// fails, then the exact row-by-row count).
#[test]
#[ignore]
fn data_check_timing_on_a_million_rows() {
    for (tag, before, after) in [
        (
            "fits",
            "CREATE TABLE t (id int PRIMARY KEY, s text);
             INSERT INTO t SELECT g, 'value ' || g FROM generate_series(1, 1000000) g;",
            "CREATE TABLE t (id int PRIMARY KEY, s varchar(20));\n",
        ),
        (
            "out_of_range",
            "CREATE TABLE t (id int PRIMARY KEY, b bigint);
             INSERT INTO t SELECT g, g FROM generate_series(1, 1000000) g;
             UPDATE t SET b = 3000000000 WHERE id = 500000;",
            "CREATE TABLE t (id int PRIMARY KEY, b integer);\n",
        ),
    ] {
        let c = Case::new(&format!("timing_{tag}"), before, after);
        let start = std::time::Instant::now();
        let o = c.plan("p", &["--no-proof"]);
        eprintln!(
            "{tag}: plan exit {} in {:.1}s\n{}",
            code(&o),
            start.elapsed().as_secs_f64(),
            text(&o)
        );
    }
}

/// To a domain over `varchar(5)` (a user type, converted through text): the cast goes to the
/// base type without its length and the assignment to the domain refuses a longer value,
/// instead of an explicit cast to the domain cutting it.
#[test]
fn text_to_a_domain_over_varchar_refuses_long_values_at_apply() {
    let mut c = Case::new(
        "domain",
        "CREATE DOMAIN public.code AS varchar(5);
         CREATE TABLE t (id int PRIMARY KEY, s text);
         INSERT INTO t VALUES (1, 'abcdefgh');",
        "CREATE DOMAIN public.code AS varchar(5);\nCREATE TABLE t (id int PRIMARY KEY, s public.code);\n",
    );
    let o = c.plan("p", &[]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let o = c.apply("apply", "p");
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert_eq!(c.values("s"), vec![Some("abcdefgh".to_string())]);
}

/// An extension's type (`citext`) is known to the cast probe: `text` -> `citext` is checked and
/// guarded like a built-in change, not marked `data-loss` for want of knowing the type.
#[test]
fn text_to_an_extension_type_is_checked_not_marked_data_loss() {
    let mut c = Case::new(
        "citext",
        "CREATE EXTENSION citext;
         CREATE TABLE t (id int PRIMARY KEY, s text);
         INSERT INTO t VALUES (1, 'Mixed Case'), (2, NULL);",
        "CREATE EXTENSION citext;\nCREATE TABLE t (id int PRIMARY KEY, s citext);\n",
    );
    let original = c.values("s");
    let o = c.plan("p", &[]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let plan = std::fs::read_to_string(c.dir().join("p/plan.sql")).unwrap();
    assert!(!plan.contains("data-loss"), "{plan}");
    let o = c.apply("apply", "p");
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert_eq!(c.values("s"), original);
}
