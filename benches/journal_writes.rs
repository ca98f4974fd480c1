//! Journal writes cost the same at step 30,000 as at step 1.
//!
//! Applies a plan of N trivial non-transactional steps (`SELECT 1`, the most journal-heavy
//! kind: each step commits its `running` row, then its `succeeded` row) to a throw-away
//! server, with the real executor (`exec::apply`), and reports the steps per second of the
//! first, middle and last 1,000 steps. With the bookkeeping in tables every journal write is
//! one single-row INSERT/UPDATE by primary key, so the rate stays flat; with the old large
//! object (the whole JSON document rewritten on every write) a 30,000-step plan fell from ~300
//! to ~80 steps/min by step 2,250.
//!
//! ```sh
//! cargo bench --bench journal_writes              # 30,000 steps
//! JOURNAL_BENCH_STEPS=5000 cargo bench --bench journal_writes
//! ```
//! It prints the numbers only: no assertion on timings (docs/benchmarks.md records a run).

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../tests/common/exec.rs"]
mod support;

use schemaplan::exec::{self, Progress, ProgressEvent};
use std::time::{Duration, Instant};

/// Records when each step finished.
struct Clock {
    start: Instant,
    done: Vec<Duration>,
}

impl Progress for Clock {
    fn event(&mut self, e: ProgressEvent) {
        if let ProgressEvent::StepDone { .. } = e {
            self.done.push(self.start.elapsed());
        }
    }
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing: skip there.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let n: usize = std::env::var("JOURNAL_BENCH_STEPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30_000);
    let window = 1000.min(n / 10).max(1);
    let steps: Vec<_> = (1..=n)
        .map(|k| support::cic_step(&format!("no-op {k}"), "SELECT 1;"))
        .collect();
    eprintln!("journal_writes: preparing a plan of {n} steps");
    let f = support::Fixture::with_target("journal_bench", &[], steps, &[]);
    let mut clock = Clock {
        start: Instant::now(),
        done: Vec::with_capacity(n),
    };
    let outcome = exec::apply(&f.opts(), &mut clock).unwrap_or_else(|e| panic!("{e}"));
    let total = clock.start.elapsed();
    assert_eq!(clock.done.len(), n, "{outcome:?}");
    // Steps per minute over the `window` steps after step `from` (timed from step `from`'s
    // end, so reading the plan file and the checks before the first step do not count).
    let rate = |from: usize| {
        let t0 = clock.done[from - 1];
        let t1 = clock.done[from + window - 1];
        window as f64 * 60.0 / (t1 - t0).as_secs_f64()
    };
    let mut marks: Vec<usize> = vec![1];
    marks.extend(
        (1..=10)
            .map(|i| (n * i / 10).saturating_sub(window))
            .filter(|&m| m > 1),
    );
    let rates: Vec<String> = marks
        .iter()
        .map(|&m| format!("{}-{}: {:.0}", m + 1, m + window, rate(m)))
        .collect();
    let (first, last) = (rate(1), rate(n - window));
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "journal_writes: {n} non-transactional steps in {:.1} s (first step done after {:.1} s: \
         reading the plan, checks); steps/min over {window} steps: {}; last/first {:.2}; \
         load average {}",
        total.as_secs_f64(),
        clock.done[0].as_secs_f64(),
        rates.join(", "),
        last / first,
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    let rows: i64 = f
        .connect()
        .query_one("SELECT count(*) FROM schemaplan.steps", &[])
        .unwrap()
        .get(0);
    assert_eq!(rows as usize, n);
}
