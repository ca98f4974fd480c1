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

/// Every `ATTACH PARTITION` of `plan.sql` run on `url` with PostgreSQL's DEBUG1 messages
/// collected: the tables whose partition constraint it found implied by a valid CHECK (and so
/// did not scan).
fn attaches_without_scan(url: &str, plan_sql: &str) -> Vec<String> {
    use std::sync::{Arc, Mutex};
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let mut config: postgres::Config = url.parse().unwrap();
    config.notice_callback(move |n| sink.lock().unwrap().push(n.message().to_string()));
    let mut c = config.connect(postgres::NoTls).unwrap();
    c.batch_execute("SET client_min_messages = debug1").unwrap();
    c.batch_execute(plan_sql).unwrap();
    let messages = seen.lock().unwrap().clone();
    messages
        .iter()
        .filter_map(|m| {
            m.strip_prefix("partition constraint for table \"")
                .and_then(|r| r.strip_suffix("\" is implied by existing constraints"))
                .map(str::to_string)
        })
        .collect()
}

#[test]
fn attaching_a_large_table_validates_its_bounds_first_so_the_attach_scans_nothing() {
    let (url, dev, tmp, mut c) = setup(
        "parts_attach_online",
        "CREATE TABLE public.r (id int NOT NULL, v text) PARTITION BY RANGE (id);
         CREATE TABLE public.r_1 PARTITION OF public.r FOR VALUES FROM (0) TO (100);
         CREATE TABLE public.r_2 (id int NOT NULL, v text);
         CREATE TABLE public.r_low (id int NOT NULL, v text);
         CREATE TABLE public.t (at timestamptz NOT NULL) PARTITION BY RANGE (at);
         CREATE TABLE public.t_2024 (at timestamptz NOT NULL);
         CREATE TABLE public.l (k varchar(10), n int) PARTITION BY LIST (k);
         CREATE TABLE public.l_ab (k varchar(10), n int);
         CREATE TABLE public.l_null (k varchar(10), n int);
         INSERT INTO public.r SELECT g, 'x' FROM generate_series(0, 99) g;
         INSERT INTO public.r_2 SELECT g, 'y' FROM generate_series(100, 199) g;
         INSERT INTO public.r_low SELECT -g, 'z' FROM generate_series(1, 50) g;
         INSERT INTO public.t_2024 SELECT timestamptz '2024-01-01 00:00+00' + g * interval '1 hour'
           FROM generate_series(0, 99) g;
         INSERT INTO public.l_ab SELECT CASE WHEN g % 2 = 0 THEN 'a' ELSE 'b, c' END, g
           FROM generate_series(1, 100) g;
         INSERT INTO public.l_null SELECT NULL, g FROM generate_series(1, 10) g;",
        "CREATE TABLE public.r (id int NOT NULL, v text) PARTITION BY RANGE (id);
         CREATE TABLE public.r_1 PARTITION OF public.r FOR VALUES FROM (0) TO (100);
         CREATE TABLE public.r_2 PARTITION OF public.r FOR VALUES FROM (100) TO (200);
         CREATE TABLE public.r_low PARTITION OF public.r FOR VALUES FROM (MINVALUE) TO (0);
         CREATE TABLE public.t (at timestamptz NOT NULL) PARTITION BY RANGE (at);
         CREATE TABLE public.t_2024 PARTITION OF public.t
           FOR VALUES FROM ('2024-01-01 00:00+00') TO ('2025-01-01 00:00+00');
         CREATE TABLE public.l (k varchar(10), n int) PARTITION BY LIST (k);
         CREATE TABLE public.l_ab PARTITION OF public.l FOR VALUES IN ('a', 'b, c');
         CREATE TABLE public.l_null PARTITION OF public.l FOR VALUES IN (NULL);",
    );
    let cwd = tmp.path();
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
    assert!(!plan.contains("access-exclusive-lock"), "{plan}");
    assert_eq!(plan.matches("VALIDATE CONSTRAINT").count(), 5, "{plan}");
    // What the plan claims ("no scan under lock"), seen from the server: PostgreSQL says for
    // each attach that the partition constraint is implied and skips the scan.
    let mut implied = attaches_without_scan(&url, &plan);
    implied.sort();
    assert_eq!(
        implied,
        ["l_ab", "l_null", "r_2", "r_low", "t_2024"],
        "{plan}"
    );
    assert_eq!(count(&mut c, "SELECT count(*) FROM public.r"), 250);
    assert_eq!(
        count(&mut c, "SELECT count(*) FROM public.l WHERE k IS NULL"),
        10
    );
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM pg_constraint WHERE conname LIKE '%schemaplan_bound'"
        ),
        0
    );
}

#[test]
fn a_row_outside_the_bounds_fails_the_validation_and_leaves_the_table_as_it_was() {
    let (url, dev, tmp, mut c) = setup(
        "parts_attach_outside",
        "CREATE TABLE public.r (id int NOT NULL, v text) PARTITION BY RANGE (id);
         CREATE TABLE public.r_2 (id int NOT NULL, v text);
         INSERT INTO public.r_2 SELECT g, 'y' FROM generate_series(100, 199) g;
         INSERT INTO public.r_2 VALUES (500, 'outside');",
        "CREATE TABLE public.r (id int NOT NULL, v text) PARTITION BY RANGE (id);
         CREATE TABLE public.r_2 PARTITION OF public.r FOR VALUES FROM (100) TO (200);",
    );
    let cwd = tmp.path();
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
    let out = run(cwd, &["apply", "--db", &url, "plans/p"], 1);
    assert!(out.contains("r_2_schemaplan_bound"), "{out}");
    assert_eq!(count(&mut c, "SELECT count(*) FROM public.r_2"), 101);
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM pg_constraint WHERE conname = 'r_2_schemaplan_bound'"
        ),
        0
    );
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM pg_inherits WHERE inhrelid = 'public.r_2'::regclass"
        ),
        0
    );
}
