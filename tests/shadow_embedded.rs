//! The embedded shadow cluster: sharing between users (threads and processes), reuse of a
//! server left by a killed process, Ctrl-C cleanup, scratch databases.
//!
//! Each test uses its own cache folder, so tests do not share servers with each other or with
//! a developer's real cache. Helper processes are this test binary re-run with
//! `helper_process` selected and `SHADOW_HELPER_CACHE` set.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use schemaplan::shadow::{load, LoadStatement, Shadow, ShadowOptions};

fn cache_dir() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("sp-shadow-")
        .tempdir()
        .unwrap();
    // When root, the server runs as `nobody`, which must be able to reach the folder.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

fn opts(cache: &Path) -> ShadowOptions {
    ShadowOptions {
        cache_dir: Some(cache.to_path_buf()),
        ..Default::default()
    }
}

/// `<cache>/pg<major>/data`.
fn data_dir(cache: &Path) -> PathBuf {
    let version = std::fs::read_dir(cache)
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with("pg"))
        .expect("a pg<major> folder");
    version.path().join("data")
}

fn postmaster_pid(cache: &Path) -> Option<i32> {
    std::fs::read_to_string(data_dir(cache).join("postmaster.pid"))
        .ok()?
        .lines()
        .next()?
        .trim()
        .parse()
        .ok()
}

fn database_exists(shadow: &Shadow, name: &str) -> bool {
    let mut c = schemaplan::db::connect(&shadow.admin_url()).unwrap();
    let n: i64 = c
        .query_one(
            "SELECT count(*) FROM pg_database WHERE datname = $1",
            &[&name],
        )
        .unwrap()
        .get(0);
    n == 1
}

/// Not a test: the body of helper processes (does nothing unless `SHADOW_HELPER_CACHE` is set).
#[test]
#[ignore]
fn helper_process() {
    let Ok(cache) = std::env::var("SHADOW_HELPER_CACHE") else {
        return;
    };
    let shadow = Shadow::start(&opts(Path::new(&cache))).unwrap();
    let scratch = shadow.scratch("helper").unwrap();
    println!("READY {}", scratch.name);
    use std::io::Write;
    std::io::stdout().flush().unwrap();
    std::thread::sleep(Duration::from_secs(120));
    drop(scratch);
}

/// Starts a helper process and waits until it reports its scratch database name.
fn spawn_helper(cache: &Path) -> (Child, String) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["helper_process", "--exact", "--ignored", "--nocapture"])
        .args(["--test-threads", "1"])
        .env("SHADOW_HELPER_CACHE", cache)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        // libtest prints "test helper_process ... " before the body runs, on the same line.
        if let Some((_, name)) = line.split_once("READY ") {
            return (child, name.trim().to_string());
        }
    }
    panic!("helper exited without READY: {:?}", child.wait());
}

#[test]
fn two_users_share_one_server_and_the_last_stops_it() {
    let cache = cache_dir();
    let a = Shadow::start(&opts(cache.path())).unwrap_or_else(|e| panic!("{e}"));
    assert!(a.is_embedded());
    let b = Shadow::start(&opts(cache.path())).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(a.admin_url(), b.admin_url());
    assert!(a.admin_url().starts_with("postgresql://postgres@%2F"));
    let pid = postmaster_pid(cache.path()).expect("server running");

    let scratch = a.scratch("desired").unwrap();
    assert!(scratch.name.ends_with("_desired"));
    let mut c = scratch.connect().unwrap();
    c.batch_execute("CREATE TABLE t (id int)").unwrap();
    let name = scratch.name.clone();
    drop(scratch);
    assert!(!database_exists(&b, &name));

    drop(a);
    assert_eq!(postmaster_pid(cache.path()), Some(pid), "b still uses it");
    let s2 = b.scratch("current").unwrap();
    s2.connect().unwrap();
    drop(s2);
    drop(b);
    assert_eq!(
        postmaster_pid(cache.path()),
        None,
        "last user stops the server"
    );

    // Starting again reuses the data directory: no initdb, just a server start.
    let t = Instant::now();
    let c = Shadow::start(&opts(cache.path())).unwrap();
    eprintln!("warm start took {:?}", t.elapsed());
    assert!(c.server_version_num() >= 100_000);
    drop(c);
    assert_eq!(postmaster_pid(cache.path()), None);
}

#[test]
fn concurrent_first_starts_initialize_once() {
    let cache = cache_dir();
    let barrier = Arc::new(Barrier::new(3));
    let handles: Vec<_> = (0..3)
        .map(|_| {
            let barrier = barrier.clone();
            let o = opts(cache.path());
            std::thread::spawn(move || {
                barrier.wait();
                let s = Shadow::start(&o).unwrap_or_else(|e| panic!("{e}"));
                let db = s.scratch("concurrent").unwrap();
                let mut c = db.connect().unwrap();
                load(
                    &mut c,
                    &[LoadStatement {
                        sql: "CREATE TABLE x (id int)".into(),
                        origin: "x.sql:1:1".into(),
                    }],
                )
                .unwrap();
                drop(c);
                drop(db);
                let url = s.admin_url();
                // Keep every shadow alive until all have been started and used.
                barrier.wait();
                drop(s);
                url
            })
        })
        .collect();
    let urls: Vec<String> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert!(urls.windows(2).all(|w| w[0] == w[1]));
    assert_eq!(postmaster_pid(cache.path()), None);
}

#[test]
fn server_of_a_killed_process_is_reused_and_its_scratch_dropped() {
    let cache = cache_dir();
    let (mut helper, helper_db) = spawn_helper(cache.path());
    let pid = postmaster_pid(cache.path()).expect("helper started the server");
    helper.kill().unwrap(); // SIGKILL: no cleanup at all
    helper.wait().unwrap();

    let s = Shadow::start(&opts(cache.path())).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        postmaster_pid(cache.path()),
        Some(pid),
        "stale server reused"
    );
    assert!(
        !database_exists(&s, &helper_db),
        "scratch database of the dead process is dropped"
    );
    drop(s);
    assert_eq!(postmaster_pid(cache.path()), None);
}

#[test]
fn ctrl_c_drops_scratch_databases_and_exits_130() {
    let cache = cache_dir();
    let s = Shadow::start(&opts(cache.path())).unwrap_or_else(|e| panic!("{e}"));
    let (mut helper, helper_db) = spawn_helper(cache.path());
    assert!(database_exists(&s, &helper_db));
    // SAFETY: signalling our own child.
    unsafe { libc::kill(helper.id() as i32, libc::SIGINT) };
    let status = helper.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    assert!(!database_exists(&s, &helper_db));
    assert!(postmaster_pid(cache.path()).is_some(), "we still use it");
    drop(s);
    assert_eq!(postmaster_pid(cache.path()), None);
}

#[test]
fn version_warning_compares_major_versions() {
    let cache = cache_dir();
    let s = Shadow::start(&opts(cache.path())).unwrap();
    let v = s.server_version_num();
    assert_eq!(s.version_warning(v - v % 10_000 + 99), None);
    let w = s.version_warning(v + 10_000).expect("different major");
    assert!(w.contains(&format!("PostgreSQL {}", v / 10_000 + 1)), "{w}");
}

#[test]
fn stale_pid_file_and_broken_data_directory_are_recovered() {
    let cache = cache_dir();
    drop(Shadow::start(&opts(cache.path())).unwrap());
    let data = data_dir(cache.path());
    // A postmaster.pid left by a crash whose PID now belongs to an unrelated live process.
    std::fs::write(
        data.join("postmaster.pid"),
        format!(
            "{}\n{}\n0\n5432\n\n\n0 0\nready\n",
            std::process::id(),
            data.display()
        ),
    )
    .unwrap();
    let s = Shadow::start(&opts(cache.path())).unwrap_or_else(|e| panic!("{e}"));
    s.scratch("after_stale_pid").unwrap();
    drop(s);
    // A data directory that cannot start any more is a cache: initialized again.
    std::fs::remove_file(data.join("global/pg_control")).unwrap();
    let s = Shadow::start(&opts(cache.path())).unwrap_or_else(|e| panic!("{e}"));
    s.scratch("after_repair").unwrap();
    drop(s);
    assert_eq!(postmaster_pid(cache.path()), None);
}
