//! Event triggers (`CREATE / DROP EVENT TRIGGER`, `ALTER EVENT TRIGGER ... ENABLE / DISABLE`).
//!
//! An event trigger fires on the DDL of every later step of the same plan, so it is created
//! after every other step that is ready (rank `Last`) and dropped before them (rank
//! `Create`): the plan's own DDL does not run through a trigger that is being added or
//! removed. None of these statements locks a table (event triggers live in
//! `pg_event_trigger`, not on relations).

use crate::model::*;
use crate::plan::graph::{Chain, Node, Rank};
use crate::plan::{Ctx, LockLevel};
use crate::render::quote::{ident, literal, qname};

fn id(e: &EventTrigger) -> ObjectId {
    ObjectId::EventTrigger(e.name.as_str().into())
}

fn create_sql(e: &EventTrigger) -> String {
    let when = if e.tags.is_empty() {
        String::new()
    } else {
        let tags: Vec<String> = e.tags.iter().map(|t| literal(t)).collect();
        format!(" WHEN TAG IN ({})", tags.join(", "))
    };
    format!(
        "CREATE EVENT TRIGGER {} ON {}{when} EXECUTE FUNCTION {}();",
        ident(&e.name),
        ident(&e.event),
        qname(&e.function)
    )
}

pub fn create(ctx: &Ctx, e: &EventTrigger) -> Chain {
    let step = ctx.step(
        format!("create event trigger {}", e.name),
        create_sql(e),
        LockLevel::None,
        None,
    );
    let mut n = Node::new(step, id(e));
    n.produces.push(id(e));
    n.needs
        .push(ObjectId::Function(e.function.clone(), String::new().into()));
    n.rank = Rank::Last;
    vec![n]
}

pub fn drop(ctx: &Ctx, e: &EventTrigger) -> Chain {
    let step = ctx.step(
        format!("drop event trigger {}", e.name),
        format!("DROP EVENT TRIGGER {};", ident(&e.name)),
        LockLevel::None,
        None,
    );
    let mut n = Node::new(step, id(e));
    n.removes.push(id(e));
    n.rank = Rank::Create;
    vec![n]
}

pub fn set_enabled(ctx: &Ctx, e: &EventTrigger) -> Chain {
    let how = match e.enabled {
        'D' => "DISABLE",
        'R' => "ENABLE REPLICA",
        'A' => "ENABLE ALWAYS",
        _ => "ENABLE",
    };
    let step = ctx.step(
        format!("{} event trigger {}", how.to_lowercase(), e.name),
        format!("ALTER EVENT TRIGGER {} {how};", ident(&e.name)),
        LockLevel::None,
        None,
    );
    let mut n = Node::new(step, id(e));
    n.needs.push(id(e));
    n.rank = Rank::Last;
    vec![n]
}
