//! Advisory file locks (`flock(2)`) used to share one embedded cluster between several
//! schemaplan processes (`start.lock`, `users.lock`) and its kept desired databases (the pin
//! and connection locks of each, `Shadow::warm_pin`). A lock belongs to an open file description, so two handles opened by
//! two threads of one process exclude each other just like two processes do, and the kernel
//! releases every lock when its process dies (a `kill -9` never leaves a lock behind).

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

/// An open lock file and the lock currently held on it (released on drop).
#[derive(Debug)]
pub struct FileLock {
    file: File,
    path: PathBuf,
}

fn flock(file: &File, op: libc::c_int) -> io::Result<()> {
    loop {
        // SAFETY: flock on a valid, owned file descriptor.
        let rc = unsafe { libc::flock(file.as_raw_fd(), op) };
        if rc == 0 {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

impl FileLock {
    fn open(path: &Path) -> io::Result<File> {
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
    }

    /// Blocks until an exclusive lock on `path` is held.
    pub fn exclusive(path: &Path) -> io::Result<FileLock> {
        let file = Self::open(path)?;
        flock(&file, libc::LOCK_EX)?;
        Ok(FileLock {
            file,
            path: path.to_path_buf(),
        })
    }

    /// Blocks until a shared lock on `path` is held.
    pub fn shared(path: &Path) -> io::Result<FileLock> {
        let file = Self::open(path)?;
        flock(&file, libc::LOCK_SH)?;
        Ok(FileLock {
            file,
            path: path.to_path_buf(),
        })
    }

    /// An exclusive lock on `path` if one can be had without waiting (`None`: someone holds a
    /// lock on it).
    pub fn try_exclusive(path: &Path) -> io::Result<Option<FileLock>> {
        let file = Self::open(path)?;
        match flock(&file, libc::LOCK_EX | libc::LOCK_NB) {
            Ok(()) => Ok(Some(FileLock {
                file,
                path: path.to_path_buf(),
            })),
            Err(e) if e.raw_os_error() == Some(libc::EWOULDBLOCK) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Tries to turn this lock into an exclusive one without waiting. `Ok(true)` when nobody
    /// else holds a lock on the file.
    ///
    /// Careful: Linux converts a flock by dropping the old lock first, so after `Ok(false)` this
    /// handle holds no lock at all. Callers only do this when they are about to let go anyway.
    pub fn try_upgrade_exclusive(&self) -> io::Result<bool> {
        match flock(&self.file, libc::LOCK_EX | libc::LOCK_NB) {
            Ok(()) => Ok(true),
            Err(e) if e.raw_os_error() == Some(libc::EWOULDBLOCK) => Ok(false),
            Err(e) => Err(e),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        let _ = flock(&self.file, libc::LOCK_UN);
    }
}
