//! Changes -> ordered, safe steps: per-kind generators, the dependency graph and its
//! deterministic ordering, hazards and phases.

pub mod step;

pub use step::{Hazard, LockLevel, LockTimeout, Phase, StatementTimeout, Step};

use serde::{Deserialize, Serialize};

/// Which way a plan file goes: `plan.sql` is forward, `inverse.sql` is its rollback.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Direction {
    Forward,
    Inverse,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Forward => "forward",
            Direction::Inverse => "inverse",
        }
    }
}

/// An ordered plan: what `render` writes and `planfile` reads back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// Directory name: `<UTC timestamp>_<name>`.
    pub id: String,
    /// Tool version that wrote it.
    pub version: String,
    pub direction: Direction,
    /// Fingerprint of the schema the plan starts from.
    pub from: String,
    /// Fingerprint of the schema the plan produces.
    pub to: String,
    pub steps: Vec<Step>,
}

impl Plan {
    /// Every hazard of every step, deduplicated and sorted.
    pub fn hazards(&self) -> Vec<Hazard> {
        let mut h: Vec<Hazard> = self.steps.iter().flat_map(|s| s.hazards.iter().copied()).collect();
        h.sort();
        h.dedup();
        h
    }

    /// Phases present, in order.
    pub fn phases(&self) -> Vec<Phase> {
        let mut p: Vec<Phase> = self.steps.iter().map(|s| s.phase).collect();
        p.sort();
        p.dedup();
        p
    }
}
