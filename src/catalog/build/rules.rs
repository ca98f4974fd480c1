//! Rules of tables and views (`Schema::rules`); a view's `_RETURN` rule is the view itself
//! (`relations.rs` maps it onto the view).

use super::{Reader, R, RULES};
use crate::catalog::resolve::class::PG_REWRITE;
use crate::catalog::CatalogError;
use crate::model::{ObjectId, QName, Rule};

impl Reader<'_, '_> {
    /// Runs after tables and views and before comments and depends (which map rules through
    /// the resolver: a rule's actions depend on the tables, columns and functions they name).
    pub(super) fn rules(&mut self) -> Result<(), CatalogError> {
        for row in self.run(&RULES)? {
            let r = R {
                row: &row,
                query: RULES.name,
            };
            let table = QName::new(r.get::<String>("schema")?, r.get::<String>("table_name")?);
            let name: String = r.get("name")?;
            self.resolver.add_exact(
                PG_REWRITE,
                r.get("oid")?,
                ObjectId::Rule(table.clone(), name.as_str().into()),
            );
            self.schema.rules.insert(
                (table.clone(), name.clone()),
                Rule {
                    table,
                    name,
                    event: r.get("event")?,
                    definition: r.get("definition")?,
                    enabled: r.char("enabled")?,
                },
            );
        }
        Ok(())
    }
}
