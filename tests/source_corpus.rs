//! Every desired schema of the shared corpus (`../shared/corpus/cases/*/after.sql`) is accepted
//! and ordered so that every statement comes after the statements creating what it references;
//! the five `after.unordered.sql` files, whose upstream text uses objects before defining them,
//! come out in a loadable order. Set `SCHEMAPLAN_CORPUS` to point elsewhere.

use std::path::{Path, PathBuf};

use schemaplan::source::{self, Statement};

fn cases_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("SCHEMAPLAN_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"))
        .join("cases");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("corpus not found at {}; skipping", dir.display());
        None
    }
}

fn corpus_files(name: &str) -> Vec<PathBuf> {
    let Some(dir) = cases_dir() else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path().join(name))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// Statements referencing a name created only by a later statement.
fn misordered(statements: &[Statement]) -> Vec<String> {
    let mut problems = Vec::new();
    for (i, s) in statements.iter().enumerate() {
        for name in &s.references {
            let created_later = statements[i + 1..].iter().any(|c| c.creates.contains(name));
            if created_later {
                problems.push(format!(
                    "{}:{} uses {name} before it is created",
                    s.file.display(),
                    s.line
                ));
            }
        }
    }
    problems
}

#[test]
fn every_after_sql_is_accepted_and_ordered() {
    let files = corpus_files("after.sql");
    let mut failures = Vec::new();
    for file in &files {
        match source::load_files(std::slice::from_ref(file)) {
            Ok(set) => failures.extend(misordered(&set.statements)),
            Err(err) => failures.push(err.to_string()),
        }
    }
    assert!(
        failures.is_empty(),
        "{} problems in {} files:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
    if cases_dir().is_some() {
        assert!(
            files.len() >= 500,
            "only {} after.sql files found",
            files.len()
        );
    }
}

/// Every corpus schema, its statements reversed (the worst order a file could give), comes back
/// in an order where nothing is used before it is created. (Against PostgreSQL itself, each of
/// these reversed-then-ordered files loads without error; see docs/source.md.)
#[test]
fn reversed_schemas_are_put_back_in_dependency_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for file in corpus_files("after.sql") {
        let text = std::fs::read_to_string(&file).unwrap();
        let statements = source::parse_text(&file, &text).unwrap();
        let reversed: Vec<&str> = statements.iter().rev().map(|s| s.sql.as_str()).collect();
        let case = file.parent().unwrap().file_name().unwrap();
        let target = dir.path().join(case).with_extension("sql");
        std::fs::write(&target, reversed.join(";\n\n") + ";\n").unwrap();
        let set = source::load_files(std::slice::from_ref(&target)).unwrap();
        failures.extend(misordered(&set.statements));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn unordered_upstream_files_are_put_in_dependency_order() {
    let files = corpus_files("after.unordered.sql");
    for file in &files {
        let set = source::load_files(std::slice::from_ref(file)).unwrap();
        let problems = misordered(&set.statements);
        assert!(problems.is_empty(), "{}", problems.join("\n"));
        let original = source::parse_text(file, &std::fs::read_to_string(file).unwrap()).unwrap();
        assert_ne!(
            original,
            set.statements,
            "{} was already in order",
            file.display()
        );
    }
    if cases_dir().is_some() {
        assert_eq!(files.len(), 5);
    }
}
