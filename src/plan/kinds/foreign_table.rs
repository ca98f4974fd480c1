//! Foreign tables (`CREATE / ALTER / DROP FOREIGN TABLE`): a table ([`Table::foreign`]) whose
//! rows live behind a foreign server. Columns, defaults, NOT NULL, CHECK constraints (never
//! verified against the remote rows: PostgreSQL trusts them), inheritance, comments, owners and
//! grants go through the table kinds (`table.rs`, `column.rs`, `constraint.rs`): `ALTER TABLE`
//! accepts foreign tables for all of those, and their size is 0, so no online form is chosen.
//! What is foreign-specific lives here:
//!
//! - the `CREATE FOREIGN TABLE` head and its `SERVER s OPTIONS (...)` tail (a partition:
//!   `PARTITION OF parent FOR VALUES ... SERVER s`, whose column options cannot be written in
//!   the statement and follow as `ALTER COLUMN ... OPTIONS (ADD ...)`);
//! - `ALTER FOREIGN TABLE ... OPTIONS (ADD / SET / DROP)` for table options and
//!   `ALTER COLUMN ... OPTIONS (...)` for column options, in place;
//! - `DROP FOREIGN TABLE`: no rows are lost (the table holds none locally; the remote data is
//!   untouched), so neither hazard `data-loss` nor `irreversible`. A new server is therefore
//!   set by dropping and creating the table again (`diff/relations.rs`, and the closure over a
//!   server that is created again: `diff/closure.rs`).
//!
//! Locks: every `ALTER FOREIGN TABLE` here and `DROP FOREIGN TABLE` take ACCESS EXCLUSIVE on the
//! foreign table alone (a catalog change; nothing is scanned, no remote is contacted). Options
//! are written as for servers (`foreign_data_wrapper.rs`): a secret is never printed, and a plan
//! that would write one is refused before planning (`workflow::secrets`).

use super::foreign_data_wrapper::{alter_options_clause, options_clause};
use crate::model::*;
use crate::plan::graph::{Chain, Node, Rank};
use crate::plan::{Ctx, LockLevel};
use crate::render::quote::{ident, qname};

/// `ALTER FOREIGN TABLE name`.
pub(super) fn alter_foreign_table(q: &QName) -> String {
    format!("ALTER FOREIGN TABLE {}", qname(q))
}

/// What follows the column list (or a partition's bound): ` SERVER s OPTIONS (...);`.
pub(super) fn server_clause(f: &ForeignTable) -> String {
    format!(
        " SERVER {}{};",
        ident(&f.server),
        options_clause(&f.options)
    )
}

/// `ALTER FOREIGN TABLE ... OPTIONS (...)` turning `from`'s table options into `to`'s.
pub(super) fn alter_options(name: &QName, from: &ForeignTable, to: &ForeignTable) -> String {
    format!(
        "{}{};",
        alter_foreign_table(name),
        alter_options_clause(&from.options, &to.options)
    )
}

/// ` OPTIONS (ADD ...)` sub-command of `ALTER COLUMN` turning a column's options `from` into
/// `to` (empty when equal).
pub(super) fn column_options_change(col: &str, from: &[FdwOption], to: &[FdwOption]) -> String {
    let clause = alter_options_clause(from, to);
    if clause.is_empty() {
        String::new()
    } else {
        format!("ALTER COLUMN {}{clause}", ident(col))
    }
}

/// A foreign partition's column options, which `CREATE FOREIGN TABLE ... PARTITION OF` cannot
/// carry: one `ALTER FOREIGN TABLE ... ALTER COLUMN c OPTIONS (ADD ...)` per column that has
/// some, in the same statement batch as the `CREATE`.
pub(super) fn partition_column_options(t: &Table) -> String {
    t.columns
        .iter()
        .map(|c| column_options_change(&c.name, &[], &c.fdw_options))
        .filter(|s| !s.is_empty())
        .map(|s| format!("\n{} {s};", alter_foreign_table(&t.name)))
        .collect()
}

/// `DROP FOREIGN TABLE`: nothing local is lost, the step says so.
pub fn drop(ctx: &Ctx, t: &Table, removes: Vec<ObjectId>) -> Chain {
    let id = ObjectId::Table(t.name.clone());
    let server = t.foreign.as_ref().map(|f| f.server.as_str()).unwrap_or("");
    let step = ctx
        .step(
            format!("drop foreign table {}", t.name),
            format!("DROP FOREIGN TABLE {};", qname(&t.name)),
            LockLevel::AccessExclusive,
            Some(&t.name),
        )
        .note(format!(
            "no rows are lost: a foreign table holds none locally (they stay behind server \
             {server}); queries on it fail until it exists again"
        ));
    let mut n = Node::new(step, id.clone());
    n.removes.push(id);
    n.removes.extend(removes);
    n.frees.push(t.name.clone());
    n.rank = Rank::Drop;
    vec![n]
}
