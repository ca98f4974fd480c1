//! Fuzz target: arbitrary bytes as one schema file through the whole source stage (UTF-8
//! decoding, splitting, parsing with pg_query, classification, annotations, dependency
//! ordering). No database. Every input must give statements or a `SourceError`, never a panic,
//! and the error must render (its `Display` walks locations and snippets).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let file = std::path::Path::new("schema/fuzz.sql");
    match schemaplan::source::load_bytes(file, data) {
        Ok(set) => {
            for cycle in &set.cycles {
                assert!(cycle.iter().all(|&i| i < set.statements.len()));
            }
        }
        Err(err) => {
            let _ = err.to_string();
        }
    }
});
