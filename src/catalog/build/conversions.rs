//! Conversions no extension created (`Schema::conversions`).

use super::{Reader, CONVERSIONS, R};
use crate::catalog::resolve::class::PG_CONVERSION;
use crate::catalog::CatalogError;
use crate::model::{Conversion, ObjectId, QName};

impl Reader<'_, '_> {
    /// Runs before comments, owners and depends (which map conversions through the resolver;
    /// the edge to a user-defined function comes from pg_depend).
    pub(super) fn conversions(&mut self) -> Result<(), CatalogError> {
        for row in self.run(&CONVERSIONS)? {
            let r = R {
                row: &row,
                query: CONVERSIONS.name,
            };
            let name = QName::new(r.get::<String>("schema")?, r.get::<String>("name")?);
            self.resolver.add_exact(
                PG_CONVERSION,
                r.get("oid")?,
                ObjectId::Conversion(name.clone()),
            );
            self.schema.conversions.insert(
                name.clone(),
                Conversion {
                    name,
                    source: r.get("source")?,
                    target: r.get("target")?,
                    function: QName::new(
                        r.get::<String>("function_schema")?,
                        r.get::<String>("function_name")?,
                    ),
                    default: r.get("is_default")?,
                },
            );
        }
        Ok(())
    }
}
