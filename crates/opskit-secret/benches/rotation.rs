//! What following a secret's file costs on the request path: checking a presented
//! token against a watched token (its current value, and `TokenCheck` with a
//! previous value in its grace period) against `secret_eq` on a fixed
//! `SecretString`; and reading the current value through `arc-swap` (what
//! `WatchedSecret` uses) against the alternatives it was chosen over, an
//! `RwLock<Arc<_>>` and a `tokio::sync::watch` receiver.
//!
//! Run with `cargo bench -p opskit-secret --bench rotation`; results in
//! `docs/benchmarks.md`.

// `criterion_group!` defines an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use opskit_secret::rotation::{TokenCheck, WatchOptions, WatchedSecret};
use opskit_secret::{ExposeSecret, SecretFile, SecretString, secret_eq};

/// A 43-character token, as `openssl rand -base64 32` makes.
const TOKEN: &str = "Zx8kQ2vN7pLr4TgW1yHs9MdB6cFj3aKe5UoXiVbR0nE";

fn token_check(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("api_token");
    // The previous token has the same length, so both comparisons run in full.
    let previous: String = TOKEN.chars().rev().collect();
    std::fs::write(&path, previous).unwrap();
    // The watcher polls as often as a service would: its thread runs during the
    // measurement, as it would in production.
    let watched: WatchedSecret<SecretString> = SecretFile::new(&path)
        .watch_with("BENCH_API_TOKEN", WatchOptions::default())
        .unwrap();
    std::fs::write(&path, TOKEN).unwrap();
    while watched.rotations() == 0 {
        std::thread::sleep(Duration::from_millis(10));
    }
    let check = TokenCheck::new(&watched, Duration::from_secs(3600));
    let fixed = SecretString::from(TOKEN);
    let presented = TOKEN.as_bytes();

    let mut group = c.benchmark_group("token_check");
    group.bench_function("secret_eq_fixed", |b| {
        b.iter(|| secret_eq(black_box(&fixed), black_box(presented)))
    });
    group.bench_function("secret_eq_watched_current", |b| {
        b.iter(|| secret_eq(&black_box(&watched).current(), black_box(presented)))
    });
    group.bench_function("token_check_in_grace", |b| {
        b.iter(|| black_box(&check).verify(black_box(presented)))
    });
    group.finish();

    // Each read alone, then with a second thread reading the same value all the
    // time (as the other request threads of a service do).
    let rwlock = Arc::new(RwLock::new(Arc::new(SecretString::from(TOKEN))));
    let (_tx, rx) = tokio::sync::watch::channel(SecretString::from(TOKEN));
    for contended in [false, true] {
        let suffix = if contended { "_contended" } else { "" };
        let mut group = c.benchmark_group(format!("current_value{suffix}"));
        let other = watched.clone();
        with_reader(
            contended,
            move || other.current().expose_secret().len(),
            || {
                group.bench_function("arc_swap_watched", |b| {
                    b.iter(|| black_box(&watched).current().expose_secret().len())
                });
            },
        );
        let other = Arc::clone(&rwlock);
        with_reader(
            contended,
            move || other.read().unwrap().expose_secret().len(),
            || {
                group.bench_function("rwlock_arc", |b| {
                    b.iter(|| black_box(&rwlock).read().unwrap().expose_secret().len())
                });
            },
        );
        let other = rx.clone();
        with_reader(
            contended,
            move || other.borrow().expose_secret().len(),
            || {
                group.bench_function("tokio_watch_borrow", |b| {
                    b.iter(|| black_box(&rx).borrow().expose_secret().len())
                });
            },
        );
        group.finish();
    }
}

/// Runs `measure`, with a thread calling `read` in a loop meanwhile if `contended`.
fn with_reader(contended: bool, read: impl Fn() -> usize + Send + 'static, measure: impl FnOnce()) {
    let stop = Arc::new(AtomicBool::new(false));
    let reader = contended.then(|| {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                black_box(read());
            }
        })
    });
    measure();
    stop.store(true, Ordering::Relaxed);
    if let Some(reader) = reader {
        reader.join().unwrap();
    }
}

criterion_group!(benches, token_check);
criterion_main!(benches);
