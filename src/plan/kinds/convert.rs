//! How a column's values are converted when its type changes, and whether the conversion can
//! change or lose a value.
//!
//! Owns the conversion expressions of the plain `ALTER COLUMN ... TYPE ... USING`, the online
//! form's trigger and backfill (`retype.rs`), the guard that makes a step fail rather than
//! change a value, and the plan-time data check of `workflow::lossy`. The rules:
//!
//! - **Assignment semantics, never a truncating cast.** Where PostgreSQL has an implicit or
//!   assignment cast, the new value is the old column itself (`USING col`, `NEW.shadow :=
//!   NEW.col`, `SET shadow = col`): PostgreSQL coerces it as an `INSERT` would, so a text too
//!   long for `varchar(5)` or a `bigint` beyond `integer` fails the step. An explicit cast
//!   (`col::varchar(5)`) would truncate instead. Where the only cast is explicit (`text` ->
//!   `integer`) or there is none (through text), the cast names the new type *without* its
//!   length or precision (`col::text::numeric`), and the assignment applies the typmod.
//! - **Lossless unless shown otherwise.** [`lossless`] knows the widenings (`integer` ->
//!   `bigint`, `varchar(5)` -> `text`, more scale and precision, ...). Any other change may
//!   change values, some silently even under assignment (numeric scale and timestamp
//!   precision round, `float8` -> `integer` rounds, `timestamptz` -> `date` drops the time).
//!   For those the plan checks the live rows before planning (`workflow::lossy`, refusing
//!   when any would change), and the step is [`guarded`]: a CHECK that every converted value
//!   converts back to the old one, validated before the old values are gone.
//! - **`-- @using <expr>`** states the conversion explicitly: used as given, and unless the
//!   change is lossless the step carries `data-loss` (the planner cannot prove the expression
//!   keeps every value).

use crate::model::*;
use crate::plan::graph::Node;
use crate::plan::{alter_table, Ctx, LockLevel};
use crate::render::quote::{ident, names_type, qname};

/// A type name split into its base and its typmod arguments: `numeric(12,2)` -> (`numeric`,
/// [12, 2]), `timestamp(3) with time zone` -> (`timestamp with time zone`, [3]).
fn split(t: &str) -> (String, Vec<i64>) {
    if let Some(open) = t.find('(') {
        if let Some(len) = t[open..].find(')') {
            let inner = &t[open + 1..open + len];
            let args: Vec<i64> = inner
                .split(',')
                .filter_map(|a| a.trim().parse().ok())
                .collect();
            if !args.is_empty() && args.len() == inner.split(',').count() {
                let base = format!("{}{}", &t[..open], &t[open + len + 1..]);
                return (base, args);
            }
        }
    }
    (t.to_string(), Vec::new())
}

/// The type to cast to before the assignment applies the column's typmod: `character
/// varying(5)` -> `character varying`, `numeric(12,2)` -> `numeric`, `timestamp(0) with time
/// zone` -> `timestamp with time zone`. `character(n)` and `bit(n)` become `bpchar` and `bit
/// varying` (a bare `character` or `bit` means length 1, which would truncate).
pub(super) fn typmod_free(to: &str) -> String {
    let (base, args) = split(to);
    if args.is_empty() {
        return to.to_string();
    }
    let (elem, array) = match base.strip_suffix("[]") {
        Some(e) => (e.to_string(), "[]"),
        None => (base.clone(), ""),
    };
    match elem.as_str() {
        "character" => format!("bpchar{array}"),
        "bit" => format!("bit varying{array}"),
        _ => base,
    }
}

/// Type changes PostgreSQL makes without rewriting or scanning the table: widening or removing
/// a length limit (`varchar(n)` -> `varchar(m >= n)`, `varchar`, `text`), `text` <-> `varchar`,
/// more precision at the same scale for `numeric`, a wider `varbit`.
pub(super) fn binary_coercible(from: &str, to: &str) -> bool {
    let ((fb, fa), (tb, ta)) = (split(from), split(to));
    let stringish = |b: &str| b == "character varying" || b == "text";
    match (fb.as_str(), tb.as_str()) {
        (f, t) if stringish(f) && stringish(t) => {
            // Unbounded targets accept everything; a bounded target needs a bounded, shorter source.
            ta.is_empty() || (f == "character varying" && !fa.is_empty() && fa[0] <= ta[0])
        }
        ("numeric", "numeric") => match (fa.as_slice(), ta.as_slice()) {
            (_, []) => true,
            ([fp, fs], [tp, ts]) => fs == ts && tp >= fp,
            ([fp], [tp]) => tp >= fp,
            _ => false,
        },
        ("bit varying", "bit varying") => ta.is_empty() || (!fa.is_empty() && fa[0] <= ta[0]),
        _ => false,
    }
}

/// Whether every value of type `from` converts to `to` and back unchanged, by the types alone
/// (no data needed): the binary-coercible changes, integer and float widenings, integers into
/// a numeric with room for their digits, more numeric scale and integer digits, `date` ->
/// `timestamp`, more fractional-second precision, numbers, `uuid`, `boolean` and `date` into
/// unbounded text, and arrays of these element-wise.
pub(crate) fn lossless(from: &str, to: &str) -> bool {
    if from == to || binary_coercible(from, to) {
        return true;
    }
    match (from.strip_suffix("[]"), to.strip_suffix("[]")) {
        (Some(f), Some(t)) => return lossless(f, t),
        (None, None) => {}
        _ => return false,
    }
    let ((fb, fa), (tb, ta)) = (split(from), split(to));
    let digits = |b: &str| match b {
        "smallint" => Some(5),
        "integer" => Some(10),
        "bigint" => Some(19),
        _ => None,
    };
    // Digits before the point a numeric typmod allows (unbounded: any).
    let integer_digits = |a: &[i64]| match a {
        [] => None,
        [p] => Some(*p),
        [p, s] => Some(p - s),
        _ => Some(0),
    };
    let scale = |a: &[i64]| match a {
        [] => None,
        [_] => Some(0),
        [_, s] => Some(*s),
        _ => Some(0),
    };
    let precision_types = [
        "timestamp without time zone",
        "timestamp with time zone",
        "time without time zone",
        "time with time zone",
        "interval",
    ];
    match (fb.as_str(), tb.as_str()) {
        ("smallint", "integer" | "bigint" | "real" | "double precision") => true,
        ("integer", "bigint" | "double precision") => true,
        ("real", "double precision") => true,
        (f, "numeric") if digits(f).is_some() => {
            integer_digits(&ta).is_none_or(|d| digits(f).is_some_and(|n| d >= n))
        }
        ("numeric", "numeric") => match (integer_digits(&fa), integer_digits(&ta)) {
            (_, None) => true,
            (None, Some(_)) => false,
            (Some(fd), Some(td)) => td >= fd && scale(&ta) >= scale(&fa),
        },
        ("date", "timestamp without time zone") => true,
        // Into text: these types print every value distinctly and read it back unchanged.
        (
            "smallint" | "integer" | "bigint" | "numeric" | "uuid" | "boolean" | "date",
            "text" | "character varying",
        ) => ta.is_empty(),
        (f, t) if f == t && precision_types.contains(&f) => {
            ta.is_empty() || fa.first().is_some_and(|p| ta[0] >= *p)
        }
        _ => false,
    }
}

/// Whether PostgreSQL has no cast from the old to the new type (`PlanOptions::no_cast`).
pub(super) fn no_cast(ctx: &Ctx, from: &str, to: &str) -> bool {
    ctx.opts
        .no_cast
        .contains(&(from.to_string(), to.to_string()))
}

/// Enums (and other user types) have no casts to each other: convert through their text form.
pub(super) fn via_text(ctx: &Ctx, from: &Column, to: &Column) -> bool {
    let user_type = |name: &str, s: &Schema| {
        let bare = name.trim_end_matches("[]");
        s.types.keys().any(|q| names_type(bare, q))
    };
    user_type(&from.type_name, ctx.current) || user_type(&to.type_name, ctx.desired)
}

/// The base type of domain `name` (as `format_type` prints it) in `schema`, for an array of a
/// domain the base type's array; `None` when `name` is no domain there.
fn domain_base(schema: &Schema, name: &str) -> Option<String> {
    let (bare, array) = match name.strip_suffix("[]") {
        Some(b) => (b, "[]"),
        None => (name, ""),
    };
    schema.types.iter().find_map(|(q, t)| match &t.kind {
        TypeKind::Domain(d) if names_type(bare, q) => Some(format!("{}{array}", d.base_type)),
        _ => None,
    })
}

/// The value written to the column of the new type from `col` (a column reference, e.g.
/// `NEW.amount`), with assignment semantics (see the module comment): `col` itself where an
/// implicit or assignment cast exists, otherwise an explicit cast (or one through text for user
/// types and pairs without a cast) to the new type without its typmod. Unchanged types (a
/// collation change): the column itself.
pub(super) fn assigned(ctx: &Ctx, col: &str, from: &Column, to: &Column) -> String {
    let pair = (from.type_name.to_string(), to.type_name.to_string());
    if via_text(ctx, from, to) || no_cast(ctx, &from.type_name, &to.type_name) {
        // To a domain: through its base type (a cast to the domain itself would apply the base
        // type's typmod explicitly, cutting a text too long for a domain over varchar(5)); the
        // assignment to the column then makes it the domain, checking typmod and CHECKs.
        let target = match domain_base(ctx.desired, &to.type_name) {
            Some(base) => base,
            None => to.type_name.to_string(),
        };
        format!("{col}::text::{}", typmod_free(&target))
    } else if from.type_name == to.type_name {
        col.to_string()
    } else if ctx.opts.explicit_only.contains(&pair) || !ctx.opts.probed.contains(&pair) {
        // Explicit only, or not known to the shadow's empty database (an extension type): an
        // explicit cast to the type without its typmod works either way, and the assignment
        // still applies the typmod.
        format!("{col}::{}", typmod_free(&to.type_name))
    } else {
        col.to_string()
    }
}

/// `col` in the new type as an explicit cast gives it (truncating, rounding): equal to what
/// [`assigned`] stores whenever the assignment succeeds. For comparisons only.
pub(super) fn cast(ctx: &Ctx, col: &str, from: &Column, to: &Column) -> String {
    if via_text(ctx, from, to) || no_cast(ctx, &from.type_name, &to.type_name) {
        format!("{col}::text::{}", to.type_name)
    } else {
        format!("({col})::{}", to.type_name)
    }
}

/// Whether the step changing `from` to `to` on table `t` must prove it changes no value: the
/// change is not [`lossless`], not through text (the new type's input function refuses what it
/// cannot take), not stated by `@using` (which carries `data-loss` instead), and the table may
/// have rows when the step runs. `false` also when the value cannot be compared back (no cast
/// from the new type to the old): see [`unverifiable`].
pub(super) fn guarded(ctx: &Ctx, t: &QName, from: &Column, to: &Column) -> bool {
    may_lose(ctx, t, from, to) && !unverifiable(ctx, from, to)
}

/// A change that may lose values and that no guard can check: there is no cast from the new
/// type back to the old one to compare with, or the shadow's empty database does not know the
/// types (an extension type: whether a cast back exists is unknown). The step carries
/// `data-loss`. A domain target is compared through its base type's casts.
pub(super) fn unverifiable(ctx: &Ctx, from: &Column, to: &Column) -> bool {
    let probed = ctx
        .opts
        .probed
        .contains(&(from.type_name.to_string(), to.type_name.to_string()));
    no_cast(ctx, &to.type_name, &from.type_name)
        || (!probed && domain_base(ctx.desired, &to.type_name).is_none())
}

fn may_lose(ctx: &Ctx, t: &QName, from: &Column, to: &Column) -> bool {
    // A domain holds what its base type holds (and its CHECKs refuse the rest, loudly).
    let domain = domain_base(ctx.desired, &to.type_name);
    let target = domain.as_deref().unwrap_or(&to.type_name);
    from.type_name != to.type_name
        && !lossless(&from.type_name, target)
        && (domain.is_some() || !via_text(ctx, from, to))
        && !no_cast(ctx, &from.type_name, &to.type_name)
        && !using(ctx, t, to)
        && !matches!(
            ctx.table_size(t),
            crate::plan::TableSize::CreatedInPlan
                | crate::plan::TableSize::Empty
                | crate::plan::TableSize::Foreign
        )
}

/// Whether the column has a `-- @using` expression.
pub(super) fn using(ctx: &Ctx, t: &QName, to: &Column) -> bool {
    ctx.opts
        .usings
        .contains_key(&(t.clone(), to.name.to_string()))
}

/// Whether the step is a type change stated by `@using` (or one no guard can check) that the
/// types do not show lossless: it carries `data-loss`.
pub(super) fn declared_loss(ctx: &Ctx, t: &QName, from: &Column, to: &Column) -> bool {
    from.type_name != to.type_name
        && !lossless(&from.type_name, &to.type_name)
        && (using(ctx, t, to) || (may_lose(ctx, t, from, to) && unverifiable(ctx, from, to)))
}

/// SQL condition: `new` (a value of the new type) converts back to `old` unchanged. Compared
/// in the old type (`IS NOT DISTINCT FROM`, so NULLs match), or as text when the old type has
/// no equality operator (`json`).
pub(super) fn unchanged(ctx: &Ctx, new: &str, old: &str, from: &Column) -> String {
    if ctx.opts.incomparable.contains(from.type_name.as_str()) {
        format!(
            "({new})::{}::text IS NOT DISTINCT FROM ({old})::text",
            from.type_name
        )
    } else {
        format!("({new})::{} IS NOT DISTINCT FROM {old}", from.type_name)
    }
}

/// The guard constraint's name: `<table>_<column>_schemaplan_lossless`, within 63 bytes.
pub(super) fn guard_name(t: &QName, column: &str) -> String {
    pg_object_name(&t.name, Some(column), "schemaplan_lossless")
}

/// The guard of a plain `ALTER COLUMN ... TYPE` on table `t` (same transaction, before it):
/// `ADD CONSTRAINT <guard> CHECK (<every value converts back unchanged>)` (scans the table
/// under the ACCESS EXCLUSIVE lock the type change takes anyway, so no row can change between
/// the check and the rewrite), then `DROP CONSTRAINT <guard>`. A row whose value would change
/// fails the step: `check constraint "<guard>" ... is violated by some row`.
pub(super) fn plain_guard(ctx: &Ctx, t: &QName, from: &Column, to: &Column) -> String {
    let col = ident(&from.name);
    let cond = unchanged(ctx, &cast(ctx, &col, from, to), &col, from);
    let at = alter_table(t);
    let g = ident(&guard_name(t, &from.name));
    format!("{at} ADD CONSTRAINT {g} CHECK ({cond});\n{at} DROP CONSTRAINT {g};\n")
}

/// The guard of an online type change that may change values: `ADD CONSTRAINT <guard> CHECK
/// (<shadow converts back to the column>) NOT VALID` (a brief lock, no scan; from then on a
/// write whose value would change fails), then `VALIDATE CONSTRAINT` (SHARE UPDATE EXCLUSIVE:
/// reads and writes go on) in its own transaction. The swap drops it.
pub(super) fn online_guard(
    ctx: &Ctx,
    t: &QName,
    id: &ObjectId,
    name: &str,
    cond: &str,
    from: &Column,
    to: &Column,
) -> Vec<Node> {
    let at = alter_table(t);
    let g = ident(name);
    let add = ctx
        .step(
            format!("add check {name} on {t} (not valid)"),
            format!("{at} ADD CONSTRAINT {g} CHECK ({cond}) NOT VALID;"),
            LockLevel::AccessExclusive,
            Some(t),
        )
        .note(format!(
            "type {} -> {} can change values: every row's new value must convert back unchanged",
            from.type_name, to.type_name
        ));
    let validate = ctx
        .long(ctx.step(
            format!("validate check {name} on {t}"),
            format!("{at} VALIDATE CONSTRAINT {g};"),
            LockLevel::ShareUpdateExclusive,
            Some(t),
        ))
        .note("scans the table without blocking reads or writes");
    vec![Node::new(add, id.clone()), Node::new(validate, id.clone())]
}

/// What `workflow::lossy` runs on the live database before planning a change that may lose
/// values: `count` gives the number of rows whose value would change (or make the cast fail,
/// which errors the query: then `exact` is run, a `DO` block converting row by row with the
/// step's own assignment semantics, counting changes and failures into the transaction-local
/// settings `schemaplan.changed` and `schemaplan.failed`).
pub struct LossCheck {
    pub table: QName,
    pub column: String,
    pub from: String,
    pub to: String,
    pub count: String,
    pub exact: String,
}

/// The [`LossCheck`] of a change of column `from` of table `t` (with rows) to `to`, when it may
/// lose values.
pub(crate) fn loss_check(ctx: &Ctx, t: &QName, from: &Column, to: &Column) -> Option<LossCheck> {
    if !ctx.table_size(t).has_rows()
        || !may_lose(ctx, t, from, to)
        || !ctx
            .opts
            .probed
            .contains(&(from.type_name.to_string(), to.type_name.to_string()))
    {
        return None;
    }
    let col = ident(&from.name);
    let cond = unchanged(ctx, &cast(ctx, &col, from, to), &col, from);
    let count = format!("SELECT count(*) FROM {} WHERE NOT ({cond})", qname(t));
    let value = assigned(ctx, "r.old", from, to);
    let back = unchanged(ctx, "v", "r.old", from);
    let exact = format!(
        "DO $schemaplan$\n\
         DECLARE\n  r record;\n  v {to};\n  changed bigint := 0;\n  failed bigint := 0;\n\
         BEGIN\n\
         \x20 FOR r IN SELECT {col} AS old FROM {table} WHERE {col} IS NOT NULL LOOP\n\
         \x20   BEGIN\n\
         \x20     v := {value};\n\
         \x20     IF NOT ({back}) THEN changed := changed + 1; END IF;\n\
         \x20   EXCEPTION WHEN others THEN failed := failed + 1;\n\
         \x20   END;\n\
         \x20 END LOOP;\n\
         \x20 PERFORM set_config('schemaplan.changed', changed::text, true),\n\
         \x20         set_config('schemaplan.failed', failed::text, true);\n\
         END\n$schemaplan$;",
        to = to.type_name,
        table = qname(t),
    );
    Some(LossCheck {
        table: t.clone(),
        column: to.name.to_string(),
        from: from.type_name.to_string(),
        to: to.type_name.to_string(),
        count,
        exact,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widening_and_unbounding_strings_is_binary_coercible() {
        assert!(binary_coercible(
            "character varying(100)",
            "character varying(255)"
        ));
        assert!(binary_coercible("character varying(100)", "text"));
        assert!(binary_coercible("text", "character varying"));
        assert!(binary_coercible("numeric(10,2)", "numeric(12,2)"));
        assert!(binary_coercible("numeric(10,2)", "numeric"));
    }

    #[test]
    fn narrowing_or_changing_representation_is_not() {
        assert!(!binary_coercible(
            "character varying(255)",
            "character varying(100)"
        ));
        assert!(!binary_coercible("text", "character varying(10)"));
        assert!(!binary_coercible("integer", "bigint"));
        assert!(!binary_coercible("numeric(10,2)", "numeric(12,3)"));
    }

    #[test]
    fn widenings_are_lossless_and_narrowings_are_not() {
        for (from, to) in [
            ("integer", "bigint"),
            ("smallint", "double precision"),
            ("integer[]", "bigint[]"),
            ("numeric(10,2)", "numeric(12,3)"),
            ("integer", "numeric(10,0)"),
            ("bigint", "numeric"),
            ("date", "timestamp without time zone"),
            ("timestamp(0) with time zone", "timestamp(3) with time zone"),
            (
                "timestamp(3) without time zone",
                "timestamp without time zone",
            ),
            ("character varying(5)", "text"),
            ("numeric(12,2)", "text"),
            ("integer", "character varying"),
        ] {
            assert!(lossless(from, to), "{from} -> {to}");
        }
        for (from, to) in [
            ("text", "character varying(5)"),
            ("bigint", "integer"),
            ("double precision", "integer"),
            ("numeric(12,2)", "numeric(12,0)"),
            ("numeric", "numeric(12,2)"),
            ("integer", "numeric(9,0)"),
            ("bigint", "double precision"),
            ("timestamp with time zone", "date"),
            (
                "timestamp without time zone",
                "timestamp(0) without time zone",
            ),
            ("timestamp with time zone", "timestamp without time zone"),
            ("text", "integer"),
            ("integer", "character varying(5)"),
            ("timestamp with time zone", "text"),
        ] {
            assert!(!lossless(from, to), "{from} -> {to}");
        }
    }

    #[test]
    fn casts_before_assignment_drop_the_typmod_only() {
        assert_eq!(typmod_free("character varying(5)"), "character varying");
        assert_eq!(typmod_free("numeric(12,2)"), "numeric");
        assert_eq!(
            typmod_free("timestamp(0) with time zone"),
            "timestamp with time zone"
        );
        assert_eq!(typmod_free("character(3)[]"), "bpchar[]");
        assert_eq!(typmod_free("bit(8)"), "bit varying");
        assert_eq!(typmod_free("integer"), "integer");
    }
}
