//! A watch holds one thread, and gives it back once every handle is dropped. Alone
//! in its test binary: it counts the process's threads by name.

use std::time::{Duration, Instant};

use opskit_secret::rotation::{WatchOptions, WatchedSecret};
use opskit_secret::{SecretFile, SecretString};

/// The process's threads named as watcher threads (the kernel keeps 15 bytes).
fn watcher_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .filter(|name| name.trim_end() == "opskit-secret-w")
        .count()
}

#[test]
fn the_watcher_thread_ends_once_every_handle_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("api_token");
    std::fs::write(&path, "t0ken-value").unwrap();
    assert_eq!(watcher_threads(), 0);

    let options = WatchOptions::default().interval(Duration::from_millis(10));
    let token: WatchedSecret<SecretString> = SecretFile::new(&path)
        .watch_with("APP_API_TOKEN", options)
        .unwrap();
    let clone = token.clone();
    // The new thread names itself once it runs.
    wait_for("the watcher thread to start", || watcher_threads() == 1);
    drop(token);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(watcher_threads(), 1, "a clone still holds the secret");

    drop(clone);
    wait_for("the watcher thread to end", || watcher_threads() == 0);
}

/// Not a timing claim: the bound only turns a wait that never ends into a failure.
fn wait_for(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}
