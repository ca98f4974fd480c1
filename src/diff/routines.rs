//! Views, materialized views, functions, triggers, event triggers and policies: objects defined
//! by text that PostgreSQL prints back, changed in place when PostgreSQL allows it, else
//! replaced.

use super::{Change, Differ};
use crate::model::*;

pub(super) fn find_replacements(d: &mut Differ) {
    for (name, want) in &d.desired.views {
        if let Some(have) = d.current.views.get(name) {
            if !have.same_as(want) && !view_replaceable(have, want) {
                d.replaced.insert(ObjectId::View(name.clone()));
            }
        }
    }
    for (key, want) in &d.desired.functions {
        if let Some(have) = d.current.functions.get(key) {
            if have != want && !function_replaceable(have, want) {
                d.replaced
                    .insert(ObjectId::Function(key.0.clone(), key.1.as_str().into()));
            }
        }
    }
    for (key, want) in &d.desired.triggers {
        if let Some(have) = d.current.triggers.get(key) {
            if have.definition != want.definition {
                d.replaced
                    .insert(ObjectId::Trigger(key.0.clone(), key.1.as_str().into()));
            }
        }
    }
    for (name, want) in &d.desired.event_triggers {
        if let Some(have) = d.current.event_triggers.get(name) {
            if have.event != want.event || have.tags != want.tags || have.function != want.function
            {
                d.replaced
                    .insert(ObjectId::EventTrigger(name.as_str().into()));
            }
        }
    }
    for (key, want) in &d.desired.policies {
        if let Some(have) = d.current.policies.get(key) {
            if have.command != want.command || have.permissive != want.permissive {
                d.replaced
                    .insert(ObjectId::Policy(key.0.clone(), key.1.as_str().into()));
            }
        }
    }
}

/// `CREATE OR REPLACE VIEW` keeps dependents but only allows new columns at the end, with the
/// existing ones unchanged in name and type; materialized views cannot be replaced.
fn view_replaceable(have: &View, want: &View) -> bool {
    !have.materialized
        && !want.materialized
        && want.columns.len() >= have.columns.len()
        && have.columns.iter().zip(&want.columns).all(|(a, b)| a == b)
}

/// `CREATE OR REPLACE FUNCTION` cannot change the result type, the kind or parameter names
/// and defaults.
fn function_replaceable(have: &Function, want: &Function) -> bool {
    have.kind == want.kind
        && have.result == want.result
        && have.arguments == want.arguments
        && have.kind != FunctionKind::Aggregate
}

pub(super) fn diff_views(d: &mut Differ) {
    for (name, want) in &d.desired.views {
        let id = ObjectId::View(name.clone());
        match d.current.views.get(name) {
            None => {
                d.push(Change::CreateView(want.clone()));
                d.created(id);
            }
            Some(have) if d.is_replaced(&id) => {
                d.push(Change::DropView(have.clone()));
                d.push(Change::CreateView(want.clone()));
                d.created(id);
            }
            Some(have) if !have.same_as(want) => d.push(Change::ReplaceView {
                from: have.clone(),
                to: want.clone(),
            }),
            Some(_) => {}
        }
    }
    for (name, have) in &d.current.views {
        if !d.desired.views.contains_key(name) {
            d.push(Change::DropView(have.clone()));
        }
    }
}

pub(super) fn diff_functions(d: &mut Differ) {
    for (key, want) in &d.desired.functions {
        let id = ObjectId::Function(key.0.clone(), key.1.as_str().into());
        match d.current.functions.get(key) {
            None => {
                d.push(Change::CreateFunction(want.clone()));
                d.created(id);
            }
            Some(have) if d.is_replaced(&id) => {
                d.push(Change::DropFunction(have.clone()));
                d.push(Change::CreateFunction(want.clone()));
                d.created(id);
            }
            Some(have) if have != want => d.push(Change::ReplaceFunction {
                from: have.clone(),
                to: want.clone(),
            }),
            Some(_) => {}
        }
    }
    for (key, have) in &d.current.functions {
        if !d.desired.functions.contains_key(key) {
            d.push(Change::DropFunction(have.clone()));
        }
    }
}

pub(super) fn diff_triggers(d: &mut Differ) {
    for (key, want) in &d.desired.triggers {
        let id = ObjectId::Trigger(key.0.clone(), key.1.as_str().into());
        let have = d
            .current
            .triggers
            .get(key)
            .filter(|_| d.relation_kept(&key.0));
        match have {
            None => {
                d.push(Change::CreateTrigger(want.clone()));
                d.created(id);
                if want.enabled != 'O' {
                    d.push(Change::SetTriggerEnabled {
                        trigger: want.clone(),
                    });
                }
            }
            Some(have) if d.is_replaced(&id) => {
                d.push(Change::DropTrigger(have.clone()));
                d.push(Change::CreateTrigger(want.clone()));
                d.created(id);
                if want.enabled != 'O' {
                    d.push(Change::SetTriggerEnabled {
                        trigger: want.clone(),
                    });
                }
            }
            Some(have) if have.enabled != want.enabled => d.push(Change::SetTriggerEnabled {
                trigger: want.clone(),
            }),
            Some(_) => {}
        }
    }
    for (key, have) in &d.current.triggers {
        if !d.desired.triggers.contains_key(key) && d.relation_kept(&key.0) {
            d.push(Change::DropTrigger(have.clone()));
        }
    }
}

pub(super) fn diff_policies(d: &mut Differ) {
    for (key, want) in &d.desired.policies {
        let id = ObjectId::Policy(key.0.clone(), key.1.as_str().into());
        let have = d
            .current
            .policies
            .get(key)
            .filter(|_| d.relation_kept(&key.0));
        match have {
            None => {
                d.push(Change::CreatePolicy(want.clone()));
                d.created(id);
            }
            Some(have) if d.is_replaced(&id) => {
                d.push(Change::DropPolicy(have.clone()));
                d.push(Change::CreatePolicy(want.clone()));
                d.created(id);
            }
            Some(have) if have != want => d.push(Change::AlterPolicy {
                from: have.clone(),
                to: want.clone(),
            }),
            Some(_) => {}
        }
    }
    for (key, have) in &d.current.policies {
        if !d.desired.policies.contains_key(key) && d.relation_kept(&key.0) {
            d.push(Change::DropPolicy(have.clone()));
        }
    }
}

/// An event trigger whose event, tag filter or function changes is dropped and created again
/// (`ALTER EVENT TRIGGER` changes only the enabled state and the owner); one the closure
/// replaces (its function is dropped and created again) too.
pub(super) fn diff_event_triggers(d: &mut Differ) {
    for (name, want) in &d.desired.event_triggers {
        let id = ObjectId::EventTrigger(name.as_str().into());
        let fresh = match d.current.event_triggers.get(name) {
            None => true,
            Some(have) if d.is_replaced(&id) => {
                d.push(Change::DropEventTrigger(have.clone()));
                true
            }
            Some(have) => {
                if have.enabled != want.enabled {
                    d.push(Change::SetEventTriggerEnabled(want.clone()));
                }
                false
            }
        };
        if fresh {
            d.push(Change::CreateEventTrigger(want.clone()));
            d.created(id);
            if want.enabled != 'O' {
                d.push(Change::SetEventTriggerEnabled(want.clone()));
            }
        }
    }
    for (name, have) in &d.current.event_triggers {
        if !d.desired.event_triggers.contains_key(name) {
            d.push(Change::DropEventTrigger(have.clone()));
        }
    }
}
