//! Table constraints: PRIMARY KEY, UNIQUE, FOREIGN KEY, CHECK, EXCLUDE.

use crate::model::*;
use crate::plan::graph::{Chain, Node, Rank};
use crate::plan::{alter_table, Ctx, Hazard, LockLevel};
use crate::render::quote::{ident, qname};

fn con_id(t: &QName, c: &Constraint) -> ObjectId {
    ObjectId::Constraint(t.clone(), c.name.as_str().into())
}

/// Whether the constraint owns an index (and so claims a relation name).
fn index_name(t: &QName, c: &Constraint) -> Option<QName> {
    matches!(
        c.kind,
        ConstraintKind::PrimaryKey | ConstraintKind::Unique | ConstraintKind::Exclude
    )
    .then(|| QName::new(t.schema.clone(), c.name.clone()))
}

/// A table has one primary key: its "slot", a pseudo-name (no relation is named with a space
/// and this prefix) that adding a primary key claims and dropping one frees, so a key that
/// moves to other columns under another name is dropped before the new one is added
/// ("multiple primary keys for table" otherwise).
fn primary_key_slot(t: &QName, c: &Constraint) -> Option<QName> {
    (c.kind == ConstraintKind::PrimaryKey)
        .then(|| QName::new(t.schema.clone(), format!("primary key of {}", t.name)))
}

fn is_partitioned(ctx: &Ctx, t: &QName) -> bool {
    ctx.desired
        .tables
        .get(t)
        .is_some_and(|tb| tb.kind == TableKind::Partitioned)
        || ctx
            .desired
            .tables
            .get(t)
            .is_some_and(|tb| tb.partition_of.is_some())
}

/// The note naming the lock a foreign key step takes on the table the key references (none
/// for a key referencing its own table): PostgreSQL locks both ends of a foreign key, as it
/// creates or drops the key's triggers on both.
/// - `ADD CONSTRAINT ... FOREIGN KEY` (with or without `NOT VALID`) and `ALTER CONSTRAINT
///   ... [NOT] ENFORCED` (18): SHARE ROW EXCLUSIVE on the referenced table as on its own
///   (`ATAddForeignKeyConstraint`), so writes to the referenced table wait while the step
///   waits for or holds it; reads go on.
/// - `DROP CONSTRAINT` of a foreign key: ACCESS EXCLUSIVE on the referenced table too
///   (`dropconstraint_internal`): even reads of it wait.
/// - `VALIDATE CONSTRAINT`: ROW SHARE on the referenced table, which blocks no traffic (not
///   listed).
///
/// The step line names only the step's own table; the note is read back by
/// `Step::also_locks` for the review summary's lock list and the blocker report.
fn referenced_lock(t: &QName, c: &Constraint, level: LockLevel) -> Option<String> {
    let r = c.references.as_ref().filter(|r| *r != t)?;
    Some(crate::plan::step::also_locks_note(
        "the referenced table",
        level,
        &qname(r),
    ))
}

/// The tables a constraint's validation reads under the lock of a plain `ADD CONSTRAINT`: its
/// own, and for a foreign key on a table with rows the referenced one too (the check is an
/// outer join, which may hash the referencing rows and scan the referenced table; with no
/// referencing rows the join stops before reading the other side).
fn scanned<'a>(ctx: &Ctx, t: &'a QName, c: &'a Constraint) -> Vec<&'a QName> {
    let mut v = vec![t];
    if ctx.table_size(t).has_rows() {
        v.extend(c.references.as_ref().filter(|r| *r != t));
    }
    v
}

/// Adding a constraint. On a large table (or one of unknown size), FOREIGN KEY and CHECK are
/// added `NOT VALID` (a brief lock, no scan) and validated in a separate step, which scans under
/// SHARE UPDATE EXCLUSIVE while reads and writes go on; PRIMARY KEY and UNIQUE get their index
/// built concurrently first. PostgreSQL (before 18) refuses `NOT VALID` foreign keys on
/// partitioned tables, so those are added directly. On tables created by the plan, or empty or
/// small at plan time, the plain form: its scan under lock takes milliseconds.
pub fn add(ctx: &Ctx, t: &QName, c: &Constraint) -> Chain {
    // Made with its table, before the table is attached as a partition (`table::attach_later`).
    if c.parent_index.is_some() && ctx.attach_later.contains(t) {
        return Vec::new();
    }
    let small = ctx.small(&scanned(ctx, t, c));
    let large = small.is_none();
    if large && c.validated && !is_partitioned(ctx, t) {
        if let Some(chain) = add_using_index(ctx, t, c) {
            return chain;
        }
    }
    if large && c.validated {
        if let Some(chain) = add_on_partitions(ctx, t, c) {
            return chain;
        }
    }
    let id = con_id(t, c);
    let at = alter_table(t);
    let name = ident(&c.name);
    let two_phase = large
        && c.validated
        && matches!(c.kind, ConstraintKind::ForeignKey | ConstraintKind::Check)
        && !is_partitioned(ctx, t);
    let lock = match c.kind {
        ConstraintKind::ForeignKey => LockLevel::ShareRowExclusive,
        _ => LockLevel::AccessExclusive,
    };
    // A NOT ENFORCED constraint (PostgreSQL 18) is never checked and reads as not validated:
    // `NOT VALID` would say nothing more, and no validation step can follow (PostgreSQL
    // refuses to validate it).
    let definition = definition_text(ctx, t, c);
    // `pg_get_constraintdef` ends a NOT VALID one with ` NOT VALID` already.
    let not_valid =
        if c.enforced() && (!c.validated || two_phase) && !definition.ends_with(" NOT VALID") {
            " NOT VALID"
        } else {
            ""
        };
    let mut step = ctx.step(
        format!("add constraint {} on {t}", c.name),
        format!("{at} ADD CONSTRAINT {name} {definition}{not_valid};"),
        lock,
        Some(t),
    );
    step = step.notes(referenced_lock(t, c, lock));
    // A key of a partitioned table created again keeping its rows that the old table had as
    // it is: the partitions kept their copies of it (detached and attached again), and
    // PostgreSQL adopts those instead of building (`DefineIndex` attaches a matching index
    // of each partition): catalog changes.
    let adopts = ctx.rekeyed.contains(t)
        && index_name(t, c).is_some()
        && ctx
            .current
            .tables
            .get(t)
            .and_then(|old| old.constraints.get(&c.name))
            .is_some_and(|old| old.definition == c.definition && old.kind == c.kind);
    if adopts {
        step = step.note(
            "adopts the partitions' copies of the key, kept from the old partitioned table: no build",
        );
    } else if large && !two_phase && c.validated {
        step = ctx.long(step);
        if matches!(
            c.kind,
            ConstraintKind::PrimaryKey | ConstraintKind::Unique | ConstraintKind::Exclude
        ) {
            step = step
                .hazard(Hazard::IndexBuild)
                .hazard(Hazard::AccessExclusiveLock)
                .note("builds its index while holding the lock");
        } else {
            step = step
                .hazard(Hazard::AccessExclusiveLock)
                .note("validates by scanning under lock");
        }
    }
    if two_phase {
        step = step.note("added NOT VALID: no scan under lock; validated in the next step");
    }
    if !c.enforced() {
        step =
            step.note("NOT ENFORCED: recorded but never checked, so existing rows are not scanned");
    }
    if c.validated {
        step = step.notes(small.unwrap_or_default());
    }
    let mut first = Node::new(step, id.clone());
    first.produces.push(id.clone());
    // On (or referencing) a partitioned table created again keeping its rows: after its
    // partitions are attached, so the key adopts their copies and a foreign key sees the rows.
    for on in std::iter::once(t).chain(c.references.as_ref()) {
        if ctx.rekeyed.contains(on) {
            first
                .claims
                .push(crate::plan::rekey_slot("partitions of", on));
        }
    }
    if let Some(q) = index_name(t, c) {
        first.claims.push(q);
        first.claims.extend(adoptable_on_partitions(ctx, t));
        first.claims.extend(parents_keys_going(ctx, t));
    }
    first.claims.extend(primary_key_slot(t, c));
    if let Some(r) = &c.references {
        first.needs.push(ObjectId::Table(r.clone()));
    }
    if !two_phase {
        return vec![first];
    }
    vec![first, validate_node(ctx, t, c)]
}

/// The constraint's definition as the plan writes it: a CHECK as written in the schema files
/// when PostgreSQL's deparse of it is not a fixed point (`workflow::original`).
///
/// The text taken from the files is `CHECK (...)` alone: the attributes `pg_get_constraintdef`
/// prints after it (` NO INHERIT`, then ` NOT ENFORCED` on PostgreSQL 18) are added back.
fn definition_text(ctx: &Ctx, t: &QName, c: &Constraint) -> String {
    let Some(text) = ctx.opts.check_texts.get(&(t.clone(), c.name.clone())) else {
        return c.definition.clone();
    };
    let mut out = text.clone();
    if c.enforced_definition().ends_with(" NO INHERIT") {
        out.push_str(" NO INHERIT");
    }
    if !c.enforced() {
        out.push_str(NOT_ENFORCED);
    }
    out
}

/// A foreign key whose enforcement alone changes (`diff::Change::SetConstraintEnforced`,
/// PostgreSQL 18; CHECKs cannot be altered so on 18 and are dropped and added instead).
///
/// - To `NOT ENFORCED`: `ALTER CONSTRAINT ... NOT ENFORCED` drops the foreign key's triggers on
///   both tables and marks it not validated: catalog changes, no scan. PostgreSQL takes SHARE
///   ROW EXCLUSIVE on the table (and on the referenced table, whose triggers go too): writes
///   wait for the moment of the change, reads go on.
/// - To `ENFORCED` on an empty or small table: `ALTER CONSTRAINT ... ENFORCED` creates the
///   triggers and validates the existing rows while holding that lock, which takes
///   milliseconds there.
/// - To `ENFORCED` on a large table (or one of unknown size): validating under SHARE ROW
///   EXCLUSIVE would stop writes for the whole scan (PostgreSQL has no `ENFORCED NOT VALID`),
///   so the unenforced key is dropped (nothing checked it) and added again the online way
///   ([`add`]: `NOT VALID`, then `VALIDATE` under SHARE UPDATE EXCLUSIVE).
pub fn set_enforced(ctx: &Ctx, t: &QName, from: &Constraint, to: &Constraint) -> Vec<Chain> {
    let small = ctx.small(&scanned(ctx, t, to));
    if to.enforced() && small.is_none() {
        return vec![drop(ctx, t, from), add(ctx, t, to)];
    }
    let (words, note) = if to.enforced() {
        (
            "ENFORCED",
            "creates the foreign key's triggers and checks the existing rows under the lock",
        )
    } else {
        (
            "NOT ENFORCED",
            "drops the foreign key's triggers: no scan; rows are no longer checked",
        )
    };
    let mut step = ctx
        .step(
            format!(
                "alter constraint {} on {t} ({})",
                to.name,
                words.to_lowercase()
            ),
            format!(
                "{} ALTER CONSTRAINT {} {words};",
                alter_table(t),
                ident(&to.name)
            ),
            LockLevel::ShareRowExclusive,
            Some(t),
        )
        .note(note)
        .notes(referenced_lock(t, to, LockLevel::ShareRowExclusive));
    if to.enforced() {
        step = step.notes(small.unwrap_or_default());
    }
    let id = con_id(t, to);
    let mut n = Node::new(step, id.clone());
    n.needs.push(id);
    if let Some(r) = &to.references {
        n.needs.push(ObjectId::Table(r.clone()));
    }
    vec![vec![n]]
}

/// A CHECK whose expression changes (`diff::Change::ReplaceCheck`). On an empty or small
/// table: drop and add in one transaction (the plain add scans under the lock; if a row
/// violates the new CHECK the transaction, drop included, is rolled back). Otherwise the new
/// CHECK is built beside the old one and the old one goes last:
/// 1. `ADD CONSTRAINT <name>_schemaplan_new CHECK (...) NOT VALID` (brief ACCESS EXCLUSIVE,
///    no scan; new writes are checked from now on);
/// 2. `VALIDATE CONSTRAINT <name>_schemaplan_new` (SHARE UPDATE EXCLUSIVE: reads and writes go
///    on while it scans);
/// 3. `DROP CONSTRAINT <name>` and `RENAME CONSTRAINT <name>_schemaplan_new TO <name>` in one
///    transaction (catalog changes under a brief ACCESS EXCLUSIVE).
///
/// If the validation fails (rows violate the new CHECK), the old CHECK is still in force and
/// only the NOT VALID one was added, which the executor removes again (`exec::undo`): the
/// table is as it was, and the plan can be applied again once the rows are fixed.
pub fn replace_check(ctx: &Ctx, t: &QName, from: &Constraint, to: &Constraint) -> Vec<Chain> {
    if ctx.small(&[t]).is_some() || !to.enforced() {
        return vec![drop(ctx, t, from), add(ctx, t, to)];
    }
    let id = con_id(t, to);
    let at = alter_table(t);
    let tmp = pg_object_name(&to.name, None, "schemaplan_new");
    let add = ctx
        .step(
            format!("add the new definition of constraint {} on {t} as {tmp} (not valid)", to.name),
            format!(
                "{at} ADD CONSTRAINT {} {} NOT VALID;",
                ident(&tmp),
                definition_text(ctx, t, to)
            ),
            LockLevel::AccessExclusive,
            Some(t),
        )
        .note("added beside the old CHECK, NOT VALID (no scan under lock); the old one stays until the new one is validated");
    let validate = ctx
        .long(ctx.step(
            format!("validate constraint {tmp} on {t}"),
            format!("{at} VALIDATE CONSTRAINT {};", ident(&tmp)),
            LockLevel::ShareUpdateExclusive,
            Some(t),
        ))
        .note("scans the table without blocking reads or writes");
    let swap = ctx
        .step(
            format!("replace constraint {} on {t} by {tmp}", to.name),
            format!(
                "{at} DROP CONSTRAINT {name};\n{at} RENAME CONSTRAINT {} TO {name};",
                ident(&tmp),
                name = ident(&to.name)
            ),
            LockLevel::AccessExclusive,
            Some(t),
        )
        .note("catalog changes under a brief lock");
    let mut n1 = Node::new(add, id.clone());
    n1.needs.push(ObjectId::Table(t.clone()));
    n1.needs
        .extend(ctx.desired.depends.get(&id).into_iter().flatten().cloned());
    let n2 = Node::new(validate, id.clone());
    let mut n3 = Node::new(swap, id.clone());
    n3.removes.push(id.clone());
    n3.produces.push(id);
    vec![vec![n1, n2, n3]]
}

/// A PRIMARY KEY / UNIQUE / EXCLUDE added to a partitioned table gives every partition an
/// index, adopting a matching PRIMARY KEY / UNIQUE / EXCLUDE the partition has of its own (it
/// becomes the inherited copy). The partitions' own ones that the plan drops must therefore
/// be gone first: the new constraint claims their names (`<partition>_pkey` is also the name
/// PostgreSQL gives the copy it builds), so it orders after the drops that free them.
fn adoptable_on_partitions(ctx: &Ctx, t: &QName) -> Vec<QName> {
    let mut out = Vec::new();
    let mut work = vec![t.clone()];
    let mut seen = std::collections::BTreeSet::new();
    while let Some(p) = work.pop() {
        if !seen.insert(p.clone()) {
            continue;
        }
        for part in ctx.current.tables.values() {
            if part.partition_of.as_ref().map(|(q, _)| q) != Some(&p) {
                continue;
            }
            work.push(part.name.clone());
            let want = ctx.desired.tables.get(&part.name);
            for c in part.constraints.values() {
                let kept = want
                    .and_then(|w| w.constraints.get(&c.name))
                    .is_some_and(|w| w.definition == c.definition);
                if !kept && index_name(&part.name, c).is_some() {
                    out.push(QName::new(part.name.schema.clone(), c.name.clone()));
                }
            }
        }
    }
    out
}

/// The other way round: a partition whose partitioned table (or an ancestor) loses a PRIMARY
/// KEY / UNIQUE / EXCLUDE still has that key's copy, under a name the model does not list
/// (often the very name of the partition's own new key), until the ancestor's key is dropped:
/// the partition's new key claims the going keys' names, so it orders after their drops.
fn parents_keys_going(ctx: &Ctx, t: &QName) -> Vec<QName> {
    let mut out = Vec::new();
    let mut at = ctx
        .current
        .tables
        .get(t)
        .and_then(|x| x.partition_of.as_ref());
    let mut hops = 0;
    while let Some((p, _)) = at {
        let Some(parent) = ctx.current.tables.get(p) else {
            break;
        };
        let want = ctx.desired.tables.get(p);
        for c in parent.constraints.values() {
            let kept = want
                .and_then(|w| w.constraints.get(&c.name))
                .is_some_and(|w| w.definition == c.definition);
            if !kept {
                out.extend(index_name(p, c));
            }
        }
        hops += 1;
        if hops > 64 {
            break;
        }
        at = parent.partition_of.as_ref();
    }
    out
}

fn validate_node(ctx: &Ctx, t: &QName, c: &Constraint) -> Node {
    let step = ctx
        .long(ctx.step(
            format!("validate constraint {} on {t}", c.name),
            format!("{} VALIDATE CONSTRAINT {};", alter_table(t), ident(&c.name)),
            LockLevel::ShareUpdateExclusive,
            Some(t),
        ))
        .note("scans the table without blocking reads or writes");
    let id = con_id(t, c);
    let mut n = Node::new(step, id.clone());
    n.needs.push(id);
    // A copy a parent's constraint makes (validated on its own table, `diff::relations`):
    // after the parent's `ADD CONSTRAINT`.
    if !c.is_local {
        if let Some(w) = ctx.desired.tables.get(t) {
            let parents = w
                .partition_of
                .iter()
                .map(|(p, _)| p)
                .chain(w.inherits.iter());
            for p in parents {
                if ctx
                    .desired
                    .tables
                    .get(p)
                    .is_some_and(|pt| pt.constraints.contains_key(&c.name))
                {
                    n.needs
                        .push(ObjectId::Constraint(p.clone(), c.name.as_str().into()));
                }
            }
        }
    }
    n
}

pub fn validate(ctx: &Ctx, t: &QName, c: &Constraint) -> Chain {
    vec![validate_node(ctx, t, c)]
}

pub fn drop(ctx: &Ctx, t: &QName, c: &Constraint) -> Chain {
    let id = con_id(t, c);
    let step = ctx
        .step(
            format!("drop constraint {} on {t}", c.name),
            format!("{} DROP CONSTRAINT {};", alter_table(t), ident(&c.name)),
            LockLevel::AccessExclusive,
            Some(t),
        )
        .notes(referenced_lock(t, c, LockLevel::AccessExclusive));
    let mut n = Node::new(step, id.clone());
    n.removes.push(id);
    if let Some(q) = index_name(t, c) {
        n.frees.push(q);
    }
    // From a partitioned table created again keeping its rows: before its partitions are
    // detached, so the partitions' copies go with it.
    // (and a foreign key referencing it: PostgreSQL refuses to detach a partition that
    // referencing rows point into)
    for on in std::iter::once(t).chain(c.references.as_ref()) {
        if ctx.rekeyed.contains(on) {
            n.frees.push(crate::plan::rekey_slot("keys of", on));
        }
    }
    n.frees.extend(primary_key_slot(t, c));
    // Its copies on partitions go too: they held the partitions' columns (NOT NULL, ...).
    for col in &c.columns {
        n.releases
            .extend(super::column::inherited_copies(ctx.current, t, col));
    }
    n.rank = Rank::Drop;
    vec![n]
}

/// `PRIMARY KEY (a, b)` / `UNIQUE (a) INCLUDE (x) DEFERRABLE` split into the key clause, the
/// index column list, an INCLUDE list and the trailing deferrability; `None` for anything else
/// (expressions, NULLS NOT DISTINCT, storage options), which is added directly.
pub(crate) fn simple_key(def: &str) -> Option<(&'static str, &str, Option<&str>, &str)> {
    let (kw, rest) = if let Some(r) = def.strip_prefix("PRIMARY KEY (") {
        ("PRIMARY KEY", r)
    } else if let Some(r) = def.strip_prefix("UNIQUE (") {
        ("UNIQUE", r)
    } else {
        return None;
    };
    let close = rest.find(')')?;
    let (cols, mut tail) = (&rest[..close], &rest[close + 1..]);
    let mut include = None;
    if let Some(r) = tail.strip_prefix(" INCLUDE (") {
        let close = r.find(')')?;
        include = Some(&r[..close]);
        tail = &r[close + 1..];
    }
    let deferrable = matches!(tail, "" | " DEFERRABLE" | " DEFERRABLE INITIALLY DEFERRED");
    (deferrable && !cols.contains('(')).then_some((kw, cols, include, tail))
}

/// PRIMARY KEY / UNIQUE on a table with rows without building the index under lock: build a
/// unique index `CONCURRENTLY` (writes go on), then `ADD CONSTRAINT ... USING INDEX`, a catalog
/// change. A primary key's columns are made NOT NULL first (online, by the column steps).
fn add_using_index(ctx: &Ctx, t: &QName, c: &Constraint) -> Option<Chain> {
    let (kw, cols, include, tail) = simple_key(&c.definition)?;
    let id = con_id(t, c);
    let index = QName::new(t.schema.clone(), c.name.clone());
    let include = include
        .map(|i| format!(" INCLUDE ({i})"))
        .unwrap_or_default();
    let build = ctx
        .long(
            ctx.step(
                format!(
                    "build unique index {} for {} on {t}",
                    c.name,
                    kw.to_lowercase()
                ),
                format!(
                    "CREATE UNIQUE INDEX CONCURRENTLY {} ON {} USING btree ({cols}){include};",
                    ident(&c.name),
                    qname(t)
                ),
                LockLevel::ShareUpdateExclusive,
                Some(t),
            )
            .non_transactional()
            .hazard(Hazard::IndexBuild),
        )
        .note("built CONCURRENTLY: writes continue during the build");
    let attach = ctx
        .step(
            format!("add constraint {} on {t} using its index", c.name),
            format!(
                "{} ADD CONSTRAINT {} {kw} USING INDEX {}{tail};",
                alter_table(t),
                ident(&c.name),
                ident(&c.name)
            ),
            LockLevel::AccessExclusive,
            Some(t),
        )
        .note("the index exists: a catalog change under a brief lock");
    let mut n1 = Node::new(build, id.clone());
    n1.claims.push(index);
    n1.needs.push(ObjectId::Table(t.clone()));
    n1.needs.extend(
        c.columns
            .iter()
            .map(|col| ObjectId::Column(t.clone(), col.as_str().into())),
    );
    let mut n2 = Node::new(attach, id.clone());
    n2.claims.extend(primary_key_slot(t, c));
    n2.produces.push(id);
    Some(vec![n1, n2])
}

/// PRIMARY KEY / UNIQUE on a partitioned table with rows, without building any index under
/// lock. A plain `ADD CONSTRAINT` on the partitioned table builds an index on every partition
/// while it holds ACCESS EXCLUSIVE on all of them. Instead, the way `pg_dump` restores one:
/// 1. each leaf partition gets its copy of the key as a key of its own, the index built
///    `CONCURRENTLY` and then `ADD CONSTRAINT ... USING INDEX` (brief ACCESS EXCLUSIVE on
///    that partition only; a small partition takes the plain `ADD CONSTRAINT`); a
///    sub-partitioned partition gets its key by this same recipe one level down;
/// 2. `ALTER TABLE ONLY parent ADD CONSTRAINT ...` makes the parent's key and its (empty,
///    invalid) partitioned index, no build, and `ALTER INDEX ... ATTACH PARTITION` of each
///    partition's key index makes it valid: catalog changes, in one transaction, under ACCESS
///    EXCLUSIVE on the parent (ACCESS EXCLUSIVE on the partitions' indexes, ACCESS SHARE on the
///    partitions themselves).
///
/// A partition's copy gets the name the desired schema gives it ([`Table::key_copies`]), else
/// the one PostgreSQL generates ([`partition_key_name`]). A partition that has the key already
/// as its own, under that name and with that definition, builds nothing: its key is attached
/// as it is (the diff keeps it, `diff::relations::constraints::adopted_as_it_is`). `None` (the plain
/// form) when the key is not a simple column list (expressions, `INCLUDE`, `NULLS NOT
/// DISTINCT`, storage options), a partition is new in this plan, or a generated name is taken.
fn add_on_partitions(ctx: &Ctx, t: &QName, c: &Constraint) -> Option<Chain> {
    let table = ctx.desired.tables.get(t)?;
    // created again keeping its rows: its partitions come attached with their keys
    if ctx.rekeyed.contains(t) {
        return None;
    }
    if table.kind != TableKind::Partitioned
        || !matches!(c.kind, ConstraintKind::PrimaryKey | ConstraintKind::Unique)
    {
        return None;
    }
    let (_, _, include, _) = simple_key(&c.definition)?;
    if include.is_some() {
        return None;
    }
    let index = QName::new(t.schema.clone(), c.name.clone());
    let mut chain = Vec::new();
    let mut attach = String::new();
    let mut child_ids = Vec::new();
    for part in ctx
        .desired
        .tables
        .values()
        .filter(|p| p.partition_of.as_ref().map(|(q, _)| q) == Some(t))
    {
        let pt = &part.name;
        if !ctx.current.tables.contains_key(pt) || ctx.created.contains(pt) {
            return None;
        }
        // The name the desired schema gives the partition's copy (a key of the partition's
        // own that the new key adopts keeps its name), else the one PostgreSQL generates.
        let copy = part
            .key_copies
            .iter()
            .find(|(_, k)| k.of == c.name)
            .map(|(n, k)| (n.clone(), k.definition.clone()));
        let name = copy
            .as_ref()
            .map_or_else(|| partition_key_name(pt, c), |(n, _)| n.clone());
        let child_index = QName::new(pt.schema.clone(), name.clone());
        // The partition has that key already, as its own: attached as it is (no build).
        let has_it = ctx
            .current
            .tables
            .get(pt)
            .and_then(|old| old.constraints.get(&name))
            .is_some_and(|old| {
                old.is_local
                    && old.parent_index.is_none()
                    && copy.as_ref().is_some_and(|(_, def)| *def == old.definition)
            });
        if !has_it && name_taken(ctx.desired, &child_index) {
            return None;
        }
        let cc = Constraint {
            name: name.clone(),
            is_local: true,
            parent_index: None,
            ..c.clone()
        };
        let child = con_id(pt, &cc);
        if has_it {
            // nothing to build: the key exists and stays
        } else if part.kind == TableKind::Partitioned {
            chain.extend(add_on_partitions(ctx, pt, &cc)?);
        } else if let Some(notes) = ctx.small(&[pt]) {
            let step = ctx
                .step(
                    format!("add constraint {name} on {pt} (to attach to {index})"),
                    format!(
                        "{} ADD CONSTRAINT {} {};",
                        alter_table(pt),
                        ident(&name),
                        cc.definition
                    ),
                    LockLevel::AccessExclusive,
                    Some(pt),
                )
                .notes(notes);
            let mut n = Node::new(step, child.clone());
            n.produces.push(child.clone());
            n.claims.push(child_index.clone());
            n.needs.push(ObjectId::Table(pt.clone()));
            chain.push(n);
        } else {
            chain.extend(add_using_index(ctx, pt, &cc)?);
        }
        attach.push_str(&format!(
            "\nALTER INDEX {} ATTACH PARTITION {};",
            qname(&index),
            qname(&child_index)
        ));
        child_ids.push(child);
    }
    let id = con_id(t, c);
    let step = ctx
        .step(
            format!("add constraint {} on {t} over its partitions' keys", c.name),
            format!(
                "ALTER TABLE ONLY {} ADD CONSTRAINT {} {};{attach}",
                qname(t),
                ident(&c.name),
                c.definition
            ),
            LockLevel::AccessExclusive,
            Some(t),
        )
        .note("made ON ONLY (no build) and the partitions' keys attached: catalog changes under a brief lock");
    let mut n = Node::new(step, id.clone());
    n.produces.push(id);
    n.claims.push(index);
    n.claims.extend(parents_keys_going(ctx, t));
    n.needs.push(ObjectId::Table(t.clone()));
    n.needs.extend(
        c.columns
            .iter()
            .map(|col| ObjectId::Column(t.clone(), col.as_str().into())),
    );
    n.needs.extend(child_ids);
    chain.push(n);
    Some(chain)
}

/// The name PostgreSQL gives a partition's copy of its partitioned table's key (`DefineIndex`
/// through `ChooseIndexName`): `<partition>_pkey`, or `<partition>_<columns>_key` for a
/// UNIQUE, shortened like `makeObjectName`. PostgreSQL appends a number when the name is
/// taken; the plan then takes the plain form instead ([`name_taken`]).
fn partition_key_name(partition: &QName, c: &Constraint) -> String {
    match c.kind {
        ConstraintKind::PrimaryKey => pg_object_name(&partition.name, None, "pkey"),
        _ => pg_object_name(&partition.name, Some(&c.columns.join("_")), "key"),
    }
}

/// Whether a relation (table, view, sequence, index, or the index of a key) of the desired
/// schema has the name `q`.
fn name_taken(s: &Schema, q: &QName) -> bool {
    s.tables.contains_key(q)
        || s.views.contains_key(q)
        || s.sequences.contains_key(q)
        || s.indexes.contains_key(q)
        || s.tables.values().any(|t| {
            t.name.schema == q.schema
                && t.constraints
                    .get(q.name.as_str())
                    .is_some_and(|k| index_name(&t.name, k).is_some())
        })
}

#[cfg(test)]
mod tests {
    use super::simple_key;

    #[test]
    fn simple_keys_split_into_their_parts() {
        assert_eq!(
            simple_key("PRIMARY KEY (id)"),
            Some(("PRIMARY KEY", "id", None, ""))
        );
        assert_eq!(
            simple_key("UNIQUE (a, \"B\") INCLUDE (c) DEFERRABLE INITIALLY DEFERRED"),
            Some((
                "UNIQUE",
                "a, \"B\"",
                Some("c"),
                " DEFERRABLE INITIALLY DEFERRED"
            ))
        );
    }

    #[test]
    fn anything_else_is_added_directly() {
        assert_eq!(simple_key("UNIQUE NULLS NOT DISTINCT (a)"), None);
        assert_eq!(simple_key("UNIQUE (a) WITH (fillfactor='70')"), None);
        assert_eq!(simple_key("CHECK ((a > 0))"), None);
    }
}
