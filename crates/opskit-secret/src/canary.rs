//! Leak tests: prove that a secret value never reaches some output.
//!
//! Set a recognisable *canary* value as the secret (in an environment variable, a
//! secret file, a request), run the code under test, capture what it printed, logged
//! or answered, and assert that the canary is nowhere in it. The canary is searched
//! for as given and percent-encoded (as it would appear inside a URL).
//!
//! ```
//! use opskit_secret::canary::{Canary, assert_no_leak, find_leak};
//! use opskit_secret::ConnectionString;
//!
//! let password = Canary::new("db-password");
//! let url: ConnectionString =
//!     format!("postgres://app:{}@db/notes", password.value()).parse()?;
//!
//! assert_no_leak(format!("connecting to {url}"), password.value(), "the log line");
//! assert!(find_leak(format!("{url:?}"), password.value()).is_none());
//! assert!(find_leak(format!("leaked {}", password.value()), password.value()).is_some());
//! # Ok::<(), opskit_secret::ConnectionStringError>(())
//! ```

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};

/// A unique, recognisable value to use as a secret in tests.
///
/// The value looks like `canary-db-password-3f9c2a41d07b6e58`: a label for the reader
/// and 64 random bits, so it cannot occur in output by chance.
#[derive(Clone, PartialEq, Eq)]
pub struct Canary {
    value: String,
}

impl Canary {
    /// A new canary; `label` (letters, digits and `-` read best) says what it stands for.
    pub fn new(label: &str) -> Self {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let random = RandomState::new().hash_one((n, std::process::id()));
        Self {
            value: format!("canary-{label}-{random:016x}"),
        }
    }

    /// The canary's value, to plant as a secret.
    pub fn value(&self) -> &str {
        &self.value
    }
}

impl fmt::Debug for Canary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A canary is not a real secret: printing it helps find the leak.
        f.debug_tuple("Canary").field(&self.value).finish()
    }
}

/// Where a canary was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leak {
    /// Byte offset of the match in the output.
    pub offset: usize,
    /// Which form matched: `"as is"` or `"percent-encoded"`.
    pub form: &'static str,
    /// Up to 40 bytes of output each side of the match, with the match written
    /// as `<CANARY>`, lossily decoded as UTF-8.
    pub context: String,
}

impl fmt::Display for Leak {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "found {} at byte {}: ...{}...",
            self.form, self.offset, self.context
        )
    }
}

/// Looks for `canary` in `output`, as given and percent-encoded.
///
/// Returns `None` when the canary is empty (an empty needle proves nothing and would
/// match everywhere).
pub fn find_leak(output: impl AsRef<[u8]>, canary: &str) -> Option<Leak> {
    let output = output.as_ref();
    if canary.is_empty() {
        return None;
    }
    let encoded = percent_encode(canary);
    let forms: [(&'static str, &[u8]); 2] = [
        ("as is", canary.as_bytes()),
        ("percent-encoded", encoded.as_bytes()),
    ];
    forms.into_iter().find_map(|(form, needle)| {
        let offset = output.windows(needle.len()).position(|w| w == needle)?;
        let start = offset.saturating_sub(40);
        let end = (offset + needle.len() + 40).min(output.len());
        let context = format!(
            "{}<CANARY>{}",
            String::from_utf8_lossy(&output[start..offset]),
            String::from_utf8_lossy(&output[offset + needle.len()..end])
        );
        Some(Leak {
            offset,
            form,
            context,
        })
    })
}

/// Panics when `canary` occurs in `output`; `what` names the output in the message
/// ("stderr", "the /readyz body", ...).
///
/// The panic message shows where the canary was found, with the canary itself
/// replaced by `<CANARY>`.
///
/// # Panics
///
/// When the canary is found, or when `canary` is empty (a test that plants an empty
/// secret proves nothing).
#[track_caller]
pub fn assert_no_leak(output: impl AsRef<[u8]>, canary: &str, what: &str) {
    assert!(
        !canary.is_empty(),
        "assert_no_leak: the canary is empty, so the check would prove nothing"
    );
    if let Some(leak) = find_leak(output, canary) {
        panic!("secret leaked into {what}: {leak}");
    }
}

/// Percent-encodes everything but unreserved URL characters.
fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len() * 3);
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canaries_are_unique_and_labelled() {
        let a = Canary::new("token");
        let b = Canary::new("token");
        assert_ne!(a, b);
        assert!(a.value().starts_with("canary-token-"));
    }

    #[test]
    fn finds_plain_and_percent_encoded_forms() {
        let leak = find_leak("xx p@ss w yy", "p@ss w").unwrap();
        assert_eq!((leak.offset, leak.form), (3, "as is"));
        assert_eq!(leak.context, "xx <CANARY> yy");
        let leak = find_leak("url=postgres://a:p%40ss%20w@h", "p@ss w").unwrap();
        assert_eq!(leak.form, "percent-encoded");
        assert!(find_leak("nothing here", "p@ss w").is_none());
        assert!(find_leak("anything", "").is_none());
    }

    #[test]
    #[should_panic(expected = "secret leaked into stderr: found as is at byte 6")]
    fn assert_no_leak_panics_with_location_not_value() {
        assert_no_leak("error hunter2 here", "hunter2", "stderr");
    }

    #[test]
    fn assert_no_leak_message_masks_the_canary() {
        let result = std::panic::catch_unwind(|| assert_no_leak("a hunter2 b", "hunter2", "x"));
        let payload = result.unwrap_err();
        let message = payload.downcast_ref::<String>().unwrap();
        assert!(!message.contains("hunter2"), "{message}");
        assert!(message.contains("<CANARY>"), "{message}");
    }
}
