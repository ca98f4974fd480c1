//! Execution units: the plan-format rule that adjacent `transaction: yes` steps of the same phase
//! share one transaction, and every `transaction: no` step runs alone.
//!
//! One exception keeps the online strategies online: locks are held until COMMIT, so a step
//! meant to run alongside traffic (lock ROW EXCLUSIVE or SHARE UPDATE EXCLUSIVE: a backfill, a
//! `VALIDATE CONSTRAINT` scan) starts a new transaction when the transaction so far has taken a
//! lock that blocks traffic (SHARE or stronger). Otherwise `ADD CONSTRAINT ... NOT VALID` (ACCESS
//! EXCLUSIVE) followed by `VALIDATE` would scan the whole table under ACCESS EXCLUSIVE — exactly
//! what splitting them was for.

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
        let quiet = vec![
            step(ShareUpdateExclusive, true, Phase::Expand),
            step(RowExclusive, true, Phase::Expand),
        ];
        assert_eq!(ranges(&quiet, &[1, 2]), ["1-2"]);
    }
}
