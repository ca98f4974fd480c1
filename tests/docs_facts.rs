//! Numbers the documentation states that users type into psql must be the ones the code uses.

use std::path::PathBuf;

/// docs/executor.md tells users how to read an old bookkeeping large object (`lo_get(<oid>)`)
/// before it is migrated: every OID-sized number in it must be `exec::BOOK_OID` (it once said
/// 3545255118, which is not 0xD3504C4E).
#[test]
fn executor_doc_states_the_bookkeeping_oid_the_code_uses() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/executor.md");
    let doc = std::fs::read_to_string(&path).unwrap();
    let oid = schemaplan::exec::BOOK_OID.to_string();
    let mut mentions = 0;
    for (i, line) in doc.lines().enumerate() {
        for word in line.split(|c: char| !c.is_ascii_digit()) {
            if word.len() == oid.len() {
                assert_eq!(word, oid, "docs/executor.md:{}: {line}", i + 1);
                mentions += 1;
            }
        }
    }
    assert!(
        mentions >= 1,
        "docs/executor.md names the old OID {oid} (migration)"
    );
    assert!(doc.contains(&format!("0x{:X}", schemaplan::exec::BOOK_OID)));
}

/// docs/executor.md documents every column of the bookkeeping tables, as `apply` creates them,
/// so people can query them: each column name appears in the doc's table of columns.
#[test]
fn executor_doc_lists_every_bookkeeping_column() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/executor.md");
    let doc = std::fs::read_to_string(&path).unwrap();
    for (table, columns) in schemaplan::exec::BOOKKEEPING_COLUMNS {
        assert!(
            doc.contains(&format!("FROM schemaplan.{table}")),
            "docs/executor.md has a query example for schemaplan.{table}"
        );
        for column in *columns {
            assert!(
                doc.contains(&format!("| `{column}` |")),
                "docs/executor.md documents column schemaplan.{table}.{column}"
            );
        }
    }
}
