//! The rows a delta read keeps between reads: which queries keep theirs and which object each
//! row belongs to ([`key_of`]), and the compact form they are held and stored in
//! ([`KeptRows`]: each value's bytes as the server sent them after a varint length, every row
//! of a query in one buffer), read back by the builders through the same typed access as live
//! rows (`build::RowSource`).

use super::*;

/// The queries whose rows are kept, with the columns naming the object each row belongs to
/// (the first that is not 0). Every part of such a row comes from catalog rows the census
/// counts for that object, or from objects it depends on (closed over in [`closure`]).
pub(in crate::catalog) fn key_of(query: &str) -> Option<&'static [&'static str]> {
    KEPT.iter().find(|(q, _)| *q == query).map(|(_, key)| *key)
}

/// The kept queries and their key columns ([`key_of`]); also how a restored state's query
/// names become the static names the cache is keyed by ([`DeltaState`]'s `Deserialize`).
pub(super) const KEPT: &[(&str, &[&str])] = &[
    ("tables", &["oid"]),
    ("views", &["oid"]),
    ("sequences", &["oid"]),
    ("indexes", &["oid"]),
    ("functions", &["oid"]),
    ("triggers", &["oid"]),
    ("policies", &["oid"]),
    ("type_index", &["oid"]),
    ("types", &["oid"]),
    ("columns", &["attrelid"]),
    ("constraints", &["conrelid", "contypid"]),
    ("comments", &["objoid"]),
    ("grants", &["objid"]),
    ("owners", &["objid"]),
    ("depends", &["objid"]),
];

/// The kept rows of the last read, by query, each with the object it belongs to.
///
/// Rows are kept in a compact form ([`KeptRows`]), not as `postgres::Row`s: a `Row` holds a
/// range (24 bytes) per column beside its data, a handle on its statement, and a slice of the
/// connection's read buffer that keeps the buffer's whole chunk alive; at 5,000 tables the
/// kept rows of one reading cost ~150 MiB that way, about the size of the schema they make.
#[derive(Default)]
pub struct RowCache {
    pub(super) rows: HashMap<&'static str, KeptQuery>,
    /// During a delta read: the objects whose rows are read again (as a list for the query
    /// parameter, and as a set).
    pub(super) restrict: Option<(Vec<u32>, HashSet<u32>)>,
    /// During a delta read that splices (`catalog::splice`): the kept rows of the objects
    /// not read again are kept but not handed over (their model is the previous reading's).
    pub(super) only_fresh: bool,
}

/// The kept rows of one query and the names and types of its columns (the same for every
/// reading: the query text is fixed for a server version, and a restricted query selects `*`
/// of it).
#[derive(Default)]
pub(super) struct KeptQuery {
    pub(super) columns: Vec<(String, Type)>,
    pub(super) rows: KeptRows,
}

/// A query's kept rows, each with the object it belongs to, in one buffer. A row's form: for
/// each column in order, a LEB128 varint (0 for NULL, else the value's length plus one: one
/// byte for the short values most are) followed by the value in PostgreSQL's binary format,
/// as the server sent it. The rows lie end to end in `data`; `rows` holds each one's owner
/// and where it ends: 8 bytes a row. One allocation per row (a boxed slice in a list of
/// `(u32, row)`) cost ~40 bytes a row beside its data; at 5,000 tables a reading keeps
/// ~260,000 rows of ~74 bytes (issue 9, peak RSS).
#[derive(Default)]
pub(super) struct KeptRows {
    data: Vec<u8>,
    /// (owner, end of its row in `data`), in the order the rows were kept.
    rows: Vec<(u32, u32)>,
}

impl KeptRows {
    /// Each row with its owner, in order.
    pub(super) fn iter(&self) -> impl Iterator<Item = (u32, &[u8])> + '_ {
        let mut start = 0usize;
        self.rows.iter().map(move |&(owner, end)| {
            let row = &self.data[start..end as usize];
            start = end as usize;
            (owner, row)
        })
    }

    /// Keeps the rows whose owner `keep` says true, moving them down in place.
    pub(super) fn retain(&mut self, mut keep: impl FnMut(u32) -> bool) {
        let (mut start, mut to, mut kept) = (0usize, 0usize, 0usize);
        for i in 0..self.rows.len() {
            let (owner, end) = self.rows[i];
            let end = end as usize;
            if keep(owner) {
                self.data.copy_within(start..end, to);
                to += end - start;
                self.rows[kept] = (owner, to as u32);
                kept += 1;
            }
            start = end;
        }
        self.rows.truncate(kept);
        self.data.truncate(to);
    }

    /// Keeps `row` (a live row of query `name`) for `owner`; gives its kept form.
    fn push(&mut self, owner: u32, row: &Row, name: &'static str) -> Result<&[u8], CatalogError> {
        let start = self.data.len();
        for at in 0..row.len() {
            let RawValue(raw) = row.try_get(at).map_err(|source| CatalogError::Decode {
                query: name,
                column: "(kept row)",
                source: Box::new(source),
            })?;
            match raw {
                None => put_varint(&mut self.data, 0),
                Some(v) => {
                    put_varint(&mut self.data, v.len() as u64 + 1);
                    self.data.extend_from_slice(v);
                }
            }
        }
        self.end_row(owner)?;
        Ok(&self.data[start..])
    }

    /// Ends the row whose bytes were appended to `data` since the last one.
    fn end_row(&mut self, owner: u32) -> Result<(), CatalogError> {
        let end = u32::try_from(self.data.len()).map_err(|_| CatalogError::Decode {
            query: "delta read",
            column: "(kept row)",
            source: "more than 4 GiB of kept rows for one query".into(),
        })?;
        self.rows.push((owner, end));
        Ok(())
    }

    fn shrink_to_fit(&mut self) {
        self.data.shrink_to_fit();
        self.rows.shrink_to_fit();
    }

    /// Bytes on the heap.
    fn bytes(&self) -> usize {
        self.data.capacity() + self.rows.capacity() * std::mem::size_of::<(u32, u32)>()
    }
}

pub(super) fn put_varint(data: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        data.push((n & 0x7f) as u8 | 0x80);
        n >>= 7;
    }
    data.push(n as u8);
}

/// The varint at `*offset` (see [`KeptRows`]), moving past it.
pub(super) fn take_varint(data: &[u8], offset: &mut usize) -> Option<u64> {
    let mut n = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *data.get(*offset)?;
        *offset += 1;
        n |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(n);
        }
    }
    None
}

/// A kept row with its query's columns: what the builders read (`build::RowSource`).
pub(super) struct KeptRef<'a> {
    columns: &'a [(String, Type)],
    data: &'a [u8],
}

impl RowSource for KeptRef<'_> {
    fn raw(&self, column: &str) -> Option<(&Type, Option<&[u8]>)> {
        let at = self.columns.iter().position(|(n, _)| n == column)?;
        // Skip the values before it (a few dozen columns at most).
        let mut offset = 0usize;
        for i in 0..=at {
            let value = match take_varint(self.data, &mut offset)? {
                0 => None,
                n => {
                    let end = offset.checked_add(usize::try_from(n - 1).ok()?)?;
                    let v = self.data.get(offset..end)?;
                    offset = end;
                    Some(v)
                }
            };
            if i == at {
                return Some((&self.columns[at].1, value));
            }
        }
        None
    }
}

impl RowCache {
    /// Hands the rows of kept query `name` (text `text`, rows belonging to the object in
    /// `key`) to `each` and keeps them: all of them from the server in a full read; in a
    /// delta read, the kept rows of the objects that did not change, then, from the server,
    /// those of the ones that did. The rows from the server are streamed (`query_raw`), each
    /// kept in its compact form as it is handed over, so a query's rows are never held twice.
    pub(in crate::catalog) fn fetch(
        &mut self,
        tx: &mut postgres::Transaction<'_>,
        text: &str,
        name: &'static str,
        key: &[&'static str],
        mut each: impl FnMut(&dyn RowSource) -> Result<(), CatalogError>,
    ) -> Result<(), CatalogError> {
        use postgres::fallible_iterator::FallibleIterator;
        let failed = |source| CatalogError::Query {
            query: name,
            source,
        };
        let owner = |row: &Row| -> Result<u32, CatalogError> {
            for &column in key {
                let oid: Option<u32> = get(row, name, column)?;
                if let Some(oid) = oid.filter(|&o| o != 0) {
                    return Ok(oid);
                }
            }
            Ok(0)
        };
        let mut kept = KeptQuery::default();
        let only_fresh = self.only_fresh;
        let mut rows = match &self.restrict {
            None => tx
                .query_raw(text, std::iter::empty::<&dyn ToSql>())
                .map_err(failed)?,
            Some((list, set)) => {
                kept = self.rows.remove(name).unwrap_or_default();
                kept.rows.retain(|o| !set.contains(&o));
                for (_, row) in kept.rows.iter().filter(|_| !only_fresh) {
                    each(&KeptRef {
                        columns: &kept.columns,
                        data: row,
                    })?;
                }
                // The query as it is, filtered: PostgreSQL pushes the condition on the key
                // column down into it, so only the changed objects' rows are rendered. The
                // line breaks keep a trailing `--` comment of the text from eating the `)`.
                let restricted = format!(
                    "SELECT * FROM (\n{text}\n) q WHERE {} = ANY($1::oid[])",
                    key_sql(key)
                );
                tx.query_raw(restricted.as_str(), std::iter::once(list as &dyn ToSql))
                    .map_err(failed)?
            }
        };
        let mut first = true;
        while let Some(row) = rows.next().map_err(failed)? {
            if first {
                kept.columns = row
                    .columns()
                    .iter()
                    .map(|c| (c.name().to_string(), c.type_().clone()))
                    .collect();
                first = false;
            }
            let data = kept.rows.push(owner(&row)?, &row, name)?;
            each(&KeptRef {
                columns: &kept.columns,
                data,
            })?;
        }
        kept.rows.shrink_to_fit();
        self.rows.insert(name, kept);
        Ok(())
    }

    /// Bytes the kept rows take on the heap (their data and the lists holding them), for
    /// tests and `-vv`.
    pub fn kept_bytes(&self) -> usize {
        self.rows.values().map(|q| q.rows.bytes()).sum()
    }
}

/// The key of a kept query as an expression over its output (`q.oid`; the first non-zero
/// of several).
pub(super) fn key_sql(key: &[&str]) -> String {
    match key {
        [one] => format!("q.{one}"),
        _ => {
            let mut out = String::from("CASE");
            for k in &key[..key.len() - 1] {
                out.push_str(&format!(" WHEN q.{k} <> 0 THEN q.{k}"));
            }
            out.push_str(&format!(" ELSE q.{} END", key[key.len() - 1]));
            out
        }
    }
}

/// Kept rows are stored as the size of their buffer and the list of (owner, the row's
/// bytes), and read back into one buffer made that big at once (each row's bytes are short:
/// a stream reader's scratch of 64 KiB holds any one of them, see `model::Name`'s
/// `Deserialize`).
impl serde::Serialize for KeptRows {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        /// The list of rows.
        struct List<'a>(&'a KeptRows);
        impl serde::Serialize for List<'_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_seq(self.0.iter().map(|(owner, row)| (owner, Bytes(row))))
            }
        }
        /// One row's bytes, as bytes (a `&[u8]` alone is a list of numbers to serde).
        struct Bytes<'a>(&'a [u8]);
        impl serde::Serialize for Bytes<'_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_bytes(self.0)
            }
        }
        (self.data.len(), List(self)).serialize(s)
    }
}

impl<'de> serde::Deserialize<'de> for KeptRows {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::{DeserializeSeed, Error, SeqAccess, Visitor};
        use std::fmt::Formatter;
        /// The whole: the buffer's size, then the list.
        struct Whole;
        impl<'de> Visitor<'de> for Whole {
            type Value = KeptRows;
            fn expecting(&self, f: &mut Formatter<'_>) -> std::fmt::Result {
                f.write_str("kept rows")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<KeptRows, A::Error> {
                let missing = || A::Error::custom("kept rows cut short");
                let bytes: usize = seq.next_element()?.ok_or_else(missing)?;
                // Room for what the file says, up to what a file can hold: a damaged size
                // fails below, not with an allocation of it.
                let mut out = KeptRows {
                    data: Vec::with_capacity(bytes.min(1 << 30)),
                    rows: Vec::new(),
                };
                seq.next_element_seed(List(&mut out))?.ok_or_else(missing)?;
                if out.data.len() != bytes {
                    return Err(A::Error::custom("kept rows of another size than stored"));
                }
                Ok(out)
            }
        }
        /// The list of rows, into the buffer.
        struct List<'a>(&'a mut KeptRows);
        impl<'de> DeserializeSeed<'de> for List<'_> {
            type Value = ();
            fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
                d.deserialize_seq(self)
            }
        }
        impl<'de> Visitor<'de> for List<'_> {
            type Value = ();
            fn expecting(&self, f: &mut Formatter<'_>) -> std::fmt::Result {
                f.write_str("a list of kept rows")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
                self.0
                    .rows
                    .reserve_exact(seq.size_hint().unwrap_or(0).min(1 << 26));
                while seq.next_element_seed(Row(&mut *self.0))?.is_some() {}
                Ok(())
            }
        }
        /// One (owner, bytes) pair, appended.
        struct Row<'a>(&'a mut KeptRows);
        impl<'de> DeserializeSeed<'de> for Row<'_> {
            type Value = ();
            fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
                d.deserialize_tuple(2, self)
            }
        }
        impl<'de> Visitor<'de> for Row<'_> {
            type Value = ();
            fn expecting(&self, f: &mut Formatter<'_>) -> std::fmt::Result {
                f.write_str("a kept row")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
                let missing = || A::Error::custom("a kept row cut short");
                let owner: u32 = seq.next_element()?.ok_or_else(missing)?;
                seq.next_element_seed(Append(&mut self.0.data))?
                    .ok_or_else(missing)?;
                self.0
                    .end_row(owner)
                    .map_err(|e| A::Error::custom(e.to_string()))
            }
        }
        /// One row's bytes, appended to the buffer.
        struct Append<'a>(&'a mut Vec<u8>);
        impl<'de> DeserializeSeed<'de> for Append<'_> {
            type Value = ();
            fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
                // `deserialize_byte_buf`: a stream reader lends borrowed bytes from a scratch
                // it never reuses (see `model::Name`'s `Deserialize`).
                d.deserialize_byte_buf(self)
            }
        }
        impl Visitor<'_> for Append<'_> {
            type Value = ();
            fn expecting(&self, f: &mut Formatter<'_>) -> std::fmt::Result {
                f.write_str("a kept row's bytes")
            }
            fn visit_bytes<E>(self, v: &[u8]) -> Result<(), E> {
                self.0.extend_from_slice(v);
                Ok(())
            }
            fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<(), E> {
                self.0.extend_from_slice(&v);
                Ok(())
            }
        }
        d.deserialize_tuple(2, Whole)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn kept_row_lengths_are_varints_read_back_as_written() {
        let mut data = Vec::new();
        let lengths = [0u64, 1, 127, 128, 300, 16_384, u32::MAX as u64 + 1];
        for &n in &lengths {
            super::put_varint(&mut data, n);
        }
        assert_eq!(data[..3], [0, 1, 127]);
        let mut at = 0;
        for &n in &lengths {
            assert_eq!(super::take_varint(&data, &mut at), Some(n));
        }
        assert_eq!(at, data.len());
        assert_eq!(super::take_varint(&[0x80], &mut 0), None);
    }

    /// Kept rows of one query: `n` rows of `len` bytes, the i-th owned by i and filled with
    /// i's low byte.
    fn rows(n: u32, len: usize) -> super::KeptRows {
        let mut rows = super::KeptRows::default();
        for i in 0..n {
            rows.data.extend(std::iter::repeat_n(i as u8, len));
            rows.end_row(i).unwrap();
        }
        rows
    }

    #[test]
    fn kept_rows_decode_from_a_stream_through_a_scratch_smaller_than_all_their_bytes() {
        let rows = rows(500, 40);
        let bytes = postcard::to_allocvec(&rows).unwrap();
        assert!(bytes.len() > 16 * 1024);
        let mut scratch = [0u8; 1024];
        let (back, _): (super::KeptRows, _) =
            postcard::from_io((&bytes[..], &mut scratch[..])).expect("decodes in 1 KiB");
        assert_eq!(back.rows.len(), rows.rows.len());
        assert!(back.iter().eq(rows.iter()));
        assert_eq!(
            back.data.capacity(),
            back.data.len(),
            "one buffer, made at once"
        );
        // a damaged size is an error, not a reading of other rows
        let mut damaged = bytes.clone();
        damaged[0] ^= 1;
        assert!(postcard::from_bytes::<super::KeptRows>(&damaged).is_err());
    }

    #[test]
    fn kept_rows_left_after_retain_are_the_same_rows_in_the_same_order() {
        let mut kept = rows(10, 3);
        kept.retain(|owner| owner % 3 != 0);
        let left: Vec<(u32, Vec<u8>)> = kept.iter().map(|(o, r)| (o, r.to_vec())).collect();
        let want: Vec<(u32, Vec<u8>)> = [1u32, 2, 4, 5, 7, 8]
            .into_iter()
            .map(|i| (i, vec![i as u8; 3]))
            .collect();
        assert_eq!(left, want);
        kept.retain(|_| false);
        assert_eq!((kept.rows.len(), kept.data.len()), (0, 0));
    }

    #[test]
    fn keys_of_several_columns_take_the_first_that_is_set() {
        assert_eq!(super::key_sql(&["oid"]), "q.oid");
        assert_eq!(
            super::key_sql(&["conrelid", "contypid"]),
            "CASE WHEN q.conrelid <> 0 THEN q.conrelid ELSE q.contypid END"
        );
    }
}
