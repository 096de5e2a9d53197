//! How a file is watched.

use std::time::Duration;

/// How often a watched file is read by default: 1 second.
///
/// Short enough that a connection opened two seconds after a rotation uses the new
/// credentials; reading a file of a few bytes once a second costs nothing a service
/// can measure.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(1);

/// How long a changed file must keep the same content before it is taken: 100 ms.
pub const DEFAULT_SETTLE: Duration = Duration::from_millis(100);

/// How a file is watched: how often it is read, and how long a change must hold
/// still before it is taken.
///
/// ```
/// use std::time::Duration;
/// use opskit_secret::rotation::WatchOptions;
///
/// let options = WatchOptions::default()
///     .interval(Duration::from_secs(5))
///     .settle(Duration::from_millis(250));
/// assert_eq!(options.interval_value(), Duration::from_secs(5));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchOptions {
    interval: Duration,
    settle: Duration,
}

impl Default for WatchOptions {
    fn default() -> Self {
        Self {
            interval: DEFAULT_POLL_INTERVAL,
            settle: DEFAULT_SETTLE,
        }
    }
}

impl WatchOptions {
    /// Sets how often the file is read ([`DEFAULT_POLL_INTERVAL`] by default).
    #[must_use]
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// Sets how long a changed content must stay the same before it is taken
    /// ([`DEFAULT_SETTLE`] by default): the file is read again after this long, and
    /// a content that differs is still being written. A read that fails is also
    /// tried again after this long before it counts as a failure (a swap can remove
    /// a directory under a read). Zero turns the second reads off.
    #[must_use]
    pub fn settle(mut self, settle: Duration) -> Self {
        self.settle = settle;
        self
    }

    /// How often the file is read.
    pub fn interval_value(&self) -> Duration {
        self.interval
    }

    /// How long a change must hold still.
    pub fn settle_value(&self) -> Duration {
        self.settle
    }
}
