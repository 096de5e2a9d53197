//! Secrets that follow their file: real files changed the ways deployments change
//! them, and rotations that must not be taken.

mod support;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use opskit_secret::canary::{Canary, assert_no_leak};
use opskit_secret::rotation::{WatchOptions, WatchedSecret};
use opskit_secret::{ConnectionString, ExposeSecret, SecretFile, SecretString, redaction};
use support::{Capture, KubeletVolume, wait_until};

fn fast() -> WatchOptions {
    WatchOptions::default()
        .interval(Duration::from_millis(10))
        .settle(Duration::from_millis(5))
}

fn watch_token(path: &Path) -> WatchedSecret<SecretString> {
    SecretFile::new(path)
        .watch_with("APP_API_TOKEN", fast())
        .unwrap()
}

/// A file `name` holding `content`, in a directory of its own (removed when the
/// first value is dropped).
fn secret_file(name: &str, content: impl AsRef<[u8]>) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    fs::write(&path, content).unwrap();
    (dir, path)
}

/// Writes `content` to a new file and renames it over `path`.
fn replace(path: &Path, content: &str) {
    let staged = path.with_extension("tmp");
    fs::write(&staged, content).unwrap();
    fs::rename(&staged, path).unwrap();
}

/// None of `canaries` is in the logs, nor in the Debug output of `secret` and of
/// its current value.
fn assert_hidden<T>(logs: &Capture, secret: &WatchedSecret<T>, canaries: [&Canary; 2])
where
    WatchedSecret<T>: std::fmt::Debug,
    opskit_secret::rotation::Current<T>: std::fmt::Debug,
{
    let debug = format!("{secret:?} {:?}", secret.current());
    for canary in canaries {
        assert_no_leak(logs.text(), canary.value(), "the logs");
        assert_no_leak(&debug, canary.value(), "Debug");
    }
}

fn wait_for_rotations(secret: &WatchedSecret<impl Sized>, n: u64) {
    wait_until(&format!("{} rotation(s)", n), || secret.rotations() >= n);
}

#[test]
fn a_kubelet_symlink_swap_is_followed_and_registered_for_redaction_first() {
    let (logs, _guard) = Capture::start();
    let dir = tempfile::tempdir().unwrap();
    let (old, new) = (Canary::new("token-old"), Canary::new("token-new"));
    let mut volume = KubeletVolume::new(dir.path(), &[("api_token", old.value())]);
    let token = watch_token(&volume.path("api_token"));
    assert_eq!(token.current().expose_secret(), old.value());

    // A subscriber sees the new value only once the redaction knows it.
    let (tx, rx) = std::sync::mpsc::channel();
    token.on_rotate(move |value: &SecretString| {
        let line = format!("driver says {}", value.expose_secret());
        tx.send(redaction::redact(&line).into_owned()).unwrap();
    });
    volume.update(&[("api_token", &format!("{}\n", new.value()))]);
    let redacted = rx.recv_timeout(Duration::from_secs(60)).unwrap();
    assert_eq!(redacted, "driver says [REDACTED]");
    assert_eq!(token.current().expose_secret(), new.value());
    // Counted once every subscriber ran.
    wait_until("the count", || token.rotations() == 1);

    let rotated = logs.events("secret.rotated");
    assert_eq!(rotated.len(), 1, "{}", logs.text());
    assert_eq!(rotated[0]["fields"]["secret"], "APP_API_TOKEN");
    assert!(
        logs.events("secret.rotation_failed").is_empty(),
        "{}",
        logs.text()
    );
    assert_hidden(&logs, &token, [&old, &new]);
}

#[test]
fn a_rename_over_the_file_and_an_in_place_rewrite_are_followed() {
    let (_dir, path) = secret_file("api_token", "first-value");
    let token = watch_token(&path);

    replace(&path, "second-value\r\n");
    wait_for_rotations(&token, 1);
    assert_eq!(token.current().expose_secret(), "second-value");

    // Truncate and write, as `echo third-value > api_token` does: a poll may see
    // the empty file in between, which keeps the old value until the next one.
    fs::write(&path, "third-value\n").unwrap();
    wait_until("the rewritten value", || {
        token.current().expose_secret() == "third-value"
    });
}

#[test]
fn a_whole_connection_url_rotates_and_a_half_written_one_is_refused() {
    let (logs, _guard) = Capture::start();
    let (old, new) = (Canary::new("pw-old"), Canary::new("pw-new"));
    let (_dir, path) = secret_file(
        "database_url",
        format!("postgres://app:{}@db/notes", old.value()),
    );
    let url: WatchedSecret<ConnectionString> = SecretFile::new(&path)
        .watch_with("APP_DATABASE_URL", fast())
        .unwrap();

    // Written in place, the file may be read empty first: write it whole.
    replace(&path, &format!("postgres://app:{}@", new.value()));
    wait_until("the refusal", || url.rotation_failures() == 1);
    assert!(url.is_failing());
    assert!(url.current().expose_secret().contains(old.value()));
    let failed = logs.events("secret.rotation_failed");
    assert_eq!(failed[0]["fields"]["secret"], "APP_DATABASE_URL");
    let reason = failed[0]["fields"]["reason"].as_str().unwrap();
    assert!(
        reason.contains("no host") || reason.contains("not a URL"),
        "{reason}"
    );

    replace(&path, &format!("postgres://app:{}@db/notes", new.value()));
    wait_for_rotations(&url, 1);
    assert!(!url.is_failing());
    assert_eq!(url.current().to_string(), "postgres://app:***@db/notes");
    assert!(url.current().expose_secret().contains(new.value()));
    assert_hidden(&logs, &url, [&old, &new]);
}

/// Makes `path` one broken thing after another; the old value must hold through
/// all of them, each must be said once, and the next good value must be taken.
#[test]
fn broken_rotations_keep_the_old_value_say_why_and_the_next_good_value_is_taken() {
    let (logs, _guard) = Capture::start();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("api_token");
    let (old, broken, new) = (
        Canary::new("token-old"),
        Canary::new("token-broken"),
        Canary::new("token-new"),
    );
    fs::write(&path, old.value()).unwrap();
    let token = watch_token(&path);

    let ten_mb = broken
        .value()
        .repeat(10 * 1024 * 1024 / broken.value().len() + 1);
    type Breakage<'a> = (&'a str, &'a dyn Fn(&Path));
    let breakages: [Breakage<'_>; 5] = [
        ("is empty", &|p| fs::write(p, "\n").unwrap()),
        ("holds only whitespace", &|p| {
            fs::write(p, " \t \n").unwrap()
        }),
        ("is a directory", &|p| {
            fs::remove_file(p).unwrap();
            fs::create_dir(p).unwrap();
        }),
        ("over the limit of 65536 bytes", &|p| {
            // Staged and renamed: written in place, a poll could catch it short.
            fs::remove_dir(p).unwrap();
            replace(p, &ten_mb);
        }),
        ("not found", &|p| fs::remove_file(p).unwrap()),
    ];
    let last_reason = || {
        let failed = logs.events("secret.rotation_failed");
        failed
            .last()
            .map(|event| event["fields"]["reason"].as_str().unwrap().to_owned())
    };
    for (reason, break_it) in breakages {
        break_it(&path);
        // A poll may catch a step on the way (the file empty while rewritten, gone
        // before the directory): wait for the failure this breakage ends in.
        wait_until(reason, || {
            last_reason().is_some_and(|said| said.contains(reason))
        });
        assert!(token.is_failing());
        assert_eq!(
            token.current().expose_secret(),
            old.value(),
            "after: {reason}"
        );
        assert!(last_reason().unwrap().contains("api_token"));
    }
    // Each failure is said once, however many polls it lasted.
    let reasons: Vec<String> = logs
        .events("secret.rotation_failed")
        .iter()
        .map(|event| event["fields"]["reason"].to_string())
        .collect();
    assert!(
        reasons.windows(2).all(|pair| pair[0] != pair[1]),
        "{reasons:#?}"
    );
    assert_eq!(token.rotation_failures(), reasons.len() as u64);
    assert_eq!(token.rotations(), 0);

    fs::write(&path, new.value()).unwrap();
    wait_for_rotations(&token, 1);
    assert_eq!(token.current().expose_secret(), new.value());
    assert!(!token.is_failing());
    for canary in [&old, &broken, &new] {
        assert_no_leak(logs.text(), canary.value(), "the logs");
    }
}

#[test]
fn a_file_still_being_written_is_refused_until_it_holds_still() {
    let (logs, _guard) = Capture::start();
    let (_dir, path) = secret_file("api_token", "before-the-writer");
    let options = WatchOptions::default()
        .interval(Duration::from_millis(10))
        .settle(Duration::from_millis(200));
    let token: WatchedSecret<SecretString> = SecretFile::new(&path)
        .watch_with("APP_API_TOKEN", options)
        .unwrap();

    // A writer that appends to the file a byte at a time, as a slow copy would.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (path, stop) = (path.clone(), stop.clone());
        std::thread::spawn(move || {
            use std::io::Write;
            let mut file = fs::File::create(&path).unwrap();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                file.write_all(b"x").unwrap();
                std::thread::sleep(Duration::from_millis(1));
            }
        })
    };
    wait_until("the refusal of a changing file", || {
        logs.events("secret.rotation_failed").iter().any(|event| {
            event["fields"]["reason"]
                .as_str()
                .unwrap()
                .contains("still being written")
        })
    });
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.join().unwrap();

    replace(&path, "after-the-writer");
    wait_until("the finished file", || {
        token.current().expose_secret() == "after-the-writer"
    });
}

#[test]
fn a_file_restored_to_the_value_in_use_ends_the_failure_without_a_rotation() {
    let (logs, _guard) = Capture::start();
    let (_dir, path) = secret_file("api_token", "same-token");
    let token = watch_token(&path);
    fs::write(&path, "").unwrap();
    wait_until("the failure", || token.is_failing());
    fs::write(&path, "same-token").unwrap();
    wait_until("the recovery", || !token.is_failing());
    assert_eq!(token.rotations(), 0);
    assert_eq!(logs.events("secret.rotation_recovered").len(), 1);
}

/// A file the service cannot read. Root reads any file whatever its mode, so when
/// the tests run as root this test runs itself again as `nobody` (`setpriv`), as a
/// container would run the service.
#[test]
fn an_unreadable_file_keeps_the_old_value_and_the_next_readable_one_is_taken() {
    const CHILD: &str = "OPSKIT_ROTATION_TEST_AS_NOBODY";
    if opskit_testkit::running_as_root() && std::env::var_os(CHILD).is_none() {
        return run_as_nobody(CHILD, "an_unreadable_file_keeps_the_old_value");
    }
    let (logs, _guard) = Capture::start();
    let (_dir, path) = secret_file("api_token", "readable-token");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
    let token = watch_token(&path);

    fs::write(&path, "unreadable-token").unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o000)).unwrap();
    wait_until("the failure", || token.rotation_failures() == 1);
    assert_eq!(token.current().expose_secret(), "readable-token");
    let failed = logs.events("secret.rotation_failed");
    let reason = failed[0]["fields"]["reason"].as_str().unwrap();
    assert!(reason.contains("permission denied"), "{reason}");

    fs::set_permissions(&path, fs::Permissions::from_mode(0o400)).unwrap();
    wait_for_rotations(&token, 1);
    assert_eq!(token.current().expose_secret(), "unreadable-token");
}

/// Runs the test `name` of this binary as `nobody`, from a copy `nobody` may reach.
fn run_as_nobody(marker: &str, name: &str) {
    let dir = tempfile::tempdir().unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o777)).unwrap();
    let copy = dir.path().join("rotation-test");
    fs::copy(std::env::current_exe().unwrap(), &copy).unwrap();
    fs::set_permissions(&copy, fs::Permissions::from_mode(0o755)).unwrap();
    let output = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(&copy)
        .args([name, "--test-threads=1", "--nocapture"])
        .env(marker, "1")
        .env("TMPDIR", dir.path())
        .output()
        .expect("setpriv runs (util-linux)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "as nobody: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn a_rotation_is_counted_in_metrics() {
    let recorder = metrics_util::debugging::DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder.install().unwrap();
    let (_dir, path) = secret_file("metrics_token", "metrics-first");
    let token: WatchedSecret<SecretString> = SecretFile::new(&path)
        .watch_with("APP_METRICS_TOKEN", fast())
        .unwrap();
    fs::write(&path, "").unwrap();
    wait_until("the failure", || token.rotation_failures() == 1);
    fs::write(&path, "metrics-second").unwrap();
    wait_for_rotations(&token, 1);

    // A snapshot resets the counters it reads: take one.
    let snapshot = snapshotter.snapshot().into_vec();
    let counter = |name: &str| {
        snapshot.iter().find_map(|(key, _, _, value)| {
            let key = key.key();
            let ours = key
                .labels()
                .any(|l| l.key() == "secret" && l.value() == "APP_METRICS_TOKEN");
            match value {
                metrics_util::debugging::DebugValue::Counter(n) if key.name() == name && ours => {
                    Some(*n)
                }
                _ => None,
            }
        })
    };
    assert_eq!(counter("secret_rotations_total"), Some(1));
    assert_eq!(counter("secret_rotation_failures_total"), Some(1));
}

#[test]
fn a_subscriber_that_panics_is_logged_and_the_others_still_hear_of_the_rotation() {
    let (logs, _guard) = Capture::start();
    let (_dir, path) = secret_file("api_token", "before-panic");
    let token = watch_token(&path);
    token.on_rotate(|_: &SecretString| panic!("subscriber bug"));
    let (tx, rx) = std::sync::mpsc::channel();
    token.on_rotate(move |value: &SecretString| {
        tx.send(value.expose_secret().to_owned()).unwrap();
    });
    for value in ["after-panic-1", "after-panic-2"] {
        replace(&path, value);
        assert_eq!(rx.recv_timeout(Duration::from_secs(60)).unwrap(), value);
    }
    assert_eq!(logs.events("secret.subscriber_panicked").len(), 2);
    assert_eq!(token.current().expose_secret(), "after-panic-2");
}

#[test]
fn the_first_read_is_checked_as_every_later_one() {
    let (dir, path) = secret_file("api_token", "  \n");
    let err = SecretFile::new(&path)
        .watch::<SecretString>("APP_API_TOKEN")
        .unwrap_err();
    assert!(err.to_string().contains("whitespace"), "{err}");
    let err = SecretFile::new(dir.path().join("missing"))
        .watch::<SecretString>("APP_API_TOKEN")
        .unwrap_err();
    assert!(err.to_string().contains("not found"), "{err}");
}
