//! Foreign-data wrappers, foreign servers and user mappings.
//!
//! A wrapper changes in place (`ALTER FOREIGN DATA WRAPPER` sets handler, validator and
//! options). A server whose wrapper or `TYPE` changes is dropped and created again (`ALTER
//! SERVER` sets only the version and options), and so are its user mappings (the closure
//! over `pg_depend`), and so are the foreign tables on it (`closure::foreign_table`; they keep
//! no rows locally). Foreign tables are tables (`diff/relations.rs`). Options compare as the sorted lists the catalog reads, where a
//! secret has no value on either side: a secret compares by presence only (its value is never
//! read, `model::FdwOption`).

use super::{Change, Differ};
use crate::model::*;

/// A server whose wrapper or type changes.
pub(super) fn find_replacements(d: &mut Differ) {
    for (name, want) in &d.desired.foreign_servers {
        if let Some(have) = d.current.foreign_servers.get(name) {
            if have.fdw != want.fdw || have.server_type != want.server_type {
                d.replaced
                    .insert(ObjectId::ForeignServer(name.as_str().into()));
            }
        }
    }
}

pub(super) fn diff_foreign(d: &mut Differ) {
    for (name, want) in &d.desired.foreign_data_wrappers {
        match d.current.foreign_data_wrappers.get(name) {
            None => {
                d.push(Change::CreateForeignDataWrapper(want.clone()));
                d.created(ObjectId::ForeignDataWrapper(name.as_str().into()));
            }
            Some(have) if have != want => d.push(Change::AlterForeignDataWrapper {
                from: have.clone(),
                to: want.clone(),
            }),
            Some(_) => {}
        }
    }
    for (name, want) in &d.desired.foreign_servers {
        let id = ObjectId::ForeignServer(name.as_str().into());
        match d.current.foreign_servers.get(name) {
            None => {
                d.push(Change::CreateServer(want.clone()));
                d.created(id);
            }
            Some(have) if d.is_replaced(&id) => {
                d.push(Change::DropServer(have.clone()));
                d.push(Change::CreateServer(want.clone()));
                d.created(id);
            }
            Some(have) if have != want => d.push(Change::AlterServer {
                from: have.clone(),
                to: want.clone(),
            }),
            Some(_) => {}
        }
    }
    for (key, want) in &d.desired.user_mappings {
        let id = ObjectId::UserMapping(key.0.as_str().into(), key.1.as_str().into());
        match d.current.user_mappings.get(key) {
            None => {
                d.push(Change::CreateUserMapping(want.clone()));
                d.created(id);
            }
            Some(have) if d.is_replaced(&id) => {
                d.push(Change::DropUserMapping(have.clone()));
                d.push(Change::CreateUserMapping(want.clone()));
                d.created(id);
            }
            Some(have) if have != want => d.push(Change::AlterUserMapping {
                from: have.clone(),
                to: want.clone(),
            }),
            Some(_) => {}
        }
    }
    for (key, have) in &d.current.user_mappings {
        if !d.desired.user_mappings.contains_key(key) {
            d.push(Change::DropUserMapping(have.clone()));
        }
    }
    for (name, have) in &d.current.foreign_servers {
        if !d.desired.foreign_servers.contains_key(name) {
            d.push(Change::DropServer(have.clone()));
        }
    }
    for (name, have) in &d.current.foreign_data_wrappers {
        if !d.desired.foreign_data_wrappers.contains_key(name) {
            d.push(Change::DropForeignDataWrapper(have.clone()));
        }
    }
}
