//! Operator families (`CREATE / ALTER / DROP OPERATOR FAMILY`) and the member lists they share
//! with operator classes. A family's loose members (those of no class) are added and dropped
//! in place (`ALTER OPERATOR FAMILY f USING m ADD / DROP`); a class's members are written in
//! its `CREATE OPERATOR CLASS` (`operator_class.rs`). Locks: catalog rows only (`pg_opfamily`,
//! `pg_amop`, `pg_amproc`); an index using a class of the family is not locked, and PostgreSQL
//! refuses to drop a member an index needs (the plan then drops and rebuilds what uses it, by
//! the closure over dependencies).

use crate::model::*;
use crate::plan::graph::{Chain, Node, Rank};
use crate::plan::{Ctx, LockLevel};
use crate::render::quote::{ident, qname};

fn id(f: &OperatorFamily) -> ObjectId {
    ObjectId::OperatorFamily(f.name.clone(), f.method.as_str().into())
}

/// `OPERATOR 1 public.<<< (integer, integer)`, `FUNCTION 1 (integer, integer) public.f(...)`:
/// as `CREATE OPERATOR CLASS` and `ALTER OPERATOR FAMILY ... ADD` take it.
pub(super) fn member_sql(m: &OpFamilyMember) -> String {
    if m.function {
        format!(
            "FUNCTION {} ({}, {}) {}",
            m.number, m.left, m.right, m.target
        )
    } else {
        let order = m
            .order_by
            .as_ref()
            .map(|f| format!(" FOR ORDER BY {f}"))
            .unwrap_or_default();
        format!(
            "OPERATOR {} {} ({}, {}){order}",
            m.number, m.target, m.left, m.right
        )
    }
}

/// `OPERATOR 1 (integer, integer)`: as `ALTER OPERATOR FAMILY ... DROP` takes it.
fn member_drop_sql(m: &OpFamilyMember) -> String {
    let what = if m.function { "FUNCTION" } else { "OPERATOR" };
    format!("{what} {} ({}, {})", m.number, m.left, m.right)
}

fn alter_head(f: &OperatorFamily) -> String {
    format!(
        "ALTER OPERATOR FAMILY {} USING {}",
        qname(&f.name),
        ident(&f.method)
    )
}

pub fn create(ctx: &Ctx, f: &OperatorFamily) -> Chain {
    let mut sql = format!(
        "CREATE OPERATOR FAMILY {} USING {};",
        qname(&f.name),
        ident(&f.method)
    );
    if !f.members.is_empty() {
        let add: Vec<String> = f.members.iter().map(member_sql).collect();
        sql.push_str(&format!(
            "\n{} ADD\n    {};",
            alter_head(f),
            add.join(",\n    ")
        ));
    }
    let step = ctx.step(
        format!("create operator family {} using {}", f.name, f.method),
        sql,
        LockLevel::None,
        None,
    );
    let mut n = Node::new(step, id(f));
    n.produces.push(id(f));
    vec![n]
}

/// Drops the family; PostgreSQL drops its classes with it (each class the plan drops has its
/// own step, before this one).
pub fn drop(ctx: &Ctx, f: &OperatorFamily) -> Chain {
    let step = ctx.step(
        format!("drop operator family {} using {}", f.name, f.method),
        format!(
            "DROP OPERATOR FAMILY {} USING {};",
            qname(&f.name),
            ident(&f.method)
        ),
        LockLevel::None,
        None,
    );
    let mut n = Node::new(step, id(f));
    n.removes.push(id(f));
    n.removes.extend(
        ctx.current
            .operator_classes
            .values()
            .filter(|c| c.family == f.name && c.method == f.method)
            .map(|c| ObjectId::OperatorClass(c.name.clone(), c.method.as_str().into())),
    );
    n.rank = Rank::Drop;
    vec![n]
}

/// Loose members dropped, then added (a member whose operator or function changes is both).
pub fn alter(ctx: &Ctx, from: &OperatorFamily, to: &OperatorFamily) -> Chain {
    let gone: Vec<String> = from
        .members
        .iter()
        .filter(|m| !to.members.contains(m))
        .map(member_drop_sql)
        .collect();
    let new: Vec<String> = to
        .members
        .iter()
        .filter(|m| !from.members.contains(m))
        .map(member_sql)
        .collect();
    let mut sql = Vec::new();
    if !gone.is_empty() {
        sql.push(format!(
            "{} DROP\n    {};",
            alter_head(to),
            gone.join(",\n    ")
        ));
    }
    if !new.is_empty() {
        sql.push(format!(
            "{} ADD\n    {};",
            alter_head(to),
            new.join(",\n    ")
        ));
    }
    let step = ctx.step(
        format!("alter operator family {} using {}", to.name, to.method),
        sql.join("\n"),
        LockLevel::None,
        None,
    );
    let fid = id(to);
    let mut n = Node::new(step, fid.clone());
    n.needs.push(fid.clone());
    // the operators and functions it names now; those it stops naming may go after it
    n.needs.extend(ctx.desired.dependencies_of(&fid).cloned());
    n.releases = ctx.released(&fid);
    vec![n]
}
