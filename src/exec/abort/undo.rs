//! What `--abort` takes back: each step's SQL read with pg_query and given its undo
//! statements (the table in the parent module's doc), and which steps of a phase are undone
//! (those after its highest consistent point).

use crate::plan::{Phase, Plan};
use crate::render::quote;
use pg_query::protobuf::{AlterTableType as T, RangeVar};
use pg_query::NodeEnum;
use std::collections::{BTreeMap, BTreeSet};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{LockLevel, Step, TxMode};

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
