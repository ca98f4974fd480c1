//! Rules (`CREATE RULE`) of tables and views. A new condition or new actions on the same event
//! are `CREATE OR REPLACE RULE` in place; a new event drops and creates the rule again (`OR
//! REPLACE` keeps the event: PostgreSQL refuses another one). The enabled state is an
//! `ALTER TABLE ... ENABLE / DISABLE RULE` of its own. Rules on a table or view the plan drops
//! or creates again go with it and come back after it; a view's `_RETURN` rule is the view.

use super::{Change, Differ};
use crate::model::ObjectId;

pub(super) fn find_replacements(d: &mut Differ) {
    for (key, want) in &d.desired.rules {
        if let Some(have) = d.current.rules.get(key) {
            if have.event != want.event {
                d.replaced
                    .insert(ObjectId::Rule(key.0.clone(), key.1.as_str().into()));
            }
        }
    }
}

pub(super) fn diff_rules(d: &mut Differ) {
    for (key, want) in &d.desired.rules {
        let id = ObjectId::Rule(key.0.clone(), key.1.as_str().into());
        let have = d.current.rules.get(key).filter(|_| d.relation_kept(&key.0));
        match have {
            Some(have) if !d.is_replaced(&id) => {
                if have.definition != want.definition {
                    d.push(Change::ReplaceRule(want.clone()));
                }
                if have.enabled != want.enabled {
                    d.push(Change::SetRuleEnabled(want.clone()));
                }
                continue;
            }
            Some(have) => d.push(Change::DropRule(have.clone())),
            None => {}
        }
        d.push(Change::CreateRule(want.clone()));
        d.created(id);
        if want.enabled != 'O' {
            d.push(Change::SetRuleEnabled(want.clone()));
        }
    }
    for (key, have) in &d.current.rules {
        if !d.desired.rules.contains_key(key) && d.relation_kept(&key.0) {
            d.push(Change::DropRule(have.clone()));
        }
    }
}
