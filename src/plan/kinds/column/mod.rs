//! Columns: add, drop and alter (type, default, NOT NULL, identity, generated). Adding one
//! (with its backfill) is `add`, NOT NULL set online and named `not_null`; this file holds the
//! definitions, drop and alter.

use super::convert;
use crate::diff::ColumnChange;
use crate::model::*;
use crate::plan::graph::{Chain, Node, Rank};
use crate::plan::{alter_table, Ctx, Hazard, LockLevel, TableSize};
use crate::render::quote::{ident, qname};

mod add;
mod not_null;

use add::*;
use not_null::*;

pub use add::add;
pub(crate) use add::unfillable;
pub use not_null::{set_not_null_online, set_not_null_online_as};

/// A column's storage, statistics target and attribute options as `ALTER TABLE` sub-commands
/// (`CREATE TABLE` accepts `STORAGE` only from PostgreSQL 16, the others never): appended to
/// the statement that creates the table or adds the column, under the lock it holds.
pub fn settings(c: &Column) -> Vec<String> {
    let col = ident(&c.name);
    let mut v = Vec::new();
    if let Some(s) = &c.storage {
        v.push(format!("ALTER COLUMN {col} SET STORAGE {s}"));
    }
    if let Some(n) = c.statistics {
        v.push(format!("ALTER COLUMN {col} SET STATISTICS {n}"));
    }
    if !c.attoptions.is_empty() {
        v.push(format!(
            "ALTER COLUMN {col} SET ({})",
            c.attoptions.join(", ")
        ));
    }
    v
}

/// The [`settings`] of column `c` of `t` as statements of their own, each after a line break
/// (empty without settings): for a shadow column added with `ADD COLUMN` in a longer batch.
pub fn settings_statements(t: &QName, c: &Column) -> String {
    settings(c)
        .into_iter()
        .map(|s| format!("\n{} {s};", alter_table(t)))
        .collect()
}

/// `ALTER TABLE t ADD COLUMN <def>;` with the `settings` of the column after it, in one
/// statement.
fn add_sql(t: &QName, def: &Column, settings_of: &Column) -> String {
    let extra = settings(settings_of);
    if extra.is_empty() {
        return format!("{} ADD COLUMN {};", alter_table(t), definition(t, def));
    }
    format!(
        "{}\n    ADD COLUMN {},\n    {};",
        alter_table(t),
        definition(t, def),
        extra.join(",\n    ")
    )
}

/// `SET (k=v)` for new or changed attribute options, `RESET (k)` for removed ones.
fn attoptions_changes(col: &str, from: &[String], to: &[String]) -> Vec<String> {
    let key = |o: &String| o.split('=').next().unwrap_or_default().to_string();
    let set: Vec<String> = to.iter().filter(|o| !from.contains(o)).cloned().collect();
    let reset: Vec<String> = from
        .iter()
        .map(key)
        .filter(|k| !to.iter().any(|o| &key(o) == k))
        .collect();
    let mut v = Vec::new();
    if !set.is_empty() {
        v.push(format!("ALTER COLUMN {col} SET ({})", set.join(", ")));
    }
    if !reset.is_empty() {
        v.push(format!("ALTER COLUMN {col} RESET ({})", reset.join(", ")));
    }
    v
}

/// The name PostgreSQL 18 gives a NOT NULL constraint it makes for column `column` of table
/// `table` (`ChooseConstraintName`: `<table>_<column>_not_null`, shortened like
/// `makeObjectName`).
pub(crate) fn generated_not_null_name(table: &str, column: &str) -> String {
    pg_object_name(table, Some(column), "not_null")
}

/// The name of the NOT NULL constraint column `c` of table `t` is to have: its own (PostgreSQL
/// 18 reads it), else the generated one.
pub(in crate::plan::kinds) fn not_null_name(t: &QName, c: &Column) -> String {
    c.not_null_name
        .as_deref()
        .cloned()
        .unwrap_or_else(|| generated_not_null_name(&t.name, &c.name))
}

/// `NOT NULL` in a column definition: `CONSTRAINT <name> NOT NULL` when the constraint's name
/// (PostgreSQL 18) is not the one PostgreSQL would generate for table `t`, and `NO INHERIT`
/// when it is so. Before 18 the model has neither: plain ` NOT NULL`, as always. A `NOT VALID`
/// one is made valid here (`CREATE TABLE` / `ADD COLUMN` cannot make it otherwise; a valid
/// one satisfies it, see `model::canonical::table`).
fn not_null_clause(t: &QName, c: &Column) -> String {
    let mut s = String::new();
    if let Some(n) = c.not_null_name.as_deref() {
        if *n != generated_not_null_name(&t.name, &c.name) {
            s.push_str(&format!(" CONSTRAINT {}", ident(n)));
        }
    }
    s.push_str(" NOT NULL");
    if c.not_null_no_inherit {
        s.push_str(" NO INHERIT");
    }
    s
}

/// A column definition of table `t` as in `CREATE TABLE` / `ADD COLUMN`.
pub fn definition(t: &QName, c: &Column) -> String {
    let mut s = format!("{} {}", ident(&c.name), c.type_name);
    if let Some(m) = &c.compression {
        s.push_str(&format!(" COMPRESSION {}", ident(m)));
    }
    // a foreign table's column options come before the constraints (`columnDef` grammar)
    s.push_str(&super::foreign_data_wrapper::options_clause(&c.fdw_options));
    if let Some(coll) = &c.collation {
        s.push_str(&format!(" COLLATE {}", qname(coll)));
    }
    if let Some(g) = &c.generated {
        let how = if c.generated_virtual {
            "VIRTUAL"
        } else {
            "STORED"
        };
        s.push_str(&format!(" GENERATED ALWAYS AS ({g}) {how}"));
    }
    if let Some(id) = &c.identity {
        s.push_str(&identity_clause(id));
    }
    if let Some(d) = &c.default {
        s.push_str(&format!(" DEFAULT {d}"));
    }
    if c.not_null {
        s.push_str(&not_null_clause(t, c));
    }
    s
}

pub(super) fn identity_clause(id: &Identity) -> String {
    let kind = if id.always { "ALWAYS" } else { "BY DEFAULT" };
    if id.sequence_options.is_empty() {
        format!(" GENERATED {kind} AS IDENTITY")
    } else {
        format!(
            " GENERATED {kind} AS IDENTITY ({})",
            id.sequence_options.join(" ")
        )
    }
}

pub(super) fn col_id(t: &QName, c: &str) -> ObjectId {
    ObjectId::Column(t.clone(), c.to_string().into())
}

/// The node of `step`, which changes column `c` of `t` in place (it is there before and after).
pub(super) fn altering(step: crate::plan::Step, t: &QName, c: &str) -> Node {
    let id = col_id(t, c);
    let mut n = Node::new(step, id.clone());
    n.alters.push(id);
    n
}

/// The node of `step`, after which column `c` of `t` is as the desired schema has it.
pub(super) fn producing(step: crate::plan::Step, t: &QName, c: &str) -> Node {
    let id = col_id(t, c);
    let mut n = Node::new(step, id.clone());
    n.produces.push(id);
    n
}

/// The same column in partitions and inheritance children, recursively: what happens to the
/// parent's column happens to them.
pub(super) fn inherited_copies(schema: &Schema, t: &QName, column: &str) -> Vec<ObjectId> {
    let mut out = Vec::new();
    let mut work = vec![t.clone()];
    while let Some(p) = work.pop() {
        for child in schema.tables.values() {
            let is_child = child.partition_of.as_ref().is_some_and(|(q, _)| *q == p)
                || child.inherits.contains(&p);
            if is_child
                && child
                    .columns
                    .iter()
                    .any(|c| c.name == column && c.inherited)
            {
                out.push(col_id(&child.name, column));
                work.push(child.name.clone());
            }
        }
    }
    out
}

/// Inheritance children (not partitions) of `t` in the current schema whose copy of `column`
/// a plain `DROP COLUMN` on `t` takes along: only inherited (`attislocal` false) and from `t`
/// alone (no other parent of theirs has the column, which would keep it).
fn children_losing_copy<'a>(ctx: &'a Ctx, t: &QName, column: &str) -> Vec<&'a Table> {
    let has = |q: &QName| {
        ctx.current
            .tables
            .get(q)
            .is_some_and(|p| p.columns.iter().any(|c| c.name == column))
    };
    ctx.current
        .tables
        .values()
        .filter(|child| child.partition_of.is_none() && child.inherits.contains(t))
        .filter(|child| {
            child
                .columns
                .iter()
                .any(|c| c.name == column && c.inherited && !c.is_local)
        })
        .filter(|child| !child.inherits.iter().any(|p| p != t && has(p)))
        .collect()
}

/// Whether the desired schema has table `q` with column `column`.
fn desired_has(ctx: &Ctx, q: &QName, column: &str) -> bool {
    ctx.desired
        .tables
        .get(q)
        .is_some_and(|w| w.columns.iter().any(|c| c.name == column))
}

/// Whether `column` must be dropped from `t` with `ALTER TABLE ONLY`: a child (or, through a
/// child that drops it too, a grandchild ...) whose only-inherited copy the plain drop would
/// take along keeps the column in the desired schema (declaring it itself there).
fn drop_needs_only(ctx: &Ctx, t: &QName, column: &str) -> bool {
    children_losing_copy(ctx, t, column).iter().any(|child| {
        desired_has(ctx, &child.name, column)
            || (ctx.desired.tables.contains_key(&child.name)
                && drop_needs_only(ctx, &child.name, column))
    })
}

/// The statements dropping `column` from `t`, and the columns they remove.
///
/// A plain `DROP COLUMN` on a parent also drops each inheritance child's copy that is only
/// inherited, with its values, although the desired child may declare the column itself:
/// nothing else in the plan would bring it (or its values) back (migra's `inherit2`, issue
/// 14). `ALTER TABLE ONLY parent DROP COLUMN` drops the parent's column alone and leaves each
/// child's copy as the child's own (`attislocal`, `attinhcount` 0), rows and all; the children
/// that do not keep the column then drop their copy, now their own, the same way (their own
/// children may keep it). When no child keeps it: the plain drop, which takes the copies along.
fn drop_statements(ctx: &Ctx, t: &QName, column: &str, sql: &mut Vec<String>) -> Vec<ObjectId> {
    let mut removes = vec![col_id(t, column)];
    if !drop_needs_only(ctx, t, column) {
        sql.push(format!("{} DROP COLUMN {};", alter_table(t), ident(column)));
        // The column also goes from partitions and inheritance children (and their indexes).
        removes.extend(inherited_copies(ctx.current, t, column));
        return removes;
    }
    sql.push(format!(
        "ALTER TABLE ONLY {} DROP COLUMN {};",
        qname(t),
        ident(column)
    ));
    for child in children_losing_copy(ctx, t, column) {
        // Kept: the child's own column from here on. A child the plan drops takes its copy
        // (now its own) with it.
        if desired_has(ctx, &child.name, column) || !ctx.desired.tables.contains_key(&child.name) {
            continue;
        }
        removes.extend(drop_statements(ctx, &child.name, column, sql));
    }
    removes
}

pub fn drop(ctx: &Ctx, t: &QName, c: &Column) -> Chain {
    if crate::diff::inherits_again(ctx.current, ctx.desired, t, &c.name) {
        return move_aside(ctx, t, c);
    }
    let mut sql = Vec::new();
    let removes = drop_statements(ctx, t, &c.name, &mut sql);
    let kept: Vec<String> = children_losing_copy(ctx, t, &c.name)
        .iter()
        .filter(|child| desired_has(ctx, &child.name, &c.name))
        .map(|child| child.name.to_string())
        .collect();
    let mut step = ctx.step(
        format!("drop column {}.{}", t, c.name),
        sql.join("\n"),
        LockLevel::AccessExclusive,
        Some(t),
    );
    if !kept.is_empty() {
        step = step.note(format!(
            "ONLY: {} keep{} the column as {} own, values included",
            kept.join(", "),
            if kept.len() == 1 { "s" } else { "" },
            if kept.len() == 1 { "its" } else { "their" },
        ));
    }
    // A VIRTUAL generated column (PostgreSQL 18) stores nothing: dropping it loses no value,
    // and adding it back (the inverse) computes the same values again, so it is not
    // `irreversible`. It keeps `data-loss` all the same, on purpose: the plan file's honesty
    // check (`planfile::honesty`) reads only the SQL, where `DROP COLUMN` of a virtual column
    // looks like any other, and it must not trust a header or a note to say otherwise (it
    // exists to catch headers that understate). Overstating is the safe side: `apply` asks
    // for `--allow-hazards`.
    let step = if c.generated_virtual {
        step.hazard(Hazard::DataLoss).note(
            "VIRTUAL: nothing stored is lost, but `data-loss` stays: the plan file's check \
             cannot tell this DROP COLUMN from one of a stored column",
        )
    } else {
        step.hazard(Hazard::DataLoss).hazard(Hazard::Irreversible)
    };
    let mut n = Node::new(step, col_id(t, &c.name));
    n.removes = removes;
    n.rank = Rank::Drop;
    vec![n]
}

/// A child's own column that is to be inherited only from a parent that gains it
/// ([`crate::diff::inherits_again`]) is renamed aside first, so that the parent's `ADD COLUMN`
/// gives the child a new, inherited copy instead of merging into the child's own; `add`
/// copies the values over and drops the old column. Its indexes, constraints and the views
/// reading it are dropped before and created again after (the diff replaces the column).
fn move_aside(ctx: &Ctx, t: &QName, c: &Column) -> Chain {
    let step = ctx
        .step(
            format!("move column {}.{} aside", t, c.name),
            format!(
                "{} RENAME COLUMN {} TO {};",
                alter_table(t),
                ident(&c.name),
                ident(&aside_name(&c.name))
            ),
            LockLevel::AccessExclusive,
            Some(t),
        )
        .note("the parent gains the column: its values move to the inherited copy");
    let mut n = Node::new(step, col_id(t, &c.name));
    n.removes.push(col_id(t, &c.name));
    n.rank = Rank::Drop;
    vec![n]
}

/// `NO INHERIT` and `INHERIT` again of the parents that pass column `to` on to `t`: the way an
/// inherited column becomes the child's own (`attislocal`) while the child goes on inheriting
/// it. It makes every column and CHECK the child has from those parents its own, which the
/// proof checks against the desired schema.
fn own_again(ctx: &Ctx, t: &QName, to: &Column) -> Option<Node> {
    let have = ctx.current.tables.get(t)?;
    let want = ctx.desired.tables.get(t)?;
    let from_parent = |p: &QName, name: &str| {
        ctx.current
            .tables
            .get(p)
            .is_some_and(|pt| pt.columns.iter().any(|c| c.name == name))
    };
    // The columns of `t` that become its own: the pair runs once per parent, for the first.
    let becoming_own = |c: &&Column| {
        c.inherited
            && c.declared_locally()
            && have
                .columns
                .iter()
                .any(|o| o.name == c.name && !o.declared_locally())
    };
    let parents: Vec<&QName> = want
        .inherits
        .iter()
        .filter(|p| have.inherits.contains(p) && from_parent(p, &to.name))
        .filter(|p| {
            want.columns
                .iter()
                .filter(becoming_own)
                .find(|c| from_parent(p, &c.name))
                .is_some_and(|c| c.name == to.name)
        })
        .collect();
    if parents.is_empty() {
        return None;
    }
    let sql: Vec<String> = parents
        .iter()
        .map(|p| {
            format!(
                "{at} NO INHERIT {p};\n{at} INHERIT {p};",
                at = alter_table(t),
                p = qname(p)
            )
        })
        .collect();
    let step = ctx
        .step(
            format!(
                "make the columns {t} inherits from {} its own",
                parents
                    .iter()
                    .map(|p| p.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            sql.join("\n"),
            LockLevel::AccessExclusive,
            Some(t),
        )
        .note("no ALTER COLUMN makes an inherited column the child's own: NO INHERIT and INHERIT again");
    Some(altering(step, t, &to.name))
}

/// One `ALTER TABLE` with the column's sub-commands in a safe order, except `SET NOT NULL`
/// on a table with rows, which is added NOT VALID and validated (see [`set_not_null_online`]).
pub fn alter(
    ctx: &Ctx,
    t: &QName,
    from: &Column,
    to: &Column,
    kinds: &[ColumnChange],
) -> Vec<Chain> {
    use ColumnChange::*;
    // A partition moving to a partitioned table created again (a new partition key) is
    // retyped in place while detached: no query reaches its rows through the partitioned
    // table until it is attached again, so the shadow column's long expand would keep them
    // out of sight for longer, and the partition's copies of its old table's keys (which the
    // model does not list) could not be carried over to a shadow column.
    if !ctx.reparented(t) {
        if let Some(chain) = super::retype::online_retype(ctx, t, from, to, kinds) {
            return vec![chain];
        }
    }
    let col = ident(&to.name);
    let id = col_id(t, &to.name);
    // A scan or rewrite under ACCESS EXCLUSIVE is fine on an empty or small table (`small`
    // has the notes saying so); on a large ordinary table NOT NULL goes online. A partitioned
    // table cannot: PostgreSQL does not use a partitioned table's CHECK to skip the scan.
    let small = ctx.small(&[t]);
    let online = small.is_none()
        && ctx
            .current
            .tables
            .get(t)
            .is_some_and(|tb| tb.kind == TableKind::Ordinary);
    // A foreign table's rows are behind its server: its type change is a catalog change with
    // no USING (PostgreSQL refuses one there) and no value check (that would query the
    // remote); the wrapper converts, or fails, on read.
    let foreign = ctx.current.tables.get(t).is_some_and(|tb| tb.is_foreign());
    let mut parts = Vec::new();
    let mut online_not_null = false;
    let mut validate_not_null = false;
    for k in kinds {
        match k {
            DropDefault => parts.push(format!("ALTER COLUMN {col} DROP DEFAULT")),
            DropIdentity => parts.push(format!("ALTER COLUMN {col} DROP IDENTITY")),
            DropExpression => parts.push(format!("ALTER COLUMN {col} DROP EXPRESSION")),
            SetExpression => parts.push(format!(
                "ALTER COLUMN {col} SET EXPRESSION AS ({})",
                to.generated.as_deref().map_or("", String::as_str)
            )),
            Type => {
                let coll = to
                    .collation
                    .as_ref()
                    .map(|c| format!(" COLLATE {}", qname(c)))
                    .unwrap_or_default();
                let using = match ctx.opts.usings.get(&(t.clone(), to.name.to_string())) {
                    _ if foreign => String::new(),
                    Some(expr) => format!(" USING ({expr})"),
                    None => format!(" USING {}", convert::assigned(ctx, &col, from, to)),
                };
                parts.push(format!(
                    "ALTER COLUMN {col} TYPE {}{coll}{using}",
                    to.type_name
                ))
            }
            DropNotNull => parts.push(format!("ALTER COLUMN {col} DROP NOT NULL")),
            SetDefault => parts.push(format!(
                "ALTER COLUMN {col} SET DEFAULT {}",
                to.default.as_deref().unwrap_or("NULL")
            )),
            // NOT VALID in the schema files (PostgreSQL 18): added so, no scan, never
            // validated by the plan.
            SetNotNull if to.not_null_not_valid => {
                parts.push(add_not_null(t, to, " NOT VALID"));
            }
            // Identity needs NOT NULL first, in the same statement.
            SetNotNull if online && !kinds.contains(&AddIdentity) => online_not_null = true,
            // A name of its own or NO INHERIT (PostgreSQL 18): `SET NOT NULL` would make the
            // generated, inheritable one.
            SetNotNull if named_not_null(t, to) => parts.push(add_not_null(t, to, "")),
            SetNotNull => parts.push(format!("ALTER COLUMN {col} SET NOT NULL")),
            // The constraint's new name goes in a statement of its own (below).
            NotNullName => {}
            NotNullInherit => parts.push(format!(
                "ALTER CONSTRAINT {} {}",
                ident(&not_null_name(t, from)),
                if to.not_null_no_inherit {
                    "NO INHERIT"
                } else {
                    "INHERIT"
                }
            )),
            ValidateNotNull => validate_not_null = true,
            // A statement of its own (below).
            Locality => {}
            AddIdentity => {
                let idn = to.identity.as_ref().expect("AddIdentity has an identity");
                parts.push(format!("ALTER COLUMN {col} ADD{}", identity_clause(idn)));
            }
            SetIdentityKind => {
                let always = to.identity.as_ref().is_some_and(|i| i.always);
                let k = if always { "ALWAYS" } else { "BY DEFAULT" };
                parts.push(format!("ALTER COLUMN {col} SET GENERATED {k}"));
            }
            Compression => {
                let m = to.compression.as_deref().map_or("default", String::as_str);
                parts.push(format!("ALTER COLUMN {col} SET COMPRESSION {}", ident(m)))
            }
            Storage => parts.push(format!(
                "ALTER COLUMN {col} SET STORAGE {}",
                to.storage
                    .as_deref()
                    .map_or(to.default_storage.as_str(), String::as_str)
            )),
            // -1: back to default_statistics_target (NULL from 17)
            Statistics => parts.push(format!(
                "ALTER COLUMN {col} SET STATISTICS {}",
                to.statistics.unwrap_or(-1)
            )),
            AttOptions => parts.extend(attoptions_changes(&col, &from.attoptions, &to.attoptions)),
            FdwOptions => parts.push(super::foreign_table::column_options_change(
                &to.name,
                &from.fdw_options,
                &to.fdw_options,
            )),
            IdentityOptions => {
                let (from_opts, to_opts) = (identity_options(from), identity_options(to));
                parts.push(format!(
                    "ALTER COLUMN {col} {}",
                    identity_option_changes(&from_opts, &to_opts)
                ));
            }
        }
    }
    let mut chains = Vec::new();
    // An identity owns a sequence named `<table>_<column>_seq`. Switching between a serial
    // column and an identity swaps two sequences of that name: the old default or identity is
    // dropped in a step of its own (releasing the old sequence and its name) before the new
    // sequence is created and the new default or identity set.
    let identity_seq = QName::new(
        t.schema.clone(),
        pg_object_name(&t.name, Some(&to.name), "seq"),
    );
    let mut first: Vec<Node> = Vec::new();
    let swaps_sequence = (kinds.contains(&AddIdentity) && kinds.contains(&DropDefault))
        || (kinds.contains(&DropIdentity) && kinds.contains(&SetDefault));
    if swaps_sequence {
        let drops: Vec<String> = parts
            .iter()
            .filter(|p| p.ends_with("DROP DEFAULT") || p.ends_with("DROP IDENTITY"))
            .cloned()
            .collect();
        parts.retain(|p| !drops.contains(p));
        let step = ctx.step(
            format!("drop default or identity of {}.{}", t, to.name),
            format!("{}\n    {};", alter_table(t), drops.join(",\n    ")),
            LockLevel::AccessExclusive,
            Some(t),
        );
        let mut n = Node::new(step, id.clone());
        n.alters.push(id.clone());
        n.releases = ctx.released(&id);
        if kinds.contains(&DropIdentity) {
            n.frees.push(identity_seq.clone());
        }
        first.push(n);
    }
    if !parts.is_empty() {
        let retype = kinds.contains(&Type);
        // A conversion that may change values is checked in the same transaction, under the
        // ACCESS EXCLUSIVE lock the type change takes anyway (`convert::plain_guard`).
        let guarded = retype && !foreign && convert::guarded(ctx, t, from, to);
        let guard = if guarded {
            convert::plain_guard(ctx, t, from, to)
        } else {
            String::new()
        };
        // SET STATISTICS and SET (n_distinct ...) take SHARE UPDATE EXCLUSIVE (reads and
        // writes go on); every other sub-command here ACCESS EXCLUSIVE.
        let lock = if kinds.iter().all(|k| matches!(k, Statistics | AttOptions)) {
            LockLevel::ShareUpdateExclusive
        } else {
            LockLevel::AccessExclusive
        };
        let mut step = ctx.step(
            format!("alter column {}.{}", t, to.name),
            format!("{guard}{}\n    {};", alter_table(t), parts.join(",\n    ")),
            lock,
            Some(t),
        );
        if guarded {
            step = step.hazard(Hazard::Narrowing).note(format!(
                "type {} -> {} can change values: the check {} fails the step if any \
                 row's value would not convert back unchanged",
                from.type_name,
                to.type_name,
                convert::guard_name(t, &from.name)
            ));
        }
        if retype && convert::declared_loss(ctx, t, from, to) {
            step = step.hazard(Hazard::DataLoss).note(format!(
                "type {} -> {} can change or lose values, and the plan cannot check them",
                from.type_name, to.type_name
            ));
        }
        let coercible = retype
            && from.collation == to.collation
            && convert::binary_coercible(&from.type_name, &to.type_name);
        let scans = kinds.contains(&SetNotNull) && !online_not_null && !to.not_null_not_valid;
        if retype
            && ctx
                .opts
                .usings
                .contains_key(&(t.clone(), to.name.to_string()))
        {
            step = step.note("converted with the column's @using expression");
        } else if retype && convert::no_cast(ctx, &from.type_name, &to.type_name) {
            step = step.note(format!(
                "no cast from {} to {}: converted through text, which fails (rolling the step \
                 back) on the first value {} does not accept",
                from.type_name, to.type_name, to.type_name
            ));
        }
        if kinds.contains(&SetExpression) && to.generated_virtual {
            // VIRTUAL: computed when read, so the new expression is a catalog change under a
            // brief ACCESS EXCLUSIVE; PostgreSQL neither rewrites nor scans the table.
            step =
                step.note("VIRTUAL: the new expression is computed when read; no rewrite, no scan");
        } else if kinds.contains(&SetExpression) {
            // STORED (`diff` sends it here on 17+ only; 13-16 have no SET EXPRESSION and drop
            // and add the column): PostgreSQL computes every row's value again, rewriting the
            // table and rebuilding the indexes on the column, all under the ACCESS EXCLUSIVE
            // lock the step takes. No value is lost (the inverse computes the old ones again).
            step = step.note(
                "STORED: every row's value is computed again, rewriting the table (and its \
                 indexes on the column) under ACCESS EXCLUSIVE; the column keeps its place, \
                 the views and indexes using it",
            );
            step = match &small {
                Some(notes) => step.notes(notes.clone()),
                None => ctx
                    .long(step)
                    .hazard(Hazard::TableRewrite)
                    .hazard(Hazard::AccessExclusiveLock),
            };
        }
        if coercible {
            step = step.note(format!(
                "type {} -> {} is binary coercible: a catalog change, no rewrite or scan",
                from.type_name, to.type_name
            ));
        } else if retype && small.is_none() {
            step = ctx
                .long(step)
                .hazard(Hazard::TableRewrite)
                .hazard(Hazard::AccessExclusiveLock)
                .note(format!(
                    "type {} -> {}: may rewrite the table under lock",
                    from.type_name, to.type_name
                ));
        }
        if scans && small.is_none() {
            step = ctx.long(step);
        }
        if (scans || (retype && !coercible)) && small.is_some() {
            step = step.notes(small.clone().unwrap_or_default());
        }
        let mut n = Node::new(step, id.clone());
        n.produces.push(id.clone());
        if retype {
            n.removes.push(id.clone());
        }
        n.alters.push(id.clone());
        n.alters.extend(inherited_copies(ctx.current, t, &to.name));
        if first.is_empty() {
            n.releases = ctx.released(&id);
        }
        if kinds.contains(&AddIdentity) {
            n.claims.push(identity_seq.clone());
        }
        if kinds.contains(&DropIdentity) && !swaps_sequence {
            n.frees.push(identity_seq.clone());
        }
        first.push(n);
        chains.push(first);
    }
    if online_not_null {
        chains.push(set_not_null_online(ctx, t, &to.name));
    }
    if kinds.contains(&NotNullName) {
        chains.push(vec![rename_not_null(ctx, t, from, to)]);
    }
    if validate_not_null {
        chains.push(vec![validate_not_null_node(ctx, t, to)]);
    }
    // To be the child's own: `NO INHERIT` / `INHERIT`. The other way (an inherited column
    // the child declares itself, to be only inherited while the parent keeps it) has no
    // statement: nothing is planned, and the proof reports the difference.
    if kinds.contains(&Locality) && to.declared_locally() && !from.declared_locally() {
        chains.extend(own_again(ctx, t, to).map(|n| vec![n]));
    }
    chains
}

fn identity_options(c: &Column) -> Vec<String> {
    c.identity
        .as_ref()
        .map(|i| i.sequence_options.clone())
        .unwrap_or_default()
}

/// The option's keyword (`START WITH 5` -> `START WITH`, `NO CYCLE` -> `CYCLE`).
fn option_key(o: &str) -> String {
    let o = o.strip_prefix("NO ").unwrap_or(o);
    o.trim_end_matches(|c: char| c.is_ascii_digit() || c == '-')
        .trim()
        .to_string()
}

/// One `SET ...` list for all identity sequence options, so PostgreSQL checks them together
/// (setting START before a new MAXVALUE would otherwise be refused). Options that go back to
/// their default are reset explicitly.
fn identity_option_changes(from: &[String], to: &[String]) -> String {
    const ORDER: [&str; 6] = [
        "INCREMENT BY",
        "MINVALUE",
        "MAXVALUE",
        "START WITH",
        "CACHE",
        "CYCLE",
    ];
    let mut sets: Vec<(usize, String)> = Vec::new();
    for key in ORDER {
        let pos = ORDER.iter().position(|k| *k == key).unwrap_or(0);
        if let Some(o) = to.iter().find(|o| option_key(o) == key) {
            // an option both sides give alike is left as it is
            if !from.contains(o) {
                sets.push((pos, format!("SET {o}")));
            }
        } else if from.iter().any(|o| option_key(o) == key) {
            let reset = match key {
                "INCREMENT BY" => "SET INCREMENT BY 1".to_string(),
                "MINVALUE" => "SET NO MINVALUE".to_string(),
                "MAXVALUE" => "SET NO MAXVALUE".to_string(),
                "CACHE" => "SET CACHE 1".to_string(),
                "CYCLE" => "SET NO CYCLE".to_string(),
                _ => {
                    let min = to
                        .iter()
                        .find(|o| option_key(o) == "MINVALUE")
                        .and_then(|o| o.rsplit(' ').next())
                        .unwrap_or("1");
                    format!("SET START WITH {min}")
                }
            };
            sets.push((pos, reset));
        }
    }
    let value = |opts: &[String], key: &str| {
        opts.iter()
            .find(|o| option_key(o) == key)
            .and_then(|o| o.rsplit(' ').next())
            .and_then(|v| v.parse::<i64>().ok())
    };
    // A START left out on a side is its default: MINVALUE for an ascending sequence, MAXVALUE
    // for a descending one (1 and -1 without them). When the bounds or the direction move,
    // that default moves with them, but the sequence keeps the start it was created with
    // (PostgreSQL then refuses the new bounds: "START value (-200) cannot be less than
    // MINVALUE (-100)"): the new start is set explicitly.
    let start = |opts: &[String]| {
        value(opts, "START WITH").unwrap_or_else(|| {
            if value(opts, "INCREMENT BY").unwrap_or(1) > 0 {
                value(opts, "MINVALUE").unwrap_or(1)
            } else {
                value(opts, "MAXVALUE").unwrap_or(-1)
            }
        })
    };
    let start_pos = ORDER.iter().position(|k| *k == "START WITH").unwrap_or(0);
    if !sets.iter().any(|(p, _)| *p == start_pos) && start(from) != start(to) {
        sets.push((start_pos, format!("SET START WITH {}", start(to))));
    }
    sets.sort();
    let mut out: Vec<String> = sets.into_iter().map(|(_, s)| s).collect();
    // A sequence whose old start lies outside the new bounds is at a value the new bounds
    // refuse: PostgreSQL requires a RESTART (at the new start) in the same command.
    let old_start = start(from);
    let new_min = value(to, "MINVALUE").unwrap_or(i64::MIN);
    let new_max = value(to, "MAXVALUE").unwrap_or(i64::MAX);
    if old_start < new_min || old_start > new_max {
        out.push("RESTART".to_string());
    }
    out.join(" ")
}

/// A type change the plan cannot write: no cast between the types, no `@using`, and the table
/// has rows (through text, the first row whose text the new type does not accept fails it).
pub(crate) fn uncastable(ctx: &Ctx, t: &QName, from: &Column, to: &Column) -> bool {
    from.type_name != to.type_name
        && convert::no_cast(ctx, &from.type_name, &to.type_name)
        && !ctx
            .opts
            .usings
            .contains_key(&(t.clone(), to.name.to_string()))
        && matches!(
            ctx.table_size(t),
            TableSize::Small { .. } | TableSize::Large { .. }
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_options_are_set_together_and_reset_to_defaults() {
        let from = vec!["START WITH 30".to_string(), "MAXVALUE 90".to_string()];
        let to = vec!["MAXVALUE 9".to_string(), "START WITH 3".to_string()];
        assert_eq!(
            identity_option_changes(&from, &to),
            "SET MAXVALUE 9 SET START WITH 3 RESTART"
        );
        let to: Vec<String> = Vec::new();
        assert_eq!(
            identity_option_changes(&from, &to),
            "SET NO MAXVALUE SET START WITH 1"
        );
    }

    #[test]
    fn a_default_start_that_moves_with_the_bounds_is_set() {
        let opts = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        // ascending: the start was MINVALUE -200 (left out), is MINVALUE -100 now
        let from = opts(&["INCREMENT BY 10", "MINVALUE -200", "MAXVALUE 200"]);
        let to = opts(&["INCREMENT BY 5", "MINVALUE -100", "MAXVALUE 100"]);
        assert_eq!(
            identity_option_changes(&from, &to),
            "SET INCREMENT BY 5 SET MINVALUE -100 SET MAXVALUE 100 SET START WITH -100 RESTART"
        );
        // descending: the start was MAXVALUE 50, is MAXVALUE 40 now
        let from = opts(&["INCREMENT BY -1", "MAXVALUE 50"]);
        let to = opts(&["INCREMENT BY -1", "MAXVALUE 40"]);
        assert_eq!(
            identity_option_changes(&from, &to),
            "SET MAXVALUE 40 SET START WITH 40 RESTART"
        );
        // the bounds move, the default start does not: nothing more
        let from = opts(&["MAXVALUE 50"]);
        let to = opts(&["MAXVALUE 60"]);
        assert_eq!(identity_option_changes(&from, &to), "SET MAXVALUE 60");
    }
}
