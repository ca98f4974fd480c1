//! Rules and extended statistics objects are modeled (`docs/kinds.md`), through the binary:
//! a rule the schema files add is created and fires, and `drift` then says in sync; one the
//! files change is replaced in place and one they drop goes; a rule on a view the plan
//! creates again comes back with it; statistics objects on a column retyped online are
//! dropped before and created again after the swap. (Shapes of each kind, with the oracle:
//! `fixtures/rules/`, `fixtures/statistics/`.)

mod common;

use common::project::{count, setup};
use common::schemaplan_expect as run;

fn plan_and_apply(cwd: &std::path::Path, url: &str, dev: &str, extra: &[&str]) -> String {
    let mut args = vec!["plan", "--db", url, "--dev-url", dev, "--out", "plans/p"];
    args.extend_from_slice(extra);
    run(cwd, &args, 0);
    let plan = std::fs::read_to_string(cwd.join("plans/p/plan.sql")).unwrap();
    run(
        cwd,
        &["apply", "--db", url, "plans/p", "--allow-hazards", "all"],
        0,
    );
    plan
}

#[test]
fn rules_in_the_schema_files_are_created_replaced_and_dropped() {
    let (url, dev, tmp, mut c) = setup(
        "rules_lifecycle",
        "CREATE TABLE public.t (id int PRIMARY KEY, kind text);
         CREATE TABLE public.archive (id int, kind text);
         INSERT INTO public.t SELECT g, 'k' FROM generate_series(1, 50) g;
         CREATE RULE t_keep AS ON DELETE TO public.t DO INSTEAD NOTHING;
         CREATE RULE t_gone AS ON UPDATE TO public.t DO INSTEAD NOTHING;",
        "CREATE TABLE public.t (id int PRIMARY KEY, kind text);
         CREATE TABLE public.archive (id int, kind text);
         CREATE RULE t_keep AS ON DELETE TO public.t
           DO INSTEAD INSERT INTO public.archive VALUES (old.id, old.kind);
         CREATE RULE t_old AS ON INSERT TO public.t WHERE new.kind = 'old'
           DO INSTEAD INSERT INTO public.archive VALUES (new.id, new.kind);",
    );
    let cwd = tmp.path();
    let plan = plan_and_apply(cwd, &url, &dev, &[]);
    assert!(plan.contains("CREATE OR REPLACE RULE t_keep"), "{plan}");
    assert!(plan.contains("DROP RULE t_gone ON public.t;"), "{plan}");
    assert!(plan.contains("CREATE RULE t_old AS"), "{plan}");
    // The rules act as the files say: an old row goes to the archive, a delete moves nothing
    // out of t but lands in the archive, an update is no longer swallowed.
    c.batch_execute(
        "INSERT INTO public.t VALUES (100, 'old');
         DELETE FROM public.t WHERE id = 1;
         UPDATE public.t SET kind = 'u' WHERE id = 2;",
    )
    .unwrap();
    assert_eq!(count(&mut c, "SELECT count(*) FROM public.archive"), 2);
    assert_eq!(count(&mut c, "SELECT count(*) FROM public.t"), 50);
    assert_eq!(
        count(&mut c, "SELECT count(*) FROM public.t WHERE kind = 'u'"),
        1
    );
    let t = run(cwd, &["drift", "--db", &url, "--dev-url", &dev], 0);
    assert!(t.contains("In sync"), "{t}");
    assert!(
        !t.contains("rule"),
        "no rule is reported as not modeled:\n{t}"
    );
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
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM pg_rules WHERE rulename IN ('t_keep', 't_gone')"
        ),
        2
    );
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM pg_rules WHERE rulename = 't_old'"
        ),
        0
    );
}

#[test]
fn rule_on_a_recreated_view_comes_back() {
    let (url, dev, tmp, mut c) = setup(
        "rules_recreated_view",
        "CREATE TABLE public.t (a int);
         CREATE TABLE public.audit (n int);
         CREATE VIEW public.v AS SELECT a FROM public.t;
         CREATE RULE v_insert AS ON INSERT TO public.v DO INSTEAD
           (INSERT INTO public.t VALUES (new.a); INSERT INTO public.audit VALUES (1));",
        "CREATE TABLE public.t (a bigint);
         CREATE TABLE public.audit (n int);
         CREATE VIEW public.v AS SELECT a FROM public.t;
         CREATE RULE v_insert AS ON INSERT TO public.v DO INSTEAD
           (INSERT INTO public.t VALUES (new.a); INSERT INTO public.audit VALUES (1));",
    );
    let cwd = tmp.path();
    let plan = plan_and_apply(cwd, &url, &dev, &[]);
    assert!(plan.contains("CREATE RULE v_insert"), "{plan}");
    c.batch_execute("INSERT INTO public.v VALUES (7)").unwrap();
    assert_eq!(
        count(&mut c, "SELECT count(*) FROM public.audit"),
        1,
        "the rule still fires"
    );
    run(cwd, &["apply", "--db", &url, "plans/p"], 0);
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
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM pg_rules WHERE rulename = 'v_insert'"
        ),
        1
    );
}

#[test]
fn statistics_on_a_column_retyped_online_are_dropped_and_created_around_it() {
    let (url, dev, tmp, mut c) = setup(
        "stats_online_retype",
        "CREATE TABLE public.t (id int PRIMARY KEY, a int, b int);
         INSERT INTO public.t SELECT g, g % 7, g % 11 FROM generate_series(1, 2000) g;
         CREATE STATISTICS public.t_ab (dependencies, ndistinct) ON a, b FROM public.t;",
        "CREATE TABLE public.t (id int PRIMARY KEY, a bigint, b int);
         CREATE STATISTICS public.t_ab (dependencies, ndistinct) ON a, b FROM public.t;
         ALTER STATISTICS public.t_ab SET STATISTICS 300;",
    );
    let cwd = tmp.path();
    // --small-table 0: a table with rows takes the online form (shadow column, swap).
    let plan = plan_and_apply(cwd, &url, &dev, &["--small-table", "0"]);
    assert!(
        plan.contains("a_schemaplan_new"),
        "online form expected:\n{plan}"
    );
    let drop = plan.find("DROP STATISTICS public.t_ab;").expect(&plan);
    let create = plan.rfind("CREATE STATISTICS public.t_ab").expect(&plan);
    assert!(drop < create, "{plan}");
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM pg_statistic_ext s JOIN pg_attribute a \
             ON a.attrelid = s.stxrelid AND a.attnum = ANY (s.stxkeys) \
             WHERE s.stxname = 't_ab' AND a.attname IN ('a', 'b')"
        ),
        2,
        "the statistics object exists on a and b"
    );
    assert_eq!(
        count(
            &mut c,
            "SELECT stxstattarget::bigint FROM pg_statistic_ext WHERE stxname = 't_ab'"
        ),
        300
    );
    // Planning again finds nothing to do.
    run(
        cwd,
        &["plan", "--db", &url, "--dev-url", &dev, "--exit-code"],
        0,
    );
}
