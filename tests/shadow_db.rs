//! Connection strings: unix-socket hosts, key=value strings, redaction of passwords in errors,
//! and `--dev-url` shadows against the test server.

mod common;

use schemaplan::db;
use schemaplan::shadow::{Shadow, ShadowOptions};

#[test]
fn connect_error_never_shows_the_password() {
    for url in [
        "postgres://alice:Sup3rSecretPw@127.0.0.1:1/app?sslmode=disable",
        "host=127.0.0.1 port=1 user=alice password=Sup3rSecretPw dbname=app",
        "postgres://alice@127.0.0.1:1/app?password=Sup3rSecretPw",
    ] {
        let Err(e) = db::connect(url) else {
            panic!("connected to port 1?");
        };
        let text = format!("{e} {e:?}");
        assert!(!text.contains("Sup3rSecretPw"), "{text}");
        assert!(text.contains("***"), "{text}");
    }
    let opts = ShadowOptions {
        dev_url: Some("postgres://alice:Sup3rSecretPw@127.0.0.1:1/app".into()),
        ..Default::default()
    };
    let e = Shadow::start(&opts).unwrap_err();
    assert!(!format!("{e} {e:?}").contains("Sup3rSecretPw"));
}

#[test]
fn key_value_and_url_forms_reach_the_server() {
    let server = common::server();
    let mut c = db::connect(&server.admin_url()).unwrap();
    let port = server.port();
    // Whichever form the admin URL has, rebuild both forms from the server's own view.
    let socket_dir: Option<String> = c
        .query_one("SELECT current_setting('unix_socket_directories')", &[])
        .ok()
        .map(|r| r.get::<_, String>(0))
        .and_then(|s| s.split(',').next().map(|s| s.trim().to_string()))
        .filter(|s| !s.is_empty() && std::path::Path::new(s).is_dir());
    if std::env::var("SCHEMAPLAN_TEST_URL").is_err() {
        let kv = format!("host=127.0.0.1 port={port} user=postgres dbname=postgres");
        db::connect(&kv).unwrap_or_else(|e| panic!("{e}"));
        let kv_other = db::with_database(&kv, "template1");
        let mut c2 = db::connect(&kv_other).unwrap();
        let d: String = c2
            .query_one("SELECT current_database()::text", &[])
            .unwrap()
            .get(0);
        assert_eq!(d, "template1");
        if let Some(dir) = socket_dir {
            let url = format!(
                "postgresql://postgres@{}:{port}/postgres",
                db::percent_encode(&dir)
            );
            db::connect(&url).unwrap_or_else(|e| panic!("{url}: {e}"));
            let kv = format!("host={dir} port={port} user=postgres dbname=postgres");
            db::connect(&kv).unwrap_or_else(|e| panic!("{kv}: {e}"));
            let q = format!("postgresql:///postgres?host={dir}&port={port}&user=postgres");
            db::connect(&q).unwrap_or_else(|e| panic!("{q}: {e}"));
        }
    }
}

#[test]
fn dev_url_shadow_creates_and_drops_scratch_databases() {
    let server = common::server();
    let shadow = Shadow::start(&ShadowOptions {
        dev_url: Some(server.admin_url()),
        ..Default::default()
    })
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(!shadow.is_embedded());
    assert!(shadow.server_version_num() >= 100_000);
    let scratch = shadow.scratch("desired").unwrap();
    assert!(scratch
        .name
        .starts_with(&format!("schemaplan_shadow_{}_", std::process::id())));
    assert!(scratch.name.ends_with("_desired"));
    let mut c = scratch.connect().unwrap();
    c.batch_execute("CREATE TABLE t (id int)").unwrap();
    let name = scratch.name.clone();
    drop(scratch); // drops with FORCE although `c` is still connected
    let mut admin = server.connect("postgres");
    let n: i64 = admin
        .query_one(
            "SELECT count(*) FROM pg_database WHERE datname = $1",
            &[&name],
        )
        .unwrap()
        .get(0);
    assert_eq!(n, 0);
    shadow
        .ensure_roles(&["shadow_test_role".to_string(), "Odd \"Role\"".to_string()])
        .unwrap();
    shadow
        .ensure_roles(&["shadow_test_role".to_string(), "public".to_string()])
        .unwrap();
    let n: i64 = admin
        .query_one(
            "SELECT count(*) FROM pg_roles WHERE rolname IN ('shadow_test_role', 'Odd \"Role\"') \
             AND NOT rolcanlogin",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(n, 2);
    assert!(shadow
        .version_warning(shadow.server_version_num())
        .is_none());
    assert!(shadow.version_warning(90_624).is_some());
}
