//! Declared renames (`-- @renamed from=old`) and their undo in the inverse plan.
//!
//! Which renames take two phases (docs/design.md, "Declared renames"):
//! - a **table** is renamed in `expand` and, in the same step (one transaction, so no query
//!   ever sees neither name), an automatically updatable view under the old name is created
//!   over the table's old columns: the still-deployed application keeps reading and writing
//!   through it. `contract` drops the view once the new application is deployed.
//! - an **index**, a **constraint**, an **enum value** and a **type** have no way to answer to two names
//!   at once, and their renames are catalog-only (no scan, no rewrite; the lock is held for
//!   a catalog update): one `expand` step. Ordinary queries never name an index or a
//!   constraint; queries that do (`ON CONFLICT ON CONSTRAINT old`), writes of the old enum
//!   label and casts to the old type name (`'x'::old_type`) fail afterwards, so enum label and
//!   type renames carry `requires-deploy`.
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
        Rename::Column {
            table, from, to, ..
        } => format!(
            "ALTER TABLE {} RENAME COLUMN {} TO {};",
            qname(table),
            ident(&from.name),
            ident(&to.name)
        ),
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
        Rename::Type { from, to, domain } => format!(
            "ALTER {} {} RENAME TO {};",
            if *domain { "DOMAIN" } else { "TYPE" },
            qname(from),
            ident(&to.name)
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
        Rename::Column {
            table,
            table_before,
            from,
            to,
            from_indexes,
            to_indexes,
            from_constraints,
            to_constraints,
        } => Rename::Column {
            table,
            table_before,
            from: to,
            to: from,
            from_indexes: to_indexes,
            to_indexes: from_indexes,
            from_constraints: to_constraints,
            to_constraints: from_constraints,
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
        Rename::Type { from, to, domain } => Rename::Type {
            from: to,
            to: from,
            domain,
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

/// A note naming the old table's columns the compatibility view leaves out (the same plan
/// drops, renames or retypes them), if any.
fn left_out(ctx: &Ctx, from: &QName, columns: &[String]) -> Vec<String> {
    let gone: Vec<&str> = ctx
        .current
        .tables
        .get(from)
        .into_iter()
        .flat_map(|t| &t.columns)
        .filter(|c| !columns.iter().any(|k| *k == c.name))
        .map(|c| c.name.as_str())
        .collect();
    if gone.is_empty() {
        return Vec::new();
    }
    vec![format!(
        "the compatibility view leaves out {}, which this plan drops, renames or retypes",
        gone.join(", ")
    )]
}

/// A note naming the columns the compatibility view reads under names the renamed table
/// loses (column renames of the same plan: the old columns stay, kept in sync, until the
/// contract phase, which drops the view before them), if any.
fn renamed_columns(ctx: &Ctx, to: &QName, columns: &[String]) -> Vec<String> {
    let Some(want) = ctx.desired.tables.get(to) else {
        return Vec::new();
    };
    let old: Vec<&str> = columns
        .iter()
        .filter(|c| !want.columns.iter().any(|w| w.name == **c))
        .map(String::as_str)
        .collect();
    if old.is_empty() {
        return Vec::new();
    }
    vec![format!(
        "the compatibility view reads {} under the old name: this plan renames {} in phases, \
         the old column kept in sync until the contract phase",
        old.join(", "),
        if old.len() == 1 { "it" } else { "them" }
    )]
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
        Rename::Column {
            table, from, to, ..
        } => format!("column {table}.{} to {}", from.name, to.name),
        Rename::Index { from, to } => format!("index {from} to {}", to.name),
        Rename::Constraint { table, from, to } => format!("constraint {from} on {table} to {to}"),
        Rename::EnumValue { ty, from, to } => format!("value '{from}' of type {ty} to '{to}'"),
        Rename::Type { from, to, domain } => format!(
            "{} {from} to {}",
            if *domain { "domain" } else { "type" },
            to.name
        ),
    }
}

/// The lock a rename takes, and on what. `ALTER TABLE ... RENAME` and `RENAME CONSTRAINT`
/// take ACCESS EXCLUSIVE on the table for a catalog update (queued traffic waits only for
/// that, bounded by lock_timeout); `ALTER INDEX ... RENAME` takes SHARE UPDATE EXCLUSIVE on
/// the index (PostgreSQL 12+); `RENAME VALUE` locks only the type's catalog row.
fn lock(r: &Rename) -> (LockLevel, Option<QName>) {
    match r {
        Rename::Table { from, .. } => (LockLevel::AccessExclusive, Some(from.clone())),
        Rename::Column { table, .. } => (LockLevel::AccessExclusive, Some(table.clone())),
        Rename::Index { from, .. } => (LockLevel::ShareUpdateExclusive, Some(from.clone())),
        Rename::Constraint { table, .. } => (LockLevel::AccessExclusive, Some(table.clone())),
        // ACCESS EXCLUSIVE on the type object itself, which table reads and writes never lock.
        Rename::EnumValue { .. } | Rename::Type { .. } => (LockLevel::None, None),
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
                ))
                .notes(left_out(ctx, from, columns))
                .notes(renamed_columns(ctx, to, columns));
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
        Rename::Column { .. } => column_phases(ctx, r, true),
        Rename::Index { .. }
        | Rename::Constraint { .. }
        | Rename::Type { .. }
        | Rename::EnumValue { .. } => {
            // One catalog-only step; a name the application itself writes (a cast to the
            // type, an enum literal) needs the deploy.
            let (note, deploy) = match r {
                Rename::Type { from, .. } => (
                    format!(
                        "catalog-only: columns, functions and views follow the type; queries \
                         naming {from} (casts) fail afterwards (deploy an application that no \
                         longer does)"
                    ),
                    true,
                ),
                Rename::EnumValue { from, .. } => (
                    format!(
                        "catalog-only, stored rows follow; queries writing the literal '{from}' \
                         fail afterwards (deploy an application that no longer writes it)"
                    ),
                    true,
                ),
                _ => (
                    "catalog-only: queries do not name it, one step suffices".to_string(),
                    false,
                ),
            };
            let mut step = ctx
                .step(
                    format!("rename {}", what(r)),
                    statement(r),
                    lock,
                    target.as_ref(),
                )
                .note(note);
            if deploy {
                step = step.hazard(Hazard::RequiresDeploy);
            }
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
        // The same procedure the other way: the old column comes back in sync (expand), the
        // new one goes (contract). Names shared by both directions (trigger, function) and
        // `IF EXISTS` on the index renames make the contract steps work from the forward
        // intermediate state too (rollback after expand alone).
        Rename::Column { .. } => column_phases(ctx, &back, false),
        Rename::Index { .. }
        | Rename::Constraint { .. }
        | Rename::EnumValue { .. }
        | Rename::Type { .. } => {
            let mut step = ctx.step(summary, undo_statement(r), lock, target.as_ref());
            if matches!(r, Rename::EnumValue { .. } | Rename::Type { .. }) {
                step = step.hazard(Hazard::RequiresDeploy);
            }
            vec![node(in_phase(step, Phase::Contract), r)]
        }
    }
}

/// Name of the sync trigger and its function: the same for both directions of a column
/// rename, so the inverse's contract finds it whichever direction created it.
fn sync_name(table: &QName, a: &str, b: &str) -> String {
    let (x, y) = if a <= b { (a, b) } else { (b, a) };
    pg_object_name(&table.name, Some(&format!("{x}_{y}")), "schemaplan_sync")
}

/// The comment and the column privileges of `from` (in `ctx.current`, the plan's starting
/// side), set on `to` in the step that adds it: the rest of the plan is diffed against the
/// schema with the rename done, where they already belong to `to`.
/// `before` is the table's name in `ctx.current` (differs from `table` when the plan renames
/// the table too).
fn column_decorations(ctx: &Ctx, table: &QName, before: &QName, from: &str, to: &str) -> String {
    let old = ObjectId::Column(before.clone(), from.to_string().into());
    let new = ObjectId::Column(table.clone(), to.to_string().into());
    let mut out = String::new();
    if let Some(text) = ctx.current.comments.get(&old) {
        out.push_str(&format!(
            "\nCOMMENT ON COLUMN {}.{} IS {};",
            qname(table),
            ident(to),
            literal(text)
        ));
    }
    for g in ctx
        .current
        .grants
        .iter()
        .filter(|g| g.granted && g.on == old)
    {
        let g = Grant {
            on: new.clone(),
            ..g.clone()
        };
        for n in super::grant::grant(ctx, &g) {
            out.push('\n');
            out.push_str(&n.step.sql);
        }
    }
    out
}

/// The PRIMARY KEY, UNIQUE and CHECK constraints on `to` (names they end with), built in
/// `expand` under temporary names beside the old column's (a unique index `CONCURRENTLY`, a
/// CHECK `NOT VALID` then validated: the old application's writes reach `to` through the sync
/// trigger before the checks run, so they pass whenever the old constraints pass), and the
/// `contract` statements that give them their names once `DROP COLUMN` has taken the old ones
/// along. Those statements are conditional (`DO` blocks on the catalog): a rollback after
/// `expand` alone runs the inverse's `contract` without its `expand`, where the old column's
/// constraints still hold their names and no temporary one exists.
fn carried_constraints(
    ctx: &Ctx,
    table: &QName,
    constraints: &[Constraint],
) -> (Chain, Vec<String>) {
    let mut nodes = Vec::new();
    let mut named = Vec::new();
    let at = crate::plan::alter_table(table);
    for c in constraints {
        let temp = temp_index_name(&c.name);
        match c.kind {
            ConstraintKind::PrimaryKey | ConstraintKind::Unique => {
                let Some((kw, cols, include, tail)) = super::constraint::simple_key(&c.definition)
                else {
                    continue;
                };
                let include = include
                    .map(|i| format!(" INCLUDE ({i})"))
                    .unwrap_or_default();
                let index = Index {
                    name: QName::new(table.schema.clone(), temp.clone()),
                    table: table.clone(),
                    definition: format!(
                        "CREATE UNIQUE INDEX {} ON {} USING btree ({cols}){include}",
                        ident(&temp),
                        qname(table)
                    ),
                    unique: true,
                    on_partitioned_table: false,
                    parent_index: None,
                    valid: true,
                    collations: KeyCollations::default(),
                };
                nodes.extend(super::index::create(ctx, &index));
                named.push(format!(
                    "DO $schemaplan$ BEGIN\n\
                     \x20 IF to_regclass({}) IS NOT NULL THEN\n\
                     \x20   {at} ADD CONSTRAINT {} {kw} USING INDEX {}{tail};\n\
                     \x20 END IF;\n\
                     END $schemaplan$;",
                    literal(&qname(&index.name)),
                    ident(&c.name),
                    ident(&temp)
                ));
            }
            ConstraintKind::Check => {
                let built = Constraint {
                    name: temp.clone(),
                    ..c.clone()
                };
                nodes.extend(super::constraint::add(ctx, table, &built));
                named.push(format!(
                    "DO $schemaplan$ BEGIN\n\
                     \x20 IF EXISTS (SELECT FROM pg_catalog.pg_constraint WHERE conrelid = {}::regclass AND conname = {}) THEN\n\
                     \x20   {at} RENAME CONSTRAINT {} TO {};\n\
                     \x20 END IF;\n\
                     END $schemaplan$;",
                    literal(&qname(table)),
                    literal(&temp),
                    ident(&temp),
                    ident(&c.name)
                ));
            }
            _ => {}
        }
    }
    (nodes, named)
}

/// Temporary name of an index built on the new column while the old column's index (under
/// the final name, possibly) still exists.
fn temp_index_name(name: &str) -> String {
    pg_object_name(name, None, "schemaplan_new")
}

/// A column rename in phases (`from` -> `to` of `Rename::Column`):
///
/// expand
/// 1. `ADD COLUMN to` (nullable, no default: catalog-only under a brief ACCESS EXCLUSIVE) and a
///    `BEFORE INSERT OR UPDATE` trigger keeping both columns equal for either application: an
///    INSERT that sets only one of them fills the other (one that sets `to` wins), an UPDATE
///    that changes one copies it to the other. Same transaction: no write can slip between.
/// 2. a batched backfill `UPDATE ... SET to = from WHERE to IS DISTINCT FROM from` (key-range
///    batches, each its own short transaction; idempotent, resumable);
/// 3. NOT NULL through a validated CHECK (no scan under lock);
/// 4. each index on `from` built `CONCURRENTLY` on `to` under a temporary name.
///
/// contract (after the new application is deployed): drop the trigger and its function, drop
/// `from` (its indexes go with it), give `to` its default and the indexes their names.
/// The default is set only here: during expand an INSERT by the old application must leave
/// `to` NULL for the trigger to copy `from` into it.
///
/// With a table rename in the same plan every step runs on the renamed table: in `expand`
/// after the table rename (the old application reaches `from` through the compatibility view,
/// and its writes there fire the sync trigger on the table), in `contract` after the view's
/// drop (the view reads `from`). `forward` says which side of `ctx` holds the table under
/// `table_before`: `ctx.current` for the forward rename, `ctx.desired` for its undo.
fn column_phases(ctx: &Ctx, r: &Rename, forward: bool) -> Chain {
    let Rename::Column {
        table,
        table_before,
        from,
        to,
        to_indexes,
        to_constraints,
        ..
    } = r
    else {
        unreachable!("column_phases takes a column rename")
    };
    // The table's name in `ctx.current` and in `ctx.desired`.
    let (current_table, desired_table) = if forward {
        (table_before, table)
    } else {
        (table, table_before)
    };
    let at = crate::plan::alter_table(table);
    let (old, new) = (ident(&from.name), ident(&to.name));
    let sync = sync_name(table, &from.name, &to.name);
    let function = qname(&QName::new(table.schema.clone(), sync.clone()));
    let added = Column {
        not_null: false,
        default: None,
        ..(**to).clone()
    };
    let body = format!(
        "BEGIN\n\
         \x20 IF TG_OP = 'INSERT' THEN\n\
         \x20   IF NEW.{new} IS NULL THEN NEW.{new} := NEW.{old}; ELSE NEW.{old} := NEW.{new}; END IF;\n\
         \x20 ELSIF NEW.{old} IS DISTINCT FROM OLD.{old} THEN\n\
         \x20   NEW.{new} := NEW.{old};\n\
         \x20 ELSIF NEW.{new} IS DISTINCT FROM OLD.{new} THEN\n\
         \x20   NEW.{old} := NEW.{new};\n\
         \x20 END IF;\n\
         \x20 RETURN NEW;\n\
         END"
    );
    let add = ctx
        .step(
            format!(
                "add column {table}.{} kept in sync with {} by a trigger",
                to.name, from.name
            ),
            format!(
                "{at} ADD COLUMN {};{}\n\
                 CREATE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $schemaplan$\n{body}\n$schemaplan$;\n\
                 CREATE TRIGGER {} BEFORE INSERT OR UPDATE ON {} FOR EACH ROW EXECUTE FUNCTION {function}();{}",
                super::column::definition(table, &added),
                super::column::settings_statements(table, &added),
                ident(&sync),
                qname(table),
                column_decorations(ctx, table, current_table, &from.name, &to.name)
            ),
            LockLevel::AccessExclusive,
            Some(table),
        )
        .note(format!(
            "both applications keep working: writes to either {} or {} reach both columns",
            from.name, to.name
        ))
        .note(crate::plan::step::moves_to_end_note(&format!(
            "{}.{new}",
            qname(table)
        )))
        .notes((table != table_before).then(|| {
            if forward {
                format!(
                    "runs on {table}, renamed from {table_before} by this plan: the application \
                     using {table_before} writes {} through its compatibility view, and the \
                     trigger copies it",
                    from.name
                )
            } else {
                format!(
                    "runs on {table} before it is renamed back to {table_before} in the \
                     contract phase: the compatibility view {table_before} reads {}",
                    to.name
                )
            }
        }));
    let backfill = ctx
        .long(ctx.step(
            format!("backfill {table}.{} from {}", to.name, from.name),
            format!(
                "UPDATE {} SET {new} = {old} WHERE {new} IS DISTINCT FROM {old};",
                qname(table)
            ),
            LockLevel::RowExclusive,
            Some(table),
        ))
        .batched()
        .note("in key-range batches, each its own short transaction");
    let mut nodes = vec![Node::new(add, r.object()), Node::new(backfill, r.object())];
    if to.not_null {
        nodes.extend(super::column::set_not_null_online_as(
            ctx,
            table,
            desired_table,
            &to.name,
        ));
    }
    for i in to_indexes {
        let temp = Index {
            name: QName::new(i.name.schema.clone(), temp_index_name(&i.name.name)),
            definition: i.definition.replacen(
                &format!("INDEX {} ON", ident(&i.name.name)),
                &format!("INDEX {} ON", ident(&temp_index_name(&i.name.name))),
                1,
            ),
            ..i.clone()
        };
        nodes.extend(super::index::create(ctx, &temp));
    }
    let (built, named) = carried_constraints(ctx, table, to_constraints);
    nodes.extend(built);
    let mut contract = vec![
        format!("DROP TRIGGER {} ON {};", ident(&sync), qname(table)),
        format!("DROP FUNCTION {function}();"),
        format!("{at} DROP COLUMN {old};"),
    ];
    contract.extend(named);
    let keeps_default = ctx
        .desired
        .tables
        .get(desired_table)
        .and_then(|t| t.column(&to.name))
        .is_some_and(|c| c.default == to.default);
    if let (Some(d), true) = (&to.default, keeps_default) {
        contract.push(format!("{at} ALTER COLUMN {new} SET DEFAULT {d};"));
    }
    for i in to_indexes {
        contract.push(format!(
            "ALTER INDEX IF EXISTS {} RENAME TO {};",
            qname(&QName::new(
                i.name.schema.clone(),
                temp_index_name(&i.name.name)
            )),
            ident(&i.name.name)
        ));
    }
    let contract = ctx
        .step(
            format!("drop column {table}.{} (renamed to {})", from.name, to.name),
            contract.join("\n"),
            LockLevel::AccessExclusive,
            Some(table),
        )
        .hazard(Hazard::RequiresDeploy)
        .note(format!(
            "run after the application using {} is deployed: {} stops working; its values \
             live on in {} (catalog-only drop)",
            to.name, from.name, to.name
        ));
    for n in &mut nodes {
        n.object = r.object();
    }
    nodes.push(node(in_phase(contract, Phase::Contract), r));
    nodes
}
