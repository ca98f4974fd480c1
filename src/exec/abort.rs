//! `apply --abort` (and `rollback --abort`): the way out of a plan that failed or was cut off
//! half-way through an online strategy.
//!
//! The online strategies (src/plan/kinds/: retype and convert, rename, NOT NULL, constraints,
//! indexes) install temporary machinery before their catalog-only switch: shadow columns kept
//! equal by a trigger and its function, `NOT VALID` constraints (NOT NULL checks, changed CHECKs
//! as `<name>_schemaplan_new`, the `<table>_<column>_schemaplan_lossless` guard), indexes built
//! concurrently beside the ones they replace (`<name>_new`, `<name>_schemaplan_new`). A failure between installing it and the switch leaves
//! a schema that is neither the plan's `from` nor its `to`, with triggers that already act on
//! the application's writes. Abort takes that machinery away again.
//!
//! What to undo comes from the journal (`book::prior`): the steps of the plan done or started
//! (cut off) in this direction. From the highest of them down, within its phase, each step's SQL
//! is read with pg_query and every statement is given an undo:
//!
//! | statement of the step | its undo |
//! |---|---|
//! | `ALTER TABLE t ADD COLUMN c` | `ALTER TABLE t DROP COLUMN IF EXISTS c` |
//! | `ALTER TABLE t ADD CONSTRAINT c ...` | `ALTER TABLE t DROP CONSTRAINT IF EXISTS c` |
//! | `CREATE TRIGGER g ON t` | `DROP TRIGGER IF EXISTS g ON t` |
//! | `CREATE FUNCTION f()` (no parameters: trigger functions) | `DROP FUNCTION IF EXISTS f()` |
//! | `CREATE INDEX [CONCURRENTLY] i` | `DROP INDEX [CONCURRENTLY] IF EXISTS i` |
//! | `ALTER TABLE t ALTER c SET NOT NULL` (an existing column) | `... DROP NOT NULL` |
//! | `VALIDATE CONSTRAINT`, a `SET`, and on a column an undone step adds: `UPDATE`, `SET/DROP DEFAULT`, `SET NOT NULL` | nothing (the column goes) |
//! | `DROP CONSTRAINT c` of a constraint an undone step adds | nothing |
//!
//! Any other statement (a swap that drops the old column, a rename, a table created, rows of
//! existing columns changed, ...) is a *consistent point*: the plan's own forward work that abort
//! does not take back (that is `rollback`'s job, once the plan is applied). Abort undoes the
//! steps after the highest consistent point of the phase; when there is none, the database is
//! back at the plan's `from` (or at the end of the phase before), which is then checked. Every
//! undo statement is idempotent (`IF EXISTS`), so an abort that is itself cut off is simply run
//! again. The undone steps are journaled `undone` (the next apply runs them again, from the
//! beginning: a batched step's cursor is forgotten with its column), the run is recorded
//! `aborted`.
//!
//! Lock mechanics: `DROP TRIGGER` takes SHARE ROW EXCLUSIVE on the table, `DROP COLUMN` and
//! `DROP CONSTRAINT` of a CHECK ACCESS EXCLUSIVE (a foreign key: SHARE ROW EXCLUSIVE on both
//! tables), `DROP NOT NULL` ACCESS EXCLUSIVE; all are catalog changes (a dropped column is only
//! marked dropped, nothing is rewritten), so the lock is held for moments. The undo of one step
//! runs in one transaction under the `lock_timeout` of the step it undoes (the plan's bound on
//! how long application traffic may queue behind it) and, on a lock timeout or deadlock, is
//! rolled back and retried with the apply's backoff (`RetryPolicy`), like a unit of the plan.
//! `DROP INDEX CONCURRENTLY` (SHARE UPDATE EXCLUSIVE, waits for older transactions instead of
//! blocking writes) cannot run in a transaction: it runs alone, before the step's other undos.

use super::book::{self, NewRun};
use super::progress::{Progress, ProgressEvent};
use super::run::{self, full_error, retryable};
use super::{ApplyOptions, ApplyOutcome, ExecError, OutcomeKind};
use crate::plan::step::pg_duration;
use crate::plan::{Phase, Plan, Step};
use crate::planfile::{self, PlanFile};
use crate::render::quote;
use crate::{catalog, db};
use pg_query::protobuf::{AlterTableType as T, RangeVar};
use pg_query::NodeEnum;
use postgres::Client;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// One undo statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UndoSql {
    pub sql: String,
    /// Must run outside a transaction block (`DROP INDEX CONCURRENTLY`).
    pub alone: bool,
    /// Not needed when a step being undone adds this `(table, column)` (the column goes).
    pub unless_added: Option<(String, String)>,
}

/// What a step's undo needs, read from its SQL.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct StepUndo {
    /// In the order to run them (the step's statements reversed).
    sql: Vec<UndoSql>,
    /// `(table, column)` the step adds.
    adds_columns: Vec<(String, String)>,
    /// `(table, constraint)` the step adds.
    adds_constraints: Vec<(String, String)>,
    /// Columns this step's statements only touch because an earlier step added them: the
    /// statements need no undo if, and only if, that step is undone too.
    needs_columns: Vec<(String, String)>,
    /// Constraints this step drops that an earlier step added (same rule).
    needs_constraints: Vec<(String, String)>,
}

/// What abort would take back: the steps (descending) and their undo SQL, and the consistent
/// point it stops at.
#[derive(Clone, Debug, Default)]
pub struct UndoPlan {
    /// Step number -> undo statements in order (steps listed highest first when run).
    pub steps: BTreeMap<usize, Vec<UndoSql>>,
    /// The highest step of the phase abort leaves applied, and why it is not taken back.
    pub stops_at: Option<(usize, String)>,
    /// The phase the undone steps belong to.
    pub phase: Option<Phase>,
}

/// `schema.table` as written, quoted.
fn qualified(rel: &RangeVar) -> String {
    if rel.schemaname.is_empty() {
        quote::ident(&rel.relname)
    } else {
        format!(
            "{}.{}",
            quote::ident(&rel.schemaname),
            quote::ident(&rel.relname)
        )
    }
}

/// The undo of one step's SQL, or why it has none (a consistent point).
fn step_undo(sql: &str) -> Result<StepUndo, String> {
    let parsed = pg_query::parse(sql, pg_query::ParserOptions::DEFAULT)
        .map_err(|e| format!("cannot parse it: {e}"))?;
    let mut undo = StepUndo::default();
    // Statement undos, in statement order; reversed at the end.
    let mut out: Vec<UndoSql> = Vec::new();
    let tx = |sql: String| UndoSql {
        sql,
        alone: false,
        unless_added: None,
    };
    for raw in &parsed.protobuf.stmts {
        let Some(node) = raw.stmt.as_ref().and_then(|s| s.node.as_ref()) else {
            continue;
        };
        match node {
            NodeEnum::VariableSetStmt(_) => {}
            NodeEnum::AlterTableStmt(alter) => {
                let Some(rel) = alter.relation.as_ref() else {
                    return Err("an ALTER without a relation".into());
                };
                if alter.objtype != pg_query::protobuf::ObjectType::ObjectTable as i32 {
                    return Err("an ALTER of something other than a table".into());
                }
                let table = qualified(rel);
                for cmd in &alter.cmds {
                    let Some(NodeEnum::AlterTableCmd(cmd)) = cmd.node.as_ref() else {
                        continue;
                    };
                    let is = |t: T| cmd.subtype == t as i32;
                    if is(T::AtAddColumn) {
                        let Some(NodeEnum::ColumnDef(def)) =
                            cmd.def.as_ref().and_then(|d| d.node.as_ref())
                        else {
                            return Err("ADD COLUMN without a definition".into());
                        };
                        out.push(tx(format!(
                            "ALTER TABLE {table} DROP COLUMN IF EXISTS {}",
                            quote::ident(&def.colname)
                        )));
                        undo.adds_columns.push((table.clone(), def.colname.clone()));
                    } else if is(T::AtAddConstraint) {
                        let Some(NodeEnum::Constraint(c)) =
                            cmd.def.as_ref().and_then(|d| d.node.as_ref())
                        else {
                            return Err("ADD CONSTRAINT without a definition".into());
                        };
                        if c.conname.is_empty() {
                            return Err("it adds a constraint without a name".into());
                        }
                        out.push(tx(format!(
                            "ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {}",
                            quote::ident(&c.conname)
                        )));
                        undo.adds_constraints
                            .push((table.clone(), c.conname.clone()));
                    } else if is(T::AtValidateConstraint) {
                    } else if is(T::AtDropConstraint) {
                        undo.needs_constraints
                            .push((table.clone(), cmd.name.clone()));
                    } else if is(T::AtSetNotNull) {
                        out.push(UndoSql {
                            unless_added: Some((table.clone(), cmd.name.clone())),
                            ..tx(format!(
                                "ALTER TABLE {table} ALTER COLUMN {} DROP NOT NULL",
                                quote::ident(&cmd.name)
                            ))
                        });
                    } else if is(T::AtColumnDefault) || is(T::AtDropNotNull) {
                        undo.needs_columns.push((table.clone(), cmd.name.clone()));
                    } else {
                        return Err(format!("it changes {table} for good"));
                    }
                }
            }
            NodeEnum::CreateFunctionStmt(f) => {
                if f.replace || !f.parameters.is_empty() {
                    return Err("it creates or replaces a function with parameters".into());
                }
                let name: Vec<String> = f
                    .funcname
                    .iter()
                    .filter_map(|n| match n.node.as_ref() {
                        Some(NodeEnum::String(s)) => Some(quote::ident(&s.sval)),
                        _ => None,
                    })
                    .collect();
                out.push(tx(format!("DROP FUNCTION IF EXISTS {}()", name.join("."))));
            }
            NodeEnum::CreateTrigStmt(t) => {
                let Some(rel) = t.relation.as_ref() else {
                    return Err("a trigger without a table".into());
                };
                if t.replace {
                    return Err("it replaces a trigger".into());
                }
                out.push(tx(format!(
                    "DROP TRIGGER IF EXISTS {} ON {}",
                    quote::ident(&t.trigname),
                    qualified(rel)
                )));
            }
            NodeEnum::IndexStmt(i) => {
                let Some(rel) = i.relation.as_ref() else {
                    return Err("an index without a table".into());
                };
                if i.idxname.is_empty() {
                    return Err("it creates an index without a name".into());
                }
                // An index lives in its table's schema.
                let name = if rel.schemaname.is_empty() {
                    quote::ident(&i.idxname)
                } else {
                    format!(
                        "{}.{}",
                        quote::ident(&rel.schemaname),
                        quote::ident(&i.idxname)
                    )
                };
                out.push(if i.concurrent {
                    UndoSql {
                        sql: format!("DROP INDEX CONCURRENTLY IF EXISTS {name}"),
                        alone: true,
                        unless_added: None,
                    }
                } else {
                    tx(format!("DROP INDEX IF EXISTS {name}"))
                });
            }
            NodeEnum::UpdateStmt(u) => {
                let Some(rel) = u.relation.as_ref() else {
                    return Err("an UPDATE without a table".into());
                };
                let table = qualified(rel);
                for target in &u.target_list {
                    match target.node.as_ref() {
                        Some(NodeEnum::ResTarget(r)) if !r.name.is_empty() => {
                            undo.needs_columns.push((table.clone(), r.name.clone()))
                        }
                        _ => return Err(format!("it updates rows of {table}")),
                    }
                }
            }
            _ => return Err("it changes the schema for good".into()),
        }
    }
    out.reverse();
    // Concurrent drops first: they cannot join the step's transaction, and the index they
    // drop never depends on the step's other machinery.
    out.sort_by_key(|u| !u.alone);
    undo.sql = out;
    Ok(undo)
}

/// What abort takes back of `plan`, given the steps the journal records done (`done`) and
/// started but not finished (`attempted`). Pure: used by abort and by a failure's message.
pub fn undo_plan(plan: &Plan, done: &BTreeSet<usize>, attempted: &BTreeSet<usize>) -> UndoPlan {
    // A transactional step that did not finish was rolled back whole by PostgreSQL: it left
    // nothing. Only steps run outside a transaction (concurrent builds, batched backfills)
    // leave partial work.
    let touched: BTreeSet<usize> = attempted
        .iter()
        .copied()
        .filter(|&k| plan.steps[k - 1].transaction != crate::plan::TxMode::Transaction)
        .chain(done.iter().copied())
        .collect();
    let Some(&top) = touched.iter().next_back() else {
        return UndoPlan::default();
    };
    let phase = plan.steps[top - 1].phase;
    // A phase every step of which is done is a consistent point itself (the plan applied, or
    // expand done before the deploy): abort never takes back completed work; that is
    // `rollback`'s job.
    if (1..=plan.steps.len())
        .filter(|&k| plan.steps[k - 1].phase == phase)
        .all(|k| done.contains(&k))
    {
        return UndoPlan {
            steps: BTreeMap::new(),
            stops_at: Some((top, format!("the {} phase is complete", phase.as_str()))),
            phase: Some(phase),
        };
    }
    // The phase's steps that ran (or were cut off), highest first, with their undos.
    let candidates: Vec<(usize, Result<StepUndo, String>)> = touched
        .iter()
        .rev()
        .filter(|&&k| plan.steps[k - 1].phase == phase)
        .map(|&k| (k, step_undo(&plan.steps[k - 1].sql)))
        .collect();
    // The consistent point: the highest step without an undo, or whose statements need an
    // earlier step (the one adding a column or constraint they touch) to be undone as well
    // when that step is at or below the point. Raised until nothing changes.
    let mut stop: Option<(usize, String)> = None;
    loop {
        let floor = stop.as_ref().map_or(0, |s| s.0);
        let undone = |k: usize| k > floor;
        let adder = |what: &(String, String), columns: bool| {
            candidates.iter().filter(|(k, _)| undone(*k)).any(|(_, u)| {
                u.as_ref().is_ok_and(|u| {
                    if columns {
                        u.adds_columns.contains(what)
                    } else {
                        u.adds_constraints.contains(what)
                    }
                })
            })
        };
        let mut next: Option<(usize, String)> = None;
        for (k, u) in candidates.iter().filter(|(k, _)| undone(*k)) {
            let why = match u {
                Err(why) => Some(why.clone()),
                Ok(u) => u
                    .needs_columns
                    .iter()
                    .find(|c| !adder(c, true))
                    .map(|(t, c)| {
                        format!("it changes column {c} of {t}, which the plan did not add")
                    })
                    .or_else(|| {
                        u.needs_constraints
                            .iter()
                            .find(|c| !adder(c, false))
                            .map(|(t, c)| format!("it drops constraint {c} of {t}"))
                    }),
            };
            if let Some(why) = why {
                next = Some((*k, why));
                break;
            }
        }
        match next {
            Some(n) if stop.as_ref().is_none_or(|s| n.0 > s.0) => stop = Some(n),
            _ => break,
        }
    }
    let floor = stop.as_ref().map_or(0, |s| s.0);
    let mut steps = BTreeMap::new();
    for (k, u) in &candidates {
        if *k <= floor {
            continue;
        }
        let Ok(u) = u else { continue };
        let added = |c: &(String, String)| {
            candidates
                .iter()
                .filter(|(j, _)| *j > floor)
                .any(|(_, v)| v.as_ref().is_ok_and(|v| v.adds_columns.contains(c)))
        };
        let sql: Vec<UndoSql> = u
            .sql
            .iter()
            .filter(|s| !s.unless_added.as_ref().is_some_and(added))
            .cloned()
            .collect();
        steps.insert(*k, sql);
    }
    UndoPlan {
        steps,
        stops_at: stop,
        phase: Some(phase),
    }
}

/// The hint a failed or interrupted step's message carries when abort has something to take
/// back: which steps, and the command.
pub fn hint(opts: &ApplyOptions, plan: &Plan, undo: &UndoPlan) -> Option<String> {
    let steps: Vec<String> = undo.steps.keys().map(|k| k.to_string()).collect();
    if steps.is_empty() {
        return None;
    }
    let command = match opts.direction {
        crate::plan::Direction::Forward => "apply",
        crate::plan::Direction::Inverse => "rollback",
    };
    let back_to = match &undo.stops_at {
        None if first_phase(plan, undo.phase) => "the database returns to the plan's `from`".into(),
        None => "the database returns to where the phase began".to_string(),
        Some((k, _)) => format!("steps up to {k} stay applied"),
    };
    Some(format!(
        "or, to take back what steps {} installed (temporary columns, triggers, constraints, \
         indexes; {back_to}), run: schemaplan {command} --abort --db {} {}",
        steps.join(", "),
        super::preflight::shell_word(&db::redact(&opts.db_url)),
        super::preflight::shell_word(&opts.plan_dir.display().to_string()),
    ))
}

/// `apply --abort`: takes back what the last failed or interrupted run of the plan left (see
/// the module doc).
pub fn abort(opts: &ApplyOptions, out: &mut dyn Progress) -> Result<ApplyOutcome, ExecError> {
    let file = planfile::read_dir(&opts.plan_dir, opts.direction)?;
    super::check_scope(opts, &file)?;
    let mut client = db::connect(&opts.db_url)?;
    let version = db::server_version_num(&mut client)?;
    catalog::check_server_version(version)?;
    super::apply::prepare_session(&mut client, opts, &file.plan, version)?;
    out.event(ProgressEvent::Info(format!(
        "aborting {} ({}) on {}",
        file.plan.id,
        planfile::file_name(opts.direction),
        db::redact(&opts.db_url)
    )));
    let wait = (!opts.no_wait).then_some(opts.lock_wait);
    let mut session = super::lock::acquire(client, wait, &mut |holder, wait| {
        out.event(ProgressEvent::WaitingForLock {
            holder: holder.to_string(),
            wait,
        })
    })?;
    super::apply::settle_stale_runs(&mut session, &file.plan.scope, out)?;
    let prior = book::prior(&mut session, &file.plan.id, opts.direction)?;
    let done: BTreeSet<usize> = prior.done.keys().copied().collect();
    let attempted: BTreeSet<usize> = prior
        .attempted
        .iter()
        .copied()
        .filter(|k| !done.contains(k))
        .collect();
    let undo = undo_plan(&file.plan, &done, &attempted);
    let mut stop = |message: String| {
        out.event(ProgressEvent::Finished {
            message: message.clone(),
        });
        Ok(ApplyOutcome {
            plan_id: file.plan.id.clone(),
            kind: OutcomeKind::NothingToDo,
            run_id: None,
            steps_run: Vec::new(),
            steps_skipped: Vec::new(),
            retries: 0,
            warnings: Vec::new(),
            message,
        })
    };
    if undo.steps.is_empty() {
        return stop(match &undo.stops_at {
            _ if done.is_empty() && attempted.is_empty() => format!(
                "nothing to abort: no step of plan {} is recorded as done or started",
                file.plan.id
            ),
            Some((k, why)) if attempted.contains(k) => format!(
                "nothing to abort: step {k} ({}) was cut off and cannot be taken back ({why}); \
                 apply again to finish it",
                file.plan.steps[k - 1].summary
            ),
            Some((_, why)) if why.ends_with("phase is complete") => format!(
                "nothing to abort: {why} (abort only takes back a phase that stopped half-way; \
                 `rollback` undoes an applied plan)"
            ),
            Some((k, why)) => format!(
                "nothing to abort: the last step done, {k} ({}), is the plan's own work, not \
                 temporary machinery ({why}); apply again to continue, or roll back once applied",
                file.plan.steps[k - 1].summary
            ),
            None => "nothing to abort".to_string(),
        });
    }
    book::ensure(&mut session)?;
    let live = catalog::fingerprint(&catalog::read_scoped(&mut session, &file.plan.scope)?);
    let run_id = book::start_run(
        &mut session,
        &NewRun {
            plan_id: &file.plan.id,
            direction: opts.direction,
            phases: "abort".to_string(),
            checksum: &file.checksum,
            from: &file.plan.from,
            to: &file.plan.to,
            live: &live,
            forced: false,
            client: super::client_identity(),
        },
    )?;
    match run_undo(&mut session, opts, &file, run_id, &undo, out) {
        Ok(message) => {
            out.event(ProgressEvent::Finished {
                message: message.clone(),
            });
            Ok(ApplyOutcome {
                plan_id: file.plan.id.clone(),
                kind: OutcomeKind::Aborted,
                run_id: Some(run_id),
                steps_run: undo.steps.keys().rev().copied().collect(),
                steps_skipped: Vec::new(),
                retries: 0,
                warnings: Vec::new(),
                message,
            })
        }
        Err((k, e)) => {
            let error = format!(
                "taking back step {k} ({}): {e}",
                file.plan.steps[k - 1].summary
            );
            let _ = book::finish_run(&mut session, run_id, "failed", Some(&error));
            Err(ExecError::Abort {
                plan_id: file.plan.id.clone(),
                run_id,
                error,
            })
        }
    }
}

/// Runs the undo of each step, highest first; journals each `undone`; records the run.
fn run_undo(
    client: &mut Client,
    opts: &ApplyOptions,
    file: &PlanFile,
    run_id: i64,
    undo: &UndoPlan,
    out: &mut dyn Progress,
) -> Result<String, (usize, String)> {
    let plan = &file.plan;
    let total = plan.steps.len();
    for (&k, sql) in undo.steps.iter().rev() {
        let step = &plan.steps[k - 1];
        let summary = format!("take back: {}", step.summary);
        out.event(ProgressEvent::StepStarted {
            number: k,
            total,
            summary: summary.clone(),
        });
        let t0 = std::time::Instant::now();
        undo_step(client, opts, step, k, sql, out).map_err(|e| (k, e))?;
        book::journal_end(client, run_id, k, &step.summary, "undone", None)
            .map_err(|e| (k, full_error(&e)))?;
        out.event(ProgressEvent::StepDone {
            number: k,
            total,
            summary,
            elapsed: t0.elapsed(),
        });
    }
    let undone: Vec<String> = undo.steps.keys().map(|k| k.to_string()).collect();
    let first = *undo.steps.keys().next().expect("steps to undo");
    let earlier_in_phase = plan.steps[..first - 1]
        .iter()
        .any(|s| Some(s.phase) == undo.phase);
    let mut message = format!(
        "run {run_id}: plan {} aborted: took back steps {}",
        plan.id,
        undone.join(", ")
    );
    let mut outcome_error = None;
    match &undo.stops_at {
        Some((k, why)) => message.push_str(&format!(
            "; steps up to {k} stay applied (step {k}, {}, is not temporary machinery: {why}); \
             apply again to continue from step {first}",
            plan.steps[k - 1].summary
        )),
        None if !earlier_in_phase && first_phase(plan, undo.phase) => {
            let live = catalog::read_scoped(client, &plan.scope)
                .map(|s| catalog::fingerprint(&s))
                .map_err(|e| (first, e.to_string()))?;
            if live == plan.from {
                message.push_str(&format!(
                    "; the database is at the plan's `from` again ({})",
                    plan.from
                ));
            } else {
                let m = format!(
                    "the live schema ({live}) is not the plan's `from` ({}) after the abort: \
                     `schemaplan drift` shows the difference",
                    plan.from
                );
                out.event(ProgressEvent::Warning(m.clone()));
                message.push_str(&format!("; {m}"));
                outcome_error = Some(m);
            }
        }
        None => message.push_str("; the database is as the earlier phase left it"),
    }
    book::finish_run(client, run_id, "aborted", outcome_error.as_deref())
        .map_err(|e| (first, e.to_string()))?;
    Ok(message)
}

/// Whether `phase` is the plan's first phase (so undoing all of it returns to `from`).
fn first_phase(plan: &Plan, phase: Option<Phase>) -> bool {
    plan.steps.first().map(|s| s.phase) == phase
}

/// The undo of one step: its concurrent index drops alone, the rest in one transaction under
/// the step's lock_timeout, retried on lock timeouts and deadlocks.
fn undo_step(
    client: &mut Client,
    opts: &ApplyOptions,
    step: &Step,
    k: usize,
    sql: &[UndoSql],
    out: &mut dyn Progress,
) -> Result<(), String> {
    let lock_timeout = step
        .lock_timeout
        .map_or("DEFAULT".to_string(), |t| quote::literal(&pg_duration(t.0)));
    for u in sql.iter().filter(|u| u.alone) {
        // No lock_timeout: SHARE UPDATE EXCLUSIVE blocks no reads or writes; the statement
        // waits for older transactions like the build did.
        with_retries(opts, k, out, || {
            client
                .batch_execute("SET lock_timeout TO DEFAULT; SET statement_timeout TO DEFAULT")?;
            let r = client.batch_execute(&u.sql);
            client.batch_execute("RESET lock_timeout; RESET statement_timeout")?;
            r
        })?;
    }
    let body: Vec<&str> = sql
        .iter()
        .filter(|u| !u.alone)
        .map(|u| u.sql.as_str())
        .collect();
    if body.is_empty() {
        return Ok(());
    }
    let text = format!(
        "SET LOCAL lock_timeout TO {lock_timeout}; SET LOCAL statement_timeout TO '1min'; {};",
        body.join("; ")
    );
    with_retries(opts, k, out, || {
        let mut tx = client.transaction()?;
        tx.batch_execute(&text)?;
        tx.commit()
    })
}

fn with_retries(
    opts: &ApplyOptions,
    k: usize,
    out: &mut dyn Progress,
    mut attempt_once: impl FnMut() -> Result<(), postgres::Error>,
) -> Result<(), String> {
    let mut attempt = 1;
    loop {
        match attempt_once() {
            Ok(()) => return Ok(()),
            Err(e) if retryable(&e) && attempt < opts.retry.max_attempts => {
                let delay: Duration = opts.retry.delay(attempt);
                out.event(ProgressEvent::Retry {
                    steps: k.to_string(),
                    attempt,
                    max_attempts: opts.retry.max_attempts,
                    delay,
                    reason: run::short_error(&e),
                });
                std::thread::sleep(delay);
                attempt += 1;
            }
            Err(e) => return Err(full_error(&e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{LockLevel, TxMode};

    fn step(sql: &str) -> Step {
        Step {
            summary: String::new(),
            sql: sql.into(),
            phase: Phase::Expand,
            transaction: TxMode::Transaction,
            lock: LockLevel::AccessExclusive,
            lock_target: None,
            lock_timeout: None,
            statement_timeout: None,
            hazards: vec![],
            notes: vec![],
        }
    }

    fn plan(steps: Vec<Step>) -> Plan {
        Plan {
            id: "p".into(),
            version: String::new(),
            direction: crate::plan::Direction::Forward,
            from: String::new(),
            to: String::new(),
            steps,
            from_objects: Default::default(),
            unproven: None,
            scope: Default::default(),
        }
    }

    #[test]
    fn shadow_column_machinery_is_taken_back_in_reverse() {
        let p = plan(vec![
            step("ALTER TABLE public.t ADD COLUMN a_schemaplan_new bigint;\nCREATE FUNCTION public.t_a_f() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;\nCREATE TRIGGER t_a_f BEFORE INSERT ON public.t FOR EACH ROW EXECUTE FUNCTION public.t_a_f();"),
            step("UPDATE public.t SET a_schemaplan_new = a WHERE a_schemaplan_new IS DISTINCT FROM a;"),
            step("ALTER TABLE public.t ADD CONSTRAINT t_nn CHECK (a_schemaplan_new IS NOT NULL) NOT VALID;"),
            step("ALTER TABLE public.t VALIDATE CONSTRAINT t_nn;"),
            step("ALTER TABLE public.t ALTER COLUMN a_schemaplan_new SET NOT NULL;\nALTER TABLE public.t DROP CONSTRAINT t_nn;"),
            step("DROP TRIGGER t_a_f ON public.t;\nALTER TABLE public.t DROP COLUMN a;"),
        ]);
        let done: BTreeSet<usize> = [1, 2, 3, 4, 5].into();
        let u = undo_plan(&p, &done, &BTreeSet::new());
        assert!(u.stops_at.is_none());
        assert_eq!(
            u.steps[&1]
                .iter()
                .map(|s| s.sql.as_str())
                .collect::<Vec<_>>(),
            [
                "DROP TRIGGER IF EXISTS t_a_f ON public.t",
                "DROP FUNCTION IF EXISTS public.t_a_f()",
                "ALTER TABLE public.t DROP COLUMN IF EXISTS a_schemaplan_new"
            ]
        );
        assert!(u.steps[&5].is_empty(), "{:?}", u.steps[&5]);
        // Past the swap: nothing is temporary any more.
        let all: BTreeSet<usize> = [1, 2, 3, 4, 5, 6].into();
        let u = undo_plan(&p, &all, &BTreeSet::new());
        assert!(u.steps.is_empty());
        assert_eq!(u.stops_at.as_ref().map(|s| s.0), Some(6));
    }

    #[test]
    fn an_update_of_an_existing_column_is_a_consistent_point() {
        let p = plan(vec![
            step("ALTER TABLE public.t ADD COLUMN b int;"),
            step("UPDATE public.t SET a = 1;"),
            Step {
                transaction: TxMode::Alone,
                ..step("CREATE INDEX CONCURRENTLY t_b_idx ON public.t (b);")
            },
        ]);
        let u = undo_plan(&p, &[1, 2].into(), &[3].into());
        assert_eq!(u.stops_at.as_ref().map(|s| s.0), Some(2));
        assert_eq!(
            u.steps[&3],
            [UndoSql {
                sql: "DROP INDEX CONCURRENTLY IF EXISTS public.t_b_idx".into(),
                alone: true,
                unless_added: None,
            }]
        );
        // A completed phase is never taken back.
        let built = plan(vec![Step {
            transaction: TxMode::Alone,
            ..step("CREATE INDEX CONCURRENTLY t_b_idx ON public.t (b);")
        }]);
        let u = undo_plan(&built, &[1].into(), &BTreeSet::new());
        assert!(u.steps.is_empty() && u.stops_at.is_some());
        // A transactional step that did not finish was rolled back whole: nothing to undo.
        let u = undo_plan(&p, &BTreeSet::new(), &[1].into());
        assert!(u.steps.is_empty() && u.stops_at.is_none());
    }

    #[test]
    fn set_not_null_of_an_existing_column_is_dropped_again() {
        let p = plan(vec![
            step("ALTER TABLE public.t ADD CONSTRAINT t_a_nn CHECK (a IS NOT NULL) NOT VALID;"),
            step("ALTER TABLE public.t VALIDATE CONSTRAINT t_a_nn;"),
            step("ALTER TABLE public.t ALTER COLUMN a SET NOT NULL;\nALTER TABLE public.t DROP CONSTRAINT t_a_nn;"),
            step("CREATE TABLE public.u (a int);"), // not run: the phase is incomplete
        ]);
        let u = undo_plan(&p, &[1, 2, 3].into(), &BTreeSet::new());
        assert!(u.stops_at.is_none());
        assert_eq!(
            u.steps[&3][0].sql,
            "ALTER TABLE public.t ALTER COLUMN a DROP NOT NULL"
        );
    }
}
