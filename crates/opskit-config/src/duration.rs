//! The humane duration format: `30s`, `500ms`, `1m30s`, `2h` (humantime's).

use std::time::Duration;

/// What the duration format accepts, for error messages and docs.
pub(crate) const DURATION_EXPECTED: &str =
    "a duration such as 30s, 500ms, 1m30s or 2h (units: ns, us, ms, s, m, h, d)";

/// Parses a humane duration: one or more `<number><unit>` parts, optionally separated
/// by spaces, added together. This is [`humantime`]'s format, the one opskit-health
/// prints and tools such as systemd use.
///
/// Units: `ns`, `us` (or `µs`), `ms`, `s` (or `sec`), `m` (or `min`), `h`, `d`, and
/// their long names. `0` alone needs no unit; any other bare number is refused,
/// because `30` could mean seconds or milliseconds and guessing is how outages start.
///
/// This is the format used for [`std::time::Duration`] fields of a
/// [`Config`](crate::Config).
///
/// ```
/// use std::time::Duration;
/// use opskit_config::parse_duration;
///
/// assert_eq!(parse_duration("30s"), Some(Duration::from_secs(30)));
/// assert_eq!(parse_duration("1m30s"), Some(Duration::from_secs(90)));
/// assert_eq!(parse_duration("1h 15m"), Some(Duration::from_secs(4500)));
/// assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
/// assert_eq!(parse_duration("0"), Some(Duration::ZERO));
/// assert_eq!(parse_duration("30"), None);
/// assert_eq!(parse_duration("30 parsecs"), None);
/// ```
#[must_use]
pub fn parse_duration(input: &str) -> Option<Duration> {
    let input = input.trim();
    if input == "0" {
        return Some(Duration::ZERO);
    }
    humantime::parse_duration(input).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_unit() {
        assert_eq!(parse_duration("7ns"), Some(Duration::from_nanos(7)));
        assert_eq!(parse_duration("7us"), Some(Duration::from_micros(7)));
        assert_eq!(parse_duration("7µs"), Some(Duration::from_micros(7)));
        assert_eq!(parse_duration("7ms"), Some(Duration::from_millis(7)));
        assert_eq!(parse_duration("7s"), Some(Duration::from_secs(7)));
        assert_eq!(parse_duration("7m"), Some(Duration::from_secs(420)));
        assert_eq!(parse_duration("7min"), Some(Duration::from_secs(420)));
        assert_eq!(parse_duration("7h"), Some(Duration::from_secs(7 * 3600)));
        assert_eq!(parse_duration("7d"), Some(Duration::from_secs(7 * 86400)));
    }

    #[test]
    fn refuses_ambiguous_or_malformed_input() {
        for input in [
            "", " ", "30", "s", "1x", "1.2.3s", ".s", "-1s", "1s-", "1e3s",
        ] {
            assert_eq!(parse_duration(input), None, "{input:?}");
        }
    }

    #[test]
    fn refuses_overflow_without_panicking() {
        assert_eq!(
            parse_duration("99999999999999999999999999999999999999d"),
            None
        );
        assert_eq!(parse_duration("999999999999999999999d"), None);
    }

    #[test]
    fn adds_parts() {
        assert_eq!(
            parse_duration(" 1h30m15s "),
            Some(Duration::from_secs(5415))
        );
        assert_eq!(
            parse_duration("1 s 500ms"),
            Some(Duration::from_millis(1500))
        );
    }
}
