//! The handle to a secret that follows its file.

use secrecy::SecretString;
use std::fmt;
use std::ops::Deref;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};

use super::shared::{Shared, Snapshot};
use super::value::SecretValue;
use super::{RotationError, WatchOptions, poller};
use crate::SecretFile;

/// A secret that follows its file: a cheap handle (clone it freely) whose
/// [`current`](Self::current) value is the file's latest good content.
///
/// A thread reads the file every [interval](WatchOptions::interval) (polling, not
/// inotify: a poll sees every kind of change the same way, an in-place rewrite, a
/// rename over the file and the Kubernetes `..data` symlink swap, on any filesystem,
/// where an inotify watch on the file would stay on the replaced inode). A changed
/// content is read again after the [settle time](WatchOptions::settle), checked as
/// at start (see [`SecretValue`]), registered with the [log
/// redaction](crate::redaction), and only then published, and [subscribers
/// ](Self::on_rotate) are called. A content that fails keeps the old value and logs
/// `secret.rotation_failed`; the file is read again at the next interval, forever.
/// The thread ends once every handle is dropped.
///
/// Reading the current value is one atomic load ([`arc_swap`]): nothing measurable
/// on a request path (see `docs/benchmarks.md`).
///
/// `Debug` shows the name, the file and the number of rotations, never a value.
///
/// ```
/// use std::time::Duration;
/// use opskit_secret::rotation::{WatchOptions, WatchedSecret};
/// use opskit_secret::{ExposeSecret, SecretFile, SecretString};
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("api_token");
/// std::fs::write(&path, "first-token\n")?;
///
/// let options = WatchOptions::default().interval(Duration::from_millis(20));
/// let token: WatchedSecret<SecretString> =
///     SecretFile::new(&path).watch_with("APP_API_TOKEN", options)?;
/// assert_eq!(token.current().expose_secret(), "first-token");
///
/// let (tx, rx) = std::sync::mpsc::channel();
/// token.on_rotate(move |_new: &SecretString| tx.send(()).unwrap());
/// std::fs::write(dir.path().join("new"), "second-token")?;
/// std::fs::rename(dir.path().join("new"), &path)?;
/// rx.recv_timeout(Duration::from_secs(30))?;
/// assert_eq!(token.current().expose_secret(), "second-token");
/// let debug = format!("{token:?} {:?}", token.current());
/// assert!(!debug.contains("first-token") && !debug.contains("second-token"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct WatchedSecret<T = SecretString> {
    pub(crate) shared: Arc<Shared<T>>,
}

impl<T> Clone for WatchedSecret<T> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl SecretFile {
    /// Watches this file with the [default options](WatchOptions::default). `name`
    /// is what events and metrics call the secret: its variable (`APP_API_TOKEN`).
    ///
    /// The first value is read now, the same way as every later one, and must pass.
    ///
    /// ```
    /// use opskit_secret::{ExposeSecret, SecretFile, SecretString};
    /// use opskit_secret::rotation::WatchedSecret;
    ///
    /// let dir = tempfile::tempdir()?;
    /// std::fs::write(dir.path().join("token"), " t0ken\r\n")?;
    /// let token: WatchedSecret<SecretString> =
    ///     SecretFile::new(dir.path().join("token")).watch("APP_API_TOKEN")?;
    /// assert_eq!(token.current().expose_secret(), "t0ken");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// A [`RotationError`] when the file cannot be read or its content is not valid,
    /// or when the watcher thread cannot be started.
    pub fn watch<T: SecretValue>(&self, name: &str) -> Result<WatchedSecret<T>, RotationError> {
        self.watch_with(name, WatchOptions::default())
    }

    /// [`watch`](Self::watch) with options: how often the file is read.
    ///
    /// ```
    /// use std::time::Duration;
    /// use opskit_secret::rotation::{WatchOptions, WatchedSecret};
    /// use opskit_secret::{ConnectionString, SecretFile};
    ///
    /// let dir = tempfile::tempdir()?;
    /// std::fs::write(dir.path().join("url"), "postgres://app:pw-1@db/notes")?;
    /// let url: WatchedSecret<ConnectionString> = SecretFile::new(dir.path().join("url"))
    ///     .watch_with("APP_DATABASE_URL", WatchOptions::default().interval(Duration::from_secs(5)))?;
    /// assert_eq!(url.current().to_string(), "postgres://app:***@db/notes");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`watch`](Self::watch).
    pub fn watch_with<T: SecretValue>(
        &self,
        name: &str,
        options: WatchOptions,
    ) -> Result<WatchedSecret<T>, RotationError> {
        let first = poller::read_first::<T>(self)?;
        let shared = Arc::new(Shared::new(
            name,
            Some(self.path().to_path_buf()),
            first.value,
        ));
        poller::spawn(&shared, self.clone(), options, first.text)?;
        Ok(WatchedSecret { shared })
    }
}

impl<T: SecretValue> WatchedSecret<T> {
    /// The secret of the variable `name`, as opskit-config reads it: the file named
    /// by `NAME_FILE`, watched; else the value of `NAME`, fixed (it cannot rotate
    /// without a restart, as any environment variable).
    ///
    /// This is the one line a service adds per rotating secret:
    ///
    /// ```no_run
    /// use opskit_secret::rotation::WatchedSecret;
    /// use opskit_secret::SecretString;
    ///
    /// // APP_API_TOKEN_FILE=/run/secrets/api_token
    /// let token: WatchedSecret<SecretString> = WatchedSecret::from_env("APP_API_TOKEN")?;
    /// # Ok::<(), opskit_secret::rotation::RotationError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`RotationError::Unset`] when neither variable is set, and as
    /// [`SecretFile::watch`] for the file.
    pub fn from_env(name: &str) -> Result<Self, RotationError> {
        Self::from_env_with(name, WatchOptions::default())
    }

    /// [`from_env`](Self::from_env) with options for the file's watch.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use opskit_secret::rotation::{WatchOptions, WatchedSecret};
    /// use opskit_secret::ConnectionString;
    ///
    /// let options = WatchOptions::default().interval(Duration::from_secs(2));
    /// let url: WatchedSecret<ConnectionString> =
    ///     WatchedSecret::from_env_with("APP_DATABASE_URL", options)?;
    /// # Ok::<(), opskit_secret::rotation::RotationError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`from_env`](Self::from_env).
    pub fn from_env_with(name: &str, options: WatchOptions) -> Result<Self, RotationError> {
        let file_variable = format!("{name}_FILE");
        let non_empty = |variable: &str| std::env::var_os(variable).filter(|v| !v.is_empty());
        if let Some(path) = non_empty(&file_variable) {
            return SecretFile::new(path).watch_with(name, options);
        }
        let Some(value) = non_empty(name) else {
            return Err(RotationError::Unset {
                variable: name.to_owned(),
            });
        };
        let value = zeroize::Zeroizing::new(value.into_string().map_err(|_| {
            RotationError::NotUnicode {
                variable: name.to_owned(),
            }
        })?);
        let checked =
            super::value::check::<T>(&value).map_err(|reason| RotationError::Invalid {
                subject: format!("variable {name}"),
                reason,
            })?;
        super::value::register_redaction(&value);
        Ok(Self::fixed(name, checked))
    }
}

impl<T> WatchedSecret<T> {
    /// A secret that never rotates: for a value from an environment variable, or a
    /// test. It has the same API, so code reading it need not care.
    ///
    /// ```
    /// use opskit_secret::rotation::WatchedSecret;
    /// use opskit_secret::{ExposeSecret, SecretString};
    ///
    /// let token = WatchedSecret::fixed("APP_API_TOKEN", SecretString::from("t0ken"));
    /// assert_eq!(token.current().expose_secret(), "t0ken");
    /// assert_eq!(token.rotations(), 0);
    /// ```
    pub fn fixed(name: &str, value: T) -> Self {
        Self {
            shared: Arc::new(Shared::new(name, None, value)),
        }
    }

    /// The current value, for the request path: one atomic load, no lock, no
    /// allocation. Do not keep it for long (an `Arc` from
    /// [`current_arc`](Self::current_arc) is for that): a thread holding many at
    /// once makes later loads slower.
    ///
    /// ```
    /// use opskit_secret::rotation::WatchedSecret;
    /// use opskit_secret::{ExposeSecret, SecretString, secret_eq};
    ///
    /// let token = WatchedSecret::fixed("APP_API_TOKEN", SecretString::from("t0ken"));
    /// assert!(secret_eq(&token.current(), b"t0ken"));
    /// ```
    pub fn current(&self) -> Current<T> {
        Current(self.shared.state.load())
    }

    /// The current value as an owned snapshot: for holding across an `.await` or
    /// for long (it takes no slot of the fast path). It does not follow later
    /// rotations.
    ///
    /// ```
    /// use opskit_secret::rotation::WatchedSecret;
    /// use opskit_secret::{ExposeSecret, SecretString};
    ///
    /// let token = WatchedSecret::fixed("APP_API_TOKEN", SecretString::from("t0ken"));
    /// let held: std::sync::Arc<SecretString> = token.current_arc();
    /// assert_eq!(held.expose_secret(), "t0ken");
    /// ```
    pub fn current_arc(&self) -> Arc<T> {
        Arc::clone(&self.shared.state.load().current)
    }

    /// Calls `subscriber` with each new value, on the watcher thread, after the
    /// value is registered with the log redaction and published. Keep it short (it
    /// delays the next poll) and do not call `on_rotate` from it; a panic in it is
    /// logged and the subscriber kept.
    ///
    /// ```
    /// use opskit_secret::rotation::WatchedSecret;
    /// use opskit_secret::SecretString;
    ///
    /// let token = WatchedSecret::fixed("APP_API_TOKEN", SecretString::from("t0ken"));
    /// token.on_rotate(|_new: &SecretString| tracing::info!("the API token rotated"));
    /// ```
    pub fn on_rotate(&self, subscriber: impl Fn(&T) + Send + Sync + 'static) {
        self.shared
            .subscribers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Box::new(subscriber));
    }

    /// What events and metrics call this secret (its variable).
    ///
    /// ```
    /// # use opskit_secret::{rotation::WatchedSecret, SecretString};
    /// let token = WatchedSecret::fixed("APP_API_TOKEN", SecretString::from("t0ken"));
    /// assert_eq!(token.name(), "APP_API_TOKEN");
    /// ```
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// The file watched; `None` for a [fixed](Self::fixed) secret.
    ///
    /// ```
    /// # use opskit_secret::{rotation::WatchedSecret, SecretString};
    /// let token = WatchedSecret::fixed("APP_API_TOKEN", SecretString::from("t0ken"));
    /// assert_eq!(token.path(), None);
    /// ```
    pub fn path(&self) -> Option<&Path> {
        self.shared.path.as_deref()
    }

    /// How many new values were published since the watch started, counted once its
    /// event is logged and every [`on_rotate`](Self::on_rotate) subscriber has run.
    ///
    /// ```
    /// # use opskit_secret::{rotation::WatchedSecret, SecretString};
    /// let token = WatchedSecret::fixed("APP_API_TOKEN", SecretString::from("t0ken"));
    /// assert_eq!(token.rotations(), 0);
    /// ```
    pub fn rotations(&self) -> u64 {
        self.shared.rotations.load(Ordering::Acquire)
    }

    /// How many rotations failed (each distinct failure counted once, however many
    /// times the file was read again while it lasted).
    ///
    /// ```
    /// # use opskit_secret::{rotation::WatchedSecret, SecretString};
    /// let token = WatchedSecret::fixed("APP_API_TOKEN", SecretString::from("t0ken"));
    /// assert_eq!(token.rotation_failures(), 0);
    /// ```
    pub fn rotation_failures(&self) -> u64 {
        self.shared.failures.load(Ordering::Acquire)
    }

    /// Whether the file's latest content failed its check (the old value is in use).
    ///
    /// ```
    /// # use opskit_secret::{rotation::WatchedSecret, SecretString};
    /// let token = WatchedSecret::fixed("APP_API_TOKEN", SecretString::from("t0ken"));
    /// assert!(!token.is_failing());
    /// ```
    pub fn is_failing(&self) -> bool {
        self.shared.failing.load(Ordering::Acquire)
    }
}

impl<T> fmt::Debug for WatchedSecret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WatchedSecret")
            .field("name", &self.shared.name)
            .field("path", &self.shared.path)
            .field("rotations", &self.rotations())
            .field("failing", &self.is_failing())
            .finish_non_exhaustive()
    }
}

/// The current value of a [`WatchedSecret`], borrowed for a moment: dereferences to
/// the value. `Debug` and `Display` are the value's own (redacted or masked for the
/// secret types).
///
/// ```
/// use opskit_secret::rotation::WatchedSecret;
/// use opskit_secret::{ExposeSecret, SecretString};
///
/// let token = WatchedSecret::fixed("APP_API_TOKEN", SecretString::from("t0ken"));
/// let current = token.current();
/// assert_eq!(current.expose_secret(), "t0ken");
/// assert_eq!(format!("{current:?}"), "SecretBox<str>([REDACTED])");
/// ```
pub struct Current<T>(arc_swap::Guard<Arc<Snapshot<T>>>);

impl<T> Deref for Current<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0.current
    }
}

impl<T: fmt::Debug> fmt::Debug for Current<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0.current, f)
    }
}

/// The value's own `Display`: the masked URL of a [`ConnectionString`](crate::ConnectionString).
impl<T: fmt::Display> fmt::Display for Current<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&*self.0.current, f)
    }
}
