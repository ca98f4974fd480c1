//! Rules (`CREATE RULE / CREATE OR REPLACE RULE / DROP RULE`) and their enabled state. The
//! definition is PostgreSQL's own text (`pg_get_ruledef`). Locks: creating, replacing and
//! dropping a rule, and `ALTER TABLE ... ENABLE / DISABLE RULE`, take ACCESS EXCLUSIVE on its
//! table or view (a catalog update, no scan: brief, but it waits for every running query on
//! the relation and blocks those queued behind it).

use crate::model::*;
use crate::plan::graph::{Chain, Node, Rank};
use crate::plan::{alter_table, Ctx, LockLevel};
use crate::render::quote::{ident, qname};

fn id(r: &Rule) -> ObjectId {
    ObjectId::Rule(r.table.clone(), r.name.as_str().into())
}

/// The definition as a statement (also `dump`'s text).
pub fn create_sql(r: &Rule) -> String {
    format!("{};", r.definition.trim_end().trim_end_matches(';'))
}

pub fn create(ctx: &Ctx, r: &Rule) -> Chain {
    let step = ctx.step(
        format!("create rule {} on {}", r.name, r.table),
        create_sql(r),
        LockLevel::AccessExclusive,
        Some(&r.table),
    );
    let mut n = Node::new(step, id(r));
    n.produces.push(id(r));
    vec![n]
}

/// `CREATE OR REPLACE RULE`: same relation and event (the diff checks both), new condition or
/// actions, in one statement: no session sees the relation without the rule.
pub fn replace(ctx: &Ctx, r: &Rule) -> Chain {
    let def = create_sql(r);
    let sql = match def.strip_prefix("CREATE RULE ") {
        Some(rest) => format!("CREATE OR REPLACE RULE {rest}"),
        None => def,
    };
    let step = ctx.step(
        format!("replace rule {} on {}", r.name, r.table),
        sql,
        LockLevel::AccessExclusive,
        Some(&r.table),
    );
    let mut n = Node::new(step, id(r));
    n.produces.push(id(r));
    n.releases = ctx.released(&id(r));
    vec![n]
}

pub fn drop(ctx: &Ctx, r: &Rule) -> Chain {
    let step = ctx.step(
        format!("drop rule {} on {}", r.name, r.table),
        format!("DROP RULE {} ON {};", ident(&r.name), qname(&r.table)),
        LockLevel::AccessExclusive,
        Some(&r.table),
    );
    let mut n = Node::new(step, id(r));
    n.removes.push(id(r));
    n.rank = Rank::Drop;
    vec![n]
}

pub fn set_enabled(ctx: &Ctx, r: &Rule) -> Chain {
    let how = match r.enabled {
        'D' => "DISABLE RULE",
        'R' => "ENABLE REPLICA RULE",
        'A' => "ENABLE ALWAYS RULE",
        _ => "ENABLE RULE",
    };
    let step = ctx.step(
        format!("{} {} on {}", how.to_lowercase(), r.name, r.table),
        format!("{} {how} {};", alter_table(&r.table), ident(&r.name)),
        LockLevel::AccessExclusive,
        Some(&r.table),
    );
    let mut n = Node::new(step, id(r));
    n.needs.push(id(r));
    vec![n]
}
