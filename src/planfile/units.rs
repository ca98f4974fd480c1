//! Execution units: the plan-format rule that adjacent `transaction: yes` steps of the same phase
//! share one transaction, and every `transaction: no` step runs alone.

use crate::plan::{Phase, Step};

/// Steps that run together: one transaction, or one non-transactional step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unit {
    /// 1-based step numbers, consecutive.
    pub steps: Vec<usize>,
    pub transactional: bool,
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
            Some(u) if joins(u, step, n) => u.steps.push(n),
            _ => out.push(Unit {
                steps: vec![n],
                transactional: step.transactional,
                phase: step.phase,
            }),
        }
    }
    out
}

fn joins(unit: &Unit, step: &Step, number: usize) -> bool {
    unit.transactional
        && step.transactional
        && unit.phase == step.phase
        && unit.last() + 1 == number
}
