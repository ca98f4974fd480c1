//! What one schema's parts cost on the heap (issue 9): loads a cached catalog reading
//! (`<cache>/pg<major>/readings/*.reading`) and drops its parts one by one, printing the
//! bytes each one freed. `cargo run --release --example schema_size -- FILE`.

use schemaplan::model::Schema;
use schemaplan::timings::{heap_in_use, Counting, COUNTING};
use std::sync::atomic::Ordering;

#[global_allocator]
static GLOBAL: Counting<std::alloc::System> = Counting(std::alloc::System);

fn main() {
    let path = std::env::args().nth(1).expect("a .reading file");
    COUNTING.store(true, Ordering::Relaxed);
    let start = heap_in_use();
    let (_, mut s): (String, Schema) =
        schemaplan::shadow::reading::load_any(std::path::Path::new(&path)).expect("a reading");
    let total = heap_in_use() - start;
    println!("schema: {:.1} MiB", total as f64 / 1048576.0);
    let mut last = heap_in_use();
    let mut freed = |what: &str, n: usize| {
        let now = heap_in_use();
        println!("{:>8.1} MiB  {what} ({n})", (last - now) as f64 / 1048576.0);
        last = now;
    };
    let n = s.tables.values().map(|t| t.columns.len()).sum();
    s.tables
        .values_mut()
        .for_each(|t| drop(std::mem::take(&mut t.columns)));
    freed("table columns", n);
    let n = s.tables.values().map(|t| t.constraints.len()).sum();
    s.tables
        .values_mut()
        .for_each(|t| drop(std::mem::take(&mut t.constraints)));
    freed("table constraints", n);
    let n = s.tables.len();
    drop(std::mem::take(&mut s.tables));
    freed("tables (rest)", n);
    let n = s.depends.values().map(|d| d.len()).sum();
    s.depends.values_mut().for_each(|d| drop(std::mem::take(d)));
    freed("depends targets", n);
    let n = s.depends.len();
    drop(std::mem::take(&mut s.depends));
    freed("depends keys", n);
    macro_rules! part {
        ($($f:ident),*) => {$(
            let n = s.$f.len();
            drop(std::mem::take(&mut s.$f));
            freed(stringify!($f), n);
        )*};
    }
    part!(
        indexes,
        views,
        functions,
        triggers,
        comments,
        grants,
        owners,
        sizes,
        types,
        sequences,
        policies,
        unmodeled,
        unmodeled_deps,
        schemas,
        rules,
        statistics
    );
    drop(s);
    freed("the rest", 0);
}
