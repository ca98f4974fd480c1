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
//! A `Name` is one pointer (8 bytes, and `Option<Name>` too), not `Arc<str>`'s pointer and
//! length (16): the length lives in the allocation, beside the reference count (see
//! [`Shared`]). Names fill a schema (two in each `QName`, up to three in an `ObjectId`), so
//! the half-size pointer made an `ObjectId` 40 bytes instead of 56 and a `Column` 24 smaller.
//!
//! A `Name` behaves exactly as its text: `Eq`, `Ord` and `Hash` are `str`'s (maps keyed by
//! names keep their order), `Display` and `Debug` print the string as `String` does, and
//! serde writes and reads a plain string, so a serialized `Name` is a serialized `String`.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use std::borrow::Borrow;
use std::cell::RefCell;
use std::cmp::Ordering;
use std::collections::HashSet;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::ptr::NonNull;
use std::sync::atomic::{self, AtomicUsize};

/// A shared, immutable identifier text (see the module doc): a pointer to a [`Shared`].
pub struct Name(NonNull<Shared>);

/// The start of a name's allocation: its reference count and length, then `len` bytes of
/// UTF-8 text. `Arc<str>` keeps the length in the pointer instead (and a weak count that
/// names never use).
#[repr(C)]
struct Shared {
    count: AtomicUsize,
    len: usize,
}

// A name's text never changes and its count is atomic, as `Arc<str>`'s.
unsafe impl Send for Name {}
unsafe impl Sync for Name {}

/// The allocation of a name of `len` bytes: a [`Shared`], then the text.
fn layout(len: usize) -> Layout {
    Layout::new::<Shared>()
        .extend(Layout::array::<u8>(len).expect("a name's length"))
        .expect("a name's length")
        .0
        .pad_to_align()
}

/// Where the text starts: right after the [`Shared`] (`u8` needs no padding).
const TEXT: usize = std::mem::size_of::<Shared>();

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

    /// A new allocation holding `text`, counted once.
    fn new(text: &str) -> Name {
        let layout = layout(text.len());
        // SAFETY: `layout` is never zero-sized (it holds a `Shared`); the count, the length
        // and then `len` bytes are written inside it before the pointer is used.
        unsafe {
            let Some(p) = NonNull::new(alloc(layout).cast::<Shared>()) else {
                handle_alloc_error(layout)
            };
            p.as_ptr().write(Shared {
                count: AtomicUsize::new(1),
                len: text.len(),
            });
            std::ptr::copy_nonoverlapping(
                text.as_ptr(),
                p.as_ptr().cast::<u8>().add(TEXT),
                text.len(),
            );
            Name(p)
        }
    }

    fn shared(&self) -> &Shared {
        // SAFETY: the allocation lives as long as any name pointing to it (counted).
        unsafe { self.0.as_ref() }
    }

    pub fn as_str(&self) -> &str {
        // SAFETY: `len` bytes of valid UTF-8 (copied from a `str`) follow the `Shared`, and
        // live as long as `self`.
        unsafe {
            let bytes = self.0.as_ptr().cast::<u8>().add(TEXT);
            std::str::from_utf8_unchecked(std::slice::from_raw_parts(bytes, self.shared().len))
        }
    }

    /// Whether both are the same allocation (an interned name), not only equal texts.
    pub fn same_allocation(a: &Name, b: &Name) -> bool {
        a.0 == b.0
    }
}

impl Clone for Name {
    fn clone(&self) -> Name {
        // As `Arc::clone`: a new reference is made from an existing one, so no ordering is
        // needed; an absurd count (leaked clones) aborts rather than wraps.
        if self.shared().count.fetch_add(1, atomic::Ordering::Relaxed) > isize::MAX as usize {
            std::process::abort();
        }
        Name(self.0)
    }
}

impl Drop for Name {
    fn drop(&mut self) {
        // As `Arc`'s drop: the last owner frees, after every other owner's use (Release on
        // each decrement, Acquire before the free).
        if self.shared().count.fetch_sub(1, atomic::Ordering::Release) != 1 {
            return;
        }
        atomic::fence(atomic::Ordering::Acquire);
        let layout = layout(self.shared().len);
        // SAFETY: this was the last reference; the allocation was made with this layout.
        unsafe { dealloc(self.0.as_ptr().cast::<u8>(), layout) }
    }
}

// Equality, order and hash are the text's (`Borrow<str>` requires it of `Hash` and `Eq`).
impl PartialEq for Name {
    fn eq(&self, other: &Name) -> bool {
        self.0 == other.0 || self.as_str() == other.as_str()
    }
}

impl Eq for Name {}

impl PartialOrd for Name {
    fn partial_cmp(&self, other: &Name) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Name {
    fn cmp(&self, other: &Name) -> Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl Hash for Name {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.as_str().hash(h)
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
        d.deserialize_str(Text)
    }
}

#[cfg(test)]
mod tests {
    use super::{interning, Name};
    use std::collections::BTreeSet;

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
