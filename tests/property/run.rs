//! Runs one generated case through the real binary and checks every oracle.
//!
//! ```text
//! schemaplan plan     --db B --schema schema --out plan --small-table S --dev-url <test server>
//! schemaplan apply    --db B plan --phase all --allow-hazards all
//! schemaplan plan     --db B --schema schema --exit-code            (must exit 0)
//! schemaplan rollback --db B plan --phase all --allow-hazards all
//! ```
//!
//! Failure classes (the first word of a known-failure reason): `setup` (the generator wrote SQL
//! PostgreSQL refuses: a bug of the test), `plan` (plan failed, and no type change of the case
//! loses data of its rows, which would explain a refusal), `lock` (a locking step without a
//! `lock_timeout`), `apply`, `converge` (schema after apply is not `after.sql`'s), `replan`,
//! `rollback` (rollback failed or did not return to `before.sql`'s schema), `data` (a value of a
//! column that kept its type changed, or rows vanished or appeared, and no step declared
//! `data-loss` on it), `narrowing` (a type change changed values, or apply failed on values the
//! new type cannot hold, with no `data-loss` declared), `hazard` (a table or column was dropped
//! without `data-loss`), `rollback-data` (after rollback, a value of a column that survived
//! differs from before), `secret` (a user mapping's password appears in an output of `plan`,
//! `apply` or `rollback`, or in a plan file).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Output;

use schemaplan::plan::{Direction, Hazard, LockLevel, Step};

use super::gen::{Case, Change};
use super::oracle;

pub use crate::common::oracle::Bin;

fn text(o: &Output) -> String {
    let mut s = String::from_utf8_lossy(&o.stderr).trim().to_string();
    let out = String::from_utf8_lossy(&o.stdout);
    if !out.trim().is_empty() {
        s.push('\n');
        s.push_str(out.trim());
    }
    s
}

fn tail(s: &str, n: usize) -> String {
    let v: Vec<&str> = s.lines().collect();
    v[v.len().saturating_sub(n)..].join("\n")
}

#[derive(Clone, Debug)]
pub struct Failure {
    pub class: &'static str,
    pub detail: String,
}

/// What one run of a case found.
#[derive(Default)]
pub struct Verdict {
    /// Units whose type change loses values of their rows and that `plan` refused: a pass.
    pub refused: Vec<usize>,
    pub failures: Vec<Failure>,
    /// What `plan` said when it refused (the refusal counted as a pass).
    pub refusal: String,
    /// `plan.sql` (empty when none was written).
    pub plan: String,
}

impl Verdict {
    pub fn classes(&self) -> BTreeSet<&'static str> {
        self.failures.iter().map(|f| f.class).collect()
    }
}

/// Checks `case`; when `plan` refuses a case whose type changes lose values (a pass for those
/// units), the case is checked again without those type changes, so the other units are still
/// tested.
pub fn check(case: &Case, bin: &Bin) -> Verdict {
    let v = run_once(case, bin);
    if v.refused.is_empty() {
        return v;
    }
    let mut rest = case.clone();
    for &i in &v.refused {
        rest.units[i]
            .changes
            .retain(|c| !matches!(c, Change::Retype(..)));
    }
    let mut again = run_once(&rest, bin);
    again.refused = v.refused;
    again.refusal = v.refusal;
    again
}

/// The `secret` oracle: a user mapping's password (`kinds::SECRET`) is in no output and no
/// plan file.
fn no_secret(v: &mut Verdict, what: &str, text: &str) {
    if text.contains(super::kinds::SECRET) {
        let line = text
            .lines()
            .find(|l| l.contains(super::kinds::SECRET))
            .unwrap_or("");
        fail(v, "secret", format!("{what} prints a password: {line}"));
    }
}

fn fail(v: &mut Verdict, class: &'static str, detail: impl Into<String>) {
    v.failures.push(Failure {
        class,
        detail: detail.into(),
    });
}

/// Whether a step of `steps` declares `data-loss` on `table` (and, with `col`, names the
/// column in its summary or SQL).
fn declared(steps: &[Step], table: &str, col: Option<&str>) -> bool {
    let qualified = format!("public.{table}");
    steps.iter().any(|s| {
        s.hazards.contains(&Hazard::DataLoss)
            && (s.lock_target.as_deref() == Some(qualified.as_str())
                || s.summary.contains(&qualified))
            && col.is_none_or(|c| s.summary.contains(c) || s.sql.contains(c))
    })
}

/// Whether a unit changes a column's type to one that does not hold every value of the old.
fn narrows(u: &super::gen::Unit) -> bool {
    let (Some(bt), Some(at)) = (&u.before, u.after()) else {
        return false;
    };
    bt.cols.iter().any(|c| {
        at.cols
            .iter()
            .any(|a| a.name == c.name && a.renamed_from.is_none() && !c.ty.widens_to(&a.ty))
    })
}

fn run_once(case: &Case, bin: &Bin) -> Verdict {
    let mut v = Verdict::default();
    let server = super::common::server();
    let (b_name, b_url) = server.fresh_db(&format!("prop_b_{}", case.seed));
    let (a_name, a_url) = server.fresh_db(&format!("prop_a_{}", case.seed));
    let tmp = tempfile::tempdir().expect("temp dir");
    if let Err(f) = run_steps(case, bin, &b_url, &a_url, tmp.path(), &mut v) {
        v.failures.push(f);
    }
    if std::env::var_os("SCHEMAPLAN_PROPERTY_KEEP").is_some() && !v.failures.is_empty() {
        let kept = tmp.keep();
        fail(
            &mut v,
            "kept",
            format!("databases {b_name} {a_name}, plan in {}", kept.display()),
        );
    } else {
        server.drop_db(&b_name);
        server.drop_db(&a_name);
    }
    v
}

fn failure(class: &'static str, detail: impl Into<String>) -> Failure {
    Failure {
        class,
        detail: detail.into(),
    }
}

fn run_steps(
    case: &Case,
    bin: &Bin,
    b_url: &str,
    a_url: &str,
    dir: &Path,
    v: &mut Verdict,
) -> Result<(), Failure> {
    let load = |url: &str, sql: &str, what: &str| -> Result<(), Failure> {
        let mut c = schemaplan::db::connect(url).map_err(|e| failure("setup", e.to_string()))?;
        c.batch_execute(sql).map_err(|e| {
            failure(
                "setup",
                format!("{what}: {}", schemaplan::db::error_text(&e)),
            )
        })
    };
    let before_sql = case.before_sql();
    let after_sql = case.after_sql();
    load(b_url, &before_sql, "before.sql")?;
    load(a_url, &after_sql, "after.sql")?;
    let before = oracle::read_state(b_url).map_err(|e| failure("setup", e))?;
    let after = oracle::read_state(a_url).map_err(|e| failure("setup", e))?;
    let mut client = schemaplan::db::connect(b_url).map_err(|e| failure("setup", e.to_string()))?;
    let rows_before = oracle::read_before(&mut client, case).map_err(|e| failure("setup", e))?;

    // Which units' type changes lose values of these rows (judged before any plan).
    let mut lossy: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    for (i, u) in case.units.iter().enumerate() {
        let (Some(bt), Some(at)) = (&u.before, u.after()) else {
            continue;
        };
        for c in &bt.cols {
            let Some(ac) = at.cols.iter().find(|x| x.name == c.name) else {
                continue;
            };
            if ac.ty != c.ty {
                let bad = oracle::lossy_rows(&mut client, bt, &c.name, &c.ty, &ac.ty);
                if !bad.is_empty() {
                    lossy.entry(i).or_default().push(format!(
                        "{}.{}: {} -> {} changes rows with id {}",
                        bt.name,
                        c.name,
                        c.ty.sql(&bt.base),
                        ac.ty.sql(&bt.base),
                        bad.join(", ")
                    ));
                }
            }
        }
    }

    let schema_dir = dir.join("schema");
    std::fs::create_dir(&schema_dir).unwrap();
    std::fs::write(schema_dir.join("after.sql"), &after_sql).unwrap();
    let plan_dir = dir.join("plan");
    let (plan_s, schema_s) = (plan_dir.to_str().unwrap(), schema_dir.to_str().unwrap());
    let dev = super::common::server().admin_url();

    let o = bin.run(
        dir,
        &[
            "plan",
            "--db",
            b_url,
            "--schema",
            schema_s,
            "--out",
            plan_s,
            "--small-table",
            case.small_table,
            "--dev-url",
            &dev,
        ],
    );
    if !o.status.success() {
        // A refusal is a pass when the case has a type change that may lose values.
        let refusable: BTreeSet<usize> = case
            .units
            .iter()
            .enumerate()
            .filter(|(i, u)| lossy.contains_key(i) || narrows(u))
            .map(|(i, _)| i)
            .collect();
        if !refusable.is_empty() {
            v.refused = refusable.into_iter().collect();
            v.refusal = text(&o)
                .lines()
                .find(|l| l.contains("error"))
                .unwrap_or("")
                .to_string();
            return Ok(());
        }
        return Err(failure(
            "plan",
            format!("plan: exit {:?}:\n{}", o.status.code(), tail(&text(&o), 20)),
        ));
    }
    v.plan = std::fs::read_to_string(plan_dir.join("plan.sql")).unwrap_or_default();
    no_secret(v, "plan", &text(&o));
    for f in ["plan.sql", "inverse.sql", "plan.json"] {
        let t = std::fs::read_to_string(plan_dir.join(f)).unwrap_or_default();
        no_secret(v, f, &t);
    }
    let read = |d| schemaplan::planfile::read_dir(&plan_dir, d).map(|f| f.plan.steps);
    let (steps, inverse) = match (read(Direction::Forward), read(Direction::Inverse)) {
        (Ok(s), Ok(i)) => (s, i),
        (Err(e), _) | (_, Err(e)) => return Err(failure("plan", format!("planfile: {e}"))),
    };
    for (file, list) in [("plan.sql", &steps), ("inverse.sql", &inverse)] {
        for (n, s) in list.iter().enumerate() {
            if s.lock != LockLevel::None && s.lock_timeout.is_none() {
                fail(
                    v,
                    "lock",
                    format!("{file} step {} ({}) has no lock_timeout", n + 1, s.summary),
                );
            }
        }
    }

    let all = |cmd: &str| -> Output {
        bin.run(
            dir,
            &[
                cmd,
                "--db",
                b_url,
                plan_s,
                "--phase",
                "all",
                "--allow-hazards",
                "all",
            ],
        )
    };
    let o = all("apply");
    no_secret(v, "apply", &text(&o));
    if !o.status.success() {
        let class = if lossy.is_empty() {
            "apply"
        } else {
            "narrowing"
        };
        let why: Vec<String> = lossy.values().flatten().cloned().collect();
        return Err(failure(
            class,
            format!(
                "apply: exit {:?} (type changes that lose values: {why:?}):\n{}",
                o.status.code(),
                tail(&text(&o), 20)
            ),
        ));
    }
    let migrated = oracle::read_state(b_url).map_err(|e| failure("converge", e))?;
    for p in oracle::compare(&migrated, &after, "after.sql") {
        fail(v, "converge", p);
    }

    // The data oracle after apply.
    let mut reported: BTreeSet<(usize, String)> = BTreeSet::new();
    for (i, u) in case.units.iter().enumerate() {
        let Some(bt) = &u.before else { continue };
        let Some(at) = u.after() else {
            if !declared(&steps, &bt.name, None) {
                fail(
                    v,
                    "hazard",
                    format!("table {} dropped without data-loss", bt.name),
                );
            }
            continue;
        };
        let before_rows = &rows_before[&i];
        let mut pairs = Vec::new();
        for (k, c) in bt.cols.iter().enumerate() {
            let found = at
                .cols
                .iter()
                .find(|x| x.renamed_from.as_deref() == Some(&c.name))
                .or_else(|| {
                    at.cols
                        .iter()
                        .find(|x| x.name == c.name && x.renamed_from.is_none())
                });
            match found {
                None => {
                    if !declared(&steps, &at.name, Some(&c.name)) {
                        fail(
                            v,
                            "hazard",
                            format!("column {}.{} dropped without data-loss", at.name, c.name),
                        );
                    }
                }
                Some(ac) => pairs.push((k, c.clone(), ac.clone())),
            }
        }
        let names: Vec<String> = pairs.iter().map(|(_, _, ac)| ac.name.clone()).collect();
        let now = match oracle::read_rows(&mut client, &at.name, &names) {
            Ok(r) => r,
            Err(e) => {
                fail(v, "data", e);
                continue;
            }
        };
        if now.keys().ne(before_rows.keys()) && !declared(&steps, &at.name, None) {
            fail(
                v,
                "data",
                format!(
                    "{}: rows before {:?}, after {:?}",
                    at.name,
                    before_rows.keys().collect::<Vec<_>>(),
                    now.keys().collect::<Vec<_>>()
                ),
            );
            continue;
        }
        for (j, (k, bc, ac)) in pairs.iter().enumerate() {
            let retyped = bc.ty != ac.ty;
            let mut changed = Vec::new();
            for (key, vals) in before_rows {
                let was = &vals[*k];
                let is = now.get(key).map(|r| r[j].clone()).unwrap_or(None);
                let same = if retyped {
                    oracle::same_value(&mut client, was, &is, &bc.ty, &ac.ty, &bt.base)
                } else {
                    *was == is
                };
                if !same {
                    changed.push(format!("id {key}: {was:?} -> {is:?}"));
                }
            }
            if !changed.is_empty() && !declared(&steps, &at.name, Some(&ac.name)) {
                reported.insert((i, bc.name.clone()));
                changed.truncate(5);
                let (class, what) = if retyped {
                    let what = format!("{} -> {}", bc.ty.sql(&bt.base), ac.ty.sql(&bt.base));
                    ("narrowing", what)
                } else {
                    ("data", "type unchanged".to_string())
                };
                fail(
                    v,
                    class,
                    format!(
                        "{}.{} ({what}) changed values without data-loss: {}",
                        at.name,
                        ac.name,
                        changed.join("; ")
                    ),
                );
            }
        }
    }

    // Columns the plan added to a table with rows hold what after.sql declares: the constant
    // default, or the `@backfill` expression of each row.
    for u in &case.units {
        let (Some(bt), Some(at)) = (&u.before, u.after()) else {
            continue;
        };
        for ac in &at.cols {
            let added = ac.renamed_from.is_none() && bt.col(&ac.name).is_none();
            let expr = match (&ac.backfill, &ac.default) {
                (Some(b), _) => b.clone(),
                (None, Some(d)) if !d.contains("CURRENT") => d.clone(),
                _ => continue,
            };
            if !added {
                continue;
            }
            let sql = format!(
                "SELECT count(*) FROM public.{t} WHERE {c} IS DISTINCT FROM ({expr})::{ty}",
                t = at.name,
                c = ac.name,
                ty = ac.ty.sql(&at.base)
            );
            match client.query_one(sql.as_str(), &[]) {
                Ok(r) if r.get::<_, i64>(0) == 0 => {}
                Ok(r) => fail(
                    v,
                    "data",
                    format!(
                        "new column {}.{}: {} row(s) do not hold `{expr}`",
                        at.name,
                        ac.name,
                        r.get::<_, i64>(0)
                    ),
                ),
                Err(e) => fail(
                    v,
                    "data",
                    format!("{sql}: {}", schemaplan::db::error_text(&e)),
                ),
            }
        }
    }

    // Planning again is empty.
    let o = bin.run(
        dir,
        &[
            "plan",
            "--db",
            b_url,
            "--schema",
            schema_s,
            "--exit-code",
            "--small-table",
            case.small_table,
            "--dev-url",
            &dev,
        ],
    );
    no_secret(v, "plan again", &text(&o));
    if o.status.code() != Some(0) {
        fail(
            v,
            "replan",
            format!("exit {:?}:\n{}", o.status.code(), tail(&text(&o), 20)),
        );
    }

    // Rollback returns to before, with the data of every column that survived.
    let o = all("rollback");
    no_secret(v, "rollback", &text(&o));
    if !o.status.success() {
        return Err(failure(
            "rollback",
            format!(
                "rollback: exit {:?}:\n{}",
                o.status.code(),
                tail(&text(&o), 20)
            ),
        ));
    }
    let back = oracle::read_state(b_url).map_err(|e| failure("rollback", e))?;
    let leaves = rollback_leaves(case);
    for (table, renamed, col) in &leaves {
        let summary = format!("public.{table}.{col}");
        // The inverse adds it back before it renames the table back.
        let on_renamed = format!("public.{renamed}.{col}");
        let says = inverse.iter().any(|s| {
            (s.summary.ends_with(&summary) || s.summary.ends_with(&on_renamed))
                && s.notes
                    .iter()
                    .any(|n| n.contains("added back without its NOT NULL"))
        });
        if !says {
            fail(
                v,
                "rollback",
                format!(
                    "the inverse cannot set NOT NULL on {summary} again (its rows lost their \
                     values) and no step of inverse.sql says so"
                ),
            );
        }
    }
    if leaves.is_empty() {
        for p in oracle::compare(&back, &before, "before.sql") {
            fail(v, "rollback", p);
        }
    } else {
        let want = before_leaving(case, &before_sql, &leaves)?;
        for p in oracle::compare(&back, &want, "before.sql + what the rollback leaves") {
            fail(v, "rollback", p);
        }
    }
    let rows_back = match oracle::read_before(&mut client, case) {
        Ok(r) => r,
        Err(e) => return Err(failure("rollback", e)),
    };
    for (i, u) in case.units.iter().enumerate() {
        let (Some(bt), Some(at)) = (&u.before, u.after()) else {
            continue;
        };
        for (k, c) in bt.cols.iter().enumerate() {
            let survived = at
                .cols
                .iter()
                .any(|x| x.name == c.name || x.renamed_from.as_deref() == Some(&c.name));
            let after_name = at
                .cols
                .iter()
                .find(|x| x.renamed_from.as_deref() == Some(&c.name))
                .map_or(c.name.clone(), |x| x.name.clone());
            if !survived
                || reported.contains(&(i, c.name.clone()))
                || declared(&steps, &at.name, Some(&after_name))
                || declared(&inverse, &bt.name, Some(&c.name))
            {
                continue;
            }
            let (was, is) = (&rows_before[&i], &rows_back[&i]);
            let diffs: Vec<String> = was
                .iter()
                .filter(|(key, vals)| is.get(*key).map(|r| &r[k]) != Some(&vals[k]))
                .take(5)
                .map(|(key, vals)| {
                    format!(
                        "id {key}: {:?} -> {:?}",
                        vals[k],
                        is.get(key).map(|r| &r[k])
                    )
                })
                .collect();
            if !diffs.is_empty() {
                fail(
                    v,
                    "rollback-data",
                    format!("{}.{}: {}", bt.name, c.name, diffs.join("; ")),
                );
            }
        }
    }
    Ok(())
}

/// What a rollback after the whole plan cannot give back, judged from the case alone (not from
/// the plan): `(table in before.sql, column)` of every column the plan drops that is `NOT NULL`
/// without a default and outside the primary key, on a table with rows. The forward plan
/// relaxes its `NOT NULL` in expand and drops it in contract; the rows kept through the plan
/// have no value for it, so the inverse adds it back nullable (docs/design.md, "Expand and
/// contract"; `fixtures/columns/drop_not_null_column_with_rows`). `(before, after, column)`:
/// the table's name in `before.sql` and in `after.sql` (a declared rename).
fn rollback_leaves(case: &Case) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for u in &case.units {
        let (Some(bt), Some(at)) = (&u.before, u.after()) else {
            continue;
        };
        if u.rows.is_empty() {
            continue;
        }
        for c in &bt.cols {
            let kept = at
                .cols
                .iter()
                .any(|x| x.name == c.name || x.renamed_from.as_deref() == Some(&c.name));
            let in_key = bt.pk && c.name == "id";
            if !kept && c.not_null && c.default.is_none() && !in_key {
                out.push((bt.name.clone(), at.name.clone(), c.name.clone()));
            }
        }
    }
    out
}

/// The schema `before.sql` gives with the `NOT NULL` of `leaves` dropped and the CHECKs over
/// them `NOT VALID` (a third database, dropped again).
fn before_leaving(
    case: &Case,
    before_sql: &str,
    leaves: &[(String, String, String)],
) -> Result<oracle::Snapshot, Failure> {
    let server = super::common::server();
    let (name, url) = server.fresh_db(&format!("prop_c_{}", case.seed));
    let result = (|| {
        let mut c = schemaplan::db::connect(&url).map_err(|e| e.to_string())?;
        let mut sql = before_sql.to_string();
        for (table, _, col) in leaves {
            sql.push_str(&format!(
                "\nALTER TABLE public.{table} ALTER COLUMN {col} DROP NOT NULL;"
            ));
            // A CHECK over it comes back NOT VALID: NULL on every row may break a CHECK, and
            // the tool does not analyse its expression (`contract::unrestorable`).
            let checks = case
                .units
                .iter()
                .filter_map(|u| u.before.as_ref())
                .filter(|t| &t.name == table)
                .flat_map(|t| t.checks.iter())
                .filter(|k| &k.col == col);
            for k in checks {
                sql.push_str(&format!(
                    "\nALTER TABLE public.{table} DROP CONSTRAINT {n}, ADD CONSTRAINT {n} \
                     CHECK (length({col}::text) <= {b}) NOT VALID;",
                    n = k.name,
                    b = k.bound
                ));
            }
        }
        c.batch_execute(&sql)
            .map_err(|e| schemaplan::db::error_text(&e))?;
        drop(c);
        oracle::read_state(&url)
    })();
    server.drop_db(&name);
    result.map_err(|e| {
        failure(
            "setup",
            format!("before.sql + what the rollback leaves: {e}"),
        )
    })
}
