//! The rows a delta read keeps between reads: which queries keep theirs and which object each
//! row belongs to ([`key_of`]), and the compact form they are held and stored in (`KeptRow`:
//! each value's bytes as the server sent them after a varint length, one allocation per row),
//! read back by the builders through the same typed access as live rows (`build::RowSource`).

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
/// Rows are kept in a compact form ([`KeptRow`]), not as `postgres::Row`s: a `Row` holds a
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
    pub(super) rows: Vec<(u32, KeptRow)>,
}

/// One row in the compact form the cache keeps: for each column in order, a LEB128 varint
/// (0 for NULL, else the value's length plus one: one byte for the short values most are)
/// followed by the value in PostgreSQL's binary format, as the server sent it. One allocation
/// of exactly the row's size.
pub(super) struct KeptRow(Box<[u8]>);

impl KeptRow {
    /// The compact form of a live row.
    fn of(row: &Row, name: &'static str) -> Result<KeptRow, CatalogError> {
        let mut data = Vec::with_capacity(row.raw_size_bytes());
        for at in 0..row.len() {
            let RawValue(raw) = row.try_get(at).map_err(|source| CatalogError::Decode {
                query: name,
                column: "(kept row)",
                source: Box::new(source),
            })?;
            match raw {
                None => put_varint(&mut data, 0),
                Some(v) => {
                    put_varint(&mut data, v.len() as u64 + 1);
                    data.extend_from_slice(v);
                }
            }
        }
        Ok(KeptRow(data.into_boxed_slice()))
    }
}

pub(super) fn put_varint(data: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        data.push((n & 0x7f) as u8 | 0x80);
        n >>= 7;
    }
    data.push(n as u8);
}

/// The varint at `*offset` (see [`KeptRow`]), moving past it.
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
                kept.rows.retain(|(o, _)| !set.contains(o));
                for (_, row) in kept.rows.iter().filter(|_| !only_fresh) {
                    each(&KeptRef {
                        columns: &kept.columns,
                        data: &row.0,
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
            let compact = KeptRow::of(&row, name)?;
            each(&KeptRef {
                columns: &kept.columns,
                data: &compact.0,
            })?;
            kept.rows.push((owner(&row)?, compact));
        }
        kept.rows.shrink_to_fit();
        self.rows.insert(name, kept);
        Ok(())
    }

    /// Bytes the kept rows take on the heap (their data and the lists holding them), for
    /// tests and `-vv`.
    pub fn kept_bytes(&self) -> usize {
        self.rows
            .values()
            .map(|q| {
                q.rows.capacity() * std::mem::size_of::<(u32, KeptRow)>()
                    + q.rows.iter().map(|(_, r)| r.0.len()).sum::<usize>()
            })
            .sum()
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

/// A kept row is stored as its bytes.
impl serde::Serialize for KeptRow {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for KeptRow {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Bytes;
        impl serde::de::Visitor<'_> for Bytes {
            type Value = KeptRow;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a kept row's bytes")
            }
            fn visit_bytes<E>(self, v: &[u8]) -> Result<KeptRow, E> {
                Ok(KeptRow(v.into()))
            }
            fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<KeptRow, E> {
                Ok(KeptRow(v.into_boxed_slice()))
            }
        }
        // `deserialize_byte_buf`: the bytes are copied into the row anyway, and a stream
        // reader lends borrowed bytes from a scratch it never reuses (see `model::Name`'s
        // `Deserialize`): the kept rows of a cached delta state overflowed it, and the file
        // was decoded twice, the second time with a scratch of the whole payload.
        d.deserialize_byte_buf(Bytes)
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

    #[test]
    fn kept_rows_decode_from_a_stream_through_a_scratch_smaller_than_all_their_bytes() {
        let rows: Vec<super::KeptRow> = (0..500u32)
            .map(|i| super::KeptRow(vec![i as u8; 40].into_boxed_slice()))
            .collect();
        let bytes = postcard::to_allocvec(&rows).unwrap();
        assert!(bytes.len() > 16 * 1024);
        let mut scratch = [0u8; 1024];
        let (back, _): (Vec<super::KeptRow>, _) =
            postcard::from_io((&bytes[..], &mut scratch[..])).expect("decodes in 1 KiB");
        assert_eq!(back.len(), rows.len());
        assert!(back.iter().zip(&rows).all(|(a, b)| a.0 == b.0));
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
