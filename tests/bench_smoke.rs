//! The lock-impact benchmark script (`benches/lock_impact/run.py`) works end to end: one
//! scenario at a tiny size against the test server, both forms (schemaplan plan + apply, and
//! the naive DDL) under pgbench load, with the report written. Latencies are not asserted
//! (they depend on the machine); what is checked is that every stage produced its output.

mod common;

use std::path::PathBuf;

fn crate_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn lock_impact_benchmark_runs_one_scenario_both_forms() {
    let server = common::server();
    let out = tempfile::tempdir().unwrap();
    let docs = out.path().join("benchmarks.md");
    std::fs::write(
        &docs,
        "# Benchmarks\n\nHand-written text before the results.\n",
    )
    .unwrap();
    let admin = server.admin_url();
    let result = std::process::Command::new("python3")
        .arg(crate_root().join("benches/lock_impact/run.py"))
        .args([
            "--rows",
            "2000",
            "--seconds",
            "2",
            "--scenario",
            "add_check",
        ])
        .args(["--db", &admin, "--dev-url", &admin])
        .arg("--schemaplan")
        .arg(env!("CARGO_BIN_EXE_schemaplan"))
        .arg("--out")
        .arg(out.path().join("results"))
        .arg("--docs")
        .arg(&docs)
        .env_remove("DATABASE_URL")
        .env_remove("SCHEMAPLAN_DEV_URL")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run python3 benches/lock_impact/run.py");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&result.stdout),
        String::from_utf8_lossy(&result.stderr)
    );
    assert!(result.status.success(), "benchmark failed:\n{text}");

    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.path().join("results/results.json")).unwrap(),
    )
    .unwrap();
    let runs = json["results"].as_array().unwrap();
    assert_eq!(runs.len(), 2, "{json:#}");
    for run in runs {
        let form = run["form"].as_str().unwrap();
        assert_eq!(run["scenario"], "add_check");
        assert_eq!(run["change_exit"], 0, "{form}: {run:#}");
        assert!(
            run["window"]["transactions"].as_u64().unwrap() > 0
                && run["baseline"]["transactions"].as_u64().unwrap() > 0,
            "{form}: no pgbench transactions read from the log: {run:#}"
        );
        assert_eq!(run["failed"], 0, "{form}: {run:#}");
    }
    let sp = runs.iter().find(|r| r["form"] == "schemaplan").unwrap();
    // The plan ran every step (its shape depends on the table size rules, not checked here)
    // and the database ends in sync with after.sql.
    let steps = sp["plan"]["summary"].as_array().unwrap();
    assert!(!steps.is_empty(), "{sp:#}");
    assert_eq!(sp["drift"], "in sync", "{sp:#}");
    assert!(
        sp["journal"].as_array().unwrap().len() == steps.len(),
        "{sp:#}"
    );

    // The report goes between the markers, after the hand-written text.
    let doc = std::fs::read_to_string(&docs).unwrap();
    assert!(doc.starts_with("# Benchmarks\n\nHand-written text before the results.\n"));
    assert!(doc.contains("| add CHECK | "), "{doc}");
    assert_eq!(doc.matches("lock_impact results: begin").count(), 1);
}

/// The plan-scale benchmark script (`benches/plan_scale/run.py`) works end to end at a tiny
/// size against the test server: the generated schema loads with `psql -1`, and every stage
/// (pg_dump -s, schemaplan dump, the load, drift cold and warm, plan cold, warm and of the ~5%
/// change) ran and produced its output. Times, CPU and RSS are recorded but not asserted.
#[test]
fn plan_scale_benchmark_runs_every_stage_at_thirty_tables() {
    let server = common::server();
    let out = tempfile::tempdir().unwrap();
    let docs = out.path().join("benchmarks.md");
    std::fs::write(
        &docs,
        "# Benchmarks\n\nHand-written text before the results.\n",
    )
    .unwrap();
    let admin = server.admin_url();
    let result = std::process::Command::new("python3")
        .arg(crate_root().join("benches/plan_scale/run.py"))
        .args(["--tables", "30", "--quick"])
        .args(["--db", &admin, "--dev-url", &admin])
        .arg("--schemaplan")
        .arg(env!("CARGO_BIN_EXE_schemaplan"))
        .arg("--out")
        .arg(out.path().join("results"))
        .arg("--docs")
        .arg(&docs)
        .env_remove("DATABASE_URL")
        .env_remove("SCHEMAPLAN_DEV_URL")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run python3 benches/plan_scale/run.py");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&result.stdout),
        String::from_utf8_lossy(&result.stderr)
    );
    assert!(result.status.success(), "benchmark failed:\n{text}");

    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.path().join("results/results.json")).unwrap(),
    )
    .unwrap();
    let sizes = json["sizes"].as_array().unwrap();
    assert_eq!(sizes.len(), 1, "{json:#}");
    let size = &sizes[0];
    assert_eq!(size["tables"], 30, "{size:#}");
    let stages = &size["stages"];
    for stage in [
        "pg_dump",
        "sp_dump",
        "load",
        "drift_cold",
        "drift_warm",
        "plan_cold",
        "plan_warm",
        "plan_five",
    ] {
        let runs = stages[stage].as_array().unwrap();
        assert_eq!(runs.len(), 1, "{stage}: {size:#}");
        let run = &runs[0];
        assert_eq!(run["ok"], true, "{stage}: {run:#}");
        assert!(run["wall_s"].as_f64().is_some(), "{stage}: {run:#}");
        assert!(run["rss_mib"].as_f64().unwrap() > 0.0, "{stage}: {run:#}");
    }
    // migra is optional: absent here means skipped, present means it ran.
    for run in stages["migra"].as_array().unwrap() {
        assert_eq!(run["ok"], true, "migra: {run:#}");
    }
    // The load made the 30 tables, schemaplan dump wrote files, drift found the unchanged
    // schema in sync both times, and every plan wrote its files.
    assert_eq!(stages["load"][0]["tables"], 30, "{size:#}");
    assert!(
        stages["sp_dump"][0]["files"].as_u64().unwrap() > 0,
        "{size:#}"
    );
    // The catalog read alone, the floor of issue 9's warm targets, is `schemaplan dump`'s
    // `catalog reads` stage (SCHEMAPLAN_TIMINGS=1).
    assert!(
        stages["sp_dump"][0]["read_s"].as_f64().unwrap() > 0.0,
        "{size:#}"
    );
    for stage in ["drift_cold", "drift_warm"] {
        assert_eq!(stages[stage][0]["outcome"], "in sync", "{stage}: {size:#}");
    }
    for stage in ["plan_cold", "plan_warm", "plan_five"] {
        let files = stages[stage][0]["plan_files"].as_array().unwrap();
        assert!(
            files.iter().any(|f| f.as_str() == Some("plan.sql")),
            "{stage}: no plan.sql: {size:#}"
        );
    }
    // The one-object change is one new table: the cold and the warm plan create it.
    let root = out.path().join("results/n30");
    for plan in ["plan_cold_1", "plan_warm_1"] {
        let sql = std::fs::read_to_string(root.join(plan).join("plan.sql")).unwrap();
        assert!(sql.contains("added_00030"), "{plan}:\n{sql}");
    }

    // The report goes between the markers, after the hand-written text.
    let doc = std::fs::read_to_string(&docs).unwrap();
    assert!(doc.starts_with("# Benchmarks\n\nHand-written text before the results.\n"));
    assert!(doc.contains("| 30 ("), "{doc}");
    assert_eq!(doc.matches("plan_scale results: begin").count(), 1);
    // Issue 9's targets, as ratios of this run, each with its verdict.
    assert!(doc.contains("Issue 9's targets at 30 tables"), "{doc}");
    assert!(
        doc.contains("| warm `plan` (one new table) / catalog read alone | "),
        "{doc}"
    );
}
