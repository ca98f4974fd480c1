//! Objects schemaplan does not model (`Schema::unmodeled`) and what they hang on
//! (`Schema::unmodeled_deps`).

use super::{Reader, R, UNMODELED};
use crate::catalog::CatalogError;
use crate::model::{Unmodeled, UnmodeledDeps};

impl Reader<'_, '_> {
    /// Runs after every modeled object is registered in the resolver, so the objects they
    /// depend on map onto ids (a column of a table, a view for its columns).
    pub(super) fn unmodeled(&mut self) -> Result<(), CatalogError> {
        for row in self.run(&UNMODELED)? {
            let r = R {
                row: &row,
                query: UNMODELED.name,
            };
            let u = Unmodeled {
                kind: r.get("kind")?,
                identity: r.get("identity")?,
            };
            let classids: Vec<u32> = r.get("ref_classids")?;
            let objids: Vec<u32> = r.get("ref_objids")?;
            let subids: Vec<i32> = r.get("ref_subids")?;
            let depends_on = classids
                .iter()
                .zip(&objids)
                .zip(&subids)
                .filter_map(|((&c, &o), &s)| self.resolver.owning(c, o, s))
                .collect();
            self.schema.unmodeled_deps.insert(
                u.clone(),
                UnmodeledDeps {
                    depends_on,
                    definition: r.get("definition")?,
                },
            );
            self.schema.unmodeled.insert(u);
        }
        Ok(())
    }
}
