//! Publications and event triggers through the binary, as a user meets them: dropping a
//! publication is the `replication` hazard (apply refuses it until allowed) and `rollback`
//! brings it back with its column list, row filter and comment; a table a plan drops leaves a
//! publication that stays, in its own step before the table goes, with the other members'
//! rows untouched; an event trigger is planned, and disabling it by hand is drift.
//! (Plan shapes of every kind are in the fixture suite: `fixtures/publications/`,
//! `fixtures/event_triggers/`.)

mod common;

use common::project::{count, setup, text};
use common::schemaplan_expect as run;

#[test]
fn dropping_a_publication_is_a_replication_hazard_and_rollback_brings_it_back() {
    let (url, dev, tmp, mut c) = setup(
        "pub_drop",
        "CREATE TABLE public.t (id int PRIMARY KEY, a int, secret text);
         INSERT INTO public.t SELECT g, g, 's' FROM generate_series(1, 500) g;
         CREATE PUBLICATION feed FOR TABLE public.t (id, a) WHERE (a > 5) WITH (publish = 'insert');
         COMMENT ON PUBLICATION feed IS 'read by the warehouse';",
        "CREATE TABLE public.t (id int PRIMARY KEY, a int, secret text);",
    );
    let cwd = tmp.path();
    run(
        cwd,
        &["plan", "--db", &url, "--dev-url", &dev, "--out", "plans/p"],
        0,
    );
    let plan = std::fs::read_to_string(cwd.join("plans/p/plan.sql")).unwrap();
    assert!(plan.contains("DROP PUBLICATION feed;"), "{plan}");
    assert!(plan.contains("hazards: replication"), "{plan}");
    assert!(
        plan.contains("subscriptions reading this publication stop"),
        "{plan}"
    );
    // Not without saying so.
    let t = run(cwd, &["apply", "--db", &url, "plans/p"], 1);
    assert!(t.contains("--allow-hazards replication"), "{t}");
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM pg_publication WHERE pubname = 'feed'"
        ),
        1
    );
    run(
        cwd,
        &[
            "apply",
            "--db",
            &url,
            "plans/p",
            "--allow-hazards",
            "replication",
        ],
        0,
    );
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM pg_publication WHERE pubname = 'feed'"
        ),
        0
    );
    assert_eq!(count(&mut c, "SELECT count(*) FROM public.t"), 500);
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
        text(
            &mut c,
            "SELECT pg_get_expr(pr.prqual, pr.prrelid) FROM pg_publication_rel pr \
             JOIN pg_publication p ON p.oid = pr.prpubid WHERE p.pubname = 'feed'"
        )
        .as_deref(),
        Some("(a > 5)")
    );
    assert_eq!(
        text(
            &mut c,
            "SELECT array_to_string(attnames, ',') FROM pg_publication_tables \
             WHERE pubname = 'feed' AND tablename = 't'"
        )
        .as_deref(),
        Some("id,a")
    );
    assert_eq!(
        text(
            &mut c,
            "SELECT obj_description(oid, 'pg_publication') FROM pg_publication \
             WHERE pubname = 'feed'"
        )
        .as_deref(),
        Some("read by the warehouse")
    );
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM pg_publication WHERE pubname = 'feed' \
             AND pubinsert AND NOT pubupdate AND NOT pubdelete AND NOT pubtruncate"
        ),
        1
    );
}

#[test]
fn a_table_dropped_from_a_kept_publication_leaves_it_first() {
    let (url, dev, tmp, mut c) = setup(
        "pub_member_drop",
        "CREATE TABLE public.t (id int PRIMARY KEY);
         CREATE TABLE public.keep (id int PRIMARY KEY);
         INSERT INTO public.t SELECT generate_series(1, 100);
         INSERT INTO public.keep SELECT generate_series(1, 100);
         CREATE PUBLICATION pub FOR TABLE public.t, public.keep;",
        "CREATE TABLE public.keep (id int PRIMARY KEY);
         CREATE PUBLICATION pub FOR TABLE public.keep;",
    );
    let cwd = tmp.path();
    run(
        cwd,
        &["plan", "--db", &url, "--dev-url", &dev, "--out", "plans/p"],
        0,
    );
    let plan = std::fs::read_to_string(cwd.join("plans/p/plan.sql")).unwrap();
    let leave = plan
        .find("ALTER PUBLICATION pub DROP TABLE ONLY public.t;")
        .unwrap_or_else(|| panic!("no membership step in:\n{plan}"));
    let drop = plan.find("DROP TABLE public.t;").unwrap();
    assert!(
        leave < drop,
        "the table leaves the publication first:\n{plan}"
    );
    assert!(!plan.contains("DROP PUBLICATION"), "{plan}");
    run(
        cwd,
        &[
            "apply",
            "--db",
            &url,
            "plans/p",
            "--allow-hazards",
            "data-loss,irreversible",
        ],
        0,
    );
    assert_eq!(
        text(
            &mut c,
            "SELECT string_agg(tablename, ',') FROM pg_publication_tables WHERE pubname = 'pub'"
        )
        .as_deref(),
        Some("keep")
    );
    assert_eq!(count(&mut c, "SELECT count(*) FROM public.keep"), 100);
    let t = run(cwd, &["drift", "--db", &url, "--dev-url", &dev], 0);
    assert!(t.contains("In sync"), "{t}");
    // The inverse creates the table again (empty: the data is not restored) and puts it back.
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
        text(
            &mut c,
            "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_publication_tables \
             WHERE pubname = 'pub'"
        )
        .as_deref(),
        Some("keep,t")
    );
}

#[test]
fn an_event_trigger_is_planned_and_disabling_it_by_hand_is_drift() {
    let function = "CREATE FUNCTION public.note_ddl() RETURNS event_trigger LANGUAGE plpgsql \
                    AS $$ BEGIN RAISE NOTICE 'ddl: %', tg_tag; END $$;";
    let (url, dev, tmp, mut c) = setup(
        "event_trigger",
        function,
        &format!(
            "{function}
             CREATE EVENT TRIGGER note_tables ON ddl_command_end
               WHEN TAG IN ('CREATE TABLE') EXECUTE FUNCTION public.note_ddl();"
        ),
    );
    let cwd = tmp.path();
    run(
        cwd,
        &["plan", "--db", &url, "--dev-url", &dev, "--out", "plans/p"],
        0,
    );
    let plan = std::fs::read_to_string(cwd.join("plans/p/plan.sql")).unwrap();
    assert!(
        plan.contains(
            "CREATE EVENT TRIGGER note_tables ON ddl_command_end WHEN TAG IN ('CREATE TABLE') \
             EXECUTE FUNCTION public.note_ddl();"
        ),
        "{plan}"
    );
    run(cwd, &["apply", "--db", &url, "plans/p"], 0);
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM pg_event_trigger WHERE evtname = 'note_tables' AND evtenabled = 'O'"
        ),
        1
    );
    let t = run(cwd, &["drift", "--db", &url, "--dev-url", &dev], 0);
    assert!(t.contains("In sync"), "{t}");
    c.batch_execute("ALTER EVENT TRIGGER note_tables DISABLE")
        .unwrap();
    let t = run(cwd, &["drift", "--db", &url, "--dev-url", &dev], 2);
    assert!(t.contains("note_tables"), "{t}");
}

#[test]
fn a_subscription_in_schema_files_is_reported_and_never_planned() {
    // The publisher does not exist: loading CREATE SUBSCRIPTION into the shadow would try to
    // connect to it and fail the plan.
    let (url, dev, tmp, mut c) = setup(
        "subscription_in_files",
        "CREATE TABLE public.t (id int PRIMARY KEY);",
        "CREATE TABLE public.t (id int PRIMARY KEY, note text);
         CREATE SUBSCRIPTION from_upstream
           CONNECTION 'host=127.0.0.1 port=1 dbname=upstream connect_timeout=2'
           PUBLICATION feed;
         COMMENT ON SUBSCRIPTION from_upstream IS 'copy of upstream';",
    );
    let cwd = tmp.path();
    let t = run(
        cwd,
        &["plan", "--db", &url, "--dev-url", &dev, "--out", "plans/p"],
        0,
    );
    assert!(
        t.contains("CREATE SUBSCRIPTION is not planned: a subscription needs a live publisher"),
        "{t}"
    );
    let plan = std::fs::read_to_string(cwd.join("plans/p/plan.sql")).unwrap();
    assert!(!plan.to_uppercase().contains("SUBSCRIPTION"), "{plan}");
    assert!(plan.contains("ADD COLUMN note text"), "{plan}");
    run(cwd, &["apply", "--db", &url, "plans/p"], 0);
    assert_eq!(count(&mut c, "SELECT count(*) FROM pg_subscription"), 0);
}

#[test]
fn dump_writes_publications_and_event_triggers_that_plan_back_to_nothing() {
    let (url, dev, tmp, _c) = setup(
        "pub_dump",
        "CREATE SCHEMA s;
         CREATE TABLE s.a (id int PRIMARY KEY);
         CREATE TABLE public.t (id int PRIMARY KEY, a int, b text);
         CREATE PUBLICATION cols FOR TABLE public.t (id, a) WHERE (a > 0)
           WITH (publish = 'insert, update', publish_via_partition_root = true);
         CREATE PUBLICATION by_schema FOR TABLES IN SCHEMA s;
         COMMENT ON PUBLICATION by_schema IS 'all of s';
         CREATE FUNCTION public.note_ddl() RETURNS event_trigger LANGUAGE plpgsql
           AS $$ BEGIN RAISE NOTICE 'ddl'; END $$;
         CREATE EVENT TRIGGER note ON ddl_command_end WHEN TAG IN ('CREATE TABLE')
           EXECUTE FUNCTION public.note_ddl();
         ALTER EVENT TRIGGER note ENABLE REPLICA;",
        "",
    );
    let cwd = tmp.path();
    std::fs::remove_dir_all(cwd.join("schema")).unwrap();
    run(
        cwd,
        &["dump", "--db", &url, "--dev-url", &dev, "--out", "schema"],
        0,
    );
    let cols = std::fs::read_to_string(cwd.join("schema/02_publications/cols.sql")).unwrap();
    assert!(
        cols.contains("CREATE PUBLICATION cols WITH (publish = 'insert, update', publish_via_partition_root = true);")
            && cols.contains("ALTER PUBLICATION cols ADD TABLE ONLY public.t (id, a) WHERE ((a > 0));"),
        "{cols}"
    );
    let note = std::fs::read_to_string(cwd.join("schema/03_event_triggers/note.sql")).unwrap();
    assert!(
        note.contains("ALTER EVENT TRIGGER note ENABLE REPLICA;"),
        "{note}"
    );
    // The dump read back is the database: nothing to plan, no drift.
    let t = run(cwd, &["drift", "--db", &url, "--dev-url", &dev], 0);
    assert!(t.contains("In sync"), "{t}");
}
