//! `ALTER ... OWNER TO`: an object the plan creates again keeps its owner, and an owner the
//! schema files declare is set.
//!
//! `CREATE` makes the role running `apply` the owner. For an object the plan drops and creates
//! again (a view over a retyped column, a function whose result type changes, a swapped
//! type) that would silently move it to that role, usually a superuser: a `SECURITY DEFINER`
//! function would run as the superuser, a view would check permissions and row-level
//! security as the superuser. So the creating step ends with `ALTER ... OWNER TO` the owner
//! the desired schema declares or, failing that, the owner the object has in the live
//! database, in the same statement batch, hence the same transaction: no other session ever
//! sees the object with another owner. The applying role is not known at plan time, so the
//! statement is emitted even when it will be a no-op.

use super::comment::object_ref;
use crate::diff::Change;
use crate::model::ObjectId;
use crate::plan::graph::{Chain, Node, Rank};
use crate::plan::{Ctx, LockLevel};
use crate::render::quote::ident;

/// `ALTER <object> OWNER TO <role>;`
fn statement(ctx: &Ctx, on: &ObjectId, owner: &str) -> String {
    format!("ALTER {} OWNER TO {};", object_ref(ctx, on), ident(owner))
}

/// An owner the desired schema declares, on an object the plan keeps. `ALTER TABLE ...
/// OWNER TO` takes ACCESS EXCLUSIVE on the table (a catalog update, no scan); on other kinds
/// the lock is on the object's own catalog row.
pub fn set(ctx: &Ctx, on: &ObjectId, owner: &str) -> Chain {
    let (lock, target) = match on {
        ObjectId::Table(q) | ObjectId::Sequence(q) | ObjectId::View(q) => {
            (LockLevel::AccessExclusive, Some(q))
        }
        _ => (LockLevel::None, None),
    };
    let step = ctx.step(
        format!("set owner of {on} to {owner}"),
        statement(ctx, on, owner),
        lock,
        target,
    );
    let mut n = Node::new(step, on.clone());
    n.needs.push(on.clone());
    n.rank = Rank::Decorate;
    vec![n]
}

/// The object a change creates, when it is of a kind that has an owner.
fn created(change: &Change) -> Option<ObjectId> {
    use Change::*;
    match change {
        CreateSchema(_)
        | CreateCollation(_)
        | CreateType(_)
        | SwapType { .. }
        | SwapCollation { .. }
        | CreateSequence(_)
        | CreateTable(_)
        | CreateView(_)
        | CreateFunction(_)
        | CreatePublication(_)
        | CreateEventTrigger(_)
        | CreateForeignDataWrapper(_)
        | CreateServer(_)
        | CreateTsDictionary(_)
        | CreateTsConfiguration(_)
        | CreateOperator(_)
        | CreateOperatorFamily(_)
        | CreateOperatorClass(_)
        | CreateConversion(_)
        | CreateStatistics(_)
        | CreateLanguage(_) => Some(change.object()),
        _ => None,
    }
}

/// Gives the object `change` creates its owner: the one the desired schema lists (declared in
/// the schema files; for an inverse plan, the live owner), else the one it had before the plan
/// (an object dropped and created again). The statement is appended to the step that creates
/// the object (a step of its own right after it if no step names it as produced); a new
/// object nobody declared an owner for is left to the applying role.
pub fn keep(ctx: &Ctx, change: &Change, chains: &mut Vec<Chain>) {
    let Some(id) = created(change) else {
        return;
    };
    let Some(owner) = ctx
        .desired
        .owners
        .get(&id)
        .or_else(|| ctx.current.owners.get(&id))
        .or_else(|| replaced_overload_owner(ctx, &id))
    else {
        return;
    };
    let sql = statement(ctx, &id, owner);
    let node = chains
        .iter_mut()
        .flat_map(|c| c.iter_mut())
        .find(|n| n.produces.contains(&id));
    match node {
        Some(n) => n.step.sql = format!("{}\n{sql}", n.step.sql.trim_end()),
        None => chains.push(set(ctx, &id, owner)),
    }
}

/// A function whose arguments change is another object to PostgreSQL (`f(integer)` dropped,
/// `f(bigint)` created), but the same function to its reader: the new one takes the owner of
/// the overloads of that name the plan drops, when they all had the same one. Otherwise a
/// `SECURITY DEFINER` function would move to the applying role by changing a parameter type.
fn replaced_overload_owner<'a>(ctx: &'a Ctx, id: &ObjectId) -> Option<&'a String> {
    let ObjectId::Function(q, _) = id else {
        return None;
    };
    let mut owners = ctx
        .current
        .functions
        .keys()
        .filter(|(name, _)| name == q)
        .filter(|key| !ctx.desired.functions.contains_key(*key))
        .filter_map(|(name, args)| {
            ctx.current
                .owners
                .get(&ObjectId::Function(name.clone(), args.as_str().into()))
        });
    let first = owners.next()?;
    owners.all(|o| o == first).then_some(first)
}
