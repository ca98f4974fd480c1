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

use crate::model::ObjectId;
use std::collections::HashMap;

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

type Addr = (u32, u32);

#[derive(Default)]
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
}

impl Resolver {
    pub fn add_exact(&mut self, classid: u32, oid: u32, id: ObjectId) {
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
        self.alias.insert((classid, oid), id);
    }

    pub fn add_redirect(&mut self, from: Addr, to: Addr) {
        self.redirect.insert(from, to);
    }

    pub fn add_attrdef(&mut self, oid: u32, rel: u32, attnum: i16) {
        self.attrdefs.insert(oid, (rel, attnum));
    }

    pub fn add_ext_member(&mut self, classid: u32, oid: u32, extension: String) {
        self.ext_members.insert((classid, oid), extension);
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
            .map(|e| ObjectId::Extension(e.clone()))
    }
}
