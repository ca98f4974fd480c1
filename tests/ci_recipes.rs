//! The CI recipes of docs/ci.md work as written: the scripts they call (`examples/ci/*.sh`)
//! run here against a real server, in a project with a `schemaplan.toml` and two environments,
//! with rows in the tables: review (accepted, and refused for a hazard), lint, deploy of both
//! phases (twice: the second is a no-op), drift in sync and drifted.

mod common;

use common::{exit_code, output_text, server};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const LIVE: &str = "CREATE TABLE public.accounts (id integer PRIMARY KEY, email text, legacy text);
INSERT INTO public.accounts SELECT g, 'u' || g, 'x' FROM generate_series(1, 50) g;";

const TOML: &str = "schema = \"schema\"\nplans = \"plans\"\n\
[env.staging]\nurl = { env = \"STAGING_DATABASE_URL\" }\n\
[env.production]\nurl = { env = \"PRODUCTION_DATABASE_URL\" }\nhazards_by_flag_only = true\n";

fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("examples/ci")
        .join(name)
}

struct Project {
    dir: tempfile::TempDir,
    staging: String,
    production: String,
    production_db: String,
}

impl Project {
    fn new() -> Project {
        let s = server();
        let (_staging_db, staging) = s.fresh_db("ci_staging");
        let (production_db, production) = s.fresh_db("ci_production");
        for db in [&_staging_db, &production_db] {
            s.connect(db).batch_execute(LIVE).unwrap();
        }
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("schema")).unwrap();
        std::fs::write(dir.path().join("schemaplan.toml"), TOML).unwrap();
        Project {
            dir,
            staging,
            production,
            production_db,
        }
    }

    fn desire(&self, sql: &str) {
        std::fs::write(self.dir.path().join("schema/app.sql"), sql).unwrap();
    }

    /// Runs a command line with `schemaplan` on PATH and the CI job's variables.
    fn sh(&self, line: &str) -> Output {
        let bin_dir = Path::new(env!("CARGO_BIN_EXE_schemaplan"))
            .parent()
            .unwrap();
        let path = format!(
            "{}:{}",
            bin_dir.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        Command::new("sh")
            .arg("-c")
            .arg(line)
            .current_dir(self.dir.path())
            .env("PATH", path)
            .env_remove("DATABASE_URL")
            .env_remove("SCHEMAPLAN_ENV")
            .env_remove("SCHEMAPLAN_CONFIG")
            .env("SCHEMAPLAN_DEV_URL", server().admin_url())
            .env("STAGING_DATABASE_URL", &self.staging)
            .env("PRODUCTION_DATABASE_URL", &self.production)
            .stdin(Stdio::null())
            .output()
            .expect("run sh")
    }

    fn expect(&self, line: &str, want: i32) -> String {
        let o = self.sh(line);
        let t = output_text(&o);
        assert_eq!(exit_code(&o), want, "{line}:\n{t}");
        t
    }

    fn read(&self, file: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(file)).unwrap()
    }
}

#[test]
fn recipes_review_lint_deploy_and_drift_work_as_written() {
    let p = Project::new();
    let (review, lint, deploy, drift) = (
        script("plan-review.sh"),
        script("lint-plans.sh"),
        script("deploy.sh"),
        script("drift.sh"),
    );
    let (review, lint, deploy, drift) = (
        review.display(),
        lint.display(),
        deploy.display(),
        drift.display(),
    );
    // The developer's change, planned and committed with it.
    p.desire(
        "CREATE TABLE public.accounts (id integer PRIMARY KEY, email text, legacy text, note text);",
    );
    p.expect("schemaplan plan --env staging --name add_note", 0);
    p.expect(&format!("{lint} plans"), 0);
    // Review against staging: accepted (no hazard), the comment written.
    p.expect(&format!("{review} staging plan.md"), 0);
    let md = p.read("plan.md");
    assert!(md.contains("add column public.accounts.note"), "{md}");
    // Deploy to production: expand, then contract; again: nothing to do.
    p.expect(&format!("{deploy} production expand plans"), 0);
    p.expect(&format!("{deploy} production contract plans"), 0);
    let again = p.expect(&format!("{deploy} production expand plans"), 0);
    assert!(
        again.contains("is already applied (run 1); nothing to do"),
        "{again}"
    );
    let mut c = server().connect(&p.production_db);
    let rows: i64 = c
        .query_one("SELECT count(*) FROM public.accounts", &[])
        .unwrap()
        .get(0);
    assert_eq!(rows, 50);
    c.query_one("SELECT note FROM public.accounts LIMIT 1", &[])
        .expect("the column was added in production");
    // Drift: production in sync, staging (never deployed) drifted, with the report.
    p.expect(&format!("{drift} production drift.md"), 0);
    p.expect(&format!("{drift} staging drift.md"), 2);
    assert!(p.read("drift.md").contains("#### table public.accounts"));

    // A change with a hazard: production accepts hazards only by flag, so review fails there.
    p.desire("CREATE TABLE public.accounts (id integer PRIMARY KEY, email text, note text);");
    let t = p.expect(&format!("{review} production plan.md"), 1);
    assert!(t.contains("data-loss"), "{t}");
    assert!(p.read("plan.md").contains("`data-loss`"));
    let rows: i64 = c
        .query_one("SELECT count(legacy) FROM public.accounts", &[])
        .unwrap()
        .get(0);
    assert_eq!(rows, 50, "review never applies anything");
}
