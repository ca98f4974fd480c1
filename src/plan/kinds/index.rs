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
    if i.on_partitioned_table {
        return create_partitioned(ctx, i);
    }
    let id = ObjectId::Index(i.name.clone());
    let small = ctx.small(&[&i.table]);
    let concurrent = small.is_none() && concurrent_ok(i);
    if concurrent && i.parent_index.is_some() && ctx.current.indexes.contains_key(&i.name) {
        if let Some(chain) = build_beside(ctx, i) {
            return chain;
        }
    }
    let definition = &i.definition;
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
        None => ctx
            .long(step.non_transactional().hazard(Hazard::IndexBuild))
            .note("built CONCURRENTLY: the table already exists; writes continue during the build"),
    };
    let mut n = Node::new(step, id.clone());
    n.produces.push(id);
    n.claims.push(i.name.clone());
    n.needs.push(ObjectId::Table(i.table.clone()));
    n.needs.push(ObjectId::View(i.table.clone()));
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

/// A partition's index for a partitioned index that the plan drops and creates again, whose
/// name the old partition index still holds (a changed definition with the same columns gets
/// the same generated names): built `CONCURRENTLY` under a temporary name first, while the old
/// index serves queries, then renamed once the old one is gone (the drop of the partitioned
/// index takes it). The builds run before the drop, so the drop, the renames and the
/// re-created partitioned index (`create_partitioned`, which attaches it) are catalog changes.
fn build_beside(ctx: &Ctx, i: &Index) -> Option<Chain> {
    let id = ObjectId::Index(i.name.clone());
    let tmp = QName::new(i.name.schema.clone(), temporary_name(&i.name.name));
    let marker = format!(" INDEX {} ON ", ident(&i.name.name));
    if !i.definition.contains(&marker) || ctx.current.indexes.contains_key(&tmp) {
        return None;
    }
    let sql = i.definition.replacen(
        &marker,
        &format!(" INDEX CONCURRENTLY {} ON ", ident(&tmp.name)),
        1,
    );
    let build = ctx
        .long(
            ctx.step(
                format!("build index {} as {}", i.name, tmp.name),
                format!("{sql};"),
                LockLevel::ShareUpdateExclusive,
                Some(&i.table),
            )
            .non_transactional()
            .hazard(Hazard::IndexBuild),
        )
        .note("built CONCURRENTLY beside the old index of the same name, which keeps serving queries until its partitioned index is dropped");
    let rename = ctx.step(
        format!("rename index {} to {}", tmp.name, i.name.name),
        format!(
            "ALTER INDEX {} RENAME TO {};",
            qname(&tmp),
            ident(&i.name.name)
        ),
        LockLevel::ShareUpdateExclusive,
        Some(&i.table),
    );
    let mut n1 = Node::new(build, id.clone());
    n1.claims.push(tmp);
    n1.needs.push(ObjectId::Table(i.table.clone()));
    let mut n2 = Node::new(rename, id.clone());
    n2.produces.push(id);
    n2.claims.push(i.name.clone());
    Some(vec![n1, n2])
}

/// An index on a partitioned table, the way `pg_dump` makes one: `CREATE INDEX ... ON ONLY`
/// (the parent's catalog entry, no build), then `ALTER INDEX ... ATTACH PARTITION` of each
/// partition's index (indexes and partitions' own PRIMARY KEY / UNIQUE constraints, built
/// before, concurrently where their partition is large). Each attachment is explicit: created
/// without ONLY, PostgreSQL would adopt whichever matching index of a partition it finds first,
/// or build one under a generated name. The index is valid once every partition has one
/// attached; the desired schema says which.
fn create_partitioned(ctx: &Ctx, i: &Index) -> Chain {
    let id = ObjectId::Index(i.name.clone());
    let children = ctx.attached_in_desired(&i.name);
    let mut sql = format!("{};", i.definition);
    for (_, _, child) in children {
        sql.push_str(&format!(
            "\nALTER INDEX {} ATTACH PARTITION {};",
            qname(&i.name),
            qname(child)
        ));
    }
    let step = ctx
        .step(
            format!("create index {}", i.name),
            sql,
            LockLevel::Share,
            Some(&i.table),
        )
        .note("partitioned index: created ON ONLY and the partitions' indexes attached (catalog changes, no build)");
    let mut n = Node::new(step, id.clone());
    n.produces.push(id);
    n.claims.push(i.name.clone());
    n.needs.push(ObjectId::Table(i.table.clone()));
    n.needs
        .extend(children.iter().map(|(child, _, _)| child.clone()));
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
        // A partition's PRIMARY KEY / UNIQUE whose index is attached to this one can be dropped
        // neither alone (PostgreSQL: "index ... requires it") nor implicitly with this index
        // ("constraint ... depends on index ..."): only by CASCADE. Whatever depends on those
        // constraints (foreign keys to them) is dropped by earlier steps of the plan.
        let keys: Vec<String> = ctx
            .attached_in_current(&i.name)
            .iter()
            .filter_map(|(child, _, _)| match child {
                ObjectId::Constraint(t, c) => Some(format!("{c} on {t}")),
                _ => None,
            })
            .collect();
        let cascade = if keys.is_empty() { "" } else { " CASCADE" };
        let step = ctx.step(
            format!("drop index {}", i.name),
            format!("DROP INDEX {}{cascade};", qname(&i.name)),
            LockLevel::AccessExclusive,
            Some(&i.table),
        );
        if keys.is_empty() {
            step
        } else {
            step.note(format!(
                "CASCADE drops the partitions' constraints whose indexes are attached to it: {}",
                keys.join(", ")
            ))
        }
    };
    if concurrent {
        step = ctx.long(step);
    }
    step = step.notes(small.unwrap_or_default());
    let mut n = Node::new(step, id.clone());
    n.removes.push(id);
    n.frees.push(i.name.clone());
    // Partition indexes attached to this one go with it, and so do partitions' constraints
    // whose index is attached to it.
    for (child, _, index_name) in ctx.attached_in_current(&i.name) {
        n.removes.push(child.clone());
        n.frees.push(index_name.clone());
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
    // Built with an operator class the plan creates again: the new class takes the old one's
    // name, which the old index holds on to, so the new index cannot be built first. Dropped
    // (CONCURRENTLY on a large table), then built again once the class is back.
    let class_again = ctx
        .current
        .dependencies_of(&ObjectId::Index(from.name.clone()))
        .any(|d| ctx.recreated_classes.contains(d));
    // On a column whose type the plan changes (the plain `ALTER COLUMN ... TYPE`, which
    // rebuilds the indexes on it anyway): a definition that prints differently with the type
    // (`c % 10` on a bigint is `c % (10)::bigint`) must be built after the type change and the
    // old one dropped before it, so a new index built first would be re-parsed by the type
    // change into a third form. Dropped, then created after the type change.
    let on_retyped_column = ctx
        .desired
        .dependencies_of(&id)
        .chain(
            ctx.current
                .dependencies_of(&ObjectId::Index(from.name.clone())),
        )
        .any(|d| matches!(d, ObjectId::Column(q, c) if super::retype::type_changes(ctx, q, c)));
    if !to.definition.contains(&marker)
        || ctx.small(&[&to.table]).is_some()
        || class_again
        || on_retyped_column
    {
        let mut chain = drop(ctx, from);
        if class_again {
            if let Some(n) = chain.first_mut() {
                n.step = n.step.clone().note(
                    "its operator class is created again: the index is dropped first and built \
                     again after it, so queries go without it in between",
                );
            }
        }
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
