//! Text search dictionaries (`CREATE / ALTER / DROP TEXT SEARCH DICTIONARY`). Options are kept
//! as PostgreSQL serialized them (keys quoted as identifiers, values as literals), so they are
//! written back verbatim. Locks: a `pg_ts_dict` row; no relation is locked. A changed option
//! applies to text search calls that start after the commit (backends cache dictionaries and
//! drop the cache on the catalog change).

use crate::model::*;
use crate::plan::graph::{Chain, Node, Rank};
use crate::plan::{Ctx, LockLevel};
use crate::render::quote::qname;

fn id(t: &TextSearchDictionary) -> ObjectId {
    ObjectId::TextSearchDictionary(t.name.clone())
}

pub fn create(ctx: &Ctx, t: &TextSearchDictionary) -> Chain {
    let mut parts = vec![format!("TEMPLATE = {}", qname(&t.template))];
    parts.extend(t.options.iter().map(|(k, v)| format!("{k} = {v}")));
    let step = ctx.step(
        format!("create text search dictionary {}", t.name),
        format!(
            "CREATE TEXT SEARCH DICTIONARY {} ({});",
            qname(&t.name),
            parts.join(", ")
        ),
        LockLevel::None,
        None,
    );
    let mut n = Node::new(step, id(t));
    n.produces.push(id(t));
    vec![n]
}

pub fn drop(ctx: &Ctx, t: &TextSearchDictionary) -> Chain {
    let step = ctx.step(
        format!("drop text search dictionary {}", t.name),
        format!("DROP TEXT SEARCH DICTIONARY {};", qname(&t.name)),
        LockLevel::None,
        None,
    );
    let mut n = Node::new(step, id(t));
    n.removes.push(id(t));
    n.rank = Rank::Drop;
    vec![n]
}

/// `ALTER TEXT SEARCH DICTIONARY d (key = value, removed)`: a key without a value removes it.
pub fn alter(ctx: &Ctx, from: &TextSearchDictionary, to: &TextSearchDictionary) -> Chain {
    let mut parts: Vec<String> = to
        .options
        .iter()
        .filter(|o| !from.options.contains(o))
        .map(|(k, v)| format!("{k} = {v}"))
        .collect();
    parts.extend(
        from.options
            .iter()
            .filter(|(k, _)| !to.options.iter().any(|(k2, _)| k2 == k))
            .map(|(k, _)| k.clone()),
    );
    let step = ctx.step(
        format!("alter text search dictionary {}", to.name),
        format!(
            "ALTER TEXT SEARCH DICTIONARY {} ({});",
            qname(&to.name),
            parts.join(", ")
        ),
        LockLevel::None,
        None,
    );
    let mut n = Node::new(step, id(to));
    n.needs.push(id(to));
    vec![n]
}
