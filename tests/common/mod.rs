//! Test harness shared by the integration tests: one PostgreSQL server per test process.
//!
//! - `SCHEMAPLAN_TEST_URL` set: that server is used (any database; `url(db)` points at others).
//! - Otherwise a temporary cluster is initialized from the local binaries (found like the
//!   embedded shadow finds them; as `nobody` when root) and listens on 127.0.0.1 on a free
//!   port with durability off. It is stopped and deleted when the test process exits (an
//!   `atexit` hook), and the kernel kills it if the process dies (`PR_SET_PDEATHSIG`); a
//!   directory left by a killed run is removed by the next run.
//!
//! Usage: `mod common;` then `let (name, url) = common::server().fresh_db("case");`.
#![allow(dead_code)]

pub mod cached;
pub mod case;
pub mod oracle;
pub mod project;
pub mod proof;
pub mod schemas;
pub mod secure;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use schemaplan::shadow::cluster::{self, Cluster, StartOptions};

/// The test server of this process.
pub struct TestServer {
    /// URL of the `postgres` database (or of `SCHEMAPLAN_TEST_URL` as given).
    admin_url: String,
    port: u16,
}

static SERVER: OnceLock<TestServer> = OnceLock::new();
/// The temporary cluster, taken and stopped by the exit hook.
static CLUSTER: Mutex<Option<Cluster>> = Mutex::new(None);
static DB_COUNTER: AtomicU64 = AtomicU64::new(0);

/// The process-wide test server, started on first use.
pub fn server() -> &'static TestServer {
    SERVER.get_or_init(|| match std::env::var("SCHEMAPLAN_TEST_URL") {
        Ok(url) if !url.is_empty() => {
            let port = schemaplan::db::parse(&url)
                .ok()
                .and_then(|c| c.get_ports().first().copied())
                .unwrap_or(5432);
            TestServer {
                admin_url: url,
                port,
            }
        }
        _ => start_temp_server(),
    })
}

fn start_temp_server() -> TestServer {
    let bindir = cluster::find_bindir(None).expect("PostgreSQL binaries for the test server");
    let mut last_err = None;
    // A free port can be taken by someone else between probing and binding: retry.
    for _ in 0..5 {
        let port = cluster::free_port().expect("a free TCP port");
        let mut c = Cluster::init_temp(&bindir, port).expect("initdb for the test server");
        match c.start(StartOptions {
            detach: false,
            die_with_parent: true,
        }) {
            Ok(()) => {
                let admin_url = c.admin_url();
                *CLUSTER.lock().unwrap() = Some(c);
                // SAFETY: registering a plain extern "C" function.
                unsafe { libc::atexit(stop_at_exit) };
                return TestServer { admin_url, port };
            }
            Err(e) => last_err = Some(e),
        }
    }
    panic!("cannot start the test server: {}", last_err.unwrap());
}

extern "C" fn stop_at_exit() {
    let taken = match CLUSTER.lock() {
        Ok(mut g) => g.take(),
        Err(p) => p.into_inner().take(),
    };
    // Dropping a temporary cluster stops the server and deletes its directory.
    drop(taken);
}

impl TestServer {
    /// URL of database `db` on this server.
    pub fn url(&self, db: &str) -> String {
        schemaplan::db::with_database(&self.admin_url, db)
    }

    /// URL of the `postgres` database (or `SCHEMAPLAN_TEST_URL` as given).
    pub fn admin_url(&self) -> String {
        self.admin_url.clone()
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `server_version_num` of this server (e.g. 130023, 180004): tests that use syntax or
    /// catalog columns of newer majors branch on it (the version matrix, `scripts/pg-matrix`,
    /// runs them against PostgreSQL 13 to 18).
    pub fn version_num(&self) -> u32 {
        static V: OnceLock<u32> = OnceLock::new();
        *V.get_or_init(|| {
            self.connect("postgres")
                .query_one("SELECT current_setting('server_version_num')::int", &[])
                .map(|r| r.get::<_, i32>(0) as u32)
                .unwrap_or_else(|e| panic!("server_version_num: {e}"))
        })
    }

    /// A new connection to database `db`.
    pub fn connect(&self, db: &str) -> postgres::Client {
        schemaplan::db::connect(&self.url(db)).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Creates a new, empty, uniquely named database (`<prefix>_<pid>_<n>`, prefix sanitized)
    /// and returns its name and URL.
    pub fn fresh_db(&self, prefix: &str) -> (String, String) {
        let prefix: String = prefix
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .take(40)
            .collect();
        let name = format!(
            "{prefix}_{}_{}",
            std::process::id(),
            DB_COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        let mut admin = schemaplan::db::connect(&self.admin_url).unwrap_or_else(|e| panic!("{e}"));
        admin
            .batch_execute(&format!("CREATE DATABASE \"{name}\" TEMPLATE template0"))
            .unwrap_or_else(|e| {
                panic!("CREATE DATABASE {name}: {}", schemaplan::db::error_text(&e))
            });
        let url = self.url(&name);
        (name, url)
    }

    /// Drops a database made by `fresh_db` (optional: temporary servers vanish anyway).
    pub fn drop_db(&self, name: &str) {
        let mut admin = schemaplan::db::connect(&self.admin_url).unwrap_or_else(|e| panic!("{e}"));
        let _ = admin.batch_execute(&format!(
            "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
            name.replace('"', "\"\"")
        ));
    }

    /// Creates the roles that do not exist yet (cluster-wide, no login). Concurrent creation by
    /// another test is tolerated.
    pub fn ensure_roles(&self, roles: &[&str]) {
        let mut admin = schemaplan::db::connect(&self.admin_url).unwrap_or_else(|e| panic!("{e}"));
        for role in roles {
            let lit = role.replace('\'', "''");
            let ident = role.replace('"', "\"\"");
            let sql = format!(
                "DO $$BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{lit}') \
                 THEN CREATE ROLE \"{ident}\"; END IF; END$$"
            );
            if let Err(e) = admin.batch_execute(&sql) {
                let code = e.code().map(|c| c.code().to_string());
                // 42710 duplicate_object / 23505 unique_violation: created concurrently.
                if code.as_deref() != Some("42710") && code.as_deref() != Some("23505") {
                    panic!("CREATE ROLE {role}: {}", schemaplan::db::error_text(&e));
                }
            }
        }
    }

    /// Runs the corpus's `roles.sql` (`../shared/corpus/roles.sql`), once per process.
    pub fn ensure_corpus_roles(&self) {
        static DONE: OnceLock<()> = OnceLock::new();
        DONE.get_or_init(|| {
            let path =
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/roles.sql");
            let sql = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let mut admin =
                schemaplan::db::connect(&self.admin_url).unwrap_or_else(|e| panic!("{e}"));
            // Idempotent script: a concurrent run by another test process can make it fail
            // with duplicate_object / unique_violation; running it again then succeeds.
            for attempt in 0..3 {
                match admin.batch_execute(&sql) {
                    Ok(()) => break,
                    Err(e) if attempt < 2 => {
                        let _ = e;
                    }
                    Err(e) => panic!("{}: {}", path.display(), schemaplan::db::error_text(&e)),
                }
            }
        });
    }
}

/// Runs the `schemaplan` binary built for these tests in `cwd`, with no connection settings
/// inherited from the environment and no standard input.
pub fn schemaplan(cwd: &std::path::Path, args: &[&str]) -> std::process::Output {
    schemaplan_command(cwd, args)
        .output()
        .expect("run schemaplan")
}

/// The command [`schemaplan`] runs, for a caller that adds to it (environment variables).
pub fn schemaplan_command(cwd: &std::path::Path, args: &[&str]) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_schemaplan"));
    cmd.args(args)
        .current_dir(cwd)
        .env_remove("DATABASE_URL")
        .env_remove("SCHEMAPLAN_DEV_URL")
        .env_remove("SCHEMAPLAN_ENV")
        .env_remove("SCHEMAPLAN_CONFIG")
        .stdin(std::process::Stdio::null());
    cmd
}

/// `schemaplan plan -v --db db --out out` (and `extra`) in `cwd` with cache folder `cache`
/// and `SCHEMAPLAN_TIMINGS=1`, asserted to succeed: what it printed (notes and stage timings).
pub fn plan_logged(
    cwd: &std::path::Path,
    cache: &std::path::Path,
    db: &str,
    out: &str,
    extra: &[&str],
) -> String {
    let args = [&["plan", "-v", "--db", db, "--out", out], extra].concat();
    let o = schemaplan_command(cwd, &args)
        .env("SCHEMAPLAN_CACHE_DIR", cache)
        .env("SCHEMAPLAN_TIMINGS", "1")
        .output()
        .expect("run schemaplan plan");
    let text = output_text(&o);
    assert_eq!(exit_code(&o), 0, "plan {out}:\n{text}");
    text
}

/// The files of folder `dir` (a plan's), by name: for byte-for-byte comparisons of plans.
pub fn files_of(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let bytes = std::fs::read(e.path()).unwrap();
            (e.file_name().to_string_lossy().to_string(), bytes)
        })
        .collect();
    v.sort();
    v
}

/// What a run printed, stdout then stderr (for assertions and failure messages).
pub fn output_text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The exit code of a run (-1 when a signal ended it).
pub fn exit_code(o: &std::process::Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

/// Runs `schemaplan` in `cwd`, asserts its exit code is `want`, returns what it printed.
pub fn schemaplan_expect(cwd: &std::path::Path, args: &[&str], want: i32) -> String {
    let o = schemaplan(cwd, args);
    let t = output_text(&o);
    assert_eq!(exit_code(&o), want, "schemaplan {args:?}:\n{t}");
    t
}

/// A database created for one test on the shared test server, loaded with SQL, dropped when
/// the value goes out of scope.
pub struct LoadedDb {
    pub name: String,
    pub client: postgres::Client,
}

impl LoadedDb {
    /// A fresh database loaded with `sql` (roles `reader` and `app_user` exist).
    pub fn with(tag: &str, sql: &str) -> LoadedDb {
        let server = server();
        server.ensure_roles(&["reader", "app_user"]);
        let (name, _url) = server.fresh_db(&format!("catalog_{tag}"));
        let mut client = server.connect(&name);
        client
            .batch_execute(sql)
            .unwrap_or_else(|e| panic!("loading fixture into {name}: {e:?}"));
        LoadedDb { name, client }
    }
}

impl Drop for LoadedDb {
    fn drop(&mut self) {
        server().drop_db(&self.name);
    }
}

/// Whether `schemaplan status` output `text` has a row for plan `id` in state `state` (the
/// table's first two columns).
pub fn status_row(text: &str, state: &str, id: &str) -> bool {
    text.lines().any(|l| {
        let l = l.trim_start();
        l.starts_with(state)
            && l[state.len()..].starts_with(' ')
            && l[state.len()..].split_whitespace().next() == Some(id)
    })
}

/// A cache folder for one test's embedded shadow cluster (`SCHEMAPLAN_CACHE_DIR`): in memory
/// when the machine has /dev/shm (warm-shadow tests create and drop hundreds of databases),
/// reachable by `nobody` (the server's user when the tests run as root).
#[allow(dead_code)]
pub fn shadow_cache_dir(prefix: &str) -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let mut b = tempfile::Builder::new();
    b.prefix(prefix);
    let dir = match std::path::Path::new("/dev/shm").is_dir() {
        true => b.tempdir_in("/dev/shm").or_else(|_| b.tempdir()),
        false => b.tempdir(),
    }
    .unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}
