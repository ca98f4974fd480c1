//! The kept ("warm") desired databases on the embedded cluster: which one a run may use
//! (keyed by the statements and [`Shadow::warm_context`]), copying or pinning one in place
//! under its file locks, keeping a newly loaded one by renaming it, evicting old ones, and the
//! cached catalog readings and delta states stored beside them ([`super::reading`]). How one
//! is updated incrementally is [`super::warm`].

use super::*;

impl Shadow {
    /// Whether loaded databases are kept between runs ([`Shadow::warm_keep`]): only on the
    /// embedded cluster, which lives in the cache folder (a `--dev-url` server is the user's,
    /// where schemaplan leaves nothing behind), and not with `--no-cache`.
    pub fn warm_enabled(&self) -> bool {
        !self.inner.no_cache && self.is_embedded()
    }

    /// What a database loaded from given statements depends on besides them, as text for the
    /// key of a kept database: the server's exact version, its settings (the time zone turns a
    /// `timestamptz` default into a different constant, `lc_*` and text search defaults change
    /// what is stored ...), the versions `CREATE EXTENSION` would install, and the role that
    /// loads (it owns what is loaded).
    pub fn warm_context(&self) -> Result<String, ShadowError> {
        self.inner
            .with_admin(|c| {
                let row = c.query_one(
                    "SELECT current_setting('server_version_num') || ' ' || current_user, \
                     (SELECT string_agg(name || '=' || setting, E'\\n' ORDER BY name) \
                        FROM pg_settings WHERE name <> 'application_name'), \
                     (SELECT string_agg(name || '=' || coalesce(default_version, ''), E'\\n' \
                        ORDER BY name) FROM pg_available_extensions)",
                    &[],
                )?;
                let parts: Vec<Option<String>> = (0..3).map(|i| row.get(i)).collect();
                Ok(parts
                    .into_iter()
                    .map(Option::unwrap_or_default)
                    .collect::<Vec<_>>()
                    .join("\n--\n"))
            })
            .map_err(|e| self.inner.sql_error("reading the shadow's settings", &e))
    }

    /// The database kept under `key`, when there is one (`None` too when the cache is off).
    pub fn warm_kept(&self, key: &str) -> Option<Kept> {
        if !self.warm_enabled() {
            return None;
        }
        let name = warm_name(key);
        let oid = self.kept_oid(&name)?;
        Some(Kept { name, oid })
    }

    /// The kept database named `name` (one of [`Shadow::warm_bases`]), when it exists.
    pub fn warm_kept_named(&self, name: &str) -> Option<Kept> {
        if !self.warm_enabled() || !name.starts_with(WARM_PREFIX) {
            return None;
        }
        let oid = self.kept_oid(name)?;
        Some(Kept {
            name: name.to_string(),
            oid,
        })
    }

    /// The OID of database `name`, if it exists.
    fn kept_oid(&self, name: &str) -> Option<u32> {
        self.inner
            .with_admin(|c| {
                c.query_opt("SELECT oid FROM pg_database WHERE datname = $1", &[&name])
                    .map(|r| r.map(|r| r.get::<_, u32>(0)))
            })
            .ok()
            .flatten()
    }

    /// A scratch copy of the database kept under `key`, when there is one (`None` also when
    /// the copy fails, e.g. because another process evicted it meanwhile: the caller loads
    /// afresh). See [`Shadow::warm_copy_of`].
    pub fn warm_copy(&self, key: &str, purpose: &str) -> Option<ScratchDb> {
        let kept = self.warm_kept(key)?;
        self.warm_copy_of(&kept, purpose)
    }

    /// A scratch copy of exactly `kept`: `None` when it is gone, or when the database of its
    /// name is another one by the time the copy is made (evicted and kept again by another
    /// process). The OID is checked after the copy: the name still has `kept`'s OID, so
    /// `kept` existed from before the copy to after it, and the copy is of it (an OID is not
    /// given to a new database while the old one exists). The copy holds the kept database's
    /// pin and connection lock shared (`KeptLocks`): it waits for a session of another run on
    /// it to end.
    pub fn warm_copy_of(&self, kept: &Kept, purpose: &str) -> Option<ScratchDb> {
        let db = self.warm_copy_named(&kept.name, purpose)?;
        (self.kept_oid(&kept.name) == Some(kept.oid)).then_some(db)
    }

    /// Exactly `kept`, used in place: pinned (`KeptLocks`) for as long as the returned value
    /// lives, so it is neither evicted nor copied while this run is connected to it (through
    /// [`ScratchDb::borrow`]). No copy is made. `None` when the cache is off or `kept` is gone
    /// (evicted, or another database under its name, by the time it is pinned).
    pub fn warm_pin(&self, kept: &Kept) -> Option<ScratchDb> {
        if !self.warm_enabled() || !kept.name.starts_with(WARM_PREFIX) {
            return None;
        }
        let locks = self.kept_locks(&kept.name)?;
        let pin = FileLock::shared(&locks.pin).ok()?;
        // Pinned first, then checked: from here on nobody drops it.
        if self.kept_oid(&kept.name) != Some(kept.oid) {
            return None;
        }
        Some(self.in_place(&kept.name, pin, locks))
    }

    /// The value of a kept database used in place.
    fn in_place(&self, name: &str, pin: FileLock, locks: KeptLocks) -> ScratchDb {
        ScratchDb {
            name: name.to_string(),
            url: db::with_database(&self.inner.admin_url, name),
            inner: self.inner.clone(),
            kept: Some(InPlace {
                _pin: pin,
                conn: locks.conn,
            }),
            busy: Mutex::new(()),
            delta: Mutex::new(None),
        }
    }

    /// The lock files of kept database `name` (`KeptLocks`); `None` off the embedded cluster
    /// or when their folder cannot be made.
    fn kept_locks(&self, name: &str) -> Option<KeptLocks> {
        let folder = {
            let embedded = self.inner.embedded.lock().ok()?;
            embedded.as_ref()?.cluster.base_dir().join("kept")
        };
        std::fs::create_dir_all(&folder).ok()?;
        Some(KeptLocks {
            pin: folder.join(format!("{name}.pin")),
            conn: folder.join(format!("{name}.conn")),
        })
    }

    /// The cached catalog reading of `kept` ([`reading`]), when there is a valid one of this
    /// build of schemaplan for exactly this database; `None` for anything else (the caller
    /// reads a copy's catalog, and saves that with [`Shadow::warm_save_reading`]).
    pub fn warm_reading(&self, kept: &Kept) -> Option<crate::model::Schema> {
        let (folder, id) = self.reading_place(kept)?;
        crate::timings::stage("cached reading", || reading::load(&folder, &id))
    }

    /// [`Shadow::warm_reading`] and the delta state stored with it
    /// ([`reading::load_with_delta`]: its splice base is restored from the reading when the
    /// state is used, [`ScratchDb::set_stored_delta_base`]), for a run that reads the kept
    /// database again (the proof).
    pub fn warm_reading_with_delta(
        &self,
        kept: &Kept,
    ) -> Option<(
        crate::model::Schema,
        Option<(DeltaState, reading::BaseReading)>,
    )> {
        let (folder, id) = self.reading_place(kept)?;
        crate::timings::stage("cached reading and delta state", || {
            reading::load_with_delta(&folder, &id)
        })
    }

    /// Stores `schema`, the catalog reading of `kept` or of a copy of it (before any scope is
    /// applied), for later runs, and `state`, the delta state of the same reading, beside it
    /// ([`reading`]). Best effort. Gives where both were saved ([`reading::save`]), for a
    /// state whose splice base waits for its schema ([`ScratchDb::set_stored_delta_base`]).
    pub fn warm_save_reading(
        &self,
        kept: &Kept,
        schema: &crate::model::Schema,
        state: Option<&DeltaState>,
    ) -> Option<reading::BaseReading> {
        let (folder, id) = self.reading_place(kept)?;
        crate::timings::stage("reading saved", || {
            reading::save(&folder, &id, schema, state)
        })
    }

    /// The delta state stored with the reading of `kept` ([`reading::load_delta`]: the
    /// reading is loaded too, as its splice base's schema), when there is a valid one for
    /// exactly this database; `None` for anything else (the reads that would have been delta
    /// reads of it are full).
    pub fn warm_delta_state(&self, kept: &Kept) -> Option<DeltaState> {
        let (folder, id) = self.reading_place(kept)?;
        crate::timings::stage("cached delta state", || reading::load_delta(&folder, &id))
    }

    /// Where the reading of `kept` lives and what it is keyed by; `None` without a cache (a
    /// `--dev-url` server, `--no-cache`) or when the cluster's identifier cannot be read.
    fn reading_place(&self, kept: &Kept) -> Option<(PathBuf, reading::Identity)> {
        if !self.warm_enabled() {
            return None;
        }
        let folder = self.readings_folder()?;
        let system = self
            .inner
            .system
            .get_or_init(|| {
                self.inner
                    .with_admin(|c| {
                        c.query_one(
                            "SELECT system_identifier::text FROM pg_catalog.pg_control_system()",
                            &[],
                        )
                        .map(|r| r.get::<_, String>(0))
                    })
                    .ok()
            })
            .clone()?;
        Some((
            folder,
            reading::Identity {
                system,
                database: kept.name.clone(),
                oid: kept.oid,
            },
        ))
    }

    /// `<cache>/pg<major>/readings` of the embedded cluster.
    fn readings_folder(&self) -> Option<PathBuf> {
        let embedded = self.inner.embedded.lock().ok()?;
        Some(reading::folder(embedded.as_ref()?.cluster.base_dir()))
    }

    /// The kept databases whose manifest ([`warm::Manifest`]) has context `context`, newest
    /// first: the bases an incremental update may start from. A kept database without a
    /// manifest (an older schemaplan's, or one whose comment is not written yet) is none.
    pub fn warm_bases(&self, context: &str) -> Vec<(String, warm::Manifest)> {
        if !self.warm_enabled() {
            return Vec::new();
        }
        let pattern = format!("{}%", WARM_PREFIX.replace('_', "\\_"));
        let rows: Vec<(String, Option<String>)> = self
            .inner
            .with_own_admin(|c| {
                c.query(
                    "SELECT datname::text, pg_catalog.shobj_description(oid, 'pg_database') \
                     FROM pg_catalog.pg_database WHERE datname LIKE $1 ORDER BY oid DESC",
                    &[&pattern],
                )
                .map(|rows| rows.iter().map(|r| (r.get(0), r.get(1))).collect())
            })
            .unwrap_or_default();
        let mut bases: Vec<(String, warm::Manifest)> = rows
            .into_iter()
            .filter_map(|(name, comment)| {
                let m = warm::Manifest::decode(comment.as_deref()?)?;
                (m.format == warm::MANIFEST_FORMAT && m.context == context).then_some((name, m))
            })
            .collect();
        // Newest kept first (stable: by OID among equal stamps).
        bases.sort_by_key(|(_, m)| std::cmp::Reverse(m.kept_at));
        bases
    }

    /// A scratch copy of the kept database `name` (one of [`Shadow::warm_bases`]), to update;
    /// `None` when it is gone (evicted by another process meanwhile). Holds the pin and the
    /// connection lock shared while copying (`KeptLocks`).
    pub fn warm_copy_named(&self, name: &str, purpose: &str) -> Option<ScratchDb> {
        if !self.warm_enabled() || !name.starts_with(WARM_PREFIX) {
            return None;
        }
        let locks = self.kept_locks(name)?;
        let _pin = FileLock::shared(&locks.pin).ok()?;
        let _conn = FileLock::shared(&locks.conn).ok()?;
        self.create_scratch(purpose, name).ok()
    }

    /// Exactly `kept`, taken over by this run to be updated in place instead of copied (a
    /// copy of a 5,000-table database writes some 300 MB after a checkpoint: 0.6-1.9 s of a
    /// warm plan, issue 9). It is renamed to a scratch name of this run (`ALTER DATABASE ...
    /// RENAME`: a catalog change, no file is copied), so no other run finds, copies, pins or
    /// evicts it meanwhile; the run then keeps it under its new key ([`Shadow::warm_keep`]),
    /// gives it back unchanged ([`Shadow::warm_give_back`]), or drops it as any scratch
    /// database (an update that failed half-way, a Ctrl-C).
    ///
    /// `None`, leaving `kept` as it is, when the cache is off, when another run pins it, copies
    /// it or is connected to it (its locks are only tried, never waited for: the caller copies
    /// instead, which waits), or when `kept` is gone or another database has its name.
    pub fn warm_take(&self, kept: &Kept, purpose: &str) -> Option<ScratchDb> {
        if !self.warm_enabled() || !kept.name.starts_with(WARM_PREFIX) {
            return None;
        }
        let locks = self.kept_locks(&kept.name)?;
        let pin = FileLock::try_exclusive(&locks.pin).ok()??;
        let conn = FileLock::try_exclusive(&locks.conn).ok()??;
        // Held exclusively, then checked: nobody else uses it from here on.
        if self.kept_oid(&kept.name) != Some(kept.oid) {
            return None;
        }
        let name = scratch_name(purpose);
        // Registered first: a Ctrl-C between the rename and registration must not leak it.
        self.inner.lock_scratch().insert(name.clone());
        let renamed = self.inner.admin_execute(&format!(
            "ALTER DATABASE {} RENAME TO {}",
            quote::ident(&kept.name),
            quote::ident(&name)
        ));
        if renamed.is_err() {
            self.inner.lock_scratch().remove(&name);
            return None;
        }
        // As after an eviction: a run that opened a lock file before and waits for it finds
        // the database gone (its copy fails and it loads afresh).
        let _ = std::fs::remove_file(&locks.pin);
        let _ = std::fs::remove_file(&locks.conn);
        drop((pin, conn));
        Some(ScratchDb {
            url: db::with_database(&self.inner.admin_url, &name),
            name,
            inner: self.inner.clone(),
            kept: None,
            busy: Mutex::new(()),
            delta: Mutex::new(None),
        })
    }

    /// Gives `db`, taken over from `kept` by [`Shadow::warm_take`] and left as it was (an
    /// update rolled back), back under `kept`'s name, with its OID and so its cached reading
    /// and delta state. Nobody may be connected to `db`. Whether it was given back: when not,
    /// `db` was dropped (a later run loads afresh what it held).
    pub fn warm_give_back(&self, mut db: ScratchDb, kept: &Kept) -> bool {
        // Pinned before it has its name again, as a newly kept database (`warm_keep`).
        let Some(locks) = self.kept_locks(&kept.name) else {
            return false;
        };
        let Ok(pin) = FileLock::shared(&locks.pin) else {
            return false;
        };
        let renamed = self.inner.admin_execute(&format!(
            "ALTER DATABASE {} RENAME TO {}",
            quote::ident(&db.name),
            quote::ident(&kept.name)
        ));
        if renamed.is_err() {
            return false;
        }
        self.inner.lock_scratch().remove(&db.name);
        // Kept again: left as it is when `db` goes, with its pin.
        db.name = kept.name.clone();
        db.url = db::with_database(&self.inner.admin_url, &kept.name);
        db.kept = Some(InPlace {
            _pin: pin,
            conn: locks.conn,
        });
        true
    }

    /// Keeps `db`, a database this run loaded or updated, under `key` for later runs
    /// ([`Shadow::warm_kept`]) by *renaming* it (`ALTER DATABASE ... RENAME`: a catalog change,
    /// no file is copied), with the manifest of the statements it was loaded from as its
    /// comment (for [`Shadow::warm_bases`]), then evicts all but the [`WARM_KEEP`] newest kept
    /// databases. Nobody may be connected to `db` (PostgreSQL refuses to rename a database with
    /// sessions). Returns the database as this run goes on using it: on success the kept
    /// database in place, pinned (see [`Shadow::warm_pin`]), and the [`Kept`] it now is (the
    /// caller's reading of `db` is its reading too, [`Shadow::warm_save_reading`]); otherwise
    /// `db` unchanged and `None` (the cache is off, or a concurrent run kept the same key
    /// first: theirs serves the next runs, and our manifest is not written over theirs).
    ///
    /// Publication is atomic: the name appears when the rename commits, on a complete
    /// database. The pin is taken before the rename, so the new kept database is never
    /// without one until this run lets go of it. The comment is written after the rename, so
    /// a kept database is briefly without one: it is then only no base for updates. Best
    /// effort: a cache that cannot be written is only slower next time.
    pub fn warm_keep(
        &self,
        mut db: ScratchDb,
        key: &str,
        manifest: Option<warm::Manifest>,
    ) -> (ScratchDb, Option<Kept>) {
        if !self.warm_enabled() || db.is_kept() {
            return (db, None);
        }
        let name = warm_name(key);
        let Some(locks) = self.kept_locks(&name) else {
            return (db, None);
        };
        // An eviction of an earlier database of this name holds it exclusively only while
        // dropping that database.
        let Ok(pin) = FileLock::shared(&locks.pin) else {
            return (db, None);
        };
        let sql = format!(
            "ALTER DATABASE {} RENAME TO {}",
            quote::ident(&db.name),
            quote::ident(&name)
        );
        if self.inner.admin_execute(&sql).is_err() {
            return (db, None);
        }
        // Renamed: no longer a scratch database of ours (a Ctrl-C in between dropped nothing:
        // the old name is gone), and `db` now the kept database in place.
        self.inner.lock_scratch().remove(&db.name);
        db.name = name.clone();
        db.url = db::with_database(&self.inner.admin_url, &name);
        db.kept = Some(InPlace {
            _pin: pin,
            conn: locks.conn,
        });
        let kept = self.kept_oid(&name).map(|oid| Kept {
            name: name.clone(),
            oid,
        });
        let stamped = manifest.map(|m| warm::Manifest {
            kept_at: now_nanos(),
            ..m
        });
        if let Some(text) = stamped.and_then(|m| m.encode()) {
            // Compressed by the client (`Manifest::encode`): the server's TOAST compression
            // (pglz by default) of ~10 MiB of JSON took ~0.4 s of the shadow's CPU at every
            // keep, and the text was held three times over meanwhile (issue 9).
            let mut sql = format!("COMMENT ON DATABASE {} IS ", quote::ident(&name));
            quote::push_literal(&mut sql, &text);
            drop(text);
            let _ = self.inner.with_own_admin(|c| c.batch_execute(&sql));
        }
        self.warm_evict(&name);
        (db, kept)
    }

    /// Drops all but the [`WARM_KEEP`] newest kept databases (and never `ours`, just kept),
    /// with their readings. A kept database that is pinned or has a session (another run
    /// uses it, `KeptLocks`) is left for a later eviction: its locks are only tried, never
    /// waited for.
    fn warm_evict(&self, ours: &str) {
        let pattern = format!("{}%", WARM_PREFIX.replace('_', "\\_"));
        let names: Vec<String> = self
            .inner
            .with_admin(|c| {
                c.query(
                    "SELECT datname::text FROM pg_database WHERE datname LIKE $1 \
                     ORDER BY oid DESC",
                    &[&pattern],
                )
                .map(|rows| rows.iter().map(|r| r.get(0)).collect())
            })
            .unwrap_or_default();
        // Which are the newest only matters when some must go: the stamps are in the
        // manifests (~10 MiB each at 5,000 tables), fetched only then. An update in place
        // keeps the count (it takes one database over and keeps one), so a run of edits
        // fetches none.
        let all = match names.len() > WARM_KEEP {
            true => self.newest_first(&pattern).unwrap_or(names),
            false => names,
        };
        let (stay, old) = all.split_at(all.len().min(WARM_KEEP));
        let mut remaining: Vec<String> = stay.to_vec();
        for name in old {
            let evicted = name != ours && self.evict_one(name);
            if !evicted {
                remaining.push(name.clone());
            }
        }
        // The readings of the evicted databases go with them.
        if let Some(folder) = self.readings_folder() {
            reading::prune(&folder, &remaining);
        }
    }

    /// The kept databases matching `pattern`, the ones kept last first (an update in place
    /// keeps its base's older OID), by OID among equal stamps (none: an older schemaplan's,
    /// or not commented yet). On an admin session of its own: the comments are big.
    fn newest_first(&self, pattern: &str) -> Option<Vec<String>> {
        let mut all: Vec<(String, u64)> = self
            .inner
            .with_own_admin(|c| {
                c.query(
                    "SELECT datname::text, pg_catalog.shobj_description(oid, 'pg_database') \
                     FROM pg_database WHERE datname LIKE $1 ORDER BY oid DESC",
                    &[&pattern],
                )
                .map(|rows| {
                    rows.iter()
                        .map(|r| (r.get(0), kept_at(r.get::<_, Option<&str>>(1))))
                        .collect()
                })
            })
            .ok()?;
        all.sort_by_key(|(_, at)| std::cmp::Reverse(*at));
        Some(all.into_iter().map(|(name, _)| name).collect())
    }

    /// Drops kept database `name` when nobody pins it or is connected to it; whether it did.
    fn evict_one(&self, name: &str) -> bool {
        let Some(locks) = self.kept_locks(name) else {
            return false;
        };
        let (Ok(Some(pin)), Ok(Some(conn))) = (
            FileLock::try_exclusive(&locks.pin),
            FileLock::try_exclusive(&locks.conn),
        ) else {
            return false;
        };
        // No FORCE: a session of an older schemaplan that takes no locks makes this fail
        // (after PostgreSQL's 5 s wait) rather than break its run.
        let dropped = self
            .inner
            .admin_execute(&format!("DROP DATABASE IF EXISTS {}", quote::ident(name)))
            .is_ok();
        if dropped {
            // Removed while held: a run that opened a file before and waits for it finds the
            // database gone (its copy fails and it goes on without), as without the removal.
            let _ = std::fs::remove_file(&locks.pin);
            let _ = std::fs::remove_file(&locks.conn);
        }
        drop((pin, conn));
        dropped
    }
}

/// The kept database of `key` (a hex digest; cut to PostgreSQL's 63-byte names).
fn warm_name(key: &str) -> String {
    let mut name = format!("{WARM_PREFIX}{key}");
    name.truncate(63);
    name
}

/// When a kept database was kept, from its comment (`warm::Manifest::kept_at`; 0 without one).
fn kept_at(comment: Option<&str>) -> u64 {
    comment.map_or(0, warm::kept_at_of)
}

/// Now, in nanoseconds since the Unix epoch.
fn now_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}
