//! Conversions (`CREATE [DEFAULT] CONVERSION / DROP CONVERSION`). A change other than owner or
//! name is a drop and a create (the diff pairs them; they run in one transaction with the
//! plan's other brief steps, so no session sees the conversion missing). Locks: a conversion
//! is a `pg_conversion` row; no relation is locked. Encoding names are literals.

use crate::model::*;
use crate::plan::graph::{Chain, Node, Rank};
use crate::plan::{Ctx, LockLevel};
use crate::render::quote::{literal, qname};

fn id(c: &Conversion) -> ObjectId {
    ObjectId::Conversion(c.name.clone())
}

/// `CREATE [DEFAULT] CONVERSION name FOR 'source' TO 'target' FROM f` (also `dump`'s text).
pub fn create_sql(c: &Conversion) -> String {
    format!(
        "CREATE {}CONVERSION {} FOR {} TO {} FROM {};",
        if c.default { "DEFAULT " } else { "" },
        qname(&c.name),
        literal(&c.source),
        literal(&c.target),
        qname(&c.function)
    )
}

pub fn create(ctx: &Ctx, c: &Conversion) -> Chain {
    let step = ctx.step(
        format!("create conversion {}", c.name),
        create_sql(c),
        LockLevel::None,
        None,
    );
    let mut n = Node::new(step, id(c));
    n.produces.push(id(c));
    vec![n]
}

pub fn drop(ctx: &Ctx, c: &Conversion) -> Chain {
    let step = ctx.step(
        format!("drop conversion {}", c.name),
        format!("DROP CONVERSION {};", qname(&c.name)),
        LockLevel::None,
        None,
    );
    let mut n = Node::new(step, id(c));
    n.removes.push(id(c));
    n.rank = Rank::Drop;
    vec![n]
}
