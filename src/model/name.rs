//! [`Name`]: an identifier text shared by every copy of it (issue 9, memory).
//!
//! Owns the storage of the names in [`super::QName`]: a schema of 5,000 tables holds each
//! table's name in the table, its columns' and constraints' ids, the dependency map (keys and
//! targets), the resolver and, later, the diff and the plan, and the schema name `public` in
//! every one of them. As `String`s each copy was an allocation of its own; a `Name` is an
//! `Arc<str>`, so a copy is a reference count.
//!
//! Names made from the same text while an [`interning`] scope is active on the thread are the
//! same allocation: the catalog read and the decoding of cached readings run inside one, so
//! the names of rows read apart (every index's `public`, a table name in each of its rows)
//! are stored once.
//!
//! A `Name` is one pointer (8 bytes, and `Option<Name>` too): an [`arcstr::ArcStr`], which
//! keeps the length in the allocation beside the reference count, not `Arc<str>`'s pointer
//! and length (16). Names fill a schema (two in each `QName`, up to three in an `ObjectId`),
//! so the half-size pointer made an `ObjectId` 32 bytes instead of 56 and a `Column` smaller.
//!
//! A `Name` behaves exactly as its text: `Eq`, `Ord` and `Hash` are `str`'s (maps keyed by
//! names keep their order), `Display` and `Debug` print the string as `String` does, and
//! serde writes and reads a plain string, so a serialized `Name` is a serialized `String`.

use foldhash::{HashSet, HashSetExt};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::borrow::Borrow;
use std::cell::RefCell;
use std::fmt;
use std::ops::Deref;

/// A shared, immutable identifier text (see the module doc). `ArcStr`'s equality, order and
/// hash are its text's (equality first compares the pointers: interned names are equal at
/// once).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Name(arcstr::ArcStr);

thread_local! {
    /// The texts made into names in the thread's current [`interning`] scope, if any.
    static INTERNED: RefCell<Option<HashSet<Name>>> = const { RefCell::new(None) };
}

/// Runs `f` with names interned on this thread: names of equal text made inside share one
/// allocation. Nested scopes share the outer one; the table is dropped when the outermost
/// scope ends (the names made live on, only the lookup table goes).
pub fn interning<T>(f: impl FnOnce() -> T) -> T {
    let outer = INTERNED.with(|i| {
        let mut i = i.borrow_mut();
        if i.is_some() {
            true
        } else {
            *i = Some(HashSet::new());
            false
        }
    });
    // Ends the scope even if `f` panics, so a later scope on the thread starts empty.
    struct End(bool);
    impl Drop for End {
        fn drop(&mut self) {
            if !self.0 {
                INTERNED.with(|i| i.borrow_mut().take());
            }
        }
    }
    let _end = End(outer);
    f()
}

impl Name {
    /// The name of `text`, interned when a scope is active.
    fn make(text: &str) -> Name {
        INTERNED.with(|i| match i.borrow_mut().as_mut() {
            Some(set) => match set.get(text) {
                Some(n) => n.clone(),
                None => {
                    let n = Name::new(text);
                    set.insert(n.clone());
                    n
                }
            },
            None => Name::new(text),
        })
    }

    /// A new allocation holding `text`.
    fn new(text: &str) -> Name {
        Name(arcstr::ArcStr::from(text))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether both are the same allocation (an interned name), not only equal texts.
    pub fn same_allocation(a: &Name, b: &Name) -> bool {
        arcstr::ArcStr::ptr_eq(&a.0, &b.0)
    }
}

impl Deref for Name {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Name {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for Name {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl From<&str> for Name {
    fn from(s: &str) -> Name {
        Name::make(s)
    }
}

impl From<String> for Name {
    fn from(s: String) -> Name {
        Name::make(&s)
    }
}

impl From<&String> for Name {
    fn from(s: &String) -> Name {
        Name::make(s)
    }
}

impl From<&Name> for Name {
    fn from(s: &Name) -> Name {
        s.clone()
    }
}

impl From<Name> for String {
    fn from(n: Name) -> String {
        n.as_str().to_string()
    }
}

impl Default for Name {
    fn default() -> Name {
        Name::make("")
    }
}

impl PartialEq<str> for Name {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Name {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for Name {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other.as_str()
    }
}

impl PartialEq<Name> for str {
    fn eq(&self, other: &Name) -> bool {
        self == other.as_str()
    }
}

impl PartialEq<Name> for &str {
    fn eq(&self, other: &Name) -> bool {
        *self == other.as_str()
    }
}

impl PartialEq<Name> for String {
    fn eq(&self, other: &Name) -> bool {
        self.as_str() == other.as_str()
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.as_str(), f)
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl Serialize for Name {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Name {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Name, D::Error> {
        struct Text;
        impl serde::de::Visitor<'_> for Text {
            type Value = Name;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Name, E> {
                Ok(Name::make(v))
            }
        }
        // `deserialize_string`, not `deserialize_str`: the text is copied into the name
        // anyway, and a reader decoding from a stream (postcard's `from_io`,
        // `crate::cachefile`) lends a `str` from a scratch buffer it never reuses, but a
        // `String`'s bytes from one it does: with `str` every name of a cached reading took
        // its own part of the scratch, which overflowed and made the file decode twice.
        d.deserialize_string(Text)
    }
}

#[cfg(test)]
mod tests {
    use super::{interning, Name};
    use std::collections::BTreeSet;

    #[test]
    fn names_decode_from_a_stream_through_a_scratch_smaller_than_all_their_texts() {
        let names: Vec<Name> = (0..2_000)
            .map(|i| Name::from(format!("table_number_{i:06}").as_str()))
            .collect();
        let bytes = postcard::to_allocvec(&names).unwrap();
        assert!(bytes.len() > 8 * 1024);
        let mut scratch = [0u8; 1024];
        let (back, _): (Vec<Name>, _) =
            postcard::from_io((&bytes[..], &mut scratch[..])).expect("decodes in 1 KiB");
        assert_eq!(back, names);
    }

    #[test]
    fn a_name_orders_prints_and_serializes_as_its_string() {
        let texts = ["b", "a", "ä", "A", "a b", ""];
        let names: BTreeSet<Name> = texts.iter().map(|t| Name::from(*t)).collect();
        let strings: BTreeSet<String> = texts.iter().map(|t| t.to_string()).collect();
        assert_eq!(
            names.iter().map(|n| n.as_str()).collect::<Vec<_>>(),
            strings.iter().map(|s| s.as_str()).collect::<Vec<_>>()
        );
        let n = Name::from("we\"ird");
        assert_eq!(format!("{n} {n:?}"), format!("{0} {0:?}", "we\"ird"));
        assert_eq!(
            postcard::to_allocvec(&n).unwrap(),
            postcard::to_allocvec("we\"ird").unwrap()
        );
        let back: Name = postcard::from_bytes(&postcard::to_allocvec("x").unwrap()).unwrap();
        assert_eq!(back, "x");
        assert_eq!(serde_json::to_string(&n).unwrap(), r#""we\"ird""#);
        assert!(names.contains("ä"));
    }

    #[test]
    fn a_name_is_one_pointer_and_lives_while_a_copy_does() {
        use crate::model::{ObjectId, QName};
        assert_eq!(std::mem::size_of::<Name>(), 8);
        assert_eq!(std::mem::size_of::<Option<Name>>(), 8);
        assert_eq!(std::mem::size_of::<QName>(), 16);
        assert_eq!(std::mem::size_of::<ObjectId>(), 32);
        let texts: Vec<String> = (0..64).map(|i| "n".repeat(i)).collect();
        let names: Vec<Name> = texts.iter().map(Name::from).collect();
        // Copies dropped on other threads, in any order, leave the text as it was.
        let copies: Vec<Vec<Name>> = (0..4).map(|_| names.clone()).collect();
        std::thread::scope(|s| {
            for c in copies {
                s.spawn(move || drop(c));
            }
        });
        for (n, t) in names.iter().zip(&texts) {
            assert_eq!(n.as_str(), t);
            assert_eq!(n.len(), t.len());
        }
        let last = names[63].clone();
        drop(names);
        assert_eq!(last, "n".repeat(63));
        assert_eq!(Name::default(), "");
    }

    #[test]
    fn names_made_in_an_interning_scope_share_their_text() {
        let (a, b) = interning(|| (Name::from("public"), Name::from(String::from("public"))));
        assert!(Name::same_allocation(&a, &b));
        let (c, d) = (Name::from("public"), Name::from("public"));
        assert!(!Name::same_allocation(&c, &d));
        // Decoding inside a scope interns too.
        let bytes = postcard::to_allocvec(&("t", "t")).unwrap();
        let (e, f): (Name, Name) = interning(|| postcard::from_bytes(&bytes).unwrap());
        assert!(Name::same_allocation(&e, &f));
    }
}
