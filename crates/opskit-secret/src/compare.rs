//! Constant-time comparison of tokens.

use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

/// Compares two byte strings in time that does not depend on where they differ.
///
/// Use it to check a presented API token against the expected one: an ordinary `==`
/// returns at the first differing byte, which lets an attacker guess a token byte by
/// byte from response times. The comparison does reveal whether the *lengths*
/// differ, which is harmless for tokens of a fixed length.
///
/// ```
/// use opskit_secret::constant_time_eq;
///
/// assert!(constant_time_eq(b"abc", b"abc"));
/// assert!(!constant_time_eq(b"abc", b"abd"));
/// assert!(!constant_time_eq(b"abc", b"abcd"));
/// ```
#[must_use]
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// Checks a presented token against an expected secret in constant time.
///
/// ```
/// use opskit_secret::{SecretString, secret_eq};
///
/// let expected = SecretString::from("t0ken");
/// assert!(secret_eq(&expected, b"t0ken"));
/// assert!(!secret_eq(&expected, b"t0kem"));
/// ```
#[must_use]
pub fn secret_eq(expected: &SecretString, presented: &[u8]) -> bool {
    constant_time_eq(expected.expose_secret().as_bytes(), presented)
}
