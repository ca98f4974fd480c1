//! Owners of objects that the plan keeps. An owner is compared only where both sides list one:
//! the live side lists every owner, the desired side only the owners its files declare
//! (`ALTER ... OWNER TO`), so an undeclared owner is whatever the database has. Objects the
//! plan creates get their owner in the step that creates them (`plan/kinds/owner.rs`), not here.

use super::{Change, Differ};
use crate::model::ObjectId;

pub(super) fn diff_owners(d: &mut Differ) {
    for (id, owner) in &d.desired.owners {
        let Some(live) = d.current.owners.get(id) else {
            continue;
        };
        if live == owner || d.fresh.contains(id) || d.is_replaced(id) {
            continue;
        }
        // A sequence OWNED BY a column has its table's owner: `ALTER TABLE ... OWNER TO`
        // moves it along, `ALTER SEQUENCE ... OWNER TO` is refused.
        if let ObjectId::Sequence(q) = id {
            if d.desired
                .sequences
                .get(q)
                .is_some_and(|s| s.owned_by.is_some())
            {
                continue;
            }
        }
        d.push(Change::SetOwner {
            on: id.clone(),
            owner: owner.clone(),
        });
    }
}
