//! Who may do what, and what is said about objects: row-level security policies, comments,
//! grants and default privileges (`Schema::policies`, `comments`, `grants`,
//! `default_privileges`). Comments and grants name objects by catalog address: they run
//! after every modeled object is registered in the resolver.

use super::{each_row, Reader, COMMENTS, DEFAULT_PRIVILEGES, GRANTS, POLICIES, R};
use crate::catalog::resolve::class::PG_POLICY;
use crate::catalog::CatalogError;
use crate::model::{DefaultPrivilege, Grant, ObjectId, Policy, QName};

impl Reader<'_, '_> {
    pub(super) fn policies(&mut self) -> Result<(), CatalogError> {
        let text = self.sql(&POLICIES);
        each_row(
            self.tx,
            self.cache.as_deref_mut(),
            self.digest.as_mut(),
            &text,
            POLICIES.name,
            |r| {
                let table = QName::new(r.get::<String>("schema")?, r.get::<String>("table_name")?);
                let name: String = r.get("name")?;
                // a set: sorted here, not in SQL, so the database's collation does not matter
                let mut roles: Vec<String> = r.get("roles")?;
                roles.sort();
                let command = match r.char("command")? {
                    'r' => "SELECT",
                    'a' => "INSERT",
                    'w' => "UPDATE",
                    'd' => "DELETE",
                    _ => "ALL",
                };
                self.resolver.add_exact(
                    PG_POLICY,
                    r.get("oid")?,
                    ObjectId::Policy(table.clone(), name.as_str().into()),
                );
                self.schema.policies.insert(
                    (table.clone(), name.clone()),
                    Policy {
                        table,
                        name,
                        permissive: r.get("permissive")?,
                        command: command.to_string(),
                        roles,
                        using: r.get("using_expr")?,
                        with_check: r.get("with_check")?,
                    },
                );
                Ok(())
            },
        )
    }

    pub(super) fn comments(&mut self) -> Result<(), CatalogError> {
        let text = self.sql(&COMMENTS);
        each_row(
            self.tx,
            self.cache.as_deref_mut(),
            self.digest.as_mut(),
            &text,
            COMMENTS.name,
            |r| {
                if let Some(id) =
                    self.resolver
                        .exact(r.get("classoid")?, r.get("objoid")?, r.get("objsubid")?)
                {
                    self.schema.comments.insert(id, r.get("description")?);
                }
                Ok(())
            },
        )?;
        Ok(())
    }

    pub(super) fn grants(&mut self) -> Result<(), CatalogError> {
        let text = self.sql(&GRANTS);
        each_row(
            self.tx,
            self.cache.as_deref_mut(),
            self.digest.as_mut(),
            &text,
            GRANTS.name,
            |r| {
                let Some(on) =
                    self.resolver
                        .exact(r.get("classid")?, r.get("objid")?, r.get("objsubid")?)
                else {
                    return Ok(()); // an object that is not modeled (extension member)
                };
                self.schema.grants.insert(Grant {
                    on,
                    privilege: r.get("privilege")?,
                    grantee: r.get("grantee")?,
                    with_grant_option: r.get("grantable")?,
                    granted: r.get("granted")?,
                });
                Ok(())
            },
        )?;
        Ok(())
    }

    pub(super) fn default_privileges(&mut self) -> Result<(), CatalogError> {
        for row in self.run(&DEFAULT_PRIVILEGES)? {
            let r = R {
                row: &row,
                query: DEFAULT_PRIVILEGES.name,
            };
            let object_type = match r.char("objtype")? {
                'r' => "TABLES",
                'S' => "SEQUENCES",
                'f' => "FUNCTIONS",
                'T' => "TYPES",
                'n' => "SCHEMAS",
                'L' => "LARGE OBJECTS",
                _ => "UNKNOWN",
            };
            self.schema.default_privileges.insert(DefaultPrivilege {
                for_role: r.get("for_role")?,
                schema: r.get("schema")?,
                object_type: object_type.to_string(),
                privilege: r.get("privilege")?,
                grantee: r.get("grantee")?,
                with_grant_option: r.get("grantable")?,
                granted: r.get("granted")?,
            });
        }
        Ok(())
    }
}
