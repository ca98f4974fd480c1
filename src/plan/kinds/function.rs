//! Functions, procedures and aggregates.

use crate::model::*;
use crate::plan::graph::{Chain, Node, Rank};
use crate::plan::{Ctx, LockLevel};
use crate::render::quote::qname;

fn id(f: &Function) -> ObjectId {
    ObjectId::Function(f.name.clone(), f.identity_args.clone())
}

fn kind(f: &Function) -> &'static str {
    match f.kind {
        FunctionKind::Function => "function",
        FunctionKind::Procedure => "procedure",
        FunctionKind::Aggregate => "aggregate",
    }
}

/// The definition as PostgreSQL prints it, terminated. (The executor runs with
/// `check_function_bodies = off`, as pg_dump's output does: a body may name tables that a
/// later step creates.)
fn definition(f: &Function) -> String {
    let d = f.definition.trim_end();
    let d = d.strip_suffix(';').unwrap_or(d);
    format!("{d};")
}

/// The claim a function's name makes among its overloads (not a relation name: prefixed).
fn overload_name(f: &Function) -> QName {
    QName::new(f.name.schema.clone(), format!("function {}", f.name.name))
}

pub fn create(ctx: &Ctx, f: &Function) -> Chain {
    let step = ctx.step(
        format!("create {} {}({})", kind(f), f.name, f.identity_args),
        definition(f),
        LockLevel::None,
        None,
    );
    let mut n = Node::new(step, id(f));
    n.produces.push(id(f));
    // An overload with defaulted parameters makes calls ambiguous while an old overload of the
    // same name still exists (`f(text)` beside `f(text, text DEFAULT ...)`): drop that first.
    if f.arguments.contains(" DEFAULT ") {
        n.claims.push(overload_name(f));
    }
    vec![n]
}

pub fn replace(ctx: &Ctx, from: &Function, to: &Function) -> Chain {
    let step = ctx.step(
        format!("replace {} {}({})", kind(to), to.name, to.identity_args),
        definition(to),
        LockLevel::None,
        None,
    );
    let mut n = Node::new(step, id(to));
    n.produces.push(id(to));
    n.releases = ctx.released(&id(from));
    vec![n]
}

pub fn drop(ctx: &Ctx, f: &Function) -> Chain {
    let kw = kind(f).to_uppercase();
    let step = ctx.step(
        format!("drop {} {}({})", kind(f), f.name, f.identity_args),
        format!("DROP {kw} {}({});", qname(&f.name), f.identity_args),
        LockLevel::None,
        None,
    );
    let mut n = Node::new(step, id(f));
    n.removes.push(id(f));
    n.frees.push(overload_name(f));
    n.rank = Rank::Drop;
    vec![n]
}
