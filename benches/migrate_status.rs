//! The guard's status check on a fully migrated SQLite database with 10, 100 and
//! 1,000 applied migrations, against sqlx's own `Migrator::run` on the same database
//! (which has nothing left to do), in the same run.
//!
//! Run with `cargo bench --bench migrate_status --features migrate`; results in
//! `docs/benchmarks.md`.

// `criterion_group!` defines an undocumented public function.
#![allow(missing_docs)]

mod harness;

use std::borrow::Cow;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use opskit::migrate::{Guard, Policy, State};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{Connection, SqliteConnection};

fn migrations(n: i64) -> Vec<Migration> {
    (1..=n)
        .map(|v| {
            let sql = format!("CREATE TABLE t{v} (id INTEGER PRIMARY KEY, note TEXT);");
            Migration::new(
                v,
                Cow::Owned(format!("table {v}")),
                MigrationType::Simple,
                sqlx::SqlSafeStr::into_sql_str(sqlx::AssertSqlSafe(sql)),
                false,
            )
        })
        .collect()
}

fn status(c: &mut Criterion) {
    let runtime = harness::runtime();
    let mut group = c.benchmark_group("migrate_status");
    for n in [10_i64, 100, 1_000] {
        let dir = tempfile::tempdir().unwrap();
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("bench.db").display()
        );
        let guard = Guard::from_migrations(migrations(n));
        let migrator = Migrator {
            migrations: Cow::Owned(migrations(n)),
            ..Migrator::DEFAULT
        };
        let mut conn = runtime.block_on(async {
            guard.run(&url, Policy::Apply).await.unwrap();
            SqliteConnection::connect(&url).await.unwrap()
        });
        runtime.block_on(async {
            assert_eq!(
                guard.status(&mut conn).await.unwrap().state,
                State::UpToDate
            );
            migrator.run(&mut conn).await.unwrap();
        });
        group.bench_with_input(BenchmarkId::new("sqlx_migrator_run", n), &n, |b, _| {
            b.iter(|| runtime.block_on(migrator.run(&mut conn)).unwrap())
        });
        group.bench_with_input(BenchmarkId::new("opskit_status", n), &n, |b, _| {
            b.iter(|| runtime.block_on(guard.status(&mut conn)).unwrap())
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).sample_size(30);
    targets = status
}
criterion_main!(benches);
