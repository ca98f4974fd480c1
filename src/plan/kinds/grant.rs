//! Privileges (`GRANT` / `REVOKE`) and default privileges.

use super::comment::object_ref;
use crate::model::*;
use crate::plan::graph::{Chain, Node, Rank};
use crate::plan::{Ctx, LockLevel};
use crate::render::quote::{ident, qname};

/// The grantee as SQL. Everyone is the grantee `public` in lower case, the one name no role can
/// have; a role named `PUBLIC` or `Public` is a role like any other and is quoted (rendering it
/// bare would grant to everyone).
fn grantee(g: &str) -> String {
    if g == PUBLIC {
        "PUBLIC".to_string()
    } else {
        ident(g)
    }
}

/// How the catalog names the PUBLIC pseudo-role.
const PUBLIC: &str = "public";

/// The grantee in step summaries (`PUBLIC` for everyone, role names as they are).
fn shown(g: &str) -> &str {
    if g == PUBLIC {
        "PUBLIC"
    } else {
        g
    }
}

/// `SELECT ON TABLE t`, `SELECT (c) ON TABLE t`, `USAGE ON SEQUENCE s`, `EXECUTE ON FUNCTION f(int)`.
fn target(ctx: &Ctx, g: &Grant) -> String {
    match &g.on {
        ObjectId::Column(t, c) => format!("{} ({}) ON TABLE {}", g.privilege, ident(c), qname(t)),
        ObjectId::View(q) | ObjectId::Table(q) => format!("{} ON TABLE {}", g.privilege, qname(q)),
        ObjectId::Function(q, args) => {
            let r = object_ref(ctx, &g.on);
            let kw = if r.starts_with("PROCEDURE") {
                "PROCEDURE"
            } else {
                "FUNCTION"
            };
            format!("{} ON {kw} {}({args})", g.privilege, qname(q))
        }
        // `COMMENT ON SERVER s` but `GRANT ... ON FOREIGN SERVER s`
        ObjectId::ForeignServer(n) => format!("{} ON FOREIGN SERVER {}", g.privilege, ident(n)),
        other => format!("{} ON {}", g.privilege, object_ref(ctx, other)),
    }
}

/// Makes the entry true: a `GRANT` for a granted entry, a `REVOKE` for a revoked default.
pub fn grant(ctx: &Ctx, g: &Grant) -> Chain {
    if !g.granted {
        return revoke_sql(ctx, g, true);
    }
    grant_sql(ctx, g)
}

/// Makes the entry false: the opposite statement.
pub fn revoke(ctx: &Ctx, g: &Grant) -> Chain {
    if !g.granted {
        return grant_sql(ctx, g);
    }
    revoke_sql(ctx, g, false)
}

/// The `GRANT` statement of a granted entry.
pub(super) fn statement(ctx: &Ctx, g: &Grant) -> String {
    let opt = if g.with_grant_option {
        " WITH GRANT OPTION"
    } else {
        ""
    };
    format!("GRANT {} TO {}{opt};", target(ctx, g), grantee(&g.grantee))
}

fn grant_sql(ctx: &Ctx, g: &Grant) -> Chain {
    let step = ctx.step(
        format!("grant {} on {} to {}", g.privilege, g.on, shown(&g.grantee)),
        statement(ctx, g),
        LockLevel::None,
        None,
    );
    let mut n = Node::new(step, g.on.clone());
    n.needs.push(g.on.clone());
    n.rank = Rank::Decorate;
    vec![n]
}

fn revoke_sql(ctx: &Ctx, g: &Grant, needs_object: bool) -> Chain {
    let step = ctx.step(
        format!(
            "revoke {} on {} from {}",
            g.privilege,
            g.on,
            shown(&g.grantee)
        ),
        format!("REVOKE {} FROM {};", target(ctx, g), grantee(&g.grantee)),
        LockLevel::None,
        None,
    );
    let mut n = Node::new(step, g.on.clone());
    n.rank = Rank::Decorate;
    if needs_object {
        n.needs.push(g.on.clone());
    } else {
        n.releases.push(g.on.clone());
    }
    vec![n]
}

/// `REVOKE ALL` from the grantees default privileges handed the new object.
pub fn reset(ctx: &Ctx, on: &ObjectId, grantees: &[String]) -> Chain {
    let target = match on {
        ObjectId::View(q) | ObjectId::Table(q) => format!("TABLE {}", qname(q)),
        other => object_ref(ctx, other),
    };
    let who: Vec<String> = grantees.iter().map(|g| grantee(g)).collect();
    let step = ctx.step(
        format!("revoke default-granted privileges on {on}"),
        format!("REVOKE ALL ON {target} FROM {};", who.join(", ")),
        LockLevel::None,
        None,
    );
    let mut n = Node::new(step, on.clone());
    n.needs.push(on.clone());
    n.rank = Rank::Decorate;
    vec![n]
}

/// `ALTER DEFAULT PRIVILEGES`: affects objects created later, so it runs after the plan's
/// creates (it sorts last and needs only its schema).
pub fn default_privilege(ctx: &Ctx, e: &DefaultPrivilege, add: bool) -> Chain {
    let in_schema = e
        .schema
        .as_ref()
        .map(|s| format!(" IN SCHEMA {}", ident(s)))
        .unwrap_or_default();
    let grant = add == e.granted;
    let action = if grant {
        let opt = if e.with_grant_option {
            " WITH GRANT OPTION"
        } else {
            ""
        };
        format!(
            "GRANT {} ON {} TO {}{opt}",
            e.privilege,
            e.object_type,
            grantee(&e.grantee)
        )
    } else {
        // The target keeps the privilege without its grant option: revoke the option only.
        let option_only = e.with_grant_option
            && crate::diff::grant_option_twin(e, &ctx.desired.default_privileges);
        format!(
            "REVOKE {}{} ON {} FROM {}",
            if option_only { "GRANT OPTION FOR " } else { "" },
            e.privilege,
            e.object_type,
            grantee(&e.grantee)
        )
    };
    let sql = format!(
        "ALTER DEFAULT PRIVILEGES FOR ROLE {}{in_schema} {action};",
        ident(&e.for_role)
    );
    let verb = if grant { "grant" } else { "revoke" };
    let step = ctx.step(
        format!(
            "default privileges: {verb} {} on {} for {}",
            e.privilege,
            e.object_type,
            shown(&e.grantee)
        ),
        sql,
        LockLevel::None,
        None,
    );
    let schema = ObjectId::Schema(e.schema.clone().unwrap_or_default().into());
    let mut n = Node::new(step, schema.clone());
    if e.schema.is_some() {
        n.needs.push(schema);
    }
    n.rank = Rank::Last;
    vec![n]
}
