//! Foreign servers (`CREATE / ALTER / DROP SERVER`). A new wrapper or `TYPE` cannot be set in
//! place: the diff drops and creates the server again, with its user mappings. No relation is
//! locked (see `foreign_data_wrapper.rs`); options as there, secrets never printed.

use super::foreign_data_wrapper::{alter_options_clause, options_clause};
use crate::model::*;
use crate::plan::graph::{Chain, Node, Rank};
use crate::plan::{Ctx, LockLevel};
use crate::render::quote::{ident, literal};

fn id(s: &ForeignServer) -> ObjectId {
    ObjectId::ForeignServer(s.name.as_str().into())
}

pub fn create(ctx: &Ctx, s: &ForeignServer) -> Chain {
    let mut sql = format!("CREATE SERVER {}", ident(&s.name));
    if let Some(t) = &s.server_type {
        sql.push_str(&format!(" TYPE {}", literal(t)));
    }
    if let Some(v) = &s.version {
        sql.push_str(&format!(" VERSION {}", literal(v)));
    }
    sql.push_str(&format!(" FOREIGN DATA WRAPPER {}", ident(&s.fdw)));
    sql.push_str(&options_clause(&s.options));
    sql.push(';');
    let step = ctx.step(
        format!("create server {}", s.name),
        sql,
        LockLevel::None,
        None,
    );
    let mut n = Node::new(step, id(s));
    n.produces.push(id(s));
    n.needs
        .push(ObjectId::ForeignDataWrapper(s.fdw.as_str().into()));
    vec![n]
}

pub fn drop(ctx: &Ctx, s: &ForeignServer) -> Chain {
    let step = ctx
        .step(
            format!("drop server {}", s.name),
            format!("DROP SERVER {};", ident(&s.name)),
            LockLevel::None,
            None,
        )
        .note(
            "connections through this server (postgres_fdw's, dblink's) fail until it exists again",
        );
    let mut n = Node::new(step, id(s));
    n.removes.push(id(s));
    n.rank = Rank::Drop;
    vec![n]
}

/// `ALTER SERVER ... VERSION '...' OPTIONS (...)`; a version removed is `VERSION NULL`.
pub fn alter(ctx: &Ctx, from: &ForeignServer, to: &ForeignServer) -> Chain {
    let mut sql = format!("ALTER SERVER {}", ident(&to.name));
    if from.version != to.version {
        match &to.version {
            Some(v) => sql.push_str(&format!(" VERSION {}", literal(v))),
            None => sql.push_str(" VERSION NULL"),
        }
    }
    sql.push_str(&alter_options_clause(&from.options, &to.options));
    sql.push(';');
    let step = ctx.step(
        format!("alter server {}", to.name),
        sql,
        LockLevel::None,
        None,
    );
    let mut n = Node::new(step, id(to));
    n.needs.push(id(to));
    vec![n]
}
