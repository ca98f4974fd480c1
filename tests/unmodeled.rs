//! Objects schemaplan does not model never break an apply and never vanish, through the
//! binary: a statistics object and a shell type in the target leave `apply`
//! succeeding (its final fingerprint check counts them on both sides), a rule on a view the
//! plan creates again and a statistics object on a column retyped online are carried over, a
//! rule on a dropped table is refused at plan time, and `drift` lists them instead of staying
//! silent. (Publications and event triggers are modeled: `tests/publications.rs`.)

mod common;

use common::project::{count, setup};
use common::schemaplan_expect as run;

#[test]
fn statistics_and_shell_types_do_not_fail_the_apply() {
    let (url, dev, tmp, mut c) = setup(
        "unmodeled_apply",
        "CREATE TABLE public.t (id int PRIMARY KEY, a int, b int);
         INSERT INTO public.t SELECT g, g % 7, g % 11 FROM generate_series(1, 100) g;
         CREATE STATISTICS public.t_ab (dependencies) ON a, b FROM public.t;
         CREATE TYPE public.shell_t;",
        "CREATE TABLE public.t (id int PRIMARY KEY, a int, b int, c text);",
    );
    let cwd = tmp.path();
    let t = run(cwd, &["drift", "--db", &url, "--dev-url", &dev], 2);
    assert!(t.contains("Not modeled by schemaplan"), "{t}");
    run(
        cwd,
        &["plan", "--db", &url, "--dev-url", &dev, "--out", "plans/p"],
        0,
    );
    run(cwd, &["apply", "--db", &url, "plans/p"], 0);
    let t = run(cwd, &["status", "--db", &url, "--plans", "plans"], 0);
    assert!(t.contains("applied") && !t.contains("failed"), "{t}");
    // Applying again is a no-op, not a stale-plan refusal.
    run(cwd, &["apply", "--db", &url, "plans/p"], 0);
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM pg_statistic_ext WHERE stxname = 't_ab'"
        ),
        1
    );
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM pg_type WHERE typname = 'shell_t' AND NOT typisdefined"
        ),
        1
    );
    // In sync, and the unmodeled objects are listed, one line each.
    let t = run(cwd, &["drift", "--db", &url, "--dev-url", &dev], 0);
    assert!(t.contains("In sync"), "{t}");
    for line in ["statistics object public.t_ab", "type public.shell_t"] {
        assert!(t.contains(&format!("  - {line}")), "{line} listed in:\n{t}");
    }
    // And the rollback returns without failing either.
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
}

#[test]
fn rule_on_a_recreated_view_is_carried_over() {
    let (url, dev, tmp, mut c) = setup(
        "unmodeled_rule",
        "CREATE TABLE public.t (a int);
         CREATE TABLE public.audit (n int);
         CREATE VIEW public.v AS SELECT a FROM public.t;
         CREATE RULE v_insert AS ON INSERT TO public.v DO INSTEAD
           (INSERT INTO public.t VALUES (new.a); INSERT INTO public.audit VALUES (1));",
        "CREATE TABLE public.t (a bigint);
         CREATE TABLE public.audit (n int);
         CREATE VIEW public.v AS SELECT a FROM public.t;",
    );
    let cwd = tmp.path();
    run(
        cwd,
        &["plan", "--db", &url, "--dev-url", &dev, "--out", "plans/p"],
        0,
    );
    let plan = std::fs::read_to_string(cwd.join("plans/p/plan.sql")).unwrap();
    assert!(plan.contains("CREATE OR REPLACE RULE v_insert"), "{plan}");
    run(
        cwd,
        &["apply", "--db", &url, "plans/p", "--allow-hazards", "all"],
        0,
    );
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM pg_rules WHERE rulename = 'v_insert'"
        ),
        1
    );
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
fn statistics_on_a_column_retyped_online_are_carried_over() {
    let (url, dev, tmp, mut c) = setup(
        "unmodeled_stats_online",
        "CREATE TABLE public.t (id int PRIMARY KEY, a int, b int);
         INSERT INTO public.t SELECT g, g % 7, g % 11 FROM generate_series(1, 2000) g;
         CREATE STATISTICS public.t_ab (dependencies, ndistinct) ON a, b FROM public.t;",
        "CREATE TABLE public.t (id int PRIMARY KEY, a bigint, b int);",
    );
    let cwd = tmp.path();
    // --small-table 0: a table with rows takes the online form (shadow column, swap).
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
        plan.contains("a_schemaplan_new"),
        "online form expected:\n{plan}"
    );
    run(
        cwd,
        &["apply", "--db", &url, "plans/p", "--allow-hazards", "all"],
        0,
    );
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
    run(cwd, &["apply", "--db", &url, "plans/p"], 0);
}

#[test]
fn rule_on_a_dropped_table_is_refused() {
    let (url, dev, tmp, mut c) = setup(
        "unmodeled_refused",
        "CREATE TABLE public.t (id int PRIMARY KEY);
         CREATE TABLE public.keep (id int);
         CREATE RULE t_ignore AS ON INSERT TO public.t DO INSTEAD NOTHING;",
        "CREATE TABLE public.keep (id int);",
    );
    let cwd = tmp.path();
    let t = run(
        cwd,
        &["plan", "--db", &url, "--dev-url", &dev, "--out", "plans/p"],
        1,
    );
    assert!(
        t.contains("rule t_ignore on public.t is not modeled by schemaplan")
            && t.contains("table public.t, which the plan drops"),
        "{t}"
    );
    assert!(!cwd.join("plans/p").exists());
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM pg_rewrite WHERE rulename = 't_ignore'"
        ),
        1
    );
}
