//! The command line as a user meets it, through the binary with assert_cmd: usage errors exit
//! 1 with clap's message, help output (snapshots, wrapped to the terminal), the exit codes
//! 0/1/2 of every command, `--color` with `NO_COLOR` / `CLICOLOR_FORCE`, and `-q` / `-v`.

mod common;

use assert_cmd::Command;
use std::path::Path;

/// The binary in `cwd`, with nothing inherited that changes its output: no connection
/// settings, no colour settings, an 100-column terminal for help.
fn sp(cwd: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_schemaplan"));
    c.current_dir(cwd)
        .env_remove("DATABASE_URL")
        .env_remove("SCHEMAPLAN_DEV_URL")
        .env_remove("SCHEMAPLAN_ENV")
        .env_remove("SCHEMAPLAN_CONFIG")
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR")
        .env_remove("CLICOLOR_FORCE")
        .env("COLUMNS", "100");
    c
}

fn stderr(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stderr).to_string()
}

fn stdout(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stdout).to_string()
}

const ESC: &str = "\u{1b}[";

#[test]
fn usage_errors_exit_1_with_clap_message() {
    let tmp = tempfile::tempdir().unwrap();
    let cases: [(&[&str], &str); 6] = [
        (
            &["plan", "--no-such-option"],
            "unexpected argument '--no-such-option'",
        ),
        (
            &["apply", "--db", "postgres://x"],
            "required arguments were not provided",
        ),
        (&["-q", "-v", "plan"], "cannot be used with"),
        (
            &["--color", "sometimes", "plan"],
            "invalid value 'sometimes'",
        ),
        (&["completions", "tcsh"], "invalid value 'tcsh'"),
        (&[], "Usage:"),
    ];
    for (args, message) in cases {
        let a = sp(tmp.path()).args(args).assert().code(1);
        let err = stderr(&a);
        assert!(err.contains(message), "{args:?}: {err}");
        assert!(
            err.contains("error:") || err.contains("Usage:"),
            "{args:?}: {err}"
        );
        assert!(stdout(&a).is_empty(), "{args:?}");
    }
    // --help and --version are not errors.
    sp(tmp.path()).arg("--help").assert().code(0);
    let a = sp(tmp.path()).arg("--version").assert().code(0);
    assert!(stdout(&a).starts_with("schemaplan "));
}

#[test]
fn help_output() {
    let tmp = tempfile::tempdir().unwrap();
    for (name, args) in [
        ("help", &["--help"][..]),
        ("apply_help", &["apply", "--help"][..]),
        ("dump_help", &["dump", "--help"][..]),
    ] {
        let a = sp(tmp.path()).args(args).assert().code(0);
        insta::assert_snapshot!(name, stdout(&a));
    }
}

#[test]
fn help_is_wrapped_to_the_terminal_width() {
    let tmp = tempfile::tempdir().unwrap();
    for args in [&["--help"][..], &["plan", "--help"], &["apply", "--help"]] {
        let a = sp(tmp.path())
            .args(args)
            .env("COLUMNS", "60")
            .assert()
            .code(0);
        let text = stdout(&a);
        let long: Vec<&str> = text.lines().filter(|l| l.chars().count() > 60).collect();
        assert!(
            long.is_empty(),
            "{args:?}: lines over 60 columns: {long:#?}"
        );
    }
}

/// `lint` of a missing plan directory fails: `error:` is red where colour is on.
#[test]
fn color_follows_the_flag_no_color_and_clicolor_force() {
    let tmp = tempfile::tempdir().unwrap();
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], bool);
    let cases: [Case; 7] = [
        (&[], &[], false), // a pipe: no colour
        (&[], &[("CLICOLOR_FORCE", "1")], true),
        (&[], &[("NO_COLOR", "1"), ("CLICOLOR_FORCE", "1")], false),
        (&["--color", "always"], &[], true),
        (&["--color=always"], &[("NO_COLOR", "1")], true),
        (&["--color", "never"], &[("CLICOLOR_FORCE", "1")], false),
        (&["--color", "auto"], &[], false),
    ];
    for (flags, env, coloured) in cases {
        let mut c = sp(tmp.path());
        c.args(flags).args(["lint", "missing"]);
        for (k, v) in env {
            c.env(k, v);
        }
        let a = c.assert().code(1);
        let err = stderr(&a);
        assert_eq!(err.contains(ESC), coloured, "{flags:?} {env:?}: {err:?}");
        assert!(err.contains("error:"), "{err}");
        // Help (clap's own output) follows the same choice.
        let mut c = sp(tmp.path());
        c.args(flags).arg("--help");
        for (k, v) in env {
            c.env(k, v);
        }
        let a = c.assert().code(0);
        assert_eq!(stdout(&a).contains(ESC), coloured, "help {flags:?} {env:?}");
    }
}

/// The exit-code contract for every command: 0 success or nothing to do, 1 error, 2
/// differences found (`drift`, `plan --check`); JSON output never changes it.
#[test]
fn exit_codes_of_every_command() {
    let server = common::server();
    let (db, url) = server.fresh_db("cli_exit_every");
    server
        .connect(&db)
        .batch_execute("CREATE TABLE public.t (a int); INSERT INTO public.t VALUES (1), (2);")
        .unwrap();
    let dev = server.admin_url();
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    let bad = "postgres://nobody@127.0.0.1:1/x";
    sp(cwd).arg("init").assert().code(0);
    sp(cwd).arg("init").assert().code(1); // never overwrites its project file
    std::fs::write(
        cwd.join("schema/t.sql"),
        "CREATE TABLE public.t (a int, b int);\n",
    )
    .unwrap();
    let with_db = |args: &[&str], db: &str| {
        let mut v: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        v.extend(["--db".to_string(), db.to_string()]);
        v
    };
    let shadow = |mut v: Vec<String>| {
        v.extend(["--dev-url".to_string(), dev.clone()]);
        v
    };
    for format in ["text", "json"] {
        sp(cwd)
            .args(shadow(with_db(&["drift", "--format", format], &url)))
            .assert()
            .code(2);
        sp(cwd)
            .args(shadow(with_db(
                &["plan", "--check", "--format", format],
                &url,
            )))
            .assert()
            .code(2);
        sp(cwd)
            .args(shadow(with_db(&["drift", "--format", format], bad)))
            .assert()
            .code(1);
        sp(cwd)
            .args(with_db(&["status", "--format", format], bad))
            .assert()
            .code(1);
    }
    sp(cwd)
        .args(shadow(with_db(&["plan", "--out", "plans/p1"], &url)))
        .assert()
        .code(0);
    sp(cwd).args(["lint", "plans/p1"]).assert().code(0);
    sp(cwd).args(["lint", "plans/none"]).assert().code(1);
    sp(cwd).args(with_db(&["status"], &url)).assert().code(0);
    for format in ["text", "json"] {
        sp(cwd)
            .args(with_db(&["apply", "plans/none", "--format", format], &url))
            .assert()
            .code(1);
        sp(cwd)
            .args(with_db(
                &["rollback", "plans/none", "--format", format],
                &url,
            ))
            .assert()
            .code(1);
    }
    sp(cwd)
        .args(with_db(&["apply", "plans/p1"], &url))
        .assert()
        .code(0);
    sp(cwd)
        .args(with_db(&["apply", "plans/p1", "--format", "json"], &url))
        .assert()
        .code(0); // already applied: nothing to do
    for format in ["text", "json"] {
        sp(cwd)
            .args(shadow(with_db(&["drift", "--format", format], &url)))
            .assert()
            .code(0);
        sp(cwd)
            .args(shadow(with_db(
                &["plan", "--check", "--format", format],
                &url,
            )))
            .assert()
            .code(0);
    }
    sp(cwd)
        .args(shadow(with_db(&["dump", "--out", "dumped"], &url)))
        .assert()
        .code(0);
    sp(cwd)
        .args(shadow(with_db(&["dump", "--out", "dumped"], &url)))
        .assert()
        .code(1); // not empty
    sp(cwd)
        .args(shadow(with_db(&["dump", "--out", "d2"], bad)))
        .assert()
        .code(1);
    sp(cwd)
        .args(with_db(
            &["rollback", "plans/p1", "--allow-hazards", "all"],
            &url,
        ))
        .assert()
        .code(0);
    sp(cwd).args(["completions", "bash"]).assert().code(0);
    sp(cwd).arg("man").assert().code(0);
    server.drop_db(&db);
}

/// `-v` prints one timing line per stage (wall, CPU, peak RSS) on stderr and leaves stdout as
/// it is, `-vv` the stages inside them too; `-q` leaves apply's progress out.
#[test]
fn verbose_prints_stage_timings_and_quiet_hides_progress() {
    let server = common::server();
    let (db, url) = server.fresh_db("cli_verbosity");
    server
        .connect(&db)
        .batch_execute("CREATE TABLE public.t (a int); INSERT INTO public.t VALUES (1);")
        .unwrap();
    let dev = server.admin_url();
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    std::fs::create_dir(cwd.join("schema")).unwrap();
    std::fs::write(
        cwd.join("schema/t.sql"),
        "CREATE TABLE public.t (a int, b int);\n",
    )
    .unwrap();
    let plan = |extra: &[&str], out: &str| {
        let mut c = sp(cwd);
        c.args(["plan", "--db", &url, "--dev-url", &dev, "--out", out])
            .args(extra);
        c.assert().code(0)
    };
    let quiet = plan(&[], "plans/a");
    assert!(!stderr(&quiet).contains("timing:"), "{}", stderr(&quiet));
    let verbose = plan(&["-v"], "plans/b");
    let err = stderr(&verbose);
    for stage in [
        "source",
        "shadow start",
        "catalog reads",
        "shadow load",
        "diff",
        "plan and proof",
        "write",
    ] {
        assert!(
            err.lines()
                .any(|l| l.starts_with(&format!("timing: {stage} "))),
            "no {stage} timing in:\n{err}"
        );
    }
    // Each line also has the client's CPU time and peak RSS (src/timings.rs); only the
    // top-level stages, unless -vv.
    assert!(
        err.lines()
            .filter(|l| l.starts_with("timing: "))
            .all(|l| l.contains(" (CPU ") && l.ends_with(" MiB)")),
        "{err}"
    );
    assert!(
        !err.contains("timing:   "),
        "-v: top-level stages only:\n{err}"
    );
    let very = plan(&["-vv"], "plans/c");
    let err = stderr(&very);
    assert!(
        err.lines()
            .any(|l| l.starts_with("timing:   ") && l.contains(" catalog: tables ")),
        "-vv: the stages inside them, indented:\n{err}"
    );
    assert_eq!(
        stdout(&quiet)
            .replace("plans/a", "plans/b")
            .replace("plan a ", "plan b "),
        stdout(&verbose),
        "-v changes only stderr"
    );
    // apply: progress lines on stderr by default (not a terminal), none with -q.
    let a = sp(cwd)
        .args(["apply", "--db", &url, "plans/a", "--dry-run"])
        .assert()
        .code(0);
    assert!(stderr(&a).contains("step 1/"), "{}", stderr(&a));
    let a = sp(cwd)
        .args(["apply", "-q", "--db", &url, "plans/a"])
        .assert()
        .code(0);
    assert!(stderr(&a).is_empty(), "-q: {}", stderr(&a));
    assert!(stdout(&a).contains("applied"), "{}", stdout(&a));
    server.drop_db(&db);
}

/// `status` is a table: the columns stay aligned under their headers whatever the length of
/// a state or of the error in a row's details (here a run failed on a lock timeout, whose
/// error is several lines long).
#[test]
fn status_is_a_table_whose_columns_hold_with_a_long_error() {
    let server = common::server();
    let (db, url) = server.fresh_db("cli_status_table");
    server
        .connect(&db)
        .batch_execute("CREATE TABLE public.t (a int); INSERT INTO public.t VALUES (1), (2);")
        .unwrap();
    let dev = server.admin_url();
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    std::fs::create_dir(cwd.join("schema")).unwrap();
    std::fs::write(
        cwd.join("schema/t.sql"),
        "CREATE TABLE public.t (a int, b int);\n",
    )
    .unwrap();
    for out in ["plans/p1_first", "plans/p2_a_plan_with_a_longer_name"] {
        sp(cwd)
            .args(["plan", "--db", &url, "--dev-url", &dev, "--out", out])
            .assert()
            .code(0);
    }
    // A reader in an open transaction makes the first plan's step time out: a failed run.
    let mut reader = server.connect(&db);
    reader
        .batch_execute("BEGIN; SELECT count(*) FROM public.t;")
        .unwrap();
    sp(cwd)
        .args([
            "apply",
            "--db",
            &url,
            "plans/p1_first",
            "--lock-retries",
            "0",
        ])
        .assert()
        .code(1);
    reader.batch_execute("ROLLBACK").unwrap();
    let a = sp(cwd).args(["status", "--db", &url]).assert().code(0);
    let out = stdout(&a);
    let lines: Vec<&str> = out.lines().collect();
    let header = lines
        .iter()
        .find(|l| l.contains("STATE") && l.contains("DETAILS"))
        .unwrap_or_else(|| panic!("no header:\n{out}"));
    let column = |name: &str| header.find(name).unwrap();
    let (plan_col, details_col) = (column("PLAN"), column("DETAILS"));
    for (state, plan) in [
        ("failed", "p1_first"),
        ("pending", "p2_a_plan_with_a_longer_name"),
    ] {
        let row = lines
            .iter()
            .find(|l| l.trim_start().starts_with(state) && l.contains(plan))
            .unwrap_or_else(|| panic!("no {state} row for {plan}:\n{out}"));
        assert_eq!(row.find(plan), Some(plan_col), "{plan} under PLAN:\n{out}");
    }
    // The error is in the details column, its continuation lines too.
    let error = lines
        .iter()
        .position(|l| l.contains("error: "))
        .unwrap_or_else(|| panic!("no error in the details:\n{out}"));
    assert_eq!(
        lines[error].find("error: "),
        Some(details_col),
        "the error starts under DETAILS:\n{out}"
    );
    assert!(out.contains("lock timeout"), "{out}");
    server.drop_db(&db);
}
