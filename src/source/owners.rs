//! The owners PostgreSQL lets only a superuser be: `ALTER EVENT TRIGGER ... OWNER TO r` and
//! `ALTER FOREIGN DATA WRAPPER ... OWNER TO r` fail unless `r` is a superuser, even for a
//! superuser session (every other `OWNER TO` a superuser runs succeeds whatever `r` is). The
//! shadow needs to know which roles a schema file makes such owners (`docs/shadow.md`,
//! "Roles").

use pg_query::protobuf::{ObjectType, RoleSpecType};
use pg_query::NodeEnum;

use super::Statement;

/// A statement making a role the owner of an object only a superuser may own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuperuserOwner {
    /// `event trigger` or `foreign-data wrapper` (PostgreSQL's words).
    pub what: &'static str,
    /// The role named by `OWNER TO` (as PostgreSQL stores it: folded unless quoted).
    pub role: String,
}

impl Statement {
    /// The role this statement makes the owner of an event trigger or a foreign-data wrapper,
    /// which PostgreSQL requires to be a superuser. `None` for every other statement and for
    /// `OWNER TO CURRENT_USER` / `CURRENT_ROLE` / `SESSION_USER` (the loading role itself).
    pub fn superuser_owner(&self) -> Option<SuperuserOwner> {
        if self.kind != "ALTER EVENT TRIGGER" && self.kind != "ALTER FOREIGN DATA WRAPPER" {
            return None;
        }
        superuser_owner_of(&self.sql)
    }
}

fn superuser_owner_of(sql: &str) -> Option<SuperuserOwner> {
    let tree = pg_query::parse(sql, pg_query::ParserOptions::DEFAULT).ok()?;
    let node = tree.protobuf.stmts.into_iter().next()?.stmt?.node?;
    let NodeEnum::AlterOwnerStmt(s) = node else {
        return None;
    };
    let what = match ObjectType::try_from(s.object_type).ok()? {
        ObjectType::ObjectEventTrigger => "event trigger",
        ObjectType::ObjectFdw => "foreign-data wrapper",
        _ => return None,
    };
    let owner = s.newowner?;
    (owner.roletype == RoleSpecType::RolespecCstring as i32).then_some(SuperuserOwner {
        what,
        role: owner.rolename,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_trigger_and_wrapper_owners_are_found() {
        let of = |sql: &str| superuser_owner_of(sql).map(|o| (o.what, o.role));
        assert_eq!(
            of("ALTER EVENT TRIGGER t OWNER TO Admin"),
            Some(("event trigger", "admin".to_string()))
        );
        assert_eq!(
            of("ALTER FOREIGN DATA WRAPPER w OWNER TO \"Odd Role\""),
            Some(("foreign-data wrapper", "Odd Role".to_string()))
        );
        assert_eq!(of("ALTER EVENT TRIGGER t OWNER TO CURRENT_USER"), None);
        assert_eq!(of("ALTER SERVER s OWNER TO admin"), None);
        assert_eq!(of("ALTER TABLE t OWNER TO admin"), None);
        assert_eq!(of("ALTER EVENT TRIGGER t DISABLE"), None);
        assert_eq!(of("ALTER FOREIGN DATA WRAPPER w OPTIONS (a 'b')"), None);
    }
}
