//! A test case through the binary: a fresh database loaded with the "before" schema (and its
//! rows), a working directory whose `schema/` holds the "after" schema, and the plan written
//! to `plan/` in it. The database is dropped with the value. Test files add what they need
//! in their own `impl Case` blocks.

use std::path::PathBuf;
use std::process::Output;

pub struct Case {
    pub db: String,
    pub url: String,
    pub dir: tempfile::TempDir,
}

impl Case {
    /// Loads `before` into a fresh database and writes `after` as `schema/schema.sql`.
    pub fn new(tag: &str, before: &str, after: &str) -> Case {
        let server = super::server();
        let (db, url) = server.fresh_db(&format!("case_{tag}"));
        server
            .connect(&db)
            .batch_execute(before)
            .unwrap_or_else(|e| panic!("loading {tag}: {e:?}"));
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("schema")).unwrap();
        std::fs::write(dir.path().join("schema/schema.sql"), after).unwrap();
        Case { db, url, dir }
    }

    pub fn connect(&self) -> postgres::Client {
        super::server().connect(&self.db)
    }

    pub fn plan_dir(&self) -> PathBuf {
        self.dir.path().join("plan")
    }

    /// `schemaplan plan` into `plan/` (online forms whatever the table sizes); returns
    /// `plan.sql`.
    pub fn plan(&self) -> String {
        let o = self.run(&[
            "plan",
            "--db",
            &self.url,
            "--dev-url",
            &super::server().admin_url(),
            "--out",
            "plan",
            "--small-table",
            "0",
        ]);
        assert_eq!(super::exit_code(&o), 0, "plan: {}", super::output_text(&o));
        let json = std::fs::read_to_string(self.plan_dir().join("plan.json")).unwrap();
        super::schemas::parse_valid("plan", &json);
        std::fs::read_to_string(self.plan_dir().join("plan.sql")).unwrap()
    }

    /// `schemaplan <command> --db URL plan --allow-hazards all <extra>`.
    pub fn apply(&self, command: &str, extra: &[&str]) -> Output {
        let mut args = vec![command, "--db", &self.url, "plan", "--allow-hazards", "all"];
        args.extend_from_slice(extra);
        self.run(&args)
    }

    /// `schemaplan <args>` in the case's directory.
    pub fn run(&self, args: &[&str]) -> Output {
        super::schemaplan(self.dir.path(), args)
    }
}

impl Drop for Case {
    fn drop(&mut self) {
        super::server().drop_db(&self.db);
    }
}
