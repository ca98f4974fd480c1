//! The cached catalog reading of a kept desired database (issue 9: warm `drift` and `plan`
//! without reading the shadow's catalog again).
//!
//! A kept database (`Shadow::warm_keep`) is never modified under its name: it is copied, read,
//! changed by the proof only inside a transaction that is rolled back, or taken over by an
//! update (renamed away first: its reading, keyed by name and OID, no longer applies). What the catalog queries read from
//! it is therefore fixed too, and reading it again costs as much as reading the live database
//! (~2-3 s at 5,000 tables). So the
//! first run that reads a kept database stores the reading (the whole `model::Schema`, before
//! any scope is applied: scopes differ between runs, the database does not) in a file beside
//! the cluster, `<cache>/pg<major>/readings/<kept database>.reading`, and later runs take it
//! from there.
//!
//! Owns the file format, its key, writing it atomically and pruning files of evicted kept
//! databases. A file is used only when all of these hold, else it is ignored (a full read,
//! never an error) and written again:
//!
//! - its key equals [`Identity::key`]: this build of schemaplan (a digest of its whole source,
//!   `build.rs`: another build, even of the same version, may read other columns or
//!   serialize the model differently), the cluster (`pg_control_system()`'s
//!   `system_identifier`, new at every `initdb`), and the kept database's name *and OID* (a
//!   kept database evicted and made again under the same name is another database: a fresh
//!   load and an incremental update of the same files may differ in automatic names, see
//!   docs/shadow.md "Known limits");
//! - the file is complete and unchanged: its last 32 bytes are the SHA-256 of everything
//!   before them (a truncated or damaged file fails this before anything is decoded);
//! - it decodes.
//!
//! Format, integrity trailer and atomic writing: `crate::cachefile` (shared with the cached
//! parse of schema files), with [`MAGIC`] as the first line.
//!
//! Beside each reading, `<kept database>.delta` holds the delta state of the same reading
//! (`catalog::delta::DeltaState`: its snapshot, census, kept rows and splice base), with the
//! same checks ([`DELTA_MAGIC`]), under the same key and the digest of the reading file it
//! was written with ([`delta_key`]). With it, a later run reads the kept database it took over
//! and updated, or a copy of it that it updated (`shadow::warm`), and the kept database in its proof, as a delta of this
//! reading instead of in full, spliced into the reading (`catalog::splice`): the splice base
//! stored in the state is all but the schema, which is the reading beside it. The state is
//! never used without the very reading file it was written with (another run's reading
//! written over it, a reading written alone, or a damaged one: another digest, so no state).
//! A missing or unusable state file only makes those reads full; the key names the cluster,
//! which is what lets a restored state (which names no server start) be used after the
//! server restarted.

use std::path::{Path, PathBuf};

use crate::catalog::delta::{ComingBase, DeltaState};
use crate::model::Schema;

/// First bytes of a reading file (with the format's version).
const MAGIC: &[u8] = b"schemaplan catalog reading 1\n";

/// Which build of schemaplan this is (`build.rs`): part of every key.
pub use crate::cachefile::SOURCE_DIGEST;

/// First bytes of a delta state file (with the format's version).
/// 2: the splice base is stored (`catalog::splice::StoredRef`), and the key names the
/// reading file's digest ([`delta_key`]).
const DELTA_MAGIC: &[u8] = b"schemaplan catalog delta state 2\n";

/// Prefix of the temporary files a write goes through.
const TEMP_PREFIX: &str = ".reading-";

/// What a reading belongs to: one kept database of one cluster, read by one build.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// `pg_control_system().system_identifier` of the cluster.
    pub system: String,
    /// The kept database's name (`schemaplan_warm_<key>`).
    pub database: String,
    /// Its OID: another database of the same name has another one.
    pub oid: u32,
}

impl Identity {
    /// The key written into the file and compared when reading it.
    pub fn key(&self) -> String {
        format!(
            "schemaplan {} source {SOURCE_DIGEST}; cluster {}; database {} oid {}",
            env!("CARGO_PKG_VERSION"),
            self.system,
            self.database,
            self.oid
        )
    }
}

/// The folder of the readings of the cluster whose files are under `base` (`<cache>/pg<major>`).
pub fn folder(base: &Path) -> PathBuf {
    base.join("readings")
}

/// The file of the reading of kept database `database`.
pub fn file(folder: &Path, database: &str) -> PathBuf {
    folder.join(format!("{database}.reading"))
}

/// The file of the delta state of kept database `database`'s reading.
pub fn delta_file(folder: &Path, database: &str) -> PathBuf {
    folder.join(format!("{database}.delta"))
}

/// The key of the delta state stored with the reading of `id` whose file's digest is
/// `reading` (`cachefile::write`): the state belongs to that reading file alone.
pub fn delta_key(id: &Identity, reading: &[u8; 32]) -> String {
    let hex: String = reading.iter().map(|b| format!("{b:02x}")).collect();
    format!("{}; reading {hex}", id.key())
}

/// The delta state stored for `id` in `folder` with the reading beside it, its splice base
/// given that reading (moved into it: the caller needs only the state) by its first read
/// ([`BaseReading::restore_later`]); `None` when the state's file is missing or unusable, or
/// was not written with the reading's file as it is. A reading that does not decode leaves
/// the state without its splice base (that read builds in full, as exact).
pub fn load_delta(folder: &Path, id: &Identity) -> Option<DeltaState> {
    // The state is keyed by the reading's digest, as the reading's file states it: the
    // reading (its splice base's schema) is decoded on a thread beside the state and waited
    // for by the state's first read once its census ran, not before (~0.15 s each at 5,000
    // tables, on a warm `plan`'s critical path: issue 9). The wait checks the reading
    // against that digest: a reading written again meanwhile, or damaged, is not used, and
    // that read builds in full.
    let digest = crate::cachefile::stated_digest(&file(folder, &id.database), MAGIC)?;
    let mut base = BaseReading::new(folder, id, digest);
    base.load_aside();
    let mut state = load_delta_of(folder, id, &digest)?;
    base.restore_later(&mut state);
    Some(state)
}

/// The reading stored for `id` in `folder` ([`load`]) and the delta state stored with it
/// (`None` when there is no usable one: [`load_delta`]), whose splice base is not restored
/// yet: the proof's first reading gets it when it needs it ([`BaseReading::restore_later`]),
/// from the reading loaded again or a copy of the caller's (after diff and fingerprints: a
/// copy held from here until then would raise the run's peak memory by a schema, ~74 MiB at
/// 5,000 tables).
pub fn load_with_delta(
    folder: &Path,
    id: &Identity,
) -> Option<(Schema, Option<(DeltaState, BaseReading)>)> {
    let (schema, digest) = load_digested(folder, id)?;
    let state = load_delta_of(folder, id, &digest).map(|state| {
        let base = BaseReading::new(folder, id, digest);
        (state, base)
    });
    Some((schema, state))
}

/// Where the schema of a restored state's splice base is: the reading file of this digest
/// ([`load_with_delta`]).
pub struct BaseReading {
    folder: PathBuf,
    id: Identity,
    digest: [u8; 32],
    /// The reading being loaded on a thread of its own ([`BaseReading::load_aside`]).
    loading: Option<std::thread::JoinHandle<Option<Digested>>>,
    /// A copy of the reading, made by the caller ([`BaseReading::copy_aside`]).
    copy: Option<ComingBase>,
    /// Whether the reading is the schema the caller holds ([`BaseReading::held_by_caller`]).
    held: bool,
}

impl BaseReading {
    /// The reading of `id` in `folder` whose file has this digest, not loaded yet.
    fn new(folder: &Path, id: &Identity, digest: [u8; 32]) -> BaseReading {
        BaseReading {
            folder: folder.to_path_buf(),
            id: id.clone(),
            digest,
            loading: None,
            copy: None,
            held: false,
        }
    }

    /// Starts loading the reading on a thread of its own, for [`BaseReading::restore`] to
    /// take: ~0.4 s at 5,000 tables that a `plan` would otherwise spend in its proof, on its
    /// critical path (issue 9), done beside the proof's start (planning, the copy of the
    /// database it reads). The schema is then held from here on rather than from the proof's
    /// first reading: the proof's own peak holds it with the same schemas anyway. A thread
    /// that cannot start: loaded when used.
    pub fn load_aside(&mut self) {
        if self.loading.is_some() {
            return;
        }
        let (folder, id) = (self.folder.clone(), self.id.clone());
        self.loading = std::thread::Builder::new()
            .name("cached splice base".into())
            .spawn(move || load_digested(&folder, &id))
            .ok();
    }

    /// Says the reading is exactly the schema the caller holds, unchanged until the state is
    /// used: the desired schema of a run without a scope, which is the reading decoded or
    /// saved (`workflow::desired`). A copy of that schema may then stand for the file's
    /// ([`BaseReading::copy_aside`]).
    pub fn held_by_caller(&mut self) {
        self.held = true;
    }

    /// Whether the caller said it holds the reading ([`BaseReading::held_by_caller`]).
    pub fn is_held(&self) -> bool {
        self.held
    }

    /// [`BaseReading::load_aside`] from a copy of the reading the caller holds, which `copy`
    /// gives (made on a thread of the caller's): cloning the schema in memory takes about a
    /// third of the CPU decoding the file does (~0.14 s against ~0.4 s at 5,000 tables, in
    /// the proof, beside the target's fingerprint and the shadow's work: issue 9). Only for a
    /// reading [`BaseReading::held_by_caller`]; else (`false`) nothing changes.
    pub fn copy_aside(&mut self, copy: ComingBase) -> bool {
        if self.held {
            self.copy = Some(copy);
        }
        self.held
    }

    /// Gives `state` its splice base, the reading loaded again, when the file is still the
    /// one the state was stored with (another digest: the base is not restored, and the
    /// first delta read builds in full; `-v` says why).
    pub fn restore(self, state: &mut DeltaState) {
        if let Some(schema) = self.loaded() {
            restore_base(state, schema);
        }
    }

    /// [`BaseReading::restore`] without waiting for the load: the state's next delta read
    /// waits for it once its census ran (`DeltaState::restore_base_later`), so the load
    /// (~0.3 s at 5,000 tables) overlaps the server's work instead of coming before it.
    pub fn restore_later(self, state: &mut DeltaState) {
        state.restore_base_later(Box::new(move || self.loaded()));
    }

    /// The reading, once loaded, when the file is still the one the state was stored with;
    /// the caller's copy of it when there is one.
    fn loaded(self) -> Option<Schema> {
        if let Some(copy) = self.copy {
            return copy();
        }
        let loaded = match self.loading {
            Some(handle) => handle
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            None => load_digested(&self.folder, &self.id),
        };
        match loaded {
            Some((schema, digest)) if digest == self.digest => Some(schema),
            _ => {
                crate::timings::note(
                    "the stored splice base is not used: the cached reading it was stored \
                     with is gone or was written again",
                );
                None
            }
        }
    }
}

/// A reading and its file's digest.
type Digested = (Schema, [u8; 32]);

/// The reading of `id` and its file's digest.
fn load_digested(folder: &Path, id: &Identity) -> Option<Digested> {
    crate::cachefile::read_digested(&file(folder, &id.database), MAGIC, &id.key())
        .map(|(schema, digest)| (compacted(schema), digest))
}

/// A decoded reading with its maps' nodes full (`Schema::compact`): decoding fills them one
/// key at a time, which leaves them half empty, and a reading is held for the whole run.
fn compacted(mut schema: Schema) -> Schema {
    schema.compact();
    schema
}

/// The delta state stored with the reading file of digest `reading`, its base not restored.
fn load_delta_of(folder: &Path, id: &Identity, reading: &[u8; 32]) -> Option<DeltaState> {
    crate::cachefile::read(
        &delta_file(folder, &id.database),
        DELTA_MAGIC,
        &delta_key(id, reading),
    )
}

/// Gives a restored state its splice base's schema; a base that cannot be restored only makes
/// the first delta read build in full, and `-v` says why.
fn restore_base(state: &mut DeltaState, reading: Schema) {
    if let Err(why) = state.restore_base(reading) {
        crate::timings::note(&format!("the stored splice base is not used: {why}"));
    }
}

/// The reading stored for `id` in `folder`, when there is a complete one with its key.
/// `None` for anything else (no file, another key, truncated, damaged): the caller reads the
/// catalog.
pub fn load(folder: &Path, id: &Identity) -> Option<Schema> {
    crate::cachefile::read(&file(folder, &id.database), MAGIC, &id.key()).map(compacted)
}

/// The key and reading of the file at `path`, whatever its key, when it is complete and
/// decodes. For tests that check another key is not used.
pub fn load_any(path: &Path) -> Option<(String, Schema)> {
    crate::cachefile::read_any(path, MAGIC).map(|(key, schema)| (key, compacted(schema)))
}

/// Stores `schema` as the reading of `id` in `folder` (made if missing), and `state`, the
/// delta state of the same reading, beside it, keyed by the reading file's digest
/// ([`delta_key`]); the splice base in `state` must be `schema` but for the owners and sizes
/// it leaves out (`catalog::splice::StoredRef`). Best effort: a cache that cannot be written
/// is only slower next time. Without a state, a state file left by an earlier run no longer
/// matches the reading when the reading's bytes differ, and is not used.
///
/// Gives where the reading now is when both files were written ([`BaseReading`]): a state
/// whose splice base was left without its schema (`catalog::delta::read_delta_alone`) gets
/// it back from there ([`BaseReading::restore`]).
pub fn save(
    folder: &Path,
    id: &Identity,
    schema: &Schema,
    state: Option<&DeltaState>,
) -> Option<BaseReading> {
    let digest = save_with_key(folder, &file(folder, &id.database), &id.key(), schema).ok()?;
    crate::cachefile::write(
        folder,
        &delta_file(folder, &id.database),
        DELTA_MAGIC,
        TEMP_PREFIX,
        &delta_key(id, &digest),
        state?,
    )
    .ok()?;
    Some(BaseReading::new(folder, id, digest))
}

/// Writes `schema` under `key` to `path` (in `folder`) atomically: a temporary file in the same
/// folder, renamed over `path` once complete; gives the file's digest. Public for tests,
/// which write readings of another key.
pub fn save_with_key(
    folder: &Path,
    path: &Path,
    key: &str,
    schema: &Schema,
) -> std::io::Result<[u8; 32]> {
    crate::cachefile::write(folder, path, MAGIC, TEMP_PREFIX, key, schema)
}

/// Removes the readings and delta states of databases not in `kept` (evicted ones), and temporary files a
/// killed run left behind (older than an hour: a younger one may be a write in progress).
pub fn prune(folder: &Path, kept: &[String]) {
    let Ok(entries) = std::fs::read_dir(folder) else {
        return;
    };
    let wanted: Vec<String> = kept
        .iter()
        .flat_map(|k| [format!("{k}.reading"), format!("{k}.delta")])
        .collect();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        let stale = if name.starts_with(TEMP_PREFIX) {
            crate::cachefile::stale_temporary(&entry, TEMP_PREFIX)
        } else {
            !wanted.contains(&name)
        };
        if stale {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ObjectId, QName};

    /// A small schema with maps keyed by names, ids and tuples (what JSON could not write).
    fn schema() -> Schema {
        let mut s = Schema::default();
        let name = QName::new("public", "t");
        s.sizes.insert(name.clone(), 8192);
        s.comments
            .insert(ObjectId::Table(name.clone()), "a table".to_string());
        s.owners
            .insert(ObjectId::Table(name.clone()), "alice".to_string());
        s.add_dependency(
            ObjectId::Column(name.clone(), "a".into()),
            ObjectId::Table(name),
        );
        s
    }

    fn id() -> Identity {
        Identity {
            system: "7000".into(),
            database: "schemaplan_warm_x".into(),
            oid: 16400,
        }
    }

    #[test]
    fn a_saved_reading_loads_back_only_under_its_key() {
        let dir = tempfile::tempdir().unwrap();
        save(dir.path(), &id(), &schema(), None);
        assert_eq!(load(dir.path(), &id()), Some(schema()));
        let other_oid = Identity { oid: 16401, ..id() };
        assert_eq!(load(dir.path(), &other_oid), None);
        let other_cluster = Identity {
            system: "7001".into(),
            ..id()
        };
        assert_eq!(load(dir.path(), &other_cluster), None);
    }

    #[test]
    fn a_truncated_or_damaged_reading_is_no_reading() {
        let dir = tempfile::tempdir().unwrap();
        save(dir.path(), &id(), &schema(), None);
        let path = file(dir.path(), &id().database);
        let good = std::fs::read(&path).unwrap();
        for cut in [0, 5, MAGIC.len(), good.len() / 2, good.len() - 1] {
            std::fs::write(&path, &good[..cut]).unwrap();
            assert_eq!(load(dir.path(), &id()), None, "cut at {cut}");
        }
        // One byte changed in the middle (a name's letter): the digest no longer matches.
        let mut bad = good.clone();
        let at = good.len() - 40;
        bad[at] ^= 0x20;
        std::fs::write(&path, &bad).unwrap();
        assert_eq!(load(dir.path(), &id()), None);
        std::fs::write(&path, &good).unwrap();
        assert_eq!(load(dir.path(), &id()), Some(schema()));
    }

    #[test]
    fn pruning_keeps_the_readings_of_kept_databases_only() {
        let dir = tempfile::tempdir().unwrap();
        save(dir.path(), &id(), &schema(), None);
        let gone = Identity {
            database: "schemaplan_warm_gone".into(),
            ..id()
        };
        save(dir.path(), &gone, &schema(), None);
        prune(dir.path(), &[id().database]);
        assert!(load(dir.path(), &id()).is_some());
        assert!(!file(dir.path(), &gone.database).exists());
    }
}
