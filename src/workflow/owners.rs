//! Owners and roles when loading the desired schema: which owners the schema files declare, the
//! `--dev-url` check that owners PostgreSQL requires to be superusers are superusers on both
//! servers alike, and the role a failed load was missing. The embedded shadow's own role
//! handling (making the target's roles, superusers where the target's are) is
//! `shadow::roles`.

use super::WorkflowError;
use crate::db;
use crate::model::Schema;
use crate::shadow::{self, LoadError, Shadow};
use crate::source::SourceSet;

/// Keeps only the owners the schema files declare. The shadow loads them as its own role, so
/// every object it owns was created without an owner in mind; any other owner was set by an
/// `ALTER ... OWNER TO` or `CREATE SCHEMA ... AUTHORIZATION` of the files (an `OWNER TO` naming
/// the shadow's own role therefore declares nothing). An undeclared owner is whatever the
/// database has: diff compares owners only where both sides list one.
pub(super) fn declared_owners(
    client: &mut postgres::Client,
    schema: &mut Schema,
) -> Result<(), WorkflowError> {
    let me: String = client
        .query_one("SELECT current_user::text", &[])
        .map_err(|e| WorkflowError::Io {
            what: "reading the shadow's role".to_string(),
            message: db::error_text(&e),
        })?
        .get(0);
    schema.owners.retain(|_, owner| *owner != me);
    Ok(())
}

/// On a `--dev-url` shadow, refuses schema files making a role the owner of an event trigger
/// or a foreign-data wrapper (which PostgreSQL requires to be a superuser) when that role is a
/// superuser on one of the target and the shadow's server only: the load would fail where the
/// target succeeds, or succeed where it fails. Checked before anything is loaded. The embedded
/// shadow makes the target's superusers itself (`Shadow::prepare_roles`); without a target (no
/// roles known) there is nothing to compare with.
pub(super) fn check_superuser_owners(
    shadow: &Shadow,
    source: &SourceSet,
    roles: &[shadow::Role],
) -> Result<(), WorkflowError> {
    if shadow.is_embedded() || roles.is_empty() {
        return Ok(());
    }
    let owners: Vec<(&crate::source::Statement, crate::source::SuperuserOwner)> = source
        .statements
        .iter()
        .filter_map(|s| s.superuser_owner().map(|o| (s, o)))
        .collect();
    if owners.is_empty() {
        return Ok(());
    }
    let target: std::collections::BTreeMap<&str, bool> = roles
        .iter()
        .map(|r| (r.name.as_str(), r.superuser))
        .collect();
    let here = shadow.role_attributes(owners.iter().map(|(_, o)| o.role.as_str()))?;
    let mut problems = Vec::new();
    for (s, o) in &owners {
        // A role the target lacks: the target refuses the statement as the shadow does.
        let Some(&wanted) = target.get(o.role.as_str()) else {
            continue;
        };
        let have = here.get(&o.role).copied().unwrap_or(false);
        if wanted == have {
            continue;
        }
        let role = crate::render::quote::ident(&o.role);
        let article = if o.what.starts_with('e') { "an" } else { "a" };
        let hint = match wanted {
            true => format!(
                "make {role} a superuser on the --dev-url server (ALTER ROLE {role} SUPERUSER), \
                 or plan without --dev-url: the embedded shadow makes the target's superusers \
                 itself"
            ),
            false => format!(
                "the target cannot run this statement: give the {} a role that is a superuser \
                 on the target",
                o.what
            ),
        };
        problems.push(format!(
            "{}:{}:{}: {} makes role {role} the owner of {article} {}, which PostgreSQL \
             requires to be a superuser; {role} is {} on the target but {} on the --dev-url \
             shadow server, so the shadow would {} this statement where the target {} it, and \
             schemaplan never changes roles on a --dev-url server\nhint: {hint}",
            s.file.display(),
            s.line,
            s.col,
            s.kind,
            o.what,
            shadow::attribute(wanted),
            shadow::attribute(have),
            if wanted { "refuse" } else { "accept" },
            if wanted { "accepts" } else { "refuses" },
        ));
    }
    match problems.is_empty() {
        true => Ok(()),
        false => Err(WorkflowError::SuperuserOwner(problems.join("\n"))),
    }
}

/// The role name of a `role "x" does not exist` load error.
pub(super) fn missing_role(e: &LoadError) -> Option<String> {
    let text = e.to_string();
    let start = text.find("role \"")? + 6;
    let rest = &text[start..];
    let end = rest.find("\" does not exist")?;
    Some(rest[..end].replace("\"\"", "\""))
}
