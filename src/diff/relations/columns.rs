//! The columns of a table both schemas have: added, dropped, and what changes on each
//! (type, default, NOT NULL, identity, generation, storage, ...).

use super::*;

pub(super) fn diff_columns(d: &mut Differ, have: &Table, want: &Table) {
    let t = &want.name;
    // A partition moving to a re-created partitioned table is a table of its own in between
    // (detached): its columns change on it, as the new partitioned table's do not reach it.
    let own = d.reparented(t);
    // The ids are made only for the columns that need one: this runs for every column of
    // every table both schemas have.
    let any_replaced = d
        .replaced
        .iter()
        .any(|x| matches!(x, ObjectId::Column(q, _) if q == t));
    for col in &want.columns {
        let id = || ObjectId::Column(t.clone(), col.name.clone());
        match have.column(&col.name) {
            None if !col.declared_locally() && !own => {}
            None => {
                d.push(Change::AddColumn {
                    table: t.clone(),
                    column: col.clone(),
                });
                d.created(id());
            }
            Some(old) if any_replaced && d.is_replaced(&id()) => {
                d.push(Change::DropColumn {
                    table: t.clone(),
                    column: old.clone(),
                });
                // An own column to be inherited only: the drop moves it aside, the parent's
                // ADD COLUMN gives the child its copy and the values (`kinds::column::add`).
                if !inherits_again(d.current, d.desired, t, &col.name) {
                    d.push(Change::AddColumn {
                        table: t.clone(),
                        column: col.clone(),
                    });
                }
                d.created(id());
            }
            Some(old) => {
                let mut kinds = column_changes(old, col, own);
                // Whether the child declares an inherited column itself (`attislocal`): the
                // child keeps its own copy when the parent drops the column, so the two
                // states are different schemas (and fingerprints). A column no longer
                // inherited becomes the child's own by itself (the parent's `ONLY` drop,
                // `NO INHERIT`); partitions have no columns of their own.
                if !own
                    && col.inherited
                    && have.partition_of.is_none()
                    && want.partition_of.is_none()
                    && old.declared_locally() != col.declared_locally()
                {
                    kinds.push(ColumnChange::Locality);
                }
                // A partition's identity is its partitioned table's (PostgreSQL 17+): set and
                // changed there, it reaches the partitions; on a partition it is refused.
                if want.partition_of.is_some() && !col.declared_locally() {
                    use ColumnChange::*;
                    kinds.retain(|k| {
                        !matches!(
                            k,
                            AddIdentity | SetIdentityKind | IdentityOptions | DropIdentity
                        )
                    });
                }
                if !kinds.is_empty() {
                    d.push(Change::AlterColumn {
                        table: t.clone(),
                        from: old.clone(),
                        to: col.clone(),
                        kinds,
                    });
                }
            }
        }
    }
    for old in &have.columns {
        let gone = !want.columns.iter().any(|c| c.name == old.name);
        if gone && (old.declared_locally() || own) {
            d.push(Change::DropColumn {
                table: t.clone(),
                column: old.clone(),
            });
        }
    }
}

/// Whether column `column` of inheritance child `t`, the child's own (not inherited) in the
/// current schema, is to be inherited only (not declared by the child) from a parent that
/// gains the column in this plan: the way back of a parent's `ALTER TABLE ONLY ... DROP
/// COLUMN` (`kinds::column::drop`). PostgreSQL's `ADD COLUMN` on the parent would merge into
/// the child's column, which would stay its own; so the child's column is renamed aside
/// first, the parent's `ADD COLUMN` gives the child a new, inherited copy, and the values are
/// copied into it (and its descendants' copies, which follow both the rename and the new
/// column) before the old column is dropped (`kinds::column::add`). Only where no descendant
/// declares the column itself (the rename would take that one aside too,
/// [`descendants_inherit_only`]), and not for partitions (whose columns are never their own).
pub fn inherits_again(current: &Schema, desired: &Schema, t: &QName, column: &str) -> bool {
    let (Some(have), Some(want)) = (current.tables.get(t), desired.tables.get(t)) else {
        return false;
    };
    // Asked of every column of every kept table: no copies.
    let (Some(old), Some(new)) = (have.column(column), want.column(column)) else {
        return false;
    };
    let has = |s: &Schema, q: &QName| s.tables.get(q).and_then(|tb| tb.column(column)).is_some();
    have.partition_of.is_none()
        && want.partition_of.is_none()
        && !old.inherited
        && new.inherited
        && !new.is_local
        && want
            .inherits
            .iter()
            .any(|p| have.inherits.contains(p) && has(desired, p) && !has(current, p))
        && descendants_inherit_only(current, t, column)
}

/// Whether every inheritance descendant of `t` that has column `column` has it only inherited
/// (not declared itself): renaming `t`'s column renames theirs with it, and dropping it
/// drops theirs, so no descendant's own column would be renamed or kept under another name.
pub(super) fn descendants_inherit_only(current: &Schema, t: &QName, column: &str) -> bool {
    let mut work = vec![t.clone()];
    let mut seen = std::collections::BTreeSet::new();
    while let Some(p) = work.pop() {
        if !seen.insert(p.clone()) {
            continue;
        }
        for child in current.tables.values().filter(|c| c.inherits.contains(&p)) {
            match child.column(column) {
                Some(k) if k.is_local => return false,
                Some(_) => work.push(child.name.clone()),
                None => {}
            }
        }
    }
    true
}

/// Whether the VIRTUAL generated column `old` of `have` becomes `new` by `ALTER COLUMN ... SET
/// EXPRESSION` (PostgreSQL 18 for VIRTUAL; STORED: [`sets_stored_expression`]): both
/// VIRTUAL, only the expression differs, and the column is the table's own, neither inherited
/// nor passed on to partitions or inheritance children (which would each need their own
/// expression change).
///
/// PostgreSQL 18 refuses `SET EXPRESSION` on a virtual column of a table with any CHECK
/// constraint ("not supported for virtual generated columns in tables with check
/// constraints"), also one the plan adds only for a moment: the helper CHECK of an online
/// `SET NOT NULL` or the guard of a type change. So a table with a CHECK on either side, or
/// with a column becoming NOT NULL or changing its type in the same plan, drops and adds the
/// column instead (it stores nothing: no value is lost either way).
pub(super) fn sets_expression(
    current: &Schema,
    have: &Table,
    want: &Table,
    old: &Column,
    new: &Column,
) -> bool {
    let has_children = current.tables.values().any(|c| {
        c.partition_of
            .as_ref()
            .is_some_and(|(p, _)| *p == have.name)
            || c.inherits.contains(&have.name)
    });
    let has_check = |t: &Table| {
        t.constraints
            .values()
            .any(|c| c.kind == ConstraintKind::Check)
    };
    let other_checks = want.columns.iter().any(|w| {
        let before = have.column(&w.name);
        (w.not_null && !before.is_some_and(|h| h.not_null))
            || before.is_some_and(|h| h.type_name != w.type_name || h.collation != w.collation)
    });
    old.generated_virtual
        && new.generated_virtual
        && old.generated.is_some()
        && new.generated.is_some()
        && old.type_name == new.type_name
        && old.collation == new.collation
        && !old.inherited
        && !new.inherited
        && !has_children
        && !has_check(have)
        && !has_check(want)
        && !other_checks
}

/// Whether the STORED generated column `old` of `have` becomes `new` by `ALTER COLUMN ...
/// SET EXPRESSION` (PostgreSQL 17+; 13-16 have none, and a plan for them, or for a major it
/// does not know, drops and adds the column): both STORED, only the expression differs, the
/// column is the table's own (neither inherited nor passed on to partitions or inheritance
/// children, which would each need theirs changed), on a table that is not foreign.
/// PostgreSQL rewrites the table (computing every row's value again) and rebuilds the indexes
/// on the column, under ACCESS EXCLUSIVE, and keeps the column, its position, the views
/// reading it, its indexes, comment and privileges.
pub(super) fn sets_stored_expression(d: &Differ, have: &Table, old: &Column, new: &Column) -> bool {
    let has_children = d.current.tables.values().any(|c| {
        c.partition_of
            .as_ref()
            .is_some_and(|(p, _)| *p == have.name)
            || c.inherits.contains(&have.name)
    });
    d.server_version >= 170000
        && !old.generated_virtual
        && !new.generated_virtual
        && old.generated.is_some()
        && new.generated.is_some()
        && old.type_name == new.type_name
        && old.collation == new.collation
        && !old.inherited
        && !new.inherited
        && !has_children
        && !have.is_foreign()
        && have.partition_of.is_none()
}

/// `own`: the column changes on its table even where it is inherited (a partition detached
/// for the change).
pub(super) fn column_changes(old: &Column, new: &Column, own: bool) -> Vec<ColumnChange> {
    use ColumnChange::*;
    let mut k = Vec::new();
    let retype = old.type_name != new.type_name || old.collation != new.collation;
    if old.default.is_some() && (old.default != new.default || retype) {
        k.push(DropDefault);
    }
    if old.identity.is_some() && new.identity.is_none() {
        k.push(DropIdentity);
    }
    if old.generated.is_some() && new.generated.is_none() {
        k.push(DropExpression);
    }
    // Only VIRTUAL -> VIRTUAL (`sets_expression`) and, on 17+, STORED -> STORED
    // (`sets_stored_expression`) reach here with a new expression: every other change of a
    // generated column drops and adds it.
    if old.generated.is_some() && new.generated.is_some() && old.generated != new.generated {
        k.push(SetExpression);
    }
    if retype && (new.declared_locally() || own) {
        k.push(Type);
    }
    if old.not_null && !new.not_null {
        k.push(DropNotNull);
    }
    if new.default.is_some() && (old.default != new.default || retype) {
        k.push(SetDefault);
    }
    if !old.not_null && new.not_null {
        k.push(SetNotNull);
    }
    if old.compression != new.compression {
        k.push(Compression);
    }
    // ALTER COLUMN TYPE resets the storage to the new type's default.
    if old.storage != new.storage || (retype && new.storage.is_some()) {
        k.push(Storage);
    }
    if old.statistics != new.statistics {
        k.push(Statistics);
    }
    if !crate::model::same_options(&old.attoptions, &new.attoptions) {
        k.push(AttOptions);
    }
    if old.fdw_options != new.fdw_options {
        k.push(FdwOptions);
    }
    // The NOT NULL constraint itself (PostgreSQL 18; the names are `None` before, so nothing
    // here changes a plan on 13-17). A valid one satisfies a `NOT VALID` one in the files
    // (it is stronger): only NOT VALID -> valid is a change.
    if old.not_null && new.not_null && !old.inherited && !new.inherited {
        if old.not_null_name.is_some()
            && new.not_null_name.is_some()
            && old.not_null_name != new.not_null_name
        {
            k.push(NotNullName);
        }
        if old.not_null_no_inherit != new.not_null_no_inherit {
            k.push(NotNullInherit);
        }
        if old.not_null_not_valid && !new.not_null_not_valid {
            k.push(ValidateNotNull);
        }
    }
    match (&old.identity, &new.identity) {
        (None, Some(_)) => k.push(AddIdentity),
        (Some(a), Some(b)) => {
            if a.always != b.always {
                k.push(SetIdentityKind);
            }
            if a.sequence_options != b.sequence_options {
                k.push(IdentityOptions);
            }
        }
        _ => {}
    }
    k
}
