//! SQL quoting: the one place identifiers and literals become SQL text. Every generator goes
//! through these functions; no `format!` of a raw name anywhere else.

use crate::model::QName;

/// Quotes an identifier when PostgreSQL would not read it back unchanged: anything but
/// lower-case ASCII letters, digits and `_` (not starting with a digit), and every keyword.
pub fn ident(name: &str) -> String {
    let plain = !name.is_empty()
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !is_keyword(name);
    if plain {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

/// `schema.name`, each part quoted as needed.
pub fn qname(q: &QName) -> String {
    format!("{}.{}", ident(&q.schema), ident(&q.name))
}

/// Whether `name`, a type as `format_type` prints it (no array suffix), is `q`: qualified,
/// quoted or not, or bare where the search path finds it.
pub fn names_type(name: &str, q: &QName) -> bool {
    name == format!("{}.{}", q.schema, q.name) || name == q.name || name == qname(q)
}

/// An operator's name, `schema.symbol`: the schema quoted as needed, the symbol as it is (an
/// operator symbol is never quoted: it is made of `+ - * / < > = ~ ! @ # % ^ & | \` ?` only,
/// which the catalog guarantees).
pub fn operator(q: &QName) -> String {
    format!("{}.{}", ident(&q.schema), q.name)
}

/// A string literal: `'...'` with quotes doubled, or `E'...'` with backslashes doubled too when
/// the text holds a backslash. An `E'...'` string reads the same whatever
/// `standard_conforming_strings` is; a plain one with a backslash would not (with the setting
/// off, `\'` ends nothing and the rest of the statement becomes SQL).
pub fn literal(s: &str) -> String {
    let mut out = String::new();
    push_literal(&mut out, s);
    out
}

/// Appends [`literal`]`(s)` to `out`, in one pass and one reservation: for texts of megabytes
/// (a kept database's manifest, `shadow::kept`), where building the literal apart and then
/// the statement around it held the text three or four times at once.
pub fn push_literal(out: &mut String, s: &str) {
    let escape = s.contains('\\');
    out.reserve(s.len() + 3 + s.matches(['\'', '\\']).count());
    if escape {
        out.push('E');
    }
    out.push('\'');
    let mut rest = s;
    while let Some(at) = rest.find(|c| c == '\'' || (escape && c == '\\')) {
        let c = &rest[at..at + 1];
        out.push_str(&rest[..at]);
        out.push_str(c);
        out.push_str(c);
        rest = &rest[at + 1..];
    }
    out.push_str(rest);
    out.push('\'');
}

/// Whether `word` is a keyword PostgreSQL's `quote_ident` would quote: every keyword that is not
/// unreserved. Asks pg_query's scanner, i.e. the server grammar's own keyword list.
fn is_keyword(word: &str) -> bool {
    use pg_query::protobuf::KeywordKind;
    match pg_query::scan(word) {
        Ok(scan) => scan.tokens.first().is_some_and(|t| {
            t.keyword_kind != KeywordKind::NoKeyword as i32
                && t.keyword_kind != KeywordKind::UnreservedKeyword as i32
        }),
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_stay_bare() {
        assert_eq!(ident("users"), "users");
        assert_eq!(ident("_x1"), "_x1");
    }

    #[test]
    fn mixed_case_quotes_and_keywords_are_quoted() {
        assert_eq!(ident("Users"), "\"Users\"");
        assert_eq!(ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(ident("select"), "\"select\"");
        assert_eq!(ident("user"), "\"user\"");
        assert_eq!(ident("1abc"), "\"1abc\"");
        assert_eq!(ident("naïve"), "\"naïve\"");
        assert_eq!(ident("name"), "name");
        assert_eq!(ident("left"), "\"left\"");
    }

    #[test]
    fn pushed_literals_are_the_replace_and_format_definition() {
        let reference = |s: &str| {
            let quoted = s.replace('\'', "''");
            if s.contains('\\') {
                format!("E'{}'", quoted.replace('\\', "\\\\"))
            } else {
                format!("'{quoted}'")
            }
        };
        let texts = [
            "",
            "'",
            "\\",
            "''\\\\'",
            "ä'ö\\ü",
            "plain",
            "x'); DROP TABLE foo; --",
            "'a'b'",
            "\\'\\'",
            "{\"k\": \"it's\"}",
            "end\\",
        ];
        for t in texts {
            let mut out = String::from("SELECT ");
            push_literal(&mut out, t);
            assert_eq!(out, format!("SELECT {}", reference(t)), "{t:?}");
            assert_eq!(literal(t), reference(t));
        }
    }

    #[test]
    fn literals_double_quotes() {
        assert_eq!(literal("O'Brien"), "'O''Brien'");
        assert_eq!(
            literal("x'); DROP TABLE foo; --"),
            "'x''); DROP TABLE foo; --'"
        );
    }

    #[test]
    fn literals_with_backslashes_read_the_same_whatever_standard_conforming_strings() {
        assert_eq!(literal("C:\\dir"), "E'C:\\\\dir'");
        assert_eq!(
            literal("x\\'; DROP TABLE foo; --"),
            "E'x\\\\''; DROP TABLE foo; --'"
        );
        assert_eq!(literal("$$"), "'$$'");
    }
}
