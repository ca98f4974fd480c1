//! Access methods. There is no `ALTER ACCESS METHOD`: one whose type or handler changes is
//! dropped and created again, with the operator classes and families (and through them the
//! indexes) that use it (the closure over `pg_depend`). Known gap: a table access method that
//! tables use cannot be dropped under them (PostgreSQL refuses, and a table is never dropped
//! and created again for it), so changing its handler fails at apply time.

use super::{Change, Differ};
use crate::model::*;

pub(super) fn find_replacements(d: &mut Differ) {
    for (name, want) in &d.desired.access_methods {
        if d.current
            .access_methods
            .get(name)
            .is_some_and(|have| have != want)
        {
            d.replaced
                .insert(ObjectId::AccessMethod(name.as_str().into()));
        }
    }
}

pub(super) fn diff_access_methods(d: &mut Differ) {
    for (name, want) in &d.desired.access_methods {
        let id = ObjectId::AccessMethod(name.as_str().into());
        match d.current.access_methods.get(name) {
            None => {}
            Some(have) if d.is_replaced(&id) => d.push(Change::DropAccessMethod(have.clone())),
            Some(_) => continue,
        }
        d.push(Change::CreateAccessMethod(want.clone()));
        d.created(id);
    }
    for (name, have) in &d.current.access_methods {
        if !d.desired.access_methods.contains_key(name) {
            d.push(Change::DropAccessMethod(have.clone()));
        }
    }
}
