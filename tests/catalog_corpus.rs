//! Every schema of the external corpus (`../shared/corpus/cases/*/{before,after}.sql`) reads
//! without error, reads the same twice, and has only dependency edges between objects that
//! exist in the model. The corpus comes from other tools' test suites, so it exercises catalog
//! shapes nobody on this project wrote on purpose.
//!
//! Ignored by default: ~1,000 scratch databases take minutes (the catalog reads themselves are
//! quick). Run with `cargo test --test catalog_corpus -- --ignored`.

mod common;

use schemaplan::catalog;
use schemaplan::model::Schema;
use std::path::PathBuf;

fn corpus_files() -> Vec<PathBuf> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/cases");
    let mut files = Vec::new();
    for case in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let case = case.unwrap().path();
        for f in ["before.sql", "after.sql"] {
            let p = case.join(f);
            if p.exists() {
                files.push(p);
            }
        }
    }
    files.sort();
    files
}

fn check(schema: &Schema) -> Result<(), String> {
    for (a, bs) in &schema.depends {
        if !schema.contains(a) {
            return Err(format!("dangling dependent {a}"));
        }
        for b in bs {
            if !schema.contains(b) {
                return Err(format!("dangling reference {a} -> {b}"));
            }
        }
    }
    Ok(())
}

#[test]
#[ignore = "creates ~1,000 databases; run on demand"]
fn every_corpus_schema_reads() {
    let server = common::server();
    server.ensure_corpus_roles();
    let files = corpus_files();
    assert!(
        files.len() > 500,
        "corpus not found ({} files)",
        files.len()
    );
    let next = std::sync::atomic::AtomicUsize::new(0);
    let failures = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..3 {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let Some(path) = files.get(i) else { break };
                let sql = std::fs::read_to_string(path).unwrap();
                let (name, _) = server.fresh_db("catalog_corpus");
                let mut client = server.connect(&name);
                let outcome = match client.batch_execute(&sql) {
                    // loading is the shadow module's business; this test is about reading
                    Err(_) => Ok(()),
                    Ok(()) => match (catalog::read(&mut client), catalog::read(&mut client)) {
                        (Ok(a), Ok(b)) if a != b => Err("two reads differ".to_string()),
                        (Ok(a), Ok(_)) => check(&a),
                        (Err(e), _) | (_, Err(e)) => Err(format!("{e}")),
                    },
                };
                drop(client);
                server.drop_db(&name);
                if let Err(e) = outcome {
                    failures
                        .lock()
                        .unwrap()
                        .push(format!("{}: {e}", path.display()));
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
