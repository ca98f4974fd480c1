//! Publications and their members. A publication's options change in place; `FOR ALL TABLES`
//! cannot, so a change there drops and creates it again. Members (tables, schemas) join and
//! leave one by one: a member of a publication the plan keeps leaves it explicitly before its
//! table is dropped or replaced (so the plan says so), and joins again once the table exists.
//! A member whose column list or row filter changes leaves and joins again in one step.

use super::{Change, Differ};
use crate::model::*;

/// A change of `FOR ALL TABLES` (only possible by creating the publication again).
pub(super) fn find_replacements(d: &mut Differ) {
    for (name, want) in &d.desired.publications {
        if let Some(have) = d.current.publications.get(name) {
            if have.all_tables != want.all_tables {
                d.replaced
                    .insert(ObjectId::Publication(name.as_str().into()));
            }
        }
    }
}

/// Whether the publication exists before and after the plan without being created again: its
/// members are then added and removed one by one.
fn kept(d: &Differ, name: &str) -> bool {
    let id = ObjectId::Publication(name.to_string().into());
    d.current.contains(&id) && d.desired.contains(&id) && !d.is_replaced(&id)
}

pub(super) fn diff_publications(d: &mut Differ) {
    for (name, want) in &d.desired.publications {
        let id = ObjectId::Publication(name.as_str().into());
        match d.current.publications.get(name) {
            None => {
                d.push(Change::CreatePublication(want.clone()));
                d.created(id);
            }
            Some(have) if d.is_replaced(&id) => {
                d.push(Change::DropPublication(have.clone()));
                d.push(Change::CreatePublication(want.clone()));
                d.created(id);
            }
            Some(have) if have != want => d.push(Change::AlterPublication {
                from: have.clone(),
                to: want.clone(),
            }),
            Some(_) => {}
        }
    }
    for (name, have) in &d.current.publications {
        if !d.desired.publications.contains_key(name) {
            d.push(Change::DropPublication(have.clone()));
        }
    }
    diff_tables(d);
    diff_schemas(d);
}

/// A current member that survives the plan as it is: its publication and table are kept and it
/// is not dropped around a change of what it reads (`closure`).
fn member_kept(d: &Differ, m: &PublicationTable) -> bool {
    kept(d, &m.publication)
        && d.relation_kept(&m.table)
        && !d.is_replaced(&ObjectId::PublicationTable(
            m.publication.as_str().into(),
            m.table.clone(),
        ))
}

fn diff_tables(d: &mut Differ) {
    for (key, want) in &d.desired.publication_tables {
        let id = ObjectId::PublicationTable(key.0.as_str().into(), key.1.clone());
        match d.current.publication_tables.get(key) {
            Some(have) if member_kept(d, have) => {
                if have != want {
                    d.push(Change::AlterPublicationTable {
                        from: have.clone(),
                        to: want.clone(),
                    });
                }
            }
            _ => {
                d.push(Change::AddPublicationTable(want.clone()));
                d.created(id);
            }
        }
    }
    for (key, have) in &d.current.publication_tables {
        // Leaves explicitly while its publication stays (also when its table is dropped,
        // which would take it along silently); a dropped publication takes its members along.
        if kept(d, &key.0)
            && !(d.desired.publication_tables.contains_key(key) && member_kept(d, have))
        {
            d.push(Change::DropPublicationTable(have.clone()));
        }
    }
}

fn diff_schemas(d: &mut Differ) {
    let schema_kept = |d: &Differ, n: &String| {
        d.current.schemas.contains_key(n) && d.desired.schemas.contains_key(n)
    };
    for key in &d.desired.publication_schemas {
        let here = d.current.publication_schemas.contains(key)
            && kept(d, &key.0)
            && schema_kept(d, &key.1);
        if !here {
            d.push(Change::AddPublicationSchema {
                publication: key.0.clone(),
                schema: key.1.clone(),
            });
            d.created(ObjectId::PublicationSchema(
                key.0.as_str().into(),
                key.1.as_str().into(),
            ));
        }
    }
    for key in &d.current.publication_schemas {
        let stays = d.desired.publication_schemas.contains(key) && schema_kept(d, &key.1);
        if kept(d, &key.0) && !stays {
            d.push(Change::DropPublicationSchema {
                publication: key.0.clone(),
                schema: key.1.clone(),
            });
        }
    }
}
