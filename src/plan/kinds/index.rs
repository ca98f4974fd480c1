//! Indexes that do not back a constraint.

use crate::model::*;
use crate::plan::graph::{Chain, Node, Rank};
use crate::plan::{Ctx, Hazard, LockLevel};
use crate::render::quote::qname;

/// Whether the index can be built or dropped `CONCURRENTLY` (not on partitioned tables).
fn concurrent_ok(i: &Index) -> bool {
    !i.on_partitioned_table
}

/// `CREATE INDEX`: on a table that already has rows, `CONCURRENTLY` (SHARE UPDATE EXCLUSIVE,
/// writes go on; outside a transaction). On a table created by the same plan, plainly.
pub fn create(ctx: &Ctx, i: &Index, existing: bool) -> Chain {
    let id = ObjectId::Index(i.name.clone());
    let concurrent = existing && concurrent_ok(i);
    // `pg_get_indexdef` prints a partitioned index as `ON ONLY parent`, which would leave it
    // invalid until every partition's index is attached; created without ONLY it attaches the
    // partitions' indexes (made first, under their own names) and builds any missing ones.
    let definition = i.definition.replacen(" ON ONLY ", " ON ", 1);
    let (sql, lock) = if concurrent {
        (
            format!(
                "{};",
                definition.replacen(" INDEX ", " INDEX CONCURRENTLY ", 1)
            ),
            LockLevel::ShareUpdateExclusive,
        )
    } else {
        (format!("{definition};"), LockLevel::Share)
    };
    let mut step = ctx.step(
        format!("create index {}", i.name),
        sql,
        lock,
        Some(&i.table),
    );
    if concurrent {
        step = ctx
            .long(step.non_transactional().hazard(Hazard::IndexBuild))
            .note("built CONCURRENTLY: the table already exists; writes continue during the build");
    } else if existing {
        step = ctx
            .long(step.hazard(Hazard::IndexBuild))
            .note("partitioned table: PostgreSQL cannot build this index concurrently");
    }
    let mut n = Node::new(step, id.clone());
    n.produces.push(id);
    n.claims.push(i.name.clone());
    n.needs.push(ObjectId::Table(i.table.clone()));
    n.needs.push(ObjectId::View(i.table.clone()));
    n.needs.extend(
        ctx.desired
            .indexes
            .values()
            .filter(|c| c.parent_index.as_ref() == Some(&i.name))
            .map(|c| ObjectId::Index(c.name.clone())),
    );
    vec![n]
}

/// `DROP INDEX`: `CONCURRENTLY` on a table that keeps its rows, so queries are not blocked.
pub fn drop(ctx: &Ctx, i: &Index, existing: bool) -> Chain {
    let id = ObjectId::Index(i.name.clone());
    let concurrent = existing && concurrent_ok(i);
    let mut step = if concurrent {
        ctx.step(
            format!("drop index {}", i.name),
            format!("DROP INDEX CONCURRENTLY {};", qname(&i.name)),
            LockLevel::ShareUpdateExclusive,
            Some(&i.table),
        )
        .non_transactional()
    } else {
        ctx.step(
            format!("drop index {}", i.name),
            format!("DROP INDEX {};", qname(&i.name)),
            LockLevel::AccessExclusive,
            Some(&i.table),
        )
    };
    if concurrent {
        step = ctx.long(step);
    }
    let mut n = Node::new(step, id.clone());
    n.removes.push(id);
    n.frees.push(i.name.clone());
    // Partition indexes attached to this one go with it.
    for child in ctx.current.indexes.values() {
        if child.parent_index.as_ref() == Some(&i.name) {
            n.removes.push(ObjectId::Index(child.name.clone()));
            n.frees.push(child.name.clone());
        }
    }
    n.rank = Rank::Drop;
    vec![n]
}
