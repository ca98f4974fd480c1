//! User-defined casts. There is no `ALTER CAST`: a cast whose method, function or context
//! changes is dropped and created again, and so is one whose function the plan drops and
//! creates again (the closure over `pg_depend`: the cast depends on its function).

use super::{Change, Differ};
use crate::model::*;

pub(super) fn find_replacements(d: &mut Differ) {
    for (key, want) in &d.desired.casts {
        if d.current.casts.get(key).is_some_and(|have| have != want) {
            d.replaced
                .insert(ObjectId::Cast(key.0.as_str().into(), key.1.as_str().into()));
        }
    }
}

pub(super) fn diff_casts(d: &mut Differ) {
    for (key, want) in &d.desired.casts {
        let id = ObjectId::Cast(key.0.as_str().into(), key.1.as_str().into());
        match d.current.casts.get(key) {
            None => {}
            Some(have) if d.is_replaced(&id) => d.push(Change::DropCast(have.clone())),
            Some(_) => continue,
        }
        d.push(Change::CreateCast(want.clone()));
        d.created(id);
    }
    for (key, have) in &d.current.casts {
        if !d.desired.casts.contains_key(key) {
            d.push(Change::DropCast(have.clone()));
        }
    }
}
