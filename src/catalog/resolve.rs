//! Catalog addresses `(classid, objid, objsubid)` -> [`ObjectId`].
//!
//! `pg_depend`, `pg_description` and the ACL columns name objects by the oid of the catalog
//! they live in plus their own oid (and a column number). The reader registers every modeled
//! object here as it reads it; comments, grants and dependency edges are then mapped in one
//! pass each, without extra queries.
//!
//! Two lookups:
//! - [`Resolver::exact`]: the modeled object with exactly this address (comments, grants).
//!   A comment on an array type or on an identity sequence must not land on the element type
//!   or the column.
//! - [`Resolver::owning`]: the modeled object the address is, is part of, or stands for
//!   (dependency edges): a view's `_RETURN` rule is the view, a column default (`pg_attrdef`) is
//!   the column, an index owned by a constraint is the constraint, an identity sequence is its
//!   column, an array type is its element type, a table's row type is the table, a multirange
//!   is its range, a composite type's `pg_class` row is the type, and an extension member is
//!   its extension.
//!
//! A resolver outlives its read when the read is kept for a delta read that splices
//! (`catalog::splice`): it then also answers which catalog oids it knows ([`Resolver::oids`]),
//! forgets the entries of objects read again ([`Resolver::forget`]), and logs the oids
//! registered during a splice ([`Resolver::start_log`]).

use crate::model::ObjectId;
use foldhash::{HashMap, HashSet};
use serde::{Deserialize, Serialize};

/// Fixed oids of the system catalogs (stable across PostgreSQL versions; they are the
/// `classid`/`refclassid`/`classoid` values in pg_depend and pg_description).
pub mod class {
    pub const PG_TYPE: u32 = 1247;
    pub const PG_PROC: u32 = 1255;
    pub const PG_CLASS: u32 = 1259;
    pub const PG_ATTRDEF: u32 = 2604;
    pub const PG_CAST: u32 = 2605;
    pub const PG_TS_DICT: u32 = 3600;
    pub const PG_TS_CONFIG: u32 = 3602;
    pub const PG_CONSTRAINT: u32 = 2606;
    pub const PG_REWRITE: u32 = 2618;
    pub const PG_TRIGGER: u32 = 2620;
    pub const PG_NAMESPACE: u32 = 2615;
    pub const PG_EXTENSION: u32 = 3079;
    pub const PG_POLICY: u32 = 3256;
    pub const PG_COLLATION: u32 = 3456;
    pub const PG_EVENT_TRIGGER: u32 = 3466;
    pub const PG_PUBLICATION: u32 = 6104;
    pub const PG_FOREIGN_DATA_WRAPPER: u32 = 2328;
    pub const PG_FOREIGN_SERVER: u32 = 1417;
    pub const PG_USER_MAPPING: u32 = 1418;
    pub const PG_PUBLICATION_REL: u32 = 6106;
    pub const PG_PUBLICATION_NAMESPACE: u32 = 6237;
    pub const PG_OPERATOR: u32 = 2617;
    pub const PG_OPCLASS: u32 = 2616;
    pub const PG_OPFAMILY: u32 = 2753;
    pub const PG_AM: u32 = 2601;
    pub const PG_CONVERSION: u32 = 2607;
    pub const PG_LANGUAGE: u32 = 2612;
    pub const PG_STATISTIC_EXT: u32 = 3381;
}

use class::*;

pub type Addr = (u32, u32);

#[derive(Clone, Default, Serialize, Deserialize)]
pub struct Resolver {
    /// Modeled objects, by their own address.
    exact: HashMap<Addr, ObjectId>,
    /// Table columns by (table oid, attnum).
    columns: HashMap<(u32, i16), ObjectId>,
    /// Columns of views and materialized views and attributes of composite types, as
    /// `ObjectId::Column(view or type, name)`: only for comments and column grants
    /// (`COMMENT ON COLUMN v.c` is common). In depends they are the view / type itself.
    other_columns: HashMap<(u32, i16), ObjectId>,
    /// Catalog rows that are part of / stand for a modeled object (rules, constraint indexes,
    /// identity sequences, composite types' pg_class rows).
    alias: HashMap<Addr, ObjectId>,
    /// Rows that stand for another catalog row: array type -> element type, row type -> its
    /// relation, multirange -> range.
    redirect: HashMap<Addr, Addr>,
    /// Column defaults: pg_attrdef oid -> (table oid, attnum).
    attrdefs: HashMap<u32, (u32, i16)>,
    /// Extension members -> extension name.
    ext_members: HashMap<Addr, String>,
    /// Partition key indexes standing for the constraint their partition's copy was made from
    /// (an alias each): index oid -> the partition, whose constraint rows register it.
    copy_indexes: HashMap<u32, u32>,
    /// A partition's (or inheritance child's) copy of its parent's constraint: the copy's
    /// pg_constraint oid -> (its table, the parent constraint's oid). Copies are not modeled
    /// objects; the chain leads a partition's key index to the constraint that creates it.
    copies: HashMap<u32, (u32, u32)>,
    /// While splicing (`catalog::splice`): the addresses registered since
    /// [`Resolver::start_log`] (a column's is its relation's, registered with it).
    #[serde(skip)]
    log: Option<Vec<Addr>>,
}

impl Resolver {
    fn log_add(&mut self, classid: u32, oid: u32) {
        if let Some(log) = &mut self.log {
            log.push((classid, oid));
        }
    }

    pub fn add_exact(&mut self, classid: u32, oid: u32, id: ObjectId) {
        self.log_add(classid, oid);
        self.exact.insert((classid, oid), id);
    }

    pub fn add_column(&mut self, rel: u32, attnum: i16, id: ObjectId) {
        self.columns.insert((rel, attnum), id);
    }

    /// A column of a view or an attribute of a composite type (see `other_columns`).
    pub fn add_other_column(&mut self, rel: u32, attnum: i16, id: ObjectId) {
        self.other_columns.insert((rel, attnum), id);
    }

    pub fn add_alias(&mut self, classid: u32, oid: u32, id: ObjectId) {
        self.log_add(classid, oid);
        self.alias.insert((classid, oid), id);
    }

    pub fn add_redirect(&mut self, from: Addr, to: Addr) {
        self.log_add(from.0, from.1);
        self.redirect.insert(from, to);
    }

    pub fn add_attrdef(&mut self, oid: u32, rel: u32, attnum: i16) {
        self.log_add(PG_ATTRDEF, oid);
        self.attrdefs.insert(oid, (rel, attnum));
    }

    pub fn add_ext_member(&mut self, classid: u32, oid: u32, extension: String) {
        self.log_add(classid, oid);
        self.ext_members.insert((classid, oid), extension);
    }

    /// Index `ix` of partition `rel` stands for constraint `id` of an ancestor (an alias,
    /// registered with the partition's constraint rows).
    pub fn add_copy_index(&mut self, ix: u32, rel: u32, id: ObjectId) {
        self.add_alias(PG_CLASS, ix, id);
        self.copy_indexes.insert(ix, rel);
    }

    /// Each partition key index standing for an ancestor's constraint: (the partition's oid,
    /// the constraint's id).
    pub fn copy_index_pairs(&self) -> Vec<(u32, ObjectId)> {
        self.copy_indexes
            .iter()
            .filter_map(|(ix, &rel)| Some((rel, self.alias.get(&(PG_CLASS, *ix))?.clone())))
            .collect()
    }

    /// The addresses registered so far in a splice (see [`Resolver::start_log`]).
    pub fn logged(&self) -> &[Addr] {
        self.log.as_deref().unwrap_or_default()
    }

    /// The object whose rows register the entry at `addr`: [`Resolver::object_at`], but the
    /// partition for a partition key index's alias of an ancestor's constraint.
    pub fn registered_by(&self, addr: Addr) -> Option<ObjectId> {
        if addr.0 == PG_CLASS {
            if let Some(&rel) = self.copy_indexes.get(&addr.1) {
                return self.owning(PG_CLASS, rel, 0);
            }
        }
        self.object_at(addr)
    }

    /// Constraint `oid` of table `rel` is a copy of constraint `parent` (see `copies`).
    pub fn add_copy(&mut self, oid: u32, rel: u32, parent: u32) {
        self.log_add(PG_CONSTRAINT, oid);
        self.copies.insert(oid, (rel, parent));
    }

    /// The table of constraint copy `oid`, if it is one.
    pub fn copy_table(&self, oid: u32) -> Option<u32> {
        self.copies.get(&oid).map(|&(t, _)| t)
    }

    /// The constraint copy `oid` is a copy of, if it is one.
    pub fn copy_parent(&self, oid: u32) -> Option<u32> {
        self.copies.get(&oid).map(|&(_, p)| p)
    }

    /// Starts logging the oids registered from now on (a splice, `catalog::splice`).
    pub fn start_log(&mut self) {
        self.log = Some(Vec::new());
    }

    /// The addresses registered since [`Resolver::start_log`], each once; logging stops.
    pub fn take_log(&mut self) -> Vec<Addr> {
        let mut log = self.log.take().unwrap_or_default();
        log.sort_unstable();
        log.dedup();
        log
    }

    /// The object the entry at `addr` stands for (what the catalog rows of its oid are read
    /// into): its own or alias entry, where a redirect or a column default leads, its
    /// extension, or the table a constraint copy belongs to.
    pub fn object_at(&self, (classid, oid): Addr) -> Option<ObjectId> {
        if let Some(id) = self
            .exact
            .get(&(classid, oid))
            .or(self.alias.get(&(classid, oid)))
        {
            return Some(id.clone());
        }
        if classid == PG_CONSTRAINT {
            if let Some(&(rel, _)) = self.copies.get(&oid) {
                return self.owning(PG_CLASS, rel, 0);
            }
        }
        self.owning(classid, oid, 0)
    }

    /// Every address with an entry of its own (a column's is its relation's).
    pub fn addresses(&self) -> Vec<Addr> {
        let mut out: Vec<Addr> = Vec::with_capacity(self.exact.len() + self.alias.len());
        out.extend(self.exact.keys().copied());
        out.extend(self.alias.keys().copied());
        out.extend(self.redirect.keys().copied());
        out.extend(self.attrdefs.keys().map(|&o| (PG_ATTRDEF, o)));
        out.extend(self.ext_members.keys().copied());
        out.extend(self.copies.keys().map(|&o| (PG_CONSTRAINT, o)));
        out
    }

    /// Forgets every entry of the oids in `oids` (objects about to be read again) and the
    /// extension members (read in full on every read); gives the object ids those entries
    /// named (what the model holds of them).
    pub fn forget(&mut self, oids: &HashSet<u32>) -> Vec<ObjectId> {
        let mut ids = Vec::new();
        let mut take = |id: ObjectId| ids.push(id);
        for map in [&mut self.exact, &mut self.alias] {
            map.retain(|a, id| {
                let keep = !oids.contains(&a.1);
                if !keep {
                    take(id.clone());
                }
                keep
            });
        }
        for map in [&mut self.columns, &mut self.other_columns] {
            map.retain(|a, id| {
                let keep = !oids.contains(&a.0);
                if !keep {
                    take(id.clone());
                }
                keep
            });
        }
        self.redirect.retain(|a, _| !oids.contains(&a.1));
        self.attrdefs.retain(|o, _| !oids.contains(o));
        self.copies.retain(|o, _| !oids.contains(o));
        self.copy_indexes.retain(|o, _| !oids.contains(o));
        self.ext_members.clear();
        ids
    }

    /// Whether any entry stands for one of `ids` (objects gone from the schema).
    pub fn mentions_any(&self, ids: &HashSet<ObjectId>) -> bool {
        self.exact
            .values()
            .chain(self.alias.values())
            .chain(self.columns.values())
            .chain(self.other_columns.values())
            .any(|id| ids.contains(id))
    }

    /// The modeled object with exactly this address (`objsubid` > 0: a column of a table,
    /// view or composite type).
    pub fn exact(&self, classid: u32, oid: u32, subid: i32) -> Option<ObjectId> {
        if subid != 0 {
            if classid != PG_CLASS {
                return None;
            }
            let key = (oid, i16::try_from(subid).ok()?);
            return self
                .columns
                .get(&key)
                .or_else(|| self.other_columns.get(&key))
                .cloned();
        }
        self.exact.get(&(classid, oid)).cloned()
    }

    /// The modeled object this address is, is part of, or stands for (see the module doc).
    pub fn owning(&self, classid: u32, oid: u32, subid: i32) -> Option<ObjectId> {
        self.owning_depth(classid, oid, subid, 0)
    }

    fn owning_depth(&self, classid: u32, oid: u32, subid: i32, depth: u8) -> Option<ObjectId> {
        // array -> element -> row type -> relation is the longest chain; guard against loops
        if depth > 4 {
            return None;
        }
        if classid == PG_CLASS && subid > 0 {
            if let Ok(attnum) = i16::try_from(subid) {
                if let Some(id) = self.columns.get(&(oid, attnum)) {
                    return Some(id.clone());
                }
            }
            // a column of a view, index or composite type: the object itself
            return self.owning_depth(classid, oid, 0, depth + 1);
        }
        if classid == PG_ATTRDEF {
            let &(rel, attnum) = self.attrdefs.get(&oid)?;
            return self.owning_depth(PG_CLASS, rel, i32::from(attnum), depth + 1);
        }
        if let Some(id) = self
            .exact
            .get(&(classid, oid))
            .or(self.alias.get(&(classid, oid)))
        {
            return Some(id.clone());
        }
        if let Some(&(c, o)) = self.redirect.get(&(classid, oid)) {
            return self.owning_depth(c, o, 0, depth + 1);
        }
        self.ext_members
            .get(&(classid, oid))
            .map(|e| ObjectId::Extension(e.as_str().into()))
    }
}
