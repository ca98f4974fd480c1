//! Client-side stage timings of one run, the one place that measures them: wall time, this
//! process's CPU time (user + system) and its peak RSS after each stage of the pipeline
//! (source files, shadow start, catalog reads, shadow load, diff, plan and proof, write, and
//! the stages inside them: each catalog query, the plan's context, steps and order ...).
//!
//! Callers wrap a stage in [`stage`] (or hold a [`start`] guard over a stretch of code);
//! nothing else in the crate reads clocks for this. The stages record into one process-wide
//! list, and two readers show it, both on stderr so stdout (a summary, or JSON) stays the
//! same:
//! - `-v` ([`set_verbosity`]): one line per top-level stage as it ends
//!   (`timing: shadow load 1.3s (CPU 0.2s, peak RSS 41 MiB)`); `-vv` adds the nested stages,
//!   indented;
//! - `SCHEMAPLAN_TIMINGS=1`: the whole list as a table when the command ends
//!   ([`print_if_asked`]), for profiling big schemas (issue 9, `docs/benchmarks.md`), with
//!   the peak *heap* besides the peak RSS: the bytes the program had allocated at most so
//!   far, counted by the binary's allocator ([`Counting`], on only with `SCHEMAPLAN_TIMINGS`).
//!   RSS also holds what the allocator keeps around the blocks (headers, size-class
//!   rounding, freed memory not given back), so the two show what the program holds and what
//!   the allocator costs on top.
//!
//! Stages nest (the catalog read inside the desired-schema stage): each records its depth
//! (per thread), and a nested stage's time is included in its parent's. The CPU time is the
//! whole process's (`getrusage(RUSAGE_SELF)`), and the servers' work (shadow, live database)
//! is not in it, only the time spent waiting for them in the wall time. Some stages run on
//! threads of their own and overlap others (the live `catalog reads` while the source stage,
//! the shadow start and the desired load run, `workflow::sides`; the plan's `fingerprint`
//! and `object digests`): such a stage is recorded at depth 0 of its thread, and the CPU time
//! of overlapping stages includes each other's.

use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicU8, AtomicUsize, Ordering};
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
    /// The peak heap so far when the stage ended, in bytes, when counted ([`Counting`]);
    /// 0 otherwise.
    pub peak_heap: usize,
    /// The heap in use when the stage ended (what it left allocated), in bytes, when counted;
    /// 0 otherwise.
    pub heap_at_end: usize,
    /// When the stage ended, since the first stage of the run started: where it sits on the
    /// run's timeline (overlapping stages on threads of their own, `workflow::sides`).
    pub ended: Duration,
}

/// When the first stage of the run started: the origin of [`Timing::ended`].
static ORIGIN: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();

static RECORDED: Mutex<Vec<Timing>> = Mutex::new(Vec::new());

/// Which stages print a line as they end: 0 none, 1 the top-level ones (`-v`), 2 all (`-vv`).
static VERBOSITY: AtomicU8 = AtomicU8::new(0);

thread_local! {
    static DEPTH: Cell<usize> = const { Cell::new(0) };
}

/// Makes stages print a line on stderr as they end: `verbose` 1 (`-v`) the top-level stages,
/// 2 (`-vv`) and more every stage, 0 none (the CLI sets it from `-v`).
pub fn set_verbosity(verbose: u8) {
    VERBOSITY.store(verbose, Ordering::Relaxed);
}

/// Whether a stage `depth` deep prints its line.
fn printed(depth: usize) -> bool {
    match VERBOSITY.load(Ordering::Relaxed) {
        0 => false,
        1 => depth == 0,
        _ => true,
    }
}

/// Prints `note: {text}` on stderr with `-v`: why a stage took the slow path (a catalog read
/// in full instead of a delta, `catalog::delta`).
pub fn note(text: &str) {
    if VERBOSITY.load(Ordering::Relaxed) >= 1 {
        eprintln!("note: {text}");
    }
}

/// Runs `f` as stage `name` and records its timing (also when `f` fails).
pub fn stage<T>(name: &'static str, f: impl FnOnce() -> T) -> T {
    let _guard = start(name);
    f()
}

/// How deep this thread is in its stages now: for [`at_depth`] on a thread that does part of
/// the current stage's work.
pub fn depth() -> usize {
    DEPTH.with(|d| d.get())
}

/// Runs `f` with this thread's stages nested `depth` deep: a thread that does part of another
/// thread's stage (the plan's inverse diff, `workflow::PlanDiffs::made_both`) records its
/// stages under that stage, as if they ran on that thread.
pub fn at_depth<T>(depth: usize, f: impl FnOnce() -> T) -> T {
    let before = DEPTH.with(|d| d.replace(depth));
    let out = f();
    DEPTH.with(|d| d.set(before));
    out
}

/// Starts stage `name`; it ends, and is recorded, when the guard is dropped.
pub fn start(name: &'static str) -> Stage {
    let depth = DEPTH.with(|d| {
        let depth = d.get();
        d.set(depth + 1);
        depth
    });
    let (cpu, _) = usage();
    ORIGIN.get_or_init(Instant::now);
    Stage {
        name,
        depth,
        wall: Instant::now(),
        cpu,
    }
}

/// A running stage (see [`start`]).
pub struct Stage {
    name: &'static str,
    depth: usize,
    wall: Instant,
    cpu: Duration,
}

impl Drop for Stage {
    fn drop(&mut self) {
        let wall = self.wall.elapsed();
        let (cpu, max_rss_kib) = usage();
        DEPTH.with(|d| d.set(self.depth));
        let timing = Timing {
            stage: self.name,
            depth: self.depth,
            wall,
            cpu: cpu.saturating_sub(self.cpu),
            max_rss_kib,
            peak_heap: PEAK.load(Ordering::Relaxed),
            heap_at_end: heap_in_use(),
            ended: ORIGIN.get().map_or(Duration::ZERO, Instant::elapsed),
        };
        if printed(self.depth) {
            eprintln!("{}", verbose_line(&timing));
        }
        if let Ok(mut list) = RECORDED.lock() {
            list.push(timing);
        }
    }
}

/// `-v`'s line: `timing: diff 12ms (CPU 10ms, peak RSS 41 MiB)`, nested stages indented.
fn verbose_line(t: &Timing) -> String {
    format!(
        "timing: {:indent$}{} {} (CPU {}, peak RSS {} MiB)",
        "",
        t.stage,
        crate::exec::human_duration(t.wall),
        crate::exec::human_duration(t.cpu),
        t.max_rss_kib / 1024,
        indent = t.depth * 2,
    )
}

/// The stages finished so far, in the order they finished (a nested stage before its parent).
pub fn recorded() -> Vec<Timing> {
    RECORDED.lock().map(|l| l.clone()).unwrap_or_default()
}

/// The recorded stages as text, one line each, indented by depth.
pub fn report() -> String {
    let mut out = String::from(
        "stage timings (wall, client CPU, peak RSS, peak heap, heap at end, ended at):\n",
    );
    for t in recorded() {
        out.push_str(&format!(
            "  {:indent$}{:<w$} {:>9.3} s {:>9.3} s {:>7} MiB {:>7} MiB {:>7} MiB {:>8.3} s\n",
            "",
            t.stage,
            t.wall.as_secs_f64(),
            t.cpu.as_secs_f64(),
            t.max_rss_kib / 1024,
            t.peak_heap >> 20,
            t.heap_at_end >> 20,
            t.ended.as_secs_f64(),
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

/// Bytes allocated and not yet freed since counting started, and the most there ever were
/// ([`Counting`]).
static HEAP: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

/// Bytes in use now, as [`Counting`] counts them (0 while it does not count).
pub fn heap_in_use() -> usize {
    HEAP.load(Ordering::Relaxed).max(0) as usize
}

/// Whether [`Counting`] counts: set by the binary when `SCHEMAPLAN_TIMINGS` is (the
/// `peak heap` column of [`report`]); otherwise each allocation pays one relaxed load.
pub static COUNTING: AtomicBool = AtomicBool::new(false);

/// An allocator (the binary's global one) counting the bytes in use and their peak while
/// [`COUNTING`] is on. The sizes are those asked for (as heaptrack counts them), not what
/// the allocator takes for them.
pub struct Counting<A>(pub A);

fn counted(delta: isize) {
    if COUNTING.load(Ordering::Relaxed) {
        let now = HEAP.fetch_add(delta, Ordering::Relaxed) + delta;
        if delta > 0 {
            PEAK.fetch_max(now.max(0) as usize, Ordering::Relaxed);
        }
    }
}

// SAFETY: every call is passed on to the inner allocator unchanged; the counting touches
// atomics only.
unsafe impl<A: GlobalAlloc> GlobalAlloc for Counting<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = self.0.alloc(layout);
        if !p.is_null() {
            counted(layout.size() as isize);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = self.0.alloc_zeroed(layout);
        if !p.is_null() {
            counted(layout.size() as isize);
        }
        p
    }

    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        self.0.dealloc(p, layout);
        counted(-(layout.size() as isize));
    }

    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new: usize) -> *mut u8 {
        let q = self.0.realloc(p, layout, new);
        if !q.is_null() {
            counted(new as isize - layout.size() as isize);
        }
        q
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_stages_record_their_depth_and_end_before_their_parent() {
        stage("outer (test)", || {
            let _inner = start("inner (test)");
        });
        let mine: Vec<(&str, usize)> = recorded()
            .iter()
            .filter(|t| t.stage.ends_with("(test)"))
            .map(|t| (t.stage, t.depth))
            .collect();
        assert_eq!(mine, [("inner (test)", 1), ("outer (test)", 0)]);
    }
}
