//! The catalog read never JIT-compiles its queries (issue 9).
//!
//! Why it matters: on a server built with LLVM (Debian's, most packages) `jit` is on by
//! default, and the planner's estimates of the big catalog queries are far above
//! `jit_above_cost`: each was compiled to machine code before it ran, 0.6 s for the `columns`
//! query alone at 5,000 tables, on every read of a live database (and of a `--dev-url`
//! shadow). The read turns it off for its own transaction (`catalog::read_frame`).
//!
//! The server here compiles every query (`jit_above_cost = 0`) and counts what it compiled
//! per statement (`pg_stat_statements.jit_functions`, PostgreSQL 15+); the test first shows
//! that a catalog query run outside the read *is* compiled, so it cannot pass on a server
//! that never compiles anything.

use schemaplan::shadow::cluster::{self, Cluster, StartOptions};

/// Statements pg_stat_statements counted since the last reset whose text matches `pattern`:
/// how many, and how many functions JIT compiled for them.
fn counted(client: &mut postgres::Client, pattern: &str) -> (i64, i64) {
    let row = client
        .query_one(
            "SELECT count(*), coalesce(sum(jit_functions), 0)::int8 FROM pg_stat_statements \
             WHERE query ~ $1",
            &[&pattern],
        )
        .unwrap();
    (row.get(0), row.get(1))
}

#[test]
fn the_catalog_read_compiles_no_query_on_a_server_that_jit_compiles_every_query() {
    let bindir = cluster::find_bindir(None).expect("PostgreSQL binaries");
    let port = cluster::free_port().expect("a free port");
    let mut c = Cluster::init_temp(&bindir, port).expect("initdb");
    let conf = c.data_dir().join("postgresql.conf");
    let mut text = std::fs::read_to_string(&conf).unwrap();
    // After the cluster's own `jit = off`: the last setting in the file wins.
    text.push_str(
        "\nshared_preload_libraries = 'pg_stat_statements'\njit = on\njit_above_cost = 0\n\
         jit_inline_above_cost = -1\njit_optimize_above_cost = -1\n",
    );
    std::fs::write(&conf, text).unwrap();
    c.start(StartOptions {
        detach: false,
        die_with_parent: true,
    })
    .expect("start the server");
    let mut client = schemaplan::db::connect(&c.admin_url()).unwrap_or_else(|e| panic!("{e}"));
    let row = client
        .query_one(
            "SELECT pg_jit_available(), current_setting('server_version_num')::int",
            &[],
        )
        .unwrap();
    let (available, version): (bool, i32) = (row.get(0), row.get(1));
    if !available || version < 150000 {
        // Without LLVM nothing is ever compiled; before 15 pg_stat_statements does not count
        // it. Said, not silent: this run proves nothing about JIT.
        eprintln!(
            "skipped: JIT available {available}, server {version} (needs LLVM and 15+ to count)"
        );
        return;
    }
    client
        .batch_execute(
            "CREATE EXTENSION pg_stat_statements;
             CREATE TABLE public.t (id int PRIMARY KEY, v text DEFAULT 'x' CHECK (v <> ''));
             CREATE VIEW public.w AS SELECT id, upper(v) AS u FROM public.t;",
        )
        .unwrap();

    // The server compiles: a catalog query of this session, outside the read, is compiled.
    client
        .batch_execute("SELECT pg_stat_statements_reset()")
        .unwrap();
    client
        .query(
            "SELECT a.attname FROM pg_catalog.pg_attribute a \
             JOIN pg_catalog.pg_class jc ON jc.oid = a.attrelid WHERE a.attnum > 0",
            &[],
        )
        .unwrap();
    let (_, compiled) = counted(&mut client, "pg_class jc");
    assert!(
        compiled > 0,
        "the server did not JIT-compile the control query"
    );

    // The read: its queries ran (counted), none was compiled.
    client
        .batch_execute("SELECT pg_stat_statements_reset()")
        .unwrap();
    let schema = schemaplan::catalog::read(&mut client).unwrap();
    assert!(
        schema.views.keys().any(|q| q.name == "w"),
        "the read saw the view"
    );
    let (queries, compiled) = counted(&mut client, "pg_attribute|pg_constraint|pg_depend");
    assert!(
        queries > 0,
        "pg_stat_statements counted none of the read's queries"
    );
    assert_eq!(
        compiled, 0,
        "the catalog read JIT-compiled {compiled} function(s) over {queries} queries"
    );
}
