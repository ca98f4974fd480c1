//! [`DepSet`]: what one object depends on (the values of `Schema::depends`), as a sorted list.
//!
//! Owns only the storage of one object's dependency targets. A schema has one such set per
//! column, constraint, index, view, function ... (tens of thousands at 5,000 tables), most
//! holding one or two ids (a column needs its table, perhaps its type). A `BTreeSet` allocates
//! a whole node of eleven ids for its first element (~800 bytes for one `ObjectId`), which made
//! the dependency map the biggest part of a `Schema` read from a catalog (issue 9). A sorted,
//! deduplicated `Vec` holds exactly what it has, iterates in the same order and answers
//! `contains` by binary search; inserting is linear in the set's size, which stays small (a
//! view over many columns has a few dozen).
//!
//! `Debug` prints like a `BTreeSet` (`{a, b}`), so any text made of a schema reads the same.

use super::ObjectId;
use serde::{Deserialize, Serialize};

/// A set of [`ObjectId`]s, sorted and without repeats (see the module doc).
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct DepSet(Vec<ObjectId>);

impl DepSet {
    pub fn new() -> Self {
        DepSet(Vec::new())
    }

    /// Adds `id`; false when it was there already.
    pub fn insert(&mut self, id: ObjectId) -> bool {
        match self.0.binary_search(&id) {
            Ok(_) => false,
            Err(at) => {
                // Grow by one: most sets end with one or two ids, and a `Vec`'s doubling
                // would leave room for four.
                self.0.reserve_exact(1);
                self.0.insert(at, id);
                true
            }
        }
    }

    pub fn contains(&self, id: &ObjectId) -> bool {
        self.0.binary_search(id).is_ok()
    }

    /// The ids in order.
    pub fn iter(&self) -> std::slice::Iter<'_, ObjectId> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Keeps the ids for which `keep` says true.
    pub fn retain(&mut self, keep: impl FnMut(&ObjectId) -> bool) {
        self.0.retain(keep);
    }
}

impl std::fmt::Debug for DepSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.0.iter()).finish()
    }
}

impl Extend<ObjectId> for DepSet {
    fn extend<I: IntoIterator<Item = ObjectId>>(&mut self, iter: I) {
        for id in iter {
            self.insert(id);
        }
    }
}

impl FromIterator<ObjectId> for DepSet {
    fn from_iter<I: IntoIterator<Item = ObjectId>>(iter: I) -> Self {
        let mut v: Vec<ObjectId> = iter.into_iter().collect();
        v.sort();
        v.dedup();
        v.shrink_to_fit();
        DepSet(v)
    }
}

impl<'a> IntoIterator for &'a DepSet {
    type Item = &'a ObjectId;
    type IntoIter = std::slice::Iter<'a, ObjectId>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl IntoIterator for DepSet {
    type Item = ObjectId;
    type IntoIter = std::vec::IntoIter<ObjectId>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::DepSet;
    use crate::model::{ObjectId, QName};
    use std::collections::BTreeSet;

    #[test]
    fn a_dep_set_behaves_and_prints_like_a_btreeset() {
        let t = |n: &str| ObjectId::Table(QName::new("public", n));
        let ids = [t("b"), t("a"), t("c"), t("a"), t("b")];
        let mut set = DepSet::new();
        let mut tree = BTreeSet::new();
        for id in ids.iter().cloned() {
            assert_eq!(set.insert(id.clone()), tree.insert(id));
        }
        assert_eq!(
            set.iter().collect::<Vec<_>>(),
            tree.iter().collect::<Vec<_>>()
        );
        assert_eq!(format!("{set:?}"), format!("{tree:?}"));
        assert_eq!(format!("{set:#?}"), format!("{tree:#?}"));
        assert!(set.contains(&t("c")) && !set.contains(&t("d")));
        assert_eq!(ids.iter().cloned().collect::<DepSet>(), set);
        set.retain(|id| *id != t("b"));
        assert_eq!(set.len(), 2);
        assert_eq!(
            format!("{:?}", DepSet::new()),
            format!("{:?}", BTreeSet::<ObjectId>::new())
        );
    }
}
