//! Views and materialized views.

use crate::model::*;
use crate::plan::graph::{Chain, Node, Rank};
use crate::plan::{Ctx, LockLevel};
use crate::render::quote::qname;

fn body(v: &View) -> String {
    v.definition
        .trim()
        .trim_end_matches(';')
        .trim_end()
        .to_string()
}

fn with(v: &View) -> String {
    if v.options.is_empty() {
        String::new()
    } else {
        format!(" WITH ({})", v.options.join(", "))
    }
}

fn column_ids(v: &View) -> impl Iterator<Item = ObjectId> + '_ {
    v.columns
        .iter()
        .map(|(c, _)| ObjectId::Column(v.name.clone(), c.as_str().into()))
}

fn kind(v: &View) -> &'static str {
    if v.materialized {
        "materialized view"
    } else {
        "view"
    }
}

pub fn create(ctx: &Ctx, v: &View) -> Chain {
    let id = ObjectId::View(v.name.clone());
    let sql = if v.materialized {
        let data = if v.populated {
            "WITH DATA"
        } else {
            "WITH NO DATA"
        };
        format!(
            "CREATE MATERIALIZED VIEW {}{} AS\n{}\n{data};",
            qname(&v.name),
            with(v),
            body(v)
        )
    } else {
        format!("CREATE VIEW {}{} AS\n{};", qname(&v.name), with(v), body(v))
    };
    let mut step = ctx.step(
        format!("create {} {}", kind(v), v.name),
        sql,
        LockLevel::None,
        None,
    );
    if v.materialized && v.populated {
        step = ctx
            .long(step)
            .note("runs the query to fill the materialized view");
    }
    let mut n = Node::new(step, id.clone());
    n.produces.push(id);
    n.produces.extend(column_ids(v));
    n.claims.push(v.name.clone());
    vec![n]
}

/// `CREATE OR REPLACE VIEW`: existing columns keep name and type, so dependents stay valid.
pub fn replace(ctx: &Ctx, from: &View, to: &View) -> Chain {
    let id = ObjectId::View(to.name.clone());
    let mut sql = String::new();
    let dropped: Vec<&str> = from
        .options
        .iter()
        .map(|o| o.split('=').next().unwrap_or(o))
        .filter(|k| !to.options.iter().any(|o| o.split('=').next() == Some(k)))
        .collect();
    if !dropped.is_empty() {
        sql.push_str(&format!(
            "ALTER VIEW {} RESET ({});\n",
            qname(&to.name),
            dropped.join(", ")
        ));
    }
    sql.push_str(&format!(
        "CREATE OR REPLACE VIEW {}{} AS\n{};",
        qname(&to.name),
        with(to),
        body(to)
    ));
    let step = ctx.step(
        format!("replace view {}", to.name),
        sql,
        LockLevel::AccessExclusive,
        Some(&to.name),
    );
    let mut n = Node::new(step, id.clone());
    n.produces.push(id.clone());
    n.produces.extend(column_ids(to));
    n.releases = ctx.released(&id);
    vec![n]
}

pub fn drop(ctx: &Ctx, v: &View) -> Chain {
    let id = ObjectId::View(v.name.clone());
    let kw = if v.materialized {
        "MATERIALIZED VIEW"
    } else {
        "VIEW"
    };
    let step = ctx.step(
        format!("drop {} {}", kind(v), v.name),
        format!("DROP {kw} {};", qname(&v.name)),
        LockLevel::AccessExclusive,
        Some(&v.name),
    );
    let mut n = Node::new(step, id.clone());
    n.removes.push(id);
    n.removes.extend(column_ids(v));
    n.removes.extend(
        ctx.current
            .indexes
            .values()
            .filter(|i| i.table == v.name)
            .map(|i| ObjectId::Index(i.name.clone())),
    );
    // its rules, and (a materialized view's) statistics objects go with it
    n.removes.extend(
        ctx.current
            .rules
            .keys()
            .filter(|k| k.0 == v.name)
            .map(|k| ObjectId::Rule(k.0.clone(), k.1.as_str().into())),
    );
    n.removes.extend(
        ctx.current
            .statistics
            .values()
            .filter(|s| s.table == v.name)
            .map(|s| ObjectId::Statistics(s.name.clone())),
    );
    n.frees.push(v.name.clone());
    n.rank = Rank::Drop;
    vec![n]
}
