//! Procedural languages (`CREATE [OR REPLACE] [TRUSTED] LANGUAGE`, `DROP LANGUAGE`). A new
//! handler, inline handler, validator or trust is `CREATE OR REPLACE LANGUAGE` in place: the
//! owner, privileges and the functions written in the language stay. Locks: a language is a
//! `pg_language` row; no relation is locked. A function already running keeps the handler it
//! started with. Only a superuser may create an untrusted language.

use crate::model::*;
use crate::plan::graph::{Chain, Node, Rank};
use crate::plan::{Ctx, LockLevel};
use crate::render::quote::{ident, qname};

fn id(l: &Language) -> ObjectId {
    ObjectId::Language(l.name.as_str().into())
}

/// `CREATE [OR REPLACE] [TRUSTED] LANGUAGE name HANDLER f [INLINE f] [VALIDATOR f]` (also
/// `dump`'s text).
pub fn create_sql(l: &Language, replace: bool) -> String {
    let mut sql = format!(
        "CREATE {}{}LANGUAGE {} HANDLER {}",
        if replace { "OR REPLACE " } else { "" },
        if l.trusted { "TRUSTED " } else { "" },
        ident(&l.name),
        qname(&l.handler)
    );
    if let Some(f) = &l.inline {
        sql.push_str(&format!(" INLINE {}", qname(f)));
    }
    if let Some(f) = &l.validator {
        sql.push_str(&format!(" VALIDATOR {}", qname(f)));
    }
    sql.push(';');
    sql
}

pub fn create(ctx: &Ctx, l: &Language) -> Chain {
    let step = ctx.step(
        format!("create language {}", l.name),
        create_sql(l, false),
        LockLevel::None,
        None,
    );
    let mut n = Node::new(step, id(l));
    n.produces.push(id(l));
    vec![n]
}

/// `CREATE OR REPLACE LANGUAGE` with the new definition, in place.
pub fn replace(ctx: &Ctx, from: &Language, to: &Language) -> Chain {
    let step = ctx
        .step(
            format!("replace language {}", to.name),
            create_sql(to, true),
            LockLevel::None,
            None,
        )
        .note("in place: the functions written in it, its owner and privileges stay");
    let mut n = Node::new(step, id(to));
    n.alters.push(id(from));
    vec![n]
}

pub fn drop(ctx: &Ctx, l: &Language) -> Chain {
    let step = ctx.step(
        format!("drop language {}", l.name),
        format!("DROP LANGUAGE {};", ident(&l.name)),
        LockLevel::None,
        None,
    );
    let mut n = Node::new(step, id(l));
    n.removes.push(id(l));
    n.rank = Rank::Drop;
    vec![n]
}
