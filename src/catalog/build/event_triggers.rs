//! Event triggers (`Schema::event_triggers`).

use super::{Reader, EVENT_TRIGGERS, R};
use crate::catalog::resolve::class::PG_EVENT_TRIGGER;
use crate::catalog::CatalogError;
use crate::model::{EventTrigger, ObjectId, QName};

impl Reader<'_, '_> {
    /// Runs before comments, owners and depends (which map event triggers through the
    /// resolver; the edge to the function comes from pg_depend).
    pub(super) fn event_triggers(&mut self) -> Result<(), CatalogError> {
        for row in self.run(&EVENT_TRIGGERS)? {
            let r = R {
                row: &row,
                query: EVENT_TRIGGERS.name,
            };
            let name: String = r.get("name")?;
            self.resolver.add_exact(
                PG_EVENT_TRIGGER,
                r.get("oid")?,
                ObjectId::EventTrigger(name.as_str().into()),
            );
            self.schema.event_triggers.insert(
                name.clone(),
                EventTrigger {
                    name,
                    event: r.get("event")?,
                    tags: r.get("tags")?,
                    function: QName::new(
                        r.get::<String>("function_schema")?,
                        r.get::<String>("function_name")?,
                    ),
                    enabled: r.char("enabled")?,
                },
            );
        }
        Ok(())
    }
}
