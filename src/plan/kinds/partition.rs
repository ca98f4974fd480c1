//! A table joining, leaving or moving within a partitioned table: `DETACH PARTITION` and
//! `ATTACH PARTITION` in place (the rows stay), and the online attach of a large table, which
//! validates the bounds as a CHECK first so that the attach itself scans nothing under its
//! lock.

use crate::model::*;
use crate::plan::graph::Node;
use crate::plan::{alter_table, Ctx, Hazard, LockLevel};
use crate::render::quote::{ident, literal, qname};

/// `DETACH PARTITION` of a table that leaves its partitioned table or changes its bounds: a
/// catalog change (no scan) under ACCESS EXCLUSIVE on the partitioned table and the partition.
/// The rows stay in the table. The indexes and key copies it had from the partitioned table
/// become its own (they keep their names): the ones the desired schema lacks are dropped by
/// their own steps, after this one; columns and constraints change after it too.
///
/// Not `CONCURRENTLY` (PostgreSQL 14+, SHARE UPDATE EXCLUSIVE): a plan does not know the
/// major it will be applied to (13 lacks it), and it cannot be used while the partitioned
/// table has a default partition. The brief lock is taken under `lock_timeout`, and retried.
///
/// PostgreSQL 18: the NOT NULL constraints it had from the partitioned table keep their names
/// where a table of its own has its own (`partition_id_not_null`): renamed in the same step,
/// as soon as they are the table's own (an inherited one cannot be renamed). Which name an
/// inherited one has depends on how it came (the parent's when the partition was created
/// `PARTITION OF` a parent that had it, the partition's own when it was attached or the
/// parent got it later), so the step looks it up by column (`pg_constraint`, contype `n`)
/// rather than trusting the reading.
pub(super) fn detach(ctx: &Ctx, from: &Table, to: &Table) -> Option<Node> {
    let (parent, _) = from.partition_of.as_ref()?;
    let mut renames = String::new();
    // A partition moving to its partitioned table created again (a new key) renames its
    // NOT NULL constraints too: while it holds the old table's names, PostgreSQL, which
    // picks generated constraint names unique in the schema, would give the new table's
    // NOT NULL constraints other names (`m_id_not_null1`). Attached again, it keeps its own.
    let moving = ctx.reparented(&to.name);
    for c in &from.columns {
        let want = to.column(&c.name);
        if let (Some(_), Some(w)) = (&c.not_null_name, want) {
            if w.not_null && (!w.inherited || moving) {
                let new = if moving {
                    super::column::generated_not_null_name(&to.name.name, &w.name)
                } else {
                    super::column::not_null_name(&to.name, w)
                };
                renames.push_str(&not_null_rename(&from.name, &w.name, &new));
            }
        }
    }
    let step = ctx
        .step(
            format!("detach {} from {parent}", from.name),
            format!(
                "{} DETACH PARTITION {};{renames}",
                alter_table(parent),
                qname(&from.name)
            ),
            LockLevel::AccessExclusive,
            Some(parent),
        )
        .note("a catalog change: the rows stay in the table; not CONCURRENTLY (PostgreSQL 14+ only, and not with a default partition)");
    let mut n = Node::new(step, ObjectId::Table(to.name.clone()));
    // What it had from the partitioned table is its own once detached: changes to its columns,
    // and drops of those indexes and constraints, come after.
    n.releases.extend(
        from.columns
            .iter()
            .map(|c| ObjectId::Column(from.name.clone(), c.name.clone())),
    );
    n.releases.extend(
        ctx.current
            .indexes
            .values()
            .filter(|i| i.table == from.name && i.parent_index.is_some())
            .map(|i| ObjectId::Index(i.name.clone())),
    );
    n.releases.extend(
        from.constraints
            .values()
            .filter(|c| !c.is_local || c.parent_index.is_some())
            .map(|c| ObjectId::Constraint(from.name.clone(), c.name.as_str().into())),
    );
    n.releases.push(ObjectId::Table(parent.clone()));
    // Leaving a partitioned table the plan creates again (a new partition key): after the
    // drops of the old table's constraints that do not carry over (their copies on the
    // partition go with them), before the old table is dropped (`releases` above).
    if ctx.rekeyed.contains(parent) {
        n.claims.push(crate::plan::rekey_slot("keys of", parent));
    }
    Some(n)
}

/// A `DO` block giving column `column` of `table`'s NOT NULL constraint the name `new`, when
/// it has another (catalog only, ACCESS EXCLUSIVE like any `RENAME CONSTRAINT`).
fn not_null_rename(table: &QName, column: &str, new: &str) -> String {
    let t = literal(&qname(table));
    format!(
        "\nDO $schemaplan$\n\
         DECLARE\n\
         \x20 old text;\n\
         BEGIN\n\
         \x20 SELECT c.conname INTO old FROM pg_constraint c\n\
         \x20   JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]\n\
         \x20   WHERE c.conrelid = {t}::regclass AND c.contype = 'n' AND a.attname = {};\n\
         \x20 IF old IS NOT NULL AND old <> {} THEN\n\
         \x20   EXECUTE format('ALTER TABLE {} RENAME CONSTRAINT %I TO %I', old, {});\n\
         \x20 END IF;\n\
         END\n\
         $schemaplan$;",
        literal(column),
        literal(new),
        qname(table).replace('\'', "''"),
        literal(new)
    )
}

/// `ATTACH PARTITION` of a table that joins a partitioned table or changes its bounds. The
/// table's columns must match the partitioned table's, so it runs after the column changes.
/// PostgreSQL checks that every row fits the bounds: a scan of the table under its ACCESS
/// EXCLUSIVE lock (SHARE UPDATE EXCLUSIVE on the partitioned table, so its other partitions
/// stay readable and writable), and of the default partition when there is one. On a large
/// table the scan is avoided where the plan can write the bounds as a CHECK ([`bound_check`]):
/// see [`Attach`]. Otherwise the step says so (hazard `access-exclusive-lock`). It gives the
/// table copies of the partitioned table's indexes and keys (adopting matching ones) and
/// clones its foreign keys and triggers.
pub(super) fn attach(ctx: &Ctx, from: &Table, to: &Table) -> Option<Attach> {
    let (parent, bound) = to.partition_of.as_ref()?;
    let mut scanned = vec![&to.name];
    let default = ctx.current.tables.values().find(|p| {
        p.partition_of
            .as_ref()
            .is_some_and(|(q, b)| q == parent && b == "DEFAULT")
            && p.name != to.name
    });
    scanned.extend(default.map(|p| &p.name));
    let attach_sql = format!(
        "{} ATTACH PARTITION {} {bound};",
        alter_table(parent),
        qname(&to.name)
    );
    let summary = format!("attach {} as a partition of {parent}", to.name);
    let small = ctx.small(&scanned);
    let large = small.is_none();
    let check = ctx
        .desired
        .tables
        .get(parent)
        // A partitioned table that joins is left to the plain form (its leaves are what
        // PostgreSQL scans).
        .filter(|p| {
            large
                && default.is_none()
                && p.partition_of.is_none()
                && to.kind != TableKind::Partitioned
        })
        .and_then(|p| p.partition_key.as_deref())
        .and_then(|key| bound_check(key, bound));
    let key_column = check.as_ref().map(|(column, _)| column.clone());
    let (prepare, step) = match (check, small) {
        (Some((column, cond)), _) => {
            let name = pg_object_name(&to.name.name, None, "schemaplan_bound");
            let at = alter_table(&to.name);
            let step = ctx
                .step(
                    summary,
                    format!("{attach_sql}\n{at} DROP CONSTRAINT {};", ident(&name)),
                    LockLevel::AccessExclusive,
                    Some(&to.name),
                )
                .note("the validated bounds check proves every row fits: no scan under lock");
            (bound_check_nodes(ctx, to, &column, &cond, &name), step)
        }
        (None, Some(notes)) => (
            Vec::new(),
            ctx.step(summary, attach_sql, LockLevel::AccessExclusive, Some(&to.name))
                .notes(notes),
        ),
        (None, None) => (
            Vec::new(),
            ctx.long(
                ctx.step(summary, attach_sql, LockLevel::AccessExclusive, Some(&to.name))
                    .hazard(Hazard::AccessExclusiveLock),
            )
            .note(if default.is_some() {
                "checks that every row fits the bounds by scanning under lock, and that no row of the default partition belongs here (no online form with a default partition)"
            } else {
                "checks that every row fits the bounds by scanning under lock (no online form for this partition key or bound: only one plain column, by range or list, can be written as a CHECK that spares the scan)"
            }),
        ),
    };
    let mut n = Node::new(step, ObjectId::Table(to.name.clone()));
    n.needs.push(ObjectId::Table(parent.clone()));
    n.needs.extend(
        to.columns
            .iter()
            .map(|c| ObjectId::Column(to.name.clone(), c.name.clone())),
    );
    // Copies of the partitioned table's indexes that exist before the plan.
    for i in ctx.desired.indexes.values().filter(|i| i.table == to.name) {
        if i.parent_index
            .as_ref()
            .is_some_and(|p| ctx.current.indexes.contains_key(p))
        {
            n.produces.push(ObjectId::Index(i.name.clone()));
            n.claims.push(i.name.clone());
        }
    }
    if from.partition_of.is_none() {
        n.claims.push(from.name.clone());
    }
    // PostgreSQL refuses to attach a table that lacks a column the partitioned table has
    // ("child table is missing column"). When the partitioned table loses columns in the same
    // plan, the table joining lacks them too (its desired columns are the partitioned table's
    // desired ones): the drops go first. The attach alters the partitioned table, so every
    // step that removes one of its parts (a column, a constraint, an index) runs before it
    // (`graph` rule 2).
    let parent_loses_columns = match (
        ctx.current.tables.get(parent),
        ctx.desired.tables.get(parent),
    ) {
        (Some(have), Some(want)) => have
            .columns
            .iter()
            .any(|c| !want.columns.iter().any(|w| w.name == c.name)),
        _ => false,
    };
    if parent_loses_columns {
        n.alters.push(ObjectId::Table(parent.clone()));
    }
    // Joining the partitioned table created again for a new key: before its constraints and
    // the foreign keys referencing it are added over the rows ([`crate::plan::rekey_slot`]).
    if ctx.rekeyed.contains(parent) {
        n.frees
            .push(crate::plan::rekey_slot("partitions of", parent));
    }
    let (before_detach, after_detach) =
        if from.partition_of.is_some() && key_column.is_some_and(|c| key_unchanged(from, to, &c)) {
            (prepare, Vec::new())
        } else {
            (Vec::new(), prepare)
        };
    Some(Attach {
        before_detach,
        after_detach,
        attach: n,
    })
}

/// The steps of attaching a table: [`attach`].
pub(super) struct Attach {
    /// Run before the table leaves its current partitioned table (a bound change): the bounds
    /// check is added and validated while the rows are still visible through the partitioned
    /// table, so the detach and the attach follow each other closely.
    pub before_detach: Vec<Node>,
    /// Run after the column changes, before the attach (a table that joins).
    pub after_detach: Vec<Node>,
    /// The `ATTACH PARTITION` itself (with the bounds check dropped in the same transaction).
    pub attach: Node,
}

/// The online form's first two steps: `ADD CONSTRAINT <t>_schemaplan_bound CHECK (<bounds>)
/// NOT VALID` (a brief ACCESS EXCLUSIVE on the table, no scan; from then on the table refuses
/// writes outside the bounds, which the partition could not hold either) and `VALIDATE
/// CONSTRAINT` (SHARE UPDATE EXCLUSIVE: reads and writes go on while it scans). The attach
/// then finds its partition constraint implied by the valid CHECK and does not scan
/// (PostgreSQL's `PartConstraintImpliedByRelConstraint`). A row outside the bounds fails the
/// validation, before the attach; the executor drops the NOT VALID check again
/// (`exec::undo`).
fn bound_check_nodes(ctx: &Ctx, to: &Table, column: &str, cond: &str, name: &str) -> Vec<Node> {
    let at = alter_table(&to.name);
    let ck = ident(name);
    let add = ctx
        .step(
            format!("add bounds check on {} (not valid)", to.name),
            format!("{at} ADD CONSTRAINT {ck} CHECK ({cond}) NOT VALID;"),
            LockLevel::AccessExclusive,
            Some(&to.name),
        )
        .note("the partition bounds as a CHECK, NOT VALID (no scan under lock): from now on writes outside the bounds are refused");
    let validate = ctx
        .long(ctx.step(
            format!("validate bounds check on {}", to.name),
            format!("{at} VALIDATE CONSTRAINT {ck};"),
            LockLevel::ShareUpdateExclusive,
            Some(&to.name),
        ))
        .note("scans the table without blocking reads or writes; a row outside the bounds fails here, before the attach");
    let mut add = Node::new(add, ObjectId::Table(to.name.clone()));
    add.needs
        .push(ObjectId::Column(to.name.clone(), column.to_string().into()));
    vec![add, Node::new(validate, ObjectId::Table(to.name.clone()))]
}

/// Whether the bounds check can run before a detach: the key column is there already with
/// the type it will have.
fn key_unchanged(from: &Table, to: &Table, column: &str) -> bool {
    let col = |t: &Table| {
        t.columns
            .iter()
            .find(|c| c.name == column)
            .map(|c| (c.type_name.clone(), c.collation.clone()))
    };
    col(from).is_some() && col(from) == col(to)
}

/// The bounds of a partition as a CHECK condition PostgreSQL proves its partition constraint
/// from, for a partition key of one plain column (`pg_get_partkeydef`: `RANGE (c)`, `LIST
/// (c)`) and a bound as `pg_get_expr(relpartbound)` prints it: `FOR VALUES FROM (a) TO (b)`
/// becomes `c IS NOT NULL AND c >= a AND c < b` (`MINVALUE` / `MAXVALUE` leave that side
/// out), `FOR VALUES IN (a, b)` becomes `c IS NOT NULL AND c IN (a, b)` (with `NULL` in the
/// list: `c IS NULL OR c IN (...)`): the same clauses PostgreSQL builds
/// (`get_qual_for_range`, `get_qual_for_list`). `(column, condition)`; `None` for hash
/// partitions, keys of several columns or of expressions, collations or operator classes,
/// and `DEFAULT`.
fn bound_check(key: &str, bound: &str) -> Option<(String, String)> {
    let (strategy, rest) = key.split_once(' ')?;
    let column = rest.strip_prefix('(')?.strip_suffix(')')?;
    if !plain_identifier(column) {
        return None;
    }
    let name = match column.strip_prefix('"').and_then(|c| c.strip_suffix('"')) {
        Some(q) => q.replace("\"\"", "\""),
        None => column.to_string(),
    };
    let c = column;
    let cond = match strategy {
        "RANGE" => {
            let rest = bound.strip_prefix("FOR VALUES FROM ")?;
            let (lo, rest) = group(rest)?;
            let (hi, rest) = group(rest.strip_prefix(" TO ")?)?;
            if !rest.is_empty() {
                return None;
            }
            let (lo, hi) = (single(lo)?, single(hi)?);
            let mut parts = vec![format!("{c} IS NOT NULL")];
            if lo != "MINVALUE" && lo != "MAXVALUE" {
                parts.push(format!("{c} >= {lo}"));
            }
            if hi != "MAXVALUE" && hi != "MINVALUE" {
                parts.push(format!("{c} < {hi}"));
            }
            parts.join(" AND ")
        }
        "LIST" => {
            let (list, rest) = group(bound.strip_prefix("FOR VALUES IN ")?)?;
            if !rest.is_empty() {
                return None;
            }
            let values = split_top(list)?;
            let null = values.contains(&"NULL");
            let others: Vec<&str> = values.into_iter().filter(|v| *v != "NULL").collect();
            match (null, others.is_empty()) {
                (true, true) => format!("{c} IS NULL"),
                (true, false) => format!("{c} IS NULL OR {c} IN ({})", others.join(", ")),
                (false, false) => format!("{c} IS NOT NULL AND {c} IN ({})", others.join(", ")),
                (false, true) => return None,
            }
        }
        _ => return None,
    };
    Some((name, cond))
}

/// A column name as `quote_ident` prints it: bare lower-case letters, digits, `_`, `$` (not
/// starting with a digit or `$`), or double-quoted.
fn plain_identifier(s: &str) -> bool {
    if let Some(q) = s.strip_prefix('"').and_then(|x| x.strip_suffix('"')) {
        return !q.is_empty() && !q.replace("\"\"", "").contains('"');
    }
    s.chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '$')
}

/// `(inner)rest` -> `(inner, rest)`, honouring `'...'` literals (`''` inside) and nested
/// parentheses.
fn group(s: &str) -> Option<(&str, &str)> {
    let b = s.as_bytes();
    if b.first() != Some(&b'(') {
        return None;
    }
    let (mut depth, mut quoted, mut i) = (0usize, false, 0usize);
    while i < b.len() {
        match (quoted, b[i]) {
            (true, b'\'') => quoted = false,
            (true, _) => {}
            (false, b'\'') => quoted = true,
            (false, b'(') => depth += 1,
            (false, b')') => {
                depth -= 1;
                if depth == 0 {
                    return Some((&s[1..i], &s[i + 1..]));
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// The values of a list, split at top-level commas (`'a, b'` is one value).
fn split_top(s: &str) -> Option<Vec<&str>> {
    let b = s.as_bytes();
    let (mut depth, mut quoted, mut start, mut out) = (0i32, false, 0usize, Vec::new());
    for (i, &ch) in b.iter().enumerate() {
        match (quoted, ch) {
            (true, b'\'') => quoted = false,
            (true, _) => {}
            (false, b'\'') => quoted = true,
            (false, b'(') => depth += 1,
            (false, b')') => depth -= 1,
            (false, b',') if depth == 0 => {
                out.push(s[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    if quoted || depth != 0 {
        return None;
    }
    out.push(s[start..].trim());
    out.iter().all(|v| !v.is_empty()).then_some(out)
}

/// The one value of a range bound of a one-column key.
fn single(s: &str) -> Option<&str> {
    match split_top(s)?.as_slice() {
        [v] => Some(v),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::bound_check;

    fn cond(key: &str, bound: &str) -> Option<String> {
        bound_check(key, bound).map(|(_, c)| c)
    }

    #[test]
    fn range_bounds_become_the_clauses_postgresql_builds() {
        assert_eq!(
            cond("RANGE (id)", "FOR VALUES FROM (0) TO (200)").as_deref(),
            Some("id IS NOT NULL AND id >= 0 AND id < 200")
        );
        assert_eq!(
            cond(
                "RANGE (at)",
                "FOR VALUES FROM (MINVALUE) TO ('2024-01-01 00:00:00+00')"
            )
            .as_deref(),
            Some("at IS NOT NULL AND at < '2024-01-01 00:00:00+00'")
        );
        assert_eq!(
            cond(
                "RANGE (\"Day\")",
                "FOR VALUES FROM ('a) TO (b') TO (MAXVALUE)"
            )
            .as_deref(),
            Some("\"Day\" IS NOT NULL AND \"Day\" >= 'a) TO (b'")
        );
    }

    #[test]
    fn list_bounds_with_and_without_null() {
        assert_eq!(
            cond("LIST (k)", "FOR VALUES IN ('a', 'b, c')").as_deref(),
            Some("k IS NOT NULL AND k IN ('a', 'b, c')")
        );
        assert_eq!(
            cond("LIST (k)", "FOR VALUES IN (NULL, 'x')").as_deref(),
            Some("k IS NULL OR k IN ('x')")
        );
        assert_eq!(
            cond("LIST (k)", "FOR VALUES IN (NULL)").as_deref(),
            Some("k IS NULL")
        );
    }

    #[test]
    fn keys_and_bounds_without_a_check_form_are_left_to_the_scan() {
        assert_eq!(
            cond("HASH (id)", "FOR VALUES WITH (modulus 4, remainder 0)"),
            None
        );
        assert_eq!(
            cond("RANGE (a, b)", "FOR VALUES FROM (1, 2) TO (3, 4)"),
            None
        );
        assert_eq!(
            cond("RANGE (lower(k))", "FOR VALUES FROM ('a') TO ('b')"),
            None
        );
        assert_eq!(cond("LIST (k COLLATE \"C\")", "FOR VALUES IN ('a')"), None);
        assert_eq!(
            cond("LIST (k text_pattern_ops)", "FOR VALUES IN ('a')"),
            None
        );
        assert_eq!(cond("LIST (k)", "DEFAULT"), None);
    }
}
