//! Extended statistics objects. PostgreSQL's only `ALTER STATISTICS` besides rename, owner
//! and schema is `SET STATISTICS` (the target): a new definition (kinds, columns, expressions,
//! table) drops and creates the object again. One on a table the plan drops or creates again
//! goes with the table and comes back after it.

use super::{Change, Differ};
use crate::model::ObjectId;

pub(super) fn find_replacements(d: &mut Differ) {
    for (name, want) in &d.desired.statistics {
        let changed = d
            .current
            .statistics
            .get(name)
            .is_some_and(|have| have.table != want.table || have.definition != want.definition);
        if changed {
            d.replaced.insert(ObjectId::Statistics(name.clone()));
        }
    }
}

pub(super) fn diff_statistics(d: &mut Differ) {
    for (name, want) in &d.desired.statistics {
        let id = ObjectId::Statistics(name.clone());
        let have = d
            .current
            .statistics
            .get(name)
            .filter(|h| d.relation_kept(&h.table));
        match have {
            Some(have) if !d.is_replaced(&id) => {
                if have.target != want.target {
                    d.push(Change::SetStatisticsTarget(want.clone()));
                }
                continue;
            }
            Some(have) => d.push(Change::DropStatistics(have.clone())),
            None => {}
        }
        d.push(Change::CreateStatistics(want.clone()));
        d.created(id);
        if want.target.is_some() {
            d.push(Change::SetStatisticsTarget(want.clone()));
        }
    }
    for (name, have) in &d.current.statistics {
        if !d.desired.statistics.contains_key(name) && d.relation_kept(&have.table) {
            d.push(Change::DropStatistics(have.clone()));
        }
    }
}
