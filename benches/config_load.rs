//! Loading a 30-field configuration from name/value pairs: opskit-config against
//! `envy::from_iter` for the same struct and the same values.
//!
//! Run with `cargo bench --bench config_load`; results and the ratio go in
//! `docs/benchmarks.md`.

// `criterion_group!` defines an undocumented public function.
#![allow(missing_docs)]

mod harness;

use std::hint::black_box;

use criterion::Criterion;
use opskit::config::Config;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Mode {
    Local,
    Production,
}

/// Thirty settings of the kinds a service has.
#[derive(Config, Deserialize)]
#[allow(dead_code)]
struct Thirty {
    /// 1
    port: u16,
    /// 2
    admin_port: u16,
    /// 3
    workers: u32,
    /// 4
    max_connections: u32,
    /// 5
    request_timeout_ms: u64,
    /// 6
    idle_timeout_ms: u64,
    /// 7
    debug: bool,
    /// 8
    metrics_enabled: bool,
    /// 9
    tracing_enabled: bool,
    /// 10
    service_name: String,
    /// 11
    region: String,
    /// 12
    zone: String,
    /// 13
    log_level: String,
    /// 14
    database_host: String,
    /// 15
    database_name: String,
    /// 16
    database_user: String,
    /// 17
    cache_host: String,
    /// 18
    cache_ttl_secs: u64,
    /// 19
    sample_ratio: f64,
    /// 20
    retry_backoff: f64,
    /// 21
    allowed_origins: Vec<String>,
    /// 22
    feature_flags: Vec<String>,
    /// 23
    mode: Mode,
    /// 24
    banner: Option<String>,
    /// 25
    support_email: Option<String>,
    /// 26
    queue_size: u32,
    /// 27
    batch_size: u32,
    /// 28
    shard: u16,
    /// 29
    replicas: u16,
    /// 30
    read_only: bool,
}

fn pairs() -> Vec<(String, String)> {
    [
        ("PORT", "8080"),
        ("ADMIN_PORT", "9090"),
        ("WORKERS", "8"),
        ("MAX_CONNECTIONS", "100"),
        ("REQUEST_TIMEOUT_MS", "30000"),
        ("IDLE_TIMEOUT_MS", "90000"),
        ("DEBUG", "false"),
        ("METRICS_ENABLED", "true"),
        ("TRACING_ENABLED", "true"),
        ("SERVICE_NAME", "notes"),
        ("REGION", "eu-west-1"),
        ("ZONE", "eu-west-1a"),
        ("LOG_LEVEL", "info"),
        ("DATABASE_HOST", "db.internal"),
        ("DATABASE_NAME", "notes"),
        ("DATABASE_USER", "notes_app"),
        ("CACHE_HOST", "cache.internal"),
        ("CACHE_TTL_SECS", "300"),
        ("SAMPLE_RATIO", "0.25"),
        ("RETRY_BACKOFF", "1.5"),
        ("ALLOWED_ORIGINS", "https://a.example,https://b.example"),
        ("FEATURE_FLAGS", "search,export,share"),
        ("MODE", "production"),
        ("BANNER", "hello"),
        ("SUPPORT_EMAIL", "ops@example.com"),
        ("QUEUE_SIZE", "1024"),
        ("BATCH_SIZE", "64"),
        ("SHARD", "3"),
        ("REPLICAS", "2"),
        ("READ_ONLY", "false"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

fn load_30_fields(c: &mut Criterion) {
    let pairs = pairs();
    // Both loaders must accept the input before their times mean anything.
    Thirty::from_pairs(pairs.iter().cloned()).expect("opskit loads");
    envy::from_iter::<_, Thirty>(pairs.iter().cloned()).expect("envy loads");

    let mut group = c.benchmark_group("load_30_fields");
    group.bench_function("envy", |b| {
        b.iter(|| envy::from_iter::<_, Thirty>(black_box(&pairs).iter().cloned()).unwrap())
    });
    group.bench_function("opskit", |b| {
        b.iter(|| Thirty::from_pairs(black_box(&pairs).iter().cloned()).unwrap())
    });
    group.finish();
}

harness::main!(load_30_fields);
