//! Table inheritance with rows, where the fixture suite cannot see what matters (issue 14,
//! migra's `inherit2`): a column the parent drops stays, values and all, in the children that
//! declare it themselves in the desired schema (`ALTER TABLE ONLY ... DROP COLUMN`); the way
//! back (the parent gains the column, a child's own copy becomes inherited only again) keeps
//! the child's values too; and the proof catches a plan that would drop the child's column
//! with the parent's, although its own copy of the database, on the way back, gets a column
//! the child declares itself (`attislocal`) where the real database has an inherited one.
//! (Plan shapes: `fixtures/inheritance/`.)

mod common;

use common::project::{count, setup, text};
use common::schemaplan_expect as run;
use schemaplan::workflow::{self, WorkflowError};

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

/// `(attislocal, attinhcount)` of `table.body`, `None` when the table has no such column.
fn body(c: &mut postgres::Client, table: &str) -> Option<(bool, i32)> {
    c.query_opt(
        &format!(
            "SELECT attislocal, attinhcount FROM pg_attribute
              WHERE attrelid = 'public.{table}'::regclass AND attname = 'body' AND NOT attisdropped"
        ),
        &[],
    )
    .unwrap()
    .map(|r| (r.get(0), r.get(1)))
}

fn shared_values(c: &mut postgres::Client) -> i64 {
    count(
        c,
        "SELECT count(*) FROM public.shared_notes WHERE body = 'agenda ' || id",
    )
}

#[test]
fn a_column_the_parent_drops_keeps_its_values_in_the_children_that_declare_it_and_back() {
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
    let all = ["--phase", "all", "--allow-hazards", "all"];
    let apply = [&["apply", "--db", &url, "plans/p"][..], &all[..]].concat();
    run(cwd, &apply, 0);
    // Every value of the child that keeps the column is still there, in its own column.
    assert_eq!(shared_values(&mut c), 50);
    assert_eq!(body(&mut c, "shared_notes"), Some((true, 0)));
    assert_eq!(body(&mut c, "notes"), None);
    assert_eq!(body(&mut c, "draft_notes"), None);
    assert_eq!(
        text(&mut c, "SELECT memo FROM public.draft_notes"),
        Some("m3".to_string())
    );
    // In sync: planning again finds nothing.
    run(
        cwd,
        &[
            "plan",
            "--db",
            &url,
            "--dev-url",
            &dev,
            "--out",
            "plans/again",
            "--exit-code",
        ],
        0,
    );
    // The way back: the parent has `body` again, the child inherits it only, values kept.
    let rollback = [&["rollback", "--db", &url, "plans/p"][..], &all[..]].concat();
    run(cwd, &rollback, 0);
    assert_eq!(body(&mut c, "shared_notes"), Some((false, 1)));
    assert_eq!(body(&mut c, "draft_notes"), Some((false, 1)));
    assert_eq!(body(&mut c, "notes"), Some((true, 0)));
    assert_eq!(shared_values(&mut c), 50);
    assert_eq!(count(&mut c, "SELECT count(*) FROM public.notes"), 52);
}

/// The proof's own start (the desired database taken back by the inverse plan) must be the
/// real current schema, attislocal included, and a forward plan that drops the parent's column
/// with a plain `DROP COLUMN` (what the planner wrote before) must fail it, in place and on a
/// copy alike.
#[test]
fn the_proof_catches_a_parent_drop_that_takes_the_childs_column_along() {
    let s = common::proof::setup("inherit_proof", BEFORE, AFTER);
    let plan = || common::proof::planned(&s);
    let prove =
        |planned: &workflow::Planned, from_copy: bool| common::proof::prove(&s, planned, from_copy);
    // The plan itself proves, its inverse too (the child's copy inherited only again).
    for from_copy in [true, false] {
        let report = prove(&plan(), from_copy).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(report.inverse_problem, None);
    }
    // Each case: whether the inverse is the old one too (the parent's plain ADD COLUMN, which
    // merges into the child's own column and leaves it the child's own: the proof's start
    // then differs from the real database only in `attislocal`, which the diff must see).
    for (from_copy, old_inverse) in [(true, false), (false, false), (true, true)] {
        let mut planned = plan();
        if old_inverse {
            for s in planned.inverse.iter_mut() {
                if s.sql.contains("RENAME COLUMN body TO") {
                    s.sql = "SELECT 1;".to_string();
                }
                if s.sql.contains("ADD COLUMN body") {
                    s.sql = "ALTER TABLE public.notes ADD COLUMN body text;".to_string();
                }
            }
        }
        let step = planned
            .forward
            .iter_mut()
            .find(|s| {
                s.sql
                    .contains("ALTER TABLE ONLY public.notes DROP COLUMN body;")
            })
            .expect("no ONLY drop in the plan");
        step.sql = "ALTER TABLE public.notes DROP COLUMN body;\n\
                    ALTER TABLE public.draft_notes DROP COLUMN IF EXISTS body;"
            .to_string();
        match prove(&planned, from_copy) {
            Err(WorkflowError::ProofMismatch { message, .. }) => {
                assert!(message.contains("shared_notes"), "{message}")
            }
            other => panic!(
                "from_copy={from_copy} old_inverse={old_inverse}: plain parent drop not caught: \
                 {other:?}"
            ),
        }
    }
}
