//! What a watched file may hold, and the check every value read passes.

use secrecy::SecretString;

use crate::ConnectionString;

/// A type a watched secret file is parsed into: [`SecretString`] (a token, a
/// password) or [`ConnectionString`] (a whole `DATABASE_URL`).
///
/// Implement it for a type of your own to watch a file holding one. The text given
/// is the file's content checked as at start (line endings stripped, surrounding
/// whitespace trimmed, not blank). The error is logged in `secret.rotation_failed`:
/// it must say what is wrong without quoting the text (a message that quotes eight
/// characters in a row of it is withheld anyway).
///
/// ```
/// use opskit_secret::rotation::SecretValue;
/// use opskit_secret::{ConnectionString, ExposeSecret, SecretString};
///
/// let token = SecretString::from_secret_text("t0ken")?;
/// assert_eq!(token.expose_secret(), "t0ken");
/// assert!(ConnectionString::from_secret_text("not a url").is_err());
/// # Ok::<(), String>(())
/// ```
pub trait SecretValue: Sized + Send + Sync + 'static {
    /// Parses the checked text of the file.
    ///
    /// # Errors
    ///
    /// Why the text is not a valid value, without quoting it.
    fn from_secret_text(text: &str) -> Result<Self, String>;
}

impl SecretValue for SecretString {
    fn from_secret_text(text: &str) -> Result<Self, String> {
        Ok(SecretString::from(text))
    }
}

impl SecretValue for ConnectionString {
    fn from_secret_text(text: &str) -> Result<Self, String> {
        ConnectionString::parse(text).map_err(|err| err.to_string())
    }
}

/// The content of a secret file made into a value the way opskit-config does it at
/// start for a `VAR_FILE` setting: surrounding whitespace trimmed, a blank value
/// refused, then parsed. The error never quotes the text.
pub(crate) fn check<T: SecretValue>(text: &str) -> Result<T, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("holds only whitespace; write the secret itself".to_owned());
    }
    T::from_secret_text(text).map_err(|reason| {
        if quotes(&reason, text) {
            "the value does not parse (the parser's message is withheld because it quotes \
             the secret)"
                .to_owned()
        } else {
            reason
        }
    })
}

/// Registers the value with the log redaction, in every form it may be quoted in,
/// as opskit-config does for the secrets it loads.
pub(crate) fn register_redaction(text: &str) {
    let text = text.trim();
    crate::redaction::register(text);
    if text.contains("://") {
        crate::redaction::register_url(text);
    }
}

/// Whether `message` quotes the secret: all of it, or a run of eight of its
/// characters. Of a URL only the secret parts count (its password and secret query
/// values): the scheme and host are no secret, and a hint such as "expected
/// postgres://user:password@host" shares them.
fn quotes(message: &str, text: &str) -> bool {
    if message.contains(text) {
        return true;
    }
    if text.contains("://") {
        return crate::connection::url_secret_forms(text)
            .iter()
            .any(|secret| crate::redaction::quotes(message, secret));
    }
    crate::redaction::quotes(message, text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn trims_as_config_does_and_refuses_blank_values() {
        let token: SecretString = check("  t0ken \t").unwrap();
        assert_eq!(token.expose_secret(), "t0ken");
        assert!(
            check::<SecretString>(" \t ")
                .unwrap_err()
                .contains("whitespace")
        );
    }

    #[test]
    fn a_parser_message_quoting_the_value_is_withheld() {
        struct Quoting;
        impl SecretValue for Quoting {
            fn from_secret_text(text: &str) -> Result<Self, String> {
                Err(format!("bad value {text}"))
            }
        }
        let reason = check::<Quoting>("canary-value-123").err().unwrap();
        assert!(!reason.contains("canary-v"), "{reason}");
        assert!(reason.contains("withheld"));
        let reason = check::<Quoting>("postgres://app:canary-pw-123@db")
            .err()
            .unwrap();
        assert!(reason.contains("withheld"), "{reason}");
    }

    #[test]
    fn a_url_hint_that_shares_only_the_scheme_is_kept() {
        let reason = check::<ConnectionString>("postgres://app:canary-pw-123@")
            .err()
            .unwrap();
        assert!(reason.contains("postgres://user:password@host"), "{reason}");
    }
}
