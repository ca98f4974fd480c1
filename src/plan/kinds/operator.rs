//! Operators (`CREATE / DROP OPERATOR`). No change is made in place (`ALTER OPERATOR` sets
//! only some properties, and which ones differs from 13 to 17): the diff drops and creates the
//! operator again, with what uses it. Locks: an operator is a `pg_operator` row; no relation is
//! locked (a view using it is dropped and created again by its own steps). Dropping an operator
//! also clears the `COMMUTATOR` / `NEGATOR` links other operators have to it; creating it again
//! with its own `COMMUTATOR` / `NEGATOR` sets theirs back (PostgreSQL fills in the other side),
//! and one not defined yet is made as a shell that its own `CREATE OPERATOR` fills in.

use crate::model::*;
use crate::plan::graph::{Chain, Node, Rank};
use crate::plan::{Ctx, LockLevel};
use crate::render::quote::{operator, qname};

fn id(o: &Operator) -> ObjectId {
    ObjectId::Operator(o.name.clone(), o.args().into())
}

fn create_sql(o: &Operator) -> String {
    let mut parts = vec![format!("FUNCTION = {}", qname(&o.function.0))];
    if let Some(l) = &o.left {
        parts.push(format!("LEFTARG = {l}"));
    }
    if let Some(r) = &o.right {
        parts.push(format!("RIGHTARG = {r}"));
    }
    if let Some(c) = &o.commutator {
        parts.push(format!("COMMUTATOR = OPERATOR({})", operator(c)));
    }
    if let Some(n) = &o.negator {
        parts.push(format!("NEGATOR = OPERATOR({})", operator(n)));
    }
    if let Some(r) = &o.restrict {
        parts.push(format!("RESTRICT = {}", qname(r)));
    }
    if let Some(j) = &o.join {
        parts.push(format!("JOIN = {}", qname(j)));
    }
    if o.hashes {
        parts.push("HASHES".into());
    }
    if o.merges {
        parts.push("MERGES".into());
    }
    format!(
        "CREATE OPERATOR {} ({});",
        operator(&o.name),
        parts.join(", ")
    )
}

pub fn create(ctx: &Ctx, o: &Operator) -> Chain {
    let step = ctx.step(
        format!("create operator {}({})", o.name, o.args()),
        create_sql(o),
        LockLevel::None,
        None,
    );
    let mut n = Node::new(step, id(o));
    n.produces.push(id(o));
    n.needs.push(ObjectId::Function(
        o.function.0.clone(),
        o.function.1.as_str().into(),
    ));
    vec![n]
}

pub fn drop(ctx: &Ctx, o: &Operator) -> Chain {
    let step = ctx.step(
        format!("drop operator {}({})", o.name, o.args()),
        format!("DROP OPERATOR {} ({});", operator(&o.name), o.args()),
        LockLevel::None,
        None,
    );
    let mut n = Node::new(step, id(o));
    n.removes.push(id(o));
    n.rank = Rank::Drop;
    vec![n]
}
