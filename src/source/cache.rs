//! The cached parse of schema files (issue 9: a warm `drift` or `plan` at 5,000 tables spent
//! ~3.8 s parsing files that had not changed since the last run).
//!
//! What parsing one file gives (its statements with their kinds, creates and references,
//! annotations, and the facts the ordering and the defined-twice check need: `Loaded`) depends
//! on nothing but the file's bytes, its path as given (it is in every statement and error
//! location) and this build of schemaplan (the grammar is pg_query's, compiled in; no server is
//! asked). So a file whose bytes are unchanged since the last run need not be parsed again: its
//! `Loaded` statements are taken from the store written by that run. What runs every time on
//! all statements is what depends on more than one file: the defined-twice check and the
//! dependency order (`order.rs`).
//!
//! One store file per schema directory (as given, from the working directory as it is: the
//! paths in the statements are relative to both), `<cache>/sources/<digest>.parsed`, holding
//! for each file its path, the SHA-256 of its bytes and its statements (postcard). A file is
//! used from the store only when all of these hold, else it is parsed again (never an error):
//!
//! - the store's key is this build's ([`key`]: schemaplan's version and the digest of its
//!   whole source and `Cargo.lock`, `build.rs`, which also names pg_query's version);
//! - the store is complete and unchanged (`crate::cachefile`'s integrity trailer);
//! - the file's path and the digest of its bytes as read now are the stored ones (not its size
//!   or modification time: an edit that keeps both is seen);
//! - its stored statements decode.
//!
//! Only files that parsed without an error are stored: an error is reported by parsing the
//! file, on every run until it is fixed. Nor is a file holding a secret ([`holds_secret`]: a
//! password in a server's or user mapping's `OPTIONS`, a conninfo with a password): the store
//! is a file on disk and would keep the secret in clear (docs/kinds.md, "Secrets"); such a file
//! is parsed on every run. The store is written back (atomically, see
//! `crate::cachefile`) only when it changed: a file parsed anew, or a file gone. Stores of
//! directories not used for a week are removed when another store is written.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::Loaded;

/// First bytes of a store file (with the format's version; 2: `twice::Defines::shape` is
/// `events::shape`, no longer the digest of the tree as JSON).
const MAGIC: &[u8] = b"schemaplan parsed schema files 2\n";

/// Prefix of the temporary files a write goes through.
const TEMP_PREFIX: &str = ".parsed-";

/// Stores not written for this long are removed (their directory is probably gone).
const UNUSED: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);

/// The key of every store this build writes: another build may parse, classify or serialize
/// differently and never uses this one's.
pub(super) fn key() -> String {
    format!(
        "schemaplan {} source {}",
        env!("CARGO_PKG_VERSION"),
        crate::cachefile::SOURCE_DIGEST
    )
}

/// One file's entry: its path as given, the SHA-256 of its bytes, and its statements
/// (postcard of `Vec<Loaded>`, decoded only when the file is unchanged).
#[derive(serde::Serialize, serde::Deserialize)]
struct Entry {
    path: PathBuf,
    digest: [u8; 32],
    #[serde(with = "byte_string")]
    statements: Vec<u8>,
}

/// [`Entry::statements`] as one byte string: postcard writes and reads it in one piece (the
/// same bytes on disk as a sequence of `u8`, which serde passed one byte at a time, each
/// through the store's hashing writer: a tenth of a cold run's source CPU at 5,000 tables).
mod byte_string {
    pub fn serialize<S: serde::Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(bytes)
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        struct Bytes;
        impl serde::de::Visitor<'_> for Bytes {
            type Value = Vec<u8>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a file's encoded statements")
            }
            fn visit_bytes<E>(self, v: &[u8]) -> Result<Vec<u8>, E> {
                Ok(v.to_vec())
            }
            fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
                Ok(v)
            }
        }
        d.deserialize_byte_buf(Bytes)
    }
}

/// The store of one schema directory, as read at the start of a run and updated by it.
pub(super) struct Store {
    folder: PathBuf,
    path: PathBuf,
    /// The entries read, by path: taken out as files are looked up.
    old: HashMap<PathBuf, Entry>,
    /// This run's entries, in file order: written back when [`Store::changed`].
    new: Vec<Entry>,
    changed: bool,
}

/// Whether one of a file's statements holds a secret that storing it would write to disk in
/// clear: a quoted literal after a secret option key (`OPTIONS (password '...')`, the rule of
/// `model::mask_option_secrets`, in any statement: `DO` bodies too), or a conninfo string with
/// a password (`CONNECTION 'host=... password=...'`). Either way the file is not stored: a
/// false alarm only costs parsing it again.
pub(super) fn holds_secret(statements: &[Loaded]) -> bool {
    statements.iter().any(|l| {
        let sql = &l.statement.sql;
        // Masking changes only quoted literals: a statement without one has nothing to mask.
        if sql.contains('\'') && crate::model::mask_option_secrets(sql) != *sql {
            return true;
        }
        let lower = sql.to_lowercase();
        lower.contains("connection") && lower.contains("password")
    })
}

/// The store file for schema directory `dir` (as given) in `folder`.
pub(super) fn file(folder: &Path, dir: &Path) -> PathBuf {
    let cwd = std::env::current_dir().unwrap_or_default();
    let mut h = Sha256::new();
    for part in [cwd.as_os_str(), dir.as_os_str()] {
        let bytes = part.as_encoded_bytes();
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    }
    let name: String = h
        .finalize()
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect();
    folder.join(format!("{name}.parsed"))
}

impl Store {
    /// The store of `dir` in `folder` (empty when there is none or it is not usable).
    pub(super) fn open(folder: &Path, dir: &Path) -> Store {
        let path = file(folder, dir);
        let entries: Vec<Entry> = crate::cachefile::read(&path, MAGIC, &key()).unwrap_or_default();
        Store {
            folder: folder.to_path_buf(),
            path,
            old: entries.into_iter().map(|e| (e.path.clone(), e)).collect(),
            new: Vec::new(),
            changed: false,
        }
    }

    /// The statements stored for `file` when `bytes` are the bytes they were parsed from.
    pub(super) fn get(&mut self, file: &Path, bytes: &[u8]) -> Option<Vec<Loaded>> {
        let digest: [u8; 32] = Sha256::digest(bytes).into();
        let entry = self.old.remove(file)?;
        // Edited since (or undecodable): parsed again, and the entry replaced or dropped.
        let statements = (entry.digest == digest)
            .then(|| postcard::from_bytes(&entry.statements).ok())
            .flatten();
        match statements {
            Some(_) => self.new.push(entry),
            None => self.changed = true,
        }
        statements
    }

    /// Records `statements`, parsed without an error from `bytes`, as `file`'s; not when they
    /// hold a secret ([`holds_secret`]): then the file is parsed again on every run.
    pub(super) fn put(&mut self, file: &Path, bytes: &[u8], statements: &[Loaded]) {
        self.changed = true;
        if holds_secret(statements) {
            return;
        }
        let Ok(encoded) = postcard::to_allocvec(statements) else {
            return;
        };
        self.new.push(Entry {
            path: file.to_path_buf(),
            digest: Sha256::digest(bytes).into(),
            statements: encoded,
        });
    }

    /// Writes the store back when this run changed it: a file parsed anew, or one of the
    /// stored files not read this time (gone, renamed, or failing now). Best effort: a store
    /// that cannot be written is only slower next time.
    pub(super) fn save(self) {
        if !self.changed && self.old.is_empty() {
            return;
        }
        let _ = crate::cachefile::write(
            &self.folder,
            &self.path,
            MAGIC,
            TEMP_PREFIX,
            &key(),
            &self.new,
        );
        prune(&self.folder, &self.path);
    }
}

/// Removes stores (other than `keep`) not written for a week, and temporary files a killed run
/// left behind.
fn prune(folder: &Path, keep: &Path) {
    let Ok(entries) = std::fs::read_dir(folder) else {
        return;
    };
    for entry in entries.flatten() {
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > UNUSED);
        let stale = crate::cachefile::stale_temporary(&entry, TEMP_PREFIX)
            || (old
                && entry.path() != keep
                && entry.file_name().to_string_lossy().ends_with(".parsed"));
        if stale {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}
