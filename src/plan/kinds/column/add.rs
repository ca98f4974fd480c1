//! Adding a column: plain, with a backfill of the rows a default or NOT NULL needs (batched,
//! then validated), and a column that inheritance children already have as their own.

use super::*;

pub fn add(ctx: &Ctx, t: &QName, c: &Column) -> Chain {
    let mut chain = add_column(ctx, t, c);
    let children = inheriting_again(ctx, t, &c.name);
    if let (Some(first), false) = (chain.first_mut(), children.is_empty()) {
        copy_into_inherited(ctx, first, &c.name, &children);
    }
    chain
}

/// The inheritance descendants of `t` whose own column `column` is to be inherited only from
/// `t`, which gains it ([`crate::diff::inherits_again`]): its children, and the children of
/// those that get the column only through `t`'s `ADD COLUMN` (PostgreSQL passes it down the
/// whole tree, merging into every descendant's own column of that name).
pub(super) fn inheriting_again(ctx: &Ctx, t: &QName, column: &str) -> Vec<QName> {
    let has = |s: &Schema, q: &QName| {
        s.tables
            .get(q)
            .is_some_and(|tb| tb.columns.iter().any(|c| c.name == column))
    };
    let mut out = Vec::new();
    let mut work = vec![t.clone()];
    while let Some(p) = work.pop() {
        for child in ctx.desired.tables.values() {
            if child.partition_of.is_some() || !child.inherits.contains(&p) {
                continue;
            }
            if crate::diff::inherits_again(ctx.current, ctx.desired, &child.name, column) {
                out.push(child.name.clone());
            } else if !has(ctx.current, &child.name) && has(ctx.desired, &child.name) {
                work.push(child.name.clone());
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Where a child's own column waits while its parent gains the column
/// ([`crate::diff::inherits_again`]): `<column>_schemaplan_old`.
pub(super) fn aside_name(column: &str) -> String {
    crate::model::pg_object_name(column, None, "schemaplan_old")
}

/// After the parent's `ADD COLUMN` (in `add`, the node producing the parent's column): each
/// child's new, inherited copy gets the values of the child's own column, moved aside before
/// (`drop`), which then goes (no `ONLY`: the child's descendants have both columns too, only
/// inherited, [`crate::diff::inherits_again`]). An `UPDATE` of every row of the child under the ACCESS EXCLUSIVE
/// lock the step holds: a rewrite on a large table.
pub(super) fn copy_into_inherited(ctx: &Ctx, node: &mut Node, column: &str, children: &[QName]) {
    let col = ident(column);
    let aside = ident(&aside_name(column));
    for child in children {
        node.step.sql.push_str(&format!(
            "\nUPDATE {} SET {col} = {aside} WHERE {col} IS NULL;\n{} DROP COLUMN {aside};",
            qname(child),
            alter_table(child)
        ));
        node.produces.push(col_id(child, column));
    }
    let names: Vec<String> = children.iter().map(|c| c.to_string()).collect();
    let mut step = node.step.clone().note(format!(
        "{} inherit{} the column again: {} values are copied into the inherited copy",
        names.join(", "),
        if names.len() == 1 { "s" } else { "" },
        if names.len() == 1 { "its" } else { "their" },
    ));
    // The old column goes once its values are copied; the plan file's honesty check reads
    // a `DROP COLUMN` and cannot know that, so the step says `data-loss`, as it must.
    step = step
        .hazard(Hazard::DataLoss)
        .note("data-loss: only for the old column's DROP COLUMN, after its values are copied");
    let refs: Vec<&QName> = children.iter().collect();
    step = match ctx.small(&refs) {
        Some(notes) => step.notes(notes),
        None => ctx.long(step).hazard(Hazard::TableRewrite),
    };
    node.step = step;
}

pub(super) fn add_column(ctx: &Ctx, t: &QName, c: &Column) -> Chain {
    if let Some(value) = backfill_value(ctx, t, c) {
        return add_with_backfill(ctx, t, c, value);
    }
    let mut step = ctx.step(
        format!("add column {}.{}", t, c.name),
        add_sql(t, c, c),
        LockLevel::AccessExclusive,
        Some(t),
    );
    if c.generated_virtual {
        // PostgreSQL 18: computed when read, nothing stored: a catalog change, no rewrite.
        step = step.note("VIRTUAL: computed when read; adding it stores and rewrites nothing");
    } else if c.generated.is_some() || c.identity.is_some() {
        step = match ctx.small(&[t]) {
            Some(notes) => step.notes(notes),
            None => ctx
                .long(step)
                .hazard(Hazard::TableRewrite)
                .note("a generated or identity column is filled by rewriting the table"),
        };
    } else if c.not_null && c.default.is_none() {
        step = step.note("NOT NULL without a default: fails if the table has rows");
    }
    let mut n = Node::new(step, col_id(t, &c.name));
    n.produces.push(col_id(t, &c.name));
    vec![n]
}

/// The value existing rows of `t` get in new column `c` when a plain `ADD COLUMN` cannot give it
/// safely, i.e. when the column needs a backfill: the table keeps rows through the plan, the
/// column is not generated or identity (PostgreSQL fills those itself, by rewriting), and
/// - `-- @backfill <expression>` is given: its expression;
/// - the default is volatile (`gen_random_uuid()`, `clock_timestamp()`, `nextval()`): the
///   default (also on a small table: the batches cost little there, and the plan's shape does
///   not depend on how many rows the table had when it was planned);
/// - the column is NOT NULL without a default: none (the caller's error, [`unfillable`]).
pub(super) fn backfill_value(ctx: &Ctx, t: &QName, c: &Column) -> Option<String> {
    let size = ctx.table_size(t);
    if !size.has_rows() || c.generated.is_some() || c.identity.is_some() {
        return None;
    }
    if let Some(expr) = ctx.opts.backfills.get(&(t.clone(), c.name.to_string())) {
        return Some(expr.clone());
    }
    match &c.default {
        Some(d) if c.default_volatile => Some(d.clone()),
        _ => None,
    }
}

/// Columns of `t` (in the desired schema) whose names appear as identifiers in `expr`: what a
/// backfill expression may read. Over-approximates (a function argument named like a column
/// counts), which only adds an ordering edge.
pub(super) fn mentioned_columns(ctx: &Ctx, t: &QName, expr: &str) -> Vec<String> {
    let Some(table) = ctx.desired.tables.get(t) else {
        return Vec::new();
    };
    let Ok(scan) = pg_query::scan(expr) else {
        return Vec::new();
    };
    let words: Vec<String> = scan
        .tokens
        .iter()
        .filter_map(|tok| expr.get(tok.start as usize..tok.end as usize))
        .map(
            |w| match w.strip_prefix('"').and_then(|w| w.strip_suffix('"')) {
                Some(quoted) => quoted.replace("\"\"", "\""),
                None => w.to_lowercase(),
            },
        )
        .collect();
    table
        .columns
        .iter()
        .filter(|c| words.iter().any(|w| *w == c.name))
        .map(|c| c.name.to_string())
        .collect()
}

/// Whether new column `c` of `t` is NOT NULL with neither a default nor `@backfill` on a table
/// that keeps its rows: nothing can fill the existing rows, and `ADD COLUMN` would fail.
pub(crate) fn unfillable(ctx: &Ctx, t: &QName, c: &Column) -> bool {
    c.not_null
        && c.default.is_none()
        && c.generated.is_none()
        && c.identity.is_none()
        && ctx.table_size(t).has_rows()
        && !ctx
            .opts
            .backfills
            .contains_key(&(t.clone(), c.name.to_string()))
}

/// A new column on a filled table, without rewriting it or holding ACCESS EXCLUSIVE for long:
/// 1. `ADD COLUMN` nullable and without a default (a catalog change), and `SET DEFAULT` in the
///    same short transaction, so rows inserted from then on get the default;
/// 2. a batched backfill `UPDATE t SET c = <value> WHERE c IS NULL` (ROW EXCLUSIVE, key-range
///    batches of short transactions, resumable: `docs/executor.md`);
/// 3. for NOT NULL, [`set_not_null_online`] (NOT VALID and validated).
pub(super) fn add_with_backfill(ctx: &Ctx, t: &QName, c: &Column, value: String) -> Chain {
    let at = alter_table(t);
    let col = ident(&c.name);
    let bare = Column {
        not_null: false,
        default: None,
        default_volatile: false,
        ..c.clone()
    };
    let mut sql = add_sql(t, &bare, c);
    if let Some(d) = &c.default {
        sql.push_str(&format!("\n{at} ALTER COLUMN {col} SET DEFAULT {d};"));
    }
    let add = ctx
        .step(
            format!("add column {}.{}", t, c.name),
            sql,
            LockLevel::AccessExclusive,
            Some(t),
        )
        .note("added nullable and without a default (no table rewrite), then filled in batches");
    let fill = ctx
        .step(
            format!("backfill column {}.{}", t, c.name),
            format!(
                "UPDATE {} SET {col} = {value} WHERE {col} IS NULL;",
                qname(t)
            ),
            LockLevel::RowExclusive,
            Some(t),
        )
        .batched()
        .note(
            "batched: key-range batches of ~2000 rows, each its own short transaction; resumable",
        );
    let id = col_id(t, &c.name);
    let mut first = Node::new(add, id.clone());
    first.produces.push(id.clone());
    let mut fill = Node::new(fill, id);
    // The value may read other columns of the row (`@backfill lower(email)`): added first.
    fill.needs = mentioned_columns(ctx, t, &value)
        .into_iter()
        .filter(|other| *other != c.name)
        .map(|other| col_id(t, &other))
        .collect();
    let mut chain = vec![first, fill];
    if c.not_null {
        let mut not_null = set_not_null_online(ctx, t, &c.name);
        refill_before_validation(&mut not_null[1], t, &col, &value);
        chain.extend(not_null);
    }
    chain
}

/// Rows written with NULL into the new column after the backfill passed them and before the
/// NOT VALID check was added (an INSERT of the running application, which does not name the
/// column: it gets NULL when the column has no default; an explicit NULL) would make the
/// validation fail on every run. So the validation step fills them first, in its own
/// transaction: the check added by the step before refuses new NULLs, so none is left for the
/// VALIDATE (the UPDATE scans the table once and locks only the rows it fills). Being one
/// transaction, a failed validation re-runs the fill too.
pub(super) fn refill_before_validation(node: &mut Node, t: &QName, col: &str, value: &str) {
    node.step.sql = format!(
        "UPDATE {} SET {col} = {value} WHERE {col} IS NULL;\n{}",
        qname(t),
        node.step.sql
    );
    node.step = node
        .step
        .clone()
        .note("first fills rows written with NULL since the backfill (the check refuses new ones)");
}
