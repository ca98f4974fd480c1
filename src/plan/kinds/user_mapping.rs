//! User mappings (`CREATE / ALTER / DROP USER MAPPING FOR role SERVER s`): where the password
//! a foreign server is reached with usually lives. A secret option is never printed: its
//! value is not read (`model::FdwOption`) and a plan that would write one is refused
//! (`workflow::secrets`). No relation is locked (see `foreign_data_wrapper.rs`).

use super::foreign_data_wrapper::{alter_options_clause, options_clause};
use crate::model::*;
use crate::plan::graph::{Chain, Node, Rank};
use crate::plan::{Ctx, LockLevel};
use crate::render::quote::ident;

fn id(m: &UserMapping) -> ObjectId {
    ObjectId::UserMapping(m.server.as_str().into(), m.user.as_str().into())
}

/// `FOR role SERVER s`: `public` (lower case, as the catalog names PUBLIC) is `PUBLIC`; a role
/// named `PUBLIC` or `Public` is quoted like any other name.
pub(super) fn target(server: &str, user: &str) -> String {
    let role = if user == "public" {
        "PUBLIC".to_string()
    } else {
        ident(user)
    };
    format!("FOR {role} SERVER {}", ident(server))
}

fn shown(m: &UserMapping) -> String {
    let role = if m.user == "public" {
        "PUBLIC"
    } else {
        &m.user
    };
    format!("user mapping for {role} on server {}", m.server)
}

pub fn create(ctx: &Ctx, m: &UserMapping) -> Chain {
    let step = ctx.step(
        format!("create {}", shown(m)),
        format!(
            "CREATE USER MAPPING {}{};",
            target(&m.server, &m.user),
            options_clause(&m.options)
        ),
        LockLevel::None,
        None,
    );
    let mut n = Node::new(step, id(m));
    n.produces.push(id(m));
    n.needs
        .push(ObjectId::ForeignServer(m.server.as_str().into()));
    vec![n]
}

pub fn drop(ctx: &Ctx, m: &UserMapping) -> Chain {
    let step = ctx
        .step(
            format!("drop {}", shown(m)),
            format!("DROP USER MAPPING {};", target(&m.server, &m.user)),
            LockLevel::None,
            None,
        )
        .note("the role's queries through this server fall back to the PUBLIC mapping, or fail");
    let mut n = Node::new(step, id(m));
    n.removes.push(id(m));
    n.rank = Rank::Drop;
    vec![n]
}

pub fn alter(ctx: &Ctx, from: &UserMapping, to: &UserMapping) -> Chain {
    let step = ctx.step(
        format!("alter {}", shown(to)),
        format!(
            "ALTER USER MAPPING {}{};",
            target(&to.server, &to.user),
            alter_options_clause(&from.options, &to.options)
        ),
        LockLevel::None,
        None,
    );
    let mut n = Node::new(step, id(to));
    n.needs.push(id(to));
    vec![n]
}
