//! Client-side stage timings of one run: wall time, this process's CPU time (user + system)
//! and its peak RSS after each stage of the pipeline (source parsing, catalog reads, shadow
//! load, diff, planning, proof, rendering ...), for profiling big schemas (issue 9,
//! `docs/benchmarks.md`).
//!
//! The stages record into one process-wide list; nothing is printed unless asked: with
//! `SCHEMAPLAN_TIMINGS=1` in the environment the CLI prints the list on stderr when the
//! command ends ([`print_if_asked`]); a front end (`-v`) can read [`recorded`] itself.
//! Stages nest (the catalog read inside the desired-schema stage): each records its depth,
//! and a nested stage's time is included in its parent's. The CPU time is the whole
//! process's (`getrusage(RUSAGE_SELF)`): the pipeline runs on one thread, and the servers'
//! work (shadow, live database) is not in it, only the time spent waiting for them in the
//! wall time.

use std::cell::Cell;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One finished stage.
#[derive(Clone, Debug)]
pub struct Timing {
    pub stage: &'static str,
    /// How many stages enclose it (0: a top-level stage).
    pub depth: usize,
    pub wall: Duration,
    /// This process's user + system CPU time over the stage.
    pub cpu: Duration,
    /// The process's peak resident set size when the stage ended, in KiB.
    pub max_rss_kib: u64,
}

static RECORDED: Mutex<Vec<Timing>> = Mutex::new(Vec::new());

thread_local! {
    static DEPTH: Cell<usize> = const { Cell::new(0) };
}

/// Runs `f` as stage `name` and records its timing.
pub fn stage<T>(name: &'static str, f: impl FnOnce() -> T) -> T {
    let depth = DEPTH.with(|d| {
        let depth = d.get();
        d.set(depth + 1);
        depth
    });
    let (cpu0, _) = usage();
    let wall0 = Instant::now();
    let out = f();
    let wall = wall0.elapsed();
    let (cpu1, max_rss_kib) = usage();
    DEPTH.with(|d| d.set(depth));
    let timing = Timing {
        stage: name,
        depth,
        wall,
        cpu: cpu1.saturating_sub(cpu0),
        max_rss_kib,
    };
    if let Ok(mut list) = RECORDED.lock() {
        list.push(timing);
    }
    out
}

/// The stages finished so far, in the order they finished (a nested stage before its parent).
pub fn recorded() -> Vec<Timing> {
    RECORDED.lock().map(|l| l.clone()).unwrap_or_default()
}

/// The recorded stages as text, one line each, indented by depth.
pub fn report() -> String {
    let mut out = String::from("stage timings (wall, client CPU, peak RSS):\n");
    for t in recorded() {
        out.push_str(&format!(
            "  {:indent$}{:<w$} {:>9.3} s {:>9.3} s {:>7} MiB\n",
            "",
            t.stage,
            t.wall.as_secs_f64(),
            t.cpu.as_secs_f64(),
            t.max_rss_kib / 1024,
            indent = t.depth * 2,
            w = 28usize.saturating_sub(t.depth * 2),
        ));
    }
    out
}

/// Prints [`report`] on stderr when `SCHEMAPLAN_TIMINGS` is set to anything but `0` or empty.
pub fn print_if_asked() {
    let asked = std::env::var("SCHEMAPLAN_TIMINGS").is_ok_and(|v| !v.is_empty() && v != "0");
    if asked {
        eprint!("{}", report());
    }
}

/// (user + system CPU time, peak RSS in KiB) of this process so far.
fn usage() -> (Duration, u64) {
    // SAFETY: getrusage only writes the struct it is given.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return (Duration::ZERO, 0);
    }
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec.max(0) as u64) + Duration::from_micros(t.tv_usec.max(0) as u64)
    };
    (
        tv(ru.ru_utime) + tv(ru.ru_stime),
        ru.ru_maxrss.max(0) as u64,
    )
}
