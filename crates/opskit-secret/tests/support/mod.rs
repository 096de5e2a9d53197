//! Helpers for the rotation tests: captured logs, a kubelet-style secret volume, and
//! waiting for what a watcher thread does.

#![allow(dead_code, unreachable_pub)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Log lines (JSON) written while the guard from [`Capture::start`] lives, on this
/// thread and on the watcher threads started meanwhile.
#[derive(Clone, Default)]
pub struct Capture(Arc<Mutex<Vec<u8>>>);

impl Capture {
    pub fn start() -> (Self, tracing::subscriber::DefaultGuard) {
        let capture = Self::default();
        let writer = capture.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || writer.clone())
            .finish();
        let guard = tracing::subscriber::set_default(subscriber);
        (capture, guard)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    /// The captured events whose `event` field is `name`.
    pub fn events(&self, name: &str) -> Vec<serde_json::Value> {
        self.text()
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter(|event| event["fields"]["event"] == name)
            .collect()
    }
}

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Waits until `done` holds. The bound is not a timing claim: a watcher polling
/// every few milliseconds takes far less; it only turns a hang into a failure.
#[track_caller]
pub fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "gave up waiting: {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A secret volume written the way the kubelet's atomic writer does it: the files
/// live in a timestamped directory `..2026_12_02_17_40_00.000000001`, `..data` is a
/// symlink to it, and each key `name` is a symlink to `..data/name`. An update
/// writes a new timestamped directory, points a new symlink `..data_tmp` at it,
/// renames that over `..data` (the atomic step) and removes the old directory.
pub struct KubeletVolume {
    dir: PathBuf,
    generation: u32,
    current: Option<String>,
}

impl KubeletVolume {
    pub fn new(dir: &Path, files: &[(&str, &str)]) -> Self {
        let mut volume = Self {
            dir: dir.to_path_buf(),
            generation: 0,
            current: None,
        };
        volume.update(files);
        for (name, _) in files {
            std::os::unix::fs::symlink(format!("..data/{name}"), dir.join(name)).unwrap();
        }
        volume
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    pub fn update(&mut self, files: &[(&str, &str)]) {
        self.generation += 1;
        let stamped = format!("..2026_12_02_17_40_00.{:09}", self.generation);
        let new_dir = self.dir.join(&stamped);
        std::fs::create_dir(&new_dir).unwrap();
        for (name, content) in files {
            std::fs::write(new_dir.join(name), content).unwrap();
        }
        let tmp = self.dir.join("..data_tmp");
        std::os::unix::fs::symlink(&stamped, &tmp).unwrap();
        std::fs::rename(&tmp, self.dir.join("..data")).unwrap();
        if let Some(old) = self.current.replace(stamped) {
            std::fs::remove_dir_all(self.dir.join(old)).unwrap();
        }
    }
}
