//! Splicing a delta read into the previous reading (issue 9): the model of only the objects
//! a delta read (`catalog::delta`) reads again is built, and put in place of theirs in the
//! previous reading's [`Schema`], instead of building the whole schema again from kept rows.
//!
//! Owns: what a reading keeps for that ([`Base`]: its schema, its [`Resolver`], and which
//! model object every catalog oid it registered belongs to), which objects a set of changed
//! oids makes read again ([`plan`]), taking their entries out of the model ([`prepare`]),
//! and the checks that the result is what a full read would give ([`finish`]); and what is
//! stored of a base with its delta state ([`StoredRef`]: all but the schema, which is the
//! cached reading stored beside it) and how it is restored with that reading
//! ([`Stored::restore`]): a restored base is the base that was in memory, and a splice into
//! it is checked the same way.
//!
//! **Roots.** Every modeled entry belongs to one root object: a table, view or type with its
//! columns, constraints, indexes, triggers and policies (and a table's identity sequences and
//! column defaults, a composite type's `pg_class` row, a view's rule, an array or row type),
//! else the object itself (a function, a sequence, a schema ...); an extension member belongs
//! to its extension. A catalog oid belongs to the root of the object its resolver entry names
//! ([`Resolver::registered_by`]). When any oid of a root changed, the whole root is read
//! again: every oid belonging to it is added to the set the kept queries re-run for, its
//! entries (in its kind's map, `comments`, `grants`, `owners`, `depends`, `sizes`) and its
//! resolver entries are removed, and the rows read again put them back. The model fields the
//! queries not kept fill (schemas, extensions, publications ...) are built in full as in any
//! read; what is kept of the previous reading is the fields of the kept queries only.
//!
//! **What makes a splice give up** (the read then builds everything from the kept rows, as
//! before splicing, and says why under `-v`): an oid read again whose entry lands in a root
//! that existed and was not read again (an object that moved between owners), an oid not
//! read again whose entry now names another root (renamed by a query read in full), and an
//! object id gone from the model that an entry not read again still names (a dependency edge
//! or resolver entry of an object that was not read again: a constraint renamed under a
//! partition's key index). Past half of the roots read again, splicing is not worth it.

use super::resolve::{Addr, Resolver};
use crate::model::{Grant, ObjectId, QName, Schema, TypeKind};
use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// What a reading keeps to be spliced into: the schema it gave, its resolver, and the root
/// each registered oid belongs to (see the module doc). The oid -> root map is the only
/// addition to what the read built anyway: one entry per registered oid.
///
/// The schema is shared with the reading handed to the caller (`delta::read_delta_shared`):
/// a caller that drops its reading before the next read lets that read splice into it
/// without a copy; one that keeps it makes [`prepare`] copy it (issue 9: a reading and its
/// base were two copies of the same schema, ~94 MiB each at 5,000 tables).
#[derive(Clone, Default)]
pub struct Base {
    schema: Arc<Schema>,
    resolver: Resolver,
    members: HashMap<u32, ObjectId>,
    /// Roots read again together: a partition and the root of the ancestor's constraint its
    /// key index stands for (the index's rows add edges to that constraint, the partition's
    /// rows register the index as standing for it).
    coupled: Vec<(ObjectId, ObjectId)>,
}

/// The pairs of roots a splice reads again together (see `Base::coupled`).
fn coupled(resolver: &Resolver, schema: &Schema) -> Vec<(ObjectId, ObjectId)> {
    resolver
        .copy_index_pairs()
        .into_iter()
        .filter_map(|(rel, id)| {
            let part = resolver.owning(super::resolve::class::PG_CLASS, rel, 0)?;
            Some((root_of(&part, schema), root_of(&id, schema)))
        })
        .collect()
}

impl Base {
    /// The base of a reading built in full.
    pub(super) fn of(schema: Arc<Schema>, resolver: Resolver) -> Base {
        let addresses = resolver.addresses();
        let mut members = HashMap::with_capacity(addresses.len());
        for addr in addresses {
            if let Some(id) = resolver.registered_by(addr) {
                members.insert(addr.1, root_of(&id, &schema));
            }
        }
        Base {
            coupled: coupled(&resolver, &schema),
            schema,
            resolver,
            members,
        }
    }

    /// The schema of the reading, shared.
    pub(super) fn shared(&self) -> Arc<Schema> {
        Arc::clone(&self.schema)
    }

    /// How many roots the reading has (distinct objects oids belong to).
    fn roots(&self) -> usize {
        self.members.values().collect::<HashSet<_>>().len()
    }
}

/// A [`Base`] as stored with its delta state (`catalog::delta`, `shadow::reading`): all of
/// it but the schema, which is stored beside it as the kept database's cached reading, and
/// the schema's owners and sizes, which that reading leaves out (a desired schema lists only
/// the owners its files declare, and no sizes: `workflow::desired::read_loaded`). The oid ->
/// root map is stored by root (each root once, then its oids).
#[derive(Serialize)]
pub(super) struct StoredRef<'a> {
    resolver: &'a Resolver,
    roots: Vec<(&'a ObjectId, Vec<u32>)>,
    coupled: &'a [(ObjectId, ObjectId)],
    owners: &'a BTreeMap<ObjectId, String>,
    sizes: &'a BTreeMap<QName, u64>,
}

/// What [`StoredRef`] writes, read back: a base waiting for its schema ([`Stored::restore`]).
/// Also what a base is *shelved* as ([`Base::into_stored`]: its schema dropped), written as
/// the same bytes as its [`StoredRef`].
#[derive(Serialize, Deserialize)]
pub(super) struct Stored {
    resolver: Resolver,
    roots: Vec<(ObjectId, Vec<u32>)>,
    coupled: Vec<(ObjectId, ObjectId)>,
    owners: BTreeMap<ObjectId, String>,
    sizes: BTreeMap<QName, u64>,
}

/// The members (oid, root) grouped by root, roots in order, each root's oids in order: how a
/// base's members are stored (the same bytes whether the roots are borrowed or owned).
fn by_root<K: Ord + std::hash::Hash>(
    members: impl IntoIterator<Item = (u32, K)>,
) -> Vec<(K, Vec<u32>)> {
    let mut grouped: HashMap<K, Vec<u32>> = HashMap::new();
    for (o, root) in members {
        grouped.entry(root).or_default().push(o);
    }
    let mut roots: Vec<(K, Vec<u32>)> = grouped.into_iter().collect();
    roots.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    for (_, oids) in &mut roots {
        oids.sort_unstable();
    }
    roots
}

impl Base {
    /// What is stored of this base with its delta state (see [`StoredRef`]).
    pub(super) fn stored(&self) -> StoredRef<'_> {
        StoredRef {
            resolver: &self.resolver,
            roots: by_root(self.members.iter().map(|(o, root)| (*o, root))),
            coupled: &self.coupled,
            owners: &self.schema.owners,
            sizes: &self.schema.sizes,
        }
    }
}

impl Base {
    /// This base without its schema, as it is stored ([`Base::stored`]): what a reading
    /// that hands its schema to the caller keeps (`delta::read_delta_alone`: no copy of the
    /// schema), given its schema back by [`Stored::restore`] with the reading itself (loaded
    /// again from the cached reading, or a copy the caller kept).
    pub(super) fn into_stored(self) -> Stored {
        Stored {
            resolver: self.resolver,
            roots: by_root(self.members),
            coupled: self.coupled,
            owners: self.schema.owners.clone(),
            sizes: self.schema.sizes.clone(),
        }
    }
}

impl Stored {
    /// The base again, its schema `reading`: the schema stored beside it (whoever restores
    /// vouches for that: `shadow::reading` keys the state's file by the reading file's
    /// digest), with the stored owners and sizes in place of its own. `Err` (why) when the
    /// reading's owners or sizes are not a part of the stored ones (it is not the reading of
    /// this base, filtered as a desired schema is). The restored base is then what the base
    /// in memory was, and a splice into it is checked as any ([`finish`]).
    pub(super) fn restore(self, mut reading: Schema) -> Result<Base, String> {
        if let Some((id, owner)) = reading
            .owners
            .iter()
            .find(|(id, owner)| self.owners.get(*id) != Some(*owner))
        {
            return Err(format!(
                "the cached reading says {id} is owned by {owner}, the stored base does not"
            ));
        }
        if let Some((q, _)) = reading
            .sizes
            .iter()
            .find(|(q, size)| self.sizes.get(*q) != Some(*size))
        {
            return Err(format!(
                "the cached reading has another size of {q} than the stored base"
            ));
        }
        reading.owners = self.owners;
        reading.sizes = self.sizes;
        let mut members = HashMap::with_capacity(self.roots.iter().map(|(_, o)| o.len()).sum());
        for (root, oids) in self.roots {
            for o in oids {
                members.insert(o, root.clone());
            }
        }
        Ok(Base {
            schema: Arc::new(reading),
            resolver: self.resolver,
            members,
            coupled: self.coupled,
        })
    }
}

/// Which roots a splice reads again, and the oids the kept queries re-run for.
pub(super) struct Plan {
    rebuilt: HashSet<ObjectId>,
    /// The oids belonging to the roots read again (in the previous reading).
    members: HashSet<u32>,
    /// Those and the changed oids: what the kept queries re-run for.
    fetch: HashSet<u32>,
}

impl Plan {
    /// The oids the kept queries re-run for.
    pub(super) fn fetch(&self) -> &HashSet<u32> {
        &self.fetch
    }

    /// How many roots are read again.
    pub(super) fn roots(&self) -> usize {
        self.rebuilt.len()
    }
}

/// The roots of the `changed` oids, and every oid belonging to them; `Err` (why) when
/// splicing is not worth it.
pub(super) fn plan(base: &Base, changed: &HashSet<u32>) -> Result<Plan, String> {
    let mut rebuilt: HashSet<ObjectId> = changed
        .iter()
        .filter_map(|o| base.members.get(o))
        .cloned()
        .collect();
    let mut more = true;
    while more {
        more = false;
        for (a, b) in &base.coupled {
            if rebuilt.contains(a) != rebuilt.contains(b) {
                rebuilt.insert(a.clone());
                rebuilt.insert(b.clone());
                more = true;
            }
        }
    }
    if rebuilt.len() > 50 {
        let roots = base.roots();
        if rebuilt.len() * 2 > roots {
            return Err(format!(
                "{} of {roots} objects are read again: building all is cheaper",
                rebuilt.len()
            ));
        }
    }
    let members: HashSet<u32> = if rebuilt.is_empty() {
        HashSet::new()
    } else {
        base.members
            .iter()
            .filter(|(_, r)| rebuilt.contains(r))
            .map(|(o, _)| *o)
            .collect()
    };
    let fetch = changed.union(&members).copied().collect();
    Ok(Plan {
        rebuilt,
        members,
        fetch,
    })
}

/// What [`prepare`] took out, for [`finish`].
pub(super) struct Taken {
    /// The oid -> root map of the previous reading.
    members: HashMap<u32, ObjectId>,
    /// Object ids whose entries were removed.
    removed: HashSet<ObjectId>,
}

/// The previous reading without the entries of the roots read again, and without the fields
/// the queries that are not kept fill; and its resolver without their entries (logging what
/// is registered from now on). What the splice builds goes into these. The reading is copied
/// only when its caller still holds it ([`Base`]).
pub(super) fn prepare(base: Base, plan: &Plan) -> (Schema, Resolver, Taken) {
    let Base {
        schema,
        mut resolver,
        members,
        coupled: _,
    } = base;
    let schema = Arc::unwrap_or_clone(schema);
    let mut removed: HashSet<ObjectId> = resolver.forget(&plan.members).into_iter().collect();
    removed.extend(plan.rebuilt.iter().cloned());
    resolver.start_log();
    // The fields of the kept queries (`delta::key_of`); everything else is built again.
    let mut s = Schema {
        types: schema.types,
        sequences: schema.sequences,
        tables: schema.tables,
        indexes: schema.indexes,
        views: schema.views,
        functions: schema.functions,
        triggers: schema.triggers,
        policies: schema.policies,
        comments: schema.comments,
        grants: schema.grants,
        owners: schema.owners,
        depends: schema.depends,
        sizes: schema.sizes,
        ..Schema::default()
    };
    for id in &removed {
        remove(&mut s, id);
    }
    (s, resolver, Taken { members, removed })
}

/// Removes the entries of `id` (not those of its parts: they are removed by their own ids).
fn remove(s: &mut Schema, id: &ObjectId) {
    match id {
        ObjectId::Table(q) => {
            s.tables.remove(q);
            s.sizes.remove(q);
        }
        ObjectId::View(q) => {
            s.views.remove(q);
            s.sizes.remove(q);
        }
        ObjectId::Sequence(q) => {
            s.sequences.remove(q);
        }
        ObjectId::Type(q) => {
            s.types.remove(q);
        }
        ObjectId::Index(q) => {
            s.indexes.remove(q);
        }
        ObjectId::Function(q, a) => {
            s.functions.remove(&(q.clone(), a.to_string()));
        }
        ObjectId::Trigger(q, n) => {
            s.triggers.remove(&(q.clone(), n.to_string()));
        }
        ObjectId::Policy(q, n) => {
            s.policies.remove(&(q.clone(), n.to_string()));
        }
        _ => {}
    }
    s.comments.remove(id);
    s.owners.remove(id);
    s.depends.remove(id);
    remove_grants(&mut s.grants, id);
}

/// Removes the grants on `id` (a range: grants sort by what they are on first).
fn remove_grants(grants: &mut BTreeSet<Grant>, id: &ObjectId) {
    let first = Grant {
        on: id.clone(),
        privilege: String::new(),
        grantee: String::new(),
        with_grant_option: false,
        granted: false,
    };
    let doomed: Vec<Grant> = grants
        .range(first..)
        .take_while(|g| &g.on == id)
        .cloned()
        .collect();
    for g in doomed {
        grants.remove(&g);
    }
}

/// The root `id` belongs to in `s` (see the module doc).
pub(super) fn root_of(id: &ObjectId, s: &Schema) -> ObjectId {
    let relation = |q: &QName| {
        if s.tables.contains_key(q) {
            Some(ObjectId::Table(q.clone()))
        } else if s.views.contains_key(q) {
            Some(ObjectId::View(q.clone()))
        } else if s.types.contains_key(q) {
            Some(ObjectId::Type(q.clone()))
        } else {
            None
        }
    };
    match id {
        ObjectId::Column(q, _)
        | ObjectId::Constraint(q, _)
        | ObjectId::Trigger(q, _)
        | ObjectId::Policy(q, _) => relation(q),
        ObjectId::DomainConstraint(q, _) => Some(ObjectId::Type(q.clone())),
        ObjectId::Index(q) => s.indexes.get(q).and_then(|i| relation(&i.table)),
        _ => None,
    }
    .unwrap_or_else(|| id.clone())
}

/// The roots of the addresses registered so far in a splice (for `build`'s structural edges).
pub(super) fn fresh_roots(resolver: &Resolver, s: &Schema) -> HashSet<ObjectId> {
    resolver
        .logged()
        .iter()
        .filter_map(|&a| resolver.registered_by(a))
        .map(|id| root_of(&id, s))
        .collect()
}

/// Checks the spliced reading (see the module doc) and makes it the new base; `Err` (why)
/// when the splice cannot be sure it is what a full read gives.
pub(super) fn finish(
    plan: &Plan,
    taken: Taken,
    schema: Schema,
    mut resolver: Resolver,
) -> Result<Base, String> {
    let Taken {
        mut members,
        removed,
    } = taken;
    let log: Vec<Addr> = resolver.take_log();
    // Whether a root existed in the previous reading: asked only of new oids' roots.
    let mut earlier: Option<HashSet<ObjectId>> = None;
    let mut placed = Vec::with_capacity(log.len());
    for addr in log {
        let Some(id) = resolver.registered_by(addr) else {
            continue;
        };
        let root = root_of(&id, &schema);
        let o = addr.1;
        if !plan.rebuilt.contains(&root) {
            if plan.fetch.contains(&o) {
                // a new root (a new object, or one renamed) is fine; an existing one had
                // entries that were not taken out
                let known = earlier
                    .get_or_insert_with(|| members.values().cloned().collect())
                    .contains(&root);
                if known {
                    return Err(format!(
                        "{id} was read again into {root}, which was not read again"
                    ));
                }
            } else if members.get(&o) != Some(&root) {
                return Err(format!(
                    "{id} now belongs to {root} without being read again"
                ));
            }
        }
        placed.push((o, root));
    }
    for o in &plan.members {
        members.remove(o);
    }
    members.extend(placed);
    let gone: HashSet<ObjectId> = removed
        .into_iter()
        .filter(|id| !present(id, &schema))
        .collect();
    if !gone.is_empty() {
        let named = schema
            .depends
            .values()
            .any(|set| set.iter().any(|i| gone.contains(i)))
            || resolver.mentions_any(&gone);
        if named {
            let mut g: Vec<String> = gone.iter().map(|i| i.to_string()).collect();
            g.sort();
            return Err(format!(
                "gone from the schema but still named by an object not read again: {}",
                g.join(", ")
            ));
        }
    }
    Ok(Base {
        coupled: coupled(&resolver, &schema),
        schema: Arc::new(schema),
        resolver,
        members,
    })
}

/// Whether `id` is in `s` (a column also of a view or a composite type).
fn present(id: &ObjectId, s: &Schema) -> bool {
    if let ObjectId::Column(q, c) = id {
        if s.views
            .get(q)
            .is_some_and(|v| v.columns.iter().any(|(n, _)| n == c))
        {
            return true;
        }
        if let Some(TypeKind::Composite(attrs)) = s.types.get(q).map(|t| &t.kind) {
            if attrs.iter().any(|a| &a.name == c) {
                return true;
            }
        }
    }
    s.contains(id)
}
