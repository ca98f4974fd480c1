//! Partitions through the binary, with rows, where the fixture suite cannot see what matters: a
//! table that joins a partitioned table, leaves one or changes its bounds keeps every row
//! (attached / detached in place, never dropped and created), also after `rollback`; a key
//! added to a partitioned table with rows holds (duplicates refused) on every partition after
//! the online form attached the partitions' keys. (Plan shapes: `fixtures/partitions/`.)

mod common;

use common::project::{count, setup};
use common::schemaplan_expect as run;

fn plan_apply(cwd: &std::path::Path, url: &str, dev: &str) -> String {
    run(
        cwd,
        &[
            "plan",
            "--db",
            url,
            "--dev-url",
            dev,
            "--out",
            "plans/p",
            "--small-table",
            "0",
        ],
        0,
    );
    run(
        cwd,
        &[
            "apply",
            "--db",
            url,
            "plans/p",
            "--phase",
            "all",
            "--allow-hazards",
            "all",
        ],
        0,
    );
    std::fs::read_to_string(cwd.join("plans/p/plan.sql")).unwrap()
}

fn rollback(cwd: &std::path::Path, url: &str) {
    run(
        cwd,
        &[
            "rollback",
            "--db",
            url,
            "plans/p",
            "--phase",
            "all",
            "--allow-hazards",
            "all",
        ],
        0,
    );
}

#[test]
fn changed_bounds_and_attached_and_detached_partitions_keep_their_rows() {
    let (url, dev, tmp, mut c) = setup(
        "parts_rows",
        "CREATE TABLE public.m (id int NOT NULL, v text) PARTITION BY RANGE (id);
         CREATE TABLE public.m_1 PARTITION OF public.m FOR VALUES FROM (0) TO (100);
         CREATE TABLE public.m_2 PARTITION OF public.m FOR VALUES FROM (200) TO (300);
         CREATE TABLE public.m_3 (id int NOT NULL, v text);
         INSERT INTO public.m SELECT g, 'x' FROM generate_series(0, 99) g;
         INSERT INTO public.m SELECT g, 'y' FROM generate_series(200, 299) g;
         INSERT INTO public.m_3 SELECT g, 'z' FROM generate_series(300, 349) g;",
        // m_1 grows its bounds, m_2 leaves, m_3 joins
        "CREATE TABLE public.m (id int NOT NULL, v text) PARTITION BY RANGE (id);
         CREATE TABLE public.m_1 PARTITION OF public.m FOR VALUES FROM (0) TO (200);
         CREATE TABLE public.m_2 (id int NOT NULL, v text);
         CREATE TABLE public.m_3 PARTITION OF public.m FOR VALUES FROM (300) TO (400);",
    );
    let cwd = tmp.path();
    let plan = plan_apply(cwd, &url, &dev);
    assert!(!plan.contains("DROP TABLE"), "{plan}");
    assert_eq!(count(&mut c, "SELECT count(*) FROM public.m"), 150);
    assert_eq!(count(&mut c, "SELECT count(*) FROM public.m_2"), 100);
    assert_eq!(
        count(&mut c, "SELECT count(*) FROM public.m WHERE v = 'z'"),
        50
    );
    // The new bound holds: a row between the old and the new upper bound goes to m_1.
    c.batch_execute("INSERT INTO public.m VALUES (150, 'new')")
        .unwrap();
    assert_eq!(
        count(&mut c, "SELECT count(*) FROM public.m_1 WHERE id = 150"),
        1
    );
    c.batch_execute("DELETE FROM public.m WHERE id = 150")
        .unwrap();
    rollback(cwd, &url);
    assert_eq!(count(&mut c, "SELECT count(*) FROM public.m"), 200);
    assert_eq!(count(&mut c, "SELECT count(*) FROM public.m_3"), 50);
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM pg_inherits WHERE inhrelid = 'public.m_3'::regclass"
        ),
        0
    );
}

#[test]
fn a_key_added_online_to_a_partitioned_table_refuses_duplicates_in_every_partition() {
    let (url, dev, tmp, mut c) = setup(
        "parts_key",
        "CREATE TABLE public.m (id int NOT NULL, k text NOT NULL) PARTITION BY LIST (k);
         CREATE TABLE public.m_a PARTITION OF public.m FOR VALUES IN ('a');
         CREATE TABLE public.m_b PARTITION OF public.m FOR VALUES IN ('b');
         INSERT INTO public.m SELECT g, CASE WHEN g % 2 = 0 THEN 'a' ELSE 'b' END
           FROM generate_series(1, 1000) g;",
        "CREATE TABLE public.m (id int NOT NULL, k text NOT NULL, PRIMARY KEY (k, id))
           PARTITION BY LIST (k);
         CREATE TABLE public.m_a PARTITION OF public.m FOR VALUES IN ('a');
         CREATE TABLE public.m_b PARTITION OF public.m FOR VALUES IN ('b');",
    );
    let cwd = tmp.path();
    let plan = plan_apply(cwd, &url, &dev);
    assert!(
        plan.contains("CREATE UNIQUE INDEX CONCURRENTLY m_b_pkey ON public.m_b"),
        "{plan}"
    );
    assert!(
        !plan.contains("builds its index while holding the lock"),
        "{plan}"
    );
    assert_eq!(count(&mut c, "SELECT count(*) FROM public.m"), 1000);
    // The parent's key is valid and each partition's key is attached to it.
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM pg_index i JOIN pg_inherits h ON h.inhrelid = i.indexrelid \
             WHERE h.inhparent = 'public.m_pkey'::regclass AND i.indisvalid"
        ),
        2
    );
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM pg_index WHERE indexrelid = 'public.m_pkey'::regclass \
             AND indisvalid AND indisprimary"
        ),
        1
    );
    for dup in [
        "INSERT INTO public.m VALUES (2, 'a')",
        "INSERT INTO public.m VALUES (1, 'b')",
    ] {
        let e = c.batch_execute(dup).unwrap_err();
        assert_eq!(e.code().map(|s| s.code()), Some("23505"), "{dup}: {e}");
    }
    // The plan is idempotent: planning again finds nothing to do.
    run(
        cwd,
        &[
            "plan",
            "--db",
            &url,
            "--dev-url",
            &dev,
            "--out",
            "plans/q",
            "--exit-code",
        ],
        0,
    );
    rollback(cwd, &url);
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM pg_constraint WHERE conrelid::regclass::text LIKE 'm%' \
             AND contype = 'p'"
        ),
        0
    );
    assert_eq!(count(&mut c, "SELECT count(*) FROM public.m"), 1000);
}
