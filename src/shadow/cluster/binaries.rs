//! Finding the PostgreSQL server binaries (`SCHEMAPLAN_PG_BINDIR`, `PATH`, the usual install
//! folders), reading their major version, and the unprivileged user they run as when we are
//! root (PostgreSQL refuses to run as root).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::{io_err, ClusterError};

/// The unprivileged user the server runs as when we are root.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunAs {
    pub uid: u32,
    pub gid: u32,
}

impl RunAs {
    /// `None` when not root (the server runs as ourselves), else `nobody` (group `nogroup`,
    /// or nobody's primary group).
    pub fn for_current_process() -> Result<Option<RunAs>, ClusterError> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Ok(None);
        }
        // SAFETY: getpwnam/getgrnam return pointers into static storage or null; we copy the
        // fields out immediately. Callers are not expected to race on these from other threads
        // (only this module calls them).
        unsafe {
            let pw = libc::getpwnam(c"nobody".as_ptr());
            if pw.is_null() {
                return Err(ClusterError::NoServerUser);
            }
            let uid = (*pw).pw_uid;
            let mut gid = (*pw).pw_gid;
            let gr = libc::getgrnam(c"nogroup".as_ptr());
            if !gr.is_null() {
                gid = (*gr).gr_gid;
            }
            Ok(Some(RunAs { uid, gid }))
        }
    }

    /// Gives `path` to this user.
    pub fn chown(&self, path: &Path) -> Result<(), ClusterError> {
        std::os::unix::fs::chown(path, Some(self.uid), Some(self.gid)).map_err(io_err(path))
    }

    /// Checks that every ancestor of `path` can be traversed by this user (PostgreSQL fails
    /// with a confusing message otherwise).
    pub fn check_reachable(&self, path: &Path) -> Result<(), ClusterError> {
        let mut cur = path.parent();
        while let Some(dir) = cur {
            if let Ok(md) = fs::metadata(dir) {
                use std::os::unix::fs::MetadataExt;
                let mode = md.mode();
                let ok = if md.uid() == self.uid {
                    mode & 0o100 != 0
                } else if md.gid() == self.gid {
                    mode & 0o010 != 0
                } else {
                    mode & 0o001 != 0
                };
                if !ok {
                    return Err(ClusterError::NotReachable {
                        path: path.to_path_buf(),
                        uid: self.uid,
                        blocking: dir.to_path_buf(),
                    });
                }
            }
            cur = dir.parent();
        }
        Ok(())
    }
}

fn is_server_bindir(dir: &Path) -> bool {
    let exec = |name: &str| {
        fs::metadata(dir.join(name))
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    };
    exec("initdb") && exec("postgres")
}

/// Finds the directory holding `initdb` and `postgres`: `explicit` (the `--pg-bindir` option),
/// `$SCHEMAPLAN_PG_BINDIR`, the directory of `initdb` found on `PATH` (symlinks resolved),
/// `pg_config --bindir`, then the newest `/usr/lib/postgresql/*/bin`.
pub fn find_bindir(explicit: Option<&Path>) -> Result<PathBuf, ClusterError> {
    let mut tried = Vec::new();
    let explicit = explicit.map(Path::to_path_buf).or_else(|| {
        std::env::var_os("SCHEMAPLAN_PG_BINDIR")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    });
    if let Some(dir) = explicit {
        // An explicit choice is never silently replaced by another installation.
        if is_server_bindir(&dir) {
            return Ok(dir);
        }
        return Err(ClusterError::NoBinaries {
            tried: format!("{} (given explicitly)", dir.display()),
        });
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join("initdb");
            if candidate.is_file() {
                if let Ok(real) = fs::canonicalize(&candidate) {
                    if let Some(parent) = real.parent() {
                        if is_server_bindir(parent) {
                            return Ok(parent.to_path_buf());
                        }
                        tried.push(parent.display().to_string());
                    }
                }
            }
        }
    }
    tried.push("PATH".into());
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        if out.status.success() {
            let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
            if is_server_bindir(&dir) {
                return Ok(dir);
            }
            tried.push(dir.display().to_string());
        }
    }
    tried.push("pg_config --bindir".into());
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            Some((v, e.path().join("bin")))
        })
        .filter(|(_, p)| is_server_bindir(p))
        .collect();
    versions.sort();
    if let Some((_, dir)) = versions.pop() {
        return Ok(dir);
    }
    tried.push("/usr/lib/postgresql/*/bin".into());
    Err(ClusterError::NoBinaries {
        tried: tried.join(", "),
    })
}

/// Major version of the server binaries in `bindir` (`15` for 15.6, `9` for 9.6).
pub fn major_version(bindir: &Path) -> Result<u32, ClusterError> {
    let program = bindir.join("postgres");
    let out = Command::new(&program)
        .arg("--version")
        .output()
        .map_err(io_err(&program))?;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    parse_major(&text).ok_or(ClusterError::Version {
        program: program.display().to_string(),
        output: text,
    })
}

/// `postgres (PostgreSQL) 15.6 (Debian 15.6-1.pgdg120+2)` -> 15; `16beta1` -> 16.
fn parse_major(version_output: &str) -> Option<u32> {
    let rest = version_output.split(')').nth(1)?.trim();
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_output_parsing() {
        assert_eq!(
            parse_major("postgres (PostgreSQL) 15.6 (Debian 15.6-1.pgdg120+2)\n"),
            Some(15)
        );
        assert_eq!(parse_major("postgres (PostgreSQL) 16beta1"), Some(16));
        assert_eq!(parse_major("postgres (PostgreSQL) 9.6.24"), Some(9));
        assert_eq!(parse_major("garbage"), None);
    }

    #[test]
    fn explicit_bindir_is_never_replaced() {
        let err = find_bindir(Some(Path::new("/nonexistent/bin"))).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/bin"), "{err}");
    }

    #[test]
    fn finds_local_binaries() {
        let dir = find_bindir(None).expect("PostgreSQL installed on the test machine");
        assert!(major_version(&dir).unwrap() >= 10);
    }
}
