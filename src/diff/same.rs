//! The cheap question before the diff: are two schemas the same as far as the diff can tell?
//! ([`same`]). The proof compares each reading of its database with what it must equal
//! (`workflow::prove`), and almost always it does: there the diff itself (0.5-0.9 s at 5,000
//! tables) would only confirm it, so the proof asks [`same`] first and diffs only to explain a
//! difference (issue 9).
//!
//! The one rule: [`same`] never says "the same" where [`super::diff`] finds a change. It
//! compares every field the diff reads with `==` (stricter than the diff, which normalises
//! some things: such schemas are "not the same" here and the diff decides), but for the order
//! of a table's columns, which the diff never reads (it matches columns by name; PostgreSQL
//! cannot reorder them). The inverse of a plan that drops a column adds it back last: the
//! proof's reading that differed from the current schema there alone was held as the schema
//! the inverse must reach, a whole schema more at the peak of such a plan, and it made the
//! next reading copy its splice base (issue 9). It leaves out only what the diff never reads:
//! `sizes` (plan-time facts), `unmodeled` and `unmodeled_deps` (`workflow::unmodeled` handles
//! those). Owners are compared as the diff compares them: only where both sides list one
//! (`owners.rs`). A field added to `Schema` or `Table` does not compile here until it is
//! placed in one group or the other. The fixture suite checks the rule on every schema it
//! reads (`tests/fixtures.rs`, `compare`).

use crate::model::{QName, Schema, Table};
use std::collections::BTreeMap;

/// Whether `diff(current, desired)` is certainly empty, decided without diffing: see the
/// module doc. `false` says nothing (the diff may still find nothing).
pub fn same(current: &Schema, desired: &Schema) -> bool {
    // Every field by name, so that a new field must be placed here.
    let Schema {
        schemas,
        extensions,
        collations,
        types,
        sequences,
        tables,
        indexes,
        views,
        functions,
        triggers,
        policies,
        publications,
        publication_tables,
        publication_schemas,
        event_triggers,
        foreign_data_wrappers,
        foreign_servers,
        user_mappings,
        casts,
        ts_dictionaries,
        ts_configurations,
        operators,
        operator_families,
        operator_classes,
        access_methods,
        conversions,
        languages,
        statistics,
        rules,
        comments,
        grants,
        default_privileges,
        depends,
        owners,
        // never read by the diff
        unmodeled: _,
        unmodeled_deps: _,
        sizes: _,
    } = current;
    let d = desired;
    // The big collections last: most unequal pairs differ in a table or an index, and `&&`
    // stops at the first difference anyway.
    *schemas == d.schemas
        && *extensions == d.extensions
        && *collations == d.collations
        && *types == d.types
        && *sequences == d.sequences
        && *views == d.views
        && *functions == d.functions
        && *triggers == d.triggers
        && *policies == d.policies
        && *publications == d.publications
        && *publication_tables == d.publication_tables
        && *publication_schemas == d.publication_schemas
        && *event_triggers == d.event_triggers
        && *foreign_data_wrappers == d.foreign_data_wrappers
        && *foreign_servers == d.foreign_servers
        && *user_mappings == d.user_mappings
        && *casts == d.casts
        && *ts_dictionaries == d.ts_dictionaries
        && *ts_configurations == d.ts_configurations
        && *operators == d.operators
        && *operator_families == d.operator_families
        && *operator_classes == d.operator_classes
        && *access_methods == d.access_methods
        && *conversions == d.conversions
        && *languages == d.languages
        && *statistics == d.statistics
        && *rules == d.rules
        && *comments == d.comments
        && *grants == d.grants
        && *default_privileges == d.default_privileges
        && same_tables(tables, &d.tables)
        && *indexes == d.indexes
        && *depends == d.depends
        // the diff compares an owner only where both sides list one (`owners.rs`)
        && d
            .owners
            .iter()
            .all(|(id, o)| owners.get(id).is_none_or(|live| live == o))
}

/// The tables, each [`same_table`].
fn same_tables(a: &BTreeMap<QName, Table>, b: &BTreeMap<QName, Table>) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|((qa, ta), (qb, tb))| qa == qb && same_table(ta, tb))
}

/// Two tables equal but perhaps for the order of their columns (module doc). Every field by
/// name, so that a new field must be placed here.
fn same_table(a: &Table, b: &Table) -> bool {
    if a == b {
        return true;
    }
    let Table {
        name,
        kind,
        unlogged,
        columns,
        constraints,
        partition_key,
        partition_key_columns,
        key_copies,
        unvalidated_copies,
        partition_of,
        inherits,
        options,
        rls_enabled,
        rls_forced,
        replica_identity,
        access_method,
        foreign,
    } = a;
    // A table's column names are unique: as many columns, each found equal by name, is the
    // same columns in another order.
    columns.len() == b.columns.len()
        && columns.iter().all(|c| b.column(&c.name) == Some(c))
        && *name == b.name
        && *kind == b.kind
        && *unlogged == b.unlogged
        && *constraints == b.constraints
        && *partition_key == b.partition_key
        && *partition_key_columns == b.partition_key_columns
        && *key_copies == b.key_copies
        && *unvalidated_copies == b.unvalidated_copies
        && *partition_of == b.partition_of
        && *inherits == b.inherits
        && *options == b.options
        && *rls_enabled == b.rls_enabled
        && *rls_forced == b.rls_forced
        && *replica_identity == b.replica_identity
        && *access_method == b.access_method
        && *foreign == b.foreign
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ObjectId, QName, Unmodeled};

    fn with_table(name: &str) -> Schema {
        let mut s = Schema::default();
        let q = QName::new("public", name);
        s.tables.insert(
            q.clone(),
            crate::model::Table {
                name: q,
                kind: crate::model::TableKind::Ordinary,
                unlogged: false,
                columns: Vec::new(),
                constraints: Default::default(),
                partition_key: None,
                partition_key_columns: Vec::new(),
                key_copies: Default::default(),
                unvalidated_copies: Default::default(),
                partition_of: None,
                inherits: Vec::new(),
                options: Vec::new(),
                rls_enabled: false,
                rls_forced: false,
                replica_identity: crate::model::ReplicaIdentity::Default,
                access_method: None,
                foreign: None,
            },
        );
        s
    }

    /// What the diff never reads does not make two schemas different, and each answer agrees
    /// with the diff.
    #[test]
    fn same_ignores_what_the_diff_ignores_and_nothing_else() {
        let a = with_table("t");
        let mut b = a.clone();
        let q = QName::new("public", "t");
        b.sizes.insert(q.clone(), 8192);
        b.unmodeled.insert(Unmodeled {
            kind: "rule".into(),
            identity: "r on public.t".into(),
        });
        // an owner only one side lists
        b.owners.insert(ObjectId::Table(q.clone()), "alice".into());
        assert!(same(&a, &b) && same(&b, &a));
        assert!(super::super::diff(&a, &b).is_empty());
        assert!(super::super::diff(&b, &a).is_empty());

        let mut c = a.clone();
        c.owners.insert(ObjectId::Table(q.clone()), "bob".into());
        assert!(!same(&b, &c), "an owner both sides list, different");
        assert!(!super::super::diff(&b, &c).is_empty());

        let other = with_table("u");
        assert!(!same(&a, &other));
        assert!(!super::super::diff(&a, &other).is_empty());

        // Columns in another order (a dropped column added back last): the diff matches
        // them by name; a column that differs is a change either way.
        let column = crate::model::Column::plain;
        let mut ordered = a.clone();
        ordered.tables.get_mut(&q).unwrap().columns = vec![column("a", "int"), column("b", "text")];
        let mut reordered = a.clone();
        reordered.tables.get_mut(&q).unwrap().columns =
            vec![column("b", "text"), column("a", "int")];
        assert!(same(&ordered, &reordered) && same(&reordered, &ordered));
        assert!(super::super::diff(&ordered, &reordered).is_empty());
        assert!(super::super::diff(&reordered, &ordered).is_empty());
        let mut retyped = a.clone();
        retyped.tables.get_mut(&q).unwrap().columns =
            vec![column("b", "integer"), column("a", "int")];
        assert!(!same(&ordered, &retyped) && !same(&retyped, &ordered));
        assert!(!super::super::diff(&ordered, &retyped).is_empty());
        let mut fewer = a.clone();
        fewer.tables.get_mut(&q).unwrap().columns = vec![column("a", "int")];
        assert!(!same(&ordered, &fewer) && !same(&fewer, &ordered));
        assert!(!super::super::diff(&ordered, &fewer).is_empty());

        let mut commented = a.clone();
        commented
            .comments
            .insert(ObjectId::Table(q), "a table".into());
        assert!(!same(&a, &commented));
        assert!(!super::super::diff(&a, &commented).is_empty());
    }
}
