//! The shadow's roles carry the target's `SUPERUSER` attribute (issue 14): PostgreSQL requires
//! the owner of an event trigger and of a foreign-data wrapper to be a superuser, so a schema
//! giving one to a role that is a superuser on the target loads in the embedded shadow only
//! when the shadow makes that role a superuser too (`Shadow::prepare_roles`). Through the
//! binary: event triggers and wrappers given to another superuser than the connecting one,
//! created or changed, plan, prove and apply, and so do the elements of a `CREATE SCHEMA ...
//! AUTHORIZATION` of a superuser (created as that role, with its privileges); a role turned superuser or not between two runs
//! with a warm cache loads afresh with its new attribute; a `--dev-url` server whose role
//! differs from the target's is refused naming the role and the statement, before anything is
//! loaded. Through the library: the attribute follows the target, the shadow's own role is
//! never altered, and a run needing other attributes waits for the runs using the current ones.

mod common;

use std::path::Path;
use std::time::Duration;

use common::project::{count, text};
use schemaplan::shadow::{Role, Shadow, ShadowOptions};

/// Makes `name` exist on the test server (cluster-wide) with the given `SUPERUSER` attribute.
fn role_on_test_server(name: &str, superuser: bool) {
    role_on(&common::server().admin_url(), name, superuser);
}

fn role_on(url: &str, name: &str, superuser: bool) {
    let mut c = schemaplan::db::connect(url).unwrap();
    let sql = format!(
        "DO $$BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{name}') \
         THEN CREATE ROLE {name} NOLOGIN; END IF; END$$; ALTER ROLE {name} {}",
        if superuser {
            "SUPERUSER"
        } else {
            "NOSUPERUSER"
        }
    );
    for attempt in 0..3 {
        match c.batch_execute(&sql) {
            Ok(()) => return,
            // Made concurrently by another test: the second try alters it.
            Err(_) if attempt < 2 => {}
            Err(e) => panic!("{sql}: {}", schemaplan::db::error_text(&e)),
        }
    }
}

/// Runs the binary in `cwd` with its embedded shadow cluster in `cache`.
fn schemaplan(cwd: &Path, cache: &Path, args: &[&str]) -> (i32, String) {
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_schemaplan"))
        .args(args)
        .current_dir(cwd)
        .env_remove("DATABASE_URL")
        .env_remove("SCHEMAPLAN_DEV_URL")
        .env_remove("SCHEMAPLAN_ENV")
        .env_remove("SCHEMAPLAN_CONFIG")
        .env("SCHEMAPLAN_CACHE_DIR", cache)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run schemaplan");
    (common::exit_code(&o), common::output_text(&o))
}

fn expect(cwd: &Path, cache: &Path, args: &[&str], want: i32) -> String {
    let (code, t) = schemaplan(cwd, cache, args);
    assert_eq!(code, want, "schemaplan {args:?}:\n{t}");
    t
}

/// The table whose rows must stay, as the schema files have it.
const TABLE: &str = "CREATE TABLE public.kept (id int PRIMARY KEY, v text);
";

/// The live database's table, with its rows.
const ROWS: &str = "CREATE TABLE public.kept (id int PRIMARY KEY, v text);
INSERT INTO public.kept VALUES (1, 'a'), (2, 'b'), (3, 'c');
";

const LOG_FUNCTION: &str = "CREATE FUNCTION public.log_ddl() RETURNS event_trigger
LANGUAGE plpgsql AS $$BEGIN RAISE NOTICE 'ddl %', tg_tag; END$$;
";

fn event_trigger_owner(c: &mut postgres::Client, name: &str) -> Option<String> {
    text(
        c,
        &format!("SELECT (SELECT evtowner::regrole::text FROM pg_event_trigger WHERE evtname = '{name}')"),
    )
}

fn wrapper_owner(c: &mut postgres::Client, name: &str) -> Option<String> {
    text(
        c,
        &format!(
            "SELECT (SELECT fdwowner::regrole::text FROM pg_foreign_data_wrapper WHERE fdwname = '{name}')"
        ),
    )
}

/// Plans `before` -> `after` on the embedded shadow, applies, and checks the plan again is
/// empty and the rows stayed.
fn plan_apply_in_sync(tag: &str, before: &str, after: &str) -> postgres::Client {
    let cache = common::shadow_cache_dir("sp-roles-");
    let (url, _dev, tmp, mut c) = common::project::setup(tag, before, after);
    let cwd = tmp.path();
    let t = expect(
        cwd,
        cache.path(),
        &["plan", "--db", &url, "--out", "plans/p"],
        0,
    );
    assert!(!t.contains("must be a superuser"), "{t}");
    expect(
        cwd,
        cache.path(),
        &["apply", "--db", &url, "plans/p", "--allow-hazards", "all"],
        0,
    );
    expect(
        cwd,
        cache.path(),
        &["plan", "--db", &url, "--exit-code", "--out", "plans/q"],
        0,
    );
    assert_eq!(count(&mut c, "SELECT count(*) FROM public.kept"), 3);
    c
}

#[test]
fn an_event_trigger_given_to_another_superuser_plans_proves_and_applies_on_the_embedded_shadow() {
    role_on_test_server("sr_evtrig_owner", true);
    let owned =
        "CREATE EVENT TRIGGER audit_ddl ON ddl_command_start EXECUTE FUNCTION public.log_ddl();
ALTER EVENT TRIGGER audit_ddl OWNER TO sr_evtrig_owner;
COMMENT ON EVENT TRIGGER audit_ddl IS 'owned by a superuser of the target';
";
    // Created with its owner.
    let after = format!("{TABLE}{LOG_FUNCTION}{owned}");
    let mut c = plan_apply_in_sync("sr_evtrig_create", ROWS, &after);
    assert_eq!(
        event_trigger_owner(&mut c, "audit_ddl").as_deref(),
        Some("sr_evtrig_owner")
    );
    // An existing one (owned by the connecting role) given to it: the step runs in the proof.
    let before = format!(
        "{ROWS}{LOG_FUNCTION}CREATE EVENT TRIGGER audit_ddl ON ddl_command_start \
         EXECUTE FUNCTION public.log_ddl();\n"
    );
    let mut c = plan_apply_in_sync("sr_evtrig_change", &before, &after);
    assert_eq!(
        event_trigger_owner(&mut c, "audit_ddl").as_deref(),
        Some("sr_evtrig_owner")
    );
}

#[test]
fn a_foreign_data_wrapper_given_to_another_superuser_plans_proves_and_applies_on_the_embedded_shadow(
) {
    role_on_test_server("sr_fdw_owner", true);
    let after = format!(
        "{TABLE}CREATE FOREIGN DATA WRAPPER sr_wrapper;
ALTER FOREIGN DATA WRAPPER sr_wrapper OWNER TO sr_fdw_owner;
CREATE SERVER sr_server FOREIGN DATA WRAPPER sr_wrapper;
"
    );
    let mut c = plan_apply_in_sync("sr_fdw_create", ROWS, &after);
    assert_eq!(
        wrapper_owner(&mut c, "sr_wrapper").as_deref(),
        Some("sr_fdw_owner")
    );
    let before = format!(
        "{ROWS}CREATE FOREIGN DATA WRAPPER sr_wrapper;
CREATE SERVER sr_server FOREIGN DATA WRAPPER sr_wrapper;
"
    );
    let mut c = plan_apply_in_sync("sr_fdw_change", &before, &after);
    assert_eq!(
        wrapper_owner(&mut c, "sr_wrapper").as_deref(),
        Some("sr_fdw_owner")
    );
}

#[test]
fn schema_elements_created_as_another_superuser_load_with_its_privileges() {
    // The elements of `CREATE SCHEMA ... AUTHORIZATION r` are created as `r`: a foreign key to
    // a table `r` has no privilege on loads only when `r` is the superuser it is on the target.
    role_on_test_server("sr_schema_owner", true);
    let after = format!(
        "{TABLE}CREATE SCHEMA AUTHORIZATION sr_schema_owner
    CREATE TABLE refs (id int PRIMARY KEY, kept_id int REFERENCES public.kept);
"
    );
    let mut c = plan_apply_in_sync("sr_schema_elements", ROWS, &after);
    assert_eq!(
        text(
            &mut c,
            "SELECT relowner::regrole::text FROM pg_class WHERE oid = 'sr_schema_owner.refs'::regclass"
        )
        .as_deref(),
        Some("sr_schema_owner")
    );
}

#[test]
fn a_role_turned_superuser_or_not_between_warm_runs_loads_with_its_new_attribute() {
    role_on_test_server("sr_flip_owner", true);
    let cache = common::shadow_cache_dir("sp-roles-flip-");
    let after = format!(
        "{TABLE}{LOG_FUNCTION}CREATE EVENT TRIGGER flip_ddl ON ddl_command_end \
         EXECUTE FUNCTION public.log_ddl();
ALTER EVENT TRIGGER flip_ddl OWNER TO sr_flip_owner;
"
    );
    let (url, _dev, tmp, mut c) = common::project::setup("sr_flip", ROWS, &after);
    let cwd = tmp.path();
    let plan = ["plan", "--db", url.as_str(), "--out", "plans/p", "--force"];
    // A superuser: loads, and the second run uses the kept database.
    expect(cwd, cache.path(), &plan, 0);
    expect(cwd, cache.path(), &plan, 0);
    // No longer one: the target would refuse the statement, and so does the shadow (the kept
    // database of the other attribute is not used).
    role_on_test_server("sr_flip_owner", false);
    let (code, t) = schemaplan(cwd, cache.path(), &plan);
    assert_ne!(code, 0, "{t}");
    assert!(
        t.contains("The owner of an event trigger must be a superuser"),
        "{t}"
    );
    // A superuser again: loads again, and applies.
    role_on_test_server("sr_flip_owner", true);
    expect(cwd, cache.path(), &plan, 0);
    expect(
        cwd,
        cache.path(),
        &["apply", "--db", &url, "plans/p", "--allow-hazards", "all"],
        0,
    );
    assert_eq!(
        event_trigger_owner(&mut c, "flip_ddl").as_deref(),
        Some("sr_flip_owner")
    );
    assert_eq!(count(&mut c, "SELECT count(*) FROM public.kept"), 3);
    // And a role that was never one on the target, turned one: refused, then loads.
    role_on_test_server("sr_flip_later", false);
    std::fs::write(
        cwd.join("schema/all.sql"),
        after.replace("sr_flip_owner", "sr_flip_later"),
    )
    .unwrap();
    let (code, t) = schemaplan(cwd, cache.path(), &plan);
    assert_ne!(code, 0, "{t}");
    assert!(t.contains("must be a superuser"), "{t}");
    role_on_test_server("sr_flip_later", true);
    expect(cwd, cache.path(), &plan, 0);
}

#[test]
fn a_dev_url_server_whose_role_differs_from_the_target_is_refused_naming_role_and_statement() {
    // The target (the test server) has one superuser and one plain role; the --dev-url server
    // (an embedded cluster of this test) has them the other way round.
    role_on_test_server("sr_dev_super", true);
    role_on_test_server("sr_dev_plain", false);
    let dev_cache = common::shadow_cache_dir("sp-roles-dev-");
    let dev = Shadow::start(&ShadowOptions {
        cache_dir: Some(dev_cache.path().to_path_buf()),
        ..Default::default()
    })
    .unwrap();
    let dev_url = dev.admin_url();
    role_on(&dev_url, "sr_dev_plain", true);
    let after = format!(
        "{TABLE}{LOG_FUNCTION}CREATE EVENT TRIGGER dev_ddl ON ddl_command_start \
         EXECUTE FUNCTION public.log_ddl();
ALTER EVENT TRIGGER dev_ddl OWNER TO sr_dev_super;
CREATE FOREIGN DATA WRAPPER sr_dev_wrapper;
ALTER FOREIGN DATA WRAPPER sr_dev_wrapper OWNER TO sr_dev_plain;
"
    );
    let (url, _dev, tmp, mut c) = common::project::setup("sr_dev", ROWS, &after);
    let cwd = tmp.path();
    let cache = common::shadow_cache_dir("sp-roles-unused-");
    let plan = [
        "plan",
        "--db",
        url.as_str(),
        "--dev-url",
        dev_url.as_str(),
        "--out",
        "plans/p",
    ];
    let (code, t) = schemaplan(cwd, cache.path(), &plan);
    assert_ne!(code, 0, "{t}");
    assert!(
        t.contains("all.sql:5:1: ALTER EVENT TRIGGER makes role sr_dev_super the owner of a event trigger")
            || t.contains("all.sql:5:1: ALTER EVENT TRIGGER makes role sr_dev_super the owner of an event trigger"),
        "{t}"
    );
    assert!(
        t.contains(
            "sr_dev_super is a superuser on the target but not a superuser on the --dev-url \
             shadow server"
        ),
        "{t}"
    );
    assert!(t.contains("ALTER ROLE sr_dev_super SUPERUSER"), "{t}");
    assert!(
        t.contains("all.sql:7:1: ALTER FOREIGN DATA WRAPPER makes role sr_dev_plain"),
        "{t}"
    );
    assert!(
        t.contains(
            "sr_dev_plain is not a superuser on the target but a superuser on the --dev-url"
        ),
        "{t}"
    );
    assert!(
        !t.contains("permission denied"),
        "refused before loading:\n{t}"
    );
    // Nothing was loaded there: no scratch database is left, and the roles are untouched.
    let mut d = schemaplan::db::connect(&dev_url).unwrap();
    assert_eq!(
        count(
            &mut d,
            "SELECT count(*) FROM pg_database WHERE datname LIKE 'schemaplan\\_shadow\\_%'"
        ),
        0
    );
    let su = |d: &mut postgres::Client, name: &str| -> bool {
        d.query_one("SELECT rolsuper FROM pg_roles WHERE rolname = $1", &[&name])
            .unwrap()
            .get(0)
    };
    assert!(!su(&mut d, "sr_dev_super"));
    assert!(su(&mut d, "sr_dev_plain"));
    // Made alike, it plans and applies.
    role_on(&dev_url, "sr_dev_super", true);
    role_on_test_server("sr_dev_plain", true);
    expect(cwd, cache.path(), &plan, 0);
    expect(
        cwd,
        cache.path(),
        &["apply", "--db", &url, "plans/p", "--allow-hazards", "all"],
        0,
    );
    assert_eq!(
        event_trigger_owner(&mut c, "dev_ddl").as_deref(),
        Some("sr_dev_super")
    );
    assert_eq!(
        wrapper_owner(&mut c, "sr_dev_wrapper").as_deref(),
        Some("sr_dev_plain")
    );
    assert_eq!(count(&mut c, "SELECT count(*) FROM public.kept"), 3);
    drop(dev);
}

#[test]
fn the_embedded_shadow_gives_roles_the_targets_superuser_attribute_and_waits_for_runs_using_others()
{
    let cache = common::shadow_cache_dir("sp-roles-lib-");
    let opts = ShadowOptions {
        cache_dir: Some(cache.path().to_path_buf()),
        ..Default::default()
    };
    let attr = |s: &Shadow, name: &str| -> Option<bool> {
        s.role_attributes([name]).unwrap().get(name).copied()
    };
    let first = Shadow::start(&opts).unwrap();
    let me = first.admin_role().unwrap();
    first
        .prepare_roles(&[
            Role {
                name: "sr_lib_role".into(),
                superuser: true,
            },
            Role::plain("sr_lib_plain"),
            // The shadow's own role is never altered (a target where it is not a superuser).
            Role::plain(&me),
        ])
        .unwrap();
    assert_eq!(attr(&first, "sr_lib_role"), Some(true));
    assert_eq!(attr(&first, "sr_lib_plain"), Some(false));
    assert_eq!(attr(&first, &me), Some(true));
    // Another run (of another target) needs it plain: it waits while `first` lives.
    let second = std::thread::spawn({
        let opts = opts.clone();
        move || {
            let s = Shadow::start(&opts).unwrap();
            s.prepare_roles(&[Role::plain("sr_lib_role")]).unwrap();
            s
        }
    });
    std::thread::sleep(Duration::from_millis(1500));
    assert!(!second.is_finished());
    assert_eq!(attr(&first, "sr_lib_role"), Some(true));
    drop(first);
    let second = second.join().unwrap();
    assert_eq!(attr(&second, "sr_lib_role"), Some(false));
    // A run needing what the cluster has does not wait.
    let third = Shadow::start(&opts).unwrap();
    third
        .prepare_roles(&[Role::plain("sr_lib_role"), Role::plain("sr_lib_new")])
        .unwrap();
    assert_eq!(attr(&third, "sr_lib_new"), Some(false));
}
