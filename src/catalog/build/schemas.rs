//! Schemas, extensions and which objects extensions own (`Schema::schemas`, `extensions`;
//! extension members go to the resolver only, so that what an extension owns is left out).

use super::{Reader, EXTENSIONS, EXTENSION_MEMBERS, R, SCHEMAS};
use crate::catalog::resolve::class::{PG_EXTENSION, PG_NAMESPACE};
use crate::catalog::CatalogError;
use crate::model::{Extension, Namespace, ObjectId};

impl Reader<'_, '_> {
    pub(super) fn extension_members(&mut self) -> Result<(), CatalogError> {
        for row in self.run(&EXTENSION_MEMBERS)? {
            let r = R {
                row: &row,
                query: EXTENSION_MEMBERS.name,
            };
            self.resolver
                .add_ext_member(r.get("classid")?, r.get("objid")?, r.get("extension")?);
        }
        Ok(())
    }

    pub(super) fn schemas(&mut self) -> Result<(), CatalogError> {
        for row in self.run(&SCHEMAS)? {
            let r = R {
                row: &row,
                query: SCHEMAS.name,
            };
            let name: String = r.get("name")?;
            self.resolver.add_exact(
                PG_NAMESPACE,
                r.get("oid")?,
                ObjectId::Schema(name.as_str().into()),
            );
            self.schema.schemas.insert(name.clone(), Namespace { name });
        }
        Ok(())
    }

    pub(super) fn extensions(&mut self) -> Result<(), CatalogError> {
        for row in self.run(&EXTENSIONS)? {
            let r = R {
                row: &row,
                query: EXTENSIONS.name,
            };
            let name: String = r.get("name")?;
            self.resolver.add_exact(
                PG_EXTENSION,
                r.get("oid")?,
                ObjectId::Extension(name.as_str().into()),
            );
            self.schema.extensions.insert(
                name.clone(),
                Extension {
                    name,
                    schema: r.get("schema")?,
                    version: r.get("version")?,
                },
            );
        }
        Ok(())
    }
}
