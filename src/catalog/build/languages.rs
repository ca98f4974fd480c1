//! Procedural languages no extension created (`Schema::languages`).

use super::{qname_opt, Reader, LANGUAGES, R};
use crate::catalog::resolve::class::PG_LANGUAGE;
use crate::catalog::CatalogError;
use crate::model::{Language, ObjectId, QName};

impl Reader<'_, '_> {
    /// Runs before comments, owners, grants and depends (which map languages through the
    /// resolver: the functions written in one depend on it).
    pub(super) fn languages(&mut self) -> Result<(), CatalogError> {
        for row in self.run(&LANGUAGES)? {
            let r = R {
                row: &row,
                query: LANGUAGES.name,
            };
            let name: String = r.get("name")?;
            self.resolver.add_exact(
                PG_LANGUAGE,
                r.get("oid")?,
                ObjectId::Language(name.as_str().into()),
            );
            self.schema.languages.insert(
                name.clone(),
                Language {
                    name,
                    trusted: r.get("trusted")?,
                    handler: QName::new(
                        r.get::<String>("handler_schema")?,
                        r.get::<String>("handler_name")?,
                    ),
                    inline: qname_opt(r.get("inline_schema")?, r.get("inline_name")?),
                    validator: qname_opt(r.get("validator_schema")?, r.get("validator_name")?),
                },
            );
        }
        Ok(())
    }
}
