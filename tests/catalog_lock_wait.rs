//! The catalog read never queues behind a long ACCESS EXCLUSIVE holder while keeping its own
//! locks: each lock wait ends after a short `lock_timeout`, the whole read is retried, and when
//! the holder does not let go the read fails naming it (`catalog::LockWait`).
//!
//! Why it matters: the read's rendering functions keep ACCESS SHARE on every table already read
//! until the read ends; stuck behind one table, it would make any DDL on those tables queue, and
//! their traffic behind that DDL.

use schemaplan::catalog::{self, CatalogError, LockWait};
use std::sync::mpsc;
use std::time::{Duration, Instant};

mod common;

use common::LoadedDb;

const SCHEMA: &str = "CREATE TABLE public.a (id int PRIMARY KEY, v text DEFAULT 'x');
                      CREATE TABLE public.b (id int PRIMARY KEY, n int CHECK (n > 0));";

/// A session holding ACCESS EXCLUSIVE on `public.b` until the returned sender is used (or
/// dropped); returns once the lock is held.
fn hold_exclusive(db: &str) -> (mpsc::Sender<()>, std::thread::JoinHandle<()>) {
    let mut holder = common::server().connect(db);
    let (release, wait_release) = mpsc::channel::<()>();
    let (held, wait_held) = mpsc::channel::<()>();
    let thread = std::thread::spawn(move || {
        let mut tx = holder.transaction().unwrap();
        tx.batch_execute("LOCK TABLE public.b IN ACCESS EXCLUSIVE MODE")
            .unwrap();
        held.send(()).unwrap();
        let _ = wait_release.recv();
        tx.commit().unwrap();
    });
    wait_held.recv().unwrap();
    (release, thread)
}

fn quick(attempts: u32) -> LockWait {
    LockWait {
        lock_timeout: Duration::from_millis(50),
        attempts,
        first_pause: Duration::from_millis(100),
        max_pause: Duration::from_millis(200),
    }
}

#[test]
fn catalog_read_retries_until_an_exclusive_lock_is_released() {
    let mut db = LoadedDb::with("lockwait_release", SCHEMA);
    let (release, holder) = hold_exclusive(&db.name);
    let releaser = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(700));
        release.send(()).unwrap();
    });
    // 30 attempts of 50 ms + pauses of at most 200 ms: ~7 s of patience, the lock goes at 0.7 s.
    let schema = catalog::read_with(&mut db.client, quick(30)).expect("read after the release");
    assert!(schema
        .tables
        .keys()
        .any(|q| q.schema == "public" && q.name == "b"));
    releaser.join().unwrap();
    holder.join().unwrap();
}

#[test]
fn catalog_read_gives_up_naming_the_holder_and_keeps_no_lock_meanwhile() {
    let mut db = LoadedDb::with("lockwait_busy", SCHEMA);
    let (release, holder) = hold_exclusive(&db.name);
    let reader_db = db.name.clone();
    // While the read retries, DDL on the other table must not wait long on the read's locks:
    // between attempts the read holds none, and during one at most for its lock_timeout.
    let (ddl_done, ddl_result) = mpsc::channel();
    let ddl_thread = std::thread::spawn(move || {
        let mut c = common::server().connect(&reader_db);
        std::thread::sleep(Duration::from_millis(300));
        let started = Instant::now();
        let r = c.batch_execute(
            "SET lock_timeout = '5s'; ALTER TABLE public.a ADD COLUMN w int; RESET lock_timeout",
        );
        ddl_done
            .send((r.map_err(|e| e.to_string()), started.elapsed()))
            .unwrap();
    });
    let err = catalog::read_with(&mut db.client, quick(8)).expect_err("the lock is never released");
    let (ddl, waited) = ddl_result.recv().unwrap();
    release.send(()).unwrap();
    holder.join().unwrap();
    ddl_thread.join().unwrap();
    match &err {
        CatalogError::LockBusy {
            attempts, holders, ..
        } => {
            assert_eq!(*attempts, 8);
            assert!(holders.contains("public.b"), "holders: {holders}");
            assert!(holders.contains("LOCK TABLE"), "holders: {holders}");
        }
        other => panic!("expected LockBusy, got {other:?}"),
    }
    let message = err.to_string();
    assert!(message.contains("ACCESS EXCLUSIVE"), "{message}");
    assert!(message.contains("8 times"), "{message}");
    assert!(
        ddl.is_ok(),
        "DDL on a table the read had already read waited out its 5 s lock_timeout: {ddl:?}"
    );
    eprintln!("DDL on public.a waited {waited:?} while the read retried");
}
