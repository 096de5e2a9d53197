//! Every setting the notes service reads (its own `--describe` listing), each given
//! the values that break services: 0, -1, the largest numbers of the usual integer
//! types and one past them, a duration too long to add to a clock reading, empty,
//! only whitespace, and a value of 100 KiB (the kernel refuses an environment
//! string past 128 KiB, so 1 MB goes through the secrets' `_FILE` instead).
//!
//! Each start must end in exit 78 naming the variable before anything runs, or in
//! a running service that answers its routes and stops cleanly on SIGTERM: never
//! exit 101, never a `service.panic` event, never a Rust panic message.

mod support;

use std::path::Path;
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use opskit_testkit::process::{Service, get};

/// The values every setting is given.
fn values() -> Vec<(String, String)> {
    let mut values: Vec<(String, String)> = [
        ("zero", "0"),
        ("minus one", "-1"),
        ("u32::MAX", "4294967295"),
        ("u32::MAX + 1", "4294967296"),
        ("u64::MAX", "18446744073709551615"),
        ("u64::MAX + 1", "18446744073709551616"),
        ("the longest duration", "3650d"),
        ("an overflowing duration", "200000000000000d"),
        ("empty", ""),
        ("whitespace only", "  \t "),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value.to_owned()))
    .collect();
    values.push(("100 KiB".to_owned(), "x".repeat(100 * 1024)));
    values
}

/// The variables `notes --describe` lists, with whether each is a secret (which
/// also reads `<VAR>_FILE`). `RUST_LOG` is left out: a filter such as `0` (off)
/// silences the events this sweep waits for, by design, and its bad values are
/// `notes_failures`' `log_settings_join_the_one_report_and_a_silencing_filter_is_called_out`.
fn settings() -> Vec<(String, bool)> {
    support::describe_rows()
        .into_iter()
        .filter(|cells| cells[1] != "`RUST_LOG`")
        .map(|cells| {
            (
                cells[1].trim_matches('`').to_owned(),
                cells[5].starts_with("yes"),
            )
        })
        .collect()
}

/// How one start ended.
enum Outcome {
    /// Exit 78 before serving, naming the variable.
    Refused,
    /// Ready, answered, stopped cleanly.
    Ran,
}

/// Starts the service with `variable=value` over a base environment that keeps it
/// on a free port and a fresh SQLite file, and reads how it ends.
fn run(variable: &str, value: &str, dir: &Path) -> Result<Outcome, String> {
    let data = dir.join("data");
    let mut env = vec![
        ("NOTES_LISTEN", "127.0.0.1:0"),
        ("NOTES_DATA_DIR", data.to_str().unwrap()),
        ("NOTES_DRAIN_DELAY", "0s"),
    ];
    env.retain(|(name, _)| *name != variable);
    env.push((variable, value));
    let mut service = Service::spawn(&support::notes(), dir, &env);
    let deadline = Instant::now() + Duration::from_secs(60);
    let ready = loop {
        if service.is_running() {
            let ready = (service.lines.lock().unwrap().iter())
                .any(|line| line.contains("\"event\":\"service.ready\""));
            if let Some(address) = ready.then(|| service_address(&service)).flatten() {
                break Some(address);
            }
        } else {
            break None;
        }
        if Instant::now() > deadline {
            return Err("neither ready nor stopped within 60 s".to_owned());
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut answers = Vec::new();
    if let Some(address) = ready {
        for path in ["/hello", "/notes", "/readyz", "/livez"] {
            match get(address, path) {
                Ok((status, _)) => answers.push(format!("{path} {status}")),
                Err(err) => return Err(format!("{path} was not answered: {err}")),
            }
        }
        service.terminate();
    }
    let (code, lines, stderr) = finish_within(service, Duration::from_secs(20))?;
    let output = format!("{}\n{stderr}", lines.join("\n"));
    if output.contains("\"service.panic\"") || output.contains("panicked at") {
        return Err(format!("panicked (exit {code}):\n{output}"));
    }
    match (ready, code) {
        (Some(_), 0) => Ok(Outcome::Ran),
        (Some(_), code) => Err(format!(
            "ran ({}) but exited {code} on SIGTERM:\n{output}",
            answers.join(", ")
        )),
        (None, 78) if output.contains(variable) => Ok(Outcome::Refused),
        // A blank NOTES_LISTEN takes the default port, which another start of the
        // sweep may hold at that moment.
        (None, 71) if variable == "NOTES_LISTEN" && value.trim().is_empty() => Ok(Outcome::Ran),
        (None, code) => Err(format!(
            "stopped with exit {code} (78 naming the variable expected):\n{output}"
        )),
    }
}

/// The HTTP listener's address from `service.listening`.
fn service_address(service: &Service) -> Option<std::net::SocketAddr> {
    service.lines.lock().unwrap().iter().find_map(|line| {
        let event: serde_json::Value = serde_json::from_str(line).ok()?;
        (event["event"] == "service.listening" && event["listener"] != "metrics")
            .then(|| event["address"].as_str()?.parse().ok())
            .flatten()
    })
}

/// [`Service::finish`], but a service still draining after `limit` (a drain delay of
/// ten years is a value it accepts) is stopped and counted as running.
fn finish_within(
    mut service: Service,
    limit: Duration,
) -> Result<(i32, Vec<String>, String), String> {
    let deadline = Instant::now() + limit;
    while service.is_running() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    if service.is_running() {
        let draining = service
            .lines
            .lock()
            .unwrap()
            .iter()
            .any(|line| line.contains("\"service.draining\""));
        if !draining {
            return Err("did not start draining on SIGTERM".to_owned());
        }
        let _ = Command::new("kill")
            .args(["-KILL", &service.pid().to_string()])
            .status();
        let (_, lines, stderr) = service.finish();
        return Ok((0, lines, stderr));
    }
    Ok(service.finish())
}

#[test]
fn no_value_of_any_setting_panics_the_service() {
    let settings = settings();
    assert!(settings.len() >= 20, "{settings:?}");
    let mut cases: Vec<(String, String, String)> = Vec::new();
    for (variable, secret) in &settings {
        for (name, value) in values() {
            cases.push((variable.clone(), name, value));
        }
        if *secret {
            // 1 MB through the file, past the secret file's size limit.
            cases.push((
                format!("{variable}_FILE"),
                "a 1 MB file".to_owned(),
                String::new(),
            ));
        }
    }
    let big = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(big.path(), "y".repeat(1024 * 1024)).unwrap();
    let next = AtomicUsize::new(0);
    let failures = Mutex::new(Vec::new());
    let (refused, ran) = (AtomicUsize::new(0), AtomicUsize::new(0));
    std::thread::scope(|scope| {
        for _ in 0..3 {
            scope.spawn(|| {
                while let Some((variable, name, value)) =
                    cases.get(next.fetch_add(1, Ordering::SeqCst))
                {
                    let dir = tempfile::tempdir().unwrap();
                    let value = if variable.ends_with("_FILE") {
                        big.path().to_str().unwrap()
                    } else {
                        value.as_str()
                    };
                    match run(variable, value, dir.path()) {
                        Ok(Outcome::Refused) => refused.fetch_add(1, Ordering::SeqCst),
                        Ok(Outcome::Ran) => ran.fetch_add(1, Ordering::SeqCst),
                        Err(why) => {
                            failures
                                .lock()
                                .unwrap()
                                .push(format!("{variable} = {name}: {why}"));
                            0
                        }
                    };
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    assert!(
        failures.is_empty(),
        "{} of {} starts ended badly:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
    // Both outcomes happen: the sweep reaches running services, not only refusals.
    assert!(refused.load(Ordering::SeqCst) > 0 && ran.load(Ordering::SeqCst) > 0);
}
