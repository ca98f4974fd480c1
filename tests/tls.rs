//! TLS through the real binary, on a server with `ssl = on` that accepts TCP connections only
//! over TLS (`hostssl`), its certificate signed by a CA generated for the test
//! (tests/common/secure.rs): `require`, `verify-ca` and `verify-full` with the right root
//! certificate connect, for `--db` and `--dev-url` alike and through `PGSSLMODE` /
//! `PGSSLROOTCERT`; a wrong root certificate, a host name the certificate does not name, a
//! missing root certificate and `sslmode=disable` fail with exit 1 and a message that says why.
//! The hostssl-only server is the proof that a successful connection was encrypted. Ctrl-C's
//! cancel request goes over TLS too (it was sent without, which `verify-full` never delivered).

mod common;

use common::secure::secure_server;
use std::path::Path;
use std::process::Output;

fn run(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_schemaplan"));
    cmd.args(args)
        .current_dir(cwd)
        .env_remove("DATABASE_URL")
        .env_remove("SCHEMAPLAN_DEV_URL")
        .env_remove("PGSSLMODE")
        .env_remove("PGSSLROOTCERT")
        .env_remove("PGPASSWORD")
        .stdin(std::process::Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run schemaplan")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A working directory with a one-table schema.
fn workdir() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("schema")).unwrap();
    std::fs::write(
        tmp.path().join("schema/t.sql"),
        "CREATE TABLE public.t (id bigint PRIMARY KEY);\n",
    )
    .unwrap();
    tmp
}

/// `drift` of an empty database against the schema: exit 2 proves both connections (target
/// and shadow) worked.
fn drift(db: &str, dev: &str, env: &[(&str, &str)]) -> (i32, String) {
    let tmp = workdir();
    let o = run(tmp.path(), &["drift", "--db", db, "--dev-url", dev], env);
    (o.status.code().expect("exit code"), text(&o))
}

fn ca(name: &str) -> String {
    secure_server()
        .certs()
        .join(name)
        .to_string_lossy()
        .into_owned()
}

#[test]
fn require_connects_over_tls() {
    let s = secure_server();
    let db = s.fresh_db("tls_require", "postgres");
    let url = s.url("postgres", None, "127.0.0.1", &db, "sslmode=require");
    let dev = s.url("postgres", None, "127.0.0.1", "postgres", "sslmode=require");
    let (code, t) = drift(&url, &dev, &[]);
    assert_eq!(code, 2, "{t}");
    assert!(t.contains("public.t"), "{t}");
}

#[test]
fn verify_full_with_the_right_root_certificate_connects() {
    let s = secure_server();
    let db = s.fresh_db("tls_verify_full", "postgres");
    let q = format!("sslmode=verify-full&sslrootcert={}", ca("ca.crt"));
    let url = s.url("postgres", None, "localhost", &db, &q);
    let dev = s.url("postgres", None, "localhost", "postgres", &q);
    let (code, t) = drift(&url, &dev, &[]);
    assert_eq!(code, 2, "{t}");
    // The whole workflow over verify-full: plan, apply, drift clean.
    let tmp = workdir();
    let o = run(
        tmp.path(),
        &["plan", "--db", &url, "--dev-url", &dev, "--out", "plans/p1"],
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = run(tmp.path(), &["apply", "--db", &url, "plans/p1"], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = run(tmp.path(), &["drift", "--db", &url, "--dev-url", &dev], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

#[test]
fn verify_ca_checks_the_signature_but_not_the_host_name() {
    let s = secure_server();
    let db = s.fresh_db("tls_verify_ca", "postgres");
    let q = format!("sslmode=verify-ca&sslrootcert={}", ca("ca.crt"));
    // 127.0.0.1 is not a name in the certificate: fine for verify-ca.
    let url = s.url("postgres", None, "127.0.0.1", &db, &q);
    let dev = s.url("postgres", None, "127.0.0.1", "postgres", &q);
    let (code, t) = drift(&url, &dev, &[]);
    assert_eq!(code, 2, "{t}");
}

#[test]
fn key_value_strings_and_environment_variables_select_tls() {
    let s = secure_server();
    let db = s.fresh_db("tls_env", "postgres");
    let kv = format!(
        "host=localhost port={} user=postgres dbname={db} sslmode=verify-full sslrootcert='{}'",
        s.port(),
        ca("ca.crt")
    );
    let dev = s.url("postgres", None, "localhost", "postgres", "");
    let root = ca("ca.crt");
    let env = [
        ("PGSSLMODE", "verify-full"),
        ("PGSSLROOTCERT", root.as_str()),
    ];
    let (code, t) = drift(&kv, &dev, &env);
    assert_eq!(code, 2, "{t}");
    // PGSSLMODE alone is enough to use TLS (the dev URL has no sslmode).
    let url = s.url("postgres", None, "localhost", &db, "");
    let (code, t) = drift(&url, &dev, &env);
    assert_eq!(code, 2, "{t}");
    // And the environment's wrong root certificate is used when the string names none.
    let other = ca("other_ca.crt");
    let env = [
        ("PGSSLMODE", "verify-full"),
        ("PGSSLROOTCERT", other.as_str()),
    ];
    let (code, t) = drift(&url, &dev, &env);
    assert_eq!(code, 1, "{t}");
    assert!(t.contains("certificate verify failed"), "{t}");
}

#[test]
fn verify_full_with_a_wrong_root_certificate_fails_clearly() {
    let s = secure_server();
    let q = format!("sslmode=verify-full&sslrootcert={}", ca("other_ca.crt"));
    let good = format!("sslmode=verify-full&sslrootcert={}", ca("ca.crt"));
    let bad = s.url("postgres", None, "localhost", "postgres", &q);
    let ok = s.url("postgres", None, "localhost", "postgres", &good);
    // Wrong root for --db, then for --dev-url.
    for (db, dev, which) in [(&bad, &ok, "--db"), (&ok, &bad, "--dev-url")] {
        let (code, t) = drift(db, dev, &[]);
        assert_eq!(code, 1, "{which}: {t}");
        assert!(t.contains("cannot connect to"), "{which}: {t}");
        assert!(t.contains("certificate verify failed"), "{which}: {t}");
        assert!(
            t.contains("is not signed by a root certificate in") && t.contains("other_ca.crt"),
            "{which}: names the root certificate used: {t}"
        );
    }
}

#[test]
fn verify_full_with_a_wrong_host_name_fails_clearly() {
    let s = secure_server();
    let q = format!("sslmode=verify-full&sslrootcert={}", ca("ca.crt"));
    let url = s.url("postgres", None, "127.0.0.1", "postgres", &q);
    let ok = s.url("postgres", None, "localhost", "postgres", &q);
    let (code, t) = drift(&url, &ok, &[]);
    assert_eq!(code, 1, "{t}");
    assert!(t.contains("mismatch"), "{t}");
    assert!(t.contains("does not name the host connected to"), "{t}");
}

#[test]
fn verify_full_without_root_certificates_says_how_to_give_them() {
    let s = secure_server();
    let url = s.url(
        "postgres",
        None,
        "localhost",
        "postgres",
        "sslmode=verify-full",
    );
    let tmp = workdir();
    // HOME without ~/.postgresql/root.crt.
    let home = tmp.path().to_string_lossy().into_owned();
    let o = run(
        tmp.path(),
        &["drift", "--db", &url, "--dev-url", &url],
        &[("HOME", home.as_str())],
    );
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(
        t.contains("needs root certificates") && t.contains("sslrootcert="),
        "{t}"
    );
}

#[test]
fn disable_against_a_tls_only_server_fails_clearly() {
    let s = secure_server();
    let url = s.url("postgres", None, "127.0.0.1", "postgres", "sslmode=disable");
    let ok = s.url("postgres", None, "127.0.0.1", "postgres", "sslmode=require");
    for (db, dev, which) in [(&url, &ok, "--db"), (&ok, &url, "--dev-url")] {
        let (code, t) = drift(db, dev, &[]);
        assert_eq!(code, 1, "{which}: {t}");
        assert!(t.contains("no encryption"), "{which}: {t}");
        assert!(t.contains("use sslmode=require"), "{which}: {t}");
    }
}

#[test]
fn invalid_sslmode_is_a_bad_connection_string() {
    let s = secure_server();
    let url = s.url(
        "postgres",
        None,
        "localhost",
        "postgres",
        "sslmode=verify-everything",
    );
    let (code, t) = drift(&url, &url, &[]);
    assert_eq!(code, 1, "{t}");
    assert!(t.contains("invalid sslmode \"verify-everything\""), "{t}");
}

/// Ctrl-C during a step over `verify-full`: the cancel request reaches the backend (sent over
/// TLS like the connection: it carries the backend's secret cancel key), the waiting concurrent
/// index build is cancelled at once and the run is recorded as interrupted.
#[test]
fn ctrl_c_over_verify_full_cancels_the_running_step() {
    let s = secure_server();
    let db = s.fresh_db("tls_interrupt", "postgres");
    let mut admin = s.admin_db(&db);
    admin
        .batch_execute(
            "CREATE TABLE public.t (id bigint PRIMARY KEY, v int);
             INSERT INTO public.t SELECT g, g FROM generate_series(1, 1000) g;",
        )
        .unwrap();
    let q = format!("sslmode=verify-full&sslrootcert={}", ca("ca.crt"));
    let url = s.url("postgres", None, "localhost", &db, &q);
    let dev = s.url("postgres", None, "localhost", "postgres", &q);
    let tmp = workdir();
    std::fs::write(
        tmp.path().join("schema/t.sql"),
        "CREATE TABLE public.t (id bigint PRIMARY KEY, v int);\n\
         CREATE INDEX t_v_idx ON public.t (v);\n",
    )
    .unwrap();
    // --small-table 0: the concurrent build, whose wait for writers is a running statement.
    let o = run(
        tmp.path(),
        &[
            "plan",
            "--db",
            &url,
            "--dev-url",
            &dev,
            "--out",
            "plans/p1",
            "--small-table",
            "0",
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    // A writer that stays open: CREATE INDEX CONCURRENTLY waits for it inside the statement.
    let mut writer = s.admin_db(&db);
    writer
        .batch_execute("BEGIN; INSERT INTO public.t VALUES (1001, 1001);")
        .unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_schemaplan"))
        .args(["apply", "--db", &url, "plans/p1", "--allow-hazards", "all"])
        .current_dir(tmp.path())
        .env_remove("DATABASE_URL")
        .env_remove("PGSSLMODE")
        .env_remove("PGSSLROOTCERT")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let building = |admin: &mut postgres::Client| {
        admin
            .query(
                "SELECT 1 FROM pg_stat_activity WHERE datname = current_database() \
                 AND application_name LIKE 'schemaplan apply%' \
                 AND query LIKE 'CREATE INDEX CONCURRENTLY%' AND wait_event_type = 'Lock'",
                &[],
            )
            .unwrap()
            .len()
            == 1
    };
    let mut seen = false;
    for _ in 0..1200 {
        if building(&mut admin) {
            seen = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    if !seen {
        let _ = child.kill();
        panic!("{}", text(&child.wait_with_output().unwrap()));
    }
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    // Without a delivered cancel the build would wait for the writer (never ending here):
    // a bound turns that into a failure instead of a hang.
    let mut exited = None;
    for _ in 0..1200 {
        if let Some(status) = child.try_wait().unwrap() {
            exited = Some(status);
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    writer.batch_execute("ROLLBACK").unwrap();
    let Some(status) = exited else {
        let _ = child.kill();
        panic!(
            "apply did not stop after SIGINT: the cancel request never reached the backend\n{}",
            text(&child.wait_with_output().unwrap())
        );
    };
    let out = text(&child.wait_with_output().unwrap());
    assert_eq!(status.code(), Some(1), "{out}");
    assert!(out.contains("recorded as interrupted"), "{out}");
}
