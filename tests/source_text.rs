//! Statement text and positions: `$$` bodies, CRLF, byte-order marks, unicode.

use std::path::Path;

use schemaplan::source;

#[test]
fn dollar_bodies_with_semicolons_are_one_statement() {
    let set = source::load_dir(Path::new("fixtures/source/bodies")).unwrap();
    let kinds: Vec<&str> = set.statements.iter().map(|s| s.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "CREATE FUNCTION",
            "CREATE FUNCTION",
            "CREATE FUNCTION",
            "CREATE TABLE"
        ]
    );
    assert!(set.statements[0].sql.ends_with("END;\n$$"));
    assert!(set.statements[2].sql.ends_with("END"));
    assert_eq!(set.statements[2].line, 10);
}

#[test]
fn unicode_identifiers_keep_their_case_and_characters() {
    let set = source::load_dir(Path::new("fixtures/source/bodies")).unwrap();
    let table = &set.statements[3];
    assert_eq!(table.creates[0], "public.Grüße");
    assert!(table.creates.iter().any(|n| n == "public.Grüße.naïve"));
    assert!(table.creates.iter().any(|n| n == "public.Grüße.größe"));
}

#[test]
fn crlf_files_give_the_same_positions() {
    let text = "CREATE TABLE a (id int);\r\n\r\n  CREATE TABLE b (\r\n    id int -- @renamed from=old\r\n  );\r\n";
    let statements = source::parse_text(Path::new("crlf.sql"), text).unwrap();
    assert_eq!((statements[1].line, statements[1].col), (3, 3));
    assert!(!statements[1].sql.contains("\r\n  )\r"));
    assert_eq!(statements[1].annotations.len(), 1);
    let err = source::parse_text(
        Path::new("crlf.sql"),
        "CREATE TABLE a (id int);\r\nCREATE TABL b ();\r\n",
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "crlf.sql:2:8: syntax error at or near \"TABL\"\n  |\n2 | CREATE TABL b ();\n  |        ^"
    );
}

#[test]
fn byte_order_mark_is_ignored() {
    let statements =
        source::parse_text(Path::new("bom.sql"), "\u{feff}CREATE TABLE a (id int);").unwrap();
    assert_eq!((statements[0].line, statements[0].col), (1, 1));
    assert_eq!(statements[0].sql, "CREATE TABLE a (id int)");
}

#[test]
fn columns_count_characters_not_bytes() {
    let err = source::parse_text(Path::new("u.sql"), "COMMENT ON TABLE \"café\" IS 'é' TABL;")
        .unwrap_err();
    let at = err.location().unwrap();
    assert_eq!((at.line, at.col), (1, 32)); // byte offset 33: é is two bytes, twice
}

#[test]
fn statement_text_is_exact_without_semicolon_or_surrounding_comments() {
    let text = "-- header\n/* block */ CREATE TABLE t (\n  id int -- inner\n) ; -- trailer\n";
    let statements = source::parse_text(Path::new("t.sql"), text).unwrap();
    assert_eq!(statements[0].sql, "CREATE TABLE t (\n  id int -- inner\n)");
    assert_eq!((statements[0].line, statements[0].col), (2, 13));
}
