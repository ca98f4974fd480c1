//! The proof without a second full load (`src/workflow/prove.rs`): it starts from the loaded
//! desired database taken back to the current schema by the inverse plan (repaired where the
//! inverse leaves a difference), in place in one transaction that is rolled back when every
//! step can run in a transaction block (else, and whenever that does not come out clean, on a
//! copy), and it still catches a wrong plan, forward or inverse. Every test that hands the
//! proof the desired database runs the proof in place first: a wrong plan it let through would
//! be returned from there, so the tests of wrong plans test that path's strength too.
//!
//! These tests call the workflow as a library: a wrong step is not something a user can write
//! into a plan, so it is injected between planning and proving. The live databases hold rows.

mod common;

use common::proof::{planned, planned_with, prove, setup};
use schemaplan::catalog;
use schemaplan::plan::Step;
use schemaplan::workflow::WorkflowError;

const LIVE: &str = "
CREATE TABLE customers (id bigint PRIMARY KEY, name text NOT NULL, legacy_code text NOT NULL);
CREATE TABLE orders (
    id bigint PRIMARY KEY,
    customer_id bigint NOT NULL REFERENCES customers (id),
    total numeric(12,2) NOT NULL CHECK (total >= 0)
);
CREATE INDEX orders_customer ON orders (customer_id);
CREATE VIEW big_orders AS SELECT id, total FROM orders WHERE total > 100;
COMMENT ON TABLE orders IS 'one row per order';
INSERT INTO customers VALUES (1, 'a', 'x'), (2, 'b', 'y');
INSERT INTO orders VALUES (10, 1, 5), (11, 2, 500);
";

/// The desired schema: a new column and index, a changed view and comment, and a NOT NULL
/// column dropped (the phased inverse adds it back nullable, which the proof must repair).
const DESIRED: &str = "
CREATE TABLE customers (id bigint PRIMARY KEY, name text NOT NULL, email text);
CREATE TABLE orders (
    id bigint PRIMARY KEY,
    customer_id bigint NOT NULL REFERENCES customers (id),
    total numeric(12,2) NOT NULL CHECK (total >= 0)
);
CREATE INDEX orders_customer ON orders (customer_id);
CREATE INDEX customers_email ON customers (email);
CREATE VIEW big_orders AS SELECT id, total, customer_id FROM orders WHERE total > 100;
COMMENT ON TABLE orders IS 'one row per order, ever';
";

/// [`DESIRED`] without the new index: its inverse would drop the index `CONCURRENTLY` (the
/// desired side has no table sizes), which cannot run in a transaction block. Every step of
/// this plan and of its inverse can: the proof runs in place.
const DESIRED_IN_PLACE: &str = "
CREATE TABLE customers (id bigint PRIMARY KEY, name text NOT NULL, email text);
CREATE TABLE orders (
    id bigint PRIMARY KEY,
    customer_id bigint NOT NULL REFERENCES customers (id),
    total numeric(12,2) NOT NULL CHECK (total >= 0)
);
CREATE INDEX orders_customer ON orders (customer_id);
CREATE VIEW big_orders AS SELECT id, total, customer_id FROM orders WHERE total > 100;
COMMENT ON TABLE orders IS 'one row per order, ever';
";

/// Replaces the step whose SQL contains `needle` with `sql`.
fn tamper(steps: &mut [Step], needle: &str, sql: &str) {
    let step = steps
        .iter_mut()
        .find(|s| s.sql.contains(needle))
        .unwrap_or_else(|| panic!("no step contains {needle:?}"));
    step.sql = sql.to_string();
}

#[test]
fn proof_starts_from_a_copy_of_the_desired_database_and_repairs_what_the_inverse_leaves() {
    let s = setup("prove", LIVE, DESIRED);
    let planned = planned(&s);
    // The phased plan drops legacy_code in contract; its inverse adds it back nullable.
    assert!(planned.contract_drops, "{:#?}", planned.forward);
    assert!(!planned.unrestored.is_empty());
    let report = prove(&s, &planned, true).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        report.rebuilt, None,
        "the proof loaded the current schema again"
    );
    assert_eq!(report.inverse_problem, None);
    assert_eq!(report.rebuild_problem, None);
    // The desired database is left as it was loaded (a copy was changed, not it).
    let mut c = s.desired.db.connect().unwrap();
    let after = catalog::read(&mut c).unwrap();
    assert_eq!(
        catalog::fingerprint(&after),
        catalog::fingerprint(&s.desired.schema)
    );
}

#[test]
fn proof_runs_in_place_in_one_rolled_back_transaction_and_leaves_the_desired_database_as_it_was() {
    let s = setup("prove", LIVE, DESIRED_IN_PLACE);
    let planned = planned(&s);
    let mut c = s.desired.db.connect().unwrap();
    let before = catalog::read(&mut c).unwrap();
    drop(c);
    let report = prove(&s, &planned, true).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.not_in_place, None, "the proof copied the database");
    assert_eq!(report.rebuilt, None);
    assert_eq!(report.inverse_problem, None);
    // Every step ran and was rolled back: the database reads exactly as before, and nothing
    // of the proof is left (no transaction open, the dropped column is back).
    let mut c = s.desired.db.connect().unwrap();
    let after = catalog::read(&mut c).unwrap();
    let text = |s: &schemaplan::model::Schema| {
        let mut s = s.clone();
        s.sizes.clear();
        format!("{s:#?}")
    };
    assert_eq!(text(&after), text(&before));
    let open: i64 = c
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
             AND pid <> pg_backend_pid()",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(open, 0, "a session of the proof is still connected");
}

#[test]
fn a_step_that_cannot_run_in_a_transaction_block_is_proven_on_a_copy() {
    // DESIRED's inverse drops the new index CONCURRENTLY (`transaction: no`).
    let s = setup("prove", LIVE, DESIRED);
    let report = prove(&s, &planned(&s), true).unwrap_or_else(|e| panic!("{e}"));
    let why = report.not_in_place.expect("proven in place");
    assert!(why.contains("outside a transaction block"), "{why}");
    assert_eq!(report.rebuilt, None, "a copy serves: no rebuild");
    assert_eq!(report.inverse_problem, None);
    // Decided from the SQL too, whatever a step says of itself: VACUUM in a step that claims
    // a transaction.
    let s = setup("prove", LIVE, DESIRED_IN_PLACE);
    let mut planned = planned(&s);
    let mut vacuum = planned.forward[0].clone();
    vacuum.summary = "vacuum".into();
    vacuum.sql = "VACUUM public.customers;".into();
    assert_eq!(vacuum.transaction, schemaplan::plan::TxMode::Transaction);
    planned.forward.push(vacuum);
    let report = prove(&s, &planned, true).unwrap_or_else(|e| panic!("{e}"));
    let why = report.not_in_place.expect("proven in place");
    assert!(why.contains("inside a transaction block"), "{why}");
    assert_eq!(report.inverse_problem, None);
}

#[test]
fn a_valid_plan_that_fails_in_one_transaction_is_retried_on_a_copy_and_proven() {
    // A step that commits (here a DO block) cannot run inside the proof's transaction, and
    // nothing in its text says so: the proof in place fails, the copy proves it.
    let s = setup("prove", LIVE, DESIRED_IN_PLACE);
    let mut planned = planned(&s);
    // A step of its own: a batch of several statements is one implicit transaction, where
    // the COMMIT would fail on the copy too.
    let mut commit = planned.forward[0].clone();
    commit.summary = "a DO block that commits".into();
    commit.sql = "DO $$BEGIN COMMIT; END$$;".into();
    planned.forward.push(commit);
    let report = prove(&s, &planned, true).unwrap_or_else(|e| panic!("{e}"));
    let why = report.not_in_place.expect("proven in place");
    assert!(why.contains("retried on a copy"), "{why}");
    assert_eq!(report.rebuilt, None);
    assert_eq!(report.inverse_problem, None);
    // The desired database was not changed by the step that tried to commit.
    let mut c = s.desired.db.connect().unwrap();
    let after = catalog::read(&mut c).unwrap();
    assert_eq!(
        catalog::fingerprint(&after),
        catalog::fingerprint(&s.desired.schema)
    );
}

#[test]
fn proof_without_a_desired_database_rebuilds_the_current_schema() {
    let s = setup("prove", LIVE, DESIRED);
    let report = prove(&s, &planned(&s), false).unwrap_or_else(|e| panic!("{e}"));
    assert!(report.rebuilt.is_some());
    assert_eq!(report.inverse_problem, None);
}

#[test]
fn a_wrong_forward_step_fails_the_proof_on_the_copy_and_on_a_rebuild() {
    let s = setup("prove", LIVE, DESIRED);
    for from_copy in [true, false] {
        let mut planned = planned(&s);
        // The index is built on the wrong column: the statement runs, the schema differs.
        tamper(
            &mut planned.forward,
            "customers_email",
            "CREATE INDEX customers_email ON public.customers (name);",
        );
        match prove(&s, &planned, from_copy) {
            Err(WorkflowError::ProofMismatch { message, .. }) => {
                assert!(message.contains("customers_email"), "{message}")
            }
            other => panic!("from_copy={from_copy}: wrong plan not caught: {other:?}"),
        }
    }
}

#[test]
fn a_wrong_step_that_touches_an_object_the_plan_does_not_mention_fails_the_proof() {
    // The proof's readings after the first are delta reads (`catalog::delta`): what they read
    // again is found in the catalogs, not taken from the plan. Each wrong step does what the
    // plan says and also changes an object the plan leaves alone.
    let s = setup("prove", LIVE, DESIRED);
    let sneaky = [
        (
            "COMMENT ON COLUMN public.customers.name IS 'sneaky'",
            "customers",
        ),
        (
            "ALTER TABLE public.orders ALTER COLUMN total SET DEFAULT 1",
            "orders",
        ),
        (
            "ALTER INDEX public.orders_customer RENAME TO orders_by_customer",
            "orders_",
        ),
        ("GRANT SELECT ON public.orders TO PUBLIC", "orders"),
    ];
    for (extra, object) in sneaky {
        for from_copy in [true, false] {
            let mut planned = planned(&s);
            tamper(
                &mut planned.forward,
                "customers_email",
                &format!("CREATE INDEX customers_email ON public.customers (email); {extra};"),
            );
            match prove(&s, &planned, from_copy) {
                Err(WorkflowError::ProofMismatch { message, .. }) => {
                    assert!(message.contains(object), "{extra}: {message}")
                }
                other => panic!("from_copy={from_copy}: {extra} not caught: {other:?}"),
            }
        }
    }
}

#[test]
fn a_wrong_plan_is_caught_by_the_proof_in_place() {
    // The plan proves in place; the same plan with a wrong step, or with a step that also
    // touches an object the plan does not mention, must not: a proof in place that let it
    // through would be returned as is (only failures are retried on a copy).
    let s = setup("prove", LIVE, DESIRED_IN_PLACE);
    let report = prove(&s, &planned(&s), true).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.not_in_place, None);
    let comment = "one row per order, ever'";
    let wrong = [
        ("COMMENT ON TABLE public.orders IS 'wrong';", "orders"),
        (
            "COMMENT ON TABLE public.orders IS 'one row per order, ever'; \
             COMMENT ON COLUMN public.customers.name IS 'sneaky';",
            "customers",
        ),
        (
            "COMMENT ON TABLE public.orders IS 'one row per order, ever'; \
             ALTER INDEX public.orders_customer RENAME TO orders_by_customer;",
            "orders_",
        ),
        (
            "COMMENT ON TABLE public.orders IS 'one row per order, ever'; \
             ALTER TABLE public.orders SET (fillfactor = 50);",
            "orders",
        ),
    ];
    for (sql, object) in wrong {
        let mut planned = planned(&s);
        tamper(&mut planned.forward, comment, sql);
        match prove(&s, &planned, true) {
            Err(WorkflowError::ProofMismatch { message, .. }) => {
                assert!(message.contains(object), "{sql}: {message}")
            }
            other => panic!("{sql} not caught: {other:?}"),
        }
    }
    // A wrong inverse: reported (after the retry on a copy), the plan itself still proven.
    let mut planned = planned(&s);
    tamper(
        &mut planned.inverse,
        "one row per order'",
        "COMMENT ON TABLE public.orders IS 'something else';",
    );
    let report = prove(&s, &planned, true).unwrap_or_else(|e| panic!("{e}"));
    let problem = report
        .inverse_problem
        .expect("the wrong inverse was not reported");
    assert!(problem.contains("orders"), "{problem}");
}

#[test]
fn a_wrong_inverse_step_is_reported_although_the_repair_reaches_the_current_schema() {
    let s = setup("prove", LIVE, DESIRED);
    let mut planned = planned(&s);
    // The inverse puts the old comment back wrong: the proof's start is repaired (so the
    // forward plan is still proven from the current schema), and the inverse is flagged.
    tamper(
        &mut planned.inverse,
        "one row per order'",
        "COMMENT ON TABLE public.orders IS 'something else';",
    );
    let report = prove(&s, &planned, true).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.rebuilt, None);
    let problem = report
        .inverse_problem
        .expect("the wrong inverse was not reported");
    assert!(problem.contains("orders"), "{problem}");
}

#[test]
fn an_inverse_that_fails_on_the_desired_database_falls_back_to_a_rebuild() {
    let s = setup("prove", LIVE, DESIRED);
    let mut planned = planned(&s);
    tamper(
        &mut planned.inverse,
        "one row per order'",
        "COMMENT ON TABLE public.no_such_table IS 'x';",
    );
    let report = prove(&s, &planned, true).unwrap_or_else(|e| panic!("{e}"));
    let why = report.rebuilt.expect("no rebuild after the inverse failed");
    assert!(why.contains("no_such_table"), "{why}");
    assert!(report.inverse_problem.is_some());
}

#[test]
fn plan_through_the_binary_is_proven_from_the_copy() {
    // The user's view: plan and apply reach the desired schema with the rows kept.
    let s = setup("prove", LIVE, DESIRED);
    let server = common::server();
    let (_, url) = server.fresh_db("prove_cli");
    schemaplan::db::connect(&url)
        .unwrap()
        .batch_execute(LIVE)
        .unwrap();
    let dir = s._dir.path();
    let out = common::schemaplan_expect(
        dir,
        &[
            "plan",
            "--db",
            &url,
            "--dev-url",
            &server.admin_url(),
            "--out",
            "plans",
        ],
        0,
    );
    assert!(!out.contains("did not prove out"), "{out}");
    let _ = s.source;
}

#[test]
fn plan_with_v_says_the_proof_ran_in_place() {
    let server = common::server();
    let (_, url) = server.fresh_db("prove_in_place_cli");
    schemaplan::db::connect(&url)
        .unwrap()
        .batch_execute(LIVE)
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("schema")).unwrap();
    std::fs::write(dir.path().join("schema/schema.sql"), DESIRED_IN_PLACE).unwrap();
    let out = common::schemaplan_expect(
        dir.path(),
        &[
            "plan",
            "-v",
            "--db",
            &url,
            "--dev-url",
            &server.admin_url(),
            "--out",
            "plans",
        ],
        0,
    );
    assert!(out.contains("note: proof in place"), "{out}");
    assert!(!out.contains("proof not in place"), "{out}");
}

#[test]
fn a_wrong_inverse_step_on_an_object_it_does_not_mention_is_caught_by_the_first_delta_reading() {
    // The proof's first reading, after the inverse, is a delta of the desired database's own
    // reading (`ScratchDb::take_delta_base`), in place and on a copy. The inverse also drops an
    // index neither side changes: that reading must see it gone (the repair builds it again),
    // else every later reading would keep the index's stale rows and the inverse, dropping it
    // again, would pass. Each proof gets a fresh setup: only a proof's first use of the
    // desired database has its state.
    for (desired, in_place) in [(DESIRED_IN_PLACE, true), (DESIRED, false)] {
        let s = setup("prove", LIVE, desired);
        let mut planned = planned(&s);
        tamper(
            &mut planned.inverse,
            "one row per order'",
            "COMMENT ON TABLE public.orders IS 'one row per order'; \
             DROP INDEX public.orders_customer;",
        );
        let report = prove(&s, &planned, true).unwrap_or_else(|e| panic!("{e}"));
        let problem = report
            .inverse_problem
            .expect("the inverse dropping an index was not reported");
        assert!(problem.contains("orders_customer"), "{problem}");
        assert_eq!(report.rebuilt, None, "in place: {in_place}");
        // In place, the wrong inverse's problem is retried on a copy; the other plan's
        // inverse drops an index concurrently and runs on a copy only.
        assert!(report.not_in_place.is_some(), "in place: {in_place}");
    }
}

/// Partitioned tables referencing each other over unique INDEXES (not constraints), with
/// foreign keys between their partitions (over the partitions' copies of those indexes), in
/// both directions: dropped all, one of them, or only the indexes and their keys. Both the
/// phased plan (drops in `contract`; an index of a partitioned table goes in `expand`, and so
/// must every key over it) and the unphased one (`plan`'s fallback) prove, both ways (issue 14,
/// session 10's sqldef / pg-schema-diff measurement; fixtures
/// `partitions/drop_partitioned_tables_with_circular_fks_over_unique_indexes` and beside it).
#[test]
fn partitioned_tables_with_circular_keys_over_unique_indexes_drop_both_ways() {
    const TREES: &str = "
CREATE TABLE a (id integer NOT NULL, b_id integer) PARTITION BY RANGE (id);
CREATE TABLE a1 PARTITION OF a FOR VALUES FROM (0) TO (100);
CREATE TABLE a2 PARTITION OF a FOR VALUES FROM (100) TO (200);
CREATE UNIQUE INDEX a_id_idx ON a (id);
CREATE TABLE b (id integer NOT NULL, a_id integer) PARTITION BY LIST (id);
CREATE TABLE b1 PARTITION OF b FOR VALUES IN (1, 2, 3);
CREATE TABLE b2 PARTITION OF b DEFAULT;
CREATE UNIQUE INDEX b_id_idx ON b (id);
";
    const CIRCLE: &str = "
ALTER TABLE a ADD CONSTRAINT a_b_fkey FOREIGN KEY (b_id) REFERENCES b (id);
ALTER TABLE b ADD CONSTRAINT b_a_fkey FOREIGN KEY (a_id) REFERENCES a (id);
";
    const KEEP: &str = "CREATE TABLE kept (id integer PRIMARY KEY);";
    let a_only = "
CREATE TABLE a (id integer NOT NULL, b_id integer) PARTITION BY RANGE (id);
CREATE TABLE a1 PARTITION OF a FOR VALUES FROM (0) TO (100);
CREATE TABLE a2 PARTITION OF a FOR VALUES FROM (100) TO (200);
CREATE UNIQUE INDEX a_id_idx ON a (id);
CREATE TABLE kept (id integer PRIMARY KEY);";
    let b_only = "
CREATE TABLE b (id integer NOT NULL, a_id integer) PARTITION BY LIST (id);
CREATE TABLE b1 PARTITION OF b FOR VALUES IN (1, 2, 3);
CREATE TABLE b2 PARTITION OF b DEFAULT;
CREATE UNIQUE INDEX b_id_idx ON b (id);
CREATE TABLE kept (id integer PRIMARY KEY);";
    let no_indexes = format!(
        "{}{KEEP}",
        TREES
            .replace("CREATE UNIQUE INDEX a_id_idx ON a (id);", "")
            .replace("CREATE UNIQUE INDEX b_id_idx ON b (id);", "")
    );
    let partition_keys = [
        // a partition of a referencing one of b
        "ALTER TABLE a2 ADD CONSTRAINT a2_b1_fkey FOREIGN KEY (b_id) REFERENCES b1 (id);",
        // a partition of b referencing one of a (the table dropped first references it)
        "ALTER TABLE b2 ADD CONSTRAINT b2_a1_fkey FOREIGN KEY (a_id) REFERENCES a1 (id);",
        // both
        "ALTER TABLE a2 ADD CONSTRAINT a2_b1_fkey FOREIGN KEY (b_id) REFERENCES b1 (id);
         ALTER TABLE b2 ADD CONSTRAINT b2_a1_fkey FOREIGN KEY (a_id) REFERENCES a1 (id);",
    ];
    let mut failures = Vec::new();
    let mut n = 0;
    for (k, keys) in partition_keys.iter().enumerate() {
        for circle in [CIRCLE, ""] {
            let live = format!("{TREES}{circle}{keys}{KEEP}");
            for (what, desired) in [
                ("all dropped", KEEP),
                ("b dropped", a_only),
                ("a dropped", b_only),
                ("indexes and keys dropped", no_indexes.as_str()),
            ] {
                for contract_drops in [true, false] {
                    n += 1;
                    let s = setup(&format!("circle_{n}"), &live, desired);
                    let planned = planned_with(&s, contract_drops);
                    let label = format!(
                        "partition keys #{k}, {}, {what}, drops in {}",
                        if circle.is_empty() {
                            "no circle"
                        } else {
                            "circle"
                        },
                        if contract_drops { "contract" } else { "expand" },
                    );
                    match prove(&s, &planned, true) {
                        Ok(r) if r.inverse_problem.is_none() => {}
                        Ok(r) => {
                            failures.push(format!("{label}: inverse: {:?}", r.inverse_problem))
                        }
                        Err(e) => failures.push(format!("{label}: {e}")),
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Dropped NOT NULL columns of tables with rows: one with a comment, one of an enum type the
/// plan drops as well, one with a default (restorable), one of a table without a key.
const DROPPED_NOT_NULL_LIVE: &str = "
CREATE TYPE kind AS ENUM ('a', 'b');
CREATE TABLE accounts (
    id bigint PRIMARY KEY,
    name text NOT NULL,
    code text NOT NULL,
    kind kind NOT NULL,
    score integer NOT NULL DEFAULT 7
);
COMMENT ON COLUMN accounts.code IS 'the old code';
CREATE TABLE notes (body text NOT NULL, n integer NOT NULL);
INSERT INTO accounts SELECT g, 'n' || g, 'c' || g, 'a', g FROM generate_series(1, 50) g;
INSERT INTO notes SELECT 'b' || g, g FROM generate_series(1, 20) g;
";

const DROPPED_NOT_NULL_DESIRED: &str = "
CREATE TABLE accounts (id bigint PRIMARY KEY, name text NOT NULL);
CREATE TABLE notes (body text NOT NULL);
";

/// Runs `steps` on the database at `url`, one after the other, as `apply` would in autocommit.
fn run_on(url: &str, steps: &[Step], what: &str) {
    let mut c = schemaplan::db::connect(url).unwrap();
    for s in steps {
        c.batch_execute(&s.sql).unwrap_or_else(|e| {
            panic!(
                "{what}: step {:?} failed: {}\n{}",
                s.summary,
                schemaplan::db::error_text(&e),
                s.sql
            )
        });
    }
}

fn rows(url: &str, sql: &str) -> String {
    let mut c = schemaplan::db::connect(url).unwrap();
    c.query_one(
        &format!("SELECT md5(string_agg(x, ',' ORDER BY x)) FROM ({sql}) r(x)"),
        &[],
    )
    .unwrap()
    .get(0)
}

/// The unphased plan (`plan`'s fallback when the phased one does not prove out) drops the
/// NOT NULL columns in expand; its inverse must add them back nullable, as the phased
/// inverse does: `ADD COLUMN ... NOT NULL` without a default fails on the first row, which the
/// proof on the shadow's empty tables never sees.
#[test]
fn unphased_inverse_adds_dropped_not_null_columns_back_nullable_on_tables_with_rows() {
    let s = setup(
        "unphased_nn",
        DROPPED_NOT_NULL_LIVE,
        DROPPED_NOT_NULL_DESIRED,
    );
    let planned = planned_with(&s, false);
    assert!(!planned.contract_drops, "{:#?}", planned.forward);
    let mut lost: Vec<String> = planned.unrestored.iter().map(|i| i.to_string()).collect();
    lost.sort();
    assert_eq!(lost.len(), 3, "{lost:?}");
    for c in ["code", "kind", "notes"] {
        assert!(lost.iter().any(|l| l.contains(c)), "{c} not in {lost:?}");
    }
    assert!(!lost.iter().any(|l| l.contains("score")), "{lost:?}");
    let report = prove(&s, &planned, true).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.inverse_problem, None);

    // The note is on the steps that add the columns back, not on the column's comment.
    let noted = |s: &Step| s.notes.iter().any(|n| n.contains("without its NOT NULL"));
    for s in &planned.inverse {
        let adds = s.sql.contains("ADD COLUMN code")
            || s.sql.contains("ADD COLUMN kind")
            || s.sql.contains("ADD COLUMN n ");
        assert_eq!(noted(s), adds, "{s:#?}");
    }

    let accounts = "SELECT id || name FROM accounts";
    let before = (
        rows(&s.url, accounts),
        rows(&s.url, "SELECT body FROM notes"),
    );
    run_on(&s.url, &planned.forward, "the plan");
    run_on(&s.url, &planned.inverse, "the inverse");
    let after = (
        rows(&s.url, accounts),
        rows(&s.url, "SELECT body FROM notes"),
    );
    assert_eq!(after, before, "rows lost");
    let mut c = schemaplan::db::connect(&s.url).unwrap();
    let nullable: Vec<(String, String)> = c
        .query(
            "SELECT table_name || '.' || column_name, is_nullable::text \
             FROM information_schema.columns WHERE table_schema = 'public' \
             AND column_name IN ('code', 'kind', 'n', 'score') ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let want = [
        ("accounts.code", "YES"),
        ("accounts.kind", "YES"),
        ("accounts.score", "NO"),
        ("notes.n", "YES"),
    ];
    assert_eq!(nullable, want.map(|(a, b)| (a.to_string(), b.to_string())),);
    let (count, sevens): (i64, i64) = c
        .query_one(
            "SELECT count(*), count(*) FILTER (WHERE score = 7) FROM accounts",
            &[],
        )
        .map(|r| (r.get(0), r.get(1)))
        .unwrap();
    assert_eq!((count, sevens), (50, 50));
}

/// Kept tables with rows whose foreign keys reference tables the plan drops: a key to a table
/// of another schema, a two-column key, a partitioned referencing table, an empty referencing
/// table, and two dropped tables referencing each other (no rows left anywhere).
/// Whether a step of `steps` whose SQL contains `needle` has a note containing `note`.
fn noted_step(steps: &[Step], needle: &str, note: &str) -> bool {
    steps
        .iter()
        .filter(|s| s.notes.iter().any(|n| n.contains(note)))
        .any(|s| s.sql.contains(needle))
}

const DROPPED_REFERENCED_LIVE: &str = "
CREATE SCHEMA ref;
CREATE TABLE ref.parents (id bigint PRIMARY KEY);
CREATE TABLE children (id bigint PRIMARY KEY, parent_id bigint REFERENCES ref.parents (id));
CREATE TABLE empty_children (parent_id bigint CONSTRAINT empty_fk REFERENCES ref.parents (id));
CREATE TABLE regions (region text, code text, PRIMARY KEY (region, code));
CREATE TABLE orders (
    id bigint PRIMARY KEY,
    region text NOT NULL,
    code text NOT NULL,
    CONSTRAINT orders_region_fk FOREIGN KEY (region, code) REFERENCES regions (region, code)
);
CREATE TABLE events (at integer NOT NULL, parent_id bigint CONSTRAINT events_fk REFERENCES ref.parents (id))
    PARTITION BY RANGE (at);
CREATE TABLE events_low PARTITION OF events FOR VALUES FROM (0) TO (100);
CREATE TABLE events_high PARTITION OF events FOR VALUES FROM (100) TO (1000);
CREATE TABLE a (id bigint PRIMARY KEY, b_id bigint);
CREATE TABLE b (id bigint PRIMARY KEY, a_id bigint REFERENCES a (id));
ALTER TABLE a ADD CONSTRAINT a_b_fk FOREIGN KEY (b_id) REFERENCES b (id);
INSERT INTO ref.parents SELECT g FROM generate_series(1, 30) g;
INSERT INTO children SELECT g, g FROM generate_series(1, 30) g;
INSERT INTO regions SELECT 'r' || g % 3, 'c' || g FROM generate_series(1, 20) g;
INSERT INTO orders SELECT g, 'r' || g % 3, 'c' || g FROM generate_series(1, 20) g;
INSERT INTO events SELECT g * 7, g FROM generate_series(1, 30) g;
INSERT INTO a VALUES (1, NULL);
INSERT INTO b VALUES (1, 1);
UPDATE a SET b_id = 1;
";

const DROPPED_REFERENCED_DESIRED: &str = "
CREATE SCHEMA ref;
CREATE TABLE children (id bigint PRIMARY KEY, parent_id bigint);
CREATE TABLE empty_children (parent_id bigint);
CREATE TABLE orders (id bigint PRIMARY KEY, region text NOT NULL, code text NOT NULL);
CREATE TABLE events (at integer NOT NULL, parent_id bigint) PARTITION BY RANGE (at);
CREATE TABLE events_low PARTITION OF events FOR VALUES FROM (0) TO (100);
CREATE TABLE events_high PARTITION OF events FOR VALUES FROM (100) TO (1000);
";

/// `(table.constraint, validated)` of the foreign keys of the public schema.
fn foreign_keys(url: &str) -> Vec<(String, bool)> {
    let mut c = schemaplan::db::connect(url).unwrap();
    c.query(
        "SELECT conrelid::regclass::text || '.' || conname::text, convalidated \
         FROM pg_constraint WHERE contype = 'f' AND conislocal ORDER BY 1",
        &[],
    )
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect()
}

/// The forward plan drops the keys of kept tables with rows that reference a dropped table,
/// then the table; the inverse re-creates the table empty, so validating the keys again fails
/// on the rows still pointing at it (SQLSTATE 23503), which the proof on the shadow's empty
/// tables never sees. The inverse adds them back NOT VALID and says so (a partitioned table's
/// key, which PostgreSQL before 18 refuses NOT VALID, is left out with a note), phased or not,
/// after the whole plan and after its expand phase alone; the proof expects exactly that.
#[test]
fn inverse_adds_keys_to_dropped_tables_back_not_valid_on_tables_with_rows() {
    for phased in [true, false] {
        let s = setup(
            &format!("dropped_ref_{phased}"),
            DROPPED_REFERENCED_LIVE,
            DROPPED_REFERENCED_DESIRED,
        );
        let planned = planned_with(&s, phased);
        assert_eq!(planned.contract_drops, phased);
        let mut lost: Vec<String> = planned.unrestored.iter().map(|i| i.to_string()).collect();
        lost.sort();
        assert_eq!(lost.len(), 3, "{lost:?}");
        for k in ["children_parent_id_fkey", "orders_region_fk", "events_fk"] {
            assert!(lost.iter().any(|l| l.contains(k)), "{k} not in {lost:?}");
        }
        let report = prove(&s, &planned, true).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(report.inverse_problem, None);

        let noted = |needle: &str, note: &str| noted_step(&planned.inverse, needle, note);
        assert!(noted(
            "ADD CONSTRAINT children_parent_id_fkey",
            "added back NOT VALID"
        ));
        assert!(noted(
            "ADD CONSTRAINT orders_region_fk",
            "added back NOT VALID"
        ));
        assert!(noted(
            "CREATE TABLE ref.parents",
            "events_fk on public.events is not added back"
        ));
        assert!(!planned
            .inverse
            .iter()
            .any(|s| s.sql.contains("ADD CONSTRAINT events_fk")));
        assert!(!planned.inverse.iter().any(|s| s
            .sql
            .contains("VALIDATE CONSTRAINT children_parent_id_fkey")));

        let kept = "SELECT id || '-' || coalesce(parent_id::text, '') FROM children \
                    UNION ALL SELECT id || region || code FROM orders \
                    UNION ALL SELECT at || '-' || parent_id FROM events";
        let before = rows(&s.url, kept);
        let in_phase = |steps: &[Step], phase| -> Vec<Step> {
            steps.iter().filter(|s| s.phase == phase).cloned().collect()
        };
        let expand = in_phase(&planned.forward, schemaplan::plan::Phase::Expand);
        let undo = in_phase(&planned.inverse, schemaplan::plan::Phase::Contract);
        let want = [
            ("a.a_b_fk", true),
            ("b.b_a_id_fkey", true),
            ("children.children_parent_id_fkey", false),
            ("empty_children.empty_fk", true),
            ("orders.orders_region_fk", false),
        ]
        .map(|(k, v)| (k.to_string(), v));
        if phased {
            // A rollback after the expand phase alone ends the same as a full one.
            run_on(&s.url, &expand, "the expand phase");
            run_on(&s.url, &undo, "the rollback after expand");
            assert_eq!(foreign_keys(&s.url), want, "after expand");
            assert_eq!(rows(&s.url, kept), before, "rows lost");
            // What the note on the inverse says to do, before the plan runs again.
            schemaplan::db::connect(&s.url)
                .unwrap()
                .batch_execute(
                    "ALTER TABLE events ADD CONSTRAINT events_fk \
                     FOREIGN KEY (parent_id) REFERENCES ref.parents (id)",
                )
                .unwrap();
        }
        run_on(&s.url, &planned.forward, "the plan");
        run_on(&s.url, &planned.inverse, "the inverse");
        assert_eq!(rows(&s.url, kept), before, "rows lost");
        assert_eq!(foreign_keys(&s.url), want, "phased: {phased}");
    }
}

/// Dropped NOT NULL columns of a table with rows, each covered by a constraint that NULL on
/// every row breaks: two CHECKs, a `NULLS NOT DISTINCT` unique constraint, and a `MATCH FULL`
/// key mixing the column with a kept one.
const NULL_REJECTING_LIVE: &str = "
CREATE TABLE owners (id bigint PRIMARY KEY, region text NOT NULL, UNIQUE (id, region));
CREATE TABLE items (
    id bigint PRIMARY KEY,
    owner_id bigint NOT NULL,
    a text NOT NULL CONSTRAINT a_present CHECK (a IS NOT NULL),
    b integer NOT NULL CONSTRAINT b_positive CHECK (coalesce(b, 0) > 0),
    c text NOT NULL CONSTRAINT c_unique UNIQUE NULLS NOT DISTINCT,
    d text NOT NULL,
    CONSTRAINT d_owner_fk FOREIGN KEY (owner_id, d) REFERENCES owners (id, region) MATCH FULL
);
INSERT INTO owners SELECT g, 'r' || g FROM generate_series(1, 5) g;
INSERT INTO items SELECT g, g % 5 + 1, 'a', g, 'c' || g, 'r' || (g % 5 + 1)
    FROM generate_series(1, 40) g;
";

const NULL_REJECTING_DESIRED: &str = "
CREATE TABLE owners (id bigint PRIMARY KEY, region text NOT NULL, UNIQUE (id, region));
CREATE TABLE items (id bigint PRIMARY KEY, owner_id bigint NOT NULL);
";

/// `(constraint, validated)` of the constraints of `items`.
fn item_constraints(url: &str) -> Vec<(String, bool)> {
    let mut c = schemaplan::db::connect(url).unwrap();
    c.query(
        "SELECT conname::text, convalidated FROM pg_constraint \
         WHERE conrelid = 'items'::regclass ORDER BY 1",
        &[],
    )
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect()
}

/// The inverse adds the dropped NOT NULL columns back nullable; a constraint over them that
/// NULL breaks failed the rollback on the rows (CHECK and key validation, the unique index
/// build). The CHECKs and the MATCH FULL key come back NOT VALID, the NULLS NOT DISTINCT unique
/// constraint (no NOT VALID for it) is left out, each with a note; the phased plan drops them
/// in expand with the NOT NULL (the new application's rows, without the column, would break
/// them). Phased and not, after the whole plan and after expand alone.
#[test]
fn inverse_adds_constraints_over_columns_back_nullable_not_valid_or_leaves_them_out() {
    for (mode, phased) in [("expand", true), ("phased", true), ("unphased", false)] {
        let s = setup(
            &format!("null_rejecting_{mode}"),
            NULL_REJECTING_LIVE,
            NULL_REJECTING_DESIRED,
        );
        let planned = planned_with(&s, phased);
        assert_eq!(planned.contract_drops, phased);
        let mut lost: Vec<String> = planned.unrestored.iter().map(|i| i.to_string()).collect();
        lost.sort();
        assert_eq!(lost.len(), 8, "{lost:?}");
        let report = prove(&s, &planned, true).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(report.inverse_problem, None);
        let noted = |needle: &str, note: &str| noted_step(&planned.inverse, needle, note);
        for k in ["a_present", "b_positive", "d_owner_fk"] {
            assert!(
                noted(&format!("ADD CONSTRAINT {k}"), "added back NOT VALID"),
                "{k}: {:#?}",
                planned.inverse
            );
        }
        assert!(noted(
            "ADD COLUMN c ",
            "c_unique on public.items is not added back"
        ));
        if phased {
            let dropped_in_expand = planned
                .forward
                .iter()
                .filter(|s| s.phase == schemaplan::plan::Phase::Expand)
                .filter(|s| s.sql.contains("DROP CONSTRAINT"))
                .count();
            assert_eq!(dropped_in_expand, 4, "{:#?}", planned.forward);
        }

        let kept = "SELECT id || '-' || owner_id FROM items";
        let before = rows(&s.url, kept);
        let want = [
            ("a_present", false),
            ("b_positive", false),
            ("d_owner_fk", false),
            ("items_pkey", true),
        ]
        .map(|(k, v)| (k.to_string(), v));
        let in_phase = |steps: &[Step], phase| -> Vec<Step> {
            steps.iter().filter(|s| s.phase == phase).cloned().collect()
        };
        use schemaplan::plan::Phase::{Contract, Expand};
        if mode == "expand" {
            run_on(&s.url, &in_phase(&planned.forward, Expand), "expand");
            run_on(&s.url, &in_phase(&planned.inverse, Contract), "rollback");
            assert_eq!(item_constraints(&s.url), want, "after expand");
            assert_eq!(rows(&s.url, kept), before, "rows lost");
            continue;
        }
        if phased {
            // The new application inserts without the columns between the phases.
            run_on(&s.url, &in_phase(&planned.forward, Expand), "expand");
            schemaplan::db::connect(&s.url)
                .unwrap()
                .batch_execute("INSERT INTO items (id, owner_id) VALUES (100, 1), (101, 2)")
                .unwrap();
            run_on(&s.url, &in_phase(&planned.forward, Contract), "contract");
        } else {
            run_on(&s.url, &planned.forward, "the plan");
        }
        run_on(&s.url, &planned.inverse, "the inverse");
        let kept_before = "SELECT id || '-' || owner_id FROM items WHERE id < 100";
        assert_eq!(rows(&s.url, kept_before), before, "rows lost");
        assert_eq!(item_constraints(&s.url), want, "{mode}");
    }
}

/// A dropped column whose type is a NOT NULL domain without a default cannot come back on a
/// table with rows at all (each row would be NULL, which the domain refuses; nor can it come
/// back nullable): the forward plan's step dropping it says so, phased or not, on a table with
/// rows only; a column of a domain with a default comes back filled.
#[test]
fn dropping_a_not_null_domain_column_from_a_table_with_rows_says_the_rollback_fails() {
    let live = "
        CREATE DOMAIN code AS text NOT NULL;
        CREATE DOMAIN filled AS text NOT NULL DEFAULT 'x';
        CREATE TABLE full_t (id bigint PRIMARY KEY, c code, f filled);
        CREATE TABLE empty_t (id bigint PRIMARY KEY, c code);
        INSERT INTO full_t VALUES (1, 'a', 'b'), (2, 'c', 'd');
    ";
    let desired = "
        CREATE DOMAIN code AS text NOT NULL;
        CREATE DOMAIN filled AS text NOT NULL DEFAULT 'x';
        CREATE TABLE full_t (id bigint PRIMARY KEY);
        CREATE TABLE empty_t (id bigint PRIMARY KEY);
    ";
    for phased in [true, false] {
        let s = setup(&format!("nn_domain_{phased}"), live, desired);
        let planned = planned_with(&s, phased);
        let said = |needle: &str| {
            planned
                .forward
                .iter()
                .filter(|s| s.sql.contains(needle))
                .any(|s| s.notes.iter().any(|n| n.contains("NOT NULL domain")))
        };
        assert!(said("full_t DROP COLUMN c;"), "{:#?}", planned.forward);
        assert!(!said("full_t DROP COLUMN f;"));
        assert!(!said("empty_t DROP COLUMN c;"));
        prove(&s, &planned, true).unwrap_or_else(|e| panic!("{e}"));
        run_on(&s.url, &planned.forward, "the plan");
        // What the note says: the inverse fails at adding the column back.
        let mut c = schemaplan::db::connect(&s.url).unwrap();
        let failed = planned
            .inverse
            .iter()
            .find_map(|s| c.batch_execute(&s.sql).err().map(|_| s.sql.clone()));
        assert!(
            failed
                .as_deref()
                .is_some_and(|sql| sql.contains("full_t ADD COLUMN c")),
            "{failed:?}"
        );
    }
}

/// A dropped NOT NULL column in the primary key of a table with rows (a one-column key, one
/// column of a two-column key), and a key of another table with rows referencing it.
const DROPPED_KEY_COLUMN_LIVE: &str = "
CREATE TABLE tags (id integer PRIMARY KEY, name text NOT NULL);
CREATE TABLE pairs (a integer, b integer, note text, PRIMARY KEY (a, b));
CREATE TABLE tag_uses (tag_id integer CONSTRAINT tag_uses_fk REFERENCES tags (id));
INSERT INTO tags SELECT g, 'n' || g FROM generate_series(1, 10) g;
INSERT INTO pairs SELECT g, g, 'x' FROM generate_series(1, 10) g;
INSERT INTO tag_uses SELECT g FROM generate_series(1, 10) g;
";

const DROPPED_KEY_COLUMN_DESIRED: &str = "
CREATE TABLE tags (name text NOT NULL);
CREATE TABLE pairs (a integer NOT NULL, note text);
CREATE TABLE tag_uses (tag_id integer);
";

/// The inverse added a dropped primary key column back `NOT NULL` and failed on the first row
/// (SQLSTATE 23502; the key could not come back without the values either). Now the column
/// comes back nullable and the key is left out, and so is a key referencing it, each with a
/// note; the phased plan drops the keys in expand with the NOT NULL (the new application
/// inserts without the column). Phased and not, after the whole plan and after expand alone.
#[test]
fn dropped_primary_key_columns_come_back_nullable_without_their_key_on_tables_with_rows() {
    for (mode, phased) in [("expand", true), ("phased", true), ("unphased", false)] {
        let s = setup(
            &format!("dropped_key_{mode}"),
            DROPPED_KEY_COLUMN_LIVE,
            DROPPED_KEY_COLUMN_DESIRED,
        );
        let planned = planned_with(&s, phased);
        assert_eq!(planned.contract_drops, phased);
        let mut lost: Vec<String> = planned.unrestored.iter().map(|i| i.to_string()).collect();
        lost.sort();
        assert_eq!(lost.len(), 5, "{lost:?}");
        let report = prove(&s, &planned, true).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(report.inverse_problem, None);
        let noted = |needle: &str, note: &str| noted_step(&planned.inverse, needle, note);
        assert!(noted(
            "ADD COLUMN id",
            "tags_pkey on public.tags is not added back"
        ));
        assert!(noted(
            "ADD COLUMN id",
            "tag_uses_fk on public.tag_uses is not added back"
        ));
        assert!(noted(
            "ADD COLUMN b",
            "pairs_pkey on public.pairs is not added back"
        ));

        let in_phase = |steps: &[Step], phase| -> Vec<Step> {
            steps.iter().filter(|s| s.phase == phase).cloned().collect()
        };
        use schemaplan::plan::Phase::{Contract, Expand};
        let kept = "SELECT name FROM tags UNION ALL SELECT a || note FROM pairs \
                    UNION ALL SELECT tag_id::text FROM tag_uses";
        let before = rows(&s.url, kept);
        if mode == "expand" {
            run_on(&s.url, &in_phase(&planned.forward, Expand), "expand");
            run_on(&s.url, &in_phase(&planned.inverse, Contract), "rollback");
        } else {
            run_on(&s.url, &planned.forward, "the plan");
            run_on(&s.url, &planned.inverse, "the inverse");
        }
        assert_eq!(rows(&s.url, kept), before, "rows lost");
        let mut c = schemaplan::db::connect(&s.url).unwrap();
        let constraints: i64 = c
            .query_one(
                "SELECT count(*) FROM pg_constraint WHERE conrelid IN \
                 ('tags'::regclass, 'pairs'::regclass, 'tag_uses'::regclass)",
                &[],
            )
            .unwrap()
            .get(0);
        assert_eq!(constraints, 0, "{mode}");
    }
}
