//! When this process started.

use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// When the process started, as wall-clock time.
///
/// On Linux it is read from `/proc` (the process's start in clock ticks after boot,
/// plus the boot time), so it is right even when called late; elsewhere, or if
/// `/proc` cannot be read, it is the time of the first call. [`init`](crate::init)
/// makes that first call.
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
    // (which may itself hold spaces and parentheses).
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after_command = &stat[stat.rfind(')')? + 2..];
    let ticks: u64 = after_command.split_whitespace().nth(19)?.parse().ok()?;
    let boot: u64 = std::fs::read_to_string("/proc/stat")
        .ok()?
        .lines()
        .find_map(|line| line.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()?;
    // USER_HZ is 100 on every Linux architecture in use.
    let after_boot = Duration::from_millis(ticks * 10);
    Some(UNIX_EPOCH + Duration::from_secs(boot) + after_boot)
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
}
