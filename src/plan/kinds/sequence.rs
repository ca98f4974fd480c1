//! Sequences and their `OWNED BY` column.

use crate::model::*;
use crate::plan::graph::{Chain, Node, Rank};
use crate::plan::{Ctx, Hazard, LockLevel};
use crate::render::quote::{ident, literal, qname};

fn options(s: &Sequence) -> String {
    let cycle = if s.cycle { "CYCLE" } else { "NO CYCLE" };
    format!(
        "AS {} INCREMENT BY {} MINVALUE {} MAXVALUE {} START WITH {} CACHE {} {cycle}",
        s.data_type, s.increment, s.min_value, s.max_value, s.start, s.cache
    )
}

/// Owner columns are attached by a separate `OWNED BY` step, so they are not needed first.
fn owner_columns(s: &Sequence, schema: &Schema) -> Vec<ObjectId> {
    schema
        .dependencies_of(&ObjectId::Sequence(s.name.clone()))
        .filter(|d| matches!(d, ObjectId::Column(..) | ObjectId::Table(_)))
        .cloned()
        .collect()
}

pub fn create(ctx: &Ctx, s: &Sequence) -> Chain {
    let id = ObjectId::Sequence(s.name.clone());
    let unlogged = if s.unlogged { "UNLOGGED " } else { "" };
    let mut sql = format!(
        "CREATE {unlogged}SEQUENCE {} {};",
        qname(&s.name),
        options(s)
    );
    let step = match position_past_values(ctx, s) {
        Some((table, position)) => {
            sql.push('\n');
            sql.push_str(&position);
            ctx.step(
                format!("create sequence {}", s.name),
                sql,
                LockLevel::AccessShare,
                Some(&table),
            )
            .note(format!(
                "positioned past the values {table} already has, so the next nextval does not \
                 repeat one"
            ))
        }
        None => ctx.step(
            format!("create sequence {}", s.name),
            sql,
            LockLevel::None,
            None,
        ),
    };
    let mut n = Node::new(step, id.clone());
    n.produces.push(id);
    n.claims.push(s.name.clone());
    n.ignore_needs = owner_columns(s, ctx.desired);
    vec![n]
}

/// A sequence the plan creates for a column that already holds values (`integer` -> `serial`;
/// the rollback of `serial` -> `integer`, which re-creates the dropped sequence) would start
/// again at its `START WITH` and hand out values rows already have: the next INSERT would
/// fail on a duplicate key. `(table, SELECT setval(...))` moving it past the column's highest
/// value (lowest, for a descending sequence) when that is at or beyond its start; nothing on
/// an empty table. `None` for a sequence of a new column or table, or of a non-integer column.
fn position_past_values(ctx: &Ctx, s: &Sequence) -> Option<(QName, String)> {
    let (t, c) = s.owned_by.as_ref()?;
    if ctx.created.contains(t) {
        return None;
    }
    let column = ctx
        .current
        .tables
        .get(t)?
        .columns
        .iter()
        .find(|x| x.name == *c)?;
    if !matches!(column.type_name.as_str(), "smallint" | "integer" | "bigint") {
        return None;
    }
    let (agg, cmp) = if s.increment > 0 {
        ("max", ">=")
    } else {
        ("min", "<=")
    };
    Some((
        t.clone(),
        format!(
            "SELECT setval({}, v.m) FROM (SELECT {agg}({}) AS m FROM {}) AS v WHERE v.m {cmp} {};",
            literal(&qname(&s.name)),
            ident(c),
            qname(t),
            s.start
        ),
    ))
}

pub fn drop(ctx: &Ctx, s: &Sequence) -> Chain {
    let id = ObjectId::Sequence(s.name.clone());
    let step = ctx
        .step(
            format!("drop sequence {}", s.name),
            format!("DROP SEQUENCE {};", qname(&s.name)),
            LockLevel::AccessExclusive,
            Some(&s.name),
        )
        .hazard(Hazard::DataLoss);
    let mut n = Node::new(step, id.clone());
    n.removes.push(id);
    n.frees.push(s.name.clone());
    n.ignore_needs = owner_columns(s, ctx.current);
    n.rank = Rank::Drop;
    vec![n]
}

pub fn alter(ctx: &Ctx, from: &Sequence, to: &Sequence) -> Chain {
    let id = ObjectId::Sequence(to.name.clone());
    let mut sql = format!("ALTER SEQUENCE {} {};", qname(&to.name), options(to));
    if from.unlogged != to.unlogged {
        let l = if to.unlogged { "UNLOGGED" } else { "LOGGED" };
        sql.push_str(&format!("\nALTER SEQUENCE {} SET {l};", qname(&to.name)));
    }
    // ALTER SEQUENCE takes SHARE ROW EXCLUSIVE on the sequence (nextval's ROW EXCLUSIVE waits
    // behind it: inserts that draw from it pause for the moment); SET LOGGED / UNLOGGED goes
    // through ALTER TABLE and rewrites the sequence under ACCESS EXCLUSIVE.
    let lock = if from.unlogged != to.unlogged {
        LockLevel::AccessExclusive
    } else {
        LockLevel::ShareRowExclusive
    };
    let step = ctx.step(
        format!("alter sequence {}", to.name),
        sql,
        lock,
        Some(&to.name),
    );
    let mut n = Node::new(step, id);
    n.ignore_needs = owner_columns(to, ctx.desired);
    vec![n]
}

pub fn set_owner(ctx: &Ctx, seq: &QName, owner: &Option<(QName, String)>) -> Chain {
    let id = ObjectId::Sequence(seq.clone());
    let (target, needs) = match owner {
        Some((t, c)) => (
            format!("{}.{}", qname(t), ident(c)),
            vec![ObjectId::Column(t.clone(), c.as_str().into())],
        ),
        None => ("NONE".to_string(), Vec::new()),
    };
    // ALTER SEQUENCE takes SHARE ROW EXCLUSIVE even for OWNED BY (inserts drawing from the
    // sequence wait behind it); a sequence this plan creates is not contended.
    let existing = ctx.current.sequences.contains_key(seq);
    let (lock, target_rel) = if existing {
        (LockLevel::ShareRowExclusive, Some(seq))
    } else {
        (LockLevel::None, None)
    };
    let step = ctx.step(
        format!("set owner of sequence {seq} to {}", target.replace('"', "")),
        format!("ALTER SEQUENCE {} OWNED BY {target};", qname(seq)),
        lock,
        target_rel,
    );
    let mut n = Node::new(step, id.clone());
    n.needs = needs;
    n.needs.push(id);
    if owner.is_none() {
        // Detaching must happen before the old owner column goes.
        n.releases = owner_columns_current(ctx, seq);
    }
    vec![n]
}

fn owner_columns_current(ctx: &Ctx, seq: &QName) -> Vec<ObjectId> {
    ctx.current
        .sequences
        .get(seq)
        .and_then(|s| s.owned_by.clone())
        .map(|(t, c)| vec![ObjectId::Column(t, c.into())])
        .unwrap_or_default()
}
