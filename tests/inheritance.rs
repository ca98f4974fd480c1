//! Table inheritance through the binary, with rows, where the fixture suite cannot see what
//! matters: a column the parent drops stays, values and all, in the children that declare it
//! themselves in the desired schema (`ALTER TABLE ONLY ... DROP COLUMN`), and the way back
//! (the parent gains the column, the children inherit it again) is planned and applies.
//! (Plan shapes: `fixtures/inheritance/`.)

mod common;

use common::project::{count, setup, text};
use common::schemaplan_expect as run;

const BEFORE: &str = "
    CREATE TABLE public.notes (id integer, topic text, body text, memo text);
    CREATE TABLE public.shared_notes (shared_with text) INHERITS (public.notes);
    CREATE TABLE public.draft_notes (autosaved boolean) INHERITS (public.notes);
    INSERT INTO public.notes (id, topic, body, memo) VALUES (1, 'root', 'parent row', 'm1');
    INSERT INTO public.shared_notes (id, topic, body, memo, shared_with)
        SELECT g, 'team', 'agenda ' || g, 'm', 'ops' FROM generate_series(10, 59) g;
    INSERT INTO public.draft_notes (id, topic, body, memo, autosaved)
        VALUES (3, 'idea', 'half a thought', 'm3', true);";

// `body` leaves the parent and `draft_notes`; `shared_notes` now declares it itself.
const AFTER: &str = "
    CREATE TABLE public.notes (id integer, topic text, memo text);
    CREATE TABLE public.shared_notes (shared_with text, body text) INHERITS (public.notes);
    CREATE TABLE public.draft_notes (autosaved boolean) INHERITS (public.notes);";

fn has_body(c: &mut postgres::Client, table: &str) -> i64 {
    count(
        c,
        &format!(
            "SELECT count(*) FROM pg_attribute WHERE attrelid = 'public.{table}'::regclass
               AND attname = 'body' AND NOT attisdropped"
        ),
    )
}

#[test]
fn a_column_the_parent_drops_keeps_its_values_in_the_children_that_declare_it() {
    let (url, dev, tmp, mut c) = setup("inherit_only_drop", BEFORE, AFTER);
    let cwd = tmp.path();
    run(
        cwd,
        &["plan", "--db", &url, "--dev-url", &dev, "--out", "plans/p"],
        0,
    );
    let plan = std::fs::read_to_string(cwd.join("plans/p/plan.sql")).unwrap();
    assert!(
        plan.contains("ALTER TABLE ONLY public.notes DROP COLUMN body;"),
        "{plan}"
    );
    run(
        cwd,
        &[
            "apply",
            "--db",
            &url,
            "plans/p",
            "--phase",
            "all",
            "--allow-hazards",
            "all",
        ],
        0,
    );
    // Every value of the child that keeps the column is still there.
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM public.shared_notes WHERE body = 'agenda ' || id"
        ),
        50
    );
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM pg_attribute WHERE attrelid = 'public.shared_notes'::regclass
               AND attname = 'body' AND attislocal AND attinhcount = 0"
        ),
        1
    );
    assert_eq!(has_body(&mut c, "notes"), 0);
    assert_eq!(has_body(&mut c, "draft_notes"), 0);
    assert_eq!(
        text(&mut c, "SELECT memo FROM public.draft_notes"),
        Some("m3".to_string())
    );
    // The way back: the children inherit `body` from the parent again.
    run(
        cwd,
        &[
            "rollback",
            "--db",
            &url,
            "plans/p",
            "--phase",
            "all",
            "--allow-hazards",
            "all",
        ],
        0,
    );
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM pg_attribute WHERE attrelid = 'public.shared_notes'::regclass
               AND attname = 'body' AND NOT attislocal AND attinhcount = 1"
        ),
        1
    );
    assert_eq!(count(&mut c, "SELECT count(*) FROM public.notes"), 52);
}
