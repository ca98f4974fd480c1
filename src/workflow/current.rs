//! The current side of a plan: the live database read whole (its roles, server version and
//! catalog), or an empty database of the shadow when there is none, then split by the scope
//! into the part in scope and the context (`workflow::scope`).

use super::{Context, WorkflowError};
use crate::catalog;
use crate::db::{self, DbError};
use crate::model::Schema;
use crate::shadow::{self, Shadow};

/// The current side of a plan.
pub struct Current {
    /// The part in scope (everything without a scope).
    pub schema: Schema,
    /// The out-of-scope part the desired schema may depend on (`workflow::scope`).
    pub context: Context,
    /// The roles of the target server, with the attribute that decides whether a statement
    /// loads (made in the shadow so GRANTs and OWNER TO load, `Shadow::prepare_roles`).
    pub roles: Vec<shadow::Role>,
    pub server_version_num: Option<i32>,
    /// The digest of the live catalog rows `schema` was built from (`catalog::read_digested`),
    /// for a kept fingerprint (`catalog::fingerprints`); `None` for a scoped or empty side, and
    /// when not asked for (`live_full`).
    pub rows_digest: Option<String>,
}

/// Reads the live database, or an empty database of the shadow when there is none.
pub fn current(db_url: Option<&str>, shadow: &Shadow) -> Result<Current, WorkflowError> {
    current_in(db_url, shadow, &catalog::Scope::default())
}

/// [`current`], split by `scope` into the part in scope and the context.
pub fn current_in(
    db_url: Option<&str>,
    shadow: &Shadow,
    scope: &catalog::Scope,
) -> Result<Current, WorkflowError> {
    scoped(current_full(db_url, shadow)?, shadow, scope)
}

/// A whole current side ([`current_full`]) split by `scope` into the part in scope and the
/// context.
pub(super) fn scoped(
    mut c: Current,
    shadow: &Shadow,
    scope: &catalog::Scope,
) -> Result<Current, WorkflowError> {
    if !scope.is_everything() {
        let empty = empty_schema(shadow)?;
        let (inside, outside) = scope.split(&c.schema);
        c.context = Context::new(scope, &c.schema, &outside, &empty);
        c.schema = inside;
        c.rows_digest = None;
    }
    Ok(c)
}

pub(super) fn current_full(
    db_url: Option<&str>,
    shadow: &Shadow,
) -> Result<Current, WorkflowError> {
    match db_url {
        Some(url) => live_full(url, false, |_, _| {}),
        None => Ok(Current {
            schema: empty_schema(shadow)?,
            context: Context::default(),
            roles: Vec::new(),
            server_version_num: None,
            rows_digest: None,
        }),
    }
}

/// The whole live database at `url` (no scope applied). `early` hears its role names and
/// server version as soon as they are read, before the catalog: they are all the desired load
/// needs of the live side, so it can start while the catalog is read (`sides`). `digested`:
/// the catalog rows are digested too ([`Current::rows_digest`], for a kept fingerprint), only
/// for a caller that fingerprints the schema (`plan`; `drift` does not).
pub(super) fn live_full(
    url: &str,
    digested: bool,
    early: impl FnOnce(&[shadow::Role], i32),
) -> Result<Current, WorkflowError> {
    let mut client = db::connect(url)?;
    // Names and `rolsuper` only (never a password: `pg_roles` shows none anyway).
    let roles: Vec<shadow::Role> = client
        .query(
            "SELECT rolname::text, rolsuper FROM pg_roles WHERE rolname !~ '^pg_' ORDER BY 1",
            &[],
        )
        .map_err(|e| DbError::Query {
            url: db::redact(url),
            what: "listing roles",
            message: db::error_text(&e),
        })?
        .iter()
        .map(|r| shadow::Role {
            name: r.get(0),
            superuser: r.get(1),
        })
        .collect();
    let v = db::server_version_num(&mut client)?;
    early(&roles, v);
    let (schema, rows_digest) = match digested {
        true => catalog::read_digested(&mut client).map(|(s, d)| (s, Some(d)))?,
        false => (catalog::read(&mut client)?, None),
    };
    Ok(Current {
        schema,
        context: Context::default(),
        roles,
        server_version_num: Some(v),
        rows_digest,
    })
}

/// The schema of a fresh, empty database on the shadow server (what "nothing" looks like).
pub fn empty_schema(shadow: &Shadow) -> Result<Schema, WorkflowError> {
    let db = shadow.scratch("empty")?;
    let mut client = db.connect()?;
    Ok(catalog::read(&mut client)?)
}
