//! Work that must grow linearly with the size of the schema (issue 9), checked by counting
//! work, never by timing it.
//!
//! The catalog queries run on freshly loaded databases (the shadow), whose catalogs'
//! statistics are stale: the planner then believes the catalogs are as small as in
//! `template1`. A per-row subquery it can answer through the wrong index becomes a scan per
//! row. These tests load a schema the way the shadow does and count the catalog rows a query
//! touched (`EXPLAIN ANALYZE`: rows returned plus rows removed by filters, times loops).

mod common;

/// Catalog rows a query touched, from its `EXPLAIN (ANALYZE, FORMAT JSON)` plan.
fn rows_touched(client: &mut postgres::Client, sql: &str) -> f64 {
    client.batch_execute("SET search_path = ''").unwrap();
    let text: String = client
        .simple_query(&format!("EXPLAIN (ANALYZE, FORMAT JSON) {sql}"))
        .unwrap()
        .into_iter()
        .find_map(|m| match m {
            postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
            _ => None,
        })
        .expect("a plan");
    let plan: serde_json::Value = serde_json::from_str(&text).unwrap();
    fn walk(node: &serde_json::Value) -> f64 {
        let n = |k: &str| node.get(k).and_then(|v| v.as_f64()).unwrap_or(0.0);
        // Actual Rows and Rows Removed are averages per loop.
        let here =
            (n("Actual Rows") + n("Rows Removed by Filter") + n("Rows Removed by Join Filter"))
                * node
                    .get("Actual Loops")
                    .and_then(|v| v.as_f64())
                    .unwrap_or(1.0);
        here + node
            .get("Plans")
            .and_then(|p| p.as_array())
            .map_or(0.0, |plans| plans.iter().map(walk).sum())
    }
    walk(&plan[0]["Plan"])
}

/// The index query found each index's owning constraint with a subquery on `pg_depend` per
/// index; on a freshly loaded database it was planned through `pg_depend`'s index on the
/// referenced side, reading every constraint's dependency for every index (some 700 rows per
/// index at 500 tables, 7,000 at 2,000: 25 s of a 2,000-table `drift`). Joined with
/// `pg_constraint` instead, it reads a few rows per index at any size.
#[test]
fn index_query_reads_a_few_catalog_rows_per_index_on_a_freshly_loaded_database() {
    const TABLES: usize = 500;
    let server = common::server();
    let (name, _url) = server.fresh_db("scale_indexes");
    let mut client = server.connect(&name);
    let mut sql = String::new();
    for i in 0..TABLES {
        sql.push_str(&format!(
            "CREATE TABLE public.t{i} (id bigint PRIMARY KEY, name text, code text UNIQUE);\n\
             CREATE INDEX t{i}_name ON public.t{i} (name);\n"
        ));
    }
    // One transaction, like `psql -1`; no ANALYZE afterwards, like the shadow.
    client
        .batch_execute(&format!("BEGIN; {sql} COMMIT;"))
        .unwrap();
    let touched = rows_touched(&mut client, include_str!("../src/catalog/sql/indexes.sql"));
    let indexes = (TABLES * 3) as f64;
    assert!(
        touched <= 40.0 * indexes,
        "the index query touched {touched} catalog rows for {indexes} indexes"
    );
    // And the reader still tells constraint indexes from plain ones.
    let schema = schemaplan::catalog::read(&mut client).unwrap();
    assert_eq!(schema.indexes.len(), TABLES);
    assert_eq!(
        schema
            .tables
            .values()
            .map(|t| t.constraints.len())
            .sum::<usize>(),
        TABLES * 2
    );
    drop(client);
    server.drop_db(&name);
}
