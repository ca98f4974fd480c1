//! A second test server for TLS and password authentication: `ssl = on` with a certificate
//! signed by a CA generated here (`openssl` CLI), and a `pg_hba.conf` that accepts TCP
//! connections only over TLS (`hostssl`): role `alice` with a SCRAM password, every other role
//! trusted. The superuser reaches it over the private unix socket (trust). One per test
//! process, started on first use, stopped at exit.
//!
//! Files in `certs()`: `ca.crt` (the right root), `other_ca.crt` (an unrelated root), the
//! server's certificate names only `DNS:localhost` (so `127.0.0.1` is a wrong host name for
//! `verify-full`).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

use schemaplan::shadow::cluster::{self, Cluster, RunAs, StartOptions};

/// The password of role `alice` (SCRAM): tests check it never appears anywhere.
/// URL-special characters on purpose: it is percent-encoded in URLs.
pub const ALICE_PASSWORD: &str = "Al1ce/S3cr@t%pw";

pub struct SecureServer {
    port: u16,
    socket_url: String,
    certs: PathBuf,
}

static SERVER: OnceLock<SecureServer> = OnceLock::new();
static CLUSTER: Mutex<Option<Cluster>> = Mutex::new(None);

pub fn secure_server() -> &'static SecureServer {
    SERVER.get_or_init(start)
}

extern "C" fn stop_at_exit() {
    let taken = match CLUSTER.lock() {
        Ok(mut g) => g.take(),
        Err(p) => p.into_inner().take(),
    };
    drop(taken);
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl command (package openssl)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn make_certs(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let subj = |cn: &str| format!("/CN={cn}");
    for (key, crt, cn) in [
        ("ca.key", "ca.crt", "schemaplan test CA"),
        ("other_ca.key", "other_ca.crt", "unrelated CA"),
    ] {
        openssl(
            dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-keyout",
                key,
                "-out",
                crt,
                "-subj",
                &subj(cn),
            ],
        );
    }
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ],
    );
    std::fs::write(dir.join("san.ext"), "subjectAltName=DNS:localhost\n").unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-out",
            "server.crt",
            "-extfile",
            "san.ext",
        ],
    );
}

fn start() -> SecureServer {
    let bindir = cluster::find_bindir(None).expect("PostgreSQL binaries");
    let port = cluster::free_port().expect("a free port");
    let mut c = Cluster::init_temp(&bindir, port).expect("initdb for the TLS test server");
    let certs = c.base_dir().join("certs");
    make_certs(&certs);
    let run_as = RunAs::for_current_process().unwrap();
    use std::os::unix::fs::PermissionsExt;
    for f in ["server.key", "server.crt"] {
        let p = certs.join(f);
        if let Some(u) = &run_as {
            u.chown(&p).unwrap();
        }
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    std::fs::set_permissions(&certs, std::fs::Permissions::from_mode(0o755)).unwrap();
    let data = c.data_dir();
    let mut conf = std::fs::read_to_string(data.join("postgresql.conf")).unwrap();
    conf.push_str(&format!(
        "\nssl = on\nssl_cert_file = '{}'\nssl_key_file = '{}'\n\
         password_encryption = 'scram-sha-256'\n",
        certs.join("server.crt").display(),
        certs.join("server.key").display()
    ));
    std::fs::write(data.join("postgresql.conf"), conf).unwrap();
    std::fs::write(
        data.join("pg_hba.conf"),
        "local all all trust\n\
         hostssl all alice 127.0.0.1/32 scram-sha-256\n\
         hostssl all alice ::1/128 scram-sha-256\n\
         hostssl all all 127.0.0.1/32 trust\n\
         hostssl all all ::1/128 trust\n",
    )
    .unwrap();
    c.start(StartOptions {
        detach: false,
        die_with_parent: true,
    })
    .expect("start the TLS test server");
    let socket_url = format!(
        "postgresql://postgres@{}:{port}/postgres",
        schemaplan::db::percent_encode(&c.socket_dir().to_string_lossy())
    );
    let mut admin = schemaplan::db::connect(&socket_url).unwrap_or_else(|e| panic!("{e}"));
    admin
        .batch_execute(&format!(
            "CREATE ROLE alice LOGIN CREATEDB PASSWORD '{ALICE_PASSWORD}'"
        ))
        .unwrap();
    *CLUSTER.lock().unwrap() = Some(c);
    // SAFETY: registering a plain extern "C" function.
    unsafe { libc::atexit(stop_at_exit) };
    SecureServer {
        port,
        socket_url,
        certs,
    }
}

impl SecureServer {
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Where `ca.crt` and `other_ca.crt` are.
    pub fn certs(&self) -> &Path {
        &self.certs
    }

    /// A superuser connection over the unix socket.
    pub fn admin(&self) -> postgres::Client {
        schemaplan::db::connect(&self.socket_url).unwrap_or_else(|e| panic!("{e}"))
    }

    /// A superuser connection to database `db` over the unix socket.
    pub fn admin_db(&self, db: &str) -> postgres::Client {
        let url = schemaplan::db::with_database(&self.socket_url, db);
        schemaplan::db::connect(&url).unwrap_or_else(|e| panic!("{e}"))
    }

    /// A new database owned by `owner`.
    pub fn fresh_db(&self, name: &str, owner: &str) -> String {
        let name = format!("{name}_{}", std::process::id());
        let mut admin = self.admin();
        admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))
            .unwrap();
        admin
            .batch_execute(&format!(
                "CREATE DATABASE {name} OWNER {owner} TEMPLATE template0"
            ))
            .unwrap();
        name
    }

    /// `postgresql://USER[:PASSWORD]@HOST:PORT/DB?QUERY`.
    pub fn url(
        &self,
        user: &str,
        password: Option<&str>,
        host: &str,
        db: &str,
        query: &str,
    ) -> String {
        let auth = match password {
            Some(p) => format!("{user}:{}", schemaplan::db::percent_encode(p)),
            None => user.to_string(),
        };
        let q = if query.is_empty() {
            String::new()
        } else {
            format!("?{query}")
        };
        format!("postgresql://{auth}@{host}:{}/{db}{q}", self.port)
    }
}
