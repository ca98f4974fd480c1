//! The `schemaplan` binary: everything lives in the library; see `cli`.

/// The system allocator, counting the heap for `SCHEMAPLAN_TIMINGS`'s `peak heap` column.
#[global_allocator]
static GLOBAL: schemaplan::timings::Counting<std::alloc::System> =
    schemaplan::timings::Counting(std::alloc::System);

fn main() {
    if std::env::var_os("SCHEMAPLAN_TIMINGS").is_some_and(|v| !v.is_empty() && v != "0") {
        schemaplan::timings::COUNTING.store(true, std::sync::atomic::Ordering::Relaxed);
    }
    one_malloc_arena();
    std::process::exit(schemaplan::cli::run());
}

/// One malloc arena for the whole process, unless `MALLOC_ARENA_MAX` says otherwise. glibc
/// gives threads that allocate at the same time arenas of their own, and memory freed in one
/// arena is never reused by another: the live catalog read runs on a thread beside the source
/// stage and the desired schema's load (`workflow::sides`), so each kept its own high-water
/// mark and the peak RSS was their sum. At 5,000 tables (docs/benchmarks.md) `drift` peaked
/// at 385 MiB with the default arenas and 306 MiB with one; the few threads schemaplan runs
/// lose nothing measurable to sharing one.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn one_malloc_arena() {
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only sets a parameter of the allocator; called before any thread
        // is started.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 1);
        }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn one_malloc_arena() {}
