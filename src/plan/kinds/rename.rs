//! Declared renames (`-- @renamed from=old`) and their undo in the inverse plan.
//!
//! Which renames take two phases (docs/design.md, "Declared renames"):
//! - a **table** is renamed in `expand` and, in the same step (one transaction, so no query
//!   ever sees neither name), an automatically updatable view under the old name is created
//!   over the table's old columns: the still-deployed application keeps reading and writing
//!   through it. `contract` drops the view once the new application is deployed.
//! - an **index**, a **constraint** and an **enum value** have no way to answer to two names
//!   at once, and their renames are catalog-only (no scan, no rewrite; the lock is held for
//!   a catalog update): one `expand` step. Ordinary queries never name an index or a
//!   constraint; queries that do (`ON CONFLICT ON CONSTRAINT old`) and writes of the old enum
//!   label fail afterwards, so the enum label rename carries `requires-deploy`.
//!
//! The undo (inverse plan) mirrors it: its `expand` brings the old name back next to the new
//! one (the compatibility view again: undoing the forward `contract`), its `contract` removes
//! the new name (undoing the forward `expand`). A rollback after a forward `expand` alone runs
//! only the inverse's `contract` steps.

use crate::diff::Rename;
use crate::model::*;
use crate::plan::graph::{Chain, Node, Rank};
use crate::plan::{Ctx, Hazard, LockLevel, Phase, Step};
use crate::render::quote::{ident, literal, qname};

/// The statement that renames the object itself, without any compatibility object: what
/// `workflow::renames` runs in the shadow to get the current schema under the new names.
pub(crate) fn statement(r: &Rename) -> String {
    match r {
        Rename::Table { from, to, .. } => {
            format!("ALTER TABLE {} RENAME TO {};", qname(from), ident(&to.name))
        }
        Rename::Index { from, to } => {
            format!("ALTER INDEX {} RENAME TO {};", qname(from), ident(&to.name))
        }
        Rename::Constraint { table, from, to } => format!(
            "ALTER TABLE {} RENAME CONSTRAINT {} TO {};",
            qname(table),
            ident(from),
            ident(to)
        ),
        Rename::EnumValue { ty, from, to } => format!(
            "ALTER TYPE {} RENAME VALUE {} TO {};",
            qname(ty),
            literal(from),
            literal(to)
        ),
    }
}

/// The statement that renames it back.
fn undo_statement(r: &Rename) -> String {
    statement(&reversed(r))
}

/// The same rename in the other direction.
fn reversed(r: &Rename) -> Rename {
    match r.clone() {
        Rename::Table { from, to, columns } => Rename::Table {
            from: to,
            to: from,
            columns,
        },
        Rename::Index { from, to } => Rename::Index { from: to, to: from },
        Rename::Constraint { table, from, to } => Rename::Constraint {
            table,
            from: to,
            to: from,
        },
        Rename::EnumValue { ty, from, to } => Rename::EnumValue {
            ty,
            from: to,
            to: from,
        },
    }
}

/// `CREATE VIEW old AS SELECT <old columns> FROM new`: a single-table view without
/// aggregates, so PostgreSQL makes it updatable (INSERT/UPDATE/DELETE go to the table; columns
/// an INSERT leaves out get the table's defaults).
fn compat_view(from: &QName, to: &QName, columns: &[String]) -> String {
    let cols: Vec<String> = columns.iter().map(|c| ident(c)).collect();
    format!(
        "CREATE VIEW {} AS SELECT {} FROM {};",
        qname(from),
        cols.join(", "),
        qname(to)
    )
}

/// The privileges granted on the table (and its columns) before the rename, granted again on
/// the compatibility view: the view's own privileges are what another role's queries through
/// it are checked against (the view reads the table with its owner's rights).
fn compat_grants(ctx: &Ctx, old: &Schema, from: &QName) -> String {
    let table = ObjectId::Table(from.clone());
    old.grants
        .iter()
        .filter(|g| g.granted)
        .filter_map(|g| {
            let on = match &g.on {
                id if *id == table => ObjectId::View(from.clone()),
                ObjectId::Column(t, c) if t == from => ObjectId::Column(from.clone(), c.clone()),
                _ => return None,
            };
            let g = Grant { on, ..g.clone() };
            Some(super::grant::grant(ctx, &g))
        })
        .flatten()
        .map(|n| format!("\n{}", n.step.sql))
        .collect()
}

fn what(r: &Rename) -> String {
    match r {
        Rename::Table { from, to, .. } => format!("table {from} to {}", to.name),
        Rename::Index { from, to } => format!("index {from} to {}", to.name),
        Rename::Constraint { table, from, to } => format!("constraint {from} on {table} to {to}"),
        Rename::EnumValue { ty, from, to } => format!("value '{from}' of type {ty} to '{to}'"),
    }
}

/// The lock a rename takes, and on what. `ALTER TABLE ... RENAME` and `RENAME CONSTRAINT`
/// take ACCESS EXCLUSIVE on the table for a catalog update (queued traffic waits only for
/// that, bounded by lock_timeout); `ALTER INDEX ... RENAME` takes SHARE UPDATE EXCLUSIVE on
/// the index (PostgreSQL 12+); `RENAME VALUE` locks only the type's catalog row.
fn lock(r: &Rename) -> (LockLevel, Option<QName>) {
    match r {
        Rename::Table { from, .. } => (LockLevel::AccessExclusive, Some(from.clone())),
        Rename::Index { from, .. } => (LockLevel::ShareUpdateExclusive, Some(from.clone())),
        Rename::Constraint { table, .. } => (LockLevel::AccessExclusive, Some(table.clone())),
        Rename::EnumValue { .. } => (LockLevel::None, None),
    }
}

fn node(step: Step, r: &Rename) -> Node {
    let mut n = Node::new(step, r.object());
    n.rank = Rank::Create;
    n
}

fn in_phase(mut s: Step, phase: Phase) -> Step {
    s.phase = phase;
    s
}

/// Forward: the rename in `expand` (with the compatibility view for a table), the view's
/// removal in `contract`.
pub fn rename(ctx: &Ctx, r: &Rename) -> Chain {
    let (lock, target) = lock(r);
    match r {
        Rename::Table { from, to, columns } => {
            let expand = ctx
                .step(
                    format!("rename {} (compatibility view {from})", what(r)),
                    format!(
                        "{}\n{}{}",
                        statement(r),
                        compat_view(from, to, columns),
                        compat_grants(ctx, ctx.current, from)
                    ),
                    lock,
                    target.as_ref(),
                )
                .note(format!(
                    "the application still deployed keeps using {from}: an updatable view over \
                     the renamed table until the contract phase"
                ));
            let contract = ctx
                .step(
                    format!("drop compatibility view {from} (renamed to {to})"),
                    format!("DROP VIEW {};", qname(from)),
                    LockLevel::AccessExclusive,
                    Some(from),
                )
                .hazard(Hazard::RequiresDeploy)
                .note(format!(
                    "run after the application using {to} is deployed: {from} stops working"
                ));
            vec![
                node(expand, r),
                node(in_phase(contract, Phase::Contract), r),
            ]
        }
        Rename::Index { .. } | Rename::Constraint { .. } => {
            let step = ctx
                .step(
                    format!("rename {}", what(r)),
                    statement(r),
                    lock,
                    target.as_ref(),
                )
                .note("catalog-only: queries do not name it, one step suffices");
            vec![node(step, r)]
        }
        Rename::EnumValue { from, .. } => {
            let step = ctx
                .step(
                    format!("rename {}", what(r)),
                    statement(r),
                    lock,
                    target.as_ref(),
                )
                .hazard(Hazard::RequiresDeploy)
                .note(format!(
                    "catalog-only, stored rows follow; queries writing the literal '{from}' fail \
                     afterwards (deploy an application that no longer writes it)"
                ));
            vec![node(step, r)]
        }
    }
}

/// Inverse: `expand` brings the old name back beside the new one (the compatibility view);
/// `contract` removes the new name. Single-step renames are undone in `contract`.
pub fn undo(ctx: &Ctx, r: &Rename) -> Chain {
    let back = reversed(r);
    let (lock, target) = self::lock(&back);
    let summary = format!("rename {}", what(&back));
    match r {
        Rename::Table { from, to, columns } => {
            let expand = ctx
                .step(
                    format!("create compatibility view {from} over {to}"),
                    format!(
                        "{}{}",
                        compat_view(from, to, columns),
                        compat_grants(ctx, ctx.desired, from)
                    ),
                    LockLevel::None,
                    None,
                )
                .note(format!(
                    "the name {from} works again for the application being restored"
                ));
            let contract = ctx
                .step(
                    format!("{summary} (dropping the compatibility view)"),
                    format!("DROP VIEW {};\n{}", qname(from), undo_statement(r)),
                    lock,
                    target.as_ref(),
                )
                .hazard(Hazard::RequiresDeploy)
                .note(format!(
                    "run after the application using {from} is deployed: {to} stops working"
                ));
            vec![
                node(expand, r),
                node(in_phase(contract, Phase::Contract), r),
            ]
        }
        Rename::Index { .. } | Rename::Constraint { .. } | Rename::EnumValue { .. } => {
            let mut step = ctx.step(summary, undo_statement(r), lock, target.as_ref());
            if matches!(r, Rename::EnumValue { .. }) {
                step = step.hazard(Hazard::RequiresDeploy);
            }
            vec![node(in_phase(step, Phase::Contract), r)]
        }
    }
}
