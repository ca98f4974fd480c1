//! CPU of a schema's fingerprint and object digests (issue 9): what a plan pays twice (its
//! `from` and its target schema, `catalog::fingerprint_and_digests`) and `apply`/`drift` pay
//! once (`catalog::fingerprint`).
//!
//! Reads the schema of a live database once (e.g. one loaded with the plan-scale benchmark's
//! `generate.py` files), then times each function on it, ROUNDS times, in this thread's CPU
//! time (`CLOCK_THREAD_CPUTIME_ID`: not wall time, the machine may be shared), and prints the
//! values it computed, so that two builds can be compared on the same database (same
//! fingerprint, same digests):
//!
//! ```sh
//! FINGERPRINT_BENCH_URL=postgresql://postgres@127.0.0.1:5432/db cargo bench --bench fingerprint
//! FINGERPRINT_BENCH_ROUNDS=9 ... cargo bench --bench fingerprint
//! ```
//! It prints the numbers only: no assertion on timings (docs/benchmarks.md records a run).

use schemaplan::catalog;

/// This thread's CPU time so far, in seconds.
fn thread_cpu() -> f64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid timespec to write into.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    assert_eq!(rc, 0, "clock_gettime");
    t.tv_sec as f64 + t.tv_nsec as f64 / 1e9
}

/// Seconds of this thread's CPU `f` took, and what it returned.
fn cpu<T>(f: impl FnOnce() -> T) -> (f64, T) {
    let start = thread_cpu();
    let out = f();
    (thread_cpu() - start, out)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing: skip there.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let Ok(url) = std::env::var("FINGERPRINT_BENCH_URL") else {
        eprintln!("fingerprint: set FINGERPRINT_BENCH_URL to a database to read; skipped");
        return;
    };
    let rounds: usize = std::env::var("FINGERPRINT_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let mut client = postgres::Client::connect(&url, postgres::NoTls).expect("connect");
    let (read_cpu, schema) = cpu(|| catalog::read(&mut client).expect("catalog read"));
    drop(client);
    let (mut both, mut alone) = (Vec::new(), Vec::new());
    let mut values = None;
    for _ in 0..rounds {
        let (t, (fingerprint, digests)) = cpu(|| catalog::fingerprint_and_digests(&schema));
        both.push(t);
        let (t, alone_fingerprint) = cpu(|| catalog::fingerprint(&schema));
        alone.push(t);
        assert_eq!(fingerprint, alone_fingerprint);
        values = Some((fingerprint, digests));
    }
    let (fingerprint, digests) = values.expect("at least one round");
    // one line for all digests, to compare two builds' values
    let all: String = digests.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
    let digest_of_digests = {
        use sha2::Digest;
        sha2::Sha256::digest(all.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    println!(
        "tables {} objects with digests {} catalog read (client CPU) {read_cpu:.3} s",
        schema.tables.len(),
        digests.len()
    );
    println!(
        "fingerprint_and_digests CPU: median {:.3} s, min {:.3} s ({rounds} rounds: {})",
        median(both.clone()),
        both.iter().copied().fold(f64::INFINITY, f64::min),
        both.iter()
            .map(|t| format!("{t:.3}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!(
        "fingerprint alone CPU: median {:.3} s, min {:.3} s",
        median(alone.clone()),
        alone.iter().copied().fold(f64::INFINITY, f64::min)
    );
    println!("fingerprint {fingerprint}\ndigests {digest_of_digests}");
}
