//! Publications (`CREATE / ALTER / DROP PUBLICATION`) and their members (`ALTER PUBLICATION
//! ... ADD / DROP TABLE ONLY t`, `... TABLES IN SCHEMA s`), in pg_dump's form: the publication
//! with its options first, then one step per member, so a member waits for its table (and the
//! columns of its column list) and a table the plan drops leaves the publication first.
//!
//! Locks: creating, altering and dropping a publication take no table lock. Adding or removing
//! a table takes SHARE UPDATE EXCLUSIVE on it (`OpenTableList` in publicationcmds.c): reads and
//! writes go on, other DDL and VACUUM on the table wait. Schema members lock only the schema's
//! catalog row. Dropping a publication stops the subscriptions that read it (hazard
//! `replication`); removing a table stops them receiving that table's changes (a note).

use crate::model::*;
use crate::plan::graph::{Chain, Node, Rank};
use crate::plan::{Ctx, Hazard, LockLevel};
use crate::render::quote::{ident, literal, qname};

fn id(p: &Publication) -> ObjectId {
    ObjectId::Publication(p.name.as_str().into())
}

fn member_id(m: &PublicationTable) -> ObjectId {
    ObjectId::PublicationTable(m.publication.as_str().into(), m.table.clone())
}

/// The `WITH (...)` options: `publish` always (its default is all four), the others only when
/// not their default, as pg_dump writes them.
fn options(p: &Publication) -> String {
    let mut opts = vec![format!("publish = {}", literal(&p.publish.join(", ")))];
    if p.via_root {
        opts.push("publish_via_partition_root = true".to_string());
    }
    if let Some(g) = p.generated_columns.as_deref().filter(|g| *g != "none") {
        opts.push(format!("publish_generated_columns = {g}"));
    }
    opts.join(", ")
}

pub fn create(ctx: &Ctx, p: &Publication) -> Chain {
    let all = if p.all_tables { " FOR ALL TABLES" } else { "" };
    let step = ctx.step(
        format!("create publication {}", p.name),
        format!(
            "CREATE PUBLICATION {}{all} WITH ({});",
            ident(&p.name),
            options(p)
        ),
        LockLevel::None,
        None,
    );
    let mut n = Node::new(step, id(p));
    n.produces.push(id(p));
    vec![n]
}

pub fn drop(ctx: &Ctx, p: &Publication) -> Chain {
    let step = ctx
        .step(
            format!("drop publication {}", p.name),
            format!("DROP PUBLICATION {};", ident(&p.name)),
            LockLevel::None,
            None,
        )
        .hazard(Hazard::Replication)
        .note(
            "subscriptions reading this publication stop with an error until it exists again; \
             drop or alter them on the subscriber first",
        );
    let mut n = Node::new(step, id(p));
    n.removes.push(id(p));
    // The drop takes its members along (no step of their own): it releases what they read, so
    // it runs before a step that retypes or drops a column a member's column list or row
    // filter names (PostgreSQL refuses those while the member exists), and before its tables
    // are dropped.
    n.removes.extend(
        ctx.current
            .publication_tables
            .keys()
            .filter(|(name, _)| *name == p.name)
            .map(|(name, t)| ObjectId::PublicationTable(name.as_str().into(), t.clone())),
    );
    n.removes.extend(
        ctx.current
            .publication_schemas
            .iter()
            .filter(|(name, _)| *name == p.name)
            .map(|(name, s)| ObjectId::PublicationSchema(name.as_str().into(), s.as_str().into())),
    );
    n.rank = Rank::Drop;
    vec![n]
}

/// `ALTER PUBLICATION ... SET (...)`: every option written, so one statement sets them all.
pub fn alter(ctx: &Ctx, from: &Publication, to: &Publication) -> Chain {
    let mut opts = vec![format!("publish = {}", literal(&to.publish.join(", ")))];
    if from.via_root != to.via_root {
        opts.push(format!("publish_via_partition_root = {}", to.via_root));
    }
    if from.generated_columns != to.generated_columns {
        if let Some(g) = &to.generated_columns {
            opts.push(format!("publish_generated_columns = {g}"));
        }
    }
    let step = ctx.step(
        format!("alter publication {}", to.name),
        format!(
            "ALTER PUBLICATION {} SET ({});",
            ident(&to.name),
            opts.join(", ")
        ),
        LockLevel::None,
        None,
    );
    let mut n = Node::new(step, id(to));
    n.produces.push(id(to));
    // After the members that leave: one whose row filter names a column outside the replica
    // identity makes the table refuse UPDATEs once `publish` includes them (a backfill that
    // runs while it is away would fail).
    n.alters.push(id(to));
    vec![n]
}

/// `TABLE ONLY t (cols) WHERE (filter)`: ONLY, as pg_dump writes it, because inheritance
/// children are members of their own (a partition is published through its root).
fn member_clause(m: &PublicationTable) -> String {
    let mut s = format!("TABLE ONLY {}", qname(&m.table));
    if let Some(cols) = &m.columns {
        let cols: Vec<String> = cols.iter().map(|c| ident(c)).collect();
        s.push_str(&format!(" ({})", cols.join(", ")));
    }
    if let Some(f) = &m.row_filter {
        s.push_str(&format!(" WHERE ({f})"));
    }
    s
}

fn add_sql(m: &PublicationTable) -> String {
    format!(
        "ALTER PUBLICATION {} ADD {};",
        ident(&m.publication),
        member_clause(m)
    )
}

fn drop_sql(m: &PublicationTable) -> String {
    format!(
        "ALTER PUBLICATION {} DROP TABLE ONLY {};",
        ident(&m.publication),
        qname(&m.table)
    )
}

pub fn add_table(ctx: &Ctx, m: &PublicationTable) -> Chain {
    let step = ctx.step(
        format!("add table {} to publication {}", m.table, m.publication),
        add_sql(m),
        LockLevel::ShareUpdateExclusive,
        Some(&m.table),
    );
    let mut n = Node::new(step, member_id(m));
    n.produces.push(member_id(m));
    n.needs
        .push(ObjectId::Publication(m.publication.as_str().into()));
    vec![n]
}

/// Leaving for good, or for a while: a member the desired schema keeps leaves only because
/// the plan drops or retypes what it reads (or its table), and a later step adds it back.
pub fn drop_table(ctx: &Ctx, m: &PublicationTable) -> Chain {
    let back = ctx
        .desired
        .publication_tables
        .contains_key(&(m.publication.clone(), m.table.clone()));
    let note = if back {
        "the table leaves the publication while the plan changes what it reads (PostgreSQL \
         refuses that change while it is a member) and a later step adds it back: changes \
         committed in between are not published"
    } else {
        "subscriptions of this publication stop receiving this table's changes"
    };
    let step = ctx
        .step(
            format!("drop table {} from publication {}", m.table, m.publication),
            drop_sql(m),
            LockLevel::ShareUpdateExclusive,
            Some(&m.table),
        )
        .note(note);
    let mut n = Node::new(step, member_id(m));
    n.removes.push(member_id(m));
    // Before a change of the publication's options (see `alter`).
    n.releases
        .push(ObjectId::Publication(m.publication.as_str().into()));
    n.rank = Rank::Drop;
    vec![n]
}

/// A new column list or row filter: `DROP TABLE` and `ADD TABLE` in one transaction (there is
/// no per-table `SET`; `SET TABLE` would name every member), so no change is sent under
/// neither definition.
pub fn alter_table(ctx: &Ctx, from: &PublicationTable, to: &PublicationTable) -> Chain {
    let step = ctx.step(
        format!(
            "change table {} in publication {} (column list, row filter)",
            to.table, to.publication
        ),
        format!("{}\n{}", drop_sql(from), add_sql(to)),
        LockLevel::ShareUpdateExclusive,
        Some(&to.table),
    );
    let mut n = Node::new(step, member_id(to));
    n.produces.push(member_id(to));
    n.releases = ctx.released(&member_id(from));
    vec![n]
}

pub fn add_schema(ctx: &Ctx, publication: &str, schema: &str) -> Chain {
    let id = ObjectId::PublicationSchema(publication.into(), schema.into());
    let step = ctx.step(
        format!("add tables in schema {schema} to publication {publication}"),
        format!(
            "ALTER PUBLICATION {} ADD TABLES IN SCHEMA {};",
            ident(publication),
            ident(schema)
        ),
        LockLevel::None,
        None,
    );
    let mut n = Node::new(step, id.clone());
    n.produces.push(id);
    n.needs
        .push(ObjectId::Publication(publication.to_string().into()));
    n.needs.push(ObjectId::Schema(schema.to_string().into()));
    vec![n]
}

pub fn drop_schema(ctx: &Ctx, publication: &str, schema: &str) -> Chain {
    let id = ObjectId::PublicationSchema(publication.into(), schema.into());
    let step = ctx
        .step(
            format!("drop tables in schema {schema} from publication {publication}"),
            format!(
                "ALTER PUBLICATION {} DROP TABLES IN SCHEMA {};",
                ident(publication),
                ident(schema)
            ),
            LockLevel::None,
            None,
        )
        .note(
            "subscriptions of this publication stop receiving the changes of this schema's tables",
        );
    let mut n = Node::new(step, id.clone());
    n.removes.push(id);
    n.rank = Rank::Drop;
    vec![n]
}
