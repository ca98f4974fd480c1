//! Foreign-data wrappers (`CREATE / ALTER / DROP FOREIGN DATA WRAPPER`), and the `OPTIONS`
//! clauses that wrappers, servers and user mappings share.
//!
//! Locks: these statements change catalog rows (`pg_foreign_data_wrapper`,
//! `pg_foreign_server`, `pg_user_mapping`) and lock no relation; a foreign table's queries
//! read the options when they plan, so a change applies to queries planned after the commit.
//!
//! Secrets: an option whose value the catalog never reads (`model::FdwOption`) is written
//! with [`SECRET_PLACEHOLDER`]; `workflow::secrets` refuses a plan that would write one into
//! a database, so only the proof's scratch databases and `dump`'s files see it. Step summaries
//! never show an option's value.

use crate::model::*;
use crate::plan::graph::{Chain, Node, Rank};
use crate::plan::{Ctx, LockLevel};
use crate::render::quote::{ident, literal, qname};

/// `key 'value'`, the value of a secret replaced by the placeholder.
fn option(o: &FdwOption) -> String {
    let value = o.value.as_deref().unwrap_or(SECRET_PLACEHOLDER);
    format!("{} {}", ident(&o.key), literal(value))
}

/// ` OPTIONS (k 'v', ...)` for a `CREATE`, empty without options.
pub(super) fn options_clause(options: &[FdwOption]) -> String {
    if options.is_empty() {
        return String::new();
    }
    let list: Vec<String> = options.iter().map(option).collect();
    format!(" OPTIONS ({})", list.join(", "))
}

/// ` OPTIONS (ADD k 'v', SET k 'v', DROP k)` turning `from` into `to`, empty when they are the
/// same. A secret present on both sides is left alone (its value is never compared).
pub(super) fn alter_options_clause(from: &[FdwOption], to: &[FdwOption]) -> String {
    let mut list = Vec::new();
    for o in to {
        match from.iter().find(|f| f.key == o.key) {
            None => list.push(format!("ADD {}", option(o))),
            Some(f) if f.value != o.value => list.push(format!("SET {}", option(o))),
            Some(_) => {}
        }
    }
    for f in from {
        if !to.iter().any(|o| o.key == f.key) {
            list.push(format!("DROP {}", ident(&f.key)));
        }
    }
    if list.is_empty() {
        String::new()
    } else {
        format!(" OPTIONS ({})", list.join(", "))
    }
}

fn id(w: &ForeignDataWrapper) -> ObjectId {
    ObjectId::ForeignDataWrapper(w.name.as_str().into())
}

/// The validator's identity arguments (`fdw_validator(text[], oid)`).
const VALIDATOR_ARGS: &str = "text[], oid";

pub fn create(ctx: &Ctx, w: &ForeignDataWrapper) -> Chain {
    let mut sql = format!("CREATE FOREIGN DATA WRAPPER {}", ident(&w.name));
    if let Some(h) = &w.handler {
        sql.push_str(&format!(" HANDLER {}", qname(h)));
    }
    if let Some(v) = &w.validator {
        sql.push_str(&format!(" VALIDATOR {}", qname(v)));
    }
    sql.push_str(&options_clause(&w.options));
    sql.push(';');
    let step = ctx.step(
        format!("create foreign-data wrapper {}", w.name),
        sql,
        LockLevel::None,
        None,
    );
    let mut n = Node::new(step, id(w));
    n.produces.push(id(w));
    if let Some(h) = &w.handler {
        n.needs
            .push(ObjectId::Function(h.clone(), String::new().into()));
    }
    if let Some(v) = &w.validator {
        n.needs.push(ObjectId::Function(
            v.clone(),
            VALIDATOR_ARGS.to_string().into(),
        ));
    }
    vec![n]
}

pub fn drop(ctx: &Ctx, w: &ForeignDataWrapper) -> Chain {
    let step = ctx.step(
        format!("drop foreign-data wrapper {}", w.name),
        format!("DROP FOREIGN DATA WRAPPER {};", ident(&w.name)),
        LockLevel::None,
        None,
    );
    let mut n = Node::new(step, id(w));
    n.removes.push(id(w));
    n.rank = Rank::Drop;
    vec![n]
}

/// One `ALTER FOREIGN DATA WRAPPER` with what changes: handler, validator, options.
pub fn alter(ctx: &Ctx, from: &ForeignDataWrapper, to: &ForeignDataWrapper) -> Chain {
    let mut sql = format!("ALTER FOREIGN DATA WRAPPER {}", ident(&to.name));
    if from.handler != to.handler {
        match &to.handler {
            Some(h) => sql.push_str(&format!(" HANDLER {}", qname(h))),
            None => sql.push_str(" NO HANDLER"),
        }
    }
    if from.validator != to.validator {
        match &to.validator {
            Some(v) => sql.push_str(&format!(" VALIDATOR {}", qname(v))),
            None => sql.push_str(" NO VALIDATOR"),
        }
    }
    sql.push_str(&alter_options_clause(&from.options, &to.options));
    sql.push(';');
    let step = ctx.step(
        format!("alter foreign-data wrapper {}", to.name),
        sql,
        LockLevel::None,
        None,
    );
    let mut n = Node::new(step, id(to));
    n.needs.push(id(to));
    if let Some(h) = &to.handler {
        n.needs
            .push(ObjectId::Function(h.clone(), String::new().into()));
    }
    if let Some(v) = &to.validator {
        n.needs.push(ObjectId::Function(
            v.clone(),
            VALIDATOR_ARGS.to_string().into(),
        ));
    }
    if let Some(h) = from.handler.as_ref().filter(|_| from.handler != to.handler) {
        n.releases
            .push(ObjectId::Function(h.clone(), String::new().into()));
    }
    if let Some(v) = from
        .validator
        .as_ref()
        .filter(|_| from.validator != to.validator)
    {
        n.releases.push(ObjectId::Function(
            v.clone(),
            VALIDATOR_ARGS.to_string().into(),
        ));
    }
    vec![n]
}
