//! The opskit-health check and the test helper for users' suites.

mod common;

use opskit_health::{Check, Status};
use opskit_migrate::lint::Dialect;
use opskit_migrate::testing::unacknowledged_contract_migrations;
use opskit_migrate::{Guard, Policy, schema_check};
use opskit_testkit::assert_contains;

/// The check's verdicts as the schema moves from pending to applied to an expand
/// and then a contract migration of a newer release, on the pool `check_on` makes.
async fn the_check_follows_the_schema<C: Check>(url: &str, check_on: impl Fn(Guard) -> C) {
    let v2 = Guard::from_dir(common::migrations("v2")).await.unwrap();
    let check = check_on(v2.clone());

    let pending = check.run().await;
    assert_eq!(pending.status, Status::Fail);
    assert!(pending.output.unwrap().contains("not applied yet"));

    v2.run(url, Policy::Apply).await.unwrap();
    assert_eq!(check.run().await.status, Status::Pass);

    // An older binary's check warns (still ready) for expand migrations ahead ...
    let v1 = Guard::from_dir(common::migrations("v1")).await.unwrap();
    assert_eq!(check_on(v1).run().await.status, Status::Warn);

    // ... and fails once a contract migration is applied.
    Guard::from_dir(common::migrations("v3"))
        .await
        .unwrap()
        .run(url, Policy::Apply)
        .await
        .unwrap();
    let outcome = check.run().await;
    assert_eq!(outcome.status, Status::Fail);
    assert_contains(outcome.output.unwrap(), "3 (drop body) is contract");
}

#[tokio::test]
async fn the_schema_check_follows_the_schema() {
    let db = common::sqlite();
    let pool = sqlx::SqlitePool::connect(&db.url).await.unwrap();
    the_check_follows_the_schema(&db.url, |guard| schema_check(guard, pool.clone())).await;
}

/// A service that picks its database at run time has an `AnyPool`: the check
/// works on it, on both databases, with the pool's own connections.
#[tokio::test]
async fn the_schema_check_works_on_an_any_pool_of_either_database() {
    sqlx::any::install_default_drivers();
    let db = common::sqlite();
    let pool = sqlx::AnyPool::connect(&db.url).await.unwrap();
    the_check_follows_the_schema(&db.url, |guard| schema_check(guard, pool.clone())).await;

    let Some(pg) = common::postgres().await else {
        return;
    };
    let pool = sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(&pg.url)
        .await
        .unwrap();
    the_check_follows_the_schema(&pg.url, |guard| schema_check(guard, pool.clone())).await;
    // One connection served every run: the check opens none of its own.
    assert_eq!(pool.size(), 1);
    pool.close().await;
}

#[test]
fn the_helper_lists_unacknowledged_contract_migrations_only() {
    let problems = unacknowledged_contract_migrations(
        &common::migrations("unacknowledged"),
        Dialect::Postgres,
    )
    .unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains("2_rename.sql is a contract migration"),
        "{}",
        problems[0]
    );
    assert!(
        problems[0].contains("line 1: OPS-C003 rename-column"),
        "{}",
        problems[0]
    );
    assert!(
        unacknowledged_contract_migrations(&common::migrations("v3"), Dialect::Postgres)
            .unwrap()
            .is_empty()
    );

    let result = std::panic::catch_unwind(|| {
        opskit_migrate::testing::assert_contract_migrations_acknowledged(
            common::migrations("unacknowledged"),
            Dialect::Sqlite,
        )
    });
    assert!(result.is_err());
}
