//! User-defined casts (`Schema::casts`).

use super::{Reader, CASTS, R};
use crate::catalog::resolve::class::PG_CAST;
use crate::catalog::CatalogError;
use crate::model::{Cast, ObjectId, QName};

impl Reader<'_, '_> {
    /// Runs before comments and depends (which map casts through the resolver; the edges to
    /// the function and the two types come from pg_depend).
    pub(super) fn casts(&mut self) -> Result<(), CatalogError> {
        for row in self.run(&CASTS)? {
            let r = R {
                row: &row,
                query: CASTS.name,
            };
            let source: String = r.get("source")?;
            let target: String = r.get("target")?;
            self.resolver.add_exact(
                PG_CAST,
                r.get("oid")?,
                ObjectId::Cast(source.as_str().into(), target.as_str().into()),
            );
            let function = match (
                r.get::<Option<String>>("function_schema")?,
                r.get::<Option<String>>("function_name")?,
                r.get::<Option<String>>("function_args")?,
            ) {
                (Some(s), Some(n), Some(a)) => Some((QName::new(s, n), a)),
                _ => None,
            };
            self.schema.casts.insert(
                (source.clone(), target.clone()),
                Cast {
                    source,
                    target,
                    method: r.char("method")?,
                    function,
                    context: r.char("context")?,
                },
            );
        }
        Ok(())
    }
}
