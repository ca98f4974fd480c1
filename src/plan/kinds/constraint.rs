//! Table constraints: PRIMARY KEY, UNIQUE, FOREIGN KEY, CHECK, EXCLUDE.

use crate::model::*;
use crate::plan::graph::{Chain, Node, Rank};
use crate::plan::{alter_table, Ctx, Hazard, LockLevel};
use crate::render::quote::ident;

fn con_id(t: &QName, c: &Constraint) -> ObjectId {
    ObjectId::Constraint(t.clone(), c.name.clone())
}

/// Whether the constraint owns an index (and so claims a relation name).
fn index_name(t: &QName, c: &Constraint) -> Option<QName> {
    matches!(
        c.kind,
        ConstraintKind::PrimaryKey | ConstraintKind::Unique | ConstraintKind::Exclude
    )
    .then(|| QName::new(t.schema.clone(), c.name.clone()))
}

fn is_partitioned(ctx: &Ctx, t: &QName) -> bool {
    ctx.desired
        .tables
        .get(t)
        .is_some_and(|tb| tb.kind == TableKind::Partitioned)
        || ctx
            .desired
            .tables
            .get(t)
            .is_some_and(|tb| tb.partition_of.is_some())
}

/// Adding a constraint. On a table that already has rows, FOREIGN KEY and CHECK are added
/// `NOT VALID` (a brief lock, no scan) and validated in a separate step, which scans under
/// SHARE UPDATE EXCLUSIVE while reads and writes go on. PostgreSQL (before 18) refuses
/// `NOT VALID` foreign keys on partitioned tables, so those are added directly.
pub fn add(ctx: &Ctx, t: &QName, c: &Constraint, existing: bool) -> Chain {
    let id = con_id(t, c);
    let at = alter_table(t);
    let name = ident(&c.name);
    let two_phase = existing
        && c.validated
        && matches!(c.kind, ConstraintKind::ForeignKey | ConstraintKind::Check)
        && !is_partitioned(ctx, t);
    let lock = match c.kind {
        ConstraintKind::ForeignKey => LockLevel::ShareRowExclusive,
        _ => LockLevel::AccessExclusive,
    };
    let not_valid = if !c.validated || two_phase {
        " NOT VALID"
    } else {
        ""
    };
    let definition = match ctx.opts.check_texts.get(&(t.clone(), c.name.clone())) {
        Some(text) if c.definition.ends_with(" NO INHERIT") => format!("{text} NO INHERIT"),
        Some(text) => text.clone(),
        None => c.definition.clone(),
    };
    let mut step = ctx.step(
        format!("add constraint {} on {t}", c.name),
        format!("{at} ADD CONSTRAINT {name} {definition}{not_valid};"),
        lock,
        Some(t),
    );
    if existing && !two_phase && c.validated {
        step = ctx.long(step);
        if matches!(
            c.kind,
            ConstraintKind::PrimaryKey | ConstraintKind::Unique | ConstraintKind::Exclude
        ) {
            step = step
                .hazard(Hazard::IndexBuild)
                .hazard(Hazard::AccessExclusiveLock)
                .note("builds its index while holding the lock");
        } else {
            step = step
                .hazard(Hazard::AccessExclusiveLock)
                .note("validates by scanning under lock");
        }
    }
    if two_phase {
        step = step.note("added NOT VALID: no scan under lock; validated in the next step");
    }
    let mut first = Node::new(step, id.clone());
    first.produces.push(id.clone());
    if let Some(q) = index_name(t, c) {
        first.claims.push(q);
    }
    if let Some(r) = &c.references {
        first.needs.push(ObjectId::Table(r.clone()));
    }
    if !two_phase {
        return vec![first];
    }
    vec![first, validate_node(ctx, t, c)]
}

fn validate_node(ctx: &Ctx, t: &QName, c: &Constraint) -> Node {
    let step = ctx
        .long(ctx.step(
            format!("validate constraint {} on {t}", c.name),
            format!("{} VALIDATE CONSTRAINT {};", alter_table(t), ident(&c.name)),
            LockLevel::ShareUpdateExclusive,
            Some(t),
        ))
        .note("scans the table without blocking reads or writes");
    let id = con_id(t, c);
    let mut n = Node::new(step, id.clone());
    n.needs.push(id);
    n
}

pub fn validate(ctx: &Ctx, t: &QName, c: &Constraint) -> Chain {
    vec![validate_node(ctx, t, c)]
}

pub fn drop(ctx: &Ctx, t: &QName, c: &Constraint) -> Chain {
    let id = con_id(t, c);
    let step = ctx.step(
        format!("drop constraint {} on {t}", c.name),
        format!("{} DROP CONSTRAINT {};", alter_table(t), ident(&c.name)),
        LockLevel::AccessExclusive,
        Some(t),
    );
    let mut n = Node::new(step, id.clone());
    n.removes.push(id);
    if let Some(q) = index_name(t, c) {
        n.frees.push(q);
    }
    // Its copies on partitions go too: they held the partitions' columns (NOT NULL, ...).
    for col in &c.columns {
        n.releases
            .extend(super::column::inherited_copies(ctx.current, t, col));
    }
    n.rank = Rank::Drop;
    vec![n]
}
