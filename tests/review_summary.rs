//! The Markdown a pull request gets, through the binary on a real server with rows in the
//! table: `plan --format markdown` (hazards and blocking locks first, steps by phase with their
//! notes, the inverse, both files folded) and `drift --format markdown`; names with Markdown
//! characters stay inert.

mod common;

use common::{schemaplan_expect, server};

const LIVE: &str = r#"
CREATE TABLE public.accounts (id integer PRIMARY KEY, email text, legacy text, "a|b" integer);
INSERT INTO public.accounts SELECT g, 'u' || g || '@example.com', 'x', g FROM generate_series(1, 100) g;
"#;

const DESIRED: &str = r#"
CREATE TABLE public.accounts (
    id integer PRIMARY KEY,
    email text CONSTRAINT "email_*has*_at" CHECK (email LIKE '%@%'),
    "a|b" integer
);
CREATE INDEX accounts_email_idx ON public.accounts (email);
"#;

fn setup() -> (tempfile::TempDir, String) {
    let s = server();
    let (name, url) = s.fresh_db("review_summary");
    s.connect(&name).batch_execute(LIVE).unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("schema")).unwrap();
    std::fs::write(dir.path().join("schema/app.sql"), DESIRED).unwrap();
    (dir, url)
}

#[test]
fn plan_markdown_puts_hazards_and_blocking_locks_first_and_escapes_names() {
    let (dir, url) = setup();
    let dev = server().admin_url();
    let md = schemaplan_expect(
        dir.path(),
        &[
            "plan",
            "--db",
            &url,
            "--dev-url",
            &dev,
            "--out",
            "review",
            "--small-table",
            "0",
            "--format",
            "markdown",
        ],
        0,
    );
    assert!(md.contains("**hazards:** `data-loss`"), "{md}");
    assert!(md.contains("Applying needs `--allow-hazards"), "{md}");
    assert!(md.contains("**Locks that block traffic**"), "{md}");
    // Outside the folded SQL, names are inert: a pipe cannot split a table cell, asterisks
    // cannot start emphasis.
    let prose = md.split("<details>").next().unwrap();
    assert!(
        !prose.contains("*has*"),
        "emphasis in a name is escaped: {md}"
    );
    assert!(!prose.replace("\\|", "").contains("a|b"), "{md}");
    // Fingerprints follow the model's every field: not what this snapshot is about.
    let md: String = md
        .lines()
        .map(|l| match l.split_once(": ") {
            Some((k @ ("-- from" | "-- to"), _)) => format!("{k}: [fingerprint]"),
            _ => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    insta::assert_snapshot!("plan_markdown", md);
}

/// A foreign key locks the table it references as well as its own: the review's list of
/// locks that block traffic has a row for each, both for adding the key (SHARE ROW EXCLUSIVE)
/// and, in the plan that drops it, for dropping it (ACCESS EXCLUSIVE).
#[test]
fn plan_markdown_lists_the_lock_on_a_foreign_keys_referenced_table() {
    let s = server();
    let (name, url) = s.fresh_db("review_fk_locks");
    let tables = "CREATE TABLE public.customers (id integer PRIMARY KEY);\n";
    s.connect(&name)
        .batch_execute(&format!(
            "{tables}CREATE TABLE public.orders (id integer PRIMARY KEY, customer_id integer);
             INSERT INTO public.customers SELECT generate_series(1, 20);
             INSERT INTO public.orders SELECT g, 1 + g % 20 FROM generate_series(1, 100) g;"
        ))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("schema")).unwrap();
    std::fs::write(
        dir.path().join("schema/shop.sql"),
        format!(
            "{tables}CREATE TABLE public.orders (id integer PRIMARY KEY,\n\
             \x20   customer_id integer CONSTRAINT orders_customer_fk REFERENCES public.customers (id));\n"
        ),
    )
    .unwrap();
    let dev = server().admin_url();
    let md = schemaplan_expect(
        dir.path(),
        &[
            "plan",
            "--db",
            &url,
            "--dev-url",
            &dev,
            "--out",
            "review",
            "--format",
            "markdown",
        ],
        0,
    );
    let locks = md
        .split("**Locks that block traffic**")
        .nth(1)
        .and_then(|rest| rest.split("\n\n####").next())
        .unwrap_or_else(|| panic!("no lock list: {md}"));
    assert!(
        locks.contains("| 1 | SHARE ROW EXCLUSIVE | public.orders |"),
        "{md}"
    );
    assert!(
        locks.contains("| 1 | SHARE ROW EXCLUSIVE | public.customers |"),
        "the referenced table's lock is listed: {md}"
    );
    assert!(
        md.contains("also locks the referenced table: SHARE ROW EXCLUSIVE on public.customers"),
        "{md}"
    );
    // The inverse drops the key: ACCESS EXCLUSIVE on both tables, said in its step's note.
    let inverse = std::fs::read_to_string(dir.path().join("review/inverse.sql")).unwrap();
    assert!(
        inverse.contains("also locks the referenced table: ACCESS EXCLUSIVE on public.customers"),
        "{inverse}"
    );
    s.drop_db(&name);
}

#[test]
fn drift_markdown_has_a_section_and_a_diff_block_per_object() {
    let (dir, url) = setup();
    let md = schemaplan_expect(
        dir.path(),
        &["drift", "--db", &url, "--format", "markdown"],
        2,
    );
    assert!(
        md.starts_with("### Drift: the database differs from schema in 1 object(s)"),
        "{md}"
    );
    assert!(md.contains("#### table public.accounts"), "{md}");
    assert!(md.contains("```diff\n--- live\n+++ schema files"), "{md}");
}

#[test]
fn plan_out_refuses_a_directory_holding_a_plan_unless_forced() {
    let (dir, url) = setup();
    let dev = server().admin_url();
    let args = ["plan", "--db", &url, "--dev-url", &dev, "--out", "reviewed"];
    schemaplan_expect(dir.path(), &args, 0);
    let reviewed = std::fs::read_to_string(dir.path().join("reviewed/plan.sql")).unwrap();
    std::fs::write(
        dir.path().join("schema/more.sql"),
        "CREATE TABLE public.more (id integer);",
    )
    .unwrap();
    let t = schemaplan_expect(dir.path(), &args, 1);
    assert!(t.contains("reviewed already holds a plan"), "{t}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("reviewed/plan.sql")).unwrap(),
        reviewed,
        "the reviewed plan is untouched"
    );
    let forced = [&args[..], &["--force"]].concat();
    schemaplan_expect(dir.path(), &forced, 0);
    let replaced = std::fs::read_to_string(dir.path().join("reviewed/plan.sql")).unwrap();
    assert!(replaced.contains("public.more"), "{replaced}");
}
