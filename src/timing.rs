//! Stage timings for `-v`: one line on stderr per stage of a command (`timing: source 12ms`),
//! printed only when the user asked for them. The one place that measures: callers wrap a stage
//! in [`time`] (or hold a [`stage`] guard), nothing else in the crate reads clocks for `-v`.
//!
//! Timings go to stderr so stdout (a summary, or JSON) stays the same with and without `-v`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

static ENABLED: AtomicBool = AtomicBool::new(false);

/// Turns the timing lines on or off for the rest of the process (the CLI sets it from `-v`).
pub fn enable(on: bool) {
    ENABLED.store(on, Ordering::Relaxed);
}

/// Whether timing lines are printed.
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Runs `f` as the stage `name` and prints how long it took (when enabled), also when it fails.
pub fn time<T>(name: &'static str, f: impl FnOnce() -> T) -> T {
    let _guard = stage(name);
    f()
}

/// A guard printing the stage's duration when dropped.
pub fn stage(name: &'static str) -> Stage {
    Stage {
        name,
        start: Instant::now(),
    }
}

/// A running stage (see [`stage`]).
pub struct Stage {
    name: &'static str,
    start: Instant,
}

impl Drop for Stage {
    fn drop(&mut self) {
        if enabled() {
            eprintln!(
                "timing: {} {}",
                self.name,
                crate::exec::human_duration(self.start.elapsed())
            );
        }
    }
}
