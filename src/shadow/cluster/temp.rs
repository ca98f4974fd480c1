//! Temporary clusters (the test harness's, one per test process): where they are made, a
//! pristine template cluster copied instead of running `initdb` each time, free ports, and
//! reaping the folders of processes that died.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{io_err, is_zombie, major_version, process_alive, Cluster, ClusterError};

/// Where temporary clusters are made: `$SCHEMAPLAN_TEST_TMPDIR`, else `/dev/shm` when it is a
/// writable directory (creating a database costs ~1 s on a slow disk and ~0.1 s in memory; the
/// test suites create thousands), else the system temp dir.
pub fn temp_parent() -> PathBuf {
    if let Some(dir) = std::env::var_os("SCHEMAPLAN_TEST_TMPDIR").filter(|v| !v.is_empty()) {
        return PathBuf::from(dir);
    }
    let shm = Path::new("/dev/shm");
    let writable = fs::metadata(shm).is_ok_and(|m| m.is_dir() && !m.permissions().readonly());
    if writable {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    }
}

/// Removes temporary clusters (`<tmp>/schemaplan-test-*`) whose owning process is gone,
/// stopping their server first if it still runs.
pub fn reap_stale_temps() {
    let Ok(entries) = fs::read_dir(temp_parent()) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        if !name.starts_with("schemaplan-test-") {
            continue;
        }
        let base = e.path();
        let owner: Option<i32> = fs::read_to_string(base.join("owner.pid"))
            .ok()
            .and_then(|s| s.trim().parse().ok());
        let stale = match owner {
            Some(pid) => !process_alive(pid) || is_zombie(pid),
            // Still being set up, or not ours: only remove when old.
            None => e
                .metadata()
                .and_then(|m| m.modified())
                .map(|t| t.elapsed().unwrap_or_default() > Duration::from_secs(3600))
                .unwrap_or(false),
        };
        if !stale {
            continue;
        }
        let c = Cluster {
            bindir: PathBuf::new(),
            base: base.clone(),
            port: 0,
            listen: None,
            run_as: None,
            child: None,
            temporary: false,
        };
        if let Some(pid) = c.running_pid() {
            let _ = c.signal_and_wait(pid);
        }
        let _ = fs::remove_dir_all(&base);
    }
}

/// A pristine, never started cluster kept in the shadow cache folder
/// (`<cache>/pg<major>-template/data`), initialized once under a lock, to be copied by
/// [`Cluster::init_temp`].
pub fn template_data_dir(bindir: &Path) -> Result<PathBuf, ClusterError> {
    let root =
        crate::shadow::cache_root(&crate::shadow::ShadowOptions::default()).map_err(|e| {
            ClusterError::Io {
                path: PathBuf::from("(cache directory)"),
                source: io::Error::other(e.to_string()),
            }
        })?;
    fs::create_dir_all(&root).map_err(io_err(&root))?;
    let major = major_version(bindir)?;
    let base = root.join(format!("pg{major}-template"));
    let c = Cluster::new(bindir, &base, 5432, None)?;
    let lock_path = base.join("template.lock");
    let _lock = crate::shadow::lock::FileLock::exclusive(&lock_path).map_err(io_err(&lock_path))?;
    if !c.is_initialized() {
        c.init()?;
    }
    Ok(c.data_dir())
}

/// Picks a TCP port on 127.0.0.1 that is free right now.
pub fn free_port() -> io::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}
