//! What `drift` shows, through the binary on a real server: per object (a table with its
//! columns, constraints and indexes; a view; a function), what differs and a unified diff of
//! its live and desired definitions, in text and JSON; exit codes 0 / 2.

mod common;

use common::{schemaplan_expect, server};

const DESIRED: &str = "\
CREATE TABLE public.users (id bigint PRIMARY KEY, email text NOT NULL, name text);
CREATE INDEX users_email_idx ON public.users (email);
CREATE VIEW public.active AS SELECT id, email FROM public.users;
CREATE FUNCTION public.bump(a integer) RETURNS integer LANGUAGE sql AS 'SELECT a + 1';
CREATE TABLE public.same (id integer PRIMARY KEY);
";

const LIVE: &str = "\
CREATE TABLE public.users (id bigint PRIMARY KEY, email varchar(100) NOT NULL, legacy text);
INSERT INTO public.users VALUES (1, 'a@example.com', 'x');
CREATE VIEW public.active AS SELECT id FROM public.users;
CREATE FUNCTION public.bump(a integer) RETURNS integer LANGUAGE sql AS 'SELECT a + 2';
CREATE TABLE public.same (id integer PRIMARY KEY);
CREATE TABLE public.stray (id integer);
";

fn setup() -> (tempfile::TempDir, String) {
    let s = server();
    let (name, url) = s.fresh_db("drift_report");
    s.connect(&name).batch_execute(LIVE).unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("schema")).unwrap();
    std::fs::write(dir.path().join("schema/app.sql"), DESIRED).unwrap();
    (dir, url)
}

#[test]
fn drift_shows_each_object_with_a_unified_diff_of_its_definitions() {
    let (dir, url) = setup();
    let text = schemaplan_expect(dir.path(), &["drift", "--db", &url], 2);
    insta::assert_snapshot!("drift_report_text", text);
}

#[test]
fn drift_json_has_kind_identity_changes_and_both_definitions_per_object() {
    let (dir, url) = setup();
    let out = common::schemaplan(dir.path(), &["drift", "--db", &url, "--format", "json"]);
    assert_eq!(common::exit_code(&out), 2, "{}", common::output_text(&out));
    let v = common::schemas::parse_valid("drift", &String::from_utf8_lossy(&out.stdout));
    assert_eq!(v["in_sync"], false);
    let objects = v["objects"].as_array().unwrap();
    let find = |kind: &str, identity: &str| {
        objects
            .iter()
            .find(|o| o["kind"] == kind && o["identity"] == identity)
            .unwrap_or_else(|| panic!("no {kind} {identity} in {v:#}"))
    };
    let users = find("table", "public.users");
    assert!(users["live"].as_str().unwrap().contains("legacy text"));
    assert!(users["desired"]
        .as_str()
        .unwrap()
        .contains("users_email_idx"));
    assert!(users["diff"]
        .as_str()
        .unwrap()
        .contains("+CREATE INDEX users_email_idx"));
    let stray = find("table", "public.stray");
    assert!(stray["desired"].is_null());
    let bump = find("function", "public.bump(a integer)");
    assert!(bump["diff"].as_str().unwrap().contains("+"));
    find("view", "public.active");
    assert!(
        !objects.iter().any(|o| o["identity"] == "public.same"),
        "an object that does not differ is not listed: {v:#}"
    );
    // In sync: exit 0 and no objects.
    let s = server();
    let (name, url2) = s.fresh_db("drift_report_in_sync");
    s.connect(&name).batch_execute(DESIRED).unwrap();
    let out = common::schemaplan(dir.path(), &["drift", "--db", &url2, "--format", "json"]);
    assert_eq!(common::exit_code(&out), 0, "{}", common::output_text(&out));
    let v = common::schemas::parse_valid("drift", &String::from_utf8_lossy(&out.stdout));
    assert_eq!(v["in_sync"], true);
    assert_eq!(v["objects"].as_array().unwrap().len(), 0);
}

/// A view's column comments and column grants, the same in the database and in the files, are
/// in sync (they were reported as drift, and planned again, on every run: `Schema::contains`
/// knew only tables' columns).
#[test]
fn view_column_comments_and_grants_alike_on_both_sides_are_in_sync() {
    let schema = "\
CREATE TABLE public.t (id integer PRIMARY KEY, a integer NOT NULL, b text);
CREATE VIEW public.v AS SELECT id, a, b FROM public.t;
COMMENT ON COLUMN public.v.b IS 'kept';
GRANT SELECT (a, b) ON public.v TO reader;
CREATE MATERIALIZED VIEW public.m AS SELECT id, b FROM public.t;
COMMENT ON COLUMN public.m.b IS 'also kept';
";
    let s = server();
    s.ensure_roles(&["reader"]);
    let (name, url) = s.fresh_db("drift_view_columns");
    s.connect(&name).batch_execute(schema).unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("schema")).unwrap();
    std::fs::write(dir.path().join("schema/app.sql"), schema).unwrap();
    let text = schemaplan_expect(dir.path(), &["drift", "--db", &url], 0);
    assert!(text.contains("In sync"), "{text}");
}
