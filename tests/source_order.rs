//! Dependency ordering across files.

use std::path::{Path, PathBuf};

use schemaplan::source::{self, Statement};

fn kinds_and_files(statements: &[Statement]) -> Vec<(String, String)> {
    statements
        .iter()
        .map(|s| {
            let file = s.file.file_name().unwrap().to_string_lossy().into_owned();
            (s.kind.to_string(), file)
        })
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[test]
fn view_in_a_comes_after_its_table_in_b() {
    let set = source::load_dir(Path::new("fixtures/source/cross_file")).unwrap();
    assert_eq!(
        set.files,
        [
            PathBuf::from("fixtures/source/cross_file/a.sql"),
            PathBuf::from("fixtures/source/cross_file/b.sql")
        ]
    );
    assert_eq!(
        kinds_and_files(&set.statements),
        pairs(&[
            ("CREATE TABLE", "b.sql"),
            ("CREATE VIEW", "a.sql"),
            ("COMMENT", "a.sql")
        ])
    );
    let view = &set.statements[1];
    assert_eq!(view.creates, ["public.active_users"]);
    assert!(view.references.iter().any(|n| n == "public.users"));
    assert_eq!((view.line, view.col), (2, 1));
}

#[test]
fn schemas_and_extensions_come_first() {
    let set = source::load_dir(Path::new("fixtures/source/schemas_first")).unwrap();
    assert_eq!(
        kinds_and_files(&set.statements),
        pairs(&[
            ("CREATE SCHEMA", "zz_setup.sql"),
            ("CREATE EXTENSION", "zz_setup.sql"),
            ("CREATE TABLE", "tables.sql")
        ])
    );
}

fn order_of(text: &str) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("schema.sql");
    std::fs::write(&file, text).unwrap();
    let set = source::load_files(&[file]).unwrap();
    set.statements.into_iter().map(|s| s.sql).collect()
}

#[test]
fn foreign_keys_wait_for_the_referenced_table_and_its_key() {
    let got = order_of(
        "ALTER TABLE ONLY orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) REFERENCES users (id);\n\
         CREATE TABLE orders (id int, user_id int);\n\
         ALTER TABLE ONLY users ADD CONSTRAINT users_pkey PRIMARY KEY (id);\n\
         CREATE TABLE users (id int);\n",
    );
    assert_eq!(
        got,
        [
            "CREATE TABLE orders (id int, user_id int)",
            "CREATE TABLE users (id int)",
            "ALTER TABLE ONLY users ADD CONSTRAINT users_pkey PRIMARY KEY (id)",
            "ALTER TABLE ONLY orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) REFERENCES users (id)",
        ]
    );
}

#[test]
fn mutual_foreign_keys_do_not_fail_and_keep_file_order() {
    let got = order_of(
        "CREATE TABLE a (id int PRIMARY KEY, b_id int REFERENCES b);\n\
         CREATE TABLE b (id int PRIMARY KEY, a_id int REFERENCES a);\n\
         CREATE INDEX a_b ON a (b_id);\n",
    );
    assert!(got[0].starts_with("CREATE TABLE a"));
    assert!(got[1].starts_with("CREATE TABLE b"));
    assert!(got[2].starts_with("CREATE INDEX"));
}

#[test]
fn types_functions_sequences_and_triggers_are_ordered() {
    let got = order_of(
        "CREATE TRIGGER touch BEFORE UPDATE ON t FOR EACH ROW EXECUTE FUNCTION touch();\n\
         CREATE TABLE t (id int DEFAULT nextval('t_seq'), m mood[], e email);\n\
         CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;\n\
         CREATE DOMAIN email AS text CHECK (VALUE ~ '@');\n\
         CREATE SEQUENCE t_seq;\n\
         CREATE TYPE mood AS ENUM ('ok');\n",
    );
    let pos = |prefix: &str| got.iter().position(|s| s.starts_with(prefix)).unwrap();
    assert!(pos("CREATE SEQUENCE") < pos("CREATE TABLE"));
    assert!(pos("CREATE TYPE") < pos("CREATE TABLE"));
    assert!(pos("CREATE DOMAIN") < pos("CREATE TABLE"));
    assert!(pos("CREATE TABLE") < pos("CREATE TRIGGER"));
    assert!(pos("CREATE FUNCTION") < pos("CREATE TRIGGER"));
}

#[test]
fn quoted_and_unquoted_names_match_like_postgres() {
    let got = order_of(
        "CREATE VIEW v AS SELECT * FROM \"Users\" JOIN accounts USING (id);\n\
         CREATE TABLE ACCOUNTS (id int);\n\
         CREATE TABLE \"Users\" (id int);\n",
    );
    assert!(got[2].starts_with("CREATE VIEW"), "{got:?}");
}

#[test]
fn the_same_input_gives_the_same_order() {
    let a = source::load_dir(Path::new("fixtures/source/cross_file")).unwrap();
    let b = source::load_dir(Path::new("fixtures/source/cross_file")).unwrap();
    assert_eq!(a, b);
}

/// Which index a partitioned index adopts depends on what already exists on the partitions:
/// the written order of the two is meaning, not noise, and is kept (a partition's own index
/// written after the partitioned one stays a separate index).
#[test]
fn indexes_on_partitions_keep_their_order_relative_to_the_partitioned_index() {
    let got = order_of(
        "CREATE TABLE p (x int) PARTITION BY LIST (x);\n\
         CREATE TABLE p1 PARTITION OF p FOR VALUES IN (1);\n\
         CREATE INDEX p_idx ON p (x);\n\
         CREATE INDEX p1_idx ON p1 (x);\n",
    );
    assert_eq!(
        got,
        [
            "CREATE TABLE p (x int) PARTITION BY LIST (x)",
            "CREATE TABLE p1 PARTITION OF p FOR VALUES IN (1)",
            "CREATE INDEX p_idx ON p (x)",
            "CREATE INDEX p1_idx ON p1 (x)",
        ]
    );
}

/// A CHECK added `NOT VALID` to a partitioned table gives the partitions that exist then
/// `NOT VALID` copies and those created after it validated ones: written before or after the
/// partitions, it stays there (a valid CHECK still waits for the partitions, where nothing
/// depends on the order).
#[test]
fn not_valid_checks_keep_their_order_relative_to_partitions() {
    let got = order_of(
        "CREATE TABLE p (x int) PARTITION BY LIST (x);\n\
         ALTER TABLE p ADD CONSTRAINT p_x CHECK (x > 0) NOT VALID;\n\
         CREATE TABLE p1 PARTITION OF p FOR VALUES IN (1);\n\
         CREATE TABLE q (x int) PARTITION BY LIST (x);\n\
         CREATE TABLE q1 PARTITION OF q FOR VALUES IN (1);\n\
         ALTER TABLE q ADD CONSTRAINT q_x CHECK (x > 0) NOT VALID;\n\
         CREATE TABLE q2 PARTITION OF q FOR VALUES IN (2);\n\
         ALTER TABLE q ADD CONSTRAINT q_y CHECK (x < 9);\n\
         CREATE TABLE q3 PARTITION OF q FOR VALUES IN (3);\n",
    );
    assert_eq!(
        got,
        [
            "CREATE TABLE p (x int) PARTITION BY LIST (x)",
            "ALTER TABLE p ADD CONSTRAINT p_x CHECK (x > 0) NOT VALID",
            "CREATE TABLE p1 PARTITION OF p FOR VALUES IN (1)",
            "CREATE TABLE q (x int) PARTITION BY LIST (x)",
            "CREATE TABLE q1 PARTITION OF q FOR VALUES IN (1)",
            "ALTER TABLE q ADD CONSTRAINT q_x CHECK (x > 0) NOT VALID",
            "CREATE TABLE q2 PARTITION OF q FOR VALUES IN (2)",
            "CREATE TABLE q3 PARTITION OF q FOR VALUES IN (3)",
            "ALTER TABLE q ADD CONSTRAINT q_y CHECK (x < 9)",
        ]
    );
}

#[test]
fn like_comes_after_everything_it_copies() {
    let got = order_of(
        "CREATE TABLE copy (LIKE src INCLUDING ALL);\n\
         CREATE TABLE src (x int);\n\
         COMMENT ON COLUMN src.x IS 'x';\n\
         CREATE INDEX ON src (x);\n",
    );
    assert_eq!(got[3], "CREATE TABLE copy (LIKE src INCLUDING ALL)");
}

/// Imperative statements (`DROP`, `RENAME`, `ALTER ... DROP COLUMN`) keep their written position
/// against every statement naming the same objects, so the file means what running it in
/// order means (docs/source.md, "What a schema file may contain").
#[test]
fn imperative_statements_run_in_written_order_against_their_objects() {
    let got = order_of(
        "DROP SCHEMA IF EXISTS app CASCADE;\n\
         DROP VIEW IF EXISTS public.v;\n\
         CREATE VIEW public.v AS SELECT id FROM app.t;\n\
         CREATE SCHEMA app;\n\
         CREATE TABLE app.t (id int, gone int);\n\
         ALTER TABLE app.t DROP COLUMN gone;\n\
         ALTER TABLE app.t RENAME TO u;\n\
         CREATE INDEX u_id_idx ON app.u (id);\n",
    );
    assert_eq!(
        got,
        [
            "DROP SCHEMA IF EXISTS app CASCADE",
            "CREATE SCHEMA app",
            "DROP VIEW IF EXISTS public.v",
            "CREATE TABLE app.t (id int, gone int)",
            "CREATE VIEW public.v AS SELECT id FROM app.t",
            "ALTER TABLE app.t DROP COLUMN gone",
            "ALTER TABLE app.t RENAME TO u",
            "CREATE INDEX u_id_idx ON app.u (id)",
        ]
    );
}
