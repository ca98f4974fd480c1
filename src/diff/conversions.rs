//! Conversions. `ALTER CONVERSION` only renames one or changes its owner or schema: a new
//! encoding pair, function or `DEFAULT` drops it and creates it again, and so does a function
//! the plan drops and creates again (the closure over `pg_depend`). Nothing depends on a
//! conversion.

use super::{Change, Differ};
use crate::model::*;

pub(super) fn find_replacements(d: &mut Differ) {
    for (name, want) in &d.desired.conversions {
        if d.current
            .conversions
            .get(name)
            .is_some_and(|have| have != want)
        {
            d.replaced.insert(ObjectId::Conversion(name.clone()));
        }
    }
}

pub(super) fn diff_conversions(d: &mut Differ) {
    for (name, want) in &d.desired.conversions {
        let id = ObjectId::Conversion(name.clone());
        match d.current.conversions.get(name) {
            None => {}
            Some(have) if d.is_replaced(&id) => d.push(Change::DropConversion(have.clone())),
            Some(_) => continue,
        }
        d.push(Change::CreateConversion(want.clone()));
        d.created(id);
    }
    for (name, have) in &d.current.conversions {
        if !d.desired.conversions.contains_key(name) {
            d.push(Change::DropConversion(have.clone()));
        }
    }
}
