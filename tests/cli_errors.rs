//! The command line's contract for bad input and exit codes, through the real binary:
//! schema-file errors point at `file:line:col` and show the line, statements that do not belong
//! in a schema file are rejected, a password in a connection URL is never printed, and the exit
//! codes are 0 (success), 1 (error) and 2 (differences: `drift`, `plan --exit-code`).
//! Bad inputs live in `fixtures/errors/<case>/schema/`.

mod common;

use std::path::PathBuf;
use std::process::Output;

fn crate_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn errors_fixture(case: &str) -> PathBuf {
    crate_root()
        .join("fixtures/errors")
        .join(case)
        .join("schema")
}

use common::schemaplan as run;

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

#[test]
fn syntax_error_points_at_file_line_and_column() {
    let tmp = tempfile::tempdir().unwrap();
    let schema = errors_fixture("syntax_error");
    let out = tmp.path().join("plan");
    let o = run(
        tmp.path(),
        &[
            "plan",
            "--schema",
            schema.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
    );
    let t = text(&o);
    assert_eq!(code(&o), 1, "{t}");
    assert!(
        t.contains("tables.sql:6:15: syntax error at or near \",\""),
        "file:line:col in: {t}"
    );
    assert!(
        t.contains("6 |     name text,,"),
        "offending line shown: {t}"
    );
    assert!(!out.exists(), "no plan is written for a broken schema");
}

#[test]
fn insert_in_a_schema_file_is_rejected() {
    let tmp = tempfile::tempdir().unwrap();
    let schema = errors_fixture("insert_rejected");
    let o = run(
        tmp.path(),
        &["plan", "--schema", schema.to_str().unwrap(), "--out", "p"],
    );
    let t = text(&o);
    assert_eq!(code(&o), 1, "{t}");
    assert!(
        t.contains("data.sql:3:1: INSERT does not belong in a schema file"),
        "{t}"
    );
    assert!(!tmp.path().join("p").exists());
}

/// An imperative `DROP` is accepted (it runs in written order in the shadow), so a `DROP` of an
/// object no statement creates is PostgreSQL's error, at the statement's `file:line:col`.
#[test]
fn drop_of_an_object_no_file_creates_fails_at_its_line() {
    let server = common::server();
    let (_, url) = server.fresh_db("cli_drop_uncreated");
    let tmp = tempfile::tempdir().unwrap();
    let schema = errors_fixture("drop_of_uncreated_object");
    let dev = server.url("postgres");
    let o = run(
        tmp.path(),
        &[
            "plan",
            "--db",
            &url,
            "--dev-url",
            &dev,
            "--schema",
            schema.to_str().unwrap(),
            "--out",
            "p",
        ],
    );
    let t = text(&o);
    assert_eq!(code(&o), 1, "{t}");
    assert!(t.contains("tables.sql:2:1"), "{t}");
    assert!(t.contains("does not exist"), "{t}");
    assert!(!tmp.path().join("p").exists());
}

#[test]
fn missing_schema_directory_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let o = run(
        tmp.path(),
        &["plan", "--schema", "no-such-dir", "--out", "p"],
    );
    let t = text(&o);
    assert_eq!(code(&o), 1, "{t}");
    assert!(t.contains("no-such-dir"), "names the directory: {t}");
}

#[test]
fn unknown_hazard_name_lists_the_known_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let o = run(
        tmp.path(),
        &[
            "apply",
            "--db",
            "postgresql://nobody@127.0.0.1:1/x",
            "p",
            "--allow-hazards",
            "data-loss,typo",
        ],
    );
    let t = text(&o);
    assert_eq!(code(&o), 1, "{t}");
    assert!(t.contains("\"typo\""), "{t}");
    assert!(t.contains("data-loss") && t.contains("index-build"), "{t}");
}

#[test]
fn password_is_not_printed_when_the_server_is_unreachable() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("schema")).unwrap();
    std::fs::write(
        tmp.path().join("schema/a.sql"),
        "CREATE TABLE public.a (id integer);\n",
    )
    .unwrap();
    let url = "postgresql://bob:Hunter2Secret@127.0.0.1:1/appdb";
    for args in [
        vec!["apply", "--db", url, "plans/x", "--phase", "all"],
        vec!["drift", "--db", url, "--dev-url", url],
        vec!["plan", "--db", url, "--dev-url", url, "--out", "p"],
        vec!["status", "--db", url],
        vec!["dump", "--db", url, "--out", "d"],
    ] {
        let o = run(tmp.path(), &args);
        let t = text(&o);
        assert_eq!(code(&o), 1, "{args:?}: {t}");
        assert!(
            !t.contains("Hunter2Secret"),
            "{args:?} printed the password: {t}"
        );
    }
}

/// `dump --out` into a folder that holds a file is refused before the database is even
/// connected to: on a big schema the read takes seconds, and the folder was said to be wrong
/// only after it (the server here does not exist, so a later check would report the
/// connection instead). Nothing is written into the folder.
#[test]
fn dump_refuses_a_non_empty_folder_before_reading_the_database() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(tmp.path().join("d")).unwrap();
    std::fs::write(tmp.path().join("d/notes.txt"), "mine\n").unwrap();
    let o = run(
        tmp.path(),
        &[
            "dump",
            "--db",
            "postgresql://nobody@127.0.0.1:1/x",
            "--out",
            "d",
        ],
    );
    let t = text(&o);
    assert_eq!(code(&o), 1, "{t}");
    assert!(t.contains("directory is not empty"), "{t}");
    assert!(
        !t.contains("127.0.0.1"),
        "reported the connection, not the folder: {t}"
    );
    let left: Vec<_> = std::fs::read_dir(tmp.path().join("d")).unwrap().collect();
    assert_eq!(left.len(), 1, "{t}");
}

/// The whole workflow against the test server with a password in every URL (the temporary
/// server trusts local connections, so any password is accepted): nothing prints it, and the
/// exit codes are the documented ones.
#[test]
fn workflow_exit_codes_and_no_password_in_output() {
    if std::env::var_os("SCHEMAPLAN_TEST_URL").is_some() {
        eprintln!("skipped: needs the temporary test server (trust authentication)");
        return;
    }
    let server = common::server();
    let (db, _) = server.fresh_db("cli_exit_codes");
    let secret = "Pa55wordNeverShown";
    let url = format!(
        "postgresql://postgres:{secret}@127.0.0.1:{}/{db}",
        server.port()
    );
    let dev = format!(
        "postgresql://postgres:{secret}@127.0.0.1:{}/postgres",
        server.port()
    );
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    std::fs::create_dir(cwd.join("schema")).unwrap();
    std::fs::write(
        cwd.join("schema/users.sql"),
        "CREATE TABLE public.users (id bigint PRIMARY KEY, email text NOT NULL);\n\
         CREATE INDEX users_email_idx ON public.users (email);\n",
    )
    .unwrap();
    let mut transcript = String::new();
    let mut step = |args: &[&str], want: i32| {
        let o = run(cwd, args);
        let t = text(&o);
        // The command line itself holds the password: log only the subcommand with the output.
        transcript.push_str(&format!("$ schemaplan {} ...\n{t}\n", args[0]));
        assert_eq!(code(&o), want, "schemaplan {args:?}:\n{t}");
        t
    };
    // An empty database drifts from schema/.
    let t = step(&["drift", "--db", &url, "--dev-url", &dev], 2);
    assert!(t.contains("users"), "{t}");
    step(
        &["drift", "--db", &url, "--dev-url", &dev, "--format", "json"],
        2,
    );
    // plan --exit-code: 2 when there are steps (the plan is still written).
    step(
        &[
            "plan",
            "--db",
            &url,
            "--dev-url",
            &dev,
            "--out",
            "plans/p1",
            "--exit-code",
        ],
        2,
    );
    assert!(cwd.join("plans/p1/plan.sql").is_file());
    assert!(cwd.join("plans/p1/inverse.sql").is_file());
    assert!(cwd.join("plans/p1/plan.json").is_file());
    step(&["status", "--db", &url], 0);
    step(&["apply", "--db", &url, "plans/p1", "--dry-run"], 0);
    step(&["apply", "--db", &url, "plans/p1"], 0);
    // Applying again is a no-op, not an error.
    step(&["apply", "--db", &url, "plans/p1"], 0);
    step(&["drift", "--db", &url, "--dev-url", &dev], 0);
    step(&["plan", "--db", &url, "--dev-url", &dev, "--exit-code"], 0);
    let t = step(&["status", "--db", &url], 0);
    assert!(t.contains("p1"), "{t}");
    step(
        &["dump", "--db", &url, "--dev-url", &dev, "--out", "dumped"],
        0,
    );
    // Dropping a column is data loss: refused unless allowed, with the flag to pass.
    std::fs::write(
        cwd.join("schema/users.sql"),
        "CREATE TABLE public.users (id bigint PRIMARY KEY);\n",
    )
    .unwrap();
    step(
        &["plan", "--db", &url, "--dev-url", &dev, "--out", "plans/p2"],
        0,
    );
    // The drop waits for the contract phase (after the new application is deployed): expand
    // only drops the column's NOT NULL, and says what to run next.
    let t = step(&["apply", "--db", &url, "plans/p2"], 0);
    assert!(t.contains("--phase contract"), "{t}");
    let t = step(
        &["apply", "--db", &url, "plans/p2", "--phase", "contract"],
        1,
    );
    assert!(t.contains("data-loss"), "{t}");
    // The hint names the exact flag to pass; passing it works.
    let allowed = t
        .lines()
        .find_map(|l| l.split("--allow-hazards ").nth(1))
        .unwrap_or_else(|| panic!("no --allow-hazards hint in: {t}"))
        .trim()
        .to_string();
    step(
        &[
            "apply",
            "--db",
            &url,
            "plans/p2",
            "--phase",
            "contract",
            "--allow-hazards",
            &allowed,
        ],
        0,
    );
    step(&["drift", "--db", &url, "--dev-url", &dev], 0);
    // The inverse brings the column back (empty: no data to lose).
    step(
        &[
            "rollback",
            "--db",
            &url,
            "plans/p2",
            "--allow-hazards",
            "all",
        ],
        0,
    );
    step(&["drift", "--db", &url, "--dev-url", &dev], 2);
    assert!(
        !transcript.contains(secret),
        "the password was printed:\n{transcript}"
    );
    server.drop_db(&db);
}

/// A new NOT NULL column without a default or `@backfill`, on a table with rows: `plan` stops
/// before planning, naming the column, its file:line:col and the fix; with `-- @backfill` added
/// it plans the batched backfill.
#[test]
fn new_not_null_column_without_value_is_refused_with_the_fix() {
    let server = common::server();
    let (db, url) = server.fresh_db("cli_unfillable");
    let mut c = server.connect(&db);
    c.batch_execute(
        "CREATE TABLE public.users (id bigint PRIMARY KEY, email text NOT NULL);
         INSERT INTO public.users VALUES (1, 'a@example.com');",
    )
    .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let fixture = errors_fixture("not_null_column_without_value");
    let dev = server.admin_url();
    let plan = |schema: &std::path::Path, out: &str| {
        run(
            tmp.path(),
            &[
                "plan",
                "--schema",
                schema.to_str().unwrap(),
                "--db",
                &url,
                "--dev-url",
                &dev,
                "--out",
                out,
            ],
        )
    };
    let o = plan(&fixture, "p1");
    let t = text(&o);
    assert_eq!(code(&o), 1, "{t}");
    assert!(
        t.contains(
            "users.sql:6:5: new column public.users.score is NOT NULL without a default, \
             and public.users has rows"
        ),
        "{t}"
    );
    assert!(t.contains("fix: add `-- @backfill <expression>`"), "{t}");
    assert!(!tmp.path().join("p1").exists());

    let fixed = tmp.path().join("schema");
    std::fs::create_dir(&fixed).unwrap();
    let source = std::fs::read_to_string(fixture.join("users.sql")).unwrap();
    std::fs::write(
        fixed.join("users.sql"),
        source.replace(
            "    score integer NOT NULL",
            "    -- @backfill length(email)\n    score integer NOT NULL",
        ),
    )
    .unwrap();
    let o = plan(&fixed, "p2");
    assert_eq!(code(&o), 0, "{}", text(&o));
    let sql = std::fs::read_to_string(tmp.path().join("p2/plan.sql")).unwrap();
    assert!(
        sql.contains("transaction: batched | lock: ROW EXCLUSIVE on public.users")
            && sql.contains("UPDATE public.users SET score = length(email) WHERE score IS NULL;"),
        "{sql}"
    );
    drop(c);
    server.drop_db(&db);
}

/// A column type change PostgreSQL has no cast for (`bigint` -> `timestamptz`), on a table with
/// rows: `plan` stops before planning, naming the column, its file:line:col and the fix; with
/// `-- @using <expression>` added it plans `ALTER COLUMN ... TYPE ... USING (<expression>)`,
/// and the plan converts the rows.
#[test]
fn type_change_without_cast_on_rows_is_refused_with_the_fix() {
    let server = common::server();
    let (db, url) = server.fresh_db("cli_no_cast");
    let mut c = server.connect(&db);
    c.batch_execute(
        "CREATE TABLE public.events (id bigint PRIMARY KEY, happened bigint NOT NULL);
         INSERT INTO public.events VALUES (1, 86400);",
    )
    .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let fixture = errors_fixture("type_change_without_cast");
    let dev = server.admin_url();
    let plan = |schema: &std::path::Path, out: &str| {
        run(
            tmp.path(),
            &[
                "plan",
                "--schema",
                schema.to_str().unwrap(),
                "--db",
                &url,
                "--dev-url",
                &dev,
                "--out",
                out,
            ],
        )
    };
    let o = plan(&fixture, "p1");
    let t = text(&o);
    assert_eq!(code(&o), 1, "{t}");
    assert!(
        t.contains(
            "events.sql:5:5: column public.events.happened changes type from bigint to \
             timestamp with time zone, and PostgreSQL has no cast"
        ),
        "{t}"
    );
    assert!(t.contains("fix: add `-- @using <expression>`"), "{t}");
    assert!(!tmp.path().join("p1").exists());

    let fixed = tmp.path().join("schema");
    std::fs::create_dir(&fixed).unwrap();
    let source = std::fs::read_to_string(fixture.join("events.sql")).unwrap();
    std::fs::write(
        fixed.join("events.sql"),
        source.replace(
            "    happened timestamp",
            "    -- @using to_timestamp(happened)\n    happened timestamp",
        ),
    )
    .unwrap();
    let o = plan(&fixed, "p2");
    assert_eq!(code(&o), 0, "{}", text(&o));
    let sql = std::fs::read_to_string(tmp.path().join("p2/plan.sql")).unwrap();
    assert!(
        sql.contains(
            "ALTER COLUMN happened TYPE timestamp with time zone USING (to_timestamp(happened))"
        ),
        "{sql}"
    );
    let o = run(
        tmp.path(),
        &["apply", "--db", &url, "p2", "--allow-hazards", "all"],
    );
    assert_eq!(code(&o), 0, "{}", text(&o));
    let row = c
        .query_one(
            "SELECT happened = timestamptz '1970-01-02 00:00:00+00' FROM public.events",
            &[],
        )
        .unwrap();
    assert!(row.get::<_, bool>(0));
    drop(c);
    server.drop_db(&db);
}

#[test]
fn usage_errors_exit_1_not_the_differences_code() {
    let tmp = tempfile::tempdir().unwrap();
    for args in [
        &["plan", "--no-such-option"][..],
        &["drift", "--db"][..],
        &["plan", "--lock-timeout-ms", "0"][..],
        &["no-such-command"][..],
    ] {
        let o = run(tmp.path(), args);
        assert_eq!(code(&o), 1, "{args:?}: {}", text(&o));
    }
    let o = run(tmp.path(), &["--help"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
}

/// Arguments that ask for JSON output get their usage error as the one JSON error object on
/// stderr (kind `usage`, clap's message), exit 1; without them, and when the value of
/// `--format` itself is what is wrong, it stays clap's text.
#[test]
fn usage_errors_under_format_json_are_one_json_error_object() {
    let tmp = tempfile::tempdir().unwrap();
    for (args, says) in [
        (&["drift", "--format", "json", "--bogus"][..], "--bogus"),
        (&["drift", "--format=json"][..], "--db"),
        (&["status", "--format", "json"][..], "--db"),
        (
            &[
                "apply",
                "--db",
                "postgres://x@127.0.0.1:1/x",
                "--format",
                "json",
            ][..],
            "PLAN_DIR",
        ),
        (
            &[
                "apply",
                "p",
                "--db",
                "postgres://x@127.0.0.1:1/x",
                "--format",
                "json",
                "--lock-retries",
                "many",
            ][..],
            "many",
        ),
        (&["lint", "--format", "json"][..], "PLAN_DIR"),
    ] {
        let o = run(tmp.path(), args);
        assert_eq!(code(&o), 1, "{args:?}: {}", text(&o));
        assert!(o.stdout.is_empty(), "{args:?}: {}", text(&o));
        let stderr = String::from_utf8_lossy(&o.stderr);
        let v = common::schemas::parse_valid("error", &stderr);
        assert_eq!(v["error"]["kind"], "usage", "{args:?}: {v}");
        let message = v["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{args:?}: {v}");
        assert!(!message.starts_with("error:"), "{args:?}: {v}");
        assert!(!message.contains('\u{1b}'), "never coloured: {v}");
    }
    // Text as before: no JSON asked for, or the --format value is the error.
    for args in [
        &["drift", "--bogus"][..],
        &["drift", "--format", "yaml"][..],
        &["drift", "--format", "json", "--format", "yaml"][..],
        &["drift", "--bogus", "--", "--format", "json"][..],
    ] {
        let o = run(tmp.path(), args);
        assert_eq!(code(&o), 1, "{args:?}: {}", text(&o));
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(stderr.starts_with("error: "), "{args:?}: {stderr}");
        assert!(
            serde_json::from_str::<serde_json::Value>(stderr.trim()).is_err(),
            "{args:?}: {stderr}"
        );
    }
}

/// `drift` in a CI job whose DATABASE_URL did not reach the step: a usage error (exit 1, not
/// the drift code 2) that names the variable, in text and in JSON.
#[test]
fn missing_database_url_is_named_in_the_usage_error() {
    let tmp = tempfile::tempdir().unwrap();
    let o = run(tmp.path(), &["drift"]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("--db"), "{stderr}");
    assert!(
        stderr.contains("note: --db can also be given as $DATABASE_URL, which is not set"),
        "{stderr}"
    );
    let o = run(tmp.path(), &["drift", "--format", "json"]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    let v = common::schemas::parse_valid("error", &String::from_utf8_lossy(&o.stderr));
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("$DATABASE_URL, which is not set"),
        "{v}"
    );
}

#[test]
fn plan_name_cannot_leave_the_plans_folder() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("schema")).unwrap();
    std::fs::write(
        tmp.path().join("schema/t.sql"),
        "CREATE TABLE public.t (a int);\n",
    )
    .unwrap();
    for name in ["../../x", "a/b", ".hidden", ""] {
        let o = run(tmp.path(), &["plan", "--name", name]);
        let t = text(&o);
        assert_eq!(code(&o), 1, "{name:?}: {t}");
        assert!(t.contains("is not a plan name"), "{name:?}: {t}");
    }
    assert!(!tmp.path().join("plans").exists());
    assert!(!tmp.path().parent().unwrap().join("x").exists());
}

#[test]
fn plan_check_writes_nothing_and_exits_2_when_there_are_steps() {
    let server = common::server();
    let (db, url) = server.fresh_db("cli_plan_check");
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("schema")).unwrap();
    std::fs::write(
        tmp.path().join("schema/t.sql"),
        "CREATE TABLE public.t (a int);\n",
    )
    .unwrap();
    let dev = server.admin_url();
    let o = run(
        tmp.path(),
        &["plan", "--check", "--db", &url, "--dev-url", &dev],
    );
    assert_eq!(code(&o), 2, "{}", text(&o));
    assert!(text(&o).contains("create table public.t"), "{}", text(&o));
    assert!(!tmp.path().join("plans").exists(), "--check wrote a plan");
    server
        .connect(&db)
        .batch_execute("CREATE TABLE public.t (a int)")
        .unwrap();
    let o = run(
        tmp.path(),
        &["plan", "--check", "--db", &url, "--dev-url", &dev],
    );
    assert_eq!(code(&o), 0, "{}", text(&o));
    server.drop_db(&db);
}

/// `@backfill` and `@using` expressions are pasted into the plan's SQL: text that would end the
/// expression and add SQL of its own (a second assignment that overwrites another column in
/// every row, a comment that removes the `WHERE`, query clauses, a `)` closing the wrapper) is
/// refused by the loader at the comment's file:line:col, before anything is planned.
#[test]
fn annotation_expressions_that_escape_the_expression_are_refused() {
    let cases: [(&str, &str, &str); 9] = [
        (
            "-- @backfill 0, a = 42",
            "t.sql:4:21: @backfill takes exactly one expression: `0, a = 42` is 2 expressions",
            "overwrites a",
        ),
        (
            "-- @backfill 0 -- note",
            "t.sql:4:20: @backfill takes exactly one expression: `-- note` is a comment",
            "comments out the WHERE",
        ),
        (
            "/* @backfill 0 /* note */ */",
            "@backfill takes exactly one expression: `/* note */` is a comment",
            "C comment",
        ),
        (
            "-- @backfill 0 FROM x",
            "t.sql:4:18: @backfill takes exactly one expression: `0 FROM x` has a FROM clause",
            "FROM",
        ),
        (
            "-- @backfill 0) , a = (42",
            "t.sql:4:19: @backfill takes exactly one expression: this `)` closes a parenthesis",
            "closes the wrapper",
        ),
        (
            "-- @backfill 0; UPDATE t SET a = 42",
            "t.sql:4:19: @backfill takes exactly one expression: `;` ends the statement",
            "semicolon",
        ),
        (
            "-- @backfill count(*)",
            "`count(*)` uses an aggregate",
            "aggregate",
        ),
        (
            "-- @backfill row_number() OVER ()",
            "uses a window function",
            "window",
        ),
        (
            "-- @using a::text, a = 42",
            "t.sql:4:24: @using takes exactly one expression: `a::text, a = 42` is 2 expressions",
            "using",
        ),
    ];
    for (annotation, want, what) in cases {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir(tmp.path().join("schema")).unwrap();
        std::fs::write(
            tmp.path().join("schema/t.sql"),
            format!("CREATE TABLE public.t (\n    id bigint PRIMARY KEY,\n    a integer,\n    {annotation}\n    b integer NOT NULL\n);\n"),
        )
        .unwrap();
        let o = run(tmp.path(), &["plan", "--out", "p"]);
        let t = text(&o);
        assert_eq!(code(&o), 1, "{what}: {t}");
        assert!(t.contains(want), "{what}: want `{want}` in:\n{t}");
        assert!(!tmp.path().join("p").exists(), "{what}: a plan was written");
    }
}

/// A connection string in a form schemaplan does not take (another scheme, capitals, `jdbc:`,
/// no scheme) is refused naming the forms it takes, and neither it nor a valid-looking one
/// prints its password, through every command, as `--db` and as `--dev-url`.
#[test]
fn password_in_a_url_of_another_form_is_never_printed() {
    let server = common::server();
    let dev = server.admin_url();
    // The bundled example's committed plan (its folder is named by when it was made).
    let plan_dir = std::fs::read_dir(crate_root().join("plans"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with("_initial"))
        .expect("the bundled example's plans/*_initial");
    let plan_dir = plan_dir.to_str().unwrap();
    let plans = crate_root().join("plans").to_str().unwrap().to_string();
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("schema")).unwrap();
    std::fs::write(
        tmp.path().join("schema/a.sql"),
        "CREATE TABLE public.a (id integer);\n",
    )
    .unwrap();
    let forms = [
        (
            "jdbc:postgresql://bob:Hunter2Secret@127.0.0.1:1/appdb",
            true,
        ),
        ("POSTGRESQL://bob:Hunter2Secret@127.0.0.1:1/appdb", true),
        ("postgress://bob:Hunter2Secret@127.0.0.1:1/appdb", true),
        ("bob:Hunter2Secret@127.0.0.1:1/appdb", true),
        (
            "jdbc:postgresql://127.0.0.1:1/appdb?user=bob&password=Hunter2Secret",
            true,
        ),
        (
            "postgresql://bob@127.0.0.1:1/appdb?PASSWORD=Hunter2Secret",
            false,
        ),
        (
            "host=127.0.0.1 port=1 user=bob PassWord=Hunter2Secret",
            false,
        ),
    ];
    for (url, refused_form) in forms {
        for args in [
            vec!["plan", "--db", url, "--dev-url", &dev, "--out", "p"],
            vec!["plan", "--dev-url", url, "--out", "p"],
            vec!["drift", "--db", url, "--dev-url", &dev],
            vec!["drift", "--db", &dev, "--dev-url", url],
            vec!["dump", "--db", url, "--dev-url", &dev, "--out", "d"],
            vec!["status", "--db", url, "--plans", &plans],
            vec!["apply", "--db", url, plan_dir],
            vec!["rollback", "--db", url, plan_dir],
        ] {
            let o = run(tmp.path(), &args);
            let t = text(&o);
            assert_eq!(code(&o), 1, "{args:?}: {t}");
            assert!(
                !t.contains("Hunter2Secret"),
                "{args:?} printed the password: {t}"
            );
            if refused_form {
                assert!(
                    t.contains("schemaplan takes `postgres://` or `postgresql://` URLs"),
                    "{args:?}: the accepted forms are named: {t}"
                );
            }
        }
    }
}

#[test]
fn json_format_errors_are_one_json_object_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    for cmd in ["plan", "drift"] {
        let o = run(
            dir.path(),
            &[
                cmd,
                "--db",
                "postgres://nobody:secret@127.0.0.1:1/x",
                "--schema",
                "missing",
                "--format",
                "json",
            ],
        );
        assert_eq!(code(&o), 1, "{}", text(&o));
        assert!(o.stdout.is_empty(), "no result on stdout: {}", text(&o));
        let stderr = String::from_utf8_lossy(&o.stderr);
        let v = common::schemas::parse_valid("error", &stderr);
        let message = v["error"]["message"].as_str().unwrap();
        assert!(message.contains("missing"), "{v}");
        assert_eq!(v["error"]["exit_code"], 1);
        assert!(!stderr.contains("secret"), "{stderr}");
    }
    // Every other command with --format json: the same one object; nothing on stdout but, for
    // apply and rollback, the closing `run_finished` event saying `failed`.
    let bad = "postgres://nobody:secret@127.0.0.1:1/x";
    for args in [
        &["status", "--db", bad, "--format", "json"][..],
        &["dump", "--db", bad, "--out", "d", "--format", "json"][..],
        &["apply", "--db", bad, "missing", "--format", "json"][..],
        &["rollback", "--db", bad, "missing", "--format", "json"][..],
    ] {
        let o = run(dir.path(), args);
        assert_eq!(code(&o), 1, "{args:?}: {}", text(&o));
        if ["apply", "rollback"].contains(&args[0]) {
            let events = common::schemas::parse_valid_lines(
                "apply-event",
                &String::from_utf8_lossy(&o.stdout),
            );
            assert_eq!(events.len(), 1, "{args:?}: {}", text(&o));
            assert_eq!(events[0]["outcome"], "failed");
        } else {
            assert!(o.stdout.is_empty(), "{args:?}: {}", text(&o));
        }
        let stderr = String::from_utf8_lossy(&o.stderr);
        common::schemas::parse_valid("error", &stderr);
        assert!(!stderr.contains("secret"), "{stderr}");
    }
}

#[test]
fn completions_and_man_page_cover_every_command() {
    let dir = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish"] {
        let o = run(dir.path(), &["completions", shell]);
        assert_eq!(code(&o), 0, "{}", text(&o));
        let script = String::from_utf8_lossy(&o.stdout);
        for word in [
            "plan", "apply", "rollback", "drift", "status", "dump", "lint", "init",
        ] {
            assert!(script.contains(word), "{shell} completions lack {word}");
        }
        assert!(script.contains("allow-hazards"), "{shell}: options too");
    }
    let o = run(dir.path(), &["man"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let page = String::from_utf8_lossy(&o.stdout);
    assert!(
        page.starts_with(".ie") || page.contains(".TH schemaplan 1"),
        "{page}"
    );
    assert!(
        page.contains("schemaplan\\-drift") || page.contains("drift"),
        "{page}"
    );
    let o = run(dir.path(), &["completions", "tcsh"]);
    assert_eq!(
        code(&o),
        1,
        "an unknown shell is a usage error: {}",
        text(&o)
    );
}
