//! User-defined casts (`CREATE / DROP CAST`). There is no `ALTER CAST`: a change is a drop and
//! a create (the diff pairs them; they run in one transaction with the plan's other brief
//! steps, so no query sees the cast missing). Locks: a cast is a `pg_cast` row; no relation
//! is locked. Queries planned while it is dropped would not find it, which the transaction
//! hides. Source and target are `format_type`'s text, already SQL.

use crate::model::*;
use crate::plan::graph::{Chain, Node, Rank};
use crate::plan::{Ctx, LockLevel};
use crate::render::quote::qname;

fn id(c: &Cast) -> ObjectId {
    ObjectId::Cast(c.source.as_str().into(), c.target.as_str().into())
}

fn create_sql(c: &Cast) -> String {
    let how = match (&c.method, &c.function) {
        ('f', Some((f, args))) => format!("WITH FUNCTION {}({args})", qname(f)),
        ('i', _) => "WITH INOUT".to_string(),
        _ => "WITHOUT FUNCTION".to_string(),
    };
    let context = match c.context {
        'a' => " AS ASSIGNMENT",
        'i' => " AS IMPLICIT",
        _ => "",
    };
    format!("CREATE CAST ({} AS {}) {how}{context};", c.source, c.target)
}

pub fn create(ctx: &Ctx, c: &Cast) -> Chain {
    let step = ctx.step(
        format!("create cast ({} AS {})", c.source, c.target),
        create_sql(c),
        LockLevel::None,
        None,
    );
    let mut n = Node::new(step, id(c));
    n.produces.push(id(c));
    if let Some((f, args)) = &c.function {
        n.needs
            .push(ObjectId::Function(f.clone(), args.as_str().into()));
    }
    vec![n]
}

pub fn drop(ctx: &Ctx, c: &Cast) -> Chain {
    let step = ctx.step(
        format!("drop cast ({} AS {})", c.source, c.target),
        format!("DROP CAST ({} AS {});", c.source, c.target),
        LockLevel::None,
        None,
    );
    let mut n = Node::new(step, id(c));
    n.removes.push(id(c));
    n.rank = Rank::Drop;
    vec![n]
}
