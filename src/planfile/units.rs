//! Execution units: the plan-format rule that adjacent `transaction: yes` steps of the same phase
//! share one transaction, and every `transaction: no` step runs alone.
//!
//! One exception keeps the online strategies online: locks are held until COMMIT, so a step
//! meant to run alongside traffic (lock ROW EXCLUSIVE or SHARE UPDATE EXCLUSIVE: a backfill, a
//! `VALIDATE CONSTRAINT` scan) starts a new transaction when the transaction so far has taken a
//! lock that blocks traffic (SHARE or stronger). Otherwise `ADD CONSTRAINT ... NOT VALID` (ACCESS
//! EXCLUSIVE) followed by `VALIDATE` would scan the whole table under ACCESS EXCLUSIVE — exactly
//! what splitting them was for.
//!
//! And the other way round: a brief lock upgrade after a long step starts its own transaction.
//! A step is long when the plan gives it more than the 1-minute `statement_timeout` of catalog
//! changes (a `VALIDATE CONSTRAINT` scan, 4h) while taking a lock that lets traffic run (SHARE
//! UPDATE EXCLUSIVE, ROW EXCLUSIVE). If a step taking a blocking lock (`SET NOT NULL`, a swap:
//! ACCESS EXCLUSIVE for a catalog change) shared its transaction, two things would go wrong:
//! the ACCESS EXCLUSIVE request queues behind every running query on the table while the
//! transaction already holds the scan's lock, and when it cannot get it within its short
//! `lock_timeout` (55P03) the executor rolls the whole unit back and retries it, so every retry
//! would repeat the scan (minutes or hours) just to try the brief upgrade again. In a
//! transaction of its own, the scan commits once and only the brief step is retried. Nothing is
//! lost between the two: the validated constraint (or the backfilled rows) stays committed, and
//! the brief step relies only on what is committed.

use crate::plan::{Phase, Step, TxMode};

/// Steps that run together: one transaction, or one non-transactional step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unit {
    /// 1-based step numbers, consecutive.
    pub steps: Vec<usize>,
    /// How the unit runs: `Transaction` units may hold several steps, the others one.
    pub mode: TxMode,
    pub phase: Phase,
}

impl Unit {
    pub fn first(&self) -> usize {
        self.steps[0]
    }

    pub fn last(&self) -> usize {
        self.steps[self.steps.len() - 1]
    }

    /// `3` or `3-5`.
    pub fn range(&self) -> String {
        if self.steps.len() == 1 {
            self.first().to_string()
        } else {
            format!("{}-{}", self.first(), self.last())
        }
    }
}

/// Groups the steps numbered in `numbers` (ascending, 1-based indexes into `steps`) into units.
/// Steps only join a unit when their numbers are consecutive, so a step skipped on resume
/// splits a group.
pub fn units(steps: &[Step], numbers: &[usize]) -> Vec<Unit> {
    let mut out: Vec<Unit> = Vec::new();
    for &n in numbers {
        let step = &steps[n - 1];
        match out.last_mut() {
            Some(u) if joins(u, steps, step, n) => u.steps.push(n),
            _ => out.push(Unit {
                steps: vec![n],
                mode: step.transaction,
                phase: step.phase,
            }),
        }
    }
    out
}

fn joins(unit: &Unit, steps: &[Step], step: &Step, number: usize) -> bool {
    unit.mode == TxMode::Transaction
        && step.transaction == TxMode::Transaction
        && unit.phase == step.phase
        && unit.last() + 1 == number
        && !(step.runs_alongside_traffic() && blocks_traffic(unit, steps))
        && !(step.lock.blocks_traffic() && has_long_step(unit, steps))
}

/// Whether the unit holds a step that may run long under a lock that lets traffic run (see
/// the module doc): retrying the unit would repeat it.
fn has_long_step(unit: &Unit, steps: &[Step]) -> bool {
    unit.steps.iter().any(|&n| {
        let s = &steps[n - 1];
        s.runs_alongside_traffic()
            && s.statement_timeout
                .is_some_and(|t| t.0 > std::time::Duration::from_secs(60))
    })
}

/// Whether the unit's transaction holds a lock that queues application traffic.
fn blocks_traffic(unit: &Unit, steps: &[Step]) -> bool {
    unit.steps
        .iter()
        .any(|&n| steps[n - 1].lock.blocks_traffic())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{LockLevel, Phase, Step};

    fn step(lock: LockLevel, transactional: bool, phase: Phase) -> Step {
        Step {
            summary: String::new(),
            sql: "SELECT 1;".into(),
            phase,
            transaction: if transactional {
                TxMode::Transaction
            } else {
                TxMode::Alone
            },
            lock,
            lock_target: None,
            lock_timeout: None,
            statement_timeout: None,
            hazards: vec![],
            notes: vec![],
        }
    }

    fn ranges(steps: &[Step], numbers: &[usize]) -> Vec<String> {
        units(steps, numbers).iter().map(|u| u.range()).collect()
    }

    #[test]
    fn groups_adjacent_transactional_steps_of_a_phase() {
        use LockLevel::*;
        let steps = vec![
            step(AccessExclusive, true, Phase::Expand),
            step(None, true, Phase::Expand),
            step(ShareUpdateExclusive, false, Phase::Expand),
            step(AccessExclusive, true, Phase::Expand),
            step(AccessExclusive, true, Phase::Contract),
            step(AccessExclusive, true, Phase::Contract),
        ];
        assert_eq!(
            ranges(&steps, &[1, 2, 3, 4, 5, 6]),
            ["1-2", "3", "4", "5-6"]
        );
        assert_eq!(
            ranges(&steps, &[1, 5, 6]),
            ["1", "5-6"],
            "a skipped step splits a group"
        );
    }

    #[test]
    fn a_scan_never_runs_under_an_earlier_blocking_lock() {
        use LockLevel::*;
        let steps = vec![
            step(AccessExclusive, true, Phase::Expand), // ADD CONSTRAINT ... NOT VALID
            step(ShareUpdateExclusive, true, Phase::Expand), // VALIDATE CONSTRAINT
            step(AccessExclusive, true, Phase::Expand), // SET NOT NULL: after the scan
            step(RowExclusive, true, Phase::Expand),    // backfill
        ];
        assert_eq!(ranges(&steps, &[1, 2, 3, 4]), ["1", "2-3", "4"]);
        // A long validation (4h statement_timeout) is not followed by a brief upgrade in its
        // transaction: a lock-timeout retry of the upgrade would repeat the scan.
        let mut long = steps.clone();
        long[1].statement_timeout = Some(crate::plan::step::StatementTimeout(
            std::time::Duration::from_secs(4 * 3600),
        ));
        assert_eq!(ranges(&long, &[1, 2, 3, 4]), ["1", "2", "3", "4"]);
        let quiet = vec![
            step(ShareUpdateExclusive, true, Phase::Expand),
            step(RowExclusive, true, Phase::Expand),
        ];
        assert_eq!(ranges(&quiet, &[1, 2]), ["1-2"]);
    }
}
