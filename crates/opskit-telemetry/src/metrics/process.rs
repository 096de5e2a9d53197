//! When this process started.

use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// When the process started, as wall-clock time.
///
/// On Linux it is read from `/proc` (the process's start in clock ticks after boot,
/// against the time since boot now), so it is right, to 10 ms, even when called
/// late; elsewhere, or if `/proc` cannot be read, it is the time of the first call.
/// [`init`](crate::logs::init) makes that first call.
pub fn start_time() -> SystemTime {
    static START: OnceLock<SystemTime> = OnceLock::new();
    *START.get_or_init(|| from_proc().unwrap_or_else(SystemTime::now))
}

/// Time since [`start_time`].
pub fn uptime() -> Duration {
    SystemTime::now()
        .duration_since(start_time())
        .unwrap_or_default()
}

/// Sets `process_virtual_memory_max_bytes` to -1 when the address space has no
/// limit, as Prometheus' own clients report it (`metrics-process` reports 0, which
/// reads as "no room at all"). Read from `/proc/self/limits`; nothing elsewhere.
pub fn record_virtual_memory_max_metric() {
    if address_space_unlimited() == Some(true) {
        metrics::gauge!("process_virtual_memory_max_bytes").set(-1.0);
    }
}

/// Whether `/proc/self/limits` says the address space is unlimited.
fn address_space_unlimited() -> Option<bool> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max address space"))?;
    let soft = line["Max address space".len()..]
        .split_whitespace()
        .next()?;
    Some(soft == "unlimited")
}

/// Sets the `process_start_time_seconds` gauge (seconds since the Unix epoch).
pub fn record_start_time_metric() {
    let seconds = start_time()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    metrics::gauge!("process_start_time_seconds").set(seconds);
}

fn from_proc() -> Option<SystemTime> {
    // Field 22 of /proc/self/stat, counted after the command name in parentheses
    // (which may itself hold spaces and parentheses): when the process started, in
    // clock ticks after boot.
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after_command = &stat[stat.rfind(')')? + 2..];
    let ticks: u64 = after_command.split_whitespace().nth(19)?.parse().ok()?;
    #[cfg(unix)]
    let hz = rustix::param::clock_ticks_per_second();
    #[cfg(not(unix))]
    let hz = 100;
    if hz == 0 {
        return None;
    }
    let started_after_boot = Duration::from_nanos(ticks.saturating_mul(1_000_000_000) / hz);
    // The time since boot now, to 10 ms, from the same clock. (Adding the process's
    // ticks to /proc/stat's `btime` instead is off by up to a second: `btime` is
    // whole seconds, and drifts as the wall clock is adjusted.)
    let now = SystemTime::now();
    let uptime = std::fs::read_to_string("/proc/uptime").ok()?;
    let since_boot = parse_seconds(uptime.split_whitespace().next()?)?;
    let age = since_boot.checked_sub(started_after_boot)?;
    now.checked_sub(age)
}

/// `12345.67` as a duration, without going through a float.
fn parse_seconds(text: &str) -> Option<Duration> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, "0"));
    let secs: u64 = whole.parse().ok()?;
    let digits = fraction.len().min(9);
    let nanos: u64 = fraction[..digits].parse::<u64>().ok()? * 10u64.pow(9 - digits as u32);
    Some(Duration::new(secs, u32::try_from(nanos).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_start_time_is_in_the_recent_past() {
        let start = start_time();
        let now = SystemTime::now();
        assert!(
            start <= now + Duration::from_secs(1),
            "{start:?} is in the future"
        );
        assert!(now.duration_since(start).unwrap() < Duration::from_secs(3600));
        assert_eq!(start_time(), start, "stable across calls");
    }

    #[test]
    fn seconds_parse_to_the_nanosecond() {
        assert_eq!(parse_seconds("12.34"), Some(Duration::from_millis(12_340)));
        assert_eq!(parse_seconds("7"), Some(Duration::from_secs(7)));
        assert_eq!(parse_seconds("x.1"), None);
    }
}
