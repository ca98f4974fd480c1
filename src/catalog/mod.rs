//! Live or shadow database -> [`Schema`]: the one introspection path used for both sides.
//! (Interface stub; owned by the catalog engineer.)

use crate::model::Schema;

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("catalog query {query} failed: {source}")]
    Query {
        query: &'static str,
        #[source]
        source: postgres::Error,
    },
}

/// Reads the whole user schema of the connected database.
pub fn read(client: &mut postgres::Client) -> Result<Schema, CatalogError> {
    let _ = client;
    Ok(Schema::default())
}

/// Hex SHA-256 of the schema's canonical text; equal schemas have equal fingerprints.
pub fn fingerprint(schema: &Schema) -> String {
    use sha2::{Digest, Sha256};
    let mut s = schema.clone();
    s.depends.clear();
    let text = format!("{s:#?}");
    hex(&Sha256::digest(text.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
