//! Operators, operator classes and families through the binary, as a user meets them: `dump`
//! writes them (each schema's in one file, in dependency order: operators, the families
//! naming them, the classes naming those) and reads back in sync, with the index built with a
//! class; a class and a family in one schema made of operators of another (whose file sorts
//! after theirs) load from the dump into an empty database; a scope pattern `operator_class:` keeps a class (and so its index's rebuild) out of
//! a plan. (Plan shapes are in the fixture suite: `fixtures/operators/`.)

mod common;

use common::schemaplan_expect as run;

const SCHEMA: &str = "
    CREATE TABLE public.readings (id integer PRIMARY KEY, code integer NOT NULL);
    INSERT INTO public.readings SELECT g, g % 17 FROM generate_series(1, 50) g;
    CREATE FUNCTION public.rev_lt(a integer, b integer) RETURNS boolean LANGUAGE sql IMMUTABLE
      STRICT AS 'SELECT a > b';
    CREATE FUNCTION public.rev_eq(a integer, b integer) RETURNS boolean LANGUAGE sql IMMUTABLE
      STRICT AS 'SELECT a = b';
    CREATE FUNCTION public.rev_gt(a integer, b integer) RETURNS boolean LANGUAGE sql IMMUTABLE
      STRICT AS 'SELECT a < b';
    CREATE FUNCTION public.rev_cmp(a integer, b integer) RETURNS integer LANGUAGE sql IMMUTABLE
      STRICT AS 'SELECT CASE WHEN a > b THEN -1 WHEN a < b THEN 1 ELSE 0 END';
    CREATE FUNCTION public.negate(a integer) RETURNS integer LANGUAGE sql IMMUTABLE STRICT
      AS 'SELECT -a';
    CREATE OPERATOR public.<<< (FUNCTION = public.rev_lt, LEFTARG = integer, RIGHTARG = integer,
      COMMUTATOR = OPERATOR(public.>>>), RESTRICT = scalarltsel, JOIN = scalarltjoinsel);
    CREATE OPERATOR public.>>> (FUNCTION = public.rev_gt, LEFTARG = integer, RIGHTARG = integer,
      COMMUTATOR = OPERATOR(public.<<<));
    CREATE OPERATOR public.=== (FUNCTION = public.rev_eq, LEFTARG = integer, RIGHTARG = integer,
      COMMUTATOR = OPERATOR(public.===), HASHES, MERGES);
    CREATE OPERATOR public.@-@ (FUNCTION = public.negate, RIGHTARG = integer);
    COMMENT ON OPERATOR public.@-@ (NONE, integer) IS 'prefix';
    CREATE OPERATOR CLASS public.rev_int_ops FOR TYPE integer USING btree AS
      OPERATOR 1 public.<<<, OPERATOR 3 public.===, OPERATOR 5 public.>>>,
      FUNCTION 1 public.rev_cmp(integer, integer);
    COMMENT ON OPERATOR CLASS public.rev_int_ops USING btree IS 'reverse';
    CREATE INDEX readings_code_rev ON public.readings (code public.rev_int_ops);";

#[test]
fn dump_writes_operators_classes_and_families_that_read_back_in_sync() {
    let server = common::server();
    let (_db, url) = server.fresh_db("operators_dump");
    let mut c = schemaplan::db::connect(&url).unwrap();
    c.batch_execute(SCHEMA).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    let dev = server.admin_url();
    run(cwd, &["dump", "--db", &url, "--out", "dumped"], 0);
    let ops = std::fs::read_to_string(cwd.join("dumped/public/operators.sql")).unwrap();
    // The class's implicit family is written as a family of its own, before the class.
    let (family, class) = (
        ops.find("CREATE OPERATOR FAMILY public.rev_int_ops USING btree;"),
        ops.find("CREATE OPERATOR CLASS public.rev_int_ops FOR TYPE integer USING btree FAMILY public.rev_int_ops AS"),
    );
    assert!(
        family.is_some() && class.is_some() && family < class,
        "{ops}"
    );
    assert!(
        ops.contains("CREATE OPERATOR public.@-@ (FUNCTION = public.negate, RIGHTARG = integer);"),
        "{ops}"
    );
    common::project::dump_plans_back_to_nothing(cwd, &url, &dev);
}

#[test]
fn drift_sees_an_operator_changed_by_hand_and_a_plan_puts_it_back() {
    let server = common::server();
    let (_db, url) = server.fresh_db("operators_drift");
    let mut c = schemaplan::db::connect(&url).unwrap();
    c.batch_execute(SCHEMA).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    std::fs::create_dir(cwd.join("schema")).unwrap();
    std::fs::write(
        cwd.join("schema/all.sql"),
        SCHEMA.replace("INSERT INTO", "-- INSERT INTO"),
    )
    .unwrap();
    let dev = server.admin_url();
    run(cwd, &["drift", "--db", &url, "--dev-url", &dev], 0);
    // By hand: the estimator of <<< goes (ALTER OPERATOR can do that much).
    c.batch_execute("ALTER OPERATOR public.<<< (integer, integer) SET (RESTRICT = NONE)")
        .unwrap();
    let t = run(cwd, &["drift", "--db", &url, "--dev-url", &dev], 2);
    assert!(t.contains("operator public.<<<(integer, integer)"), "{t}");
    run(
        cwd,
        &[
            "plan",
            "--db",
            &url,
            "--dev-url",
            &dev,
            "--out",
            "plans/p",
            "--small-table",
            "0",
        ],
        0,
    );
    let plan = std::fs::read_to_string(cwd.join("plans/p/plan.sql")).unwrap();
    assert!(
        plan.contains("DROP INDEX CONCURRENTLY public.readings_code_rev;"),
        "{plan}"
    );
    assert!(plan.contains("RESTRICT = pg_catalog.scalarltsel"), "{plan}");
    run(
        cwd,
        &["apply", "--db", &url, "plans/p", "--allow-hazards", "all"],
        0,
    );
    run(cwd, &["drift", "--db", &url, "--dev-url", &dev], 0);
    let rows: i64 = c
        .query_one("SELECT count(*) FROM public.readings", &[])
        .unwrap()
        .get(0);
    assert_eq!(rows, 50);
}

/// Operators in schema `zeta`, the operator class and a loose family using them in schema
/// `alpha` (a name that sorts first), an index built with the class on a table with rows.
const ACROSS_SCHEMAS: &str = "
    CREATE SCHEMA alpha;
    CREATE SCHEMA zeta;
    CREATE FUNCTION zeta.lt(a integer, b integer) RETURNS boolean LANGUAGE sql IMMUTABLE STRICT
      AS 'SELECT a < b';
    CREATE FUNCTION zeta.eq(a integer, b integer) RETURNS boolean LANGUAGE sql IMMUTABLE STRICT
      AS 'SELECT a = b';
    CREATE FUNCTION zeta.gt(a integer, b integer) RETURNS boolean LANGUAGE sql IMMUTABLE STRICT
      AS 'SELECT a > b';
    CREATE OPERATOR zeta.<<< (FUNCTION = zeta.lt, LEFTARG = integer, RIGHTARG = integer,
      COMMUTATOR = OPERATOR(zeta.>>>));
    CREATE OPERATOR zeta.>>> (FUNCTION = zeta.gt, LEFTARG = integer, RIGHTARG = integer);
    CREATE OPERATOR zeta.=== (FUNCTION = zeta.eq, LEFTARG = integer, RIGHTARG = integer,
      COMMUTATOR = OPERATOR(zeta.===));
    CREATE OPERATOR CLASS alpha.int_ops FOR TYPE integer USING btree AS
      OPERATOR 1 zeta.<<<, OPERATOR 3 zeta.===, OPERATOR 5 zeta.>>>,
      FUNCTION 1 btint4cmp(integer, integer);
    CREATE OPERATOR FAMILY alpha.loose USING hash;
    ALTER OPERATOR FAMILY alpha.loose USING hash ADD OPERATOR 1 zeta.=== (integer, integer),
      FUNCTION 1 hashint4(integer);
    CREATE TABLE public.readings (id integer PRIMARY KEY, code integer NOT NULL);
    CREATE INDEX readings_code_ops ON public.readings (code alpha.int_ops);
    INSERT INTO public.readings SELECT g, g % 17 FROM generate_series(1, 50) g;";

#[test]
fn dump_writes_operators_across_schemas_in_an_order_that_loads_into_an_empty_database() {
    let server = common::server();
    let (_db, url) = server.fresh_db("operators_across_schemas");
    let mut c = schemaplan::db::connect(&url).unwrap();
    c.batch_execute(ACROSS_SCHEMAS).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    let dev = server.admin_url();
    run(cwd, &["dump", "--db", &url, "--out", "dumped"], 0);
    // Through schemaplan: planned onto an empty database, applied, in sync with the files and
    // with the database dumped.
    let (_empty, empty_url) = server.fresh_db("operators_across_schemas_load");
    run(
        cwd,
        &[
            "plan",
            "--db",
            &empty_url,
            "--dev-url",
            &dev,
            "--schema",
            "dumped",
            "--out",
            "plans/load",
        ],
        0,
    );
    run(cwd, &["apply", "--db", &empty_url, "plans/load"], 0);
    run(
        cwd,
        &[
            "drift",
            "--db",
            &empty_url,
            "--dev-url",
            &dev,
            "--schema",
            "dumped",
        ],
        0,
    );
    common::project::dump_plans_back_to_nothing(cwd, &url, &dev);
}
