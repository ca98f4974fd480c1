//! Schemas, extensions and collations.

use crate::model::*;
use crate::plan::graph::{Chain, Node, Rank};
use crate::plan::{Ctx, Hazard, LockLevel};
use crate::render::quote::{ident, literal, qname};

pub fn create_schema(ctx: &Ctx, name: &str) -> Chain {
    let id = ObjectId::Schema(name.to_string());
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
    let id = ObjectId::Schema(name.to_string());
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
    let id = ObjectId::Extension(e.name.clone());
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
    n.needs.push(ObjectId::Schema(e.schema.clone()));
    vec![n]
}

pub fn drop_extension(ctx: &Ctx, e: &Extension) -> Chain {
    let id = ObjectId::Extension(e.name.clone());
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
    n.releases.push(ObjectId::Schema(e.schema.clone()));
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
