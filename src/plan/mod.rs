//! Changes -> ordered, safe steps: per-kind generators, the dependency graph and its
//! deterministic ordering, hazards and phases.

pub mod step;

pub use step::{Hazard, LockLevel, LockTimeout, Phase, StatementTimeout, Step};
