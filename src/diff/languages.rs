//! Procedural languages. A new handler, inline handler, validator or trust is `CREATE OR
//! REPLACE LANGUAGE` in place: the functions written in the language stay (they depend on
//! it, so a dropped language goes after them and a new one comes before them: the ordering
//! follows `pg_depend`).

use super::{Change, Differ};
use crate::model::*;

pub(super) fn diff_languages(d: &mut Differ) {
    for (name, want) in &d.desired.languages {
        let id = ObjectId::Language(name.as_str().into());
        match d.current.languages.get(name) {
            None => {
                d.push(Change::CreateLanguage(want.clone()));
                d.created(id);
            }
            Some(have) if have != want => d.push(Change::ReplaceLanguage {
                from: have.clone(),
                to: want.clone(),
            }),
            Some(_) => {}
        }
    }
    for (name, have) in &d.current.languages {
        if !d.desired.languages.contains_key(name) {
            d.push(Change::DropLanguage(have.clone()));
        }
    }
}
