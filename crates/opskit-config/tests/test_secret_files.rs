//! Secrets from `VAR_FILE`: the Docker and Kubernetes secret-mount convention.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use opskit_config::{Config, ProblemKind, Source};
use opskit_secret::canary::{Canary, assert_no_leak};
use opskit_secret::{ConnectionString, ExposeSecret, SecretString};
use opskit_testkit::CapturedLogs;
use opskit_testkit::assert_contains;

/// Settings with two secrets.
#[derive(Config)]
#[config(prefix = "APP_")]
struct Secrets {
    /// Token for writes.
    api_token: SecretString,
    /// Database URL.
    database_url: Option<ConnectionString>,
}

/// Each problem as (variable, message); every one must be a secret-file problem.
fn secret_file_problems(err: &opskit_config::ConfigError) -> Vec<(&str, String)> {
    err.problems()
        .iter()
        .map(|p| match &p.kind {
            ProblemKind::SecretFile { message, .. } => (p.variable.as_str(), message.clone()),
            other => panic!("unexpected {other:?}"),
        })
        .collect()
}

fn write(dir: &Path, name: &str, content: &[u8], mode: u32) -> String {
    let path = dir.join(name);
    fs::write(&path, content).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
    path.to_str().unwrap().to_owned()
}

#[test]
fn reads_secrets_from_files_stripping_the_line_ending() {
    let dir = tempfile::tempdir().unwrap();
    let token = write(dir.path(), "token", b"t0ken\n", 0o400);
    let url = write(dir.path(), "url", b"postgres://app:pw@db/notes\r\n", 0o400);
    let loaded = Secrets::from_pairs([
        ("APP_API_TOKEN_FILE", &token),
        ("APP_DATABASE_URL_FILE", &url),
    ])
    .unwrap();
    assert_eq!(loaded.api_token.expose_secret(), "t0ken");
    assert_eq!(
        loaded.database_url.as_ref().unwrap().expose_secret(),
        "postgres://app:pw@db/notes"
    );
    let entry = loaded.summary().get("APP_API_TOKEN").unwrap();
    assert_eq!(entry.source, Source::File);
    assert_eq!(entry.file, Some(Path::new(&token)));
    assert_eq!(
        loaded.summary().to_string(),
        format!(
            "APP_API_TOKEN=[REDACTED] (file {token})\nAPP_DATABASE_URL=postgres://app:***@db/notes (file {url})"
        )
    );
}

#[test]
fn trims_like_every_value_and_keeps_inner_whitespace() {
    let dir = tempfile::tempdir().unwrap();
    let token = write(dir.path(), "token", b" two words \t\r\n\n", 0o400);
    let loaded = Secrets::from_pairs([("APP_API_TOKEN_FILE", &token)]).unwrap();
    assert_eq!(loaded.api_token.expose_secret(), "two words");
}

#[test]
fn reports_every_unreadable_file_at_once_naming_variable_and_path() {
    let dir = tempfile::tempdir().unwrap();
    let empty = write(dir.path(), "empty", b"\r\n", 0o400);
    let missing = dir.path().join("missing").to_str().unwrap().to_owned();

    /// Five secrets, each from a file with a different fault.
    #[derive(Config)]
    #[allow(dead_code)]
    struct Five {
        /// Empty file.
        a: SecretString,
        /// Missing file.
        b: SecretString,
        /// A directory.
        c: SecretString,
        /// Larger than the cap.
        d: SecretString,
        /// A file that fails on read (EIO), even for root.
        e: SecretString,
    }
    let large = write(dir.path(), "large", &vec![b'x'; 64 * 1024 + 1], 0o400);
    let directory = dir.path().to_str().unwrap().to_owned();
    let err = Five::from_pairs([
        ("A_FILE", empty.as_str()),
        ("B_FILE", missing.as_str()),
        ("C_FILE", directory.as_str()),
        ("D_FILE", large.as_str()),
        ("E_FILE", "/proc/self/mem"),
    ])
    .unwrap_err();
    let problems = secret_file_problems(&err);
    assert_eq!(
        problems,
        [
            (
                "A_FILE",
                format!("secret file {empty}: is empty; write the secret into the file")
            ),
            (
                "B_FILE",
                format!(
                    "secret file {missing}: not found; mount the secret at this path or correct the path"
                )
            ),
            (
                "C_FILE",
                format!(
                    "secret file {directory}: is a directory, not a file; point to the file inside it"
                )
            ),
            (
                "D_FILE",
                format!(
                    "secret file {large}: is 65537 bytes, over the limit of 65536 bytes; check that this is the secret's file"
                )
            ),
            (
                "E_FILE",
                "secret file /proc/self/mem: cannot be read: Input/output error (os error 5)"
                    .to_owned()
            ),
        ]
    );
    let report = err.to_string();
    assert_contains(&report, format!("  A_FILE secret file {empty}: is empty"));
}

#[test]
fn var_and_var_file_both_set_is_an_error_that_shows_neither_value() {
    let dir = tempfile::tempdir().unwrap();
    let canary = Canary::new("token");
    let file_canary = Canary::new("file-token");
    let token = write(dir.path(), "token", file_canary.value().as_bytes(), 0o400);
    let err = Secrets::from_pairs([
        ("APP_API_TOKEN", canary.value()),
        ("APP_API_TOKEN_FILE", &token),
    ])
    .unwrap_err();
    assert_eq!(
        err.problems()[0].kind,
        ProblemKind::BothSet {
            file_variable: "APP_API_TOKEN_FILE".into()
        }
    );
    let report = format!("{err}{err:?}");
    assert!(
        report.contains("APP_API_TOKEN is set, and so is APP_API_TOKEN_FILE; set only one of them")
    );
    assert_no_leak(&report, canary.value(), "the report");
    assert_no_leak(&report, file_canary.value(), "the report");
}

#[test]
fn an_invalid_secret_from_a_file_is_reported_without_its_value() {
    let dir = tempfile::tempdir().unwrap();
    let canary = Canary::new("password");
    let url = write(
        dir.path(),
        "url",
        format!("db.internal:{}@x/notes\n", canary.value()).as_bytes(),
        0o400,
    );
    let err = Secrets::from_pairs([
        ("APP_API_TOKEN", "t"),
        ("APP_DATABASE_URL_FILE", url.as_str()),
    ])
    .unwrap_err();
    let report = format!("{err}\n{err:?}");
    assert_no_leak(&report, canary.value(), "the report");
    assert_contains(
        &report,
        "APP_DATABASE_URL invalid value: the connection URL has no host",
    );
}

#[test]
fn a_file_readable_by_others_logs_a_warning_naming_the_path_not_the_content() {
    let dir = tempfile::tempdir().unwrap();
    let canary = Canary::new("token");
    let shared = write(dir.path(), "shared", canary.value().as_bytes(), 0o644);
    let private = write(dir.path(), "private", canary.value().as_bytes(), 0o400);
    // Kubernetes' working setup for a non-root container: 0440, owned by the pod's
    // fsGroup, which the process has as a supplementary group. Here: our own group.
    let own_group = write(dir.path(), "own_group", canary.value().as_bytes(), 0o440);

    let captured = CapturedLogs::default();
    let subscriber = captured.json_subscriber();
    tracing::subscriber::with_default(subscriber, || {
        for file in [&shared, &private, &own_group] {
            let loaded = Secrets::from_pairs([("APP_API_TOKEN_FILE", file)]).unwrap();
            loaded.log_warnings();
        }
    });
    let output = captured.text();
    let lines: Vec<serde_json::Value> = output
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines.len(),
        1,
        "one warning, for the shared file only:\n{output}"
    );
    assert_eq!(lines[0]["level"], "WARN");
    assert_eq!(lines[0]["fields"]["event"], "secret.file_permissions");
    assert_eq!(lines[0]["fields"]["path"], shared.as_str());
    assert_eq!(lines[0]["fields"]["mode"], "0644");
    assert_eq!(lines[0]["fields"]["variable"], "APP_API_TOKEN_FILE");
    assert_no_leak(&output, canary.value(), "the log");
}

/// Group-readable is fine for the process's own groups only: a file of a group the
/// service is not in is readable by someone else.
#[test]
fn a_group_readable_file_of_another_group_is_a_warning() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    let foreign = write(dir.path(), "foreign", b"t0ken", 0o440);
    let own_gid = fs::metadata(&foreign).unwrap().gid();
    // A group id no process here is in.
    let other_gid = 54_321;
    if std::os::unix::fs::chown(&foreign, None, Some(other_gid)).is_err() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI runs as root, which can give a file to another group"
        );
        eprintln!("skipped: changing a file's group needs root (CI runs this)");
        return;
    }
    assert_ne!(own_gid, other_gid);
    let loaded = Secrets::from_pairs([("APP_API_TOKEN_FILE", &foreign)]).unwrap();
    let warnings: Vec<String> = loaded.warnings().iter().map(ToString::to_string).collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("mode 0440"), "{warnings:?}");
    assert!(
        warnings[0].contains("fsGroup"),
        "says what works: {warnings:?}"
    );
}

/// A FIFO would block the read until a writer comes (startup hanging with no
/// output); a socket or a device is no secret either. Each is refused at once,
/// naming the variable and saying what the path is.
#[test]
fn a_fifo_a_socket_or_a_device_is_refused_without_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success(), "mkfifo");
    let socket = dir.path().join("socket");
    let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let (fifo, socket) = (
        fifo.to_str().unwrap().to_owned(),
        socket.to_str().unwrap().to_owned(),
    );

    let (sender, receiver) = std::sync::mpsc::channel();
    let pairs = [
        ("APP_API_TOKEN_FILE", fifo.clone()),
        ("APP_DATABASE_URL_FILE", socket.clone()),
    ];
    std::thread::spawn(move || {
        let _ = sender.send(Secrets::from_pairs(pairs).map(|_| ()).unwrap_err());
    });
    let err = receiver
        .recv_timeout(std::time::Duration::from_secs(1))
        .expect("the load returned within 1 s instead of waiting on the FIFO");
    let problems = secret_file_problems(&err);
    assert_eq!(
        problems,
        [
            (
                "APP_API_TOKEN_FILE",
                format!(
                    "secret file {fifo}: is a FIFO (named pipe), not a regular file; point the variable at the secret's file"
                )
            ),
            (
                "APP_DATABASE_URL_FILE",
                format!(
                    "secret file {socket}: is a socket, not a regular file; point the variable at the secret's file"
                )
            ),
        ]
    );
    let err = Secrets::from_pairs([("APP_API_TOKEN_FILE", "/dev/null")]).unwrap_err();
    assert!(
        err.to_string()
            .contains("secret file /dev/null: is a device, not a regular file"),
        "{err}"
    );
}

/// A secret of blanks is refused, naming the variable: in the environment it counts
/// as unset, as every whitespace-only value does (this one is required); in a file
/// it is an unfilled template, never a real secret.
#[test]
fn a_secret_of_only_whitespace_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let blank = write(dir.path(), "blank", b"   \t \n", 0o400);
    let err = Secrets::from_pairs([("APP_API_TOKEN", "   ")]).unwrap_err();
    assert_eq!(err.problems()[0].variable, "APP_API_TOKEN");
    assert!(
        err.to_string()
            .contains("APP_API_TOKEN is set but empty (or only whitespace)"),
        "{err}"
    );
    let err = Secrets::from_pairs([("APP_API_TOKEN_FILE", blank.as_str())]).unwrap_err();
    assert_eq!(err.problems()[0].variable, "APP_API_TOKEN");
    assert!(err.to_string().contains("holds only whitespace"), "{err}");
}
