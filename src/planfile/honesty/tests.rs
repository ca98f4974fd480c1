//! Unit tests of the honesty check: each lie it must catch, and plans it must let pass.

use super::*;
use crate::plan::{Phase, Step};

fn step(sql: &str, tx: TxMode, lock: LockLevel, hazards: &[Hazard]) -> Step {
    Step {
        summary: "s".into(),
        sql: sql.into(),
        phase: Phase::Expand,
        transaction: tx,
        lock,
        lock_target: None,
        lock_timeout: None,
        statement_timeout: None,
        hazards: hazards.to_vec(),
        notes: vec![],
    }
}

fn check(sql: &str, lock: LockLevel, hazards: &[Hazard]) -> Result<(), String> {
    check_step(
        &step(sql, TxMode::Transaction, lock, hazards),
        1,
        &mut Created::default(),
    )
}

#[test]
fn removed_concurrently_is_a_stronger_lock_than_declared() {
    let err = check(
        "CREATE INDEX i ON public.t (a);",
        LockLevel::ShareUpdateExclusive,
        &[],
    )
    .unwrap_err();
    assert!(err.contains("takes SHARE (blocks writes)"), "{err}");
    assert!(check(
        "CREATE INDEX CONCURRENTLY i ON public.t (a);",
        LockLevel::ShareUpdateExclusive,
        &[]
    )
    .is_ok());
}

#[test]
fn dml_added_to_a_step_without_data_loss_is_refused() {
    for sql in [
        "DELETE FROM posts;",
        "TRUNCATE users CASCADE;",
        "UPDATE public.t SET a = 1;",
        "INSERT INTO t VALUES (1) ON CONFLICT (a) DO UPDATE SET b = 2;",
    ] {
        let err = check(sql, LockLevel::AccessExclusive, &[]).unwrap_err();
        assert!(err.contains("data-loss"), "{sql}: {err}");
        assert!(
            check(sql, LockLevel::AccessExclusive, &[Hazard::DataLoss]).is_ok(),
            "{sql}"
        );
    }
    assert!(check("INSERT INTO t VALUES (1);", LockLevel::None, &[]).is_ok());
}

#[test]
fn drop_table_needs_data_loss_and_access_exclusive() {
    let err = check("DROP TABLE public.t;", LockLevel::AccessExclusive, &[]).unwrap_err();
    assert!(err.contains("DROP TABLE public.t"), "{err}");
    let err = check("DROP TABLE public.t;", LockLevel::None, &[Hazard::DataLoss]).unwrap_err();
    assert!(err.contains("ACCESS EXCLUSIVE"), "{err}");
    assert!(check(
        "DROP TABLE public.t;",
        LockLevel::AccessExclusive,
        &[Hazard::DataLoss]
    )
    .is_ok());
}

#[test]
fn drop_column_of_a_renamed_column_may_say_requires_deploy() {
    let sql = "ALTER TABLE public.t DROP COLUMN old;";
    assert!(check(sql, LockLevel::AccessExclusive, &[]).is_err());
    assert!(check(sql, LockLevel::AccessExclusive, &[Hazard::RequiresDeploy]).is_ok());
    let swap =
        "ALTER TABLE public.t DROP COLUMN id; ALTER TABLE public.t RENAME COLUMN id_new TO id;";
    assert!(check(swap, LockLevel::AccessExclusive, &[]).is_ok());
    let with_delete = "ALTER TABLE public.t DROP COLUMN old; DELETE FROM public.t;";
    let err = check(
        with_delete,
        LockLevel::AccessExclusive,
        &[Hazard::RequiresDeploy],
    )
    .unwrap_err();
    assert!(err.contains("DELETE FROM public.t"), "{err}");
}

#[test]
fn objects_created_earlier_in_the_plan_take_no_contended_lock() {
    let mut created = Created::default();
    let create = step(
        "CREATE TABLE public.n (a int);",
        TxMode::Transaction,
        LockLevel::None,
        &[],
    );
    check_step(&create, 1, &mut created).unwrap();
    let index = step(
        "CREATE INDEX n_a ON public.n (a);",
        TxMode::Transaction,
        LockLevel::None,
        &[],
    );
    check_step(&index, 2, &mut created).unwrap();
    let drop = step(
        "DROP TABLE public.n;",
        TxMode::Transaction,
        LockLevel::None,
        &[],
    );
    check_step(&drop, 3, &mut created).unwrap();
}

#[test]
fn batched_update_is_the_backfill_not_a_loss() {
    let s = step(
        "UPDATE public.t SET b = 0 WHERE b IS NULL;",
        TxMode::Batched,
        LockLevel::RowExclusive,
        &[],
    );
    check_step(&s, 1, &mut Created::default()).unwrap();
}

#[test]
fn do_blocks_are_read_through_plpgsql() {
    let hidden = "DO $$ BEGIN DELETE FROM posts; END $$;";
    assert!(check(hidden, LockLevel::AccessExclusive, &[])
        .unwrap_err()
        .contains("DELETE FROM posts"));
    let format = "DO $$ DECLARE s text := 'x'; BEGIN EXECUTE format('ALTER SEQUENCE %s RENAME TO %I', s, 'y'); END $$;";
    assert!(check(format, LockLevel::AccessExclusive, &[]).is_ok());
    let err = check(format, LockLevel::None, &[]).unwrap_err();
    assert!(err.contains("ACCESS EXCLUSIVE"), "{err}");
    let truncate = "DO $$ BEGIN EXECUTE format('TRUNCATE %I', 'users'); END $$;";
    assert!(check(truncate, LockLevel::AccessExclusive, &[])
        .unwrap_err()
        .contains("data-loss"));
    let opaque = "DO $$ DECLARE q text := 'DELETE FROM posts'; BEGIN EXECUTE q; END $$;";
    let err = check(opaque, LockLevel::AccessExclusive, &[]).unwrap_err();
    assert!(err.contains("cannot read"), "{err}");
    assert!(check(opaque, LockLevel::AccessExclusive, &[Hazard::DataLoss]).is_ok());
}

#[test]
fn weak_locks_rounded_down_are_not_lies() {
    assert!(check(
        "ALTER TABLE public.t VALIDATE CONSTRAINT c;",
        LockLevel::None,
        &[]
    )
    .is_ok());
    assert!(check("COMMENT ON TABLE public.t IS 'x';", LockLevel::None, &[]).is_ok());
    let err = check(
        "ALTER TABLE public.t ADD COLUMN c int;",
        LockLevel::ShareUpdateExclusive,
        &[],
    )
    .unwrap_err();
    assert!(err.contains("ALTER TABLE public.t (ADD COLUMN)"), "{err}");
}

#[test]
fn dropping_a_publication_must_declare_replication() {
    let err = check("DROP PUBLICATION feed;", LockLevel::None, &[]).unwrap_err();
    assert!(
        err.contains("DROP PUBLICATION feed") && err.contains("`replication`"),
        "{err}"
    );
    // data-loss is not the hazard that covers it
    assert!(check(
        "DROP PUBLICATION feed;",
        LockLevel::None,
        &[Hazard::DataLoss]
    )
    .is_err());
    assert!(check(
        "DROP PUBLICATION feed;",
        LockLevel::None,
        &[Hazard::Replication]
    )
    .is_ok());
    // membership changes and options are not drops of the publication
    assert!(check(
        "ALTER PUBLICATION feed DROP TABLE ONLY public.t;",
        LockLevel::ShareUpdateExclusive,
        &[]
    )
    .is_ok());
}
