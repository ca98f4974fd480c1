//! `-- @renamed` and `-- @backfill` annotations and what they attach to.

use std::path::Path;

use schemaplan::source::{self, Annotation, Statement};

/// The fixture's statements in file order.
fn fixture() -> Vec<Statement> {
    let file = Path::new("fixtures/source/annotations/users.sql");
    source::parse_text(file, &std::fs::read_to_string(file).unwrap()).unwrap()
}

fn renamed(from: &str, column: Option<&str>, line: usize) -> Annotation {
    Annotation::RenamedFrom {
        from: from.into(),
        column: column.map(Into::into),
        line,
    }
}

fn backfill(expr: &str, column: Option<&str>, line: usize) -> Annotation {
    Annotation::Backfill {
        expr: expr.into(),
        column: column.map(Into::into),
        line,
    }
}

#[test]
fn table_columns_and_constraints_get_their_annotations() {
    let statements = fixture();
    let users = &statements[0];
    assert_eq!(users.kind, "CREATE TABLE");
    assert_eq!(
        users.annotations,
        [
            renamed("members", None, 1),
            renamed("mail", Some("email"), 4),
            renamed("FullName", Some("full_name"), 6),
            backfill("lower(email)", Some("email_lower"), 7),
            renamed("members_email_key", Some("users_email_key"), 9),
        ]
    );
}

#[test]
fn trailing_comment_after_semicolon_belongs_to_that_statement() {
    let statements = fixture();
    assert_eq!(statements[1].kind, "CREATE INDEX");
    assert_eq!(
        statements[1].annotations,
        [renamed("members_name_idx", None, 12)]
    );
}

#[test]
fn enum_type_and_value_renames() {
    let statements = fixture();
    assert_eq!(statements[2].kind, "CREATE TYPE");
    assert_eq!(
        statements[2].annotations,
        [
            renamed("feeling", None, 14),
            renamed("glad", Some("happy"), 15)
        ]
    );
}

#[test]
fn alter_table_add_column_takes_a_statement_level_backfill() {
    let statements = fixture();
    assert_eq!(statements[3].kind, "ALTER TABLE");
    assert_eq!(
        statements[3].annotations,
        [backfill("0", Some("score"), 19)]
    );
}

fn annotations_of(text: &str) -> Vec<Annotation> {
    let statements = source::parse_text(Path::new("t.sql"), text).unwrap();
    statements.into_iter().flat_map(|s| s.annotations).collect()
}

fn annotation_error(text: &str) -> String {
    source::parse_text(Path::new("t.sql"), text)
        .unwrap_err()
        .to_string()
}

#[test]
fn sqldef_comment_placements_are_understood() {
    assert_eq!(
        annotations_of("CREATE TABLE new_users /* @renamed from=old_users */ (id int);"),
        [renamed("old_users", None, 1)]
    );
    assert_eq!(
        annotations_of("CREATE TYPE s /* @renamed from=t */ AS ENUM ('a');"),
        [renamed("t", None, 1)]
    );
    assert_eq!(
        annotations_of("CREATE TYPE s AS ENUM (\n  /* @renamed from=t */\n  'a'\n);"),
        [renamed("t", None, 2)]
    );
    assert_eq!(
        annotations_of(
            "CREATE TABLE \"UserAccounts\" ( -- @renamed from=user_accounts\n  id int\n);"
        ),
        [renamed("user_accounts", None, 1)]
    );
    assert_eq!(
        annotations_of(
            "CREATE TABLE users (\n  id int,\n  \"NewName\" text -- @renamed from=\"OldName\"\n);"
        ),
        [renamed("OldName", Some("NewName"), 3)]
    );
    assert_eq!(
        annotations_of(
            "CREATE INDEX \"EmailIndex\" /* @renamed from=email_idx */ ON users (email);"
        ),
        [renamed("email_idx", None, 1)]
    );
}

#[test]
fn multi_line_column_keeps_its_trailing_annotation() {
    assert_eq!(
        annotations_of(
            "CREATE TABLE t (\n  a int\n    NOT NULL DEFAULT 1, -- @renamed from=b\n  c int\n);"
        ),
        [renamed("b", Some("a"), 3)]
    );
}

#[test]
fn misplaced_annotations_are_errors() {
    let message = annotation_error("-- @renamed from=x\nCOMMENT ON TABLE t IS 'x';");
    assert!(
        message.starts_with("t.sql:1:1: @renamed cannot apply to COMMENT"),
        "{message}"
    );
    let message = annotation_error("-- @backfill 1\nCREATE TABLE t (id int);");
    assert!(
        message.contains("@backfill must be on or just before"),
        "{message}"
    );
    let message =
        annotation_error("CREATE TABLE t (\n  id int,\n  CHECK (id > 0) -- @backfill 1\n);");
    assert!(message.contains("constraint without a name"), "{message}");
    let message = annotation_error("CREATE TABLE t (id int);\n-- @renamed from=x\n");
    assert!(message.contains("not followed by a statement"), "{message}");
    let message = annotation_error("CREATE TABLE t (\n  id int\n  -- @renamed from=x\n);");
    assert!(
        message.starts_with("t.sql:3:3: annotation inside a table"),
        "{message}"
    );
}

#[test]
fn malformed_annotations_point_at_the_comment() {
    let message = annotation_error("CREATE TABLE t (\n  id int -- @renamed old_id\n);");
    assert!(
        message.starts_with("t.sql:2:10: expected `@renamed from=old_name`"),
        "{message}"
    );
    let message = annotation_error("CREATE TABLE t (\n  id int -- @backfill (1\n);");
    assert!(message.contains("does not parse"), "{message}");
}

#[test]
fn other_at_words_in_comments_are_prose() {
    assert!(annotations_of("-- @author someone\nCREATE TABLE t (id int);").is_empty());
}
