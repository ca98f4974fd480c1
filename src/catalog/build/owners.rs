//! Owners of the objects a plan may create or re-create (`Schema::owners`).

use super::{each_row, Reader, OWNERS};
use crate::catalog::CatalogError;
use crate::model::ObjectId;

impl Reader<'_, '_> {
    /// Runs after every modeled object is registered in the resolver: rows of objects that
    /// are not modeled (extension members, unmodeled kinds, tables' row types) map onto
    /// nothing and are dropped. An identity sequence is not a `Sequence` (it follows its
    /// column's table), and a sequence `OWNED BY` a column follows its table's owner too
    /// (`ALTER TABLE ... OWNER TO` moves it; `ALTER SEQUENCE ... OWNER TO` refuses it), but it
    /// is kept here: a re-created table's owner must be set before `OWNED BY` links them.
    pub(super) fn owners(&mut self) -> Result<(), CatalogError> {
        let text = self.sql(&OWNERS);
        each_row(
            self.tx,
            self.cache.as_deref_mut(),
            self.digest.as_mut(),
            &text,
            OWNERS.name,
            |r| {
                let Some(id) = self.resolver.exact(r.get("classid")?, r.get("objid")?, 0) else {
                    return Ok(());
                };
                if matches!(
                    id,
                    ObjectId::Schema(_)
                        | ObjectId::Collation(_)
                        | ObjectId::Type(_)
                        | ObjectId::Sequence(_)
                        | ObjectId::Table(_)
                        | ObjectId::View(_)
                        | ObjectId::Function(..)
                        | ObjectId::Publication(_)
                        | ObjectId::EventTrigger(_)
                        | ObjectId::ForeignDataWrapper(_)
                        | ObjectId::ForeignServer(_)
                        | ObjectId::TextSearchDictionary(_)
                        | ObjectId::TextSearchConfiguration(_)
                        | ObjectId::Operator(..)
                        | ObjectId::OperatorClass(..)
                        | ObjectId::OperatorFamily(..)
                        | ObjectId::Conversion(_)
                        | ObjectId::Language(_)
                        | ObjectId::Statistics(_)
                ) {
                    self.schema.owners.insert(id, r.get("owner")?);
                }
                Ok(())
            },
        )
    }
}
