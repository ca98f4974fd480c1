//! The workflow's side of the warm path (docs/shadow.md): the key a loaded desired database is
//! kept under, made of its context ([`warm_context`]) and its statements ([`warm_key`]), what
//! the incremental update needs to know of each statement ([`warm_statement`]), and the choice
//! and update of a kept database of other statements ([`warm_update`]; the update itself is
//! `shadow::warm`'s).

use super::WorkflowError;
use crate::catalog::delta::DeltaState;
use crate::shadow::{self, LoadStatement, ScratchDb, Shadow};

/// Length-prefixed SHA-256 (no two different lists hash alike), cut to 40 hex digits.
fn digest<'a>(parts: impl IntoIterator<Item = &'a str>) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for part in parts {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    h.finalize()
        .iter()
        .take(20)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The key of what a loaded desired database depends on besides its statements: the roles
/// created in the shadow beforehand, the shadow's version, settings and available extensions
/// ([`Shadow::warm_context`]), and schemaplan's version (the loader's session settings). A
/// kept database of another context is neither reused nor updated.
pub(super) fn warm_context(
    shadow: &Shadow,
    roles: &[shadow::Role],
) -> Result<String, WorkflowError> {
    // A role's `SUPERUSER` attribute changes what loads (`Shadow::prepare_roles`).
    let mut roles: Vec<String> = roles
        .iter()
        .map(|r| match r.superuser {
            true => format!("{}\tsuperuser", r.name),
            false => r.name.clone(),
        })
        .collect();
    roles.sort();
    roles.dedup();
    let settings = shadow.warm_context()?;
    let roles = roles.join("\n");
    Ok(digest([
        concat!("schemaplan ", env!("CARGO_PKG_VERSION"), " desired load"),
        settings.as_str(),
        roles.as_str(),
    ]))
}

/// The key of a kept desired database: its context ([`warm_context`]) and every statement as
/// loaded (so a file edited during the run changes nothing: what was read is what is keyed),
/// by digest ([`warm_statement`]). Anything else differing gives another key.
pub(super) fn warm_key(context: &str, statements: &[shadow::warm::WarmStatement]) -> String {
    digest(std::iter::once(context).chain(statements.iter().map(|s| s.digest.as_str())))
}

/// What the incremental warm shadow needs to know of a statement: its digest (text and
/// annotations), the names it creates and references, and how it may be undone
/// ([`shadow::warm::Mode`]).
pub(super) fn warm_statement(s: &crate::source::Statement) -> shadow::warm::WarmStatement {
    use crate::source::Annotation as A;
    use shadow::warm::Mode;
    // What each annotation says, not where: a statement moved to another line is the same.
    let annotations: String = s
        .annotations
        .iter()
        .map(|a| match a {
            A::RenamedFrom { from, column, .. } => format!("renamed {from:?} {column:?}\n"),
            A::Backfill { expr, column, .. } => format!("backfill {expr:?} {column:?}\n"),
            A::Using { expr, column, .. } => format!("using {expr:?} {column:?}\n"),
        })
        .collect();
    // Upper-cased only where it is looked at: not a copy of every statement's text (~6 MB at
    // 5,000 tables).
    let grants_in_schema = || {
        matches!(s.kind.as_str(), "GRANT" | "REVOKE")
            && s.sql.to_ascii_uppercase().contains(" IN SCHEMA ")
    };
    let mode = if s.imperative
        || matches!(
            s.kind.as_str(),
            "DO" | "ALTER DEFAULT PRIVILEGES" | "CREATE EVENT TRIGGER" | "ALTER EVENT TRIGGER"
        )
        // `GRANT ... ON ALL TABLES IN SCHEMA s` reaches the objects that exist when it runs.
        || grants_in_schema()
    {
        Mode::Unsafe
    } else if s.kind == "CREATE CAST" {
        Mode::Untracked
    } else if s.kind.starts_with("CREATE ") || s.kind == "IMPORT FOREIGN SCHEMA" {
        Mode::Creates
    } else if s.references.is_empty() {
        // An attached statement naming nothing: the incremental path could not know when
        // what it changed is made again, so it would not re-run it.
        Mode::Unsafe
    } else {
        Mode::Attached
    };
    shadow::warm::WarmStatement {
        digest: digest([s.sql.as_str(), annotations.as_str()]).into(),
        mode,
        creates: s.creates.iter().map(crate::model::Name::from).collect(),
        references: s.references.iter().map(crate::model::Name::from).collect(),
        kind: crate::model::Name::from(&s.kind),
    }
}

/// A kept database of other statements (the one sharing the most with these), copied and
/// brought up to date incrementally (`shadow::warm::update`), with its new manifest and the
/// delta state stored with the base's reading (`shadow::reading`), of which the copy is read
/// as a delta (`None`: it is read in full, and `-v` says why). `Ok(None)` when there is none;
/// `Err` says why the incremental path gave up (the copy is dropped).
pub(super) fn warm_update(
    shadow: &Shadow,
    context: &str,
    statements: &[LoadStatement],
    warm: &[shadow::warm::WarmStatement],
) -> Result<Option<WarmUpdated>, String> {
    let bases = crate::timings::stage("kept manifests", || shadow.warm_bases(context));
    let Some((name, manifest)) = bases
        .into_iter()
        .map(|(name, m)| (m.shared(warm), name, m))
        // The most shared statements, then the fewest left to undo (a base with one more
        // statement, say a `DO` block, would need more work or a fallback); newest first, so
        // the newest of the best.
        .fold(
            None,
            |best: Option<(usize, String, shadow::warm::Manifest)>, cand| {
                let better = |a: &(usize, String, shadow::warm::Manifest)| {
                    (cand.0, std::cmp::Reverse(cand.2.entries.len()))
                        > (a.0, std::cmp::Reverse(a.2.entries.len()))
                };
                match &best {
                    Some(b) if !better(b) => best,
                    _ => Some(cand),
                }
            },
        )
        // Sharing less than half, re-running would cost about what a fresh load does.
        .filter(|(shared, _, _)| shared * 2 >= warm.len())
        .map(|(_, name, m)| (name, m))
    else {
        return Ok(None);
    };
    // Exactly the base of that name (its OID checked after the copy): the stored state is
    // of that database, and only its copies may be read as deltas of it.
    let Some(base) = shadow.warm_kept_named(&name) else {
        return Ok(None);
    };
    let copied = (|| {
        // In place when no other run uses the base: no copy (issue 9). The update runs in one
        // transaction, so when it fails (an error in the edited files, a statement no
        // transaction block runs, an enum value used where it was added) the base is as it
        // was: it is given back and a copy of it updated, as when another run uses it.
        if let Some(db) = shadow.warm_take(&base, "desired") {
            match update_in_place(&db, &manifest, statements, warm) {
                Ok(updated) => return Ok(Some((db, updated))),
                Err(why) => {
                    crate::timings::note(&format!(
                        "the kept database was not updated in place ({why}): a copy is"
                    ));
                    if !shadow.warm_give_back(db, &base) {
                        return Ok(None);
                    }
                }
            }
        }
        let Some(db) = shadow.warm_copy_of(&base, "desired") else {
            return Ok(None);
        };
        let mut client = db.connect().map_err(|e| e.to_string())?;
        let updated = crate::timings::stage("warm shadow update", || {
            shadow::warm::update(&mut client, &manifest, statements, warm)
        })
        .map_err(|e| e.0)?;
        Ok::<_, String>(Some((db, updated)))
    })();
    let Some((db, updated)) = copied? else {
        return Ok(None);
    };
    // The chosen base's manifest is done with: the update made the new one.
    drop(manifest);
    // The base's stored delta state (its reading, the splice base of the copy's delta read,
    // and the kept catalog rows) is loaded once the update is over, not beside it: both at
    // once were the warm plan's peak of memory (~30 MiB more at 5,000 tables, issue 9), for
    // ~0.3 s of wall time saved.
    let base = shadow.warm_delta_state(&base);
    if base.is_none() {
        crate::timings::note(
            "the updated desired database is read in full: no delta state is stored with the \
             reading of the kept database it was copied from",
        );
    }
    Ok(Some(WarmUpdated { db, updated, base }))
}

/// [`shadow::warm::update`] of `db` (a kept database taken over by this run,
/// `Shadow::warm_take`) in one transaction: committed when it succeeds, rolled back (leaving
/// `db` as it was) when not. The session is closed on return.
fn update_in_place(
    db: &ScratchDb,
    manifest: &shadow::warm::Manifest,
    statements: &[LoadStatement],
    warm: &[shadow::warm::WarmStatement],
) -> Result<shadow::warm::Updated, String> {
    let mut client = db.connect().map_err(|e| e.to_string())?;
    let sql_error = |e: postgres::Error| crate::db::error_text(&e);
    client.batch_execute("BEGIN").map_err(sql_error)?;
    let updated = crate::timings::stage("warm shadow update", || {
        shadow::warm::update(&mut client, manifest, statements, warm)
    });
    match updated {
        Ok(updated) => {
            client.batch_execute("COMMIT").map_err(sql_error)?;
            Ok(updated)
        }
        Err(why) => {
            let _ = client.batch_execute("ROLLBACK");
            Err(why.0)
        }
    }
}

/// What [`warm_update`] gives.
pub(super) struct WarmUpdated {
    /// The updated copy.
    pub(super) db: ScratchDb,
    pub(super) updated: shadow::warm::Updated,
    /// The delta state of the base's reading, when stored.
    pub(super) base: Option<DeltaState>,
}
