//! Indexes that do not back a constraint.

use crate::model::*;
use crate::plan::graph::{Chain, Node, Rank};
use crate::plan::{Ctx, Hazard, LockLevel};
use crate::render::quote::{ident, qname};

/// Whether the index can be built or dropped `CONCURRENTLY` (not on partitioned tables).
fn concurrent_ok(i: &Index) -> bool {
    !i.on_partitioned_table
}

/// `CREATE INDEX`: on a large table (or one of unknown size), `CONCURRENTLY` (SHARE UPDATE
/// EXCLUSIVE, writes go on; outside a transaction). On a table created by the same plan, or
/// empty or small at plan time, plainly: SHARE blocks writes only for a build of milliseconds,
/// the step is transactional and it does not wait for every older transaction to finish.
pub fn create(ctx: &Ctx, i: &Index) -> Chain {
    let id = ObjectId::Index(i.name.clone());
    let small = ctx.small(&[&i.table]);
    let concurrent = small.is_none() && concurrent_ok(i);
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
    step = match small {
        Some(notes) => step.notes(notes),
        None if concurrent => ctx
            .long(step.non_transactional().hazard(Hazard::IndexBuild))
            .note("built CONCURRENTLY: the table already exists; writes continue during the build"),
        None => ctx
            .long(step.hazard(Hazard::IndexBuild))
            .note("partitioned table: PostgreSQL cannot build this index concurrently"),
    };
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
    // A partition's own index (not attached to a partitioned index) waits for the partitioned
    // indexes of its parent: created first with the same definition, it would be adopted by
    // them instead of staying a separate index.
    if i.parent_index.is_none() {
        let parent = ctx
            .desired
            .tables
            .get(&i.table)
            .and_then(|t| t.partition_of.as_ref());
        if let Some((p, _)) = parent {
            n.needs.extend(
                ctx.desired
                    .indexes
                    .values()
                    .filter(|pi| pi.table == *p && pi.on_partitioned_table)
                    .map(|pi| ObjectId::Index(pi.name.clone())),
            );
        }
    }
    vec![n]
}

/// `DROP INDEX`: `CONCURRENTLY` on a large table, so queries are not blocked; plainly (a brief
/// ACCESS EXCLUSIVE, transactional) on an empty or small one.
pub fn drop(ctx: &Ctx, i: &Index) -> Chain {
    let id = ObjectId::Index(i.name.clone());
    let small = ctx.small(&[&i.table]);
    let concurrent = small.is_none() && concurrent_ok(i);
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
    step = step.notes(small.unwrap_or_default());
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

/// A changed index without a window where queries lack it: on a large table,
/// `CREATE INDEX CONCURRENTLY` of the new definition under a temporary name,
/// `DROP INDEX CONCURRENTLY` of the old one, then `ALTER INDEX ... RENAME` (SHARE UPDATE
/// EXCLUSIVE, a catalog update). On an empty or small table, a plain drop and create (in one
/// transaction unless a non-transactional step falls between them).
pub fn replace(ctx: &Ctx, from: &Index, to: &Index) -> Chain {
    let id = ObjectId::Index(to.name.clone());
    let tmp = QName::new(to.name.schema.clone(), temporary_name(&to.name.name));
    let marker = format!(" INDEX {} ON ", ident(&to.name.name));
    if !to.definition.contains(&marker) || ctx.small(&[&to.table]).is_some() {
        let mut chain = drop(ctx, from);
        chain.extend(create(ctx, to));
        return chain;
    }
    let build_sql = to.definition.replacen(
        &marker,
        &format!(" INDEX CONCURRENTLY {} ON ", ident(&tmp.name)),
        1,
    );
    let build = ctx
        .long(
            ctx.step(
                format!(
                    "build the new definition of index {} as {}",
                    to.name, tmp.name
                ),
                format!("{build_sql};"),
                LockLevel::ShareUpdateExclusive,
                Some(&to.table),
            )
            .non_transactional()
            .hazard(Hazard::IndexBuild),
        )
        .note("built CONCURRENTLY beside the old index, which keeps serving queries");
    let drop_old = ctx.long(
        ctx.step(
            format!("drop the old index {}", from.name),
            format!("DROP INDEX CONCURRENTLY {};", qname(&from.name)),
            LockLevel::ShareUpdateExclusive,
            Some(&from.table),
        )
        .non_transactional(),
    );
    let rename = ctx.step(
        format!("rename index {} to {}", tmp.name, to.name.name),
        format!(
            "ALTER INDEX {} RENAME TO {};",
            qname(&tmp),
            ident(&to.name.name)
        ),
        LockLevel::ShareUpdateExclusive,
        Some(&to.table),
    );
    let mut n1 = Node::new(build, id.clone());
    n1.claims.push(tmp.clone());
    n1.needs.push(ObjectId::Table(to.table.clone()));
    n1.needs.push(ObjectId::View(to.table.clone()));
    let mut n2 = Node::new(drop_old, id.clone());
    n2.removes.push(id.clone());
    n2.frees.push(from.name.clone());
    let mut n3 = Node::new(rename, id.clone());
    n3.produces.push(id);
    n3.claims.push(to.name.clone());
    vec![n1, n2, n3]
}

/// `<name>_new`, shortened to stay within 63 bytes.
fn temporary_name(name: &str) -> String {
    let mut base = name.to_string();
    while base.len() > 58 {
        base.pop();
    }
    format!("{base}_new")
}
