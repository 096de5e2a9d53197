//! What redacting registered secrets costs per log line: one JSON event (a driver's
//! warning with three fields) formatted by opskit-telemetry's subscriber into a sink,
//! with no secret registered and with ten, against tracing-subscriber's own JSON
//! layer without the redacting writer.
//!
//! Run with `cargo bench --bench log_redaction --features telemetry`; results in
//! `docs/benchmarks.md`.

// `criterion_group!` defines an undocumented public function.
#![allow(missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use opskit::telemetry::{LogFormat, LogLevel, LogSettings, subscriber};

fn event() {
    tracing::warn!(
        target: "sqlx::postgres::options",
        key = "application_name",
        value = "notes-api-replica-7",
        "ignoring unrecognized connect parameter"
    );
}

fn redaction(c: &mut Criterion) {
    let settings = LogSettings {
        format: LogFormat::Json,
        level: LogLevel::Info,
        filter: None,
    };
    let mut group = c.benchmark_group("log_line");
    let plain = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_writer(std::io::sink)
        .finish();
    tracing::subscriber::with_default(plain, || {
        group.bench_function("tracing_subscriber_json", |b| b.iter(event));
    });
    let opskit = subscriber(&settings, std::io::sink, false).unwrap();
    tracing::subscriber::with_default(opskit, || {
        group.bench_function("opskit_no_secret_registered", |b| b.iter(event));
        for i in 0..10 {
            opskit::secret::redaction::register(&format!("secret-value-{i}-4b1d9e"));
        }
        group.bench_function("opskit_ten_secrets_registered", |b| b.iter(event));
    });
    group.finish();
}

criterion_group!(benches, redaction);
criterion_main!(benches);
