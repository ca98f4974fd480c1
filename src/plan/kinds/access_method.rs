//! Access methods (`CREATE / DROP ACCESS METHOD`). There is no `ALTER ACCESS METHOD`: a new
//! type or handler is a drop and a create (the diff pairs them, with the operator classes and
//! families using it; they run in one transaction with the plan's other brief steps). Locks:
//! an access method is a `pg_am` row; neither statement locks a relation (`DROP` refuses while
//! a table, index or operator class uses it, so nothing using it can be open). Only a
//! superuser may run them.

use crate::model::*;
use crate::plan::graph::{Chain, Node, Rank};
use crate::plan::{Ctx, LockLevel};
use crate::render::quote::{ident, qname};

fn id(a: &AccessMethod) -> ObjectId {
    ObjectId::AccessMethod(a.name.as_str().into())
}

/// `CREATE ACCESS METHOD name TYPE TABLE|INDEX HANDLER f` (also `dump`'s text).
pub fn create_sql(a: &AccessMethod) -> String {
    format!(
        "CREATE ACCESS METHOD {} TYPE {} HANDLER {};",
        ident(&a.name),
        a.kind,
        qname(&a.handler)
    )
}

pub fn create(ctx: &Ctx, a: &AccessMethod) -> Chain {
    let step = ctx.step(
        format!("create access method {}", a.name),
        create_sql(a),
        LockLevel::None,
        None,
    );
    let mut n = Node::new(step, id(a));
    n.produces.push(id(a));
    vec![n]
}

pub fn drop(ctx: &Ctx, a: &AccessMethod) -> Chain {
    let step = ctx.step(
        format!("drop access method {}", a.name),
        format!("DROP ACCESS METHOD {};", ident(&a.name)),
        LockLevel::None,
        None,
    );
    let mut n = Node::new(step, id(a));
    n.removes.push(id(a));
    n.rank = Rank::Drop;
    vec![n]
}
