//! Bad input through the real binary: each case exits 1 with a message that says what and where,
//! and changes nothing (no plan written, the target database as it was). Schema-file cases run
//! `plan` against a database on the test server; connection cases use unreachable ports,
//! malformed URLs, the password-checking server of tests/common/secure.rs, and a server the test
//! stops while `apply` waits on a lock.
//!
//! Syntax errors, `INSERT`/`DROP` in schema files and a missing schema folder are in
//! tests/cli_errors.rs.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::schemaplan as run;
use common::secure::{secure_server, ALICE_PASSWORD};

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exit code (not killed by a signal)")
}

/// The schema of a database (relations with their columns, schemas; schemaplan's bookkeeping
/// schema apart), how many runs its bookkeeping holds (`none` without schema `schemaplan`) and
/// how many large objects it has. Equal before and after = nothing changed.
fn contents(url: &str) -> String {
    let mut c = schemaplan::db::connect(url).unwrap_or_else(|e| panic!("{e}"));
    let row = c
        .query_one(
            "SELECT \
               (SELECT string_agg(n.nspname || '.' || c.relname || ':' || c.relkind::text || '(' || \
                       coalesce((SELECT string_agg(attname, ',' ORDER BY attnum) FROM pg_attribute \
                                  WHERE attrelid = c.oid AND attnum > 0 AND NOT attisdropped), '') \
                       || ')', ',' ORDER BY 1) \
                  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast', 'schemaplan')), \
               (SELECT string_agg(nspname, ',' ORDER BY 1) FROM pg_namespace WHERE nspname <> 'schemaplan'), \
               (SELECT count(*) FROM pg_largeobject_metadata)::text, \
               to_regclass('schemaplan.runs') IS NOT NULL",
            &[],
        )
        .unwrap();
    let bookkeeping = if row.get::<_, bool>(3) {
        let n: i64 = c
            .query_one("SELECT count(*) FROM schemaplan.runs", &[])
            .unwrap()
            .get(0);
        format!("runs:{n}")
    } else {
        "none".to_string()
    };
    format!(
        "relations={:?} schemas={:?} large_objects={} bookkeeping={bookkeeping}",
        row.get::<_, Option<String>>(0),
        row.get::<_, Option<String>>(1),
        row.get::<_, String>(2)
    )
}

/// A working directory with `schema/` holding `files`.
fn workdir(files: &[(&str, &[u8])]) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("schema")).unwrap();
    std::fs::create_dir(tmp.path().join("plans")).unwrap();
    for (name, body) in files {
        std::fs::write(tmp.path().join("schema").join(name), body).unwrap();
    }
    tmp
}

/// Runs `plan` of `files` against a fresh database holding `before`; asserts exit 1, no plan
/// written, the database unchanged; returns the output.
fn plan_fails(case: &str, before: &str, files: &[(&str, &[u8])]) -> String {
    let server = common::server();
    let (db, url) = server.fresh_db(case);
    if !before.is_empty() {
        server.connect(&db).batch_execute(before).unwrap();
    }
    let was = contents(&url);
    let tmp = workdir(files);
    let o = run(
        tmp.path(),
        &[
            "plan",
            "--db",
            &url,
            "--dev-url",
            &server.admin_url(),
            "--out",
            "plans/p",
        ],
    );
    let t = text(&o);
    assert_eq!(code(&o), 1, "{t}");
    assert!(!t.contains("panicked"), "{t}");
    assert!(
        !tmp.path().join("plans/p").exists(),
        "a plan was written: {t}"
    );
    assert_eq!(contents(&url), was, "the database changed: {t}");
    server.drop_db(&db);
    t
}

#[test]
fn two_definitions_of_one_table_name_both_places() {
    let t = plan_fails(
        "bad_duplicate",
        "",
        &[
            ("a.sql", b"CREATE TABLE public.users (id bigint);\n"),
            (
                "b.sql",
                b"-- the same table again\nCREATE TABLE public.users (id bigint, name text);\n",
            ),
        ],
    );
    assert!(
        t.contains("schema/b.sql:2:1: relation \"users\" already exists"),
        "the second definition: {t}"
    );
    assert!(
        t.contains("public.users is defined twice: here and at schema/a.sql:1:1 (CREATE TABLE)"),
        "the first definition: {t}"
    );
}

/// `IF NOT EXISTS` and `OR REPLACE` make PostgreSQL keep one of two definitions silently, the
/// load order (file names) choosing which: a column could vanish. The loader refuses them,
/// naming both places, across files, and within one file a later `IF NOT EXISTS` (a
/// `CREATE OR REPLACE` later in the same file is a replacement in written order:
/// `fixtures/imperative/create_or_replace_in_written_order`).
#[test]
fn two_lenient_definitions_of_one_object_name_both_places() {
    type Case<'a> = (&'a str, &'a [(&'a str, &'a [u8])], &'a str);
    let cases: [Case; 4] = [
        (
            "bad_twice_if_not_exists",
            &[
                (
                    "a.sql",
                    b"CREATE TABLE IF NOT EXISTS public.users (id bigint, name text);\n",
                ),
                (
                    "b.sql",
                    b"\nCREATE TABLE IF NOT EXISTS public.users (id bigint);\n",
                ),
            ],
            "schema/b.sql:2:1: public.users is defined twice: here and at schema/a.sql:1:1 \
             (CREATE TABLE); keep one definition (IF NOT EXISTS would make PostgreSQL keep one",
        ),
        (
            "bad_twice_or_replace",
            &[
                (
                    "v.sql",
                    b"CREATE TABLE public.t (a int, b int);\n\
                      CREATE OR REPLACE VIEW public.v AS SELECT a FROM public.t;\n",
                ),
                (
                    "w.sql",
                    b"CREATE OR REPLACE VIEW public.v AS SELECT a, b FROM public.t;\n",
                ),
            ],
            "schema/w.sql:1:1: public.v is defined twice: here and at schema/v.sql:2:1 \
             (CREATE VIEW)",
        ),
        (
            "bad_twice_add_column",
            &[
                ("a.sql", b"CREATE TABLE public.users (id bigint, name text);\n"),
                (
                    "b.sql",
                    b"ALTER TABLE public.users ADD COLUMN IF NOT EXISTS name integer;\n",
                ),
            ],
            "schema/b.sql:1:1: public.users.name is defined twice: here and at schema/a.sql:1:1",
        ),
        (
            "bad_twice_function",
            &[
                (
                    "f.sql",
                    b"CREATE OR REPLACE FUNCTION public.f(a integer) RETURNS int LANGUAGE sql AS 'SELECT 1';\n\
                      CREATE OR REPLACE FUNCTION public.f(a text) RETURNS int LANGUAGE sql AS 'SELECT 2';\n",
                ),
                (
                    "g.sql",
                    b"CREATE OR REPLACE FUNCTION public.f(b int) RETURNS int LANGUAGE sql AS 'SELECT 3';\n",
                ),
            ],
            "schema/g.sql:1:1: public.f(int4) is defined twice: here and at schema/f.sql:1:1 \
             (CREATE FUNCTION)",
        ),
    ];
    for (case, files, want) in cases {
        let t = plan_fails(case, "", files);
        assert!(t.contains(want), "{case}: want `{want}` in:\n{t}");
    }
}

#[test]
fn two_definitions_of_one_index_name_both_places() {
    let t = plan_fails(
        "bad_duplicate_index",
        "",
        &[(
            "a.sql",
            b"CREATE TABLE public.t (a int, b int);\n\
              CREATE INDEX t_idx ON public.t (a);\n\
              CREATE INDEX t_idx ON public.t (b);\n",
        )],
    );
    assert!(
        t.contains("schema/a.sql:3:1: relation \"t_idx\" already exists"),
        "{t}"
    );
    assert!(
        t.contains("here and at schema/a.sql:2:1 (CREATE INDEX)"),
        "{t}"
    );
}

#[test]
fn dependency_cycle_between_views_names_every_member() {
    let t = plan_fails(
        "bad_cycle_views",
        "",
        &[
            (
                "v1.sql",
                b"CREATE VIEW public.v1 AS SELECT * FROM public.v2;\n",
            ),
            (
                "v2.sql",
                b"CREATE VIEW public.v2 AS SELECT * FROM public.v1;\n",
            ),
        ],
    );
    assert!(t.contains("dependency cycle"), "{t}");
    assert!(
        t.contains("CREATE VIEW public.v1 at schema/v1.sql:1:1 needs public.v2"),
        "{t}"
    );
    assert!(
        t.contains("CREATE VIEW public.v2 at schema/v2.sql:1:1 needs public.v1"),
        "{t}"
    );
}

#[test]
fn foreign_keys_in_a_cycle_suggest_alter_table() {
    let t = plan_fails(
        "bad_cycle_fk",
        "",
        &[(
            "t.sql",
            b"CREATE TABLE public.a (id int PRIMARY KEY, b_id int REFERENCES public.b (id));\n\
              CREATE TABLE public.b (id int PRIMARY KEY, a_id int REFERENCES public.a (id));\n",
        )],
    );
    assert!(
        t.contains("CREATE TABLE public.a at schema/t.sql:1:1 needs public.b"),
        "{t}"
    );
    assert!(
        t.contains("CREATE TABLE public.b at schema/t.sql:2:1 needs public.a"),
        "{t}"
    );
    assert!(t.contains("ALTER TABLE ... ADD"), "{t}");
}

#[test]
fn reference_to_an_object_defined_nowhere_names_it_and_the_referrer() {
    let t = plan_fails(
        "bad_missing_ref",
        "",
        &[(
            "orders.sql",
            b"CREATE TABLE public.orders (\n  id bigint PRIMARY KEY,\n  customer_id bigint REFERENCES public.customers (id)\n);\n",
        )],
    );
    assert!(
        t.contains("relation \"public.customers\" does not exist"),
        "{t}"
    );
    assert!(
        t.contains(
            "public.customers is not created by any schema file (referenced by the CREATE TABLE \
             at schema/orders.sql:1:1)"
        ),
        "{t}"
    );
}

#[test]
fn unknown_type_points_at_its_use() {
    let t = plan_fails(
        "bad_missing_type",
        "",
        &[(
            "t.sql",
            b"CREATE TABLE public.t (\n  mood public.feeling\n);\n",
        )],
    );
    assert!(
        t.contains("schema/t.sql:2:8: type \"public.feeling\" does not exist"),
        "{t}"
    );
    assert!(
        t.contains("public.feeling is not created by any schema file"),
        "{t}"
    );
}

#[test]
fn empty_schema_folder_is_an_error_not_drop_everything() {
    // An empty folder must not plan "drop every table".
    let t = plan_fails("bad_empty_dir", "CREATE TABLE public.keep (id int);", &[]);
    assert!(
        t.contains("schema: no *.sql files found"),
        "names the folder: {t}"
    );
}

#[test]
fn missing_schema_folder_names_it() {
    let server = common::server();
    let (db, url) = server.fresh_db("bad_missing_dir");
    let tmp = tempfile::tempdir().unwrap();
    let o = run(
        tmp.path(),
        &[
            "plan",
            "--db",
            &url,
            "--schema",
            "no/such/dir",
            "--out",
            "p",
        ],
    );
    let t = text(&o);
    assert_eq!(code(&o), 1, "{t}");
    assert!(
        t.contains("no/such/dir: schema directory does not exist"),
        "{t}"
    );
    server.drop_db(&db);
}

#[test]
fn non_utf8_file_points_at_the_bad_byte() {
    let t = plan_fails(
        "bad_latin1",
        "",
        &[(
            "t.sql",
            b"CREATE TABLE public.t (\n  -- caf\xe9\n  id int\n);\n",
        )],
    );
    assert!(
        t.contains("schema/t.sql:2:9: file is not valid UTF-8"),
        "{t}"
    );
}

#[test]
fn non_schema_statement_is_rejected_with_its_place() {
    let t = plan_fails(
        "bad_update",
        "CREATE TABLE public.t (id int);",
        &[(
            "t.sql",
            b"CREATE TABLE public.t (id int);\nUPDATE public.t SET id = 1;\n",
        )],
    );
    assert!(
        t.contains("schema/t.sql:2:1: UPDATE does not belong in a schema file"),
        "{t}"
    );
}

#[test]
fn several_broken_files_are_all_reported() {
    let t = plan_fails(
        "bad_many",
        "",
        &[
            ("a.sql", b"CREATE TABLE public.a (id int,,);\n"),
            (
                "b.sql",
                b"CREATE TABLE public.b (id int);\nTRUNCATE public.b;\n",
            ),
        ],
    );
    assert!(t.contains("schema/a.sql:1:"), "{t}");
    assert!(t.contains("schema/b.sql:2:1: TRUNCATE"), "{t}");
    assert!(t.contains("2 errors"), "{t}");
}

/// A file the user running schemaplan cannot read. chmod 000 does not stop root, so as root
/// the binary runs as `nobody` (whom the file mode does stop).
#[test]
fn unreadable_file_names_it_and_the_reason() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    let tmp = workdir(&[
        ("a.sql", b"CREATE TABLE public.a (id int);\n"),
        ("secret.sql", b"CREATE TABLE public.b (id int);\n"),
    ]);
    let dir = tmp.path();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(dir.join("schema"), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(
        dir.join("schema/a.sql"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    std::fs::set_permissions(
        dir.join("schema/secret.sql"),
        std::fs::Permissions::from_mode(0o000),
    )
    .unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_schemaplan"));
    cmd.args(["plan", "--out", "p"])
        .current_dir(dir)
        .env_remove("DATABASE_URL")
        .stdin(Stdio::null());
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        let nobody = schemaplan::shadow::cluster::RunAs::for_current_process()
            .unwrap()
            .expect("root runs as nobody");
        eprintln!("running as root: the binary runs as nobody so the file mode applies");
        cmd.uid(nobody.uid).gid(nobody.gid);
        // nobody must be able to run the binary: it lives in the build tree.
        let exe = Path::new(env!("CARGO_BIN_EXE_schemaplan"));
        if std::fs::metadata(exe).unwrap().permissions().mode() & 0o001 == 0 {
            eprintln!("skipped: the test binary is not executable by nobody");
            return;
        }
    }
    let o = cmd.output().expect("run schemaplan");
    let t = text(&o);
    assert_eq!(code(&o), 1, "{t}");
    assert!(
        t.contains("schema/secret.sql: cannot read: Permission denied"),
        "{t}"
    );
    assert!(!dir.join("p").exists());
}

#[test]
fn malformed_url_is_named_without_its_password() {
    let tmp = workdir(&[("a.sql", b"CREATE TABLE public.a (id int);\n")]);
    for (url, want) in [
        (
            "postgresql://bob:Secr3tPw@127.0.0.1:notaport/db",
            "invalid connection string postgresql://bob:***@127.0.0.1:notaport/db",
        ),
        (
            "postgresql://bob:Secr3tPw@127.0.0.1/db?frobnicate=1",
            "unknown option `frobnicate`",
        ),
        (
            "host=127.0.0.1 password=Secr3tPw sslmode=sometimes",
            "invalid sslmode \"sometimes\"",
        ),
    ] {
        let o = run(tmp.path(), &["drift", "--db", url, "--dev-url", url]);
        let t = text(&o);
        assert_eq!(code(&o), 1, "{url}: {t}");
        assert!(t.contains(want), "{url}: {t}");
        assert!(!t.contains("Secr3tPw"), "{url}: {t}");
    }
}

#[test]
fn unreachable_server_names_the_address() {
    let tmp = workdir(&[("a.sql", b"CREATE TABLE public.a (id int);\n")]);
    let port = schemaplan::shadow::cluster::free_port().unwrap();
    let url = format!("postgresql://bob:Secr3tPw@127.0.0.1:{port}/app");
    let o = run(tmp.path(), &["status", "--db", &url]);
    let t = text(&o);
    assert_eq!(code(&o), 1, "{t}");
    assert!(
        t.contains(&format!(
            "cannot connect to postgresql://bob:***@127.0.0.1:{port}/app"
        )),
        "{t}"
    );
    assert!(t.contains("Connection refused"), "{t}");
    assert!(!t.contains("Secr3tPw"), "{t}");
}

#[test]
fn refused_authentication_says_so_without_the_password() {
    let s = secure_server();
    let db = s.fresh_db("bad_auth", "alice");
    let tmp = workdir(&[("a.sql", b"CREATE TABLE public.a (id int);\n")]);
    let wrong = "Wr0ng-Pa55word";
    let url = s.url("alice", Some(wrong), "127.0.0.1", &db, "sslmode=require");
    let dev = s.url("postgres", None, "127.0.0.1", "postgres", "sslmode=require");
    for args in [
        vec!["drift", "--db", &url, "--dev-url", &dev],
        vec!["plan", "--db", &url, "--dev-url", &dev, "--out", "plans/p"],
        vec!["status", "--db", &url],
    ] {
        let o = run(tmp.path(), &args);
        let t = text(&o);
        assert_eq!(code(&o), 1, "{args:?}: {t}");
        assert!(
            t.contains("password authentication failed for user \"alice\""),
            "{args:?}: {t}"
        );
        assert!(t.contains("alice:***@127.0.0.1"), "{args:?}: {t}");
        assert!(
            !t.contains(wrong) && !t.contains(ALICE_PASSWORD),
            "{args:?}: {t}"
        );
    }
    assert!(!tmp.path().join("plans/p").exists());
    // The right password works (so the refusal was about the password).
    let url = s.url(
        "alice",
        Some(ALICE_PASSWORD),
        "127.0.0.1",
        &db,
        "sslmode=require",
    );
    let o = run(tmp.path(), &["drift", "--db", &url, "--dev-url", &dev]);
    assert_eq!(code(&o), 2, "{}", text(&o));
}

/// The server stops while `apply` waits for a lock: exit 1, a message that says the connection
/// was lost, and after a restart the database is as it was (the step's transaction rolled
/// back), with the run recorded as not finished.
#[test]
fn server_that_disappears_during_apply() {
    use schemaplan::shadow::cluster::{self, Cluster, StartOptions};
    let bindir = cluster::find_bindir(None).unwrap();
    let port = cluster::free_port().unwrap();
    let mut c = Cluster::init_temp(&bindir, port).unwrap();
    let start = StartOptions {
        detach: false,
        die_with_parent: true,
    };
    c.start(start).unwrap();
    let admin = c.admin_url();
    schemaplan::db::connect(&admin)
        .unwrap()
        .batch_execute("CREATE DATABASE app")
        .unwrap();
    let url = c.url("app");
    let mut client = schemaplan::db::connect(&url).unwrap();
    client
        .batch_execute("CREATE TABLE public.t (id int); INSERT INTO public.t VALUES (1), (2)")
        .unwrap();
    let tmp = workdir(&[("t.sql", b"CREATE TABLE public.t (id int, note text);\n")]);
    let o = run(
        tmp.path(),
        &[
            "plan",
            "--db",
            &url,
            "--dev-url",
            &admin,
            "--out",
            "plans/p",
            "--lock-timeout-ms",
            "600000",
        ],
    );
    assert_eq!(code(&o), 0, "{}", text(&o));
    let was = contents(&url);
    // Hold a lock the step needs (EXCLUSIVE lets the catalog reads through, not ADD COLUMN),
    // start apply, wait until its step waits, stop the server.
    let mut blocker = schemaplan::db::connect(&url).unwrap();
    blocker
        .batch_execute("BEGIN; LOCK TABLE public.t IN EXCLUSIVE MODE")
        .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_schemaplan"))
        .args(["apply", "--db", &url, "plans/p"])
        .current_dir(tmp.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    loop {
        let waiting: i64 = client
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = 'app' \
                 AND wait_event_type = 'Lock' AND query ILIKE '%ALTER TABLE%'",
                &[],
            )
            .unwrap()
            .get(0);
        if waiting > 0 {
            break;
        }
        if child.try_wait().unwrap().is_some() {
            let o = child.wait_with_output().unwrap();
            panic!("apply ended before its step waited: {}", text(&o));
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    c.stop().unwrap();
    let o = child.wait_with_output().unwrap();
    let t = text(&o);
    assert_eq!(code(&o), 1, "{t}");
    assert!(!t.contains("panicked"), "{t}");
    assert!(
        t.contains("terminating connection due to administrator command")
            || t.contains("connection closed")
            || t.contains("connection lost"),
        "says the connection went away: {t}"
    );
    c.start(start).unwrap();
    // The schema is as it was (the step's transaction died with the server); the only new
    // thing is the bookkeeping (schema `schemaplan`), which holds the run.
    assert_eq!(
        contents(&url),
        was.replace("bookkeeping=none", "bookkeeping=runs:1"),
        "the step was rolled back: {t}"
    );
    assert!(was.contains("public.t:r(id)"), "{was}");
    let o = run(tmp.path(), &["status", "--db", &url]);
    let status = text(&o);
    assert_eq!(code(&o), 0, "{status}");
    eprintln!("status after the restart:\n{status}");
    assert!(
        !status.contains("applied"),
        "the run is not shown as applied: {status}"
    );
}
