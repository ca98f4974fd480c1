//! Comments, privileges and default privileges: properties of other objects, restored on
//! every object the plan creates afresh.

use super::{Change, Differ};
use crate::model::*;

/// Whether the object keeps existing through the plan (so its comment and grants persist).
fn persists(d: &Differ, id: &ObjectId) -> bool {
    d.current.contains(id) && !d.fresh.contains(id) && parent_persists(d, id)
}

fn parent_persists(d: &Differ, id: &ObjectId) -> bool {
    match id.parent() {
        Some(p) => !d.fresh.contains(&p) && !d.is_replaced(&p),
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

pub(super) fn diff_grants(d: &mut Differ) {
    for g in &d.desired.grants {
        if !(persists(d, &g.on) && d.current.grants.contains(g)) {
            d.push(Change::Grant(g.clone()));
        }
    }
    for g in &d.current.grants {
        if !d.desired.grants.contains(g) && d.desired.contains(&g.on) && persists(d, &g.on) {
            d.push(Change::Revoke(g.clone()));
        }
    }
}

pub(super) fn diff_default_privileges(d: &mut Differ) {
    for e in &d.desired.default_privileges {
        if !d.current.default_privileges.contains(e) {
            d.push(Change::AlterDefaultPrivilege {
                entry: e.clone(),
                add: true,
            });
        }
    }
    for e in &d.current.default_privileges {
        if !d.desired.default_privileges.contains(e) {
            d.push(Change::AlterDefaultPrivilege {
                entry: e.clone(),
                add: false,
            });
        }
    }
}
