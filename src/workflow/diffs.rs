//! The two diffs of one plan, each made once: `current -> desired` (the forward changes) and
//! `desired -> current` (the inverse's), for the diff stage's refusals, the secrets check and
//! every plan `plan_proven` makes (the phased one, the one with the drops in `expand`, and
//! each again with the user's CHECK texts). Before, the same two schemas were diffed up to
//! seven times per plan, 0.5-0.9 s each at 5,000 tables (issue 9). The diff depends on the
//! two schemas and the server's major alone (`diff::diff_for`), never on the rest of
//! `PlanOptions`, so a diff made for one plan serves the next.

use crate::diff::{self, Change};
use crate::model::Schema;
use std::cell::OnceCell;

/// The diffs of `current -> desired` and back, made when first asked for and then kept.
/// `current` is the schema the plan starts from (with declared renames done: `Renames::current`).
pub struct PlanDiffs<'a> {
    current: &'a Schema,
    desired: &'a Schema,
    server_version: u32,
    forward: OnceCell<Vec<Change>>,
    inverse: OnceCell<Vec<Change>>,
}

impl<'a> PlanDiffs<'a> {
    /// Nothing is diffed yet. `server_version` as in `PlanOptions::server_version`.
    pub fn new(current: &'a Schema, desired: &'a Schema, server_version: u32) -> Self {
        PlanDiffs {
            current,
            desired,
            server_version,
            forward: OnceCell::new(),
            inverse: OnceCell::new(),
        }
    }

    /// Makes both diffs now, the inverse on a thread of its own beside the forward one
    /// (~0.3 s each at 5,000 tables, issue 9): for a caller that needs both.
    pub fn made_both(self) -> Self {
        let depth = crate::timings::depth();
        let inverse = std::thread::scope(|s| {
            let inverse = s.spawn(|| {
                crate::timings::at_depth(depth, || {
                    diff::diff_for(self.desired, self.current, self.server_version)
                })
            });
            self.forward();
            inverse
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        });
        let _ = self.inverse.set(inverse);
        self
    }

    /// `diff_for(current, desired)`.
    pub fn forward(&self) -> &[Change] {
        self.forward
            .get_or_init(|| diff::diff_for(self.current, self.desired, self.server_version))
    }

    /// `diff_for(desired, current)`.
    pub fn inverse(&self) -> &[Change] {
        self.inverse
            .get_or_init(|| diff::diff_for(self.desired, self.current, self.server_version))
    }

    /// The diff `from -> to` if it is one of the two (the same schemas, by address, and the
    /// same major), made now if not yet.
    pub(super) fn of(&self, from: &Schema, to: &Schema, server_version: u32) -> Option<&[Change]> {
        if server_version != self.server_version {
            return None;
        }
        if std::ptr::eq(from, self.current) && std::ptr::eq(to, self.desired) {
            return Some(self.forward());
        }
        if std::ptr::eq(from, self.desired) && std::ptr::eq(to, self.current) {
            return Some(self.inverse());
        }
        None
    }
}
