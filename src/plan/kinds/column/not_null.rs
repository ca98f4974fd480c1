//! `NOT NULL` on a column: named and `NO INHERIT` constraints, renames, and setting it online
//! on a table with rows (PostgreSQL 18's `NOT VALID` NOT NULL, or before 18 a validated
//! `CHECK (c IS NOT NULL)` that `SET NOT NULL` then proves without a scan).

use super::*;

/// Whether the NOT NULL constraint column `c` of `t` is to have cannot be made by `SET NOT
/// NULL` (which makes the generated name, inheritable): a name of its own or `NO INHERIT`
/// (PostgreSQL 18).
pub(super) fn named_not_null(t: &QName, c: &Column) -> bool {
    c.not_null_no_inherit
        || c.not_null_name
            .as_deref()
            .is_some_and(|n| *n != generated_not_null_name(&t.name, &c.name))
}

/// `ADD CONSTRAINT <name> NOT NULL <column> [NO INHERIT]<tail>` (PostgreSQL 18), a sub-command
/// of `ALTER TABLE`: the column's NOT NULL constraint under its name. Like `SET NOT NULL` it
/// takes ACCESS EXCLUSIVE and scans the table, unless `tail` is ` NOT VALID`.
pub(super) fn add_not_null(t: &QName, c: &Column, tail: &str) -> String {
    format!(
        "ADD CONSTRAINT {} NOT NULL {}{}{tail}",
        ident(&not_null_name(t, c)),
        ident(&c.name),
        if c.not_null_no_inherit {
            " NO INHERIT"
        } else {
            ""
        }
    )
}

/// The NOT NULL constraint of a column that stays NOT NULL gets its new name (PostgreSQL 18):
/// `RENAME CONSTRAINT`, a catalog change under a brief ACCESS EXCLUSIVE. The usual cause: a
/// declared table (or column) rename, after which PostgreSQL keeps the old generated name
/// (`members_email_not_null` on `users`) where a fresh `CREATE TABLE users` has
/// `users_email_not_null`.
pub(super) fn rename_not_null(ctx: &Ctx, t: &QName, from: &Column, to: &Column) -> Node {
    let (old, new) = (not_null_name(t, from), not_null_name(t, to));
    let step = ctx
        .step(
            format!("rename NOT NULL constraint {old} on {t} to {new}"),
            format!(
                "{} RENAME CONSTRAINT {} TO {};",
                alter_table(t),
                ident(&old),
                ident(&new)
            ),
            LockLevel::AccessExclusive,
            Some(t),
        )
        .note("a catalog change under a brief lock");
    altering(step, t, &to.name)
}

/// `VALIDATE CONSTRAINT` of a column's `NOT VALID` NOT NULL constraint (PostgreSQL 18): scans
/// the table under SHARE UPDATE EXCLUSIVE, so reads and writes go on.
pub(super) fn validate_not_null_node(ctx: &Ctx, t: &QName, c: &Column) -> Node {
    let step = ctx
        .long(ctx.step(
            format!("validate NOT NULL constraint on {t}.{}", c.name),
            format!(
                "{} VALIDATE CONSTRAINT {};",
                alter_table(t),
                ident(&not_null_name(t, c))
            ),
            LockLevel::ShareUpdateExclusive,
            Some(t),
        ))
        .note("scans the table without blocking reads or writes");
    producing(step, t, &c.name)
}

/// `SET NOT NULL` on a table with rows without a long ACCESS EXCLUSIVE scan (the plain
/// `ALTER COLUMN ... SET NOT NULL` scans the whole table under that lock).
///
/// On PostgreSQL 18 NOT NULL is a constraint of its own that can be added `NOT VALID`
/// ([`PlanOptions::server_version`](crate::plan::PlanOptions)):
/// 1. `ADD CONSTRAINT <table>_<column>_not_null NOT NULL <column> NOT VALID`: a catalog change
///    under a brief ACCESS EXCLUSIVE, no scan; from its commit on, writes of NULL are refused
///    (the column already reads as NOT NULL: `attnotnull` is set, the constraint not
///    validated);
/// 2. `VALIDATE CONSTRAINT`: scans under SHARE UPDATE EXCLUSIVE, so reads and writes go on; a
///    NULL left in the table fails this step, and the inverse drops the NOT VALID constraint.
///
/// The constraint gets the desired column's name for it, or the name PostgreSQL gives a NOT
/// NULL it makes itself, so the result is the constraint the schema files make. (The shadow
/// column of an online type change has no desired column: its constraint is named after it,
/// `<table>_<column>_schemaplan_new_not_null`, and the swap renames it, `kinds::retype`.)
///
/// Before 18 ([`set_not_null_via_check`]): a `CHECK (c IS NOT NULL) NOT VALID`, validated, then
/// `SET NOT NULL`, which PostgreSQL 12+ proves from the valid CHECK without scanning.
pub fn set_not_null_online(ctx: &Ctx, t: &QName, column: &str) -> Chain {
    set_not_null_online_as(ctx, t, t, column)
}

/// [`set_not_null_online`] on `t`, which `ctx.desired` knows as `desired_table` (the undo of
/// a column rename runs on a table the plan renames back later: its constraint gets the name
/// the column has in the table under that name).
pub fn set_not_null_online_as(ctx: &Ctx, t: &QName, desired_table: &QName, column: &str) -> Chain {
    if ctx.opts.server_version < 180000 {
        return set_not_null_via_check(ctx, t, column);
    }
    let id = col_id(t, column);
    let at = alter_table(t);
    // The desired column's constraint: its name and NO INHERIT, when it has its own.
    let want = ctx
        .desired
        .tables
        .get(desired_table)
        .and_then(|tb| tb.column(column));
    let (name, no_inherit) = match want {
        Some(w) => (not_null_name(desired_table, w), w.not_null_no_inherit),
        None => (generated_not_null_name(&t.name, column), false),
    };
    let name = ident(&name);
    let add = ctx
        .step(
            format!("add NOT NULL constraint on {t}.{column} (not valid)"),
            format!(
                "{at} ADD CONSTRAINT {name} NOT NULL {}{} NOT VALID;",
                ident(column),
                if no_inherit { " NO INHERIT" } else { "" }
            ),
            LockLevel::AccessExclusive,
            Some(t),
        )
        .note("NOT VALID (PostgreSQL 18): no scan under lock; new NULLs are refused from here on");
    let validate = ctx
        .long(ctx.step(
            format!("validate NOT NULL constraint on {t}.{column}"),
            format!("{at} VALIDATE CONSTRAINT {name};"),
            LockLevel::ShareUpdateExclusive,
            Some(t),
        ))
        .note("scans the table without blocking reads or writes");
    let mut nodes: Vec<Node> = [add, validate]
        .into_iter()
        .map(|s| Node::new(s, id.clone()))
        .collect();
    // The column counts as (re)made by the validation: a primary key waiting for NOT NULL
    // columns orders after it.
    nodes[1].produces.push(id);
    nodes
}

/// `SET NOT NULL` without a long ACCESS EXCLUSIVE scan, on every major: add
/// `CHECK (c IS NOT NULL) NOT VALID` (brief lock), `VALIDATE` it (SHARE UPDATE EXCLUSIVE:
/// reads and writes go on), then `SET NOT NULL`, which PostgreSQL 12+ proves from the valid
/// CHECK without scanning, and drop the helper CHECK. Not on 18: there `SET NOT NULL` would
/// name its constraint `<table>_<column>_not_null1`, the helper CHECK holding the name.
pub(super) fn set_not_null_via_check(ctx: &Ctx, t: &QName, column: &str) -> Chain {
    let id = col_id(t, column);
    let check = helper_name(&t.name, column);
    let at = alter_table(t);
    let c = ident(column);
    let ck = ident(&check);
    let add = ctx.step(
        format!("add NOT NULL check on {t}.{column} (not valid)"),
        format!("{at} ADD CONSTRAINT {ck} CHECK ({c} IS NOT NULL) NOT VALID;"),
        LockLevel::AccessExclusive,
        Some(t),
    );
    let validate = ctx
        .long(ctx.step(
            format!("validate NOT NULL check on {t}.{column}"),
            format!("{at} VALIDATE CONSTRAINT {ck};"),
            LockLevel::ShareUpdateExclusive,
            Some(t),
        ))
        .note("scans the table without blocking reads or writes");
    let set = ctx
        .step(
            format!("set NOT NULL on {t}.{column}"),
            format!("{at} ALTER COLUMN {c} SET NOT NULL;\n{at} DROP CONSTRAINT {ck};"),
            LockLevel::AccessExclusive,
            Some(t),
        )
        .note("the validated check proves the column has no NULLs: no scan under lock");
    let mut nodes: Vec<Node> = [add, validate, set]
        .into_iter()
        .map(|s| Node::new(s, id.clone()))
        .collect();
    // The column counts as (re)made by the last step: a primary key waiting for NOT NULL
    // columns orders after it.
    nodes[2].produces.push(id);
    nodes
}

/// Name of the temporary NOT NULL check, within PostgreSQL's 63-byte identifier limit.
pub(super) fn helper_name(table: &str, column: &str) -> String {
    let mut s = format!("{table}_{column}_not_null");
    while s.len() > 63 {
        s.remove(0);
    }
    s
}
