//! Durations as operators write them: `500ms`, `2s`, `1m`.

use std::time::Duration;

/// The longest lock timeout accepted: 10 minutes.
const MAX: Duration = Duration::from_secs(600);

/// A duration that is not a whole number of `ms`, `s` or `m` from 1 ms to 10 minutes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{text:?} is not a lock timeout: write a whole number of ms, s or m from 1ms to 10m, such as 500ms, 2s or 1m"
)]
pub struct DurationError {
    /// What was given.
    pub text: String,
}

/// Parses a lock timeout: a whole number followed by `ms`, `s` or `m`, from 1 ms
/// to 10 minutes, with no spaces.
///
/// ```
/// use std::time::Duration;
/// use opskit_migrate::lock_wait::parse_duration;
///
/// assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
/// assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
/// assert!(parse_duration("2").is_err(), "a unit is required");
/// ```
///
/// # Errors
///
/// [`DurationError`] for anything else.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let bad = || DurationError {
        text: text.to_owned(),
    };
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    let (number, unit) = text.split_at(digits);
    let number: u64 = number.parse().map_err(|_| bad())?;
    let duration = match unit {
        "ms" => Duration::from_millis(number),
        "s" => Duration::from_secs(number),
        "m" => Duration::from_secs(number.checked_mul(60).ok_or_else(bad)?),
        _ => return Err(bad()),
    };
    if duration.is_zero() || duration > MAX {
        return Err(bad());
    }
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_whole_numbers_with_a_unit_in_range_are_taken() {
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("10m"), Ok(MAX));
        for bad in [
            "",
            "s",
            "0s",
            "11m",
            "1.5s",
            " 2s",
            "2 s",
            "2S",
            "-1s",
            "2sec",
            "99999999999999999999s",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} was taken");
        }
        assert_eq!(
            parse_duration("2 s").unwrap_err().to_string(),
            "\"2 s\" is not a lock timeout: write a whole number of ms, s or m from 1ms to 10m, such as 500ms, 2s or 1m"
        );
    }
}
