//! Text search configurations (`CREATE / ALTER / DROP TEXT SEARCH CONFIGURATION`): the parser
//! at creation, then one `ADD MAPPING` per token type, as pg_dump writes them. Mapping changes
//! are `ALTER MAPPING` / `DROP MAPPING` statements in one step. Locks: `pg_ts_config` and
//! `pg_ts_config_map` rows; no relation is locked. A text search index or a generated column
//! built with the configuration keeps the lexemes it stored: changing the mappings does not
//! rebuild them (a note says so).

use crate::model::*;
use crate::plan::graph::{Chain, Node, Rank};
use crate::plan::{Ctx, LockLevel};
use crate::render::quote::{ident, qname};

fn id(t: &TextSearchConfiguration) -> ObjectId {
    ObjectId::TextSearchConfiguration(t.name.clone())
}

fn dicts(list: &[QName]) -> String {
    list.iter().map(qname).collect::<Vec<_>>().join(", ")
}

pub fn create(ctx: &Ctx, t: &TextSearchConfiguration) -> Chain {
    let mut sql = format!(
        "CREATE TEXT SEARCH CONFIGURATION {} (PARSER = {});",
        qname(&t.name),
        qname(&t.parser)
    );
    for (token, list) in &t.mappings {
        sql.push_str(&format!(
            "\nALTER TEXT SEARCH CONFIGURATION {} ADD MAPPING FOR {} WITH {};",
            qname(&t.name),
            ident(token),
            dicts(list)
        ));
    }
    let step = ctx.step(
        format!("create text search configuration {}", t.name),
        sql,
        LockLevel::None,
        None,
    );
    let mut n = Node::new(step, id(t));
    n.produces.push(id(t));
    for d in t.mappings.values().flatten() {
        n.needs.push(ObjectId::TextSearchDictionary(d.clone()));
    }
    vec![n]
}

pub fn drop(ctx: &Ctx, t: &TextSearchConfiguration) -> Chain {
    let step = ctx.step(
        format!("drop text search configuration {}", t.name),
        format!("DROP TEXT SEARCH CONFIGURATION {};", qname(&t.name)),
        LockLevel::None,
        None,
    );
    let mut n = Node::new(step, id(t));
    n.removes.push(id(t));
    n.rank = Rank::Drop;
    vec![n]
}

pub fn alter(ctx: &Ctx, from: &TextSearchConfiguration, to: &TextSearchConfiguration) -> Chain {
    let name = qname(&to.name);
    let mut stmts = Vec::new();
    for (token, list) in &to.mappings {
        match from.mappings.get(token) {
            None => stmts.push(format!(
                "ALTER TEXT SEARCH CONFIGURATION {name} ADD MAPPING FOR {} WITH {};",
                ident(token),
                dicts(list)
            )),
            Some(old) if old != list => stmts.push(format!(
                "ALTER TEXT SEARCH CONFIGURATION {name} ALTER MAPPING FOR {} WITH {};",
                ident(token),
                dicts(list)
            )),
            Some(_) => {}
        }
    }
    for token in from.mappings.keys() {
        if !to.mappings.contains_key(token) {
            stmts.push(format!(
                "ALTER TEXT SEARCH CONFIGURATION {name} DROP MAPPING FOR {};",
                ident(token)
            ));
        }
    }
    let step = ctx
        .step(
            format!("alter mappings of text search configuration {}", to.name),
            stmts.join("\n"),
            LockLevel::None,
            None,
        )
        .note(
            "tsvector values already stored (columns, indexes) keep the lexemes of the old \
             mappings until they are computed again",
        );
    let mut n = Node::new(step, id(to));
    n.needs.push(id(to));
    for d in to.mappings.values().flatten() {
        n.needs.push(ObjectId::TextSearchDictionary(d.clone()));
    }
    for d in from.mappings.values().flatten() {
        if !to.mappings.values().flatten().any(|x| x == d) {
            n.releases.push(ObjectId::TextSearchDictionary(d.clone()));
        }
    }
    vec![n]
}
