//! What every handle to one watched secret shares with its watcher thread: the
//! published value (and the one before it), the subscribers, the counts.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use arc_swap::ArcSwap;

/// One published value, with the one it replaced.
pub(crate) struct Snapshot<T> {
    pub(crate) current: Arc<T>,
    /// The value before the last rotation (for a token's grace period).
    pub(crate) previous: Option<Arc<T>>,
    /// When `current` was published.
    pub(crate) since: Instant,
}

impl<T> Snapshot<T> {
    fn first(value: T) -> Self {
        Self {
            current: Arc::new(value),
            previous: None,
            since: Instant::now(),
        }
    }
}

type Subscriber<T> = Box<dyn Fn(&T) + Send + Sync>;

/// What every handle to one watched secret shares with its watcher thread.
pub(crate) struct Shared<T> {
    pub(crate) name: String,
    pub(crate) path: Option<PathBuf>,
    pub(crate) state: ArcSwap<Snapshot<T>>,
    pub(crate) subscribers: Mutex<Vec<Subscriber<T>>>,
    pub(crate) rotations: AtomicU64,
    pub(crate) failures: AtomicU64,
    pub(crate) failing: AtomicBool,
}

impl<T> Shared<T> {
    pub(crate) fn new(name: &str, path: Option<PathBuf>, first: T) -> Self {
        Self {
            name: name.to_owned(),
            path,
            state: ArcSwap::from_pointee(Snapshot::first(first)),
            subscribers: Mutex::new(Vec::new()),
            rotations: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            failing: AtomicBool::new(false),
        }
    }

    /// Publishes `value`, keeping the one it replaces as the previous value (the
    /// one before that is dropped: two values live on at most, plus any a reader
    /// still holds).
    pub(crate) fn publish(&self, value: T) {
        let old = self.state.load();
        self.state.store(Arc::new(Snapshot {
            current: Arc::new(value),
            previous: Some(Arc::clone(&old.current)),
            since: Instant::now(),
        }));
    }

    /// Calls every subscriber with the current value. A subscriber that panics is
    /// logged (without its message, which could quote the value) and kept.
    pub(crate) fn notify(&self) {
        let state = self.state.load();
        let subscribers = self
            .subscribers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for subscriber in subscribers.iter() {
            let call = std::panic::AssertUnwindSafe(|| subscriber(&state.current));
            if std::panic::catch_unwind(call).is_err() {
                tracing::error!(
                    event = "secret.subscriber_panicked",
                    secret = %self.name,
                    "a subscriber to secret {} panicked on its rotation; the new value is \
                     published, but what that subscriber feeds may still use the old one",
                    self.name
                );
            }
        }
    }
}
