//! A PostgreSQL cluster run from the local binaries: finding the binaries, `initdb`, starting
//! and stopping the server. Used by the embedded shadow (a cluster kept in the cache folder and
//! shared between processes) and by the test harness (a temporary cluster per test process).
//!
//! Mechanics worth knowing:
//! - PostgreSQL refuses to run as root. When we are root, every server program (`initdb`,
//!   `postgres`) runs as `nobody:nogroup` and the directories it writes are chowned to it.
//! - The server is spawned directly (not through `pg_ctl`) and readiness is read from line 8
//!   of `postmaster.pid` ("ready"), polled every few milliseconds: starting an existing cluster
//!   takes about as long as PostgreSQL's own startup (~100 ms), not pg_ctl's 100 ms poll steps.
//! - Stopping sends SIGINT (PostgreSQL's "fast" shutdown) to the postmaster and waits until it
//!   removes `postmaster.pid`, which it does last; SIGQUIT after a grace period.
//! - A detached server (`StartOptions::detach`) gets its own session (`setsid`) so a Ctrl-C on
//!   the terminal, which signals the whole foreground process group, does not reach it.
//! - A server that must not outlive its process (`StartOptions::die_with_parent`) is forked
//!   from a helper thread that never exits and gets `PR_SET_PDEATHSIG = SIGQUIT`: the kernel
//!   sends that signal when the *thread* that forked it dies, so forking from a short-lived
//!   test thread would kill the server too early.
//!
//! Where each part lives: `binaries` finds the server programs and the user they run as;
//! `temp` the temporary clusters of tests (where, a template to copy, free ports, stale ones
//! reaped); this file a cluster's life (init, start, stop).

mod binaries;
mod temp;

pub use binaries::{find_bindir, major_version, RunAs};
pub use temp::{free_port, reap_stale_temps, temp_parent, template_data_dir};

use std::fs;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Errors of finding, initializing, starting or stopping a local cluster.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error(
        "no PostgreSQL server binaries (initdb, postgres) found; tried: {tried}. Install \
         PostgreSQL, set SCHEMAPLAN_PG_BINDIR, or use --dev-url"
    )]
    NoBinaries { tried: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{program} failed ({status}):\n{output}")]
    Command {
        program: String,
        status: String,
        output: String,
    },
    #[error("cannot read the PostgreSQL version from `{program} --version` output: {output:?}")]
    Version { program: String, output: String },
    #[error(
        "PostgreSQL server in {data_dir} did not start: {reason}\n--- last lines of {log} ---\n{log_tail}"
    )]
    Start {
        data_dir: PathBuf,
        reason: String,
        log: PathBuf,
        log_tail: String,
    },
    #[error("PostgreSQL server in {data_dir} did not stop: {reason}")]
    Stop { data_dir: PathBuf, reason: String },
    #[error(
        "unix socket path {path} is {len} bytes long, the limit is 107; use a shorter cache \
         directory (SCHEMAPLAN_CACHE_DIR)"
    )]
    SocketPathTooLong { path: PathBuf, len: usize },
    #[error(
        "running as root, PostgreSQL must run as an unprivileged user, but no user `nobody` exists"
    )]
    NoServerUser,
    #[error(
        "{path} is not reachable by the unprivileged server user (uid {uid}): directory {blocking} \
         is not searchable by others; choose another directory (SCHEMAPLAN_CACHE_DIR)"
    )]
    NotReachable {
        path: PathBuf,
        uid: u32,
        blocking: PathBuf,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> ClusterError + '_ {
    move |source| ClusterError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// How to start a server.
#[derive(Clone, Copy, Debug, Default)]
pub struct StartOptions {
    /// Own session: survives our exit and ignores the terminal's Ctrl-C (shared embedded server).
    pub detach: bool,
    /// Killed (SIGQUIT) by the kernel when this process dies, even by `kill -9` (test servers).
    pub die_with_parent: bool,
}

/// A cluster: a data directory plus how its server is reached.
///
/// Layout under `base`: `data/` (PGDATA), `sock/` (private unix socket directory),
/// `server.log`.
#[derive(Debug)]
pub struct Cluster {
    bindir: PathBuf,
    base: PathBuf,
    port: u16,
    /// TCP listen address (`127.0.0.1`), or `None` for unix socket only.
    listen: Option<String>,
    run_as: Option<RunAs>,
    child: Option<Child>,
    /// Temporary cluster: stop the server and delete `base` on drop.
    temporary: bool,
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Settings appended to `postgresql.conf` at initdb: a throw-away cluster wants speed, not
/// durability. `max_locks_per_transaction` (64 by default): an incremental update runs in one
/// transaction (`shadow::warm`), which locks every object it drops and makes; with the default
/// a change to ~5% of a 5,000-table schema runs out of lock slots and is done again on a copy. `check_function_bodies` is left at its default on purpose (loading sets it
/// per session).
const CONF: &str = "
# --- added by schemaplan: a throw-away cluster, durability is not wanted ---
fsync = off
full_page_writes = off
synchronous_commit = off
wal_level = minimal
max_wal_senders = 0
checkpoint_timeout = 1h
shared_buffers = 32MB
max_locks_per_transaction = 512
jit = off
timezone = 'UTC'
log_timezone = 'UTC'
log_line_prefix = '%m [%p] '
";

impl Cluster {
    /// A cluster living in `base` (created if missing, given to the server user when root).
    /// Nothing is initialized or started yet.
    pub fn new(
        bindir: &Path,
        base: &Path,
        port: u16,
        listen: Option<&str>,
    ) -> Result<Cluster, ClusterError> {
        let run_as = RunAs::for_current_process()?;
        let c = Cluster {
            bindir: bindir.to_path_buf(),
            base: base.to_path_buf(),
            port,
            listen: listen.map(str::to_string),
            run_as,
            child: None,
            temporary: false,
        };
        let sock = c.socket_file();
        let len = sock.as_os_str().len();
        if len > 107 {
            return Err(ClusterError::SocketPathTooLong { path: sock, len });
        }
        for dir in [c.base.clone(), c.socket_dir()] {
            if !dir.is_dir() {
                fs::create_dir_all(&dir).map_err(io_err(&dir))?;
            }
            fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).map_err(io_err(&dir))?;
            if let Some(u) = &c.run_as {
                u.chown(&dir)?;
            }
        }
        if let Some(u) = &c.run_as {
            u.check_reachable(&c.socket_dir())?;
        }
        Ok(c)
    }

    /// A fresh, initialized (not started) temporary cluster listening on `127.0.0.1:port`, in
    /// a new directory under [`temp_parent`]. Dropping it stops the server and deletes the
    /// directory; clusters left behind by killed processes are removed first.
    pub fn init_temp(bindir: &Path, port: u16) -> Result<Cluster, ClusterError> {
        reap_stale_temps();
        let base = temp_parent().join(format!(
            "schemaplan-test-{}-{}",
            std::process::id(),
            TEMP_COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        if base.exists() {
            fs::remove_dir_all(&base).map_err(io_err(&base))?;
        }
        let mut c = Cluster::new(bindir, &base, port, Some("127.0.0.1"))?;
        c.temporary = true;
        let owner = base.join("owner.pid");
        fs::write(&owner, std::process::id().to_string()).map_err(io_err(&owner))?;
        // Copying a pristine cluster kept in the cache is several times faster than initdb
        // (which also costs CPU the other engineers' builds need); initdb when that fails.
        let copied = template_data_dir(bindir)
            .and_then(|t| c.init_from_copy(&t))
            .is_ok();
        if !copied {
            c.init()?;
        }
        Ok(c)
    }

    /// Initializes by copying the data directory `template` (a stopped, pristine cluster of
    /// the same major version). Sparse copy: the zero-filled WAL segment costs nothing.
    pub fn init_from_copy(&self, template: &Path) -> Result<(), ClusterError> {
        let tmp = self.base.join("data.tmp");
        if tmp.exists() {
            fs::remove_dir_all(&tmp).map_err(io_err(&tmp))?;
        }
        let mut cmd = Command::new("cp");
        cmd.args(["-a", "--sparse=always"])
            .arg(template)
            .arg(&tmp)
            .current_dir(&self.base)
            .stdin(Stdio::null());
        if let Some(u) = &self.run_as {
            // Run as the owner of the template so ownership is preserved.
            cmd.uid(u.uid).gid(u.gid);
        }
        let out = cmd.output().map_err(io_err(Path::new("cp")))?;
        if !out.status.success() {
            let _ = fs::remove_dir_all(&tmp);
            return Err(ClusterError::Command {
                program: "cp".into(),
                status: out.status.to_string(),
                output: String::from_utf8_lossy(&out.stderr).into_owned(),
            });
        }
        // A copy taken from a cluster that was running would carry its pid file.
        let _ = fs::remove_file(tmp.join("postmaster.pid"));
        let data = self.data_dir();
        if data.exists() {
            fs::remove_dir_all(&data).map_err(io_err(&data))?;
        }
        fs::rename(&tmp, &data).map_err(io_err(&data))?;
        Ok(())
    }

    pub fn bindir(&self) -> &Path {
        &self.bindir
    }
    pub fn base_dir(&self) -> &Path {
        &self.base
    }
    pub fn data_dir(&self) -> PathBuf {
        self.base.join("data")
    }
    pub fn socket_dir(&self) -> PathBuf {
        self.base.join("sock")
    }
    pub fn socket_file(&self) -> PathBuf {
        self.socket_dir().join(format!(".s.PGSQL.{}", self.port))
    }
    pub fn log_file(&self) -> PathBuf {
        self.base.join("server.log")
    }
    pub fn port(&self) -> u16 {
        self.port
    }

    /// URL of database `db` as superuser `postgres` (TCP when listening on TCP, else the
    /// private unix socket, percent-encoded as the URL host).
    pub fn url(&self, db: &str) -> String {
        let host = match &self.listen {
            Some(addr) => addr.clone(),
            None => crate::db::percent_encode(&self.socket_dir().to_string_lossy()),
        };
        format!(
            "postgresql://postgres@{host}:{}/{}",
            self.port,
            crate::db::percent_encode(db)
        )
    }

    /// URL of the `postgres` database.
    pub fn admin_url(&self) -> String {
        self.url("postgres")
    }

    /// Whether `initdb` has completed here.
    pub fn is_initialized(&self) -> bool {
        self.data_dir().join("PG_VERSION").is_file()
    }

    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(self.bindir.join(program));
        cmd.current_dir(&self.base).stdin(Stdio::null());
        for var in [
            "PGDATA",
            "PGPORT",
            "PGHOST",
            "PGUSER",
            "PGDATABASE",
            "PGOPTIONS",
        ] {
            cmd.env_remove(var);
        }
        if let Some(u) = &self.run_as {
            cmd.uid(u.uid).gid(u.gid);
        }
        cmd
    }

    /// Runs `initdb` into `data.tmp` and renames it to `data` once complete, so a killed
    /// initdb never leaves a half-made cluster that looks usable.
    pub fn init(&self) -> Result<(), ClusterError> {
        let tmp = self.base.join("data.tmp");
        let mut last = None;
        for locale in ["C.UTF-8", "C"] {
            if tmp.exists() {
                fs::remove_dir_all(&tmp).map_err(io_err(&tmp))?;
            }
            let out = self
                .command("initdb")
                .arg("-D")
                .arg(&tmp)
                .args(["-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"])
                .arg(format!("--locale={locale}"))
                .env("LC_ALL", "C")
                .output()
                .map_err(io_err(&self.bindir.join("initdb")))?;
            if out.status.success() {
                last = None;
                break;
            }
            last = Some(ClusterError::Command {
                program: format!("initdb (locale {locale})"),
                status: out.status.to_string(),
                output: format!(
                    "{}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                ),
            });
        }
        if let Some(e) = last {
            return Err(e);
        }
        let conf = tmp.join("postgresql.conf");
        let mut text = fs::read_to_string(&conf).map_err(io_err(&conf))?;
        text.push_str(CONF);
        fs::write(&conf, text).map_err(io_err(&conf))?;
        let data = self.data_dir();
        if data.exists() {
            fs::remove_dir_all(&data).map_err(io_err(&data))?;
        }
        fs::rename(&tmp, &data).map_err(io_err(&data))?;
        Ok(())
    }

    /// Lines of `postmaster.pid`, if present.
    fn pid_file(&self) -> Option<Vec<String>> {
        fs::read_to_string(self.data_dir().join("postmaster.pid"))
            .ok()
            .map(|t| t.lines().map(str::to_string).collect())
    }

    /// PID of a live postmaster serving this data directory, if any.
    pub fn running_pid(&self) -> Option<i32> {
        let pid: i32 = self.pid_file()?.first()?.trim().parse().ok()?;
        if pid <= 0 || !process_alive(pid) {
            return None;
        }
        // The PID may have been reused by an unrelated process after a crash: a postmaster
        // runs `postgres` with its data directory as working directory.
        let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if !comm.trim().starts_with("postgres") {
            return None;
        }
        if let (Ok(cwd), Ok(data)) = (
            fs::read_link(format!("/proc/{pid}/cwd")),
            fs::canonicalize(self.data_dir()),
        ) {
            if cwd != data {
                return None;
            }
        }
        Some(pid)
    }

    /// Whether a postmaster is running here and reports itself ready for connections.
    pub fn is_ready(&self) -> bool {
        let Some(lines) = self.pid_file() else {
            return false;
        };
        // Line 8 (PostgreSQL 10+): "starting", "stopping", "ready", "standby".
        lines.get(7).map(|s| s.trim()) == Some("ready")
            && self.running_pid().is_some()
            && self.socket_file().exists()
    }

    /// Starts the server unless one is already running and ready. Returns `true` when this
    /// call started it. A server that is starting up or shutting down is waited for.
    pub fn ensure_running(&mut self, opts: StartOptions) -> Result<bool, ClusterError> {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.running_pid().is_some() && !self.is_ready() {
            if Instant::now() > deadline {
                return Err(self.start_error("an existing server never became ready".into()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if self.is_ready() {
            return Ok(false);
        }
        self.start(opts)?;
        Ok(true)
    }

    /// Starts the server and waits until it accepts connections.
    pub fn start(&mut self, opts: StartOptions) -> Result<(), ClusterError> {
        // Leftovers of a crashed server whose PID now belongs to someone else would make
        // PostgreSQL refuse to start; a dead PID it handles itself, but clean both.
        if self.running_pid().is_none() {
            let _ = fs::remove_file(self.data_dir().join("postmaster.pid"));
            let mut lock = self.socket_file().into_os_string();
            lock.push(".lock");
            let _ = fs::remove_file(&lock);
        }
        let log_path = self.log_file();
        let log = fs::File::create(&log_path).map_err(io_err(&log_path))?;
        if let Some(u) = &self.run_as {
            u.chown(&log_path)?;
        }
        let log2 = log.try_clone().map_err(io_err(&log_path))?;
        let mut cmd = self.command("postgres");
        cmd.arg("-D")
            .arg(self.data_dir())
            .arg("-p")
            .arg(self.port.to_string())
            .arg("-k")
            .arg(self.socket_dir())
            .arg("-c")
            .arg(format!(
                "listen_addresses={}",
                self.listen.as_deref().unwrap_or("")
            ))
            .stdout(log)
            .stderr(log2);
        if self.temporary {
            // Dynamic shared memory as files inside the data directory: a server killed with
            // its test process cannot leak segments into /dev/shm, the directory goes anyway.
            cmd.args(["-c", "dynamic_shared_memory_type=mmap"]);
        }
        let detach = opts.detach;
        let die = opts.die_with_parent;
        let parent = std::process::id() as libc::pid_t;
        // SAFETY: only async-signal-safe calls (setsid, prctl, getppid, _exit) run between
        // fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                if detach && libc::setsid() < 0 {
                    return Err(io::Error::last_os_error());
                }
                if die {
                    if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGQUIT) < 0 {
                        return Err(io::Error::last_os_error());
                    }
                    // The parent may have died before prctl took effect.
                    if libc::getppid() != parent {
                        libc::_exit(1);
                    }
                }
                Ok(())
            });
        }
        let program = self.bindir.join("postgres");
        let child = if die {
            spawn_from_keeper(cmd).map_err(io_err(&program))?
        } else {
            cmd.spawn().map_err(io_err(&program))?
        };
        let pid = child.id() as i32;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    self.child = None;
                    return Err(self.start_error(format!("the server exited ({status})")));
                }
            }
            let ready = self.pid_file().is_some_and(|l| {
                l.first().map(|s| s.trim()) == Some(&pid.to_string())
                    && l.get(7).map(|s| s.trim()) == Some("ready")
            });
            if ready && self.socket_file().exists() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(self.start_error("timed out after 60 s".into()));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn start_error(&self, reason: String) -> ClusterError {
        ClusterError::Start {
            data_dir: self.data_dir(),
            reason,
            log: self.log_file(),
            log_tail: tail(&self.log_file(), 20),
        }
    }

    /// Stops the server if one runs here (fast shutdown: sessions are disconnected). Waits
    /// until it is gone.
    pub fn stop(&mut self) -> Result<(), ClusterError> {
        let result = match self.running_pid() {
            None => Ok(()),
            Some(pid) => self.signal_and_wait(pid),
        };
        if let Some(mut child) = self.child.take() {
            // Reap our own child so it does not linger as a zombie.
            let _ = child.wait();
        }
        result
    }

    fn signal_and_wait(&self, pid: i32) -> Result<(), ClusterError> {
        let pid_file = self.data_dir().join("postmaster.pid");
        // SIGINT = fast shutdown; SIGQUIT = immediate shutdown if that takes too long.
        for (sig, wait) in [(libc::SIGINT, 30), (libc::SIGQUIT, 10)] {
            // SAFETY: plain kill(2).
            unsafe { libc::kill(pid, sig) };
            let deadline = Instant::now() + Duration::from_secs(wait);
            while Instant::now() < deadline {
                // The postmaster removes its pid file as the very last step; a zombie (our own
                // unreaped child) is also finished.
                let gone = !pid_file.exists() || !process_alive(pid) || is_zombie(pid);
                if gone {
                    return Ok(());
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        Err(ClusterError::Stop {
            data_dir: self.data_dir(),
            reason: format!("postmaster {pid} still running after SIGINT and SIGQUIT"),
        })
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.temporary {
            let _ = self.stop();
            let _ = fs::remove_dir_all(&self.base);
        }
    }
}

fn process_alive(pid: i32) -> bool {
    // SAFETY: kill with signal 0 only checks existence/permission.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

fn is_zombie(pid: i32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

/// The last `n` lines of a file (for error messages).
pub fn tail(path: &Path, n: usize) -> String {
    let Ok(mut f) = fs::File::open(path) else {
        return String::from("(no log)");
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(16 * 1024)));
    let mut s = String::new();
    let mut buf = Vec::new();
    let _ = f.read_to_end(&mut buf);
    s.push_str(&String::from_utf8_lossy(&buf));
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

type SpawnJob = (Command, mpsc::Sender<io::Result<Child>>);

/// Spawns `cmd` from a helper thread that lives as long as the process (see the module doc on
/// `PR_SET_PDEATHSIG`).
fn spawn_from_keeper(cmd: Command) -> io::Result<Child> {
    static KEEPER: OnceLock<Mutex<mpsc::Sender<SpawnJob>>> = OnceLock::new();
    let sender = KEEPER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnJob>();
        std::thread::Builder::new()
            .name("schemaplan-pg-keeper".into())
            .spawn(move || {
                // The sender lives in a static, so this loop never ends.
                while let Ok((mut cmd, reply)) = rx.recv() {
                    let _ = reply.send(cmd.spawn());
                }
            })
            .expect("spawn keeper thread");
        Mutex::new(tx)
    });
    let (tx, rx) = mpsc::channel();
    sender
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .send((cmd, tx))
        .map_err(|_| io::Error::other("keeper thread gone"))?;
    rx.recv()
        .map_err(|_| io::Error::other("keeper thread gone"))?
}
