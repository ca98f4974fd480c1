//! Foreign-data wrappers, foreign servers and user mappings (`Schema::foreign_data_wrappers`,
//! `foreign_servers`, `user_mappings`). Foreign tables are tables (`Table::foreign`), read
//! with the others in `catalog/build.rs`; their options go through [`options_from`].
//!
//! Options come as two arrays sorted by key; a secret's value is NULL because the query never
//! selects it (`model::is_secret_option`): it is not in this process's memory, so no output
//! can print it.

use super::{Reader, FOREIGN_DATA_WRAPPERS, FOREIGN_SERVERS, R, USER_MAPPINGS};
use crate::catalog::resolve::class::{PG_FOREIGN_DATA_WRAPPER, PG_FOREIGN_SERVER, PG_USER_MAPPING};
use crate::catalog::CatalogError;
use crate::model::{FdwOption, ForeignDataWrapper, ForeignServer, ObjectId, QName, UserMapping};

fn options(r: &R) -> Result<Vec<FdwOption>, CatalogError> {
    options_from(r, "option_keys", "option_values")
}

/// Options from two arrays sorted by key (keys, values; a secret's value NULL). Also read by
/// the tables' reader: a foreign table's and its columns' options.
pub(super) fn options_from(
    r: &R,
    keys: &'static str,
    values: &'static str,
) -> Result<Vec<FdwOption>, CatalogError> {
    let keys: Vec<String> = r.get(keys)?;
    let values: Vec<Option<String>> = r.get(values)?;
    Ok(keys
        .into_iter()
        .zip(values)
        .map(|(key, value)| FdwOption { key, value })
        .collect())
}

fn function(
    r: &R,
    schema: &'static str,
    name: &'static str,
) -> Result<Option<QName>, CatalogError> {
    Ok(
        match (
            r.get::<Option<String>>(schema)?,
            r.get::<Option<String>>(name)?,
        ) {
            (Some(s), Some(n)) => Some(QName::new(s, n)),
            _ => None,
        },
    )
}

impl Reader<'_, '_> {
    /// Runs before comments, owners, grants and depends (which map these objects through the
    /// resolver; the edges to handler and validator functions come from pg_depend).
    pub(super) fn foreign_data_wrappers(&mut self) -> Result<(), CatalogError> {
        for row in self.run(&FOREIGN_DATA_WRAPPERS)? {
            let r = R {
                row: &row,
                query: FOREIGN_DATA_WRAPPERS.name,
            };
            let name: String = r.get("name")?;
            self.resolver.add_exact(
                PG_FOREIGN_DATA_WRAPPER,
                r.get("oid")?,
                ObjectId::ForeignDataWrapper(name.as_str().into()),
            );
            self.schema.foreign_data_wrappers.insert(
                name.clone(),
                ForeignDataWrapper {
                    name,
                    handler: function(&r, "handler_schema", "handler_name")?,
                    validator: function(&r, "validator_schema", "validator_name")?,
                    options: options(&r)?,
                },
            );
        }
        Ok(())
    }

    pub(super) fn foreign_servers(&mut self) -> Result<(), CatalogError> {
        for row in self.run(&FOREIGN_SERVERS)? {
            let r = R {
                row: &row,
                query: FOREIGN_SERVERS.name,
            };
            let name: String = r.get("name")?;
            self.resolver.add_exact(
                PG_FOREIGN_SERVER,
                r.get("oid")?,
                ObjectId::ForeignServer(name.as_str().into()),
            );
            self.schema.foreign_servers.insert(
                name.clone(),
                ForeignServer {
                    name,
                    fdw: r.get("fdw")?,
                    server_type: r.get("server_type")?,
                    version: r.get("version")?,
                    options: options(&r)?,
                },
            );
        }
        Ok(())
    }

    pub(super) fn user_mappings(&mut self) -> Result<(), CatalogError> {
        for row in self.run(&USER_MAPPINGS)? {
            let r = R {
                row: &row,
                query: USER_MAPPINGS.name,
            };
            let server: String = r.get("server")?;
            let user: String = r.get("username")?;
            self.resolver.add_exact(
                PG_USER_MAPPING,
                r.get("oid")?,
                ObjectId::UserMapping(server.as_str().into(), user.as_str().into()),
            );
            self.schema.user_mappings.insert(
                (server.clone(), user.clone()),
                UserMapping {
                    server,
                    user,
                    options: options(&r)?,
                },
            );
        }
        Ok(())
    }
}
