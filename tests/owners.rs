//! Owners survive plans, through the binary: an object a plan drops and creates again keeps
//! its owner (a `SECURITY DEFINER` function must not come back owned by the superuser running
//! `apply`, nor a view checking permissions and row-level security as that superuser), and
//! an owner declared in the schema files (`ALTER ... OWNER TO`) is set and watched by `drift`.

mod common;

use common::schemaplan_expect as run;
fn owner_of(c: &mut postgres::Client, sql: &str) -> String {
    c.query_one(sql, &[]).unwrap().get::<_, String>(0)
}

fn function_owner(c: &mut postgres::Client) -> String {
    owner_of(
        c,
        "SELECT pg_get_userbyid(proowner)::text FROM pg_proc WHERE proname = 'count_secrets'",
    )
}

fn view_owner(c: &mut postgres::Client) -> String {
    owner_of(
        c,
        "SELECT pg_get_userbyid(relowner)::text FROM pg_class WHERE relname = 'visible_secrets'",
    )
}

/// What `app_reader` sees through the view and the function: both read the table with their
/// owner's rights, and row-level security applies to that owner (a superuser would bypass it
/// and see all 10 rows).
fn rows_seen_by_reader(c: &mut postgres::Client) -> (i64, i64) {
    let mut tx = c.transaction().unwrap();
    tx.batch_execute("SET LOCAL ROLE app_reader").unwrap();
    let view: i64 = tx
        .query_one("SELECT count(*) FROM public.visible_secrets", &[])
        .unwrap()
        .get(0);
    let function: i64 = tx
        .query_one("SELECT public.count_secrets()::bigint", &[])
        .unwrap()
        .get(0);
    tx.rollback().unwrap();
    (view, function)
}

const BEFORE: &str = "
CREATE TABLE public.secrets (id int PRIMARY KEY, owner_name text NOT NULL, val int);
INSERT INTO public.secrets SELECT g, CASE WHEN g % 2 = 0 THEN 'app_owner' ELSE 'other' END, g
  FROM generate_series(1, 10) g;
ALTER TABLE public.secrets OWNER TO app_owner;
ALTER TABLE public.secrets ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.secrets FORCE ROW LEVEL SECURITY;
CREATE POLICY own_rows ON public.secrets TO app_owner USING (owner_name = 'app_owner');
CREATE FUNCTION public.count_secrets() RETURNS int LANGUAGE sql SECURITY DEFINER
  AS 'SELECT count(*)::int FROM public.secrets';
ALTER FUNCTION public.count_secrets() OWNER TO app_owner;
CREATE VIEW public.visible_secrets AS SELECT id, val FROM public.secrets;
ALTER VIEW public.visible_secrets OWNER TO app_owner;
GRANT SELECT ON public.visible_secrets TO app_reader;
";

/// The desired schema: `val` becomes bigint (the view over it is dropped and created again),
/// the function's result type changes (dropped and created again). No owner is declared.
const AFTER: &str = "
CREATE TABLE public.secrets (id int PRIMARY KEY, owner_name text NOT NULL, val bigint);
ALTER TABLE public.secrets ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.secrets FORCE ROW LEVEL SECURITY;
CREATE POLICY own_rows ON public.secrets TO app_owner USING (owner_name = 'app_owner');
CREATE FUNCTION public.count_secrets() RETURNS bigint LANGUAGE sql SECURITY DEFINER
  AS 'SELECT count(*) FROM public.secrets';
CREATE VIEW public.visible_secrets AS SELECT id, val FROM public.secrets;
GRANT SELECT ON public.visible_secrets TO app_reader;
";

#[test]
fn recreated_function_and_view_keep_their_owner() {
    let server = common::server();
    server.ensure_roles(&["app_owner", "app_reader"]);
    let (_db, url) = server.fresh_db("owners_recreated");
    let dev = server.admin_url();
    let mut c = schemaplan::db::connect(&url).unwrap();
    c.batch_execute(BEFORE).unwrap();
    assert_eq!(
        rows_seen_by_reader(&mut c),
        (5, 5),
        "RLS as app_owner before the plan"
    );

    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    std::fs::create_dir(cwd.join("schema")).unwrap();
    std::fs::write(cwd.join("schema/all.sql"), AFTER).unwrap();
    run(
        cwd,
        &["plan", "--db", &url, "--dev-url", &dev, "--out", "plans/p"],
        0,
    );
    let plan = std::fs::read_to_string(cwd.join("plans/p/plan.sql")).unwrap();
    assert!(
        plan.contains("ALTER FUNCTION public.count_secrets() OWNER TO app_owner;")
            && plan.contains("ALTER VIEW public.visible_secrets OWNER TO app_owner;"),
        "the re-creating steps give the owner back:\n{plan}"
    );
    run(
        cwd,
        &["apply", "--db", &url, "plans/p", "--allow-hazards", "all"],
        0,
    );
    assert_eq!(function_owner(&mut c), "app_owner");
    assert_eq!(view_owner(&mut c), "app_owner");
    assert_eq!(
        rows_seen_by_reader(&mut c),
        (5, 5),
        "the view and the function still read as app_owner, under row-level security"
    );
    run(cwd, &["drift", "--db", &url, "--dev-url", &dev], 0);
    run(
        cwd,
        &["plan", "--db", &url, "--dev-url", &dev, "--exit-code"],
        0,
    );

    // Rolling back creates them once more: still app_owner's.
    run(
        cwd,
        &[
            "rollback",
            "--db",
            &url,
            "plans/p",
            "--allow-hazards",
            "all",
        ],
        0,
    );
    assert_eq!(function_owner(&mut c), "app_owner");
    assert_eq!(view_owner(&mut c), "app_owner");
}

#[test]
fn declared_owner_is_set_and_a_changed_owner_is_drift() {
    let server = common::server();
    server.ensure_roles(&["app_owner", "app_reader"]);
    let (_db, url) = server.fresh_db("owners_declared");
    let dev = server.admin_url();
    let mut c = schemaplan::db::connect(&url).unwrap();
    c.batch_execute(
        "CREATE FUNCTION public.count_secrets() RETURNS int LANGUAGE sql SECURITY DEFINER \
         AS 'SELECT 1';",
    )
    .unwrap();
    let applier = owner_of(&mut c, "SELECT current_user::text");

    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    std::fs::create_dir(cwd.join("schema")).unwrap();
    std::fs::write(
        cwd.join("schema/f.sql"),
        "CREATE FUNCTION public.count_secrets() RETURNS int LANGUAGE sql SECURITY DEFINER \
         AS 'SELECT 1';\nALTER FUNCTION public.count_secrets() OWNER TO app_owner;\n",
    )
    .unwrap();
    let t = run(cwd, &["drift", "--db", &url, "--dev-url", &dev], 2);
    assert!(t.contains("count_secrets"), "{t}");
    run(
        cwd,
        &["plan", "--db", &url, "--dev-url", &dev, "--out", "plans/p"],
        0,
    );
    run(cwd, &["apply", "--db", &url, "plans/p"], 0);
    assert_eq!(function_owner(&mut c), "app_owner");
    run(cwd, &["drift", "--db", &url, "--dev-url", &dev], 0);

    // Someone hands the function back to the superuser: drift sees it.
    c.batch_execute(&format!(
        "ALTER FUNCTION public.count_secrets() OWNER TO \"{applier}\""
    ))
    .unwrap();
    let t = run(cwd, &["drift", "--db", &url, "--dev-url", &dev], 2);
    assert!(t.contains("count_secrets"), "{t}");
}

/// A function whose parameter type changes is dropped and created under another signature:
/// the new one takes the owner of the overload it replaces.
#[test]
fn function_with_changed_arguments_keeps_the_replaced_owner() {
    let server = common::server();
    server.ensure_roles(&["app_owner"]);
    let (_db, url) = server.fresh_db("owners_overload");
    let dev = server.admin_url();
    let mut c = schemaplan::db::connect(&url).unwrap();
    c.batch_execute(
        "CREATE FUNCTION public.count_secrets(n int) RETURNS int LANGUAGE sql \
         SECURITY DEFINER AS 'SELECT n';
         ALTER FUNCTION public.count_secrets(int) OWNER TO app_owner;",
    )
    .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    std::fs::create_dir(cwd.join("schema")).unwrap();
    std::fs::write(
        cwd.join("schema/f.sql"),
        "CREATE FUNCTION public.count_secrets(n bigint) RETURNS bigint LANGUAGE sql \
         SECURITY DEFINER AS 'SELECT n';\n",
    )
    .unwrap();
    run(
        cwd,
        &["plan", "--db", &url, "--dev-url", &dev, "--out", "plans/p"],
        0,
    );
    run(cwd, &["apply", "--db", &url, "plans/p"], 0);
    assert_eq!(function_owner(&mut c), "app_owner");
    run(cwd, &["drift", "--db", &url, "--dev-url", &dev], 0);
}
