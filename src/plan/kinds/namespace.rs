//! Schemas, extensions and collations.

use crate::model::*;
use crate::plan::graph::{Chain, Node, Rank};
use crate::plan::{Ctx, Hazard, LockLevel};
use crate::render::quote::{ident, literal, qname};

pub fn create_schema(ctx: &Ctx, name: &str) -> Chain {
    let id = ObjectId::Schema(name.to_string().into());
    let step = ctx.step(
        format!("create schema {name}"),
        format!("CREATE SCHEMA {};", ident(name)),
        LockLevel::None,
        None,
    );
    let mut n = Node::new(step, id.clone());
    n.produces.push(id);
    vec![n]
}

pub fn drop_schema(ctx: &Ctx, name: &str) -> Chain {
    let id = ObjectId::Schema(name.to_string().into());
    let step = ctx
        .step(
            format!("drop schema {name}"),
            format!("DROP SCHEMA {};", ident(name)),
            LockLevel::None,
            None,
        )
        .hazard(Hazard::DataLoss);
    let mut n = Node::new(step, id.clone());
    n.removes.push(id);
    n.rank = Rank::Drop;
    vec![n]
}

pub fn create_extension(ctx: &Ctx, e: &Extension) -> Chain {
    let id = ObjectId::Extension(e.name.as_str().into());
    let step = ctx.step(
        format!("create extension {}", e.name),
        format!(
            "CREATE EXTENSION IF NOT EXISTS {} WITH SCHEMA {};",
            ident(&e.name),
            ident(&e.schema)
        ),
        LockLevel::None,
        None,
    );
    let mut n = Node::new(step, id.clone());
    n.produces.push(id);
    n.needs.push(ObjectId::Schema(e.schema.as_str().into()));
    vec![n]
}

pub fn drop_extension(ctx: &Ctx, e: &Extension) -> Chain {
    let id = ObjectId::Extension(e.name.as_str().into());
    let step = ctx
        .step(
            format!("drop extension {}", e.name),
            format!("DROP EXTENSION {};", ident(&e.name)),
            LockLevel::None,
            None,
        )
        .hazard(Hazard::DataLoss);
    let mut n = Node::new(step, id.clone());
    n.removes.push(id);
    n.releases.push(ObjectId::Schema(e.schema.as_str().into()));
    n.rank = Rank::Drop;
    vec![n]
}

pub fn create_collation(ctx: &Ctx, c: &Collation) -> Chain {
    let id = ObjectId::Collation(c.name.clone());
    let mut opts = vec![format!("provider = {}", c.provider)];
    if let Some(l) = &c.locale {
        opts.push(format!("locale = {}", literal(l)));
    } else {
        if let Some(l) = &c.lc_collate {
            opts.push(format!("lc_collate = {}", literal(l)));
        }
        if let Some(l) = &c.lc_ctype {
            opts.push(format!("lc_ctype = {}", literal(l)));
        }
    }
    if !c.deterministic {
        opts.push("deterministic = false".into());
    }
    let step = ctx.step(
        format!("create collation {}", c.name),
        format!("CREATE COLLATION {} ({});", qname(&c.name), opts.join(", ")),
        LockLevel::None,
        None,
    );
    let mut n = Node::new(step, id.clone());
    n.produces.push(id);
    vec![n]
}

pub fn drop_collation(ctx: &Ctx, c: &Collation) -> Chain {
    let id = ObjectId::Collation(c.name.clone());
    let step = ctx.step(
        format!("drop collation {}", c.name),
        format!("DROP COLLATION {};", qname(&c.name)),
        LockLevel::None,
        None,
    );
    let mut n = Node::new(step, id.clone());
    n.removes.push(id);
    n.rank = Rank::Drop;
    vec![n]
}

/// Replaces a collation that columns use without dropping them (PostgreSQL has no way to alter
/// a collation's provider, locale or determinism): rename the old one aside, create the new one
/// under the name, move each column to it, drop the old one. What else uses the collation (an
/// index naming it, a view) is dropped before the rename and created again after the new one
/// (`diff::closure`). Moving a column is `ALTER COLUMN ... TYPE <its type> COLLATE <new>`
/// under ACCESS EXCLUSIVE: PostgreSQL rebuilds the column's indexes, counted as a rewrite on a
/// large table like any type change.
pub fn swap_collation(
    ctx: &Ctx,
    from: &Collation,
    to: &Collation,
    columns: &[(QName, Column)],
) -> Chain {
    let id = ObjectId::Collation(to.name.clone());
    let aside = QName::new(
        from.name.schema.clone(),
        super::types::aside_name(&from.name.name),
    );
    let rename = ctx
        .step(
            format!("rename collation {} aside", from.name),
            format!(
                "ALTER COLLATION {} RENAME TO {};",
                qname(&from.name),
                ident(&aside.name)
            ),
            LockLevel::None,
            None,
        )
        .note("columns keep using the old collation until they are moved below");
    let mut n1 = Node::new(rename, id.clone());
    n1.removes.push(id.clone());
    n1.frees.push(from.name.clone());
    let mut chain = vec![n1];
    chain.extend(create_collation(ctx, to));
    for (table, col) in columns {
        let step = ctx.step(
            format!(
                "move column {table}.{} to the new collation {}",
                col.name, to.name
            ),
            format!(
                "{}\n    ALTER COLUMN {} TYPE {} COLLATE {};",
                crate::plan::alter_table(table),
                ident(&col.name),
                col.type_name,
                qname(&to.name)
            ),
            LockLevel::AccessExclusive,
            Some(table),
        );
        let mut n = super::types::rewrite_column(ctx, step, table, col);
        n.needs.push(id.clone());
        chain.push(n);
    }
    let drop_old = ctx.step(
        format!("drop the old collation {}", from.name),
        format!("DROP COLLATION {};", qname(&aside)),
        LockLevel::None,
        None,
    );
    chain.push(Node::new(drop_old, id));
    chain
}
