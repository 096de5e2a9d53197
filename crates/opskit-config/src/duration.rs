//! The humane duration format: `30s`, `500ms`, `1m30s`, `2h` (humantime's).

use std::time::Duration;

/// What the duration format accepts, for error messages and docs.
pub(crate) const DURATION_EXPECTED: &str = "a duration such as 30s, 500ms, 1m30s, 2h or 5 minutes \
     (units: ns, us, ms, s, m, h, d, or their names such as sec, min, hours, days), \
     at most 3650d";

/// The longest duration a setting may hold: ten years. Longer values are typos, and
/// the code a setting is handed to adds it to an [`Instant`](std::time::Instant)
/// (a deadline, a pool's acquire timeout), which overflows and panics far above
/// this bound but never below it.
pub const MAX_DURATION: Duration = Duration::from_secs(3650 * 86_400);

/// The unit names the format accepts: humantime's, without its calendar units
/// (weeks, months, years), whose length is a matter of convention.
const UNITS: [&str; 23] = [
    "ns", "nsec", "us", "usec", "µs", "ms", "msec", "s", "sec", "second", "seconds", "m", "min",
    "minute", "minutes", "h", "hr", "hour", "hours", "d", "day", "days", "secs",
];

/// Parses a humane duration: one or more `<number><unit>` parts, optionally separated
/// by spaces, added together. This is [`humantime`]'s format, the one opskit-health
/// prints and tools such as systemd use.
///
/// Units: `ns`, `us` (or `µs`), `ms`, `s` (or `sec`), `m` (or `min`), `h`, `d`, and
/// their long names (`5 minutes`, `2 days`, `30sec`). Weeks, months and years are
/// refused: write days. `0` alone needs no unit (zero is zero in every unit); any
/// other bare number is refused, because `30` could mean seconds or milliseconds
/// and guessing is how outages start. A duration is at most [`MAX_DURATION`]
/// (3650 days), so whatever the setting is handed to can add it to an `Instant`.
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
/// assert_eq!(parse_duration("2 days"), Some(Duration::from_secs(2 * 86_400)));
/// assert_eq!(parse_duration("30 parsecs"), None);
/// assert_eq!(parse_duration("1y"), None);
/// assert_eq!(parse_duration("3651d"), None);
/// ```
#[must_use]
pub fn parse_duration(input: &str) -> Option<Duration> {
    let input = input.trim();
    if input == "0" {
        return Some(Duration::ZERO);
    }
    let units_known = input
        .split(|c: char| c.is_ascii_digit() || c.is_whitespace())
        .filter(|unit| !unit.is_empty())
        .all(|unit| UNITS.contains(&unit));
    if !units_known {
        return None;
    }
    humantime::parse_duration(input)
        .ok()
        .filter(|duration| *duration <= MAX_DURATION)
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
            "", " ", "30", "s", "1x", "1.2.3s", ".s", "-1s", "1s-", "1e3s", "1y", "2w", "1M",
            "3 months", "1 year",
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
        assert_eq!(parse_duration("200000000000000d"), None);
    }

    #[test]
    fn long_unit_names_are_accepted_and_the_bound_is_inclusive() {
        assert_eq!(parse_duration("5 minutes"), Some(Duration::from_secs(300)));
        assert_eq!(parse_duration("30sec"), Some(Duration::from_secs(30)));
        assert_eq!(
            parse_duration("2 hours 1 second"),
            Some(Duration::from_secs(7201))
        );
        assert_eq!(parse_duration("3650d"), Some(MAX_DURATION));
        assert_eq!(parse_duration("3650d 1ns"), None);
        // Whatever a setting is handed to can add the longest one to an Instant.
        assert!(
            std::time::Instant::now()
                .checked_add(MAX_DURATION)
                .is_some()
        );
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
