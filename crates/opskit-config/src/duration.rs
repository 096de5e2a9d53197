//! The humane duration format: `30s`, `500ms`, `1m30s`, `2h`.

use std::time::Duration;

/// What the duration format accepts, for error messages and docs.
pub(crate) const DURATION_EXPECTED: &str =
    "a duration such as 30s, 500ms, 1m30s or 2h (units: ns, us, ms, s, m, h, d)";

/// Parses a humane duration: one or more `<number><unit>` parts, optionally separated
/// by spaces, added together.
///
/// Units: `ns`, `us` (or `µs`), `ms`, `s`, `m` (or `min`), `h`, `d`. A number may have
/// a fraction (`1.5h`). `0` alone needs no unit; any other bare number is refused,
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
/// assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
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
    if input.is_empty() {
        return None;
    }
    let mut rest = input;
    let mut total_nanos: u128 = 0;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, tail) = rest.split_at(number_len);
        let unit_len = tail
            .find(|c: char| !c.is_alphabetic() && c != 'µ')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let nanos_per_unit: u128 = match unit {
            "ns" => 1,
            "us" | "µs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" | "min" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "d" => 86_400_000_000_000,
            _ => return None,
        };
        total_nanos = total_nanos.checked_add(scale(number, nanos_per_unit)?)?;
        rest = tail.trim_start();
    }
    let secs = u64::try_from(total_nanos / 1_000_000_000).ok()?;
    // The remainder is below 10^9, so it fits.
    let nanos = (total_nanos % 1_000_000_000) as u32;
    Some(Duration::new(secs, nanos))
}

/// `number * nanos_per_unit`, where `number` may have a decimal fraction; fractions
/// finer than a nanosecond are truncated.
fn scale(number: &str, nanos_per_unit: u128) -> Option<u128> {
    let (whole, fraction) = match number.split_once('.') {
        Some((whole, fraction)) => (whole, fraction),
        None => (number, ""),
    };
    if whole.is_empty() && fraction.is_empty() {
        return None;
    }
    let parse = |digits: &str| -> Option<u128> {
        if digits.is_empty() {
            Some(0)
        } else if digits.bytes().all(|b| b.is_ascii_digit()) {
            digits.parse().ok()
        } else {
            None
        }
    };
    let mut nanos = parse(whole)?.checked_mul(nanos_per_unit)?;
    // At most 18 fraction digits matter at nanosecond resolution of a day.
    let fraction = &fraction[..fraction.len().min(18)];
    if !fraction.is_empty() {
        let numerator = parse(fraction)?;
        let denominator = 10u128.pow(fraction.len() as u32);
        nanos = nanos.checked_add(numerator.checked_mul(nanos_per_unit)? / denominator)?;
    }
    Some(nanos)
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
            "", " ", "30", "s", "1x", "1.2.3s", ".s", "-1s", "1s-", "1 s", "1e3s",
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
    fn adds_parts_and_fractions() {
        assert_eq!(
            parse_duration(" 1h30m15s "),
            Some(Duration::from_secs(5415))
        );
        assert_eq!(parse_duration("0.5ms"), Some(Duration::from_micros(500)));
        assert_eq!(parse_duration(".5s"), Some(Duration::from_millis(500)));
    }
}
