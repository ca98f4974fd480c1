//! The oracles of the property test that read databases: the schema (schemaplan's catalog
//! reader and `pg_dump --schema-only` normalized by the corpus's `converge.py`, as
//! `tests/fixtures.rs` compares them) and the rows (every value of every column, as text, keyed
//! by the unit's row key `id`).

use std::collections::BTreeMap;

use super::gen::{Case, Table, Ty};
use crate::common::oracle::{dump_differences, normalized_dump};

/// Both views of a database's schema.
pub struct Snapshot {
    schema: schemaplan::model::Schema,
    dump: Vec<String>,
}

pub fn read_state(url: &str) -> Result<Snapshot, String> {
    let mut client = schemaplan::db::connect(url).map_err(|e| format!("connect: {e}"))?;
    let schema = schemaplan::catalog::read(&mut client).map_err(|e| format!("catalog: {e}"))?;
    Ok(Snapshot {
        schema,
        dump: normalized_dump(url)?,
    })
}

/// Empty when equal; else what differs (`got` is the database under test).
pub fn compare(got: &Snapshot, want: &Snapshot, what: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let changes = schemaplan::diff::diff(&got.schema, &want.schema);
    if !changes.is_empty() {
        problems.push(format!(
            "catalog differs from {what} ({} change(s) still needed):\n{}",
            changes.len(),
            schemaplan::workflow::describe(&changes).trim_end()
        ));
    }
    problems.extend(dump_differences(&got.dump, &want.dump, what));
    problems
}

/// The values of some columns of one table: row key (`id` as text) -> value as text per column.
pub type Rows = BTreeMap<String, Vec<Option<String>>>;

/// `SELECT id::text, c1::text, ... FROM public.<table>`.
pub fn read_rows(
    client: &mut postgres::Client,
    table: &str,
    cols: &[String],
) -> Result<Rows, String> {
    let list: Vec<String> = std::iter::once("id".to_string())
        .chain(cols.iter().cloned())
        .map(|c| format!("{c}::text"))
        .collect();
    let sql = format!("SELECT {} FROM public.{table}", list.join(", "));
    let rows = client
        .query(sql.as_str(), &[])
        .map_err(|e| format!("{sql}: {}", schemaplan::db::error_text(&e)))?;
    Ok(rows
        .iter()
        .map(|r| {
            let key: String = r.get(0);
            let vals = (1..=cols.len())
                .map(|i| r.get::<_, Option<String>>(i))
                .collect();
            (key, vals)
        })
        .collect())
}

/// The rows of every unit's `before` table (all its columns), keyed by unit index.
pub fn read_before(
    client: &mut postgres::Client,
    case: &Case,
) -> Result<BTreeMap<usize, Rows>, String> {
    let mut out = BTreeMap::new();
    for (i, u) in case.units.iter().enumerate() {
        if let Some(t) = &u.before {
            out.insert(i, read_rows(client, &t.name, &col_names(t))?);
        }
    }
    Ok(out)
}

pub fn col_names(t: &Table) -> Vec<String> {
    t.cols.iter().map(|c| c.name.clone()).collect()
}

/// Whether `after` (text of a value of the new type) is `before` (text of the old type's value)
/// once cast back to the old type: `numeric(10,2)` `1.50` -> `numeric(12,4)` `1.5000` and
/// `integer` `-931` -> `numeric(12,2)` `-931.00` keep the value, `text` `abcdefgh` ->
/// `varchar(5)` `abcde` does not. A value the old type cannot take back (an error) is a change.
pub fn same_value(
    client: &mut postgres::Client,
    before: &Option<String>,
    after: &Option<String>,
    old: &Ty,
    new: &Ty,
    base: &str,
) -> bool {
    match (before, after) {
        (None, None) => true,
        (Some(b), Some(a)) if a == b => true,
        (Some(b), Some(a)) => {
            let sql = format!(
                "SELECT (($1::text)::{new}::{old})::text",
                new = new.sql(base),
                old = old.sql(base)
            );
            match client.query_one(sql.as_str(), &[a]) {
                Ok(r) => r.get::<_, String>(0) == *b,
                Err(_) => false,
            }
        }
        _ => false,
    }
}

/// For a column of unit table `t` changing from `old` to `new`: the rows (keys) whose value the
/// type change cannot keep, judged on the live `before` database: the value cast explicitly to
/// the new type (PostgreSQL's explicit casts truncate and round) and read back as the old type
/// differs, or the cast fails. Empty: the change keeps every value of this data.
pub fn lossy_rows(
    client: &mut postgres::Client,
    t: &Table,
    col: &str,
    old: &Ty,
    new: &Ty,
) -> Vec<String> {
    let rows = match read_rows(client, &t.name, &[col.to_string()]) {
        Ok(r) => r,
        Err(_) => return vec!["<unreadable>".into()],
    };
    let mut bad = Vec::new();
    for (key, vals) in rows {
        let Some(v) = &vals[0] else { continue };
        let sql = format!(
            "SELECT (($1::text)::{old}::{new})::{old}::text",
            old = old.sql(&t.base),
            new = new.sql(&t.base)
        );
        let same = match client.query_one(sql.as_str(), &[v]) {
            Ok(r) => r.get::<_, String>(0) == *v,
            Err(_) => false,
        };
        if !same {
            bad.push(key);
        }
    }
    bad
}
