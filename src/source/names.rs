//! Object names as the ordering graph sees them: `schema.name`, identifiers folded the way
//! PostgreSQL folds them (lower case unless quoted), `public` when no schema is written.
//!
//! Conventions (also in `docs/source.md`): relations, types, functions, sequences, indexes,
//! collations and other schema-scoped objects are `schema.name`; parts of a table (columns,
//! triggers, policies, rules, constraints) are `schema.table.part`; schemas are a bare `name`;
//! objects outside any schema carry a kind prefix (`extension:pgcrypto`, `language:plv8`,
//! `server:s`, `fdw:f`, `event_trigger:t`, `publication:p`, `subscription:s`,
//! `access_method:a`).

/// The schema unqualified names resolve in.
pub(crate) const DEFAULT_SCHEMA: &str = "public";

/// The built-in schema whose objects no schema file creates.
const BUILTIN_SCHEMA: &str = "pg_catalog";

/// Built-in type names the grammar leaves unqualified (`int` becomes `pg_catalog.int4`, but
/// `text` stays `text`). References to them are dropped: no schema file creates them.
const BUILTIN_TYPES: &[&str] = &[
    "text",
    "serial",
    "bigserial",
    "smallserial",
    "serial2",
    "serial4",
    "serial8",
    "uuid",
    "json",
    "jsonb",
    "jsonpath",
    "date",
    "money",
    "bytea",
    "inet",
    "cidr",
    "macaddr",
    "macaddr8",
    "xml",
    "tsvector",
    "tsquery",
    "point",
    "line",
    "lseg",
    "box",
    "path",
    "polygon",
    "circle",
    "int2",
    "int4",
    "int8",
    "float4",
    "float8",
    "bool",
    "timestamptz",
    "timetz",
    "varbit",
    "bpchar",
    "oid",
    "name",
    "regclass",
    "regproc",
    "regprocedure",
    "regtype",
    "regconfig",
    "regdictionary",
    "regnamespace",
    "regrole",
    "regoper",
    "regoperator",
    "regcollation",
    "record",
    "trigger",
    "event_trigger",
    "void",
    "cstring",
    "internal",
    "anyelement",
    "anyarray",
    "anynonarray",
    "anyenum",
    "anyrange",
    "anymultirange",
    "anycompatible",
    "anycompatiblearray",
    "anycompatiblenonarray",
    "anycompatiblerange",
    "anycompatiblemultirange",
    "int4range",
    "int8range",
    "numrange",
    "tsrange",
    "tstzrange",
    "daterange",
    "int4multirange",
    "int8multirange",
    "nummultirange",
    "tsmultirange",
    "tstzmultirange",
    "datemultirange",
    "pg_lsn",
    "txid_snapshot",
    "pg_snapshot",
    "xid",
    "xid8",
    "cid",
    "tid",
    "language_handler",
    "fdw_handler",
    "index_am_handler",
    "tsm_handler",
    "table_am_handler",
    "unknown",
];

/// A type name: like [`qualify`], and `None` for unqualified built-in types.
pub(crate) fn type_name(parts: &[String]) -> Option<String> {
    match parts {
        [name] if BUILTIN_TYPES.contains(&name.as_str()) => None,
        _ => qualify(parts),
    }
}

/// `schema.name` for a name written as `[catalog.][schema.]name` parts; `None` for built-ins
/// (`pg_catalog`) and empty input.
pub(crate) fn qualify(parts: &[String]) -> Option<String> {
    let (schema, name) = match parts {
        [] => return None,
        [name] => (DEFAULT_SCHEMA, name),
        [.., schema, name] => (schema.as_str(), name),
    };
    if schema == BUILTIN_SCHEMA || name.is_empty() {
        return None;
    }
    Some(format!("{schema}.{name}"))
}

/// A relation name from a parser `RangeVar`'s schema (possibly empty) and name.
pub(crate) fn relation(schema: &str, name: &str) -> Option<String> {
    if schema.is_empty() {
        qualify(&[name.to_string()])
    } else {
        qualify(&[schema.to_string(), name.to_string()])
    }
}

/// A part of a table (column, trigger, ...): `schema.table.part`.
pub(crate) fn part_of(table: &str, part: &str) -> String {
    format!("{table}.{part}")
}

/// The schema of a qualified name (`"s"` for `"s.t"` and `"s.t.c"`); `None` for bare names
/// (schemas themselves) and kind-prefixed names.
pub(crate) fn schema_of(name: &str) -> Option<&str> {
    if name.contains(':') {
        return None;
    }
    name.split_once('.').map(|(schema, _)| schema)
}

/// The schema a statement must wait for because it uses `name`: any but the default schema,
/// which always exists.
pub(crate) fn required_schema(name: &str) -> Option<&str> {
    schema_of(name).filter(|s| *s != DEFAULT_SCHEMA)
}

/// Parses a dotted name written as SQL text (`a.b`, `"Mixed Case".x`) into folded parts, the
/// way PostgreSQL reads `nextval('...')` arguments and annotation values. `None` when the text
/// is not a well-formed name.
pub(crate) fn parse_dotted(text: &str) -> Option<Vec<String>> {
    let mut parts = Vec::new();
    let mut rest = text.trim();
    loop {
        let (part, after) = parse_identifier(rest)?;
        parts.push(part);
        match after.strip_prefix('.') {
            Some(next) => rest = next,
            None if after.trim().is_empty() => return Some(parts),
            None => return None,
        }
    }
}

/// The longest identifier PostgreSQL keeps, in bytes (`NAMEDATALEN - 1`).
pub(crate) const MAX_IDENTIFIER_BYTES: usize = 63;

/// `name` cut the way PostgreSQL's scanner cuts a longer identifier (`truncate_identifier`,
/// with a NOTICE there): to at most 63 bytes, on a character boundary. The parse trees of
/// pg_query hold names cut this way already; a name read from an annotation or a string
/// literal is cut here so that it names the same object.
pub(crate) fn truncate_identifier(name: &str) -> &str {
    if name.len() <= MAX_IDENTIFIER_BYTES {
        return name;
    }
    let mut end = MAX_IDENTIFIER_BYTES;
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    &name[..end]
}

/// One identifier at the start of `text`: quoted (kept as written, `""` unescaped) or bare
/// (folded to lower case), cut to 63 bytes as PostgreSQL does. Returns it and the remaining
/// text.
fn parse_identifier(text: &str) -> Option<(String, &str)> {
    if let Some(quoted) = text.strip_prefix('"') {
        let (name, rest) = parse_quoted(quoted)?;
        return Some((truncate_identifier(&name).to_string(), rest));
    }
    let end = text
        .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '$'))
        .unwrap_or(text.len());
    if end == 0 {
        return None;
    }
    let name = text[..end].to_ascii_lowercase();
    Some((truncate_identifier(&name).to_string(), &text[end..]))
}

/// The body of a quoted identifier whose opening quote is already consumed.
fn parse_quoted(text: &str) -> Option<(String, &str)> {
    let mut name = String::new();
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c != '"' {
            name.push(c);
        } else if chars.peek().is_some_and(|&(_, next)| next == '"') {
            name.push('"');
            chars.next();
        } else {
            return (!name.is_empty()).then(|| (name, &text[i + 1..]));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_names_are_cut_like_postgresql_cuts_them() {
        let long = "a".repeat(70);
        assert_eq!(parse_dotted(&long), Some(vec!["a".repeat(63)]));
        // 62 ASCII bytes and a 2-byte character: the character does not fit whole.
        let name = format!("\"{}éé\"", "b".repeat(62));
        assert_eq!(parse_dotted(&name), Some(vec!["b".repeat(62)]));
        assert_eq!(truncate_identifier("short"), "short");
    }

    fn parts(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn unqualified_names_go_to_public_and_builtins_are_dropped() {
        assert_eq!(qualify(&parts(&["users"])).as_deref(), Some("public.users"));
        assert_eq!(
            qualify(&parts(&["app", "users"])).as_deref(),
            Some("app.users")
        );
        assert_eq!(
            qualify(&parts(&["db", "app", "t"])).as_deref(),
            Some("app.t")
        );
        assert_eq!(qualify(&parts(&["pg_catalog", "int4"])), None);
        assert_eq!(relation("", "t").as_deref(), Some("public.t"));
        assert_eq!(type_name(&parts(&["text"])), None);
        assert_eq!(
            type_name(&parts(&["app", "text"])).as_deref(),
            Some("app.text")
        );
    }

    #[test]
    fn dotted_text_is_folded_unless_quoted() {
        assert_eq!(parse_dotted("Seq"), Some(parts(&["seq"])));
        assert_eq!(
            parse_dotted("App.\"My \"\"Seq\"\"\""),
            Some(parts(&["app", "My \"Seq\""]))
        );
        assert_eq!(parse_dotted("\"a.b\""), Some(parts(&["a.b"])));
        assert_eq!(parse_dotted("a b"), None);
        assert_eq!(parse_dotted("\"\""), None);
        assert_eq!(parse_dotted(""), None);
    }

    #[test]
    fn schema_of_skips_bare_and_prefixed_names() {
        assert_eq!(schema_of("app.t.c"), Some("app"));
        assert_eq!(schema_of("app"), None);
        assert_eq!(schema_of("extension:pg.trgm"), None);
        assert_eq!(required_schema("public.t"), None);
        assert_eq!(required_schema("app.t"), Some("app"));
    }
}
