//! The collation of each key of an index or EXCLUDE constraint ([`KeyCollations`]), read
//! beside the printed definition: which keys' `COLLATE` the text leaves out (it equals the
//! column's or the expression's) and the text without any key's `COLLATE`.
//!
//! The catalog queries give, per key, its text alone (`pg_get_indexdef(index, k, false)`:
//! the column or the parenthesized expression, without collation or operator class), its
//! collation (`indcollation`, printed as `regcollation`, which qualifies a name exactly when
//! `pg_get_indexdef` does) and its column. The definition is walked key by key: PostgreSQL
//! prints `<key> [COLLATE c] [opclass [(options)]] [ASC|DESC] [NULLS FIRST|LAST] [WITH op]`
//! separated by `, ` inside the parentheses after `USING <method>`.

use super::R;
use crate::catalog::CatalogError;
use crate::model::{KeyCollation, KeyCollations};

/// The keys of the definition in row `r` (indexes.sql, constraints.sql: columns `definition`,
/// `key_texts`, `key_collations`, `key_columns`).
pub(super) fn read(r: &R<'_>) -> Result<KeyCollations, CatalogError> {
    let Some(texts) = r.get::<Option<Vec<String>>>("key_texts")? else {
        return Ok(KeyCollations::default());
    };
    let definition: String = r.get("definition")?;
    let collations: Vec<Option<String>> = r
        .get::<Option<Vec<Option<String>>>>("key_collations")?
        .unwrap_or_default();
    let columns: Vec<Option<String>> = r
        .get::<Option<Vec<Option<String>>>>("key_columns")?
        .unwrap_or_default();
    Ok(key_collations(&definition, &texts, &collations, &columns))
}

/// The keys of `definition`, or empty [`KeyCollations`] (compare the text as it is) when the
/// text does not split into the given keys.
pub(super) fn key_collations(
    definition: &str,
    texts: &[String],
    collations: &[Option<String>],
    columns: &[Option<String>],
) -> KeyCollations {
    if texts.is_empty() || texts.len() != collations.len() || texts.len() != columns.len() {
        return KeyCollations::default();
    }
    split(definition, texts, collations, columns).unwrap_or_default()
}

fn split(
    definition: &str,
    texts: &[String],
    collations: &[Option<String>],
    columns: &[Option<String>],
) -> Option<KeyCollations> {
    let b = definition.as_bytes();
    let mut pos = keys_start(definition)?;
    let mut shape = definition[..pos].to_string();
    let mut keys = Vec::with_capacity(texts.len());
    for (k, text) in texts.iter().enumerate() {
        if !definition[pos..].starts_with(text.as_str()) {
            return None;
        }
        shape.push_str(text);
        pos += text.len();
        let mut follows = true;
        if let Some(c) = &collations[k] {
            let printed = format!(" COLLATE {c}");
            if definition[pos..].starts_with(&printed) {
                follows = false;
                pos += printed.len();
            }
        }
        // The rest of the key (operator class, order, an EXCLUDE operator) up to the `,`
        // before the next key or the `)` closing the list.
        let end = top_level_end(b, pos)?;
        let last = b[end] == b')';
        shape.push_str(&definition[pos..end]);
        pos = end;
        keys.push(KeyCollation {
            column: columns[k].clone(),
            collation: collations[k].clone(),
            follows: follows && collations[k].is_some(),
        });
        if k + 1 < texts.len() {
            if last || !definition[pos..].starts_with(", ") {
                return None;
            }
            shape.push_str(", ");
            pos += 2;
        }
    }
    if b.get(pos) != Some(&b')') {
        return None;
    }
    shape.push_str(&definition[pos..]);
    Some(KeyCollations { shape, keys })
}

/// The byte after the `(` that opens the key list: the first `(` outside quotes after the
/// first ` USING ` outside quotes (`CREATE INDEX ... ON t USING btree (`, `EXCLUDE USING
/// gist (`).
fn keys_start(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut using = false;
    while i < b.len() {
        match b[i] {
            b'"' | b'\'' => i = skip_quoted(b, i)?,
            b'(' if using => return Some(i + 1),
            b' ' if s[i..].starts_with(" USING ") => {
                using = true;
                i += " USING ".len();
            }
            _ => i += 1,
        }
    }
    None
}

/// From `i`, the position of the first `,` or `)` outside quotes and parentheses.
fn top_level_end(b: &[u8], mut i: usize) -> Option<usize> {
    let mut depth = 0usize;
    while i < b.len() {
        match b[i] {
            b'"' | b'\'' => {
                i = skip_quoted(b, i)?;
                continue;
            }
            b'(' => depth += 1,
            b')' if depth == 0 => return Some(i),
            b')' => depth -= 1,
            b',' if depth == 0 => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

/// The byte after the quoted identifier or string literal opening at `i` (doubled quotes
/// inside; in a string, a backslash escapes the next byte: PostgreSQL prints a literal with
/// backslashes as `E'...'`, doubling them).
fn skip_quoted(b: &[u8], i: usize) -> Option<usize> {
    let q = b[i];
    let mut j = i + 1;
    while j < b.len() {
        if q == b'\'' && b[j] == b'\\' {
            j += 2;
            continue;
        }
        if b[j] == q {
            if b.get(j + 1) == Some(&q) {
                j += 2;
                continue;
            }
            return Some(j + 1);
        }
        j += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    fn o(v: &[Option<&str>]) -> Vec<Option<String>> {
        v.iter().map(|x| x.map(str::to_string)).collect()
    }

    #[test]
    fn a_printed_collation_and_a_followed_one_read_as_the_same_key() {
        let explicit = key_collations(
            "CREATE INDEX t_l ON public.t USING btree (label COLLATE public.bytes)",
            &s(&["label"]),
            &o(&[Some("public.bytes")]),
            &o(&[Some("label")]),
        );
        let followed = key_collations(
            "CREATE INDEX t_l ON public.t USING btree (label)",
            &s(&["label"]),
            &o(&[Some("public.bytes")]),
            &o(&[Some("label")]),
        );
        assert_eq!(explicit.shape, followed.shape);
        assert!(!explicit.keys[0].follows);
        assert!(followed.keys[0].follows);
        assert_eq!(explicit.keys[0].collation, followed.keys[0].collation);
    }

    #[test]
    fn expressions_operator_classes_and_exclude_operators_split_into_keys() {
        let k = key_collations(
            r#"CREATE UNIQUE INDEX "a, b" ON public."t (x)" USING btree (lower(label) COLLATE "C" text_pattern_ops DESC, ((a || ', )'::text)), id) WHERE (label <> ')'::text)"#,
            &s(&["lower(label)", "((a || ', )'::text))", "id"]),
            &o(&[Some("\"C\""), Some("\"default\""), None]),
            &o(&[None, None, Some("id")]),
        );
        assert_eq!(
            k.shape,
            r#"CREATE UNIQUE INDEX "a, b" ON public."t (x)" USING btree (lower(label) text_pattern_ops DESC, ((a || ', )'::text)), id) WHERE (label <> ')'::text)"#
        );
        assert_eq!(
            k.keys.iter().map(|x| x.follows).collect::<Vec<_>>(),
            [false, true, false]
        );
        let x = key_collations(
            "EXCLUDE USING btree (label COLLATE \"C\" WITH =, id WITH =)",
            &s(&["label", "id"]),
            &o(&[Some("\"C\""), None]),
            &o(&[Some("label"), Some("id")]),
        );
        assert_eq!(x.shape, "EXCLUDE USING btree (label WITH =, id WITH =)");
    }

    #[test]
    fn text_that_does_not_split_as_expected_is_compared_as_it_is() {
        let k = key_collations(
            "CREATE INDEX i ON public.t USING btree (other)",
            &s(&["label"]),
            &o(&[Some("\"C\"")]),
            &o(&[Some("label")]),
        );
        assert_eq!(k, KeyCollations::default());
    }
}
