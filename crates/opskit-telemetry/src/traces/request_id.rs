//! A request's id: kept from a trusted caller or made here, on the request's span,
//! its log lines and its response.

use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http::{HeaderName, HeaderValue};

/// The header that carries a request's id, in and out.
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Longest request id kept from a caller.
const MAX_REQUEST_ID_LEN: usize = 128;

/// A request's id: the caller's `x-request-id` when it is trusted and well formed
/// (1 to 128 of `A-Z a-z 0-9 - _ . : / + = @`), else 32 hex digits made here. Handlers
/// find it in the request's extensions; it is on the request's span and log lines
/// and in the response's `x-request-id`. Cloning it copies no text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(HeaderValue);

impl RequestId {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        // Only ever made from visible ASCII (checked, or hex digits).
        self.0.to_str().unwrap_or_default()
    }

    /// The id as the header value it is sent as.
    pub fn as_header_value(&self) -> &HeaderValue {
        &self.0
    }

    /// A new id: 32 hex digits, unique in this process and, with 64 random bits per
    /// process, across the fleet.
    pub fn generate() -> Self {
        // The seed and its 16 digits, the first half of every id, made once.
        static SEED: std::sync::OnceLock<(u64, [u8; 16])> = std::sync::OnceLock::new();
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let (seed, seed_digits) = SEED.get_or_init(|| {
            let seed = RandomState::new().hash_one(std::process::id());
            (seed, hex_digits(seed))
        });
        // splitmix64 of the counter: distinct for every n, and not a visible count.
        let mut n = seed.wrapping_add(
            COUNTER
                .fetch_add(1, Ordering::Relaxed)
                .wrapping_mul(0x9e37_79b9_7f4a_7c15),
        );
        n = (n ^ (n >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        n = (n ^ (n >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        n ^= n >> 31;
        let mut text = [0u8; 32];
        text[..16].copy_from_slice(seed_digits);
        text[16..].copy_from_slice(&hex_digits(n));
        // The digits stay where `Bytes` keeps its count of clones (one allocation):
        // a copy into a `Vec` would allocate that count again on the first clone.
        Self(
            HeaderValue::from_maybe_shared(Bytes::from_owner(text))
                .unwrap_or_else(|_| HeaderValue::from_static("0")),
        )
    }

    /// The caller's id, if it is one opskit keeps: short, of safe characters only (it
    /// goes into log lines and headers as it is).
    pub fn from_header(value: &HeaderValue) -> Option<Self> {
        let bytes = value.as_bytes();
        let safe = |b: &u8| b.is_ascii_alphanumeric() || b"-_.:/+=@".contains(b);
        (!bytes.is_empty() && bytes.len() <= MAX_REQUEST_ID_LEN && bytes.iter().all(safe))
            .then(|| Self(value.clone()))
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// `n` as 16 lowercase hex digits, most significant first.
fn hex_digits(n: u64) -> [u8; 16] {
    let mut digits = [0u8; 16];
    for (i, digit) in digits.iter_mut().enumerate() {
        *digit = HEX[((n >> (60 - 4 * i)) & 0xf) as usize];
    }
    digits
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_digits_are_the_number_in_lowercase_hex() {
        for n in [0, 1, 0xdead_beef, 0x0123_4567_89ab_cdef, u64::MAX] {
            assert_eq!(hex_digits(n), format!("{n:016x}").as_bytes());
        }
    }

    #[test]
    fn made_ids_are_32_hex_digits_with_the_process_seed_first() {
        let (a, b) = (RequestId::generate(), RequestId::generate());
        for id in [&a, &b] {
            assert_eq!(id.as_str().len(), 32, "{id}");
            assert!(id.as_str().bytes().all(|c| HEX.contains(&c)), "{id}");
        }
        assert_eq!(a.as_str()[..16], b.as_str()[..16]);
        assert_ne!(a, b);
        assert_eq!(a.clone().as_str(), a.as_str());
    }
}
