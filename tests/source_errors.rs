//! Diagnostics of the source stage: positions, the shown line, named non-schema statements.

use std::path::{Path, PathBuf};

use schemaplan::source::{self, SourceError};

fn dir_error(dir: &str) -> SourceError {
    source::load_dir(Path::new(dir)).unwrap_err()
}

fn text_error(text: &str) -> SourceError {
    source::parse_text(Path::new("schema/x.sql"), text).unwrap_err()
}

#[test]
fn syntax_error_shows_file_line_col_and_the_line() {
    let err = dir_error("fixtures/source/syntax_error");
    assert_eq!(
        err.to_string(),
        "fixtures/source/syntax_error/users.sql:5:8: syntax error at or near \"TABL\"\n  |\n5 | CREATE TABL users (\n  |        ^"
    );
}

#[test]
fn syntax_error_at_end_of_input_points_after_the_last_token() {
    let err = text_error("CREATE TABLE a (id int);\nCREATE TABLE b (id int\n");
    let at = err.location().unwrap();
    assert_eq!((at.line, at.col), (2, 23));
    assert!(err.to_string().contains("syntax error at end of input"));
}

#[test]
fn unterminated_string_is_located() {
    let err = text_error("CREATE TABLE a (id int);\nCOMMENT ON TABLE a IS 'oops;\n");
    let at = err.location().unwrap();
    assert_eq!((at.line, at.col), (2, 23));
    assert!(err.to_string().contains("unterminated quoted string"));
}

#[test]
fn every_broken_statement_is_reported() {
    let err = text_error("CREATE TABL a ();\nCREATE TABLE ok ();\nCREATE VIEW v AS SELEC 1;\n");
    let lines: Vec<usize> = err
        .into_list()
        .iter()
        .map(|e| e.location().unwrap().line)
        .collect();
    assert_eq!(lines, [1, 3]);
}

#[test]
fn insert_is_named_and_explained() {
    let err = dir_error("fixtures/source/not_schema");
    assert!(
        err.to_string().starts_with(
            "fixtures/source/not_schema/x.sql:3:1: INSERT does not belong in a schema file: \
             schema files describe the desired schema with CREATE statements\n"
        ),
        "{err}"
    );
}

#[test]
fn data_transactions_sessions_and_roles_are_rejected_with_reasons() {
    let cases = [
        ("BEGIN", "BEGIN does not belong", "transactions"),
        (
            "DROP ROLE app",
            "DROP ROLE does not belong",
            "roles are cluster-wide",
        ),
        (
            "ALTER ROLE app RENAME TO other",
            "RENAME does not belong",
            "roles are cluster-wide",
        ),
        (
            "DROP DATABASE app",
            "DROP DATABASE does not belong",
            "cluster-wide",
        ),
        ("COMMIT", "COMMIT does not belong", "transactions"),
        (
            "CREATE ROLE app",
            "CREATE ROLE does not belong",
            "roles are cluster-wide",
        ),
        (
            "CREATE DATABASE app",
            "CREATE DATABASE does not belong",
            "cluster-wide",
        ),
        (
            "UPDATE t SET x = 1",
            "UPDATE does not belong",
            "CREATE statements",
        ),
        (
            "DELETE FROM t",
            "DELETE does not belong",
            "CREATE statements",
        ),
        (
            "TRUNCATE t",
            "TRUNCATE does not belong",
            "CREATE statements",
        ),
        (
            "COPY t FROM stdin",
            "COPY does not belong",
            "CREATE statements",
        ),
        ("VACUUM t", "VACUUM does not belong", "CREATE statements"),
        (
            "SET search_path = app",
            "SET does not belong",
            "qualify names",
        ),
        (
            "SELECT pg_catalog.setval('s', 42, true)",
            "SELECT setval does not belong",
            "data",
        ),
    ];
    for (sql, what, why) in cases {
        let message = text_error(sql).to_string();
        assert!(message.starts_with("schema/x.sql:1:1: "), "{message}");
        assert!(message.contains(what), "{sql}: {message}");
        assert!(message.contains(why), "{sql}: {message}");
    }
}

#[test]
fn psql_meta_commands_are_reported_clearly() {
    let err = dir_error("fixtures/source/meta_command");
    let message = err.to_string();
    assert!(
        message.starts_with(
            "fixtures/source/meta_command/dump.sql:2:1: psql meta-command `\\connect app` does not belong in a schema file"
        ),
        "{message}"
    );
}

#[test]
fn pg_dump_preamble_is_skipped() {
    let text = "SET statement_timeout = 0;\nSET client_encoding = 'UTF8';\n\
                SELECT pg_catalog.set_config('search_path', '', false);\n\
                CREATE TABLE public.t (id int);\n";
    let statements = source::parse_text(Path::new("dump.sql"), text).unwrap();
    assert_eq!(statements.len(), 1);
    assert_eq!(statements[0].line, 4);
}

#[test]
fn missing_dir_names_the_path() {
    let err = dir_error("fixtures/source/does_not_exist");
    assert_eq!(
        err.to_string(),
        "fixtures/source/does_not_exist: schema directory does not exist"
    );
}

#[test]
fn folder_without_sql_files_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("README.md"), "nothing here").unwrap();
    let err = source::load_dir(dir.path()).unwrap_err();
    assert!(matches!(err, SourceError::Empty { .. }));
    assert!(err.to_string().contains("no *.sql files"), "{err}");
}

#[test]
fn unreadable_file_names_the_path() {
    let err = source::load_files(&[PathBuf::from("fixtures/source/nope.sql")]).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("fixtures/source/nope.sql: cannot read"),
        "{err}"
    );
}

#[test]
fn invalid_utf8_points_at_the_bad_byte() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("latin1.sql");
    std::fs::write(&file, b"CREATE TABLE t (\n  caf\xe9 int\n);\n").unwrap();
    let err = source::load_files(&[file]).unwrap_err();
    let at = err.location().unwrap();
    assert_eq!((at.line, at.col), (2, 6));
    assert!(err.to_string().contains("not valid UTF-8"), "{err}");
}

#[test]
fn pg_dump_output_loads_as_it_is() {
    // pg_dump's `\restrict` guard (its key may start with a digit), preamble settings, OWNER TO.
    let set = source::load_dir(Path::new("fixtures/source/pg_dump")).unwrap();
    let kinds: Vec<&str> = set.statements.iter().map(|s| s.kind.as_str()).collect();
    assert_eq!(
        kinds,
        ["CREATE TABLE", "ALTER TABLE", "ALTER TABLE", "ALTER TABLE"]
    );
    assert_eq!(set.statements[0].line, 29);
}

#[test]
fn meta_command_arguments_do_not_confuse_the_scanner() {
    let text = "CREATE TABLE a (id int);\n\\set greeting 'hello\nCREATE TABLE b (id int);\n";
    let err = text_error(text);
    let message = err.to_string();
    assert!(
        message.starts_with("schema/x.sql:2:1: psql meta-command `\\set greeting 'hello`"),
        "{message}"
    );
    assert_eq!(err.into_list().len(), 1);
}

/// What the fuzz target (`fuzz/`, nightly, on demand) checks, in every CI run on derived
/// inputs: every fixture schema file cut at 24 places, and with a byte flipped at the same
/// places (invalid UTF-8, stray quotes, unterminated bodies), loads or fails with an error
/// that renders; nothing panics.
#[test]
fn truncated_and_corrupted_schema_files_never_panic() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for category in std::fs::read_dir(root.join("fixtures")).unwrap() {
        let category = category.unwrap().path();
        if !category.is_dir() {
            continue;
        }
        for case in std::fs::read_dir(&category).unwrap() {
            let after = case.unwrap().path().join("after.sql");
            if after.is_file() {
                files.push(after);
            }
        }
    }
    files.sort();
    assert!(files.len() > 100, "{}", files.len());
    let mut inputs = 0;
    for file in &files {
        let bytes = std::fs::read(file).unwrap();
        for k in 1..=24 {
            let at = bytes.len() * k / 25;
            let mut flipped = bytes.clone();
            if let Some(b) = flipped.get_mut(at) {
                *b ^= 0xA5;
            }
            for input in [&bytes[..at], &flipped[..]] {
                inputs += 1;
                match source::load_bytes(Path::new("schema/x.sql"), input) {
                    Ok(set) => assert!(set
                        .cycles
                        .iter()
                        .flatten()
                        .all(|&i| i < set.statements.len())),
                    Err(e) => assert!(!e.to_string().is_empty()),
                }
            }
        }
    }
    eprintln!("{inputs} derived inputs from {} files", files.len());
}
