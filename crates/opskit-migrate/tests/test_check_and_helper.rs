//! The opskit-health check and the test helper for users' suites.

mod common;

use opskit_health::{Check, Status};
use opskit_migrate::lint::Dialect;
use opskit_migrate::testing::unacknowledged_contract_migrations;
use opskit_migrate::{Guard, Policy, schema_check};

#[tokio::test]
async fn the_schema_check_follows_the_schema() {
    let db = common::sqlite();
    let pool = sqlx::SqlitePool::connect(&db.url).await.unwrap();
    let v2 = Guard::from_dir(common::migrations("v2")).await.unwrap();
    let check = schema_check(v2.clone(), pool.clone());

    let pending = check.run().await;
    assert_eq!(pending.status, Status::Fail);
    assert!(pending.output.unwrap().contains("not applied yet"));

    v2.run(&db.url, Policy::Apply).await.unwrap();
    assert_eq!(check.run().await.status, Status::Pass);

    // An older binary's check warns (still ready) for expand migrations ahead ...
    let v1 = Guard::from_dir(common::migrations("v1")).await.unwrap();
    assert_eq!(
        schema_check(v1, pool.clone()).run().await.status,
        Status::Warn
    );

    // ... and fails once a contract migration is applied.
    Guard::from_dir(common::migrations("v3"))
        .await
        .unwrap()
        .run(&db.url, Policy::Apply)
        .await
        .unwrap();
    let outcome = check.run().await;
    assert_eq!(outcome.status, Status::Fail);
    assert!(
        outcome
            .output
            .unwrap()
            .contains("3 (drop body) is contract")
    );
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
