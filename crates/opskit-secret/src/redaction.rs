//! A process-wide list of secret values, and their redaction from any text: the
//! last line of defence for log lines that other crates write.
//!
//! opskit-config registers every secret it loads; opskit-telemetry's log writer
//! redacts every registered value from every line, whoever wrote it (a driver that
//! logs a connection parameter, a panic message, a dependency's debug output).
//! Services can register secrets of their own.
//!
//! ```
//! use opskit_secret::redaction;
//!
//! redaction::register("hunter2-canary");
//! redaction::register_url("postgres://app:pa55-word@db/notes?sslpassword=k3y-pass");
//! assert_eq!(
//!     redaction::redact("login with hunter2-canary, key k3y-pass"),
//!     "login with [REDACTED], key [REDACTED]"
//! );
//! ```
//!
//! A value is kept in the forms it may be quoted in: as is, percent-encoded, and
//! escaped as in a JSON string. Values shorter than four characters are not kept:
//! they would redact ordinary words.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::sync::{Arc, PoisonError, RwLock};

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};

/// What replaces a secret in redacted text.
pub const REDACTED: &str = "[REDACTED]";

/// Past this many bytes of patterns in all, the matcher is an NFA rather than a DFA.
const DFA_MAX_PATTERN_BYTES: usize = 4096;

/// The shortest value kept.
const MIN_CHARS: usize = 4;

struct Registry {
    values: BTreeSet<String>,
    matcher: Option<Arc<AhoCorasick>>,
    /// Values were added since the matcher was built: it is rebuilt when next
    /// needed, once, however many were added (a service registers its secrets at
    /// load, then logs).
    stale: bool,
}

static REGISTRY: RwLock<Registry> = RwLock::new(Registry {
    values: BTreeSet::new(),
    matcher: None,
    stale: false,
});

/// Whether `message` quotes `secret`: any eight characters of it in a row (all of
/// it, when shorter). For deciding to withhold a third party's message, such as a
/// parser's error, that may quote part of a value.
///
/// ```
/// use opskit_secret::redaction::quotes;
///
/// assert!(quotes("invalid digit in \"hunter2-canary\"", "hunter2-canary"));
/// assert!(quotes("near \"er2-cana\"", "hunter2-canary"));
/// assert!(!quotes("invalid digit", "hunter2-canary"));
/// ```
pub fn quotes(message: &str, secret: &str) -> bool {
    let chars: Vec<char> = secret.chars().collect();
    if chars.is_empty() {
        return false;
    }
    let window = chars.len().min(8);
    chars.windows(window).any(|run| {
        let run: String = run.iter().collect();
        message.contains(&run)
    })
}

/// Adds a secret value (in its quoted forms) to the process-wide list.
pub fn register(secret: &str) {
    register_forms(forms(secret));
}

/// Adds the secrets of a connection URL: its password and secret query values
/// (`password=`, `sslpassword=`), in every form they may be quoted in.
pub fn register_url(url: &str) {
    let mut all = Vec::new();
    for secret in crate::connection::url_secret_forms(url) {
        all.extend(forms(&secret));
    }
    register_forms(all);
}

/// `text` with every registered secret replaced by [`REDACTED`]; borrowed when
/// nothing matched (the common case costs one scan and no allocation).
pub fn redact(text: &str) -> Cow<'_, str> {
    match redact_bytes(text.as_bytes()) {
        Cow::Borrowed(_) => Cow::Borrowed(text),
        // Whole UTF-8 patterns replaced by ASCII: still UTF-8.
        Cow::Owned(bytes) => Cow::Owned(String::from_utf8_lossy(&bytes).into_owned()),
    }
}

/// [`redact`] for bytes (a log line on its way to the writer).
pub fn redact_bytes(bytes: &[u8]) -> Cow<'_, [u8]> {
    let Some(matcher) = matcher() else {
        return Cow::Borrowed(bytes);
    };
    if !matcher.is_match(bytes) {
        return Cow::Borrowed(bytes);
    }
    let mut out = Vec::with_capacity(bytes.len());
    matcher.replace_all_with_bytes(bytes, &mut out, |_, _, out| {
        out.extend_from_slice(REDACTED.as_bytes());
        true
    });
    Cow::Owned(out)
}

/// Whether any secret is registered.
pub fn is_active() -> bool {
    !REGISTRY
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .values
        .is_empty()
}

fn matcher() -> Option<Arc<AhoCorasick>> {
    {
        let registry = REGISTRY.read().unwrap_or_else(PoisonError::into_inner);
        if !registry.stale {
            return registry.matcher.clone();
        }
    }
    let mut registry = REGISTRY.write().unwrap_or_else(PoisonError::into_inner);
    if registry.stale {
        // Longest first among overlapping matches, so a secret containing another
        // is replaced whole. aho-corasick picks the automaton (a DFA for the few
        // short patterns of a service), except for long values: a DFA's build time
        // grows with the square of a pattern's length (a 100 KiB token took minutes
        // to build), a contiguous NFA's only linearly, and it searches nearly as fast.
        let total: usize = registry.values.iter().map(String::len).sum();
        let kind = (total > DFA_MAX_PATTERN_BYTES).then_some(AhoCorasickKind::ContiguousNFA);
        registry.matcher = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .kind(kind)
            .build(&registry.values)
            .ok()
            .map(Arc::new);
        registry.stale = false;
    }
    registry.matcher.clone()
}

/// The forms of one value: as is, percent-encoded, JSON-escaped.
fn forms(secret: &str) -> Vec<String> {
    if secret.chars().count() < MIN_CHARS {
        return Vec::new();
    }
    // Percent-encoded as URL libraries do (unreserved characters kept) and as
    // strict encoders do (everything but letters and digits).
    const UNRESERVED_KEPT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    let mut forms = vec![secret.to_owned()];
    for set in [UNRESERVED_KEPT, percent_encoding::NON_ALPHANUMERIC] {
        forms.push(percent_encoding::utf8_percent_encode(secret, set).to_string());
    }
    if let Ok(json) = serde_json::to_string(secret) {
        forms.push(json[1..json.len() - 1].to_owned());
    }
    forms
}

fn register_forms(new: Vec<String>) {
    if new.is_empty() {
        return;
    }
    let mut registry = REGISTRY.write().unwrap_or_else(PoisonError::into_inner);
    for value in new {
        if registry.values.insert(value) {
            registry.stale = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_is_redacted_and_short_values_are_not_kept() {
        register("sec\"ret/wörd");
        register("abc");
        let line = r#"{"a":"sec\"ret/wörd","b":"sec%22ret%2Fw%C3%B6rd","c":"abc"}"#;
        assert_eq!(
            redact(line),
            r#"{"a":"[REDACTED]","b":"[REDACTED]","c":"abc"}"#
        );
        assert!(matches!(redact("nothing here"), Cow::Borrowed(_)));
    }

    /// A secret of 100 KiB (an environment variable holds up to 128 KiB) is
    /// registered and redacted like any other; its matcher once took minutes to build.
    #[test]
    fn a_very_long_secret_is_redacted() {
        let long = "q".repeat(100 * 1024);
        register(&long);
        let line = format!("token={long};");
        assert_eq!(redact(&line), "token=[REDACTED];");
    }
}
