//! Stopping an apply cleanly (Ctrl-C).
//!
//! Each apply registers an [`Interrupt`] while it runs. The first SIGINT triggers every
//! registered one: the flag is set and a PostgreSQL cancel request is sent for the statement
//! running on the apply's connection (a cancel aborts the statement; inside a transaction unit
//! the whole unit rolls back, releasing its locks). The apply then records the run as
//! `interrupted` and returns [`super::ExecError::Interrupted`]; the next apply resumes. A second
//! SIGINT, or one while no apply runs, exits at once with status 130 (the server drops the
//! connection, its transaction and the apply lock).
//!
//! The handler is installed on the first non-dry-run apply. If the application installed its
//! own SIGINT handler first, that handler must call [`interrupt_all`].

use postgres::CancelToken;
use postgres_openssl::MakeTlsConnector;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Once, Weak};

/// A stop request for one apply. Cloning shares it; `trigger` can be called from any thread.
#[derive(Clone, Debug, Default)]
pub struct Interrupt {
    shared: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    requested: AtomicBool,
    cancel: Mutex<Option<(CancelToken, MakeTlsConnector)>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Interrupt")
            .field("requested", &self.requested.load(Ordering::SeqCst))
            .finish()
    }
}

static ACTIVE: Mutex<Vec<Weak<Shared>>> = Mutex::new(Vec::new());
static HANDLER: Once = Once::new();

impl Interrupt {
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the apply to stop: sets the flag and cancels the running statement.
    pub fn trigger(&self) {
        self.shared.requested.store(true, Ordering::SeqCst);
        let cancel = lock(&self.shared.cancel).clone();
        if let Some((token, tls)) = cancel {
            // Best effort: if the cancel cannot be delivered, the apply stops after the
            // running statement. The request goes over TLS as the connection did: the token
            // carries the connection's sslmode, and with `require` or stricter a request
            // without TLS is never sent at all (it also holds the backend's secret key).
            let _ = token.cancel_query(tls);
        }
    }

    pub fn requested(&self) -> bool {
        self.shared.requested.load(Ordering::SeqCst)
    }

    /// Registers this apply (and the connection to cancel, with the TLS connector it was made
    /// with) until the guard is dropped.
    pub(crate) fn register(&self, token: CancelToken, tls: MakeTlsConnector) -> Registration {
        *lock(&self.shared.cancel) = Some((token, tls));
        let mut active = lock(&ACTIVE);
        active.retain(|w| w.strong_count() > 0);
        active.push(Arc::downgrade(&self.shared));
        drop(active);
        install_handler();
        Registration {
            shared: self.shared.clone(),
        }
    }
}

/// Keeps an apply registered for SIGINT; unregisters on drop.
pub(crate) struct Registration {
    shared: Arc<Shared>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        *lock(&self.shared.cancel) = None;
        lock(&ACTIVE).retain(|w| w.upgrade().is_some_and(|s| !Arc::ptr_eq(&s, &self.shared)));
    }
}

/// Triggers every running apply of this process. Returns how many there were.
pub fn interrupt_all() -> usize {
    let active: Vec<Arc<Shared>> = lock(&ACTIVE).iter().filter_map(Weak::upgrade).collect();
    for shared in &active {
        Interrupt {
            shared: shared.clone(),
        }
        .trigger();
    }
    active.len()
}

fn install_handler() {
    HANDLER.call_once(|| {
        // Fails when the application already has a handler: it must call `interrupt_all`.
        let _ = ctrlc::set_handler(|| {
            let already = lock(&ACTIVE)
                .iter()
                .filter_map(Weak::upgrade)
                .any(|s| s.requested.load(Ordering::SeqCst));
            if already || interrupt_all() == 0 {
                std::process::exit(130);
            }
            eprintln!("interrupt: cancelling the running step; press Ctrl-C again to exit at once");
        });
    });
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
