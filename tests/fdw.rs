//! Foreign-data wrappers, servers and user mappings through the binary, as a user meets them:
//! a secret option (a user mapping's `password`) is never printed by any command nor written
//! into any file schemaplan makes; a plan that would have to write one, forward or in its
//! inverse, is refused naming the mapping and the key; a mapping's other options change in
//! place with the password untouched; `dump` writes servers and mappings that read back in
//! sync; foreign tables are dropped with their server (and come back on rollback), change their
//! options in place with a secret option untouched and unprinted, and dump back in sync; a
//! binary-coercible cast (which PostgreSQL 18 no longer allows on range types, so no
//! fixture can hold it on every major) reads, dumps and plans back in sync. (Plan shapes are
//! in the fixture suite: `fixtures/foreign_data/`, `fixtures/casts/`.)

mod common;

use common::project::text;
use common::schemaplan_expect as run;
use std::path::Path;

/// The password in the live database, and the one in the schema files: neither may appear.
const LIVE_SECRET: &str = "Live-Canary-7f3a9c";
const FILE_SECRET: &str = "File-Canary-2b8d41";

/// A database loaded with `before` (roles `reader` and `app_user` exist), a working directory
/// whose `schema/all.sql` is `after`.
fn setup(
    tag: &str,
    before: &str,
    after: &str,
) -> (String, String, tempfile::TempDir, postgres::Client) {
    common::project::with_roles(tag, &["reader", "app_user"], before, after)
}

/// Every file under `dir` (but the schema files the test wrote), with its text.
fn files_under(dir: &Path, out: &mut Vec<(String, String)>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            if p.file_name().is_some_and(|n| n == "schema") {
                continue;
            }
            files_under(&p, out);
        } else {
            let t = String::from_utf8_lossy(&std::fs::read(&p).unwrap()).into_owned();
            out.push((p.display().to_string(), t));
        }
    }
}

fn assert_no_secret(what: &str, text: &str) {
    for s in [LIVE_SECRET, FILE_SECRET] {
        assert!(!text.contains(s), "{what} prints the secret {s}:\n{text}");
    }
}

const LIVE: &str = "
    CREATE TABLE public.t (id int PRIMARY KEY, a int);
    INSERT INTO public.t SELECT g, g FROM generate_series(1, 100) g;
    CREATE FOREIGN DATA WRAPPER plain_fdw;
    CREATE SERVER archive FOREIGN DATA WRAPPER plain_fdw OPTIONS (host 'old.internal');";

#[test]
fn a_user_mapping_password_is_never_printed_by_any_command() {
    let (url, dev, tmp, mut c) = setup(
        "fdw_secret",
        &format!(
            "{LIVE}
             CREATE USER MAPPING FOR app_user SERVER archive
               OPTIONS (user 'app', password '{LIVE_SECRET}');"
        ),
        &format!(
            "CREATE TABLE public.t (id int PRIMARY KEY, a int);
             CREATE FOREIGN DATA WRAPPER plain_fdw;
             CREATE SERVER archive FOREIGN DATA WRAPPER plain_fdw OPTIONS (host 'new.internal');
             CREATE USER MAPPING FOR app_user SERVER archive
               OPTIONS (user 'app2', password '{FILE_SECRET}');"
        ),
    );
    let cwd = tmp.path();
    let mut outputs = Vec::new();
    // Drift: the user and host differ, the passwords (different values) are not compared.
    let t = run(cwd, &["drift", "--db", &url, "--dev-url", &dev], 2);
    assert!(
        t.contains("user mapping for app_user on server archive"),
        "{t}"
    );
    outputs.push(("drift".to_string(), t));
    let t = run(
        cwd,
        &["drift", "--db", &url, "--dev-url", &dev, "--format", "json"],
        2,
    );
    outputs.push(("drift --format json".to_string(), t));
    let t = run(
        cwd,
        &["plan", "--db", &url, "--dev-url", &dev, "--out", "plans/p"],
        0,
    );
    outputs.push(("plan".to_string(), t));
    let plan = std::fs::read_to_string(cwd.join("plans/p/plan.sql")).unwrap();
    assert!(
        plan.contains(
            "ALTER USER MAPPING FOR app_user SERVER archive OPTIONS (SET \"user\" 'app2');"
        ),
        "{plan}"
    );
    assert!(!plan.contains("password"), "{plan}");
    let t = run(
        cwd,
        &[
            "plan",
            "--db",
            &url,
            "--dev-url",
            &dev,
            "--out",
            "plans/j",
            "--format",
            "json",
        ],
        0,
    );
    outputs.push(("plan --format json".to_string(), t));
    let t = run(cwd, &["apply", "--db", &url, "plans/p"], 0);
    outputs.push(("apply".to_string(), t));
    // The option changed in place; the live password is the one it was.
    assert_eq!(
        text(
            &mut c,
            "SELECT array_to_string(ARRAY(SELECT o FROM unnest(umoptions) o ORDER BY o), ',') \
             FROM pg_user_mappings WHERE usename = 'app_user'"
        )
        .as_deref(),
        Some(format!("password={LIVE_SECRET},user=app2").as_str())
    );
    let t = run(cwd, &["drift", "--db", &url, "--dev-url", &dev], 0);
    outputs.push(("drift after apply".to_string(), t));
    let t = run(cwd, &["status", "--db", &url, "--plans", "plans"], 0);
    outputs.push(("status".to_string(), t));
    let t = run(cwd, &["dump", "--db", &url, "--out", "dumped"], 0);
    outputs.push(("dump".to_string(), t));
    let t = run(
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
    outputs.push(("rollback".to_string(), t));
    for (what, t) in &outputs {
        assert_no_secret(what, t);
    }
    let mut files = Vec::new();
    files_under(cwd, &mut files);
    assert!(
        files.iter().any(|(p, _)| p.ends_with("archive.sql")),
        "{files:?}"
    );
    for (path, t) in &files {
        assert_no_secret(path, t);
    }
    // The dump names the mapping's password key, never its value.
    let dumped = files
        .iter()
        .find(|(p, _)| p.contains("05_servers") && p.ends_with("archive.sql"))
        .map(|(_, t)| t.clone())
        .unwrap();
    assert!(
        dumped.contains("CREATE USER MAPPING FOR app_user SERVER archive"),
        "{dumped}"
    );
    assert!(
        dumped.contains("password 'schemaplan: secret not read'"),
        "{dumped}"
    );
}

#[test]
fn creating_a_user_mapping_with_a_password_is_refused_naming_the_mapping_and_key() {
    let (url, dev, tmp, mut c) = setup(
        "fdw_refuse_create",
        LIVE,
        &format!(
            "CREATE TABLE public.t (id int PRIMARY KEY, a int);
             CREATE FOREIGN DATA WRAPPER plain_fdw;
             CREATE SERVER archive FOREIGN DATA WRAPPER plain_fdw OPTIONS (host 'old.internal');
             CREATE USER MAPPING FOR app_user SERVER archive
               OPTIONS (user 'app', password '{FILE_SECRET}');"
        ),
    );
    let cwd = tmp.path();
    let t = run(
        cwd,
        &["plan", "--db", &url, "--dev-url", &dev, "--out", "plans/p"],
        1,
    );
    assert!(
        t.contains("user mapping for app_user on server archive: option password holds a secret"),
        "{t}"
    );
    assert_no_secret("refused plan", &t);
    assert!(!cwd.join("plans/p/plan.sql").exists());
    // Created by hand (with any password), the files and the database agree.
    c.batch_execute(&format!(
        "CREATE USER MAPPING FOR app_user SERVER archive OPTIONS (user 'app', password '{LIVE_SECRET}')"
    ))
    .unwrap();
    let t = run(cwd, &["drift", "--db", &url, "--dev-url", &dev], 0);
    assert_no_secret("drift", &t);
}

#[test]
fn dropping_a_user_mapping_with_a_password_is_refused_because_the_inverse_would_set_it() {
    let (url, dev, tmp, _c) = setup(
        "fdw_refuse_drop",
        &format!(
            "{LIVE}
             CREATE USER MAPPING FOR PUBLIC SERVER archive OPTIONS (password '{LIVE_SECRET}');"
        ),
        "CREATE TABLE public.t (id int PRIMARY KEY, a int);
         CREATE FOREIGN DATA WRAPPER plain_fdw;
         CREATE SERVER archive FOREIGN DATA WRAPPER plain_fdw OPTIONS (host 'old.internal');",
    );
    let t = run(
        tmp.path(),
        &["plan", "--db", &url, "--dev-url", &dev, "--out", "plans/p"],
        1,
    );
    assert!(
        t.contains("user mapping for public on server archive: option password")
            && t.contains("inverse plan"),
        "{t}"
    );
    assert_no_secret("refused plan", &t);
}

#[test]
fn dump_writes_wrappers_servers_and_mappings_that_read_back_in_sync() {
    let (url, dev, tmp, _c) = setup(
        "fdw_dump",
        "CREATE TABLE public.t (id int PRIMARY KEY);
         INSERT INTO public.t VALUES (1);
         CREATE FOREIGN DATA WRAPPER \"Odd FDW\" VALIDATOR postgresql_fdw_validator;
         COMMENT ON FOREIGN DATA WRAPPER \"Odd FDW\" IS 'quoted';
         CREATE SERVER s1 TYPE 'x' VERSION '1' FOREIGN DATA WRAPPER \"Odd FDW\" OPTIONS (host 'h', port '1');
         GRANT USAGE ON FOREIGN SERVER s1 TO reader;
         CREATE USER MAPPING FOR reader SERVER s1 OPTIONS (user 'r');
         CREATE USER MAPPING FOR PUBLIC SERVER s1;",
        "",
    );
    let cwd = tmp.path();
    run(cwd, &["dump", "--db", &url, "--out", "dumped"], 0);
    common::project::dump_plans_back_to_nothing(cwd, &url, &dev);
}

#[test]
fn foreign_table_on_a_dropped_server_is_dropped_with_it_and_comes_back_on_rollback() {
    let (url, dev, tmp, mut c) = setup(
        "fdw_foreign_table_drop",
        "CREATE TABLE public.t (id int PRIMARY KEY);
         INSERT INTO public.t SELECT g FROM generate_series(1, 20) g;
         CREATE FOREIGN DATA WRAPPER plain_fdw;
         CREATE SERVER archive FOREIGN DATA WRAPPER plain_fdw;
         CREATE FOREIGN TABLE public.remote (id int NOT NULL, note text OPTIONS (column_name 'n'))
           SERVER archive OPTIONS (table_name 'remote_t');
         COMMENT ON FOREIGN TABLE public.remote IS 'lives elsewhere';
         GRANT SELECT ON public.remote TO reader;",
        "CREATE TABLE public.t (id int PRIMARY KEY);
         CREATE FOREIGN DATA WRAPPER plain_fdw;",
    );
    let cwd = tmp.path();
    let t = run(
        cwd,
        &["plan", "--db", &url, "--dev-url", &dev, "--out", "plans/p"],
        0,
    );
    assert!(!t.contains("not modeled"), "{t}");
    let plan = std::fs::read_to_string(cwd.join("plans/p/plan.sql")).unwrap();
    let (ft, srv) = (
        plan.find("DROP FOREIGN TABLE public.remote;"),
        plan.find("DROP SERVER archive;"),
    );
    assert!(ft.is_some() && srv.is_some() && ft < srv, "{plan}");
    assert!(plan.contains("no rows are lost"), "{plan}");
    run(cwd, &["apply", "--db", &url, "plans/p"], 0);
    assert_eq!(
        text(&mut c, "SELECT to_regclass('public.remote')::text"),
        None
    );
    run(cwd, &["drift", "--db", &url, "--dev-url", &dev], 0);
    // The inverse creates both again, with the options, comment and grant.
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
            "SELECT array_to_string(ftoptions, ',') || ' ' || \
             obj_description('public.remote'::regclass, 'pg_class') || ' ' || \
             array_to_string((SELECT attfdwoptions FROM pg_attribute \
                              WHERE attrelid = 'public.remote'::regclass AND attname = 'note'), ',') \
             FROM pg_foreign_table WHERE ftrelid = 'public.remote'::regclass"
        )
        .as_deref(),
        Some("table_name=remote_t lives elsewhere column_name=n")
    );
    assert_eq!(
        text(&mut c, "SELECT count(*)::text FROM public.t").as_deref(),
        Some("20")
    );
}

#[test]
fn foreign_table_options_change_in_place_and_a_secret_option_is_never_printed() {
    let (url, dev, tmp, mut c) = setup(
        "fdw_foreign_table_secret",
        &format!(
            "{LIVE}
             CREATE FOREIGN TABLE public.remote (id int OPTIONS (column_name 'rid'))
               SERVER archive OPTIONS (table_name 'old', api_key '{LIVE_SECRET}');"
        ),
        &format!(
            "CREATE TABLE public.t (id int PRIMARY KEY, a int);
             CREATE FOREIGN DATA WRAPPER plain_fdw;
             CREATE SERVER archive FOREIGN DATA WRAPPER plain_fdw OPTIONS (host 'old.internal');
             CREATE FOREIGN TABLE public.remote (id int OPTIONS (column_name 'remote_id'))
               SERVER archive OPTIONS (table_name 'new', api_key '{FILE_SECRET}');"
        ),
    );
    let cwd = tmp.path();
    let mut outputs = Vec::new();
    // Drift sees the table and column options, not the secret's value.
    let t = run(cwd, &["drift", "--db", &url, "--dev-url", &dev], 2);
    assert!(t.contains("public.remote"), "{t}");
    outputs.push(("drift".to_string(), t));
    let t = run(
        cwd,
        &["plan", "--db", &url, "--dev-url", &dev, "--out", "plans/p"],
        0,
    );
    outputs.push(("plan".to_string(), t));
    let plan = std::fs::read_to_string(cwd.join("plans/p/plan.sql")).unwrap();
    assert!(
        plan.contains("ALTER FOREIGN TABLE public.remote OPTIONS (SET table_name 'new');"),
        "{plan}"
    );
    assert!(
        plan.contains("ALTER COLUMN id OPTIONS (SET column_name 'remote_id')"),
        "{plan}"
    );
    assert!(!plan.contains("api_key"), "{plan}");
    let t = run(cwd, &["apply", "--db", &url, "plans/p"], 0);
    outputs.push(("apply".to_string(), t));
    // Changed in place: the live secret is the one it was.
    assert_eq!(
        text(
            &mut c,
            "SELECT array_to_string(ARRAY(SELECT o FROM unnest(ftoptions) o ORDER BY o), ',') \
             FROM pg_foreign_table WHERE ftrelid = 'public.remote'::regclass"
        )
        .as_deref(),
        Some(format!("api_key={LIVE_SECRET},table_name=new").as_str())
    );
    let t = run(cwd, &["drift", "--db", &url, "--dev-url", &dev], 0);
    outputs.push(("drift after apply".to_string(), t));
    let t = run(cwd, &["dump", "--db", &url, "--out", "dumped"], 0);
    outputs.push(("dump".to_string(), t));
    for (what, t) in &outputs {
        assert_no_secret(what, t);
    }
    let mut files = Vec::new();
    files_under(cwd, &mut files);
    for (path, t) in &files {
        assert_no_secret(path, t);
    }
    assert!(
        files.iter().any(|(p, t)| p.ends_with("remote.sql")
            && t.contains("CREATE FOREIGN TABLE public.remote")
            && t.contains("api_key 'schemaplan: secret not read'")),
        "{files:?}"
    );
    // A new foreign table with a secret cannot be planned: refused, naming table and key.
    std::fs::write(
        cwd.join("schema/all.sql"),
        format!(
            "CREATE TABLE public.t (id int PRIMARY KEY, a int);
             CREATE FOREIGN DATA WRAPPER plain_fdw;
             CREATE SERVER archive FOREIGN DATA WRAPPER plain_fdw OPTIONS (host 'old.internal');
             CREATE FOREIGN TABLE public.remote (id int OPTIONS (column_name 'remote_id'))
               SERVER archive OPTIONS (table_name 'new', api_key '{FILE_SECRET}');
             CREATE FOREIGN TABLE public.other (id int) SERVER archive OPTIONS (token '{FILE_SECRET}');"
        ),
    )
    .unwrap();
    let t = run(
        cwd,
        &["plan", "--db", &url, "--dev-url", &dev, "--out", "plans/q"],
        1,
    );
    assert!(
        t.contains("table public.other: option token holds a secret"),
        "{t}"
    );
    assert_no_secret("refused plan", &t);
}

#[test]
fn drift_and_dump_name_a_foreign_table_a_foreign_table() {
    let (url, dev, tmp, _c) = setup(
        "fdw_foreign_table_kind",
        &format!(
            "{LIVE}
             CREATE FOREIGN TABLE public.remote (id int) SERVER archive OPTIONS (table_name 'old');"
        ),
        "CREATE TABLE public.t (id int PRIMARY KEY, a int);
         CREATE FOREIGN DATA WRAPPER plain_fdw;
         CREATE SERVER archive FOREIGN DATA WRAPPER plain_fdw OPTIONS (host 'old.internal');
         CREATE FOREIGN TABLE public.remote (id int) SERVER archive OPTIONS (table_name 'new');
         CREATE TABLE public.u (id int);",
    );
    let cwd = tmp.path();
    // The text report heads each object with its kind: the foreign table as one, the new
    // ordinary table as a table.
    let t = run(cwd, &["drift", "--db", &url, "--dev-url", &dev], 2);
    assert!(t.contains("foreign table public.remote"), "{t}");
    assert!(t.contains("\ntable public.u"), "{t}");
    let json = |args: &[&str], want: i32| {
        let o = common::schemaplan(cwd, args);
        assert_eq!(common::exit_code(&o), want, "{}", common::output_text(&o));
        let t = String::from_utf8_lossy(&o.stdout).into_owned();
        let doc: serde_json::Value = serde_json::from_str(&t).unwrap();
        (t, doc)
    };
    let (t, doc) = json(
        &["drift", "--db", &url, "--dev-url", &dev, "--format", "json"],
        2,
    );
    let kind_of = |doc: &serde_json::Value, identity: &str| {
        doc["objects"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["identity"] == identity)
            .map(|o| o["kind"].as_str().unwrap().to_string())
    };
    assert_eq!(
        kind_of(&doc, "public.remote").as_deref(),
        Some("foreign table"),
        "{t}"
    );
    assert_eq!(kind_of(&doc, "public.u").as_deref(), Some("table"), "{t}");
    // A foreign table only the database has (the files drop it) is named as one too.
    std::fs::write(
        cwd.join("schema/all.sql"),
        "CREATE TABLE public.t (id int PRIMARY KEY, a int);
         CREATE FOREIGN DATA WRAPPER plain_fdw;
         CREATE SERVER archive FOREIGN DATA WRAPPER plain_fdw OPTIONS (host 'old.internal');",
    )
    .unwrap();
    let t = run(cwd, &["drift", "--db", &url, "--dev-url", &dev], 2);
    assert!(t.contains("foreign table public.remote"), "{t}");
    // `dump --format json` lists it as a foreign table.
    let (t, doc) = json(
        &["dump", "--db", &url, "--out", "dumped", "--format", "json"],
        0,
    );
    assert_eq!(
        kind_of(&doc, "public.remote").as_deref(),
        Some("foreign table"),
        "{t}"
    );
    assert_eq!(kind_of(&doc, "public.t").as_deref(), Some("table"), "{t}");
}

#[test]
fn dump_writes_foreign_tables_and_foreign_partitions_that_read_back_in_sync() {
    let (url, dev, tmp, _c) = setup(
        "fdw_foreign_table_dump",
        "CREATE FOREIGN DATA WRAPPER plain_fdw;
         CREATE SERVER archive FOREIGN DATA WRAPPER plain_fdw;
         CREATE TABLE public.m (id int NOT NULL, taken date NOT NULL) PARTITION BY RANGE (taken);
         CREATE TABLE public.m_2024 PARTITION OF public.m FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
         INSERT INTO public.m VALUES (1, '2024-03-01');
         CREATE FOREIGN TABLE public.m_2019 PARTITION OF public.m
           FOR VALUES FROM ('2019-01-01') TO ('2020-01-01') SERVER archive OPTIONS (table_name 'm');
         ALTER FOREIGN TABLE public.m_2019 ALTER COLUMN taken OPTIONS (ADD column_name 'day');
         CREATE FOREIGN TABLE \"Odd Schema Table\" (\"Id\" int DEFAULT 1 NOT NULL CHECK (\"Id\" > 0))
           SERVER archive OPTIONS (\"quoted key\" 'it''s');
         COMMENT ON FOREIGN TABLE \"Odd Schema Table\" IS 'quoted';
         ALTER FOREIGN TABLE \"Odd Schema Table\" OWNER TO app_user;",
        "",
    );
    let cwd = tmp.path();
    run(cwd, &["dump", "--db", &url, "--out", "dumped"], 0);
    common::project::dump_plans_back_to_nothing(cwd, &url, &dev);
}

#[test]
fn a_cast_without_function_dumps_and_reads_back_in_sync() {
    if common::server().version_num() >= 180000 {
        eprintln!("skipped: PostgreSQL 18 refuses binary-coercible casts between range types");
        return;
    }
    let (url, dev, tmp, _c) = setup(
        "cast_without_function",
        "CREATE TYPE public.span AS RANGE (subtype = integer);
         CREATE TABLE public.t (id int PRIMARY KEY, s public.span);
         INSERT INTO public.t VALUES (1, '[1,5)');
         CREATE CAST (public.span AS int4range) WITHOUT FUNCTION AS ASSIGNMENT;",
        "",
    );
    let cwd = tmp.path();
    run(cwd, &["dump", "--db", &url, "--out", "dumped"], 0);
    let mut files = Vec::new();
    files_under(&cwd.join("dumped"), &mut files);
    assert!(
        files.iter().any(|(_, t)| t
            .contains("CREATE CAST (public.span AS int4range) WITHOUT FUNCTION AS ASSIGNMENT;")),
        "{files:?}"
    );
    common::project::dump_plans_back_to_nothing(cwd, &url, &dev);
}

#[test]
fn an_error_on_a_line_with_a_password_shows_the_line_without_it() {
    let (url, dev, tmp, _c) = setup(
        "fdw_error_line",
        "CREATE TABLE public.t (id int PRIMARY KEY);",
        &format!(
            "CREATE TABLE public.t (id int PRIMARY KEY);
             CREATE FOREIGN DATA WRAPPER plain_fdw;
             CREATE SERVER archive FOREIGN DATA WRAPPER plain_fdw;
             CREATE USER MAPPING FOR PUBLIC SERVER archive OPTIONS (user 'u', password '{FILE_SECRET}' bogus);"
        ),
    );
    // A syntax error (source stage) ...
    let t = run(
        tmp.path(),
        &["plan", "--db", &url, "--dev-url", &dev, "--out", "plans/p"],
        1,
    );
    assert!(
        t.contains("syntax error") && t.contains("OPTIONS (user 'u', password '*"),
        "{t}"
    );
    assert_no_secret("syntax error", &t);
    // ... and one PostgreSQL reports while loading the shadow.
    std::fs::write(
        tmp.path().join("schema/all.sql"),
        format!(
            "CREATE TABLE public.t (id int PRIMARY KEY);
             CREATE SERVER archive FOREIGN DATA WRAPPER no_such_fdw OPTIONS (password '{FILE_SECRET}');"
        ),
    )
    .unwrap();
    let t = run(
        tmp.path(),
        &["plan", "--db", &url, "--dev-url", &dev, "--out", "plans/p"],
        1,
    );
    assert_no_secret("load error", &t);
}
