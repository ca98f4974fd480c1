//! Enum, composite, range and domain types.

use crate::diff::EnumPosition;
use crate::model::*;
use crate::plan::graph::{Chain, Node, Rank};
use crate::plan::{Ctx, Hazard, LockLevel, Step};
use crate::render::quote::{ident, literal, qname};

fn collate(c: &Option<QName>) -> String {
    c.as_ref()
        .map(|q| format!(" COLLATE {}", qname(q)))
        .unwrap_or_default()
}

fn create_sql(t: &TypeDef) -> String {
    let name = qname(&t.name);
    match &t.kind {
        TypeKind::Enum(labels) => {
            let l: Vec<String> = labels.iter().map(|s| literal(s)).collect();
            format!("CREATE TYPE {name} AS ENUM ({});", l.join(", "))
        }
        TypeKind::Composite(attrs) => {
            let a: Vec<String> = attrs
                .iter()
                .map(|a| {
                    format!(
                        "{} {}{}",
                        ident(&a.name),
                        a.type_name,
                        collate(&a.collation)
                    )
                })
                .collect();
            format!("CREATE TYPE {name} AS ({});", a.join(", "))
        }
        TypeKind::Range { subtype, options } => {
            let mut o = vec![format!("subtype = {subtype}")];
            o.extend(options.iter().cloned());
            format!("CREATE TYPE {name} AS RANGE ({});", o.join(", "))
        }
        TypeKind::Domain(d) => {
            let mut s = format!(
                "CREATE DOMAIN {name} AS {}{}",
                d.base_type,
                collate(&d.collation)
            );
            if let Some(def) = &d.default {
                s.push_str(&format!(" DEFAULT {def}"));
            }
            if d.not_null {
                s.push_str(" NOT NULL");
            }
            for (cname, c) in d.constraints.iter().filter(|(_, c)| c.validated) {
                s.push_str(&format!(" CONSTRAINT {} {}", ident(cname), c.definition));
            }
            s.push(';');
            for (cname, c) in d.constraints.iter().filter(|(_, c)| !c.validated) {
                s.push_str(&format!(
                    "\nALTER DOMAIN {name} ADD CONSTRAINT {} {} NOT VALID;",
                    ident(cname),
                    c.definition
                ));
            }
            s
        }
    }
}

fn domain_constraint_ids(t: &TypeDef) -> Vec<ObjectId> {
    match &t.kind {
        TypeKind::Domain(d) => d
            .constraints
            .keys()
            .map(|c| ObjectId::DomainConstraint(t.name.clone(), c.as_str().into()))
            .collect(),
        _ => Vec::new(),
    }
}

fn word(t: &TypeDef) -> &'static str {
    match t.kind {
        TypeKind::Domain(_) => "domain",
        _ => "type",
    }
}

pub fn create(ctx: &Ctx, t: &TypeDef) -> Chain {
    let id = ObjectId::Type(t.name.clone());
    let step = ctx.step(
        format!("create {} {}", word(t), t.name),
        create_sql(t),
        LockLevel::None,
        None,
    );
    let mut n = Node::new(step, id.clone());
    n.produces.push(id);
    n.produces.extend(domain_constraint_ids(t));
    n.claims.push(t.name.clone());
    vec![n]
}

pub fn drop(ctx: &Ctx, t: &TypeDef) -> Chain {
    let id = ObjectId::Type(t.name.clone());
    let kw = if word(t) == "domain" {
        "DOMAIN"
    } else {
        "TYPE"
    };
    let step = ctx.step(
        format!("drop {} {}", word(t), t.name),
        format!("DROP {kw} {};", qname(&t.name)),
        LockLevel::None,
        None,
    );
    let mut n = Node::new(step, id.clone());
    n.removes.push(id);
    n.removes.extend(domain_constraint_ids(t));
    n.frees.push(t.name.clone());
    n.rank = Rank::Drop;
    vec![n]
}

/// `ALTER TYPE ... ADD VALUE` runs outside a transaction: a value added in a transaction
/// cannot be used before it commits, and before PostgreSQL 12 it is refused in one.
pub fn add_enum_value(ctx: &Ctx, ty: &QName, value: &str, pos: &EnumPosition) -> Chain {
    let id = ObjectId::Type(ty.clone());
    let at = match pos {
        EnumPosition::Last => String::new(),
        EnumPosition::Before(l) => format!(" BEFORE {}", literal(l)),
        EnumPosition::After(l) => format!(" AFTER {}", literal(l)),
    };
    let step = ctx
        .step(
            format!("add value {value:?} to enum {ty}"),
            format!("ALTER TYPE {} ADD VALUE {}{at};", qname(ty), literal(value)),
            LockLevel::None,
            None,
        )
        .non_transactional();
    let mut n = Node::new(step, id.clone());
    n.produces.push(id);
    vec![n]
}

/// A composite type changed in place: its dropped attributes dropped, its new ones added (at
/// the end: `diff::types` sends any other change to a replacement), in one `ALTER TYPE`.
/// PostgreSQL takes ACCESS EXCLUSIVE on the type's own `pg_class` row only; the tables whose
/// columns use the type are not locked nor rewritten (an added attribute reads NULL in stored
/// values). A dropped attribute's values are gone from every column using the type: data loss.
pub fn alter_composite(ctx: &Ctx, name: &QName, from: &[Attribute], to: &[Attribute]) -> Chain {
    let id = ObjectId::Type(name.clone());
    let dropped: Vec<&Attribute> = from
        .iter()
        .filter(|a| !to.iter().any(|b| b.name == a.name))
        .collect();
    let added: Vec<&Attribute> = to
        .iter()
        .filter(|b| !from.iter().any(|a| a.name == b.name))
        .collect();
    let mut actions: Vec<String> = dropped
        .iter()
        .map(|a| format!("DROP ATTRIBUTE {}", ident(&a.name)))
        .collect();
    actions.extend(added.iter().map(|a| {
        format!(
            "ADD ATTRIBUTE {} {}{}",
            ident(&a.name),
            a.type_name,
            collate(&a.collation)
        )
    }));
    let names = |v: &[&Attribute]| {
        v.iter()
            .map(|a| a.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut what = Vec::new();
    if !dropped.is_empty() {
        what.push(format!("drop attribute(s) {}", names(&dropped)));
    }
    if !added.is_empty() {
        what.push(format!("add attribute(s) {}", names(&added)));
    }
    let mut step = ctx.step(
        format!("alter composite type {name}: {}", what.join(", ")),
        format!(
            "ALTER TYPE {}\n    {};",
            qname(name),
            actions.join(",\n    ")
        ),
        LockLevel::AccessExclusive,
        Some(name),
    );
    if !dropped.is_empty() {
        step = step
            .hazard(Hazard::DataLoss)
            .note("the dropped attributes' values are gone from every column using the type");
    }
    let mut n = Node::new(step, id.clone());
    n.produces.push(id);
    vec![n]
}

/// `recreate`: CHECKs dropped and added again with the same text (what they call is re-created).
pub fn alter_domain(
    ctx: &Ctx,
    name: &QName,
    from: &Domain,
    to: &Domain,
    recreate: &[String],
) -> Chain {
    let q = qname(name);
    let mut sql = Vec::new();
    let mut removes = Vec::new();
    let mut produces = vec![ObjectId::Type(name.clone())];
    let again = |c: &String| recreate.contains(c);
    for (c, old) in &from.constraints {
        if again(c)
            || to
                .constraints
                .get(c)
                .is_none_or(|new| new.definition != old.definition)
        {
            sql.push(format!("ALTER DOMAIN {q} DROP CONSTRAINT {};", ident(c)));
            removes.push(ObjectId::DomainConstraint(name.clone(), c.as_str().into()));
        }
    }
    if from.default != to.default {
        match &to.default {
            Some(d) => sql.push(format!("ALTER DOMAIN {q} SET DEFAULT {d};")),
            None => sql.push(format!("ALTER DOMAIN {q} DROP DEFAULT;")),
        }
    }
    if from.not_null != to.not_null {
        let verb = if to.not_null { "SET" } else { "DROP" };
        sql.push(format!("ALTER DOMAIN {q} {verb} NOT NULL;"));
    }
    // New CHECKs are added NOT VALID (no scan, a lock on the domain only) and validated in
    // steps of their own, so the scan is separate and visible in the plan. PostgreSQL takes
    // SHARE locks on the tables using the domain while validating.
    let mut to_validate = Vec::new();
    for (c, new) in &to.constraints {
        match from.constraints.get(c) {
            Some(old) if old.definition == new.definition && !again(c) => {
                if !old.validated && new.validated {
                    to_validate.push(c.clone());
                } else if old.validated && !new.validated {
                    sql.push(format!("ALTER DOMAIN {q} DROP CONSTRAINT {};", ident(c)));
                    sql.push(format!(
                        "ALTER DOMAIN {q} ADD CONSTRAINT {} {} NOT VALID;",
                        ident(c),
                        new.definition
                    ));
                }
            }
            _ => {
                sql.push(format!(
                    "ALTER DOMAIN {q} ADD CONSTRAINT {} {} NOT VALID;",
                    ident(c),
                    new.definition
                ));
                produces.push(ObjectId::DomainConstraint(name.clone(), c.as_str().into()));
                if new.validated {
                    to_validate.push(c.clone());
                }
            }
        }
    }
    let mut chain = Vec::new();
    // Constraints that go are dropped in a step of their own when the domain also gets new
    // ones: a CHECK calling a function the plan re-creates must go before the old function is
    // dropped, and its replacement can only be added after the new one exists.
    let dropped = removes.len();
    if dropped > 0 && sql.len() > dropped {
        let drops: Vec<String> = sql.drain(..dropped).collect();
        let step = ctx.step(
            format!("drop constraints of domain {name}"),
            drops.join("\n"),
            LockLevel::Share,
            None,
        );
        let mut n = Node::new(step, ObjectId::Type(name.clone()));
        n.removes = std::mem::take(&mut removes);
        chain.push(n);
    }
    if !sql.is_empty() {
        let mut step = ctx.step(
            format!("alter domain {name}"),
            sql.join("\n"),
            LockLevel::Share,
            None,
        );
        if !from.not_null && to.not_null {
            step = ctx
                .long(step)
                .note("SET NOT NULL checks every column of this domain: scans the tables using it");
        }
        let mut n = Node::new(step, ObjectId::Type(name.clone()));
        n.produces = produces;
        n.removes = removes;
        chain.push(n);
    }
    for c in to_validate {
        let step = ctx
            .long(ctx.step(
                format!("validate constraint {c} on domain {name}"),
                format!("ALTER DOMAIN {q} VALIDATE CONSTRAINT {};", ident(&c)),
                LockLevel::Share,
                None,
            ))
            .note("scans the tables using this domain under SHARE locks: reads go on, writes wait");
        chain.push(Node::new(
            step,
            ObjectId::DomainConstraint(name.clone(), c.into()),
        ));
    }
    chain
}

/// Replaces a type that columns use without dropping them: rename the old type aside, create
/// the new one under the name, convert each column through its text form (dropping its
/// current default before the conversion and setting the desired one after), drop the old
/// type. Each conversion rewrites the table under ACCESS EXCLUSIVE and fails if a value has
/// no place in the new type.
pub fn swap(ctx: &Ctx, from: &TypeDef, to: &TypeDef, columns: &[(QName, Column)]) -> Chain {
    let id = ObjectId::Type(to.name.clone());
    let aside = QName::new(from.name.schema.clone(), aside_name(&from.name.name));
    let mut rename = ctx.step(
        format!("rename {} {} aside", word(from), from.name),
        format!(
            "ALTER {} {} RENAME TO {};",
            if word(from) == "domain" {
                "DOMAIN"
            } else {
                "TYPE"
            },
            qname(&from.name),
            ident(&aside.name)
        ),
        LockLevel::None,
        None,
    );
    rename = rename.note("columns keep using the old type until they are converted below");
    let mut n1 = Node::new(rename, id.clone());
    n1.removes.push(id.clone());
    n1.removes.extend(domain_constraint_ids(from));
    n1.frees.push(from.name.clone());
    let mut chain = vec![n1];
    chain.extend(create(ctx, to));
    for (table, col) in columns {
        let c = ident(&col.name);
        let mut parts = Vec::new();
        // The default in place now is dropped around the conversion whether or not the
        // desired column keeps one: PostgreSQL refuses to convert a column whose default does
        // not cast automatically to the new type ("default for column ... cannot be cast
        // automatically"), also when the plan drops that default.
        let had_default = ctx
            .current
            .tables
            .get(table)
            .and_then(|t| t.column(&col.name))
            .is_some_and(|x| x.default.is_some());
        if col.default.is_some() || had_default {
            parts.push(format!("ALTER COLUMN {c} DROP DEFAULT"));
        }
        parts.push(format!(
            "ALTER COLUMN {c} TYPE {} USING {c}::text::{}",
            col.type_name, col.type_name
        ));
        if let Some(def) = &col.default {
            parts.push(format!("ALTER COLUMN {c} SET DEFAULT {def}"));
        }
        let step = ctx.step(
            format!("convert column {table}.{} to the new {}", col.name, to.name),
            format!(
                "{}\n    {};",
                crate::plan::alter_table(table),
                parts.join(",\n    ")
            ),
            LockLevel::AccessExclusive,
            Some(table),
        );
        chain.push(rewrite_column(ctx, step, table, col));
    }
    let drop_old = ctx.step(
        format!("drop the old {} {}", word(from), from.name),
        format!(
            "DROP {} {};",
            if word(from) == "domain" {
                "DOMAIN"
            } else {
                "TYPE"
            },
            qname(&aside)
        ),
        LockLevel::None,
        None,
    );
    chain.push(Node::new(drop_old, id));
    chain
}

/// The node of a step that rewrites one column of `table` to another type or collation (the
/// column's data is rewritten under ACCESS EXCLUSIVE): on an empty or small table it takes
/// milliseconds, on a large one it carries the rewrite and lock hazards.
pub(super) fn rewrite_column(ctx: &Ctx, step: Step, table: &QName, col: &Column) -> Node {
    let step = match ctx.small(&[table]) {
        Some(notes) => step.notes(notes),
        None => ctx
            .long(step)
            .hazard(Hazard::TableRewrite)
            .hazard(Hazard::AccessExclusiveLock),
    };
    let cid = ObjectId::Column(table.clone(), col.name.clone());
    let mut n = Node::new(step, cid.clone());
    n.produces.push(cid.clone());
    n.alters.push(cid);
    n
}

/// The temporary name of a type or collation being replaced (renamed aside while the columns
/// move to the new one), within the 63-byte identifier limit.
pub(super) fn aside_name(name: &str) -> String {
    let mut base = name.to_string();
    while base.len() > 50 {
        base.pop();
    }
    format!("{base}__schemaplan_old")
}
