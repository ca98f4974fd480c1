//! Scope through the binary, on a real server with rows in the tables: `--include` /
//! `--exclude` and `[scope]` make objects that are not the project's invisible to `plan`,
//! `drift` and `dump` on both sides, desired objects that depend on them are planned against
//! them, and `apply` refuses a plan made with another scope (docs/configuration.md, "Scope").

mod common;

use common::{schemaplan_expect, server};
use std::path::Path;

/// A work directory with `schema/<name>` files.
fn workdir(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("schema")).unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join("schema").join(name), text).unwrap();
    }
    dir
}

/// A fresh database loaded with `sql`; its URL.
fn database(tag: &str, sql: &str) -> (String, String) {
    let s = server();
    let (name, url) = s.fresh_db(tag);
    s.connect(&name).batch_execute(sql).unwrap();
    (name, url)
}

/// `schemaplan CMD --db URL --dev-url ADMIN ARGS...`, expecting exit code `want`.
fn run(dir: &Path, cmd: &str, url: &str, args: &[&str], want: i32) -> String {
    let admin = server().admin_url();
    let mut all = vec![cmd, "--db", url];
    if matches!(cmd, "plan" | "drift" | "dump") {
        all.extend(["--dev-url", admin.as_str()]);
    }
    all.extend(args);
    schemaplan_expect(dir, &all, want)
}

const AUDIT: &str = "CREATE SCHEMA audit;
CREATE TABLE audit.log (id bigint PRIMARY KEY, what text NOT NULL);
INSERT INTO audit.log SELECT g, 'row ' || g FROM generate_series(1, 50) g;
CREATE TABLE audit.users (id integer PRIMARY KEY, name text);
INSERT INTO audit.users SELECT g, 'user ' || g FROM generate_series(1, 20) g;
CREATE FUNCTION audit.stamp() RETURNS trigger LANGUAGE plpgsql AS
  $$BEGIN NEW.changed_at := now(); RETURN NEW; END$$;
CREATE TABLE public.accounts (id integer PRIMARY KEY, email text);
INSERT INTO public.accounts SELECT g, 'a' || g || '@x' FROM generate_series(1, 30) g;
";

const ACCOUNTS: &str = "CREATE TABLE public.accounts (id integer PRIMARY KEY, email text);\n";

#[test]
fn a_foreign_schema_is_left_alone_and_counted() {
    let (_, url) = database("scope_foreign", AUDIT);
    let dir = workdir(&[("accounts.sql", ACCOUNTS)]);
    let d = dir.path();
    // Without a scope the other team's schema would be dropped.
    let t = run(d, "plan", &url, &["--check"], 2);
    assert!(t.contains("audit"), "{t}");
    // With it, nothing to do, and the run says how much it left alone.
    let t = run(
        d,
        "plan",
        &url,
        &["--check", "--exclude", "schema:audit"],
        0,
    );
    assert!(t.contains("No changes"), "{t}");
    assert!(
        t.contains("4 object(s) of the database are out of scope (exclude [\"schema:audit\"])"),
        "{t}"
    );
    // A plan with changes records its scope in the header and in plan.json.
    std::fs::write(
        d.join("schema/accounts.sql"),
        "CREATE TABLE public.accounts (id integer PRIMARY KEY, email text, note text);\n",
    )
    .unwrap();
    let t = run(
        d,
        "plan",
        &url,
        &["--out", "plans/p", "--exclude", "schema:audit"],
        0,
    );
    assert!(!t.contains("DROP"), "{t}");
    let sql = std::fs::read_to_string(d.join("plans/p/plan.sql")).unwrap();
    assert!(
        sql.contains("-- scope: exclude [\"schema:audit\"]\n"),
        "{sql}"
    );
    assert!(!sql.to_lowercase().contains("audit.log"), "{sql}");
    let json = std::fs::read_to_string(d.join("plans/p/plan.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["scope"]["exclude"][0], "schema:audit", "{json}");
    run(
        d,
        "apply",
        &url,
        &["plans/p", "--exclude", "schema:audit"],
        0,
    );
    let rows: i64 = server()
        .connect(url.rsplit('/').next().unwrap())
        .query_one("SELECT count(*) FROM audit.log", &[])
        .unwrap()
        .get(0);
    assert_eq!(rows, 50);
}

#[test]
fn desired_objects_are_planned_against_out_of_scope_ones() {
    let (_, url) = database("scope_context", AUDIT);
    let dir = workdir(&[
        ("accounts.sql", ACCOUNTS),
        (
            "orders.sql",
            // An FK to an excluded table, a trigger calling an excluded function.
            "CREATE TABLE public.orders (
               id integer PRIMARY KEY,
               user_id integer NOT NULL REFERENCES audit.users (id),
               changed_at timestamptz
             );
             CREATE TRIGGER orders_stamp BEFORE UPDATE ON public.orders
               FOR EACH ROW EXECUTE FUNCTION audit.stamp();\n",
        ),
    ]);
    let d = dir.path();
    let scope = ["--exclude", "schema:audit"];
    let mut args = vec!["--out", "plans/p"];
    args.extend(scope);
    let t = run(d, "plan", &url, &args, 0);
    assert!(t.contains("Plan written"), "{t}");
    let sql = std::fs::read_to_string(d.join("plans/p/plan.sql")).unwrap();
    assert!(sql.contains("REFERENCES audit.users"), "{sql}");
    assert!(!sql.contains("CREATE TABLE audit"), "{sql}");
    assert!(!sql.contains("CREATE FUNCTION audit"), "{sql}");
    let mut args = vec!["plans/p"];
    args.extend(scope);
    run(d, "apply", &url, &args, 0);
    let t = run(d, "drift", &url, &scope, 0);
    assert!(t.contains("In sync"), "{t}");
}

#[test]
fn a_view_over_an_excluded_table_is_planned_against_it() {
    let (_, url) = database(
        "scope_view",
        "CREATE TABLE public.legacy_orders (id integer PRIMARY KEY, total numeric);
         INSERT INTO public.legacy_orders SELECT g, g * 1.5 FROM generate_series(1, 40) g;",
    );
    let dir = workdir(&[(
        "v.sql",
        "CREATE VIEW public.big_orders AS SELECT id, total FROM public.legacy_orders WHERE total > 10;\n",
    )]);
    let d = dir.path();
    let scope = ["--exclude", "table:public.legacy_*"];
    let mut args = vec!["--out", "plans/p"];
    args.extend(scope);
    run(d, "plan", &url, &args, 0);
    let sql = std::fs::read_to_string(d.join("plans/p/plan.sql")).unwrap();
    assert!(sql.contains("CREATE VIEW public.big_orders"), "{sql}");
    assert!(!sql.contains("DROP TABLE"), "{sql}");
    let mut args = vec!["plans/p"];
    args.extend(scope);
    run(d, "apply", &url, &args, 0);
    run(d, "drift", &url, &scope, 0);
}

#[test]
fn a_file_defining_an_out_of_scope_object_is_an_error() {
    let (_, url) = database("scope_defines", AUDIT);
    let dir = workdir(&[
        ("accounts.sql", ACCOUNTS),
        (
            "audit.sql",
            "-- the other team's\nCREATE TABLE audit.extra (id integer);\n",
        ),
    ]);
    let t = run(
        dir.path(),
        "plan",
        &url,
        &["--check", "--exclude", "schema:audit"],
        1,
    );
    assert!(
        t.contains("audit.sql:2:1: CREATE TABLE defines audit.extra, which is out of scope (exclude \"schema:audit\")"),
        "{t}"
    );
    // A bad pattern on the command line: exit 1, naming it.
    let t = run(
        dir.path(),
        "plan",
        &url,
        &["--check", "--exclude", "tabel:audit.x"],
        1,
    );
    assert!(t.contains("unknown kind \"tabel\""), "{t}");
}

#[test]
fn apply_refuses_a_plan_made_with_another_scope() {
    let (_, url) = database("scope_stale", AUDIT);
    let dir = workdir(&[(
        "accounts.sql",
        "CREATE TABLE public.accounts (id integer PRIMARY KEY, email text, note text);\n",
    )]);
    let d = dir.path();
    run(
        d,
        "plan",
        &url,
        &["--out", "plans/p", "--exclude", "schema:audit"],
        0,
    );
    for args in [
        vec!["plans/p"],
        vec![
            "plans/p",
            "--exclude",
            "schema:audit",
            "--exclude",
            "table:public.x_*",
        ],
        vec!["plans/p", "--dry-run"],
    ] {
        let t = run(d, "apply", &url, &args, 1);
        assert!(
            t.contains(
                "the plan was made with scope exclude [\"schema:audit\"], but the current scope is"
            ),
            "{t}"
        );
    }
    run(
        d,
        "apply",
        &url,
        &["plans/p", "--dry-run", "--exclude", "schema:audit"],
        0,
    );
    run(
        d,
        "apply",
        &url,
        &["plans/p", "--exclude", "schema:audit"],
        0,
    );
    let t = run(d, "rollback", &url, &["plans/p"], 1);
    assert!(t.contains("the plan was made with scope"), "{t}");
    run(
        d,
        "rollback",
        &url,
        &[
            "plans/p",
            "--exclude",
            "schema:audit",
            "--allow-hazards",
            "all",
        ],
        0,
    );
}

#[test]
fn a_declared_rename_is_planned_beside_out_of_scope_objects() {
    let (_, url) = database(
        "scope_rename",
        &format!(
            "{AUDIT}
             CREATE TABLE public.orders (id integer PRIMARY KEY,
               buyer integer NOT NULL REFERENCES audit.users (id), note text);
             INSERT INTO public.orders SELECT g, g, 'n' FROM generate_series(1, 20) g;"
        ),
    );
    let dir = workdir(&[
        ("accounts.sql", ACCOUNTS),
        (
            "orders.sql",
            "CREATE TABLE public.orders (id integer PRIMARY KEY,
               buyer integer NOT NULL REFERENCES audit.users (id),
               -- @renamed from=note
               remark text);\n",
        ),
    ]);
    let d = dir.path();
    run(
        d,
        "plan",
        &url,
        &["--out", "plans/p", "--exclude", "schema:audit"],
        0,
    );
    let sql = std::fs::read_to_string(d.join("plans/p/plan.sql")).unwrap();
    assert!(sql.contains("remark"), "{sql}");
    assert!(!sql.contains("audit.log"), "{sql}");
    run(
        d,
        "apply",
        &url,
        &[
            "plans/p",
            "--exclude",
            "schema:audit",
            "--phase",
            "all",
            "--allow-hazards",
            "all",
        ],
        0,
    );
    run(d, "drift", &url, &["--exclude", "schema:audit"], 0);
}

#[test]
fn drift_and_dump_ignore_what_is_out_of_scope() {
    let (_, url) = database("scope_drift", AUDIT);
    let dir = workdir(&[("accounts.sql", ACCOUNTS)]);
    let d = dir.path();
    let t = run(d, "drift", &url, &[], 2);
    assert!(t.contains("audit"), "{t}");
    let t = run(d, "drift", &url, &["--exclude", "schema:audit"], 0);
    assert!(t.contains("In sync"), "{t}");
    assert!(t.contains("out of scope"), "{t}");
    run(
        d,
        "dump",
        &url,
        &["--out", "dumped", "--exclude", "schema:audit"],
        0,
    );
    let mut all = String::new();
    for e in walk(&d.join("dumped")) {
        all.push_str(&std::fs::read_to_string(e).unwrap());
    }
    assert!(all.contains("public.accounts"), "{all}");
    assert!(!all.contains("audit"), "{all}");
}

#[test]
fn the_project_file_scope_applies_and_flags_replace_it() {
    let (_, url) = database("scope_file", AUDIT);
    let dir = workdir(&[("accounts.sql", ACCOUNTS)]);
    let d = dir.path();
    std::fs::write(
        d.join("schemaplan.toml"),
        "[scope]\nexclude = [\n  \"schema:audit\",\n]\n",
    )
    .unwrap();
    run(d, "drift", &url, &[], 0);
    // A flag replaces the file's list: audit is in scope again.
    run(
        d,
        "drift",
        &url,
        &["--exclude", "table:public.nothing_*"],
        2,
    );
    run(d, "drift", &url, &["--exclude", ""], 2);
    // So does an environment's own list.
    std::fs::write(
        d.join("schemaplan.toml"),
        "[scope]\nexclude = [\"schema:audit\"]\n[env.all]\n[env.all.scope]\nexclude = []\n",
    )
    .unwrap();
    run(d, "drift", &url, &[], 0);
    run(d, "drift", &url, &["--env", "all"], 2);
    std::fs::write(
        d.join("schemaplan.toml"),
        "[scope]\nexclude = [\n  \"schema:audit\",\n  \"tables:public.x\",\n]\n",
    )
    .unwrap();
    let t = run(d, "drift", &url, &[], 1);
    assert!(
        t.contains("schemaplan.toml:4:3: scope pattern \"tables:public.x\": unknown kind"),
        "{t}"
    );
}

#[test]
fn plan_warns_about_unmodeled_objects_of_the_live_database() {
    let (_, url) = database(
        "scope_unmodeled",
        "CREATE TABLE public.accounts (id integer PRIMARY KEY, email text);
         INSERT INTO public.accounts VALUES (1, 'a@x');
         CREATE TYPE public.accounts_shell;",
    );
    let dir = workdir(&[("accounts.sql", ACCOUNTS)]);
    let t = run(dir.path(), "plan", &url, &["--check"], 0);
    assert!(
        t.contains("public.accounts_shell is not modeled by schemaplan"),
        "{t}"
    );
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn an_include_list_keeps_everything_else_out() {
    let (_, url) = database(
        "scope_include",
        "CREATE SCHEMA app;
         CREATE TABLE public.people (id integer PRIMARY KEY);
         CREATE TABLE app.items (id integer PRIMARY KEY, owner integer REFERENCES public.people (id));
         INSERT INTO public.people SELECT generate_series(1, 10);",
    );
    let dir = workdir(&[(
        "app.sql",
        "CREATE SCHEMA app;
         CREATE TABLE app.items (id integer PRIMARY KEY, owner integer REFERENCES public.people (id), note text);\n",
    )]);
    let d = dir.path();
    let t = run(
        d,
        "plan",
        &url,
        &["--out", "plans/p", "--include", "schema:app"],
        0,
    );
    assert!(t.contains("note"), "{t}");
    let sql = std::fs::read_to_string(d.join("plans/p/plan.sql")).unwrap();
    assert!(!sql.contains("DROP"), "{sql}");
    run(d, "apply", &url, &["plans/p", "--include", "schema:app"], 0);
    run(d, "drift", &url, &["--include", "schema:app"], 0);
}

/// Another team's schema `reports` over the project's objects: a view reading two columns of
/// `public.orders`, a table with an FK to it, a column of the project's enum, a trigger calling
/// the project's function; rows everywhere.
const DEPENDENTS: &str =
    "CREATE TABLE public.orders (id integer PRIMARY KEY, total integer NOT NULL, note text);
INSERT INTO public.orders SELECT g, g * 10, 'n' || g FROM generate_series(1, 40) g;
CREATE TYPE public.mood AS ENUM ('ok', 'bad');
CREATE FUNCTION public.touch() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;
CREATE SCHEMA reports;
CREATE VIEW reports.order_totals AS SELECT id, total FROM public.orders;
CREATE TABLE reports.refs (id integer PRIMARY KEY,
  order_id integer REFERENCES public.orders (id), m public.mood);
INSERT INTO reports.refs SELECT g, g, 'ok' FROM generate_series(1, 20) g;
CREATE TRIGGER refs_touch BEFORE UPDATE ON reports.refs
  FOR EACH ROW EXECUTE FUNCTION public.touch();
";

const ORDERS: &str =
    "CREATE TABLE public.orders (id integer PRIMARY KEY, total integer NOT NULL, note text);\n";
const MOOD: &str = "CREATE TYPE public.mood AS ENUM ('ok', 'bad');\n";
const TOUCH: &str = "CREATE FUNCTION public.touch() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;\n";

/// Rows of the other team's table and view: (refs, order_totals).
fn report_rows(url: &str) -> (i64, i64) {
    let mut c = server().connect(url.rsplit('/').next().unwrap());
    let mut n = |sql: &str| -> i64 { c.query_one(sql, &[]).unwrap().get(0) };
    (
        n("SELECT count(*) FROM reports.refs"),
        n("SELECT count(*) FROM reports.order_totals"),
    )
}

/// Out-of-scope objects that depend on in-scope ones are not in the shadow: a plan that drops,
/// re-creates or retypes what they need would be proven without them and then fail on the
/// live database (or, with CASCADE, take them and their rows). `plan` refuses it naming each
/// dependent, why it is out of scope and what the plan does, writing nothing; a plan that
/// leaves what they need alone goes ahead and keeps them and their rows.
#[test]
fn a_plan_dropping_what_out_of_scope_objects_depend_on_is_refused_naming_them() {
    let (_, url) = database("scope_dependents", DEPENDENTS);
    let scope = ["--exclude", "schema:reports"];
    let refused = |files: &[(&str, &str)], want: &[&str]| {
        let dir = workdir(files);
        let d = dir.path();
        let mut args = vec!["--out", "plans/p"];
        args.extend(scope);
        let t = run(d, "plan", &url, &args, 1);
        assert!(
            t.contains(
                "the plan would break objects outside the scope that depend on objects it changes"
            ),
            "{t}"
        );
        assert!(t.contains("never uses CASCADE"), "{t}");
        for w in want {
            assert!(t.contains(w), "want {w:?} in:\n{t}");
        }
        assert!(!d.join("plans/p").exists(), "a refused plan wrote files");
        assert_eq!(report_rows(&url), (20, 40));
    };
    // The table is dropped: the view and the FK need it.
    refused(
        &[("mood.sql", MOOD), ("touch.sql", TOUCH)],
        &[
            "view reports.order_totals (out of scope: exclude \"schema:reports\") depends on table public.orders, which the plan drops",
            "constraint refs_order_id_fkey on reports.refs (out of scope: exclude \"schema:reports\") depends on table public.orders, which the plan drops",
        ],
    );
    // A column the view reads changes type.
    refused(
        &[
            (
                "orders.sql",
                "CREATE TABLE public.orders (id integer PRIMARY KEY, total bigint NOT NULL, note text);\n",
            ),
            ("mood.sql", MOOD),
            ("touch.sql", TOUCH),
        ],
        &["view reports.order_totals (out of scope: exclude \"schema:reports\") depends on column public.orders.total, which the plan changes the type of"],
    );
    // The enum an out-of-scope column uses, and the function an out-of-scope trigger calls,
    // are in no schema file.
    refused(
        &[("orders.sql", ORDERS)],
        &[
            "column reports.refs.m (out of scope: exclude \"schema:reports\") depends on type public.mood, which the plan drops",
            "trigger refs_touch on reports.refs (out of scope: exclude \"schema:reports\") depends on function public.touch(), which the plan drops",
        ],
    );

    // Dropping a column nobody outside reads and adding one: planned, applied, the other
    // team's objects and rows kept.
    let dir = workdir(&[
        (
            "orders.sql",
            "CREATE TABLE public.orders (id integer PRIMARY KEY, total integer NOT NULL, placed date);\n",
        ),
        ("mood.sql", MOOD),
        ("touch.sql", TOUCH),
    ]);
    let d = dir.path();
    let mut args = vec!["--out", "plans/p"];
    args.extend(scope);
    run(d, "plan", &url, &args, 0);
    let mut args = vec!["plans/p", "--phase", "all", "--allow-hazards", "all"];
    args.extend(scope);
    run(d, "apply", &url, &args, 0);
    assert_eq!(report_rows(&url), (20, 40));
    let t = run(d, "drift", &url, &scope, 0);
    assert!(t.contains("In sync"), "{t}");
}

/// Runs `apply` (with `args`) and SIGKILLs it once every step committed, before its final
/// check (the `verify:N` test pause, N the plan's step count), leaving the run `verifying`.
fn kill_during_verification(dir: &Path, url: &str, steps: usize, args: &[&str]) {
    let point = format!("verify:{steps}");
    use std::io::{BufRead, BufReader, Write};
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_schemaplan"))
        .args(["apply", "--db", url])
        .args(args)
        .current_dir(dir)
        .env("SCHEMAPLAN_TEST_PAUSE", &point)
        .env_remove("DATABASE_URL")
        .env_remove("SCHEMAPLAN_ENV")
        .env_remove("SCHEMAPLAN_CONFIG")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "apply ended before the pause:\n{seen}"
        );
        seen.push_str(&line);
        if line.trim() == format!("schemaplan-test-pause {point}") {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    drop(child.stdin.take().map(|mut s| s.write_all(b"\n")));
}

/// A scoped plan's apply cut off in its final check: `status` (and `status --all-envs`) checks
/// the live schema through the plan's recorded scope, as apply's own check does, so the
/// out-of-scope schema does not make a finished run look failed.
#[test]
fn status_checks_a_cut_off_final_check_through_the_plans_scope() {
    let (_, url) = database("scope_status", AUDIT);
    let dir = workdir(&[(
        "accounts.sql",
        "CREATE TABLE public.accounts (id integer PRIMARY KEY, email text, note text);\n",
    )]);
    let d = dir.path();
    // The scope and the environment come from the project file; status takes no scope flag.
    std::fs::write(
        d.join("schemaplan.toml"),
        "[scope]\nexclude = [\"schema:audit\"]\n[env.staging]\nurl = { env = \"SCOPE_STAGING_URL\" }\n",
    )
    .unwrap();
    run(d, "plan", &url, &["--out", "plans/p"], 0);
    let id = std::fs::read_to_string(d.join("plans/p/plan.sql"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("-- id: ").map(str::to_string))
        .unwrap();
    kill_during_verification(d, &url, 1, &["plans/p"]);

    let t = run(d, "status", &url, &[], 0);
    assert!(common::status_row(&t, "applied", &id), "{t}");
    assert!(t.contains("records the run succeeded"), "{t}");

    let o = std::process::Command::new(env!("CARGO_BIN_EXE_schemaplan"))
        .args(["status", "--all-envs", "--format", "json"])
        .current_dir(d)
        .env_remove("DATABASE_URL")
        .env_remove("SCHEMAPLAN_ENV")
        .env_remove("SCHEMAPLAN_CONFIG")
        .env("SCOPE_STAGING_URL", &url)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let j = common::output_text(&o);
    assert_eq!(o.status.code(), Some(0), "{j}");
    let v: serde_json::Value =
        serde_json::from_str(j.trim()).unwrap_or_else(|e| panic!("{e}: {j}"));
    let staging = &v["environments"][0];
    assert_eq!(staging["name"], "staging", "{j}");
    assert_eq!(staging["plans"][0]["state"], "applied", "{j}");

    // The next apply records the run succeeded; the other team's rows are all there.
    let t = run(d, "apply", &url, &["plans/p"], 0);
    assert!(t.contains("already applied"), "{t}");
    let rows: i64 = server()
        .connect(url.rsplit('/').next().unwrap())
        .query_one("SELECT count(*) FROM audit.log", &[])
        .unwrap()
        .get(0);
    assert_eq!(rows, 50);
}

/// Objects owned by an extension are never in scope, even where a pattern names their schema:
/// `citext`'s functions and types in `public` appear in no plan, drift or dump of
/// `--include schema:public`, and are not counted as out of scope one by one (the extension,
/// out of scope under that include list, is one object); a table using its type is planned
/// against it. `dump` says how many objects it did not write.
#[test]
fn extension_members_are_never_in_scope_and_dump_counts_what_it_left_out() {
    let (_, url) = database(
        "scope_extension",
        "CREATE EXTENSION citext;
         CREATE TABLE public.people (id integer PRIMARY KEY, email citext NOT NULL);
         INSERT INTO public.people SELECT g, 'P' || g || '@x' FROM generate_series(1, 10) g;
         CREATE SCHEMA other;
         CREATE TABLE other.t (id integer);",
    );
    let people = "CREATE TABLE public.people (id integer PRIMARY KEY, email citext NOT NULL);\n";
    let dir = workdir(&[("people.sql", people)]);
    let d = dir.path();
    let scope = ["--include", "schema:public"];
    let mut args = vec!["--check"];
    args.extend(scope);
    let t = run(d, "plan", &url, &args, 0);
    assert!(t.contains("No changes"), "{t}");
    // The extensions (plpgsql, citext) and schema `other` with its table: 4, not citext's
    // dozens of functions and types.
    assert!(
        t.contains("4 object(s) of the database are out of scope"),
        "{t}"
    );
    let t = run(d, "drift", &url, &scope, 0);
    assert!(t.contains("In sync"), "{t}");
    let mut args = vec!["--out", "dumped"];
    args.extend(scope);
    let t = run(d, "dump", &url, &args, 0);
    assert!(t.contains("out of scope"), "{t}");
    let mut all = String::new();
    for e in walk(&d.join("dumped")) {
        all.push_str(&std::fs::read_to_string(e).unwrap());
    }
    assert!(all.contains("public.people"), "{all}");
    assert!(
        !all.contains("FUNCTION"),
        "extension functions dumped:\n{all}"
    );
    assert!(!all.contains("CREATE EXTENSION"), "{all}");
    assert!(!all.contains("other.t"), "{all}");
}
