//! Operator classes (`CREATE / DROP OPERATOR CLASS`). A class cannot be changed in place: the
//! diff drops and creates it again, and the closure over dependencies takes along the indexes
//! and keys built with it, which the index and constraint kinds rebuild (`CONCURRENTLY` on
//! large tables, as for any changed index). Its family is always named (`FAMILY f`), so the
//! family is its own object (`operator_family.rs`) and outlives the class. Locks: catalog rows
//! only (`pg_opclass`, `pg_amop`, `pg_amproc`).

use super::operator_family::member_sql;
use crate::model::*;
use crate::plan::graph::{Chain, Node, Rank};
use crate::plan::{Ctx, LockLevel};
use crate::render::quote::{ident, qname};

fn id(c: &OperatorClass) -> ObjectId {
    ObjectId::OperatorClass(c.name.clone(), c.method.as_str().into())
}

fn create_sql(c: &OperatorClass) -> String {
    let default = if c.default { " DEFAULT" } else { "" };
    let mut items: Vec<String> = c.members.iter().map(member_sql).collect();
    // a class needs at least one item: its storage type says nothing new when it is the type
    match &c.storage {
        Some(s) => items.push(format!("STORAGE {s}")),
        None if items.is_empty() => items.push(format!("STORAGE {}", c.type_name)),
        None => {}
    }
    format!(
        "CREATE OPERATOR CLASS {}{default} FOR TYPE {} USING {} FAMILY {} AS\n    {};",
        qname(&c.name),
        c.type_name,
        ident(&c.method),
        qname(&c.family),
        items.join(",\n    ")
    )
}

pub fn create(ctx: &Ctx, c: &OperatorClass) -> Chain {
    let step = ctx.step(
        format!("create operator class {} using {}", c.name, c.method),
        create_sql(c),
        LockLevel::None,
        None,
    );
    let mut n = Node::new(step, id(c));
    n.produces.push(id(c));
    n.needs.push(ObjectId::OperatorFamily(
        c.family.clone(),
        c.method.as_str().into(),
    ));
    vec![n]
}

pub fn drop(ctx: &Ctx, c: &OperatorClass) -> Chain {
    let step = ctx.step(
        format!("drop operator class {} using {}", c.name, c.method),
        format!(
            "DROP OPERATOR CLASS {} USING {};",
            qname(&c.name),
            ident(&c.method)
        ),
        LockLevel::None,
        None,
    );
    let mut n = Node::new(step, id(c));
    n.removes.push(id(c));
    n.rank = Rank::Drop;
    vec![n]
}
