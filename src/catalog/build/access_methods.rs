//! Access methods no extension created (`Schema::access_methods`).

use super::{Reader, ACCESS_METHODS, R};
use crate::catalog::resolve::class::PG_AM;
use crate::catalog::CatalogError;
use crate::model::{AccessMethod, ObjectId, QName};

impl Reader<'_, '_> {
    /// Runs before comments and depends (which map access methods through the resolver: the
    /// tables, indexes and operator classes using one depend on it).
    pub(super) fn access_methods(&mut self) -> Result<(), CatalogError> {
        for row in self.run(&ACCESS_METHODS)? {
            let r = R {
                row: &row,
                query: ACCESS_METHODS.name,
            };
            let name: String = r.get("name")?;
            self.resolver.add_exact(
                PG_AM,
                r.get("oid")?,
                ObjectId::AccessMethod(name.as_str().into()),
            );
            let kind = match r.char("kind")? {
                't' => "TABLE",
                _ => "INDEX",
            };
            self.schema.access_methods.insert(
                name.clone(),
                AccessMethod {
                    name,
                    kind: kind.to_string(),
                    handler: QName::new(
                        r.get::<String>("handler_schema")?,
                        r.get::<String>("handler_name")?,
                    ),
                },
            );
        }
        Ok(())
    }
}
