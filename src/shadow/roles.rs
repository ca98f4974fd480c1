//! The roles of the shadow: made for the roles of the target, with the attributes that decide
//! whether a schema-file statement loads.
//!
//! The shadow loads the files as a superuser, for whom every `OWNER TO` succeeds whatever the
//! new owner is, except two: PostgreSQL requires the owner of an event trigger and of a
//! foreign-data wrapper to be a superuser (`source::SuperuserOwner`). A statement can also run
//! *as* a role of the files: the elements of `CREATE SCHEMA ... AUTHORIZATION r` are created
//! by `r`, with `r`'s privileges. So a role's `SUPERUSER` attribute changes whether statements
//! load; its other attributes do not (`BYPASSRLS` only changes which rows a query sees,
//! `REPLICATION` only whom a subscription may connect as, and subscriptions are never loaded;
//! `CREATEDB`/`CREATEROLE`/`LOGIN` are about statements schema files cannot hold). Passwords
//! are never read.
//!
//! On the embedded cluster each role of the target is made (or altered to be) a superuser
//! exactly when it is one on the target; roles stay `NOLOGIN`, and the shadow's own role is
//! never altered. The cluster is shared by concurrent runs, possibly of different targets
//! whose same-named roles differ: a run holds `<cache>/pg<major>/roles.lock` shared for as long
//! as its `Shadow` lives (its loads and proofs rely on the attributes), and changes an
//! attribute only under the lock held exclusively, so no run's roles change under it (a run
//! needing other attributes waits for the runs using them, up to [`ROLE_WAIT`]). On a
//! `--dev-url` server nothing is ever altered: missing roles are made plain, and
//! `workflow::desired_load` refuses a schema whose superuser-owned objects would load
//! differently there than on the target. See `docs/shadow.md`, "Roles".

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::lock::FileLock;
use super::{Shadow, ShadowError};
use crate::render::quote;

/// How long a run waits for the runs using other attributes of the same roles to end.
const ROLE_WAIT: Duration = Duration::from_secs(120);

/// A role of the target, as the shadow makes it: its name and the one attribute that changes
/// whether a schema-file statement loads (see the module documentation).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Role {
    pub name: String,
    pub superuser: bool,
}

impl Role {
    /// A role without attributes (the target's roles are not known).
    pub fn plain(name: &str) -> Role {
        Role {
            name: name.to_string(),
            superuser: false,
        }
    }
}

/// Whether the shadow makes a role of this name: `public` (PUBLIC; a role `Public` or `PUBLIC`
/// is a real role) and `pg_*` names are PostgreSQL's.
pub(super) fn made(name: &str) -> bool {
    !name.is_empty() && name != "public" && !name.starts_with("pg_")
}

impl Shadow {
    /// Makes the roles of the target in the shadow (see the module documentation): on the
    /// embedded cluster with the target's `SUPERUSER` attribute (held for this `Shadow`'s
    /// life), on a `--dev-url` server the missing ones plain.
    pub fn prepare_roles(&self, roles: &[Role]) -> Result<(), ShadowError> {
        let wanted: BTreeMap<&str, bool> = roles
            .iter()
            .filter(|r| made(&r.name))
            .map(|r| (r.name.as_str(), r.superuser))
            .collect();
        if wanted.is_empty() {
            return Ok(());
        }
        let lock_path = self
            .inner
            .embedded
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(|e| e.start_lock.with_file_name("roles.lock"));
        let Some(lock_path) = lock_path else {
            let names: Vec<String> = wanted.keys().map(|n| n.to_string()).collect();
            return self.ensure_roles(&names);
        };
        let lock_err = |source| ShadowError::Cache {
            path: lock_path.clone(),
            source,
        };
        let started = Instant::now();
        let me = self.admin_role()?;
        loop {
            {
                let mut held = self
                    .inner
                    .roles_lock
                    .lock()
                    .unwrap_or_else(|p| p.into_inner());
                if held.is_none() {
                    *held = Some(FileLock::shared(&lock_path).map_err(lock_err)?);
                }
            }
            let mut have = self.role_attributes(wanted.keys().copied())?;
            let missing: Vec<(&str, bool)> = wanted
                .iter()
                .filter(|(n, _)| !have.contains_key(**n))
                .map(|(n, s)| (*n, *s))
                .collect();
            if !missing.is_empty() {
                for (name, superuser) in missing {
                    // No run relies on a role that does not exist: made under the shared lock.
                    self.create_role(name, superuser)?;
                }
                // Read again: another run may have made one of them first, as it wanted it.
                have = self.role_attributes(wanted.keys().copied())?;
            }
            let differ: Vec<(&str, bool)> = wanted
                .iter()
                .filter(|(n, s)| **n != me && have.get(**n) != Some(*s))
                .map(|(n, s)| (*n, *s))
                .collect();
            if differ.is_empty() {
                return Ok(());
            }
            // Other attributes than the cluster has: change them alone (our own shared lock
            // goes first), then take the shared lock again and check.
            *self
                .inner
                .roles_lock
                .lock()
                .unwrap_or_else(|p| p.into_inner()) = None;
            let exclusive = loop {
                if let Some(lock) = FileLock::try_exclusive(&lock_path).map_err(lock_err)? {
                    break lock;
                }
                if started.elapsed() > ROLE_WAIT {
                    let (name, superuser) = differ[0];
                    return Err(ShadowError::Roles(format!(
                        "the target has role {name} {}, and other schemaplan runs using the \
                         embedded shadow cluster ({}) need it {} there; waited {} s for them \
                         to end",
                        attribute(superuser),
                        lock_path.parent().unwrap_or(&lock_path).display(),
                        attribute(!superuser),
                        ROLE_WAIT.as_secs()
                    )));
                }
                std::thread::sleep(Duration::from_millis(50));
            };
            for (name, superuser) in differ {
                let sql = format!(
                    "ALTER ROLE {} {}",
                    quote::ident(name),
                    if superuser {
                        "SUPERUSER"
                    } else {
                        "NOSUPERUSER"
                    }
                );
                self.inner
                    .admin_execute(&sql)
                    .map_err(|e| self.inner.sql_error(&sql, &e))?;
            }
            drop(exclusive);
        }
    }

    /// `rolsuper` of the roles of these names that exist on the shadow's server.
    pub fn role_attributes<'a>(
        &self,
        names: impl IntoIterator<Item = &'a str>,
    ) -> Result<BTreeMap<String, bool>, ShadowError> {
        let names: Vec<&str> = names.into_iter().collect();
        self.inner
            .with_admin(|c| {
                c.query(
                    "SELECT rolname::text, rolsuper FROM pg_roles WHERE rolname = ANY($1)",
                    &[&names],
                )
                .map(|rows| rows.iter().map(|r| (r.get(0), r.get(1))).collect())
            })
            .map_err(|e| self.inner.sql_error("listing roles", &e))
    }

    /// The role the shadow loads as.
    pub fn admin_role(&self) -> Result<String, ShadowError> {
        self.inner
            .with_admin(|c| {
                c.query_one("SELECT current_user::text", &[])
                    .map(|r| r.get(0))
            })
            .map_err(|e| self.inner.sql_error("reading the shadow's role", &e))
    }

    /// `CREATE ROLE name NOLOGIN [SUPERUSER]`; made concurrently by another run is fine.
    pub(super) fn create_role(&self, name: &str, superuser: bool) -> Result<(), ShadowError> {
        let sql = format!(
            "CREATE ROLE {} NOLOGIN{}",
            quote::ident(name),
            if superuser { " SUPERUSER" } else { "" }
        );
        if let Err(e) = self.inner.admin_execute(&sql) {
            let code = e.code();
            if code != Some(&postgres::error::SqlState::DUPLICATE_OBJECT)
                && code != Some(&postgres::error::SqlState::UNIQUE_VIOLATION)
            {
                return Err(self.inner.sql_error(&format!("CREATE ROLE {name}"), &e));
            }
        }
        Ok(())
    }
}

/// `a superuser` / `not a superuser`.
pub fn attribute(superuser: bool) -> &'static str {
    if superuser {
        "a superuser"
    } else {
        "not a superuser"
    }
}
