//! A user's working directory next to a loaded database, the shape most binary-level tests
//! start from, and one-value queries to check what the database holds afterwards.

/// A database loaded with `before` and a working directory whose `schema/all.sql` is `after`:
/// (database URL, shadow URL (the test server's admin database), the directory, a client of
/// the database). `roles` are created on the server first (cluster-wide, idempotent).
pub fn with_roles(
    tag: &str,
    roles: &[&str],
    before: &str,
    after: &str,
) -> (String, String, tempfile::TempDir, postgres::Client) {
    let server = super::server();
    if !roles.is_empty() {
        server.ensure_roles(roles);
    }
    let (_db, url) = server.fresh_db(tag);
    let mut c = schemaplan::db::connect(&url).unwrap();
    c.batch_execute(before).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("schema")).unwrap();
    std::fs::write(tmp.path().join("schema/all.sql"), after).unwrap();
    (url, server.admin_url(), tmp, c)
}

/// [`with_roles`] without roles.
pub fn setup(
    tag: &str,
    before: &str,
    after: &str,
) -> (String, String, tempfile::TempDir, postgres::Client) {
    with_roles(tag, &[], before, after)
}

/// The one integer `sql` returns (e.g. `SELECT count(*) ...`).
pub fn count(c: &mut postgres::Client, sql: &str) -> i64 {
    c.query_one(sql, &[]).unwrap().get::<_, i64>(0)
}

/// The one (nullable) text `sql` returns.
pub fn text(c: &mut postgres::Client, sql: &str) -> Option<String> {
    c.query_one(sql, &[]).unwrap().get::<_, Option<String>>(0)
}

/// `plan --exit-code` of the files `dump` wrote into `cwd/dumped` against the database they
/// came from: the dump reads back in sync (exit 0) and nothing in it is reported as not
/// modeled.
pub fn dump_plans_back_to_nothing(cwd: &std::path::Path, url: &str, dev: &str) {
    let t = super::schemaplan_expect(
        cwd,
        &[
            "plan",
            "--db",
            url,
            "--dev-url",
            dev,
            "--schema",
            "dumped",
            "--exit-code",
            "--out",
            "plans/p",
        ],
        0,
    );
    assert!(!t.contains("not modeled"), "{t}");
}
