//! Build script: a digest of schemaplan's own source as `SCHEMAPLAN_SOURCE_DIGEST`.
//!
//! It names *this build* of schemaplan in the key of a cached catalog reading
//! (`src/shadow/reading.rs`): a reading is a serialized `model::Schema` made by the catalog
//! queries, and a schemaplan whose queries, model or reading code differ in any way must never
//! use one written by another build. The package version alone does not say that (it stays
//! the same between commits), so the digest covers every Rust and SQL file under `src/` and
//! the manifest and lock file (the versions of the crates that decode rows and serialize).
//! Files under `src/` that are not compiled in (snapshots) are left out, so recording
//! snapshots does not rebuild the crate.

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

fn main() {
    let root = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let mut files = Vec::new();
    collect(&root.join("src"), &mut files);
    files.sort();
    for extra in ["Cargo.toml", "Cargo.lock", "build.rs"] {
        let path = root.join(extra);
        if path.exists() {
            files.push(path);
        }
    }
    let mut hash = Sha256::new();
    for path in &files {
        // A new file only counts once an existing one names it (`mod`, `include_str!`), which
        // changes that file: watching every file is enough.
        println!("cargo:rerun-if-changed={}", path.display());
        let name = path.strip_prefix(&root).unwrap_or(path).to_string_lossy();
        let text = std::fs::read(path).unwrap_or_default();
        // Length-prefixed, so no two different file lists hash alike.
        hash.update((name.len() as u64).to_le_bytes());
        hash.update(name.as_bytes());
        hash.update((text.len() as u64).to_le_bytes());
        hash.update(&text);
    }
    let digest: String = hash
        .finalize()
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect();
    println!("cargo:rustc-env=SCHEMAPLAN_SOURCE_DIGEST={digest}");
}

/// The `.rs` and `.sql` files under `dir`, recursively.
fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs" || e == "sql") {
            out.push(path);
        }
    }
}
