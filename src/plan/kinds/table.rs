//! Tables: create (ordinary, partitioned, partitions, inheritance children, foreign), drop,
//! and table-level properties (logged, storage options, RLS, replica identity, inheritance).
//! What only foreign tables have (server, options, `DROP FOREIGN TABLE`) is in
//! `foreign_table.rs`.

use super::{column, foreign_table, partition};
use crate::diff::{Change, TableChange};
use crate::model::*;
use crate::plan::graph::{Chain, Node, Rank};
use crate::plan::{alter_table, Ctx, Hazard, LockLevel};
use crate::render::quote::{ident, qname};
use std::collections::BTreeSet;

fn create_sql(t: &Table, parent: Option<&Table>) -> String {
    let unlogged = if t.unlogged { "UNLOGGED " } else { "" };
    let kw = if t.is_foreign() {
        "FOREIGN TABLE"
    } else {
        "TABLE"
    };
    let name = qname(&t.name);
    let mut sql = match &t.partition_of {
        Some((p, bound)) => format!(
            "CREATE {unlogged}{kw} {name} PARTITION OF {} {bound}",
            qname(p)
        ),
        None => {
            let cols: Vec<String> = t
                .columns
                .iter()
                .filter(|c| c.declared_locally())
                .map(|c| format!("    {}", column::definition(&t.name, c)))
                .collect();
            let body = if cols.is_empty() {
                "()".to_string()
            } else {
                format!("(\n{}\n)", cols.join(",\n"))
            };
            let mut s = format!("CREATE {unlogged}{kw} {name} {body}");
            if !t.inherits.is_empty() {
                let p: Vec<String> = t.inherits.iter().map(qname).collect();
                s.push_str(&format!(" INHERITS ({})", p.join(", ")));
            }
            s
        }
    };
    match &t.foreign {
        Some(f) => {
            sql.push_str(&foreign_table::server_clause(f));
            if t.partition_of.is_some() {
                sql.push_str(&foreign_table::partition_column_options(t));
            }
        }
        None => sql.push_str(&storage_clauses(t)),
    }
    for extra in partition_column_fixes(t, parent) {
        sql.push_str(&format!("\n{} {extra};", alter_table(&t.name)));
    }
    for extra in properties_sql(t) {
        sql.push_str(&format!("\n{} {extra};", alter_table(&t.name)));
    }
    for c in &t.columns {
        for extra in column::settings(c) {
            sql.push_str(&format!("\n{} {extra};", alter_table(&t.name)));
        }
    }
    sql
}

/// A partition takes its columns from the parent; defaults and NOT NULL set on the partition
/// itself are applied after it is created.
fn partition_column_fixes(t: &Table, parent: Option<&Table>) -> Vec<String> {
    let Some(parent) = parent else {
        return Vec::new();
    };
    let mut v = Vec::new();
    for c in &t.columns {
        let p = parent.column(&c.name);
        let (pdef, pnn) = p
            .map(|p| (p.default.clone(), p.not_null))
            .unwrap_or((None, false));
        if c.default != pdef {
            match &c.default {
                Some(d) => v.push(format!("ALTER COLUMN {} SET DEFAULT {d}", ident(&c.name))),
                None => v.push(format!("ALTER COLUMN {} DROP DEFAULT", ident(&c.name))),
            }
        }
        if c.not_null && !pnn {
            v.push(format!("ALTER COLUMN {} SET NOT NULL", ident(&c.name)));
        }
    }
    v
}

/// Properties a fresh table gets after `CREATE TABLE`.
fn properties_sql(t: &Table) -> Vec<String> {
    let mut v = Vec::new();
    if t.rls_enabled {
        v.push("ENABLE ROW LEVEL SECURITY".to_string());
    }
    if t.rls_forced {
        v.push("FORCE ROW LEVEL SECURITY".to_string());
    }
    if !matches!(
        t.replica_identity,
        ReplicaIdentity::Default | ReplicaIdentity::Index(_)
    ) {
        v.push(replica_identity_sql(&t.replica_identity));
    }
    v
}

fn replica_identity_sql(r: &ReplicaIdentity) -> String {
    match r {
        ReplicaIdentity::Default => "REPLICA IDENTITY DEFAULT".into(),
        ReplicaIdentity::Nothing => "REPLICA IDENTITY NOTHING".into(),
        ReplicaIdentity::Full => "REPLICA IDENTITY FULL".into(),
        ReplicaIdentity::Index(i) => format!("REPLICA IDENTITY USING INDEX {}", ident(i)),
    }
}

fn replica_index_needs(t: &Table) -> Vec<ObjectId> {
    match &t.replica_identity {
        ReplicaIdentity::Index(i) => vec![
            ObjectId::Index(QName::new(t.name.schema.clone(), i.clone())),
            ObjectId::Constraint(t.name.clone(), i.as_str().into()),
        ],
        _ => Vec::new(),
    }
}

/// New partitions that must be attached rather than created `PARTITION OF`: one of their own
/// PRIMARY KEY / UNIQUE / EXCLUDE constraints is attached, in the desired schema, to an index of
/// the partitioned table that exists before the plan and stays. `CREATE TABLE ... PARTITION OF`
/// would give the partition a copy of that index under a generated name, and the constraint a
/// second, unattached index; `ATTACH PARTITION` adopts the matching index the constraint made.
pub(crate) fn attach_later(current: &Schema, changes: &[Change]) -> BTreeSet<QName> {
    let touched: BTreeSet<&QName> = changes
        .iter()
        .filter_map(|c| match c {
            Change::CreateIndex(i) | Change::DropIndex(i) => Some(&i.name),
            Change::ReplaceIndex { from, .. } => Some(&from.name),
            _ => None,
        })
        .collect();
    changes
        .iter()
        .filter_map(|c| match c {
            Change::CreateTable(t) if t.partition_of.is_some() => Some(t),
            _ => None,
        })
        .filter(|t| {
            adopted(t).any(|(_, p)| current.indexes.contains_key(p) && !touched.contains(p))
        })
        .map(|t| t.name.clone())
        .collect()
}

/// The table's constraints whose index is attached to a partitioned index, with that index.
fn adopted(t: &Table) -> impl Iterator<Item = (&Constraint, &QName)> {
    t.constraints
        .values()
        .filter(|c| c.is_local)
        .filter_map(|c| c.parent_index.as_ref().map(|p| (c, p)))
}

/// CHECK constraints a table attached as a partition must already have: those of its
/// partitioned table and that table's ancestors (`NO INHERIT` ones excepted), as `(name,
/// definition)`.
fn inherited_checks(schema: &Schema, t: &Table) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut at = t.partition_of.as_ref().map(|(p, _)| p);
    let mut seen = BTreeSet::new();
    while let Some(p) = at {
        let Some(parent) = schema.tables.get(p) else {
            break;
        };
        if !seen.insert(p) {
            break;
        }
        for c in parent.constraints.values() {
            if c.kind == ConstraintKind::Check && !c.definition.ends_with(" NO INHERIT") {
                out.push((c.name.clone(), c.definition.clone()));
            }
        }
        at = parent.partition_of.as_ref().map(|(q, _)| q);
    }
    out
}

/// A new partition made the way `pg_dump` restores one (see [`attach_later`]): a table of its
/// own with the partition's columns, the CHECKs of its ancestors and its constraints whose
/// indexes the partitioned table's indexes adopt; then `ATTACH PARTITION`, which attaches those
/// indexes, creates the partition's copies of the other partitioned indexes and keys, and
/// clones foreign keys and triggers. The table is new and empty: attaching scans nothing.
fn create_then_attach(ctx: &Ctx, t: &Table, parent: &QName, bound: &str) -> Chain {
    let id = ObjectId::Table(t.name.clone());
    let name = qname(&t.name);
    let at = alter_table(&t.name);
    let cols: Vec<String> = t
        .columns
        .iter()
        .map(|c| format!("    {}", column::definition(&t.name, c)))
        .collect();
    let unlogged = if t.unlogged { "UNLOGGED " } else { "" };
    let mut sql = format!("CREATE {unlogged}TABLE {name} (\n{}\n)", cols.join(",\n"));
    sql.push_str(&storage_clauses(t));
    for (cname, def) in inherited_checks(ctx.desired, t) {
        sql.push_str(&format!("\n{at} ADD CONSTRAINT {} {def};", ident(&cname)));
    }
    let mut adopted_ids = Vec::new();
    let mut claims = vec![t.name.clone()];
    for (c, _) in adopted(t) {
        sql.push_str(&format!(
            "\n{at} ADD CONSTRAINT {} {};",
            ident(&c.name),
            c.definition
        ));
        adopted_ids.push(ObjectId::Constraint(t.name.clone(), c.name.as_str().into()));
        claims.push(QName::new(t.name.schema.clone(), c.name.clone()));
    }
    for extra in properties_sql(t) {
        sql.push_str(&format!("\n{at} {extra};"));
    }
    let step = ctx
        .step(
            format!("create table {} (to attach as a partition)", t.name),
            sql,
            LockLevel::None,
            None,
        )
        .note(format!(
            "made apart and then attached, so that the indexes of {parent} adopt its own keys"
        ));
    let mut first = Node::new(step, id.clone());
    first.produces.extend(
        t.columns
            .iter()
            .map(|c| ObjectId::Column(t.name.clone(), c.name.clone())),
    );
    first.produces.extend(adopted_ids);
    // The table as such is there once attached (below); what is made here only needs it made.
    first.ignore_needs.push(id.clone());
    first.claims = claims;
    let step = ctx.step(
        format!("attach {} as a partition of {parent}", t.name),
        format!("{} ATTACH PARTITION {name} {bound};", alter_table(parent)),
        LockLevel::ShareUpdateExclusive,
        Some(parent),
    );
    let mut attach = Node::new(step, id.clone());
    attach.produces.push(id);
    attach.needs.push(ObjectId::Table(parent.clone()));
    for i in ctx.desired.indexes.values().filter(|i| i.table == t.name) {
        if i.parent_index
            .as_ref()
            .is_some_and(|p| ctx.current.indexes.contains_key(p))
        {
            attach.produces.push(ObjectId::Index(i.name.clone()));
            attach.claims.push(i.name.clone());
        }
    }
    vec![first, attach]
}

pub fn create(ctx: &Ctx, t: &Table) -> Chain {
    if let (true, Some((parent, bound))) = (ctx.attach_later.contains(&t.name), &t.partition_of) {
        return create_then_attach(ctx, t, parent, bound);
    }
    let id = ObjectId::Table(t.name.clone());
    let parent = t
        .partition_of
        .as_ref()
        .and_then(|(p, _)| ctx.desired.tables.get(p));
    let lock_on = t
        .partition_of
        .as_ref()
        .map(|(p, _)| p)
        .or(t.inherits.first());
    let lock = if lock_on.is_some() {
        LockLevel::AccessExclusive
    } else {
        LockLevel::None
    };
    let what = if t.is_foreign() {
        "foreign table"
    } else {
        "table"
    };
    let step = ctx.step(
        format!("create {what} {}", t.name),
        create_sql(t, parent),
        lock,
        lock_on,
    );
    let mut n = Node::new(step, id.clone());
    n.produces.push(id);
    if let Some(f) = &t.foreign {
        n.needs
            .push(ObjectId::ForeignServer(f.server.as_str().into()));
    }
    n.produces.extend(
        t.columns
            .iter()
            .map(|c| ObjectId::Column(t.name.clone(), c.name.clone())),
    );
    n.needs
        .extend(t.inherits.iter().map(|p| ObjectId::Table(p.clone())));
    if let Some((p, _)) = &t.partition_of {
        n.needs.push(ObjectId::Table(p.clone()));
    }
    n.claims.push(t.name.clone());
    // Identity columns create their sequences under generated names.
    for c in t
        .columns
        .iter()
        .filter(|c| c.identity.is_some() && c.declared_locally())
    {
        let seq = pg_object_name(&t.name.name, Some(&c.name), "seq");
        n.claims.push(QName::new(t.name.schema.clone(), seq));
    }
    // A partition gets copies of its parent's existing partitioned indexes.
    for i in ctx.desired.indexes.values().filter(|i| i.table == t.name) {
        if i.parent_index
            .as_ref()
            .is_some_and(|p| ctx.current.indexes.contains_key(p))
        {
            n.produces.push(ObjectId::Index(i.name.clone()));
            n.claims.push(i.name.clone());
        }
    }
    // REPLICA IDENTITY USING INDEX needs its index: set it in a later step instead.
    if !replica_index_needs(t).is_empty() {
        let mut rest = alter_replica_identity(ctx, t);
        rest.insert(0, n);
        return rest;
    }
    vec![n]
}

fn alter_replica_identity(ctx: &Ctx, t: &Table) -> Chain {
    let step = ctx.step(
        format!("set replica identity of {}", t.name),
        format!(
            "{} {};",
            alter_table(&t.name),
            replica_identity_sql(&t.replica_identity)
        ),
        LockLevel::AccessExclusive,
        Some(&t.name),
    );
    let mut n = Node::new(step, ObjectId::Table(t.name.clone()));
    n.needs = replica_index_needs(t);
    vec![n]
}

/// Everything PostgreSQL drops together with the table (owned sequences that the desired
/// schema keeps are detached first by the diff, so they are not among them; partitions
/// moving to the table created again, detached first, neither).
fn owned_parts(ctx: &Ctx, t: &Table) -> Vec<ObjectId> {
    let (schema, desired) = (ctx.current, ctx.desired);
    let mut v: Vec<ObjectId> = t
        .columns
        .iter()
        .map(|c| ObjectId::Column(t.name.clone(), c.name.clone()))
        .collect();
    // Foreign keys to other tables are dropped by their own step first (see the diff).
    v.extend(
        t.constraints
            .values()
            .filter(|c| !c.references_other_table(&t.name))
            .map(|c| ObjectId::Constraint(t.name.clone(), c.name.as_str().into())),
    );
    v.extend(
        schema
            .indexes
            .values()
            .filter(|i| i.table == t.name)
            .map(|i| ObjectId::Index(i.name.clone())),
    );
    v.extend(
        schema
            .triggers
            .keys()
            .filter(|k| k.0 == t.name)
            .map(|k| ObjectId::Trigger(k.0.clone(), k.1.as_str().into())),
    );
    v.extend(
        schema
            .policies
            .keys()
            .filter(|k| k.0 == t.name)
            .map(|k| ObjectId::Policy(k.0.clone(), k.1.as_str().into())),
    );
    v.extend(
        schema
            .rules
            .keys()
            .filter(|k| k.0 == t.name)
            .map(|k| ObjectId::Rule(k.0.clone(), k.1.as_str().into())),
    );
    v.extend(
        schema
            .statistics
            .values()
            .filter(|s| s.table == t.name)
            .map(|s| ObjectId::Statistics(s.name.clone())),
    );
    v.extend(
        schema
            .sequences
            .values()
            .filter(|s| s.owned_by.as_ref().is_some_and(|(ot, _)| *ot == t.name))
            .filter(|s| !desired.sequences.contains_key(&s.name))
            .map(|s| ObjectId::Sequence(s.name.clone())),
    );
    // Partitions go with their partitioned table, with their own parts (a foreign key of
    // another table using a partition's index holds the whole tree).
    for c in schema
        .tables
        .values()
        .filter(|c| c.partition_of.as_ref().is_some_and(|(p, _)| *p == t.name))
        .filter(|c| !ctx.reparented(&c.name))
    {
        v.push(ObjectId::Table(c.name.clone()));
        v.extend(owned_parts(ctx, c));
    }
    v
}

/// Whether a foreign key of the current schema references `t` or one of its partitioned
/// ancestors (other than from `t` itself).
fn referenced_through_ancestors(schema: &Schema, t: &Table) -> Option<QName> {
    let mut at = t.partition_of.as_ref().map(|(p, _)| p);
    let mut hops = 0;
    while let Some(p) = at {
        let referenced = schema.tables.values().any(|o| {
            o.name != t.name
                && o.constraints.values().any(|c| {
                    c.kind == ConstraintKind::ForeignKey && c.references.as_ref() == Some(p)
                })
        });
        if referenced {
            return t.partition_of.as_ref().map(|(q, _)| q.clone());
        }
        hops += 1;
        if hops > 64 {
            break;
        }
        at = schema
            .tables
            .get(p)
            .and_then(|x| x.partition_of.as_ref())
            .map(|(q, _)| q);
    }
    None
}

pub fn drop(ctx: &Ctx, t: &Table) -> Chain {
    if t.is_foreign() {
        let parts = owned_parts(ctx, t);
        return foreign_table::drop(ctx, t, parts);
    }
    let id = ObjectId::Table(t.name.clone());
    // A partition of a partitioned table that foreign keys reference holds the keys' copies
    // for its rows: PostgreSQL refuses to drop it ("constraint ... depends on table ...") until
    // it is detached (which checks that no referencing row points into it).
    let detach = referenced_through_ancestors(ctx.current, t)
        .map(|parent| {
            format!(
                "{} DETACH PARTITION {};\n",
                alter_table(&parent),
                qname(&t.name)
            )
        })
        .unwrap_or_default();
    let mut step = ctx
        .step(
            format!("drop table {}", t.name),
            format!("{detach}DROP TABLE {};", qname(&t.name)),
            LockLevel::AccessExclusive,
            Some(&t.name),
        )
        .hazard(Hazard::DataLoss);
    // A partitioned table created again keeping its rows: its partitions were detached by
    // earlier steps and hold the rows; the inverse plan moves them back the same way. Those
    // the desired schema drops go with it (their rows are lost: `data-loss`). With none of
    // those no row is lost, but `data-loss` stays: the plan file's honesty check reads only
    // the SQL, where a `DROP TABLE` may drop rows, and trusts no note to say otherwise.
    let moved = ctx.rekeyed.contains(&t.name);
    let all_moved = moved
        && ctx.current.tables.values().all(|c| {
            c.partition_of.as_ref().is_none_or(|(p, _)| *p != t.name) || ctx.reparented(&c.name)
        });
    if all_moved {
        step = step.note(
            "its partitions were detached before and keep their rows (they are attached to the \
             table created again below): the partitioned table holds no rows of its own",
        );
    } else {
        step = step.hazard(Hazard::Irreversible);
        if moved {
            step = step.note(
                "its partitions that stay were detached before and keep their rows; those the \
                 schema drops go with it",
            );
        }
    }
    if !detach.is_empty() {
        step = step.note(
            "detached first: foreign keys reference its partitioned table, and PostgreSQL drops \
             such a partition only once detached",
        );
    }
    let mut n = Node::new(step, id.clone());
    n.removes.push(id);
    n.removes.extend(owned_parts(ctx, t));
    n.frees.push(t.name.clone());
    n.rank = Rank::Drop;
    vec![n]
}

pub fn alter(ctx: &Ctx, from: &Table, to: &Table, kinds: &[TableChange]) -> Chain {
    let at = alter_table(&to.name);
    let mut sql = Vec::new();
    let mut hazards = Vec::new();
    let mut needs = Vec::new();
    for k in kinds {
        match k {
            TableChange::Logged => {
                let l = if to.unlogged { "UNLOGGED" } else { "LOGGED" };
                sql.push(format!("{at} SET {l};"));
                hazards.push(Hazard::TableRewrite);
            }
            TableChange::Options => {
                let gone: Vec<String> = from
                    .options
                    .iter()
                    .map(|o| o.split('=').next().unwrap_or(o).to_string())
                    .filter(|k| !to.options.iter().any(|o| o.split('=').next() == Some(k)))
                    .collect();
                if !gone.is_empty() {
                    sql.push(format!("{at} RESET ({});", gone.join(", ")));
                }
                if !to.options.is_empty() {
                    sql.push(format!("{at} SET ({});", to.options.join(", ")));
                }
            }
            TableChange::RowLevelSecurity => {
                let v = if to.rls_enabled { "ENABLE" } else { "DISABLE" };
                sql.push(format!("{at} {v} ROW LEVEL SECURITY;"));
            }
            TableChange::ForceRowLevelSecurity => {
                let v = if to.rls_forced { "FORCE" } else { "NO FORCE" };
                sql.push(format!("{at} {v} ROW LEVEL SECURITY;"));
            }
            TableChange::ReplicaIdentity => {
                sql.push(format!(
                    "{at} {};",
                    replica_identity_sql(&to.replica_identity)
                ));
                needs.extend(replica_index_needs(to));
            }
            TableChange::Inherits => {
                for p in from.inherits.iter().filter(|p| !to.inherits.contains(p)) {
                    sql.push(format!("{at} NO INHERIT {};", qname(p)));
                }
                for p in to.inherits.iter().filter(|p| !from.inherits.contains(p)) {
                    sql.push(format!("{at} INHERIT {};", qname(p)));
                    needs.push(ObjectId::Table(p.clone()));
                }
            }
            TableChange::AccessMethod => {
                let am = to.access_method.clone().unwrap_or_else(|| "heap".into());
                sql.push(format!("{at} SET ACCESS METHOD {};", ident(&am)));
                hazards.push(Hazard::TableRewrite);
            }
            // Its own steps, around the column and constraint changes (below).
            TableChange::Partition => {}
            TableChange::ForeignOptions => {
                if let (Some(a), Some(b)) = (&from.foreign, &to.foreign) {
                    sql.push(foreign_table::alter_options(&to.name, a, b));
                }
            }
        }
    }
    let mut chain = Vec::new();
    let attach = kinds
        .contains(&TableChange::Partition)
        .then(|| partition::attach(ctx, from, to))
        .flatten();
    let (before_detach, after_detach, attach) = match attach {
        Some(a) => (a.before_detach, a.after_detach, Some(a.attach)),
        None => (Vec::new(), Vec::new(), None),
    };
    chain.extend(before_detach);
    if kinds.contains(&TableChange::Partition) {
        chain.extend(partition::detach(ctx, from, to));
    }
    if !sql.is_empty() {
        chain.push(alter_node(ctx, to, sql, hazards, needs));
    }
    chain.extend(after_detach);
    chain.extend(attach);
    chain
}

fn alter_node(
    ctx: &Ctx,
    to: &Table,
    sql: Vec<String>,
    hazards: Vec<Hazard>,
    needs: Vec<ObjectId>,
) -> Node {
    let mut step = ctx.step(
        format!("alter table {}", to.name),
        sql.join("\n"),
        LockLevel::AccessExclusive,
        Some(&to.name),
    );
    // A rewrite of an empty or small table takes milliseconds: no hazard, a note saying why.
    if !hazards.is_empty() {
        match ctx.small(&[&to.name]) {
            Some(notes) => step = step.notes(notes),
            None => {
                for h in hazards {
                    step = ctx.long(step.hazard(h));
                }
            }
        }
    }
    let mut n = Node::new(step, ObjectId::Table(to.name.clone()));
    n.needs = needs;
    n
}

/// What follows a `CREATE TABLE`'s parentheses: `PARTITION BY`, `USING` and `WITH (...)`,
/// and the closing `;`.
fn storage_clauses(t: &Table) -> String {
    let mut sql = String::new();
    if let Some(k) = &t.partition_key {
        sql.push_str(&format!(" PARTITION BY {k}"));
    }
    if let Some(am) = &t.access_method {
        sql.push_str(&format!(" USING {}", ident(am)));
    }
    if !t.options.is_empty() {
        sql.push_str(&format!(" WITH ({})", t.options.join(", ")));
    }
    sql.push(';');
    sql
}
