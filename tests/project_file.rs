//! The project file through the binary: found upward, paths relative to it, environments
//! with their databases, and the precedence flag > environment variable > `[env.NAME]` > file >
//! built-in (docs/configuration.md), on a real server.

mod common;

use common::{exit_code, output_text, server};
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// Runs the binary in `cwd` with exactly the environment variables given (connection and
/// project variables of the test process removed).
fn run(cwd: &Path, args: &[&str], vars: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_schemaplan"));
    cmd.args(args).current_dir(cwd).stdin(Stdio::null());
    for v in [
        "DATABASE_URL",
        "SCHEMAPLAN_DEV_URL",
        "SCHEMAPLAN_ENV",
        "SCHEMAPLAN_CONFIG",
    ] {
        cmd.env_remove(v);
    }
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd.output().expect("run schemaplan")
}

fn expect(cwd: &Path, args: &[&str], vars: &[(&str, &str)], want: i32) -> String {
    let o = run(cwd, args, vars);
    let t = output_text(&o);
    assert_eq!(exit_code(&o), want, "schemaplan {args:?} {vars:?}:\n{t}");
    t
}

/// A project: `db/schema/t.sql` declaring table `t`, and `schemaplan.toml` with `toml`.
fn project(toml: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("db/schema")).unwrap();
    std::fs::write(
        dir.path().join("db/schema/t.sql"),
        "CREATE TABLE public.t (id integer PRIMARY KEY, note text);\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("schemaplan.toml"), toml).unwrap();
    dir
}

/// Two databases: `in_sync` has table `t` as declared, `behind` lacks its column `note` (a
/// plan adds it under a lock, with the lock_timeout chosen).
fn two_databases() -> (String, String) {
    let s = server();
    let (a, in_sync) = s.fresh_db("project_in_sync");
    s.connect(&a)
        .batch_execute("CREATE TABLE public.t (id integer PRIMARY KEY, note text)")
        .unwrap();
    let (b, behind) = s.fresh_db("project_behind");
    s.connect(&b)
        .batch_execute("CREATE TABLE public.t (id integer PRIMARY KEY)")
        .unwrap();
    (in_sync, behind)
}

#[test]
fn environment_database_is_used_and_flag_and_variable_come_first() {
    let (in_sync, behind) = two_databases();
    let dir = project(
        "schema = \"db/schema\"\n[env.staging]\nurl = { env = \"STAGING_URL\" }\n\
         [env.prod]\nurl = { env = \"PROD_URL\" }\n",
    );
    let d = dir.path();
    // The environment's database, from the variable it names.
    let t = expect(
        d,
        &["drift", "--env", "staging"],
        &[("STAGING_URL", &in_sync)],
        0,
    );
    assert!(t.contains("In sync"), "{t}");
    expect(d, &["drift", "--env", "prod"], &[("PROD_URL", &behind)], 2);
    // $SCHEMAPLAN_ENV chooses it too.
    expect(
        d,
        &["drift"],
        &[("SCHEMAPLAN_ENV", "prod"), ("PROD_URL", &behind)],
        2,
    );
    // $DATABASE_URL comes before the environment, and a warning says so.
    let t = expect(
        d,
        &["drift", "--env", "prod"],
        &[("PROD_URL", &behind), ("DATABASE_URL", &in_sync)],
        0,
    );
    assert!(
        t.contains("warning: the database is $DATABASE_URL, not [env.prod] url"),
        "{t}"
    );
    // A flag comes before both.
    expect(
        d,
        &["drift", "--env", "staging", "--db", &behind],
        &[("STAGING_URL", &in_sync), ("DATABASE_URL", &in_sync)],
        2,
    );
}

#[test]
fn project_file_is_found_from_a_subfolder_and_its_paths_are_relative_to_it() {
    let (in_sync, _) = two_databases();
    let dir = project("schema = \"db/schema\"\n");
    let sub = dir.path().join("src/deep");
    std::fs::create_dir_all(&sub).unwrap();
    let t = expect(&sub, &["drift", "--db", &in_sync], &[], 0);
    assert!(t.contains("In sync"), "{t}");
    // Without the file, the built-in `schema/` (absent here) is used and that is an error.
    let elsewhere = tempfile::tempdir().unwrap();
    let o = run(elsewhere.path(), &["drift", "--db", &in_sync], &[]);
    assert_eq!(exit_code(&o), 1, "{}", output_text(&o));
    // --config names a file elsewhere; its paths are relative to it.
    let cfg = dir.path().join("schemaplan.toml");
    expect(
        elsewhere.path(),
        &["drift", "--db", &in_sync, "--config", cfg.to_str().unwrap()],
        &[],
        0,
    );
}

/// `lock_timeout` in the written plan's step headers says which value won.
fn planned_lock_timeout(cwd: &Path, extra: &[&str], vars: &[(&str, &str)]) -> String {
    let out = tempfile::tempdir().unwrap();
    let plan_dir = out.path().join("p");
    let mut args = vec!["plan", "--out", plan_dir.to_str().unwrap()];
    args.extend_from_slice(extra);
    expect(cwd, &args, vars, 0);
    let sql = std::fs::read_to_string(plan_dir.join("plan.sql")).unwrap();
    sql.lines()
        .filter(|l| l.starts_with("-- step ") && !l.contains("lock_timeout: none"))
        .find_map(|l| l.split("lock_timeout: ").nth(1))
        .and_then(|v| v.split(' ').next())
        .unwrap_or_else(|| panic!("no step with a lock_timeout in\n{sql}"))
        .to_string()
}

#[test]
fn option_defaults_layer_flag_over_environment_over_file_over_builtin() {
    let (_, behind) = two_databases();
    let file = "schema = \"db/schema\"\n[plan]\nlock_timeout_ms = 1111\n\
                [env.staging]\nurl = { env = \"STAGING_URL\" }\n[env.staging.plan]\nlock_timeout_ms = 2222\n\
                [env.dev]\nurl = { env = \"DEV_URL\" }\n";
    let dir = project(file);
    let d = dir.path();
    let vars = [
        ("STAGING_URL", behind.as_str()),
        ("DEV_URL", behind.as_str()),
    ];
    assert_eq!(planned_lock_timeout(d, &["--env", "dev"], &vars), "1111ms");
    assert_eq!(
        planned_lock_timeout(d, &["--env", "staging"], &vars),
        "2222ms"
    );
    assert_eq!(
        planned_lock_timeout(d, &["--env", "staging", "--lock-timeout-ms", "3333"], &vars),
        "3333ms"
    );
    // Built-in when the file says nothing.
    let bare = project("schema = \"db/schema\"\n");
    assert_eq!(
        planned_lock_timeout(bare.path(), &["--db", &behind], &[]),
        "100ms"
    );
    // A value from the file goes through the flag's own checks.
    let zero = project("schema = \"db/schema\"\n[plan]\nlock_timeout_ms = 0\n");
    let t = expect(zero.path(), &["plan", "--db", &behind, "--check"], &[], 1);
    assert!(t.contains("lock-timeout-ms"), "{t}");
}

#[test]
fn production_environment_demands_phase_and_takes_hazards_only_by_flag() {
    let s = server();
    let (name, url) = s.fresh_db("project_prod");
    s.connect(&name)
        .batch_execute(
            "CREATE TABLE public.t (id integer PRIMARY KEY, note text);\
             CREATE TABLE public.old (id integer);\
             INSERT INTO public.old SELECT generate_series(1, 5);",
        )
        .unwrap();
    let file =
        "schema = \"db/schema\"\n[apply]\nallow_hazards = [\"data-loss\", \"irreversible\"]\n\
                [env.production]\nurl = { env = \"PROD_URL\" }\nrequire_phase = true\n\
                hazards_by_flag_only = true\n[env.staging]\nurl = { env = \"PROD_URL\" }\n";
    let dir = project(file);
    let d = dir.path();
    let vars = [("PROD_URL", url.as_str())];
    let plan_dir = d.join("plans/drop_old");
    expect(
        d,
        &["plan", "--env", "production", "--out", "plans/drop_old"],
        &vars,
        0,
    );
    let p = plan_dir.to_str().unwrap();
    let t = expect(d, &["apply", "--env", "production", p], &vars, 1);
    assert!(t.contains("environment production requires --phase"), "{t}");
    // The file's allow_hazards does not count in production: the drop is refused.
    let t = expect(
        d,
        &["apply", "--env", "production", "--phase", "all", p],
        &vars,
        1,
    );
    assert!(t.contains("data-loss"), "{t}");
    let rows: i64 = s
        .connect(&name)
        .query_one("SELECT count(*) FROM public.old", &[])
        .unwrap()
        .get(0);
    assert_eq!(rows, 5, "nothing ran");
    // With the flag it runs.
    expect(
        d,
        &[
            "apply",
            "--env",
            "production",
            "--phase",
            "all",
            "--allow-hazards",
            "data-loss,irreversible",
            p,
        ],
        &vars,
        0,
    );
    expect(d, &["drift", "--env", "staging"], &vars, 0);
}

#[test]
fn project_file_errors_name_file_line_and_never_print_a_password() {
    let dir = project("[env.prod]\nurl = \"postgres://app:hunter2@db.example/app\"\n");
    let t = expect(dir.path(), &["status", "--env", "prod"], &[], 1);
    assert!(
        t.contains("schemaplan.toml:2:7: a password in the project file"),
        "{t}"
    );
    assert!(!t.contains("hunter2"), "{t}");
    let dir = project("[apply]\nlock_retry = 3\n");
    let t = expect(
        dir.path(),
        &["status", "--db", "postgres://x@localhost/x"],
        &[],
        1,
    );
    assert!(
        t.contains("schemaplan.toml:2:1: unknown field `lock_retry`"),
        "{t}"
    );
    let dir = project("[env.prod]\nurl = { env = \"PROD_URL\" }\n");
    let t = expect(dir.path(), &["plan", "--env", "prod", "--check"], &[], 1);
    assert!(
        t.contains("[env.prod] url is read from $PROD_URL") && t.contains("which is not set"),
        "an environment whose database is unset must not plan against an empty one: {t}"
    );
    let t = expect(dir.path(), &["drift", "--env", "staging"], &[], 1);
    assert!(t.contains("environment \"staging\" is not in"), "{t}");
    assert!(t.contains("known: prod"), "{t}");
    let nowhere = tempfile::tempdir().unwrap();
    let t = expect(nowhere.path(), &["drift", "--env", "prod"], &[], 1);
    assert!(t.contains("no schemaplan.toml"), "{t}");
}

#[test]
fn init_writes_a_starter_project_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let t = expect(dir.path(), &["init"], &[], 0);
    assert!(t.contains("created schemaplan.toml"), "{t}");
    assert!(dir.path().join("schema").is_dir() && dir.path().join("plans").is_dir());
    std::fs::write(dir.path().join("schemaplan.toml"), "# mine\n").unwrap();
    let t = expect(dir.path(), &["init"], &[], 1);
    assert!(t.contains("never overwrites"), "{t}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("schemaplan.toml")).unwrap(),
        "# mine\n"
    );
}

#[test]
fn status_all_envs_shows_each_plan_on_each_environment_and_reports_unreachable_ones() {
    let s = server();
    let mut urls = Vec::new();
    for db in ["project_envs_staging", "project_envs_production"] {
        let (name, url) = s.fresh_db(db);
        s.connect(&name)
            .batch_execute(
                "CREATE TABLE public.t (id integer PRIMARY KEY);\
                 INSERT INTO public.t SELECT generate_series(1, 3);",
            )
            .unwrap();
        urls.push(url);
    }
    // qa's variable is not set; `down` names a port nothing listens on.
    let dir = project(
        "schema = \"db/schema\"\n\
         [env.staging]\nurl = { env = \"STAGING_URL\" }\n\
         [env.production]\nurl = { env = \"PROD_URL\" }\n\
         [env.qa]\nurl = { env = \"QA_URL\" }\n\
         [env.down]\nurl = \"postgres://app@127.0.0.1:1/app\"\n",
    );
    let d = dir.path();
    let vars = [
        ("STAGING_URL", urls[0].as_str()),
        ("PROD_URL", urls[1].as_str()),
    ];
    expect(
        d,
        &["plan", "--env", "staging", "--out", "plans/add_note"],
        &vars,
        0,
    );
    let p = d.join("plans/add_note");
    expect(
        d,
        &["apply", "--env", "staging", p.to_str().unwrap()],
        &vars,
        0,
    );

    let t = expect(d, &["status", "--all-envs"], &vars, 0);
    let row = t
        .lines()
        .find(|l| l.contains("add_note"))
        .unwrap_or_else(|| panic!("no row for the plan:\n{t}"));
    let header = t.lines().find(|l| l.contains("PLAN")).expect("header");
    // Columns in the file's (sorted) order: down, production, qa, staging.
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert!(header.find("DOWN") < header.find("PRODUCTION"), "{t}");
    assert_eq!(cells[1..], ["?", "pending", "?", "applied"], "{t}");
    assert!(t.contains("qa: not read:") && t.contains("$QA_URL"), "{t}");
    assert!(t.contains("down: not read:"), "{t}");

    // The document is the --all-envs shape of the published schema (docs/schemas/status.json),
    // on stdout alone.
    let o = run(d, &["status", "--all-envs", "--format", "json"], &vars);
    assert_eq!(exit_code(&o), 0, "{}", output_text(&o));
    let j = String::from_utf8_lossy(&o.stdout).to_string();
    let v = common::schemas::parse_valid("status", &j);
    let envs = v["environments"].as_array().unwrap();
    let state = |name: &str| {
        let e = envs.iter().find(|e| e["name"] == name).unwrap();
        (e["error"].is_null(), e["plans"][0]["state"].clone())
    };
    assert_eq!(state("staging"), (true, serde_json::json!("applied")));
    assert_eq!(state("production"), (true, serde_json::json!("pending")));
    assert!(!state("qa").0 && !state("down").0, "{j}");

    // One environment, as before; none readable is an error.
    let t = expect(d, &["status", "--env", "production"], &vars, 0);
    assert!(t.contains("pending"), "{t}");
    let t = expect(d, &["status", "--all-envs"], &[], 1);
    assert!(t.contains("no environment could be read"), "{t}");
}

/// Every kind of bad project-file input (a TOML syntax error, an unknown key, a literal
/// password, a variable that is not set, an unknown environment) stops `plan` and `apply` with
/// the file and line, exit 1, and nothing changed: no plan written, no step run, no
/// bookkeeping created.
#[test]
fn bad_project_file_input_changes_nothing_and_names_file_and_line() {
    let (_, behind) = two_databases();
    let dir = project("schema = \"db/schema\"\n");
    let d = dir.path();
    // A good plan first (it adds column `note`), to try applying it under bad files.
    expect(d, &["plan", "--db", &behind, "--out", "plans/p"], &[], 0);
    let cases: [(&str, &[&str], &str); 5] = [
        (
            "schema = \"db/schema\"\n[plan\nlock_timeout_ms = 5\n",
            &[],
            "schemaplan.toml:2:",
        ),
        (
            "schema = \"db/schema\"\n[plan]\nlock_timout_ms = 5\n",
            &[],
            "schemaplan.toml:3:1: unknown field `lock_timout_ms`",
        ),
        (
            "schema = \"db/schema\"\n[env.prod]\nurl = \"postgres://app:hunter2@127.0.0.1/x\"\n",
            &["--env", "prod"],
            "schemaplan.toml:3:7: a password in the project file",
        ),
        (
            "schema = \"db/schema\"\n[env.prod]\nurl = { env = \"UNSET_PROD_URL\" }\n",
            &["--env", "prod"],
            "is read from $UNSET_PROD_URL (",
        ),
        (
            "schema = \"db/schema\"\n[env.prod]\nurl = { env = \"UNSET_PROD_URL\" }\n",
            &["--env", "staging"],
            "environment \"staging\" is not in",
        ),
    ];
    let columns = || -> i64 {
        let s = server();
        let name = behind.rsplit('/').next().unwrap();
        s.connect(name)
            .query_one(
                "SELECT count(*) FROM information_schema.columns WHERE table_name = 't'",
                &[],
            )
            .unwrap()
            .get(0)
    };
    for (toml, env_args, want) in cases {
        std::fs::write(d.join("schemaplan.toml"), toml).unwrap();
        let db_args: Vec<&str> = if env_args.is_empty() {
            vec!["--db", behind.as_str()]
        } else {
            env_args.to_vec()
        };
        let mut plan = vec!["plan", "--out", "plans/q"];
        plan.extend(&db_args);
        let t = expect(d, &plan, &[], 1);
        assert!(
            t.contains(want),
            "plan with {toml:?}: want {want:?} in:\n{t}"
        );
        assert!(t.contains("schemaplan.toml"), "{t}");
        assert!(!t.contains("hunter2"), "{t}");
        assert!(
            !d.join("plans/q").exists(),
            "a plan was written with {toml:?}"
        );
        let mut apply = vec!["apply", "plans/p"];
        apply.extend(&db_args);
        let t = expect(d, &apply, &[], 1);
        assert!(
            t.contains(want),
            "apply with {toml:?}: want {want:?} in:\n{t}"
        );
        assert_eq!(columns(), 1, "apply ran a step with {toml:?}");
    }
    let s = server();
    let book: bool = s
        .connect(behind.rsplit('/').next().unwrap())
        .query_one(
            "SELECT EXISTS (SELECT FROM pg_namespace WHERE nspname = 'schemaplan')",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(!book, "bookkeeping created by a refused apply");
}

/// `--env` and `$SCHEMAPLAN_ENV` work on every command that reads a database, `dump` and
/// `rollback` included (the others are covered above).
#[test]
fn dump_and_rollback_take_their_database_from_the_environment() {
    let (_, behind) = two_databases();
    let dir = project("schema = \"db/schema\"\n[env.staging]\nurl = { env = \"STAGING_URL\" }\n");
    let d = dir.path();
    let vars = [("STAGING_URL", behind.as_str())];
    expect(
        d,
        &["plan", "--env", "staging", "--out", "plans/p"],
        &vars,
        0,
    );
    expect(d, &["apply", "--env", "staging", "plans/p"], &vars, 0);
    expect(
        d,
        &["dump", "--env", "staging", "--out", "dumped"],
        &vars,
        0,
    );
    fn read_all(dir: &Path, into: &mut String) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                read_all(&p, into);
            } else {
                into.push_str(&std::fs::read_to_string(p).unwrap());
            }
        }
    }
    let mut dumped = String::new();
    read_all(&d.join("dumped"), &mut dumped);
    assert!(
        dumped.contains("note"),
        "the dump is not staging's:\n{dumped}"
    );
    let with_env = [
        ("STAGING_URL", behind.as_str()),
        ("SCHEMAPLAN_ENV", "staging"),
    ];
    expect(
        d,
        &["rollback", "plans/p", "--allow-hazards", "all"],
        &with_env,
        0,
    );
    expect(d, &["drift"], &with_env, 2);
}

/// An environment's `dev_url` is the shadow `plan` uses there: a server that does not answer
/// fails the plan (nothing written), the test server's makes it.
#[test]
fn an_environments_dev_url_is_the_shadow_of_its_plans() {
    let (_, behind) = two_databases();
    let dir = project(
        "schema = \"db/schema\"\n[env.staging]\nurl = { env = \"STAGING_URL\" }\n\
         dev_url = { env = \"STAGING_DEV_URL\" }\n",
    );
    let d = dir.path();
    let nowhere = "postgres://postgres@127.0.0.1:1/postgres";
    let t = expect(
        d,
        &["plan", "--env", "staging", "--out", "plans/p"],
        &[("STAGING_URL", &behind), ("STAGING_DEV_URL", nowhere)],
        1,
    );
    assert!(t.contains("127.0.0.1:1"), "not the dev_url's server:\n{t}");
    assert!(!d.join("plans/p").exists());
    let admin = server().admin_url();
    expect(
        d,
        &["plan", "--env", "staging", "--out", "plans/p"],
        &[("STAGING_URL", &behind), ("STAGING_DEV_URL", &admin)],
        0,
    );
}
