//! The published JSON Schemas (docs/schemas/*.json) as validators: every JSON document a test
//! gets from the binary can be checked against the schema that documents it.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

/// The schema `docs/schemas/<name>.json`, compiled once per test process.
fn validator(name: &str) -> &'static jsonschema::Validator {
    static CACHE: OnceLock<Mutex<HashMap<String, &'static jsonschema::Validator>>> =
        OnceLock::new();
    let mut cache = CACHE.get_or_init(Default::default).lock().unwrap();
    cache.entry(name.to_string()).or_insert_with(|| {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("docs/schemas")
            .join(format!("{name}.json"));
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        let schema: serde_json::Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
        let v = jsonschema::validator_for(&schema)
            .unwrap_or_else(|e| panic!("{} is not a valid JSON Schema: {e}", path.display()));
        Box::leak(Box::new(v))
    })
}

/// Each way `doc` breaks `docs/schemas/<name>.json` (empty when it is valid).
pub fn violations(name: &str, doc: &serde_json::Value) -> Vec<String> {
    validator(name)
        .iter_errors(doc)
        .map(|e| format!("at {}: {e}", e.instance_path()))
        .collect()
}

/// [`violations`] of `text`, which must be one JSON document.
pub fn violations_of_text(name: &str, text: &str) -> Vec<String> {
    match serde_json::from_str(text.trim()) {
        Ok(doc) => violations(name, &doc),
        Err(e) => vec![format!("not JSON: {e}")],
    }
}

/// Panics, listing every violation, unless `doc` is valid against `docs/schemas/<name>.json`.
pub fn assert_valid(name: &str, doc: &serde_json::Value) {
    let errors = violations(name, doc);
    assert!(
        errors.is_empty(),
        "document does not match docs/schemas/{name}.json:\n  {}\n{doc:#}",
        errors.join("\n  ")
    );
}

/// Parses `text` as one JSON document and checks it against schema `name`; returns it.
pub fn parse_valid(name: &str, text: &str) -> serde_json::Value {
    let doc: serde_json::Value = serde_json::from_str(text.trim())
        .unwrap_or_else(|e| panic!("not one JSON document ({e}):\n{text}"));
    assert_valid(name, &doc);
    doc
}

/// Parses JSON lines (`apply --format json`), checks each against schema `name`.
pub fn parse_valid_lines(name: &str, text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| parse_valid(name, l))
        .collect()
}
