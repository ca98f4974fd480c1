//! Operators, operator families and operator classes.
//!
//! Neither an operator nor an operator class can be changed in place in every supported major
//! (`ALTER OPERATOR` sets only some properties, differently from 13 to 17; there is no way to
//! change a class's members): any difference drops and creates it again, and the closure over
//! `pg_depend` takes along what uses it (views calling the operator, the classes and families
//! whose members name it, the indexes and keys built with a class). A family's loose members
//! are added and dropped in place (`ALTER OPERATOR FAMILY ... ADD / DROP`); a family is only
//! created again when something it names is.

use super::{Change, Differ};
use crate::model::*;

pub(super) fn find_replacements(d: &mut Differ) {
    for (key, want) in &d.desired.operators {
        if d.current
            .operators
            .get(key)
            .is_some_and(|have| have != want)
        {
            d.replaced
                .insert(ObjectId::Operator(key.0.clone(), key.1.as_str().into()));
        }
    }
    for (key, want) in &d.desired.operator_classes {
        if d.current
            .operator_classes
            .get(key)
            .is_some_and(|have| have != want)
        {
            d.replaced.insert(ObjectId::OperatorClass(
                key.0.clone(),
                key.1.as_str().into(),
            ));
        }
    }
}

pub(super) fn diff_operators(d: &mut Differ) {
    for (key, want) in &d.desired.operators {
        let id = ObjectId::Operator(key.0.clone(), key.1.as_str().into());
        match d.current.operators.get(key) {
            None => {}
            Some(have) if d.is_replaced(&id) => d.push(Change::DropOperator(have.clone())),
            Some(_) => continue,
        }
        d.push(Change::CreateOperator(want.clone()));
        d.created(id);
    }
    for (key, want) in &d.desired.operator_families {
        let id = ObjectId::OperatorFamily(key.0.clone(), key.1.as_str().into());
        match d.current.operator_families.get(key) {
            None => {}
            Some(have) if d.is_replaced(&id) => d.push(Change::DropOperatorFamily(have.clone())),
            Some(have) => {
                if have.members != want.members {
                    d.push(Change::AlterOperatorFamily {
                        from: have.clone(),
                        to: want.clone(),
                    });
                }
                continue;
            }
        }
        d.push(Change::CreateOperatorFamily(want.clone()));
        d.created(id);
    }
    for (key, want) in &d.desired.operator_classes {
        let id = ObjectId::OperatorClass(key.0.clone(), key.1.as_str().into());
        match d.current.operator_classes.get(key) {
            None => {}
            Some(have) if d.is_replaced(&id) => d.push(Change::DropOperatorClass(have.clone())),
            Some(_) => continue,
        }
        d.push(Change::CreateOperatorClass(want.clone()));
        d.created(id);
    }
    for (key, have) in &d.current.operator_classes {
        if !d.desired.operator_classes.contains_key(key) {
            d.push(Change::DropOperatorClass(have.clone()));
        }
    }
    for (key, have) in &d.current.operator_families {
        if !d.desired.operator_families.contains_key(key) {
            d.push(Change::DropOperatorFamily(have.clone()));
        }
    }
    for (key, have) in &d.current.operators {
        if !d.desired.operators.contains_key(key) {
            d.push(Change::DropOperator(have.clone()));
        }
    }
}
