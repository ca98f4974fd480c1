//! Generated SQL cannot be broken out of: names and texts taken from a live database whose
//! settings differ from the defaults go through src/render/quote.rs and stay data. (Names with
//! quotes, semicolons, dollar signs, backslashes, newlines and unicode round-trip in
//! fixtures/identifiers/; a role named "Public" in fixtures/grants/role_named_public_is_not_everyone.)

mod common;

use std::process::{Command, Stdio};

/// A comment text crafted to end its string literal on a server reading backslashes as escapes
/// (`standard_conforming_strings = off`), then run SQL.
const EVIL: &str = "x\\'; DROP TABLE public.victim; --";

fn comment_of(client: &mut postgres::Client) -> Option<String> {
    client
        .query_one(
            "SELECT obj_description('public.t'::regclass, 'pg_class')",
            &[],
        )
        .unwrap()
        .get(0)
}

fn victim_rows(client: &mut postgres::Client) -> i64 {
    client
        .query_one("SELECT count(*) FROM public.victim", &[])
        .unwrap()
        .get(0)
}

#[test]
fn literals_from_the_catalog_stay_literals_when_backslashes_are_escapes() {
    let server = common::server();
    let (db, url) = server.fresh_db("quoting_scs_off");
    let mut admin = server.connect("postgres");
    admin
        .batch_execute(&format!(
            "ALTER DATABASE {db} SET standard_conforming_strings = off"
        ))
        .unwrap();
    let mut c = server.connect(&db);
    c.batch_execute(
        "SET standard_conforming_strings = on; \
         CREATE TABLE public.victim (id int); INSERT INTO public.victim VALUES (1), (2); \
         CREATE TABLE public.t (id int)",
    )
    .unwrap();
    c.execute(
        &format!(
            "COMMENT ON TABLE public.t IS {}",
            schemaplan::render::quote::literal(EVIL)
        ),
        &[],
    )
    .unwrap();
    assert_eq!(comment_of(&mut c).as_deref(), Some(EVIL));

    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("schema")).unwrap();
    std::fs::write(
        tmp.path().join("schema/t.sql"),
        "CREATE TABLE public.victim (id int);\n\
         CREATE TABLE public.t (id int);\n\
         COMMENT ON TABLE public.t IS 'C:\\new\\dir';\n",
    )
    .unwrap();
    let dev = server.admin_url();
    let run = |args: &[&str]| {
        let o = common::schemaplan(tmp.path(), args);
        let t = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        assert_eq!(o.status.code(), Some(0), "{args:?}: {t}");
        t
    };
    run(&["plan", "--db", &url, "--dev-url", &dev, "--out", "plans/p"]);
    let inverse = std::fs::read_to_string(tmp.path().join("plans/p/inverse.sql")).unwrap();
    assert!(inverse.contains("E'x\\\\''; DROP"), "{inverse}");
    // The binary: forward, then the inverse.
    run(&["apply", "--db", &url, "plans/p"]);
    let mut c = server.connect(&db);
    assert_eq!(comment_of(&mut c).as_deref(), Some("C:\\new\\dir"));
    run(&["rollback", "--db", &url, "plans/p"]);
    assert_eq!(comment_of(&mut c).as_deref(), Some(EVIL));
    assert_eq!(victim_rows(&mut c), 2);
    // psql in a session with standard_conforming_strings = off (the database's setting), as a
    // reviewer might run the file by hand: the inverse plan's literal still holds.
    run(&["apply", "--db", &url, "plans/p", "--force"]);
    let psql = ["/usr/lib/postgresql/15/bin/psql"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .unwrap_or("psql");
    let o = Command::new(psql)
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", &url, "-c"])
        .arg("SHOW standard_conforming_strings")
        .arg("-f")
        .arg(tmp.path().join("plans/p/inverse.sql"))
        .stdin(Stdio::null())
        .output()
        .expect("psql");
    let out = String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{out}");
    assert!(
        out.contains("off"),
        "the session reads backslashes as escapes: {out}"
    );
    assert_eq!(comment_of(&mut c).as_deref(), Some(EVIL));
    assert_eq!(victim_rows(&mut c), 2, "{out}");
    server.drop_db(&db);
}
