//! The `schemaplan` binary: everything lives in the library; see `cli`.

/// The system allocator, counting the heap for `SCHEMAPLAN_TIMINGS`'s `peak heap` column.
#[global_allocator]
static GLOBAL: schemaplan::timings::Counting<std::alloc::System> =
    schemaplan::timings::Counting(std::alloc::System);

fn main() {
    if std::env::var_os("SCHEMAPLAN_TIMINGS").is_some_and(|v| !v.is_empty() && v != "0") {
        schemaplan::timings::COUNTING.store(true, std::sync::atomic::Ordering::Relaxed);
    }
    tune_malloc();
    std::process::exit(schemaplan::cli::run());
}

/// How glibc's malloc serves schemaplan, unless the environment sets the same parameter
/// (`MALLOC_ARENA_MAX`, `MALLOC_MMAP_THRESHOLD_`):
///
/// - **One arena for the whole process.** glibc gives threads that allocate at the same time
///   arenas of their own, and memory freed in one arena is never reused by another: the live
///   catalog read runs on a thread beside the source stage and the desired schema's load
///   (`workflow::sides`), so each kept its own high-water mark and the peak RSS was their sum.
///   At 5,000 tables (docs/benchmarks.md) `drift` peaked at 385 MiB with the default arenas
///   and 306 MiB with one; the few threads schemaplan runs lose nothing measurable to sharing
///   one.
/// - **Blocks of 128 KiB and more are mapped on their own, always.** glibc starts there but
///   raises the threshold to the size of every mapped block freed (up to 32 MiB), after which
///   the big buffers of a run (a query's rows, a map's table, a decoded cache file's lists)
///   come from the heap, and the heap keeps the room they leave when freed: at 5,000 tables a
///   warm `plan` peaked at ~318 MiB RSS for a ~224 MiB heap, and ~275 MiB with the threshold
///   held (docs/benchmarks.md, "Memory (session 19)"). A mapped block goes back to the system
///   when freed; the few big allocations of a run cost a system call each.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn tune_malloc() {
    // SAFETY: mallopt only sets a parameter of the allocator; called before any thread is
    // started.
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 1);
        }
    }
    if std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_none() {
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 128 << 10);
        }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_malloc() {}
