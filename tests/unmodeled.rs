//! Objects schemaplan does not model never break an apply and never vanish, through the
//! binary: a shell type in the target leaves `apply` succeeding (its final fingerprint check
//! counts it on both sides), a shell operator in a dropped schema is refused at plan time, and
//! `drift` lists them instead of staying silent. (Publications and event triggers are
//! modeled: `tests/publications.rs`; rules and extended statistics: `tests/rules_statistics.rs`.)

mod common;

use common::project::{count, setup};
use common::schemaplan_expect as run;

#[test]
fn shell_types_do_not_fail_the_apply() {
    let (url, dev, tmp, mut c) = setup(
        "unmodeled_apply",
        "CREATE TABLE public.t (id int PRIMARY KEY, a int, b int);
         INSERT INTO public.t SELECT g, g % 7, g % 11 FROM generate_series(1, 100) g;
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
            "SELECT count(*) FROM pg_type WHERE typname = 'shell_t' AND NOT typisdefined"
        ),
        1
    );
    // In sync, and the unmodeled objects are listed, one line each.
    let t = run(cwd, &["drift", "--db", &url, "--dev-url", &dev], 0);
    assert!(t.contains("In sync"), "{t}");
    assert!(t.contains("  - type public.shell_t"), "listed in:\n{t}");
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
fn shell_operator_in_a_dropped_schema_is_refused() {
    // `COMMUTATOR` naming an operator that does not exist makes a shell operator: no function,
    // nothing to create it again from. It hangs on its schema, which the plan drops.
    let (url, dev, tmp, mut c) = setup(
        "unmodeled_refused",
        "CREATE SCHEMA ops;
         CREATE TABLE public.keep (id int);
         CREATE FUNCTION ops.near(int, int) RETURNS boolean LANGUAGE sql IMMUTABLE
           AS 'SELECT abs($1 - $2) < 3';
         CREATE OPERATOR ops.~~~ (FUNCTION = ops.near, LEFTARG = int, RIGHTARG = int,
           COMMUTATOR = OPERATOR(ops.~~>));",
        "CREATE TABLE public.keep (id int);",
    );
    let cwd = tmp.path();
    let t = run(
        cwd,
        &["plan", "--db", &url, "--dev-url", &dev, "--out", "plans/p"],
        1,
    );
    assert!(
        t.contains("is not modeled by schemaplan")
            && t.contains("schema ops, which the plan drops"),
        "{t}"
    );
    assert!(!cwd.join("plans/p").exists());
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM pg_operator WHERE oprname = '~~>' AND oprcode = 0"
        ),
        1
    );
}
