//! Text search dictionaries and configurations. A dictionary's options and a configuration's
//! mappings change in place; a new template or parser cannot be set, so the object is dropped
//! and created again (and the configurations using a re-created dictionary with it: the
//! closure over `pg_depend`).

use super::{Change, Differ};
use crate::model::*;

pub(super) fn find_replacements(d: &mut Differ) {
    for (name, want) in &d.desired.ts_dictionaries {
        if let Some(have) = d.current.ts_dictionaries.get(name) {
            if have.template != want.template {
                d.replaced
                    .insert(ObjectId::TextSearchDictionary(name.clone()));
            }
        }
    }
    for (name, want) in &d.desired.ts_configurations {
        if let Some(have) = d.current.ts_configurations.get(name) {
            if have.parser != want.parser {
                d.replaced
                    .insert(ObjectId::TextSearchConfiguration(name.clone()));
            }
        }
    }
}

pub(super) fn diff_text_search(d: &mut Differ) {
    for (name, want) in &d.desired.ts_dictionaries {
        let id = ObjectId::TextSearchDictionary(name.clone());
        match d.current.ts_dictionaries.get(name) {
            None => {}
            Some(have) if d.is_replaced(&id) => d.push(Change::DropTsDictionary(have.clone())),
            Some(have) => {
                let sorted = |t: &TextSearchDictionary| {
                    let mut o = t.options.clone();
                    o.sort();
                    o
                };
                if sorted(have) != sorted(want) {
                    d.push(Change::AlterTsDictionary {
                        from: have.clone(),
                        to: want.clone(),
                    });
                }
                continue;
            }
        }
        d.push(Change::CreateTsDictionary(want.clone()));
        d.created(id);
    }
    for (name, want) in &d.desired.ts_configurations {
        let id = ObjectId::TextSearchConfiguration(name.clone());
        match d.current.ts_configurations.get(name) {
            None => {}
            Some(have) if d.is_replaced(&id) => d.push(Change::DropTsConfiguration(have.clone())),
            Some(have) => {
                if have.mappings != want.mappings {
                    d.push(Change::AlterTsConfiguration {
                        from: have.clone(),
                        to: want.clone(),
                    });
                }
                continue;
            }
        }
        d.push(Change::CreateTsConfiguration(want.clone()));
        d.created(id);
    }
    for (name, have) in &d.current.ts_configurations {
        if !d.desired.ts_configurations.contains_key(name) {
            d.push(Change::DropTsConfiguration(have.clone()));
        }
    }
    for (name, have) in &d.current.ts_dictionaries {
        if !d.desired.ts_dictionaries.contains_key(name) {
            d.push(Change::DropTsDictionary(have.clone()));
        }
    }
}
