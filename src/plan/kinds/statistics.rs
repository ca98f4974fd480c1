//! Extended statistics objects (`CREATE STATISTICS / DROP STATISTICS / ALTER STATISTICS ... SET
//! STATISTICS`). The definition is PostgreSQL's own text (`pg_get_statisticsobjdef`); any
//! change of it is a drop and a create (the diff pairs them). Locks: `CREATE STATISTICS` and
//! `DROP STATISTICS` take SHARE UPDATE EXCLUSIVE on the table (reads and writes go on; the
//! table's `VACUUM` / `ANALYZE` and other schema changes wait); neither scans the table: the
//! statistics are filled by the next `ANALYZE` (until then the planner has none, the step says
//! so). `ALTER STATISTICS ... SET STATISTICS` locks only the statistics object's row.

use crate::model::*;
use crate::plan::graph::{Chain, Node, Rank};
use crate::plan::{Ctx, LockLevel};
use crate::render::quote::qname;

fn id(s: &Statistics) -> ObjectId {
    ObjectId::Statistics(s.name.clone())
}

/// The definition as a statement (also `dump`'s text).
pub fn create_sql(s: &Statistics) -> String {
    format!("{};", s.definition.trim_end().trim_end_matches(';'))
}

/// `ALTER STATISTICS ... SET STATISTICS n` (`-1`: back to the columns' targets).
pub fn target_sql(s: &Statistics) -> String {
    format!(
        "ALTER STATISTICS {} SET STATISTICS {};",
        qname(&s.name),
        s.target.unwrap_or(-1)
    )
}

pub fn create(ctx: &Ctx, s: &Statistics) -> Chain {
    let mut step = ctx.step(
        format!("create statistics {} on {}", s.name, s.table),
        create_sql(s),
        LockLevel::ShareUpdateExclusive,
        Some(&s.table),
    );
    step.notes
        .push("filled by the table's next ANALYZE (autovacuum or by hand)".into());
    let mut n = Node::new(step, id(s));
    n.produces.push(id(s));
    vec![n]
}

pub fn drop(ctx: &Ctx, s: &Statistics) -> Chain {
    let step = ctx.step(
        format!("drop statistics {} on {}", s.name, s.table),
        format!("DROP STATISTICS {};", qname(&s.name)),
        LockLevel::ShareUpdateExclusive,
        Some(&s.table),
    );
    let mut n = Node::new(step, id(s));
    n.removes.push(id(s));
    n.rank = Rank::Drop;
    vec![n]
}

pub fn set_target(ctx: &Ctx, s: &Statistics) -> Chain {
    let step = ctx.step(
        format!(
            "set statistics target of {} to {}",
            s.name,
            s.target
                .map_or("the default".to_string(), |t| t.to_string())
        ),
        target_sql(s),
        LockLevel::None,
        None,
    );
    let mut n = Node::new(step, id(s));
    n.needs.push(id(s));
    n.rank = Rank::Decorate;
    vec![n]
}
