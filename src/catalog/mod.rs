//! Live or shadow database -> [`Schema`]: the one introspection path used for both sides.
//!
//! Owns every catalog query (`src/catalog/sql/*.sql`, one set-based query per object kind, never
//! one per table) and the mapping of catalog rows onto the model: which objects are user objects
//! (system schemas and extension members are left out), how privileges are expressed
//! (relative to `acldefault`), which sequences belong to identity columns, how `pg_depend` rows
//! become [`ObjectId`] edges, and what is reported as unmodeled. Also owns [`fingerprint`].
//!
//! Everything is read in one `REPEATABLE READ READ ONLY` transaction with fixed settings
//! (`search_path = ''`, ISO dates, UTC ...) so that PostgreSQL's renderings (`format_type`,
//! `pg_get_expr`, `pg_get_viewdef`, ...) do not depend on the session: with an empty search
//! path every user object is printed schema-qualified, the way `pg_dump` does it.
//! Supported servers: PostgreSQL 13 to 18 (version-specific columns are chosen from
//! `server_version_num`). See `docs/catalog.md` for the decisions.

mod build;
mod resolve;

use crate::model::Schema;
use postgres::types::FromSql;
use postgres::Row;

/// Oldest supported server (`server_version_num`).
pub const MIN_SERVER_VERSION: i32 = 130000;
/// Newest supported server: the last major version whose catalogs the queries were checked
/// against. A newer major may have changed a catalog column the queries read, and `apply`
/// must not run a plan whose `from` state it cannot read reliably.
pub const MAX_SERVER_VERSION: i32 = 189999;

/// Refuses a server outside [`MIN_SERVER_VERSION`]..=[`MAX_SERVER_VERSION`].
pub fn check_server_version(version: i32) -> Result<(), CatalogError> {
    if (MIN_SERVER_VERSION..=MAX_SERVER_VERSION).contains(&version) {
        Ok(())
    } else {
        Err(CatalogError::UnsupportedVersion { version })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("catalog query {query} failed: {source}")]
    Query {
        query: &'static str,
        #[source]
        source: postgres::Error,
    },
    #[error("catalog query {query}: cannot read column {column}: {source}")]
    Decode {
        query: &'static str,
        column: &'static str,
        #[source]
        source: postgres::Error,
    },
    #[error("unsupported PostgreSQL server version {version} (server_version_num); schemaplan supports PostgreSQL 13 to 18")]
    UnsupportedVersion { version: i32 },
    #[error("cannot parse server_version_num {value:?}")]
    BadVersion { value: String },
}

/// Reads the whole user schema of the connected database.
///
/// Runs in its own read-only transaction; the session's settings are untouched afterwards
/// (`SET LOCAL` only).
pub fn read(client: &mut postgres::Client) -> Result<Schema, CatalogError> {
    let mut tx = client
        .build_transaction()
        .isolation_level(postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .map_err(|source| CatalogError::Query {
            query: "begin",
            source,
        })?;
    // Settings that change how PostgreSQL renders expressions and constants:
    // - search_path: empty, so every user object is schema-qualified (pg_catalog is still
    //   searched implicitly, so built-in types and functions stay unqualified);
    // - DateStyle/IntervalStyle/TimeZone/extra_float_digits/bytea_output: constants in defaults,
    //   CHECKs and view bodies are printed with the type's output function;
    // - quote_all_identifiers: would quote every name;
    // - standard_conforming_strings: with it off, string constants holding a backslash are
    //   printed as E'...' with doubled backslashes, so the same schema would read differently
    //   (and plan files assume it on).
    tx.batch_execute(
        "SET LOCAL search_path = ''; \
         SET LOCAL standard_conforming_strings = on; \
         SET LOCAL DateStyle = 'ISO, MDY'; \
         SET LOCAL IntervalStyle = 'postgres'; \
         SET LOCAL TimeZone = 'UTC'; \
         SET LOCAL extra_float_digits = 1; \
         SET LOCAL bytea_output = 'hex'; \
         SET LOCAL quote_all_identifiers = off",
    )
    .map_err(|source| CatalogError::Query {
        query: "session settings",
        source,
    })?;
    let version = server_version(&mut tx)?;
    let schema = build::Reader::new(&mut tx, version).read()?;
    tx.commit().map_err(|source| CatalogError::Query {
        query: "commit",
        source,
    })?;
    Ok(schema)
}

/// `server_version_num` of the connected server, checked by [`check_server_version`].
fn server_version(tx: &mut postgres::Transaction<'_>) -> Result<i32, CatalogError> {
    let row = tx
        .query_one("SHOW server_version_num", &[])
        .map_err(|source| CatalogError::Query {
            query: "server_version_num",
            source,
        })?;
    let value: String = get(&row, "server_version_num", "server_version_num")?;
    let version: i32 = value
        .trim()
        .parse()
        .map_err(|_| CatalogError::BadVersion { value })?;
    check_server_version(version)?;
    Ok(version)
}

/// Reads one column of a catalog row, naming the query and column on failure.
fn get<'a, T: FromSql<'a>>(
    row: &'a Row,
    query: &'static str,
    column: &'static str,
) -> Result<T, CatalogError> {
    row.try_get(column).map_err(|source| CatalogError::Decode {
        query,
        column,
        source,
    })
}

/// One short digest per object of the schema's canonical form, keyed by a label a reader knows
/// (`table public.users`, `index public.users_email_idx`, `grants on Table(...)`): written into
/// `plan.json` for the plan's `from` state, so that `apply` can say WHICH objects differ when
/// the live fingerprint is not `from` (the fingerprint alone only says that something does).
pub fn object_digests(schema: &Schema) -> std::collections::BTreeMap<String, String> {
    use sha2::{Digest, Sha256};
    use std::collections::BTreeMap;
    use std::fmt::Debug;
    let s = schema.canonical();
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    let mut put = |label: String, value: &dyn Debug| {
        let d = hex(&Sha256::digest(format!("{value:#?}").as_bytes()));
        out.insert(label, d[..16].to_string());
    };
    for (k, v) in &s.schemas {
        put(format!("schema {k}"), v);
    }
    for (k, v) in &s.extensions {
        put(format!("extension {k}"), v);
    }
    for (k, v) in &s.collations {
        put(format!("collation {k}"), v);
    }
    for (k, v) in &s.types {
        put(format!("type {k}"), v);
    }
    for (k, v) in &s.sequences {
        put(format!("sequence {k}"), v);
    }
    for (k, v) in &s.tables {
        put(format!("table {k}"), v);
    }
    for (k, v) in &s.indexes {
        put(format!("index {k}"), v);
    }
    for (k, v) in &s.views {
        put(format!("view {k}"), v);
    }
    for ((q, args), v) in &s.functions {
        put(format!("function {q}({args})"), v);
    }
    for ((q, name), v) in &s.triggers {
        put(format!("trigger {name} on {q}"), v);
    }
    for ((q, name), v) in &s.policies {
        put(format!("policy {name} on {q}"), v);
    }
    for (id, text) in &s.comments {
        put(format!("comment on {id:?}"), text);
    }
    let mut grants: BTreeMap<String, Vec<_>> = BTreeMap::new();
    for g in &s.grants {
        grants
            .entry(format!("grants on {:?}", g.on))
            .or_default()
            .push(g);
    }
    for (label, list) in grants {
        put(label, &list);
    }
    if !s.default_privileges.is_empty() {
        put("default privileges".to_string(), &s.default_privileges);
    }
    out
}

/// The objects whose digests differ between two [`object_digests`] maps, one line each
/// (`changed: table public.t`, `only in the database: ...`, `missing from the database: ...`).
pub fn digest_differences(
    expected: &std::collections::BTreeMap<String, String>,
    live: &std::collections::BTreeMap<String, String>,
) -> Vec<String> {
    let mut out = Vec::new();
    for (k, v) in expected {
        match live.get(k) {
            None => out.push(format!("missing from the database: {k}")),
            Some(l) if l != v => out.push(format!("changed: {k}")),
            Some(_) => {}
        }
    }
    for k in live.keys().filter(|k| !expected.contains_key(*k)) {
        out.push(format!("only in the database: {k}"));
    }
    out
}

/// Hex SHA-256 of the schema's canonical text; equal schemas have equal fingerprints.
///
/// The canonical text is the `Debug` rendering of [`Schema::canonical`] (no dependency edges,
/// no column order, no extension versions: what diff does not compare either). Every
/// collection in the model is ordered (`BTreeMap`/`BTreeSet`/`Vec` in catalog order), so the
/// text is deterministic. Catalog oids never enter the model, so two databases loaded from the
/// same statements in different orders fingerprint the same.
pub fn fingerprint(schema: &Schema) -> String {
    use sha2::{Digest, Sha256};
    let text = format!("{:#?}", schema.canonical());
    hex(&Sha256::digest(text.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn supported_server_versions_are_13_to_18() {
        for ok in [130000, 130020, 150006, 180000, 189999] {
            assert!(super::check_server_version(ok).is_ok(), "{ok}");
        }
        for bad in [90624, 120017, 129999, 190000, 200001] {
            let err = super::check_server_version(bad).unwrap_err().to_string();
            assert!(
                err.contains(&bad.to_string()) && err.contains("13 to 18"),
                "{err}"
            );
        }
    }
}
