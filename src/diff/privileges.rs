//! Comments, privileges and default privileges: properties of other objects, restored on
//! every object the plan creates afresh.

use super::{Change, Differ};
use crate::model::*;
use std::collections::BTreeSet;

/// Whether the object keeps existing through the plan (so its comment and grants persist).
fn persists(d: &Differ, id: &ObjectId) -> bool {
    d.current.contains(id) && !d.fresh.contains(id) && parent_persists(d, id)
}

/// Whether the object `id` belongs to (a column's table or view, ...) keeps existing. A
/// column, trigger or rule names its relation as a table (`ObjectId::parent`); a view's is a
/// `View` in the diff's sets (views and tables share one namespace, so at most one is real).
fn parent_persists(d: &Differ, id: &ObjectId) -> bool {
    let gone = |p: &ObjectId| d.fresh.contains(p) || d.is_replaced(p);
    match id.parent() {
        Some(ObjectId::Table(q)) => !gone(&ObjectId::Table(q.clone())) && !gone(&ObjectId::View(q)),
        Some(p) => !gone(&p),
        None => true,
    }
}

pub(super) fn diff_comments(d: &mut Differ) {
    for (id, text) in &d.desired.comments {
        let same = persists(d, id) && d.current.comments.get(id) == Some(text);
        if !same {
            d.push(Change::SetComment {
                on: id.clone(),
                comment: Some(text.clone()),
            });
        }
    }
    for id in d.current.comments.keys() {
        if !d.desired.comments.contains_key(id) && d.desired.contains(id) && persists(d, id) {
            d.push(Change::SetComment {
                on: id.clone(),
                comment: None,
            });
        }
    }
}

/// Revokes come first so that changing only the grant option (a revoke of `SELECT WITH GRANT
/// OPTION` plus a grant of `SELECT`) ends with the grant; equal-priority steps on one object
/// keep this order.
pub(super) fn diff_grants(d: &mut Differ) {
    for g in &d.current.grants {
        if !d.desired.grants.contains(g) && d.desired.contains(&g.on) && persists(d, &g.on) {
            d.push(Change::Revoke(g.clone()));
        }
    }
    let fresh: Vec<ObjectId> = d.fresh.iter().cloned().collect();
    for id in fresh {
        let grantees = default_grantees(d, &id);
        if !grantees.is_empty() {
            d.push(Change::ResetPrivileges { on: id, grantees });
        }
    }
    for g in &d.desired.grants {
        if !(persists(d, &g.on) && d.current.grants.contains(g)) {
            d.push(Change::Grant(g.clone()));
        }
    }
}

/// Whether `side` holds the default privilege `e` with the other grant option: a grant whose
/// option alone changes is one step, not a grant and a revoke (`REVOKE SELECT` would take the
/// privilege itself away, before or after the `GRANT` depending on the order).
pub(crate) fn grant_option_twin(e: &DefaultPrivilege, side: &BTreeSet<DefaultPrivilege>) -> bool {
    e.granted
        && side.contains(&DefaultPrivilege {
            with_grant_option: !e.with_grant_option,
            ..e.clone()
        })
}

/// Default privileges compare as a set of entries. An entry whose grant option alone changes
/// is `GRANT ... WITH GRANT OPTION` (option added: the privilege stays) or `REVOKE GRANT
/// OPTION FOR ...` (option removed: `plan::kinds::grant::default_privilege`), never a revoke
/// of the privilege with a grant of it again.
pub(super) fn diff_default_privileges(d: &mut Differ) {
    for e in &d.desired.default_privileges {
        // without the option, where the current entry has it: its revoke removes the option only
        let downgraded =
            !e.with_grant_option && grant_option_twin(e, &d.current.default_privileges);
        if !d.current.default_privileges.contains(e) && !downgraded {
            d.push(Change::AlterDefaultPrivilege {
                entry: e.clone(),
                add: true,
            });
        }
    }
    for e in &d.current.default_privileges {
        // without the option, where the desired entry has it: its grant adds the option only
        let upgraded = !e.with_grant_option && grant_option_twin(e, &d.desired.default_privileges);
        if !d.desired.default_privileges.contains(e) && !upgraded {
            d.push(Change::AlterDefaultPrivilege {
                entry: e.clone(),
                add: false,
            });
        }
    }
}

/// Grantees that the current database's default privileges give automatically to a new
/// object like `id` (whoever creates it): they are revoked after creation so that only the
/// desired grants remain.
fn default_grantees(d: &Differ, id: &ObjectId) -> Vec<String> {
    let (kind, schema) = match id {
        ObjectId::Table(q) | ObjectId::View(q) => ("TABLES", Some(&q.schema)),
        ObjectId::Sequence(q) => ("SEQUENCES", Some(&q.schema)),
        ObjectId::Function(q, _) => ("FUNCTIONS", Some(&q.schema)),
        ObjectId::Type(q) => ("TYPES", Some(&q.schema)),
        ObjectId::Schema(_) => ("SCHEMAS", None),
        _ => return Vec::new(),
    };
    let mut g: Vec<String> = d
        .current
        .default_privileges
        .iter()
        .filter(|e| e.granted && e.object_type == kind)
        .filter(|e| e.schema.is_none() || e.schema.as_deref() == schema.map(|s| s.as_str()))
        .map(|e| e.grantee.clone())
        .collect();
    g.sort();
    g.dedup();
    g
}
