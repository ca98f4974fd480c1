//! Rewriting type changes (`integer` -> `bigint`, `text` -> `integer`, ...) of a column of a
//! large table, done online: a shadow column instead of `ALTER COLUMN ... TYPE`, which would
//! rewrite the table (and rebuild every index on it) under ACCESS EXCLUSIVE.
//!
//! Owns the shadow-column procedure and how the objects hanging on the column (indexes, keys,
//! foreign keys in both directions, CHECKs, the serial sequence or identity, comment and column
//! privileges) are carried over to the shadow column. See [`online_retype`].

use super::column::{col_id, definition, identity_clause, inherited_copies, set_not_null_online};
use super::convert::{self, binary_coercible};
use crate::diff::ColumnChange;
use crate::model::*;
use crate::plan::graph::{Chain, Node};
use crate::plan::{alter_table, Ctx, LockLevel};
use crate::render::quote::{ident, literal, qname};

/// What hangs on the column and has to move to the shadow column.
#[derive(Default)]
struct Attached {
    /// Plain indexes using the column (key, INCLUDE, expression or predicate).
    indexes: Vec<Index>,
    /// PRIMARY KEY and UNIQUE constraints on the column: (constraint, `PRIMARY KEY`/`UNIQUE`,
    /// twin index definition, trailing deferrability).
    keys: Vec<(Constraint, &'static str, String, String)>,
    /// FOREIGN KEYs on the column and CHECKs reading it: (constraint, definition on the shadow).
    own: Vec<(Constraint, String)>,
    /// FOREIGN KEYs of other tables (or of this one, on other columns) referencing the column:
    /// (their table, constraint).
    referencing: Vec<(QName, Constraint)>,
    /// Sequences owned by the column (`serial`).
    sequences: Vec<QName>,
}

/// A rewriting type change on a table that keeps its rows and is over `--small-table`, done
/// without holding ACCESS EXCLUSIVE during a rewrite (all in `expand`; the application keeps
/// the column's name, so no deploy is needed between the steps):
/// 1. a shadow column `<column>_schemaplan_new` of the new type, kept equal to the column by a
///    `BEFORE INSERT OR UPDATE` trigger (same transaction as the `ADD COLUMN`, catalog-only).
///    The old column keeps its default, serial sequence or identity: inserts during expand
///    take their value from it, the trigger copies it;
/// 2. a batched backfill (`transaction: batched`: key-range batches, each its own transaction);
/// 3. NOT NULL on the shadow column through a validated CHECK;
/// 4. each plain index using the column built again on the shadow column `CONCURRENTLY` under
///    the name `<index>_schemaplan_new` (one non-transactional step each, `index-build`);
///    each PRIMARY KEY / UNIQUE on the column gets its unique index the same way
///    (`<constraint>_schemaplan_new`); each FOREIGN KEY on the column and CHECK reading it is
///    added on the shadow column `NOT VALID` as `<constraint>_schemaplan_new` and validated in
///    its own step (SHARE UPDATE EXCLUSIVE: reads and writes go on);
/// 5. the swap, one short transaction of catalog changes under ACCESS EXCLUSIVE (each lock it
///    takes waits at most the step's `lock_timeout`; the executor retries the transaction on
///    55P03 or a deadlock): drop the foreign keys of other tables referencing the column (they
///    depend on its unique index; this also locks those tables), drop the trigger and
///    function, move the owned sequence to the shadow column (`OWNED BY`, so it survives), note
///    the identity sequence's position, drop the column (its indexes and constraints go with
///    it), rename the shadow column, rename the twin indexes and constraints to the original
///    names, `ADD CONSTRAINT ... PRIMARY KEY|UNIQUE USING INDEX` (no scan: the shadow column
///    is already NOT NULL and the index is built), set the default, add the identity and
///    `setval` its new sequence to the old position, re-add the referencing foreign keys
///    `NOT VALID` (no scan), and restore the column's comment and privileges and the comments
///    of the objects re-created;
/// 6. `VALIDATE CONSTRAINT` of each referencing foreign key, a step of its own (SHARE UPDATE
///    EXCLUSIVE on the referencing table, ROW SHARE on this one).
///
/// `None` (the plain `ALTER COLUMN ... TYPE` with `table-rewrite`) when the table is new,
/// empty or small, not an ordinary table, has inheritance children or partitions carrying the
/// column, the change is binary coercible or has parts other than type, default and NOT NULL
/// (identity kind or options, generation), and when something on the column cannot be carried
/// over by this procedure:
/// - an EXCLUDE constraint, or a PRIMARY KEY / UNIQUE with storage options, expressions or
///   `NULLS NOT DISTINCT`; an index on a partitioned table or an invalid one; the table's
///   replica identity index;
/// - an index or constraint (or a referencing foreign key) the plan itself changes or drops, or
///   that also uses another column whose type changes in the plan (e.g. `users.id` and
///   `orders.user_id` both to `bigint`: each is planned with the plain form);
/// - a foreign key on the column referencing its own table, or with `ON DELETE SET NULL (...)`
///   column lists; a foreign key referencing the column from a partitioned table or a partition
///   (PostgreSQL before 18 cannot add it `NOT VALID` there);
/// - an index or constraint whose printed definition changes with the type (an expression
///   index on `c % 10` prints `c % (10)::bigint` on a bigint): the diff replaces it;
/// - a comment or privileges on the column, or comments on what is re-created, that the plan
///   changes too;
/// - a `-- @using` expression on the column (it may read other columns of the row).
///
/// Views, functions, triggers and policies reading the column are dropped and re-created
/// around the swap by the diff, as for any type change. The column moves to the end of the
/// table (`SELECT *` order).
pub(super) fn online_retype(
    ctx: &Ctx,
    t: &QName,
    from: &Column,
    to: &Column,
    kinds: &[ColumnChange],
) -> Option<Chain> {
    use ColumnChange::*;
    let retype = kinds.contains(&Type)
        && !(from.collation == to.collation && binary_coercible(&from.type_name, &to.type_name));
    // A new NOT NULL constraint name (PostgreSQL 18, e.g. after a table rename) is given at
    // the swap, which names the shadow column's constraint as desired.
    let simple = kinds.iter().all(|k| {
        matches!(
            k,
            Type | DropDefault | SetDefault | DropNotNull | SetNotNull | NotNullName
        )
    });
    let table = ctx.current.tables.get(t)?;
    let ordinary =
        table.kind == TableKind::Ordinary && table.partition_of.is_none() && !table.is_foreign();
    // A `@using` expression reads the row's columns by name, which the trigger's `NEW.` cannot.
    let using = ctx
        .opts
        .usings
        .contains_key(&(t.clone(), to.name.to_string()));
    if !retype
        || using
        || !simple
        || !ordinary
        || ctx.table_size(t).is_small()
        || from.identity != to.identity
        || from.generated.is_some()
        || to.generated.is_some()
        || !inherited_copies(ctx.current, t, &from.name).is_empty()
    {
        return None;
    }
    let id = col_id(t, &from.name);
    let shadow_name = pg_object_name(&to.name, None, "schemaplan_new");
    let attached = attached(ctx, t, &from.name, &shadow_name)?;
    // A comment or column privileges are re-created in the swap as they are now: only when the
    // plan does not change them as well.
    let grants =
        |s: &Schema| -> Vec<Grant> { s.grants.iter().filter(|g| g.on == id).cloned().collect() };
    let column_grants = grants(ctx.current);
    if column_grants != grants(ctx.desired)
        || ctx.current.comments.get(&id) != ctx.desired.comments.get(&id)
    {
        return None;
    }
    let recreated: Vec<ObjectId> = attached
        .indexes
        .iter()
        .map(|i| ObjectId::Index(i.name.clone()))
        .chain(
            attached
                .keys
                .iter()
                .map(|(c, ..)| ObjectId::Constraint(t.clone(), c.name.as_str().into())),
        )
        .chain(
            attached
                .own
                .iter()
                .map(|(c, _)| ObjectId::Constraint(t.clone(), c.name.as_str().into())),
        )
        .chain(
            attached
                .referencing
                .iter()
                .map(|(r, c)| ObjectId::Constraint(r.clone(), c.name.as_str().into())),
        )
        .collect();
    if recreated
        .iter()
        .any(|o| ctx.current.comments.get(o) != ctx.desired.comments.get(o))
    {
        return None;
    }
    if to.identity.is_some() && !to.not_null {
        return None;
    }

    let at = alter_table(t);
    let col = ident(&to.name);
    let shadow = ident(&shadow_name);
    let sync = pg_object_name(&t.name, Some(&to.name), "schemaplan_retype");
    let function = qname(&QName::new(t.schema.clone(), sync.clone()));
    let added = Column {
        name: shadow_name.as_str().into(),
        not_null: false,
        default: None,
        identity: None,
        generated: None,
        ..to.clone()
    };
    let narrowing = convert::guarded(ctx, t, from, to);
    let mut add = ctx
        .step(
            format!("add shadow column {t}.{shadow_name} ({}) kept equal to {} by a trigger", to.type_name, to.name),
            format!(
                "{at} ADD COLUMN {};{}\n\
                 CREATE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $schemaplan$\n\
                 BEGIN\n  NEW.{shadow} := {};\n  RETURN NEW;\nEND\n$schemaplan$;\n\
                 CREATE TRIGGER {} BEFORE INSERT OR UPDATE ON {} FOR EACH ROW EXECUTE FUNCTION {function}();",
                definition(t, &added),
                // storage, statistics target, options: the shadow column becomes the column
                super::column::settings_statements(t, &added),
                convert::assigned(ctx, &format!("NEW.{col}"), from, to),
                ident(&sync),
                qname(t)
            ),
            LockLevel::AccessExclusive,
            Some(t),
        )
        .note(format!(
            "type {} -> {} rewrites the table: done online through a shadow column instead",
            from.type_name, to.type_name
        ));
    if narrowing {
        // The trigger installed here would fail application writes of values that do not fit;
        // `apply` counts such rows before this step runs (`exec::narrowing`).
        add = add.hazard(crate::plan::Hazard::Narrowing).note(format!(
            "{} -> {} narrows: apply first counts the rows whose value would not fit or \
             would change, and refuses before installing anything if there are any",
            from.type_name, to.type_name
        ));
    }
    // Assigned as the trigger assigns it (an error, not a truncation, for a value the new type
    // cannot hold); pending while the shadow differs from the value an explicit cast gives,
    // which equals the assigned one whenever the assignment succeeds.
    let value = convert::assigned(ctx, &col, from, to);
    let mut pending = convert::cast(ctx, &col, from, to);
    // A new collation: the shadow column's and the column's collations differ, and comparing
    // two implicit collations fails ("could not determine which collation to use"). Compared
    // byte by byte ("C": equal only when the same string).
    if from.collation != to.collation {
        pending = format!(
            "({pending}) COLLATE {}",
            qname(&QName::new("pg_catalog", "C"))
        );
    }
    let backfill = ctx
        .long(ctx.step(
            format!("backfill {t}.{shadow_name}"),
            format!(
                "UPDATE {} SET {shadow} = {value} WHERE {shadow} IS DISTINCT FROM {pending};",
                qname(t)
            ),
            LockLevel::RowExclusive,
            Some(t),
        ))
        .batched()
        .note("in key-range batches, each its own short transaction");
    // The shadow column has the new type from its first step: that type (and collation) must
    // exist under its name by then, not only by the swap (a type replaced in the same plan is
    // renamed aside and dropped; a shadow column made before would keep the old one).
    let mut first = Node::new(add, id.clone());
    first.needs.extend(
        ctx.desired
            .dependencies_of(&id)
            .filter(|d| matches!(d, ObjectId::Type(_) | ObjectId::Collation(_)))
            .cloned(),
    );
    let mut nodes = vec![first, Node::new(backfill, id.clone())];
    if to.not_null {
        nodes.extend(set_not_null_online(ctx, t, &shadow_name));
    }
    // A conversion that may change values: before the old column goes, a validated CHECK
    // proves every shadow value converts back to the old one (writes that would break it fail
    // from its NOT VALID add on).
    let guard = narrowing.then(|| convert::guard_name(t, &from.name));
    if let Some(g) = &guard {
        let cond = convert::unchanged(ctx, &shadow, &col, from);
        nodes.extend(convert::online_guard(ctx, t, &id, g, &cond, from, to));
    }

    // The twins on the shadow column, built while the old objects keep serving queries and
    // checking writes. `index::create` and `constraint::add` give them their online forms
    // (the table is large): `CREATE [UNIQUE] INDEX CONCURRENTLY` (SHARE UPDATE EXCLUSIVE,
    // outside a transaction) and `ADD CONSTRAINT ... NOT VALID` (a brief lock, no scan) then
    // `VALIDATE CONSTRAINT` in a transaction of its own (SHARE UPDATE EXCLUSIVE).
    let mut swap_after: Vec<String> = Vec::new();
    for i in &attached.indexes {
        let tmp = twin_name(&i.name.name);
        let twin = Index {
            name: QName::new(i.name.schema.clone(), tmp.clone()),
            definition: twin_index_definition(i, t, &from.name, &shadow_name)?,
            collations: KeyCollations::default(),
            ..i.clone()
        };
        nodes.extend(super::index::create(ctx, &twin));
        swap_after.push(format!(
            "ALTER INDEX {} RENAME TO {};",
            qname(&twin.name),
            ident(&i.name.name)
        ));
    }
    for (c, kw, twin_def, tail) in &attached.keys {
        let tmp = twin_name(&c.name);
        let twin = Index {
            name: QName::new(t.schema.clone(), tmp.clone()),
            table: t.clone(),
            definition: twin_def.clone(),
            unique: true,
            on_partitioned_table: false,
            parent_index: None,
            valid: true,
            collations: KeyCollations::default(),
        };
        nodes.extend(super::index::create(ctx, &twin));
        // Renames the index to the constraint's name. For a PRIMARY KEY, PostgreSQL would SET
        // NOT NULL (a scan) on columns not marked so; the shadow column already is.
        swap_after.push(format!(
            "{at} ADD CONSTRAINT {} {kw} USING INDEX {}{tail};",
            ident(&c.name),
            ident(&tmp)
        ));
    }
    for (c, twin_def) in &attached.own {
        let tmp = twin_name(&c.name);
        let twin = Constraint {
            name: tmp.clone(),
            definition: twin_def.clone(),
            collations: KeyCollations::default(),
            ..c.clone()
        };
        nodes.extend(super::constraint::add(ctx, t, &twin));
        swap_after.push(format!(
            "{at} RENAME CONSTRAINT {} TO {};",
            ident(&tmp),
            ident(&c.name)
        ));
    }

    // The swap.
    let mut swap = Vec::new();
    for (r, c) in &attached.referencing {
        swap.push(format!(
            "{} DROP CONSTRAINT {};",
            alter_table(r),
            ident(&c.name)
        ));
    }
    if let Some(g) = &guard {
        swap.push(format!("{at} DROP CONSTRAINT {};", ident(g)));
    }
    swap.push(format!("DROP TRIGGER {} ON {};", ident(&sync), qname(t)));
    swap.push(format!("DROP FUNCTION {function}();"));
    for s in &attached.sequences {
        swap.push(format!(
            "ALTER SEQUENCE {} OWNED BY {}.{shadow};",
            qname(s),
            qname(t)
        ));
    }
    // The identity's sequence is dropped with the column: its position is kept in a
    // transaction-local setting and given to the new identity's sequence below.
    let serial_sequence = format!(
        "pg_get_serial_sequence({}, {})",
        literal(&qname(t)),
        literal(&to.name)
    );
    if from.identity.is_some() {
        // `pg_sequence_last_value` is NULL while the sequence was never used (`is_called`
        // false): then the new sequence starts afresh too.
        swap.push(format!(
            "SELECT set_config('schemaplan.retype_sequence', c.relname, true),\n       \
             set_config('schemaplan.retype_last_value', coalesce(pg_sequence_last_value(c.oid)::text, ''), true)\n  \
             FROM pg_class c WHERE c.oid = {serial_sequence}::regclass;"
        ));
    }
    swap.push(format!("{at} DROP COLUMN {col};"));
    swap.push(format!("{at} RENAME COLUMN {shadow} TO {col};"));
    // PostgreSQL 18: the shadow column's NOT NULL constraint is named after the shadow column
    // (`<table>_<shadow>_not_null`, `column::set_not_null_online`), and a column rename keeps
    // that name: it gets the column's own (the desired one), free since the old column's
    // constraint went with the old column just above.
    if to.not_null && ctx.opts.server_version >= 180000 {
        let wanted = super::column::not_null_name(t, to);
        swap.push(format!(
            "{at} RENAME CONSTRAINT {} TO {};",
            ident(&super::column::generated_not_null_name(
                &t.name,
                &shadow_name
            )),
            ident(&wanted)
        ));
    }
    swap.extend(swap_after);
    if let Some(d) = &to.default {
        swap.push(format!("{at} ALTER COLUMN {col} SET DEFAULT {d};"));
    }
    if let Some(idn) = &to.identity {
        // Catalog-only: the column is NOT NULL already. The new sequence gets the name
        // PostgreSQL derives (`<table>_<column>_seq`), free again since the old one is gone.
        swap.push(format!(
            "{at} ALTER COLUMN {col} ADD{};",
            identity_clause(idn)
        ));
        // The new sequence continues where the old one was, under the old one's name (which
        // differs from the derived one after a table rename).
        swap.push(format!(
            "DO $schemaplan$\n\
             DECLARE\n\
             \x20 seq text := {serial_sequence};\n\
             \x20 last text := current_setting('schemaplan.retype_last_value');\n\
             \x20 old_name text := current_setting('schemaplan.retype_sequence');\n\
             BEGIN\n\
             \x20 IF last <> '' THEN\n\
             \x20   PERFORM setval(seq, last::bigint);\n\
             \x20 END IF;\n\
             \x20 IF (SELECT relname FROM pg_class WHERE oid = seq::regclass) <> old_name THEN\n\
             \x20   EXECUTE format('ALTER SEQUENCE %s RENAME TO %I', seq, old_name);\n\
             \x20 END IF;\n\
             END\n\
             $schemaplan$;"
        ));
    }
    for (r, c) in &attached.referencing {
        // `pg_get_constraintdef` of a foreign key that is not valid ends in NOT VALID already.
        let not_valid = if c.validated { " NOT VALID" } else { "" };
        swap.push(format!(
            "{} ADD CONSTRAINT {} {}{not_valid};",
            alter_table(r),
            ident(&c.name),
            c.definition
        ));
    }
    if let Some(text) = ctx.current.comments.get(&id) {
        swap.push(format!(
            "COMMENT ON COLUMN {}.{col} IS {};",
            qname(t),
            literal(text)
        ));
    }
    for o in &recreated {
        if let Some(text) = ctx.current.comments.get(o) {
            swap.push(format!(
                "COMMENT ON {} IS {};",
                super::comment::object_ref(ctx, o),
                literal(text)
            ));
        }
    }
    for g in &column_grants {
        swap.push(super::grant::statement(ctx, g));
    }
    let mut swap_step = ctx
        .step(
            format!(
                "swap {t}.{} for its {} shadow column",
                to.name, to.type_name
            ),
            swap.join("\n"),
            LockLevel::AccessExclusive,
            Some(t),
        )
        .note("catalog changes only: the lock is held for moments")
        .note(crate::plan::step::moves_to_end_note(&format!(
            "{}.{col}",
            qname(t)
        )));
    if convert::declared_loss(ctx, t, from, to) {
        swap_step = swap_step
            .hazard(crate::plan::Hazard::DataLoss)
            .note(format!(
                "type {} -> {} can change or lose values, and the plan cannot check them",
                from.type_name, to.type_name
            ));
    }
    if !attached.referencing.is_empty() {
        let mut tables: Vec<String> = attached
            .referencing
            .iter()
            .map(|(r, _)| r.to_string())
            .collect();
        tables.dedup();
        swap_step = swap_step.note(format!(
            "also locks {} briefly: the foreign keys referencing the column are dropped and \
             re-added NOT VALID (no scan), then validated in steps of their own",
            tables.join(", ")
        ));
    }
    let mut last = Node::new(swap_step, id.clone());
    last.produces.push(id.clone());
    last.produces.extend(recreated.iter().cloned());
    last.removes.push(id.clone());
    last.alters.push(id.clone());
    last.releases = ctx.released(&id);
    // Only the swap alters the column: views the diff drops and re-creates around the type
    // change are dropped just before it and re-created just after (one transaction with it),
    // so they keep working through the backfill.
    nodes.push(last);
    for (r, c) in &attached.referencing {
        if c.validated {
            nodes.extend(super::constraint::validate(ctx, r, c));
        }
    }
    Some(nodes)
}

/// `<name>_schemaplan_new`, within 63 bytes: the twin of an index or constraint while the
/// original still holds its name.
fn twin_name(name: &str) -> String {
    pg_object_name(name, None, "schemaplan_new")
}

/// The column `(t, c)` as the current and the desired schema have it.
fn both_sides<'s>(ctx: &Ctx<'s>, t: &QName, c: &str) -> Option<(&'s Column, &'s Column)> {
    let find = |s: &'s Schema| s.tables.get(t).and_then(|tb| tb.column(c));
    Some((find(ctx.current)?, find(ctx.desired)?))
}

/// Whether the column `(t, c)` changes type or collation in the plan.
fn retyped(ctx: &Ctx, t: &QName, c: &str) -> bool {
    both_sides(ctx, t, c)
        .is_some_and(|(a, b)| (&a.type_name, &a.collation) != (&b.type_name, &b.collation))
}

/// Whether the column `(t, c)` changes type in the plan (its collation aside).
pub(super) fn type_changes(ctx: &Ctx, t: &QName, c: &str) -> bool {
    both_sides(ctx, t, c).is_some_and(|(a, b)| a.type_name != b.type_name)
}

/// Whether `o` depends on a column other than `(t, column)` whose type changes in the plan:
/// two shadow procedures would both rebuild it.
fn uses_other_retyped(ctx: &Ctx, o: &ObjectId, t: &QName, column: &str) -> bool {
    ctx.current.dependencies_of(o).any(|d| match d {
        ObjectId::Column(q, c) => !(q == t && c == column) && retyped(ctx, q, c),
        _ => false,
    })
}

/// Everything on the column that the swap would lose, sorted by kind; `None` when one of them
/// cannot be carried over (see [`online_retype`]).
fn attached(ctx: &Ctx, t: &QName, column: &str, shadow: &str) -> Option<Attached> {
    let id = col_id(t, column);
    let table = ctx.current.tables.get(t)?;
    let mut a = Attached::default();
    let dependents: Vec<&ObjectId> = ctx
        .current
        .depends
        .iter()
        .filter(|(_, refs)| refs.contains(&id))
        .map(|(dep, _)| dep)
        .collect();
    for dep in dependents {
        match dep {
            ObjectId::Index(q) => {
                let i = ctx.current.indexes.get(q)?;
                // The same index in the desired schema: its text may differ only by a key's
                // COLLATE that the column's new collation makes implicit (or explicit).
                // Not one the diff drops and creates again (a collation it names replaced).
                let same = !ctx.dropped_indexes.contains(q)
                    && ctx.desired.indexes.get(q).is_some_and(|w| {
                        let text_aside = Index {
                            definition: i.definition.clone(),
                            collations: i.collations.clone(),
                            ..w.clone()
                        };
                        text_aside == *i
                            && crate::diff::same_key_definition(
                                ctx.current,
                                ctx.desired,
                                dep,
                                t,
                                (&i.definition, &i.collations),
                                (&w.definition, &w.collations),
                            )
                    });
                if i.table != *t
                    || !same
                    || !i.valid
                    || i.on_partitioned_table
                    || i.parent_index.is_some()
                    || matches!(&table.replica_identity, ReplicaIdentity::Index(n) if *n == q.name)
                    || uses_other_retyped(ctx, dep, t, column)
                {
                    return None;
                }
                a.indexes.push(i.clone());
            }
            ObjectId::Constraint(q, name) => {
                let c = ctx.current.tables.get(q)?.constraints.get(name.as_str())?;
                let unchanged = ctx
                    .desired
                    .tables
                    .get(q)
                    .and_then(|tb| tb.constraints.get(name.as_str()))
                    == Some(c);
                if !unchanged || !c.is_local || uses_other_retyped(ctx, dep, t, column) {
                    return None;
                }
                let on_column = q == t && c.columns.iter().any(|x| x == column);
                match c.kind {
                    ConstraintKind::PrimaryKey | ConstraintKind::Unique if q == t => {
                        if table.replica_identity == ReplicaIdentity::Index(name.to_string()) {
                            return None;
                        }
                        let (kw, cols, include, tail) =
                            super::constraint::simple_key(&c.definition)?;
                        let cols = replace_column(cols, 0, column, shadow)?;
                        let include = match include {
                            Some(i) => {
                                format!(" INCLUDE ({})", replace_column(i, 0, column, shadow)?)
                            }
                            None => String::new(),
                        };
                        let twin = format!(
                            "CREATE UNIQUE INDEX {} ON {} USING btree ({cols}){include}",
                            ident(&twin_name(name)),
                            qname(t)
                        );
                        a.keys.push((c.clone(), kw, twin, tail.to_string()));
                    }
                    ConstraintKind::ForeignKey if on_column => {
                        // On the column: re-added on the shadow column. One referencing its
                        // own table could reference the column itself: left to the plain form.
                        if c.references.as_ref() == Some(t)
                            || c.definition.contains("SET NULL (")
                            || c.definition.contains("SET DEFAULT (")
                        {
                            return None;
                        }
                        let rest = c.definition.strip_prefix("FOREIGN KEY (")?;
                        let close = rest.find(')')?;
                        let cols = replace_column(&rest[..close], 0, column, shadow)?;
                        let twin = format!("FOREIGN KEY ({cols}){}", &rest[close + 1..]);
                        a.own.push((c.clone(), twin));
                    }
                    ConstraintKind::ForeignKey if c.references.as_ref() == Some(t) => {
                        // PostgreSQL (before 18) refuses NOT VALID foreign keys on partitioned
                        // tables: the re-add would have to scan under lock.
                        let r = ctx.current.tables.get(q)?;
                        if r.kind != TableKind::Ordinary || r.partition_of.is_some() {
                            return None;
                        }
                        a.referencing.push((q.clone(), c.clone()));
                    }
                    ConstraintKind::Check if q == t => {
                        let twin = replace_column(&c.definition, 0, column, shadow)?;
                        a.own.push((c.clone(), twin));
                    }
                    _ => return None,
                }
            }
            _ => {}
        }
    }
    for s in ctx.current.sequences.values() {
        if s.owned_by.as_ref() == Some(&(t.clone(), column.to_string())) {
            // The sequence stays the column's: the desired schema must agree.
            let kept = ctx
                .desired
                .sequences
                .get(&s.name)
                .is_some_and(|d| d.owned_by == s.owned_by);
            if !kept {
                return None;
            }
            a.sequences.push(s.name.clone());
        }
    }
    let by_name = |x: &Index, y: &Index| x.name.cmp(&y.name);
    a.indexes.sort_by(by_name);
    a.keys.sort_by(|x, y| x.0.name.cmp(&y.0.name));
    a.own.sort_by(|x, y| x.0.name.cmp(&y.0.name));
    a.referencing
        .sort_by(|x, y| (&x.0, &x.1.name).cmp(&(&y.0, &y.1.name)));
    a.sequences.sort();
    Some(a)
}

/// `CREATE INDEX <twin> ON t USING ...` of plain index `i` on the shadow column: its name
/// replaced by the twin's, references to the column (key columns, INCLUDE, expressions, the
/// predicate) by the shadow column.
fn twin_index_definition(i: &Index, t: &QName, column: &str, shadow: &str) -> Option<String> {
    let head = format!(" INDEX {} ON ", ident(&i.name.name));
    let marker = format!(" ON {} USING ", qname(t));
    let def = i.definition.replacen(
        &head,
        &format!(" INDEX {} ON ", ident(&twin_name(&i.name.name))),
        1,
    );
    if def == i.definition {
        return None;
    }
    let start = def.find(&marker)? + marker.len();
    replace_column(&def, start, column, shadow)
}

/// `text` with every reference to column `from` at or after byte `start` replaced by `to`
/// (quoted as needed). References are found with PostgreSQL's own scanner (pg_query): a token
/// naming the column, quoted or not, that is not a function name (followed by `(`), a
/// qualified name's part (next to `.`) or a type (after `::`). String literals never match.
/// `None` when the text does not scan.
fn replace_column(text: &str, start: usize, from: &str, to: &str) -> Option<String> {
    let scan = pg_query::scan(text).ok()?;
    let toks: Vec<(usize, usize)> = scan
        .tokens
        .iter()
        .map(|t| (t.start as usize, t.end as usize))
        .collect();
    let word = |k: usize| toks.get(k).and_then(|&(s, e)| text.get(s..e));
    let mut out = String::new();
    let mut last = 0;
    for (k, &(s, e)) in toks.iter().enumerate() {
        if s < start {
            continue;
        }
        let w = text.get(s..e)?;
        let name = match w.strip_prefix('"').and_then(|w| w.strip_suffix('"')) {
            Some(quoted) => quoted.replace("\"\"", "\""),
            None => w.to_lowercase(),
        };
        if name != from {
            continue;
        }
        let next = word(k + 1);
        let prev = k.checked_sub(1).and_then(word);
        if matches!(next, Some("(") | Some(".")) || matches!(prev, Some(".") | Some("::")) {
            continue;
        }
        out.push_str(&text[last..s]);
        out.push_str(&ident(to));
        last = e;
    }
    out.push_str(&text[last..]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_references_are_replaced_but_not_functions_types_or_strings() {
        assert_eq!(
            replace_column(
                "lower(lower), 'lower', (lower)::text",
                0,
                "lower",
                "lower_new"
            ),
            Some("lower(lower_new), 'lower', (lower_new)::text".to_string())
        );
        assert_eq!(
            replace_column("a, \"Id\", id", 0, "Id", "Id_new"),
            Some("a, \"Id_new\", id".to_string())
        );
    }

    #[test]
    fn index_twins_keep_everything_but_the_name_and_column() {
        let t = QName::new("public", "orders");
        let i = Index {
            name: QName::new("public", "id"),
            table: t.clone(),
            definition: "CREATE INDEX id ON public.orders USING btree (id, note) INCLUDE (id) WHERE (id > 0)"
                .to_string(),
            unique: false,
            on_partitioned_table: false,
            parent_index: None,
            valid: true,
            collations: KeyCollations::default(),
        };
        assert_eq!(
            twin_index_definition(&i, &t, "id", "id_schemaplan_new").as_deref(),
            Some(
                "CREATE INDEX id_schemaplan_new ON public.orders USING btree (id_schemaplan_new, note) \
                 INCLUDE (id_schemaplan_new) WHERE (id_schemaplan_new > 0)"
            )
        );
    }
}
