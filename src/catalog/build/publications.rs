//! Publications and their members (`Schema::publications`, `publication_tables`,
//! `publication_schemas`). Subscriptions are not read here: they need a live publisher, so
//! they stay reported-only (`unmodeled.sql`).

use super::{Reader, PUBLICATIONS, PUBLICATION_SCHEMAS, PUBLICATION_TABLES, R};
use crate::catalog::resolve::class::{
    PG_PUBLICATION, PG_PUBLICATION_NAMESPACE, PG_PUBLICATION_REL,
};
use crate::catalog::CatalogError;
use crate::model::{ObjectId, Publication, PublicationTable, QName};

impl Reader<'_, '_> {
    /// Runs after tables are registered (members name their table) and before comments,
    /// owners and depends (which map publications and memberships through the resolver).
    pub(super) fn publications(&mut self) -> Result<(), CatalogError> {
        for row in self.run(&PUBLICATIONS)? {
            let r = R {
                row: &row,
                query: PUBLICATIONS.name,
            };
            let name: String = r.get("name")?;
            let mut publish = Vec::new();
            for (word, column) in [
                ("insert", "ins"),
                ("update", "upd"),
                ("delete", "del"),
                ("truncate", "trunc"),
            ] {
                if r.get::<bool>(column)? {
                    publish.push(word.to_string());
                }
            }
            self.resolver.add_exact(
                PG_PUBLICATION,
                r.get("oid")?,
                ObjectId::Publication(name.as_str().into()),
            );
            self.schema.publications.insert(
                name.clone(),
                Publication {
                    name,
                    all_tables: r.get("all_tables")?,
                    publish,
                    via_root: r.get("via_root")?,
                    generated_columns: r.get("generated_columns")?,
                },
            );
        }
        for row in self.run(&PUBLICATION_TABLES)? {
            let r = R {
                row: &row,
                query: PUBLICATION_TABLES.name,
            };
            let publication: String = r.get("publication")?;
            let table = QName::new(r.get::<String>("schema")?, r.get::<String>("table_name")?);
            self.resolver.add_exact(
                PG_PUBLICATION_REL,
                r.get("oid")?,
                ObjectId::PublicationTable(publication.as_str().into(), table.clone()),
            );
            self.schema.publication_tables.insert(
                (publication.clone(), table.clone()),
                PublicationTable {
                    publication,
                    table,
                    columns: r.get("columns")?,
                    row_filter: r.get("row_filter")?,
                },
            );
        }
        if self.version >= 150000 {
            for row in self.run(&PUBLICATION_SCHEMAS)? {
                let r = R {
                    row: &row,
                    query: PUBLICATION_SCHEMAS.name,
                };
                let publication: String = r.get("publication")?;
                let schema: String = r.get("schema")?;
                self.resolver.add_exact(
                    PG_PUBLICATION_NAMESPACE,
                    r.get("oid")?,
                    ObjectId::PublicationSchema(
                        publication.as_str().into(),
                        schema.as_str().into(),
                    ),
                );
                self.schema
                    .publication_schemas
                    .insert((publication, schema));
            }
        }
        Ok(())
    }
}
