//! Triggers (including constraint triggers) and their enabled state.

use crate::model::*;
use crate::plan::graph::{Chain, Node, Rank};
use crate::plan::{alter_table, Ctx, LockLevel};
use crate::render::quote::{ident, qname};

fn id(t: &Trigger) -> ObjectId {
    ObjectId::Trigger(t.table.clone(), t.name.as_str().into())
}

/// `CREATE TRIGGER` takes SHARE ROW EXCLUSIVE on the table: it blocks writes while waiting.
pub fn create(ctx: &Ctx, t: &Trigger) -> Chain {
    let step = ctx.step(
        format!("create trigger {} on {}", t.name, t.table),
        format!("{};", t.definition.trim_end_matches(';')),
        LockLevel::ShareRowExclusive,
        Some(&t.table),
    );
    let mut n = Node::new(step, id(t));
    n.produces.push(id(t));
    vec![n]
}

pub fn drop(ctx: &Ctx, t: &Trigger) -> Chain {
    let step = ctx.step(
        format!("drop trigger {} on {}", t.name, t.table),
        format!("DROP TRIGGER {} ON {};", ident(&t.name), qname(&t.table)),
        LockLevel::AccessExclusive,
        Some(&t.table),
    );
    let mut n = Node::new(step, id(t));
    n.removes.push(id(t));
    n.rank = Rank::Drop;
    vec![n]
}

pub fn set_enabled(ctx: &Ctx, t: &Trigger) -> Chain {
    let how = match t.enabled {
        'D' => "DISABLE TRIGGER",
        'R' => "ENABLE REPLICA TRIGGER",
        'A' => "ENABLE ALWAYS TRIGGER",
        _ => "ENABLE TRIGGER",
    };
    let step = ctx.step(
        format!("{} {} on {}", how.to_lowercase(), t.name, t.table),
        format!("{} {how} {};", alter_table(&t.table), ident(&t.name)),
        LockLevel::ShareRowExclusive,
        Some(&t.table),
    );
    let mut n = Node::new(step, id(t));
    n.needs.push(id(t));
    vec![n]
}
