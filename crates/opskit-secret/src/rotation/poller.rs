//! The thread that reads a watched file, checks what changed and publishes it.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use secrecy::ExposeSecret;
use zeroize::Zeroizing;

use super::shared::Shared;
use super::value::{SecretValue, check, register_redaction};
use super::{RotationError, WatchOptions};
use crate::{SecretFile, SharedSecretFile};

/// The first value of a watch, and the text it was read from.
pub(crate) struct First<T> {
    pub(crate) value: T,
    pub(crate) text: Zeroizing<String>,
}

/// Reads and checks the first value, as every later one; logs a permission warning.
pub(crate) fn read_first<T: SecretValue>(file: &SecretFile) -> Result<First<T>, RotationError> {
    let (text, warning) = read_text(file)?;
    if let Some(warning) = warning {
        warning.log();
    }
    let value = check_file::<T>(file, &text)?;
    register_redaction(&text);
    Ok(First { value, text })
}

/// Starts the watcher thread. It logs where the caller's logs go (the subscriber in
/// force on the calling thread, else the global one once it is set).
pub(crate) fn spawn<T: SecretValue>(
    shared: &Arc<Shared<T>>,
    file: SecretFile,
    options: WatchOptions,
    text: Zeroizing<String>,
) -> Result<(), RotationError> {
    let weak = Arc::downgrade(shared);
    let dispatch = tracing::dispatcher::get_default(Clone::clone);
    let scoped = !dispatch.is::<tracing::subscriber::NoSubscriber>();
    let path = file.path().to_path_buf();
    let mut poller = Poller {
        file,
        options,
        last: text,
        last_failure: None,
    };
    std::thread::Builder::new()
        .name("opskit-secret-watch".to_owned())
        .spawn(move || {
            if scoped {
                tracing::dispatcher::with_default(&dispatch, || poller.run(&weak));
            } else {
                poller.run(&weak);
            }
        })
        .map_err(|source| RotationError::Spawn { path, source })?;
    Ok(())
}

struct Poller {
    file: SecretFile,
    options: WatchOptions,
    /// The text of the value in use (line endings stripped), to see a change.
    last: Zeroizing<String>,
    /// The reason of the failure in force, logged once.
    last_failure: Option<String>,
}

/// A changed content that passed its check.
struct Change<T> {
    text: Zeroizing<String>,
    value: T,
    warning: Option<SharedSecretFile>,
}

impl Poller {
    /// Polls until every handle to the secret is dropped.
    fn run<T: SecretValue>(&mut self, shared: &Weak<Shared<T>>) {
        loop {
            std::thread::sleep(self.options.interval_value());
            let Some(shared) = shared.upgrade() else {
                return;
            };
            self.poll(&shared);
        }
    }

    fn poll<T: SecretValue>(&mut self, shared: &Shared<T>) {
        match self.read_change::<T>() {
            Ok(None) => self.resolved(shared),
            Ok(Some(change)) => self.rotate(shared, change),
            Err(err) => self.failed(shared, &err),
        }
    }

    /// The file's content when it differs from the value in use, read twice
    /// `settle` apart (a content still being written differs) and checked. A
    /// failed read is tried again after `settle` before it counts.
    fn read_change<T: SecretValue>(&self) -> Result<Option<Change<T>>, RotationError> {
        let settle = self.options.settle_value();
        let (text, warning) = match read_text(&self.file) {
            Ok(read) => read,
            // A read can fail in the middle of a swap (the kubelet removes the old
            // directory right after re-pointing `..data`): try once more first.
            Err(_) if !settle.is_zero() => {
                std::thread::sleep(settle);
                read_text(&self.file)?
            }
            Err(err) => return Err(err),
        };
        if text == self.last {
            return Ok(None);
        }
        if !settle.is_zero() {
            std::thread::sleep(settle);
            let (again, _) = read_text(&self.file)?;
            if again != text {
                return Err(RotationError::StillChanging {
                    path: self.file.path().to_path_buf(),
                    settle,
                });
            }
        }
        let value = check_file::<T>(&self.file, &text)?;
        Ok(Some(Change {
            text,
            value,
            warning,
        }))
    }

    /// Registers the new value with the log redaction, publishes it, says so and
    /// calls the subscribers.
    fn rotate<T: SecretValue>(&mut self, shared: &Shared<T>, change: Change<T>) {
        register_redaction(&change.text);
        shared.publish(change.value);
        self.last = change.text;
        self.last_failure = None;
        // The handle's counts change after the event is written and the subscribers
        // have run, so whoever sees a count finds its event and its effect (one
        // thread writes them).
        let rotations = shared.rotations.load(Ordering::Acquire) + 1;
        let name = shared.name.clone();
        metrics::counter!("secret_rotations_total", "secret" => name.clone()).increment(1);
        metrics::gauge!("secret_rotation_failing", "secret" => name).set(0.0);
        tracing::info!(
            event = "secret.rotated",
            secret = %shared.name,
            path = %self.file.path().display(),
            rotations,
            "secret {} rotated: the new content of {} is in use",
            shared.name,
            self.file.path().display()
        );
        if let Some(warning) = change.warning {
            warning.log();
        }
        shared.failing.store(false, Ordering::Release);
        shared.notify();
        // Counted once the subscribers (a pool's connect options) have the value.
        shared.rotations.store(rotations, Ordering::Release);
    }

    /// Logs a failure once per distinct reason, and keeps the value in use.
    fn failed<T>(&mut self, shared: &Shared<T>, err: &RotationError) {
        let reason = err.to_string();
        if self.last_failure.as_deref() == Some(reason.as_str()) {
            return;
        }
        let name = shared.name.clone();
        metrics::counter!("secret_rotation_failures_total", "secret" => name.clone()).increment(1);
        metrics::gauge!("secret_rotation_failing", "secret" => name).set(1.0);
        tracing::warn!(
            event = "secret.rotation_failed",
            secret = %shared.name,
            path = %self.file.path().display(),
            reason = %reason,
            "secret {}: the previous value stays in use: {reason}; the file is read again \
             every {:?}",
            shared.name,
            self.options.interval_value()
        );
        // After the event, as in `rotate`.
        shared.failures.fetch_add(1, Ordering::AcqRel);
        shared.failing.store(true, Ordering::Release);
        self.last_failure = Some(reason);
    }

    /// The file holds the value in use again, after a failure.
    fn resolved<T>(&mut self, shared: &Shared<T>) {
        if self.last_failure.take().is_none() {
            return;
        }
        metrics::gauge!("secret_rotation_failing", "secret" => shared.name.clone()).set(0.0);
        tracing::info!(
            event = "secret.rotation_recovered",
            secret = %shared.name,
            path = %self.file.path().display(),
            "secret {}: {} is readable again and holds the value in use",
            shared.name,
            self.file.path().display()
        );
        // After the event, as in `failed`: whoever sees the failure over has its
        // event to read.
        shared.failing.store(false, Ordering::Release);
    }
}

/// The file's text, line endings stripped, and its permission warning.
fn read_text(
    file: &SecretFile,
) -> Result<(Zeroizing<String>, Option<SharedSecretFile>), RotationError> {
    let (secret, warning) = file.read_string_quietly()?;
    Ok((Zeroizing::new(secret.expose_secret().to_owned()), warning))
}

fn check_file<T: SecretValue>(file: &SecretFile, text: &str) -> Result<T, RotationError> {
    check::<T>(text).map_err(|reason| RotationError::Invalid {
        subject: format!("secret file {}", file.path().display()),
        reason,
    })
}
