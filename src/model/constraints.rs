//! [`Constraints`]: a table's constraints by name (`Table::constraints`), as a sorted list.
//!
//! Owns only the storage of one table's constraints. It was a `BTreeMap<String, Constraint>`:
//! the key repeated the constraint's own name (a second `String` each), and a map allocates a
//! whole leaf node of eleven key/value slots (~2 KB) for its first entry, while a table has
//! about three constraints. At 5,000 tables that map was 13.1 MiB of a 65.6 MiB schema (issue
//! 9). A `Vec` sorted by [`Constraint::name`] holds exactly its constraints, iterates in the
//! map's order (names in byte order) and finds a name by binary search; inserting is linear in
//! the table's constraints, which stay few.
//!
//! The name is the key: nothing may rename a constraint in place (through `get_mut` or
//! `values_mut`); take it out and insert it again. `Debug` prints like the map, and serde
//! writes and reads the same map (name -> constraint), so a cached reading written with the
//! map reads back unchanged and no cached format changed.

use super::Constraint;
use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A table's constraints, sorted by name, one per name (see the module doc).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Constraints(Vec<Constraint>);

impl Constraints {
    pub fn new() -> Self {
        Constraints(Vec::new())
    }

    fn find(&self, name: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|c| c.name.as_str().cmp(name))
    }

    /// Adds `c` under its name, giving back the constraint of that name it replaces.
    pub fn insert(&mut self, c: Constraint) -> Option<Constraint> {
        match self.find(&c.name) {
            Ok(at) => Some(std::mem::replace(&mut self.0[at], c)),
            Err(at) => {
                // Grow by one: a table's constraints are few, and a `Vec`'s doubling would
                // leave room for four.
                self.0.reserve_exact(1);
                self.0.insert(at, c);
                None
            }
        }
    }

    pub fn remove(&mut self, name: &str) -> Option<Constraint> {
        self.find(name).ok().map(|at| self.0.remove(at))
    }

    pub fn get(&self, name: &str) -> Option<&Constraint> {
        self.find(name).ok().map(|at| &self.0[at])
    }

    /// The constraint named `name`, to change in place (never its name: see the module doc).
    pub fn get_mut(&mut self, name: &str) -> Option<&mut Constraint> {
        self.find(name).ok().map(|at| &mut self.0[at])
    }

    pub fn contains_key(&self, name: &str) -> bool {
        self.find(name).is_ok()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The names in order.
    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &String> + ExactSizeIterator {
        self.0.iter().map(|c| &c.name)
    }

    /// The constraints in name order.
    pub fn values(&self) -> std::slice::Iter<'_, Constraint> {
        self.0.iter()
    }

    /// The constraints in name order, to change in place (never their names).
    pub fn values_mut(&mut self) -> std::slice::IterMut<'_, Constraint> {
        self.0.iter_mut()
    }

    /// (name, constraint) in name order, as the map's `iter`.
    pub fn iter(&self) -> Iter<'_> {
        Iter(self.0.iter())
    }

    /// Keeps the constraints for which `keep` says true.
    pub fn retain(&mut self, keep: impl FnMut(&Constraint) -> bool) {
        self.0.retain(keep);
    }
}

/// [`Constraints::iter`].
pub struct Iter<'a>(std::slice::Iter<'a, Constraint>);

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a String, &'a Constraint);
    fn next(&mut self) -> Option<Self::Item> {
        self.0.next().map(|c| (&c.name, c))
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl DoubleEndedIterator for Iter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.0.next_back().map(|c| (&c.name, c))
    }
}

impl ExactSizeIterator for Iter<'_> {}

impl<'a> IntoIterator for &'a Constraints {
    type Item = (&'a String, &'a Constraint);
    type IntoIter = Iter<'a>;
    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

impl std::ops::Index<&str> for Constraints {
    type Output = Constraint;
    fn index(&self, name: &str) -> &Constraint {
        self.get(name).expect("no constraint of that name")
    }
}

impl FromIterator<Constraint> for Constraints {
    /// Keyed by name; of two constraints of one name the last one stays, as in a map.
    fn from_iter<I: IntoIterator<Item = Constraint>>(iter: I) -> Self {
        let mut v: Vec<Constraint> = iter.into_iter().collect();
        // Stable, so equal names keep their order and `dedup_by` below keeps the last.
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v.reverse();
        v.dedup_by(|later, earlier| later.name == earlier.name);
        v.reverse();
        v.shrink_to_fit();
        Constraints(v)
    }
}

impl fmt::Debug for Constraints {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl Serialize for Constraints {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for c in &self.0 {
            m.serialize_entry(&c.name, c)?;
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for Constraints {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Map;
        impl<'de> Visitor<'de> for Map {
            type Value = Constraints;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of constraints by name")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Constraints, A::Error> {
                let mut v = Vec::with_capacity(map.size_hint().unwrap_or(0).min(4096));
                while let Some((name, c)) = map.next_entry::<String, Constraint>()? {
                    if name != c.name {
                        return Err(serde::de::Error::custom(format!(
                            "constraint {:?} stored under the name {name:?}",
                            c.name
                        )));
                    }
                    v.push(c);
                }
                Ok(v.into_iter().collect())
            }
        }
        d.deserialize_map(Map)
    }
}

#[cfg(test)]
mod tests {
    use super::Constraints;
    use crate::model::{Constraint, ConstraintKind};
    use std::collections::BTreeMap;

    fn con(name: &str, definition: &str) -> Constraint {
        Constraint {
            name: name.into(),
            kind: ConstraintKind::Check,
            definition: definition.into(),
            validated: true,
            is_local: true,
            references: None,
            columns: Vec::new(),
            parent_index: None,
            collations: Default::default(),
        }
    }

    #[test]
    fn constraints_behave_print_and_serialize_like_the_map_they_replace() {
        let items = [
            con("b", "1"),
            con("a", "2"),
            con("ä", "3"),
            con("A", "4"),
            con("b", "5"),
        ];
        let mut set = Constraints::new();
        let mut map = BTreeMap::new();
        for c in items.iter().cloned() {
            assert_eq!(set.insert(c.clone()), map.insert(c.name.clone(), c));
        }
        assert_eq!(
            set.iter().collect::<Vec<_>>(),
            map.iter().collect::<Vec<_>>()
        );
        assert_eq!(format!("{set:?}"), format!("{map:?}"));
        assert_eq!(format!("{set:#?}"), format!("{map:#?}"));
        assert_eq!(items.iter().cloned().collect::<Constraints>(), set);
        assert_eq!(set["b"].definition, "5");
        assert!(set.contains_key("ä") && !set.contains_key("c"));
        // The same bytes as the map, both ways.
        let bytes = postcard::to_allocvec(&map).unwrap();
        assert_eq!(postcard::to_allocvec(&set).unwrap(), bytes);
        assert_eq!(postcard::from_bytes::<Constraints>(&bytes).unwrap(), set);
        assert_eq!(
            serde_json::to_string(&set).unwrap(),
            serde_json::to_string(&map).unwrap()
        );
        // A key that is not the constraint's name is refused, not misread.
        let mut wrong = BTreeMap::new();
        wrong.insert("x".to_string(), con("y", "1"));
        assert!(
            postcard::from_bytes::<Constraints>(&postcard::to_allocvec(&wrong).unwrap()).is_err()
        );
        set.retain(|c| c.name != "a");
        map.retain(|n, _| n != "a");
        assert_eq!(
            set.keys().collect::<Vec<_>>(),
            map.keys().collect::<Vec<_>>()
        );
        assert_eq!(set.remove("b").map(|c| c.definition), Some("5".into()));
        assert_eq!(set.len(), 2);
        assert_eq!(format!("{:?}", Constraints::new()), "{}");
    }
}
