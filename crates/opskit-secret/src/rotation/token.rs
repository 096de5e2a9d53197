//! Checking a presented token against a rotating one, with a grace period.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use subtle::{Choice, ConstantTimeEq};

use super::WatchedSecret;

/// Checks presented tokens against a [`WatchedSecret`] token: the current value is
/// accepted at once, the value it replaced for a grace period after the rotation, so
/// that clients which switch to the new token after the server does are not
/// refused. After the grace period only the current value passes.
///
/// Every check compares the presented token with both values, whether or not the
/// first matched and whether or not the grace period is over (with no previous
/// value, the current one is compared twice), and combines the results without a
/// branch: the time taken does not reveal which value matched, nor where a guess
/// differs. As with [`secret_eq`](crate::secret_eq), it does reveal whether the
/// lengths differ.
///
/// ```
/// use std::time::Duration;
/// use opskit_secret::rotation::{TokenCheck, WatchOptions};
/// use opskit_secret::{SecretFile, SecretString};
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("api_token");
/// std::fs::write(&path, "old-token")?;
/// let token = SecretFile::new(&path)
///     .watch_with::<SecretString>("APP_API_TOKEN", WatchOptions::default().interval(Duration::from_millis(20)))?;
/// let check = TokenCheck::new(&token, Duration::from_secs(600));
/// assert!(check.verify(b"old-token"));
///
/// let (tx, rx) = std::sync::mpsc::channel();
/// token.on_rotate(move |_: &SecretString| tx.send(()).unwrap());
/// std::fs::write(&path, "new-token")?;
/// rx.recv_timeout(Duration::from_secs(30))?;
/// assert!(check.verify(b"new-token"));
/// assert!(check.verify(b"old-token")); // within the grace period
/// assert!(!check.verify(b"guess"));
///
/// let strict = TokenCheck::new(&token, Duration::ZERO);
/// assert!(!strict.verify(b"old-token"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct TokenCheck {
    token: WatchedSecret<SecretString>,
    grace: Duration,
}

impl TokenCheck {
    /// A check of `token` that accepts the previous value for `grace` after each
    /// rotation (`Duration::ZERO`: never).
    pub fn new(token: &WatchedSecret<SecretString>, grace: Duration) -> Self {
        Self {
            token: token.clone(),
            grace,
        }
    }

    /// Whether `presented` is the current token, or the previous one within the
    /// grace period; in constant time over both.
    #[must_use]
    pub fn verify(&self, presented: &[u8]) -> bool {
        let state = self.token.shared.state.load();
        let current = state.current.expose_secret().as_bytes();
        let (previous, in_grace) = match &state.previous {
            Some(previous) => (
                previous.expose_secret().as_bytes(),
                state.since.elapsed() < self.grace,
            ),
            None => (current, false),
        };
        let matches_current = current.ct_eq(presented);
        let matches_previous = previous.ct_eq(presented);
        bool::from(matches_current | (matches_previous & Choice::from(u8::from(in_grace))))
    }

    /// The grace period during which the previous value is accepted.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use opskit_secret::{rotation::{TokenCheck, WatchedSecret}, SecretString};
    /// let token = WatchedSecret::fixed("APP_API_TOKEN", SecretString::from("t0ken"));
    /// assert_eq!(TokenCheck::new(&token, Duration::from_secs(60)).grace(), Duration::from_secs(60));
    /// ```
    pub fn grace(&self) -> Duration {
        self.grace
    }

    /// The token checked.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use opskit_secret::{rotation::{TokenCheck, WatchedSecret}, SecretString};
    /// let token = WatchedSecret::fixed("APP_API_TOKEN", SecretString::from("t0ken"));
    /// assert_eq!(TokenCheck::new(&token, Duration::ZERO).token().name(), "APP_API_TOKEN");
    /// ```
    pub fn token(&self) -> &WatchedSecret<SecretString> {
        &self.token
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_previous_token_passes_only_within_the_grace_period() {
        let token = WatchedSecret::fixed("T", SecretString::from("first-token"));
        let lenient = TokenCheck::new(&token, Duration::from_secs(3600));
        let strict = TokenCheck::new(&token, Duration::ZERO);
        assert!(lenient.verify(b"first-token"));
        assert!(!lenient.verify(b"first-tokeN"));

        token.shared.publish(SecretString::from("second-token"));
        assert!(lenient.verify(b"second-token") && strict.verify(b"second-token"));
        assert!(lenient.verify(b"first-token"));
        assert!(!strict.verify(b"first-token"));

        // Only one previous value is kept.
        token.shared.publish(SecretString::from("third-token"));
        assert!(lenient.verify(b"second-token"));
        assert!(!lenient.verify(b"first-token"));
    }
}
