//! Functions, procedures and aggregates.
//!
//! A function PostgreSQL cannot change in place (result type, OUT / `RETURNS TABLE` columns,
//! parameter names, defaults removed: `diff::routines`) is dropped and created again; the
//! differ re-creates what depends on it (views, triggers, policies, constraints, indexes, domain
//! constraints: `diff::closure`), the owners mechanism gives it its owner back, and its grants
//! and comment are set again as on any created object. Column defaults calling it are not
//! objects of their own: [`drop`] removes them before `DROP FUNCTION` and [`create`] sets them
//! again after it.

use crate::model::*;
use crate::plan::graph::{Chain, Node, Rank};
use crate::plan::{Ctx, LockLevel};
use crate::render::quote::{ident, qname};

fn id(f: &Function) -> ObjectId {
    ObjectId::Function(f.name.clone(), f.identity_args.as_str().into())
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

/// The argument list that names `f` in `DROP` / `ALTER`: `*` for a zero-argument aggregate
/// (`DROP AGGREGATE agg()` is a syntax error).
fn signature_args(f: &Function) -> &str {
    match (f.kind, f.identity_args.as_str()) {
        (FunctionKind::Aggregate, "") => "*",
        (_, args) => args,
    }
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
    if f.arguments.contains(" DEFAULT ") || replaces_same_signature(ctx, f) {
        n.claims.push(overload_name(f));
    }
    let mut chain = vec![n];
    let replaced = ctx
        .current
        .functions
        .values()
        .find(|old| same_function(old, f));
    for (table, column) in replaced
        .map(|old| defaults_calling(ctx, old))
        .unwrap_or_default()
    {
        let Some(default) = &column.default else {
            continue;
        };
        let step = ctx.step(
            format!(
                "set default of {table}.{} again ({} {} was re-created)",
                column.name,
                kind(f),
                f.name
            ),
            format!(
                "{} ALTER COLUMN {} SET DEFAULT {default};",
                crate::plan::alter_table(&table),
                ident(&column.name)
            ),
            LockLevel::AccessExclusive,
            Some(&table),
        );
        let mut n = Node::new(step, ObjectId::Column(table.clone(), column.name.clone()));
        n.needs.push(id(f));
        n.needs.push(ObjectId::Table(table));
        chain.push(n);
    }
    chain
}

/// Whether the plan drops a function PostgreSQL sees as this very one (same name, same input
/// types) under other parameter names: `identity_args` names the parameters, so the two are
/// different objects to the differ, but `CREATE OR REPLACE` of the new one would fail with
/// "cannot change name of input parameter" while the old one exists. Claiming the overload
/// name orders its `DROP` first.
fn replaces_same_signature(ctx: &Ctx, f: &Function) -> bool {
    ctx.current.functions.values().any(|old| {
        same_function(old, f)
            && old.identity_args != f.identity_args
            && !ctx
                .desired
                .functions
                .contains_key(&(old.name.clone(), old.identity_args.clone()))
    })
}

/// The same function to PostgreSQL: same name, same input types (the parameter names, the
/// result and the defaults may differ).
fn same_function(a: &Function, b: &Function) -> bool {
    a.name == b.name && a.arg_types == b.arg_types && a.kind == b.kind
}

/// Columns whose default calls `old` (a function of the current schema) while the plan drops
/// it and creates the same function again (the desired schema has one of the same name and
/// input types), and whose column keeps a default, with the desired column. `DROP FUNCTION`
/// refuses while a default calls it, and a default is no object the differ re-creates: the
/// function's own steps take it off and put it back.
fn defaults_calling(ctx: &Ctx, old: &Function) -> Vec<(QName, Column)> {
    if !ctx
        .desired
        .functions
        .values()
        .any(|f| same_function(old, f))
    {
        return Vec::new();
    }
    let this = id(old);
    let mut out = Vec::new();
    for (dep, refs) in &ctx.current.depends {
        let ObjectId::Column(t, c) = dep else {
            continue;
        };
        if !refs.contains(&this) {
            continue;
        }
        let had_default = ctx
            .current
            .tables
            .get(t)
            .and_then(|tab| tab.column(c))
            .is_some_and(|col| col.default.is_some());
        let wanted = ctx
            .desired
            .tables
            .get(t)
            .and_then(|tab| tab.column(c))
            .filter(|col| col.default.is_some() && col.generated.is_none());
        if let (true, Some(col)) = (had_default, wanted) {
            out.push((t.clone(), col.clone()));
        }
    }
    out
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
    let mut chain = Vec::new();
    for (table, column) in defaults_calling(ctx, f) {
        let step = ctx.step(
            format!(
                "drop default of {table}.{} ({} {} is re-created)",
                column.name,
                kind(f),
                f.name
            ),
            format!(
                "{} ALTER COLUMN {} DROP DEFAULT;",
                crate::plan::alter_table(&table),
                ident(&column.name)
            ),
            LockLevel::AccessExclusive,
            Some(&table),
        );
        let mut n = Node::new(step, ObjectId::Column(table.clone(), column.name.clone()));
        n.releases.push(id(f));
        chain.push(n);
    }
    let kw = kind(f).to_uppercase();
    let step = ctx.step(
        format!("drop {} {}({})", kind(f), f.name, signature_args(f)),
        format!("DROP {kw} {}({});", qname(&f.name), signature_args(f)),
        LockLevel::None,
        None,
    );
    let mut n = Node::new(step, id(f));
    n.removes.push(id(f));
    n.frees.push(overload_name(f));
    n.rank = Rank::Drop;
    chain.push(n);
    chain
}
