//! Row-level security policies.

use crate::model::*;
use crate::plan::graph::{Chain, Node, Rank};
use crate::plan::{Ctx, LockLevel};
use crate::render::quote::{ident, qname};

fn id(p: &Policy) -> ObjectId {
    ObjectId::Policy(p.table.clone(), p.name.as_str().into())
}

fn roles(p: &Policy) -> String {
    let r: Vec<String> = p
        .roles
        .iter()
        .map(|r| {
            if r == "public" {
                "PUBLIC".to_string()
            } else {
                ident(r)
            }
        })
        .collect();
    if r.is_empty() {
        "PUBLIC".to_string()
    } else {
        r.join(", ")
    }
}

fn clauses(p: &Policy) -> String {
    let mut s = String::new();
    if let Some(u) = &p.using {
        s.push_str(&format!(" USING ({u})"));
    }
    if let Some(c) = &p.with_check {
        s.push_str(&format!(" WITH CHECK ({c})"));
    }
    s
}

fn create_sql(p: &Policy) -> String {
    let kind = if p.permissive {
        "PERMISSIVE"
    } else {
        "RESTRICTIVE"
    };
    format!(
        "CREATE POLICY {} ON {} AS {kind} FOR {} TO {}{};",
        ident(&p.name),
        qname(&p.table),
        p.command,
        roles(p),
        clauses(p)
    )
}

fn drop_sql(p: &Policy) -> String {
    format!("DROP POLICY {} ON {};", ident(&p.name), qname(&p.table))
}

pub fn create(ctx: &Ctx, p: &Policy) -> Chain {
    let step = ctx.step(
        format!("create policy {} on {}", p.name, p.table),
        create_sql(p),
        LockLevel::AccessExclusive,
        Some(&p.table),
    );
    let mut n = Node::new(step, id(p));
    n.produces.push(id(p));
    vec![n]
}

pub fn drop(ctx: &Ctx, p: &Policy) -> Chain {
    let step = ctx.step(
        format!("drop policy {} on {}", p.name, p.table),
        drop_sql(p),
        LockLevel::AccessExclusive,
        Some(&p.table),
    );
    let mut n = Node::new(step, id(p));
    n.removes.push(id(p));
    n.rank = Rank::Drop;
    vec![n]
}

/// `ALTER POLICY` changes roles and expressions in place; it cannot remove a USING or WITH
/// CHECK clause, so that case drops and creates the policy in one step.
pub fn alter(ctx: &Ctx, from: &Policy, to: &Policy) -> Chain {
    let removes_clause = (from.using.is_some() && to.using.is_none())
        || (from.with_check.is_some() && to.with_check.is_none());
    let sql = if removes_clause {
        format!("{}\n{}", drop_sql(from), create_sql(to))
    } else {
        format!(
            "ALTER POLICY {} ON {} TO {}{};",
            ident(&to.name),
            qname(&to.table),
            roles(to),
            clauses(to)
        )
    };
    let step = ctx.step(
        format!("alter policy {} on {}", to.name, to.table),
        sql,
        LockLevel::AccessExclusive,
        Some(&to.table),
    );
    let mut n = Node::new(step, id(to));
    n.produces.push(id(to));
    n.releases = ctx.released(&id(from));
    vec![n]
}
