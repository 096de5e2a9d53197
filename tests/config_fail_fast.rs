//! The fail-fast contract on a real process started with a clean environment:
//! every problem in one report, exit code 78, the report both on stderr (for a
//! person) and as one JSON event on stdout (for a log collector), and no secret
//! value anywhere.

mod support;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Output};

use opskit::secret::canary::Canary;
use opskit_testkit::assert_contains;
use opskit_testkit::sweep::Sweep;

fn run(env: &[(&str, &str)]) -> Output {
    Command::new(support::example("config-report"))
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .expect("the example runs")
}

/// Everything the process wrote, for one canary sweep.
fn sweep(output: &Output) -> Sweep {
    let mut sweep = Sweep::default();
    sweep.record("stdout", &output.stdout);
    sweep.record("stderr", &output.stderr);
    sweep
}

fn stdout_events(output: &Output) -> Vec<serde_json::Value> {
    String::from_utf8(output.stdout.clone())
        .unwrap()
        .lines()
        .map(|line| {
            serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {line}"))
        })
        .collect()
}

#[test]
fn several_problems_are_reported_at_once_and_the_process_exits_78() {
    let dir = tempfile::tempdir().unwrap();
    let token = Canary::new("api-token");
    let token_in_file = Canary::new("api-token-file");
    let password = Canary::new("db-password");
    let token_file = dir.path().join("api_token");
    fs::write(&token_file, format!("{}\n", token_in_file.value())).unwrap();
    let missing = dir.path().join("missing");

    let output = run(&[
        ("APP_LISTEN", "localhost:http"),
        ("APP_DEPLOYMENT", "prod"),
        ("APP_API_TOKEN", token.value()),
        ("APP_API_TOKEN_FILE", token_file.to_str().unwrap()),
        (
            "APP_DATABASE_URL",
            &format!("app:{}@db/notes", password.value()),
        ),
        ("APP_SHUTDOWN_TIMEOUT", "30"),
        ("APP_DB_POOL_MAX_CONNECTIONS", "lots"),
        (
            "APP_DB_POOL_ACQUIRE_TIMEOUT_FILE",
            missing.to_str().unwrap(),
        ),
        ("APP_LISTNE", "typo"),
    ]);
    assert_eq!(output.status.code(), Some(78), "{output:?}");

    let stderr = String::from_utf8(output.stderr.clone()).unwrap();
    for expected in [
        "invalid configuration: 6 problems",
        "  APP_LISTEN invalid value \"localhost:http\": invalid socket address syntax (expected SocketAddr)",
        "      Address the HTTP server binds.",
        "  APP_DEPLOYMENT invalid value \"prod\": expected one of: local, staging, production (expected Deployment)",
        "  APP_DATABASE_URL invalid value: the connection URL has no host;",
        "  APP_API_TOKEN is set, and so is APP_API_TOKEN_FILE; set only one of them (expected Option<SecretString>, secret)",
        "  APP_SHUTDOWN_TIMEOUT invalid value \"30\": expected a duration such as 30s",
        "  APP_DB_POOL_MAX_CONNECTIONS invalid value \"lots\": expected a whole number from 0 to 4294967295 (expected u32)",
        "warning: APP_DB_POOL_ACQUIRE_TIMEOUT_FILE is not a setting: APP_DB_POOL_ACQUIRE_TIMEOUT is not a secret",
        "warning: APP_LISTNE is not a setting; did you mean APP_LISTEN?",
        "Fix the variables above and start the service again.",
    ] {
        assert!(
            stderr.contains(expected),
            "stderr lacks {expected:?}:\n{stderr}"
        );
    }

    let events = stdout_events(&output);
    let invalid: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["fields"]["event"] == "config.invalid")
        .collect();
    assert_eq!(invalid.len(), 1, "one config.invalid event:\n{events:#?}");
    let event = invalid[0];
    assert_eq!(event["level"], "ERROR");
    assert_eq!(event["fields"]["problem_count"], 6);
    assert_eq!(
        event["fields"]["variables"],
        "APP_LISTEN,APP_DEPLOYMENT,APP_DATABASE_URL,APP_API_TOKEN,APP_SHUTDOWN_TIMEOUT,APP_DB_POOL_MAX_CONNECTIONS"
    );
    let problems: serde_json::Value =
        serde_json::from_str(event["fields"]["problems"].as_str().unwrap()).unwrap();
    assert_eq!(problems.as_array().unwrap().len(), 6);
    assert_eq!(problems[0]["variable"], "APP_LISTEN");
    assert_eq!(problems[0]["kind"], "invalid");
    assert_eq!(problems[0]["expected"], "SocketAddr");
    assert_eq!(problems[0]["doc"], "Address the HTTP server binds.");
    let warnings: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["fields"]["event"] == "config.unknown_variable")
        .collect();
    assert_eq!(warnings.len(), 2);

    sweep(&output).assert_clean(&[token.value(), token_in_file.value(), password.value()]);
}

#[test]
fn unreadable_and_oversized_secret_files_are_named_without_their_content() {
    let dir = tempfile::tempdir().unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let canary = Canary::new("db-password");
    let unreadable = dir.path().join("database_url");
    fs::write(
        &unreadable,
        format!("postgres://app:{}@db/notes", canary.value()),
    )
    .unwrap();
    fs::set_permissions(&unreadable, fs::Permissions::from_mode(0o000)).unwrap();
    // A file the process can read but must refuse, full of a canary it must not
    // quote (the unreadable one cannot leak what the process never read).
    let oversized = dir.path().join("api_token");
    let token = Canary::new("oversized-token");
    fs::write(
        &oversized,
        token.value().repeat(70 * 1024 / token.value().len() + 1),
    )
    .unwrap();
    fs::set_permissions(&oversized, fs::Permissions::from_mode(0o444)).unwrap();

    // Root reads any file whatever its mode, so run the service as `nobody`, as a
    // container would run it. `nobody` may not reach the build directory (under
    // /root, say), so it runs a copy of the binary from the test's directory.
    let example = support::example("config-report");
    let mut command = if opskit_testkit::running_as_root() {
        let copy = dir.path().join("config-report");
        fs::copy(&example, &copy).unwrap();
        fs::set_permissions(&copy, fs::Permissions::from_mode(0o755)).unwrap();
        let mut command = Command::new("setpriv");
        command.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"]);
        command.arg(copy);
        command
    } else {
        Command::new(&example)
    };
    let output = command
        .env_clear()
        .env("APP_DATABASE_URL_FILE", &unreadable)
        .env("APP_API_TOKEN_FILE", &oversized)
        .output()
        .expect("the example runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(78), "{stderr}");
    assert_contains(&stderr, "invalid configuration: 2 problems");
    assert!(
        stderr.contains(&format!(
            "  APP_DATABASE_URL_FILE secret file {}: permission denied; make it readable by the user the service runs as",
            unreadable.display()
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "  APP_API_TOKEN_FILE secret file {}: is ",
            oversized.display()
        )) && stderr.contains("over the limit of 65536 bytes"),
        "{stderr}"
    );
    sweep(&output).assert_clean(&[canary.value(), token.value()]);
}

#[test]
fn a_clean_environment_starts_on_the_defaults_and_logs_a_redacted_summary() {
    let dir = tempfile::tempdir().unwrap();
    let token = Canary::new("api-token");
    let token_file = dir.path().join("api_token");
    fs::write(&token_file, token.value()).unwrap();
    fs::set_permissions(&token_file, fs::Permissions::from_mode(0o400)).unwrap();

    let output = run(&[]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let events = stdout_events(&output);
    let loaded = events
        .iter()
        .find(|e| e["fields"]["event"] == "config.loaded")
        .unwrap();
    let summary: serde_json::Value =
        serde_json::from_str(loaded["fields"]["config"].as_str().unwrap()).unwrap();
    assert_eq!(summary[0]["variable"], "APP_LISTEN");
    assert_eq!(summary[0]["value"], "127.0.0.1:8080");
    assert_eq!(summary[0]["source"], "default");

    let output = run(&[
        ("APP_API_TOKEN_FILE", token_file.to_str().unwrap()),
        (
            "APP_DATABASE_URL",
            "postgres://notes:hunter2-canary@db:5432/notes",
        ),
    ]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let stdout = String::from_utf8(output.stdout.clone()).unwrap();
    assert_contains(&stdout, "postgres://notes:***@db:5432/notes");
    assert!(stdout.contains("[REDACTED]"), "{stdout}");
    sweep(&output).assert_clean(&[token.value(), "hunter2-canary"]);
    assert!(
        output.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn the_listing_of_variables_comes_from_describe() {
    let output = Command::new(support::example("config-report"))
        .env_clear()
        .arg("--describe")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let table = String::from_utf8(output.stdout).unwrap();
    assert!(table.starts_with("| Variable | Type | Required | Default | Secret | Description |"));
    assert!(table.contains(
        "| `APP_API_TOKEN` | `Option<SecretString>` | no | | yes (or `APP_API_TOKEN_FILE`) |"
    ));
    assert!(table.contains("| `APP_DB_POOL_ACQUIRE_TIMEOUT` | `Duration` | no | `5s` | no |"));
}

/// A FIFO as a secret file used to hang startup forever with no output: the
/// process now exits 78 within a second, naming the variable.
#[test]
fn a_fifo_as_a_secret_file_exits_78_within_a_second() {
    let example = support::example("config-report");
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("api_token");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let started = std::time::Instant::now();
    let mut child = Command::new(example)
        .env_clear()
        .env("APP_API_TOKEN_FILE", &fifo)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        // A process that waits on the FIFO waits forever; 20 s tells that apart from
        // a slow start on a loaded machine.
        if started.elapsed() > std::time::Duration::from_secs(20) {
            let _ = child.kill();
            panic!("still running 20 s after start: it waits on the FIFO");
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    let output = child.wait_with_output().unwrap();
    assert_eq!(status.code(), Some(78));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains(&format!(
            "APP_API_TOKEN_FILE secret file {}: is a FIFO (named pipe), not a regular file",
            fifo.display()
        )),
        "{stderr}"
    );
}
