//! Reading the status through sqlx's `AnyConnection`: the same queries, with the
//! schema lookup of the database behind it, and columns cast to types that decode
//! alike from both.

use sqlx::{Any, AnyConnection};

use super::private::Reader;
use super::queries::{fetch_descriptions, fetch_records};
use crate::error::{GuardError, unreachable};
use crate::lint::Dialect;
use crate::status::RecordRow;

fn is_postgres(conn: &AnyConnection) -> bool {
    conn.backend_name() == "PostgreSQL"
}

// The sealed trait speaks of crate types: nothing outside can call it.
#[allow(private_interfaces)]
impl Reader for AnyConnection {
    fn dialect(&self) -> Dialect {
        if is_postgres(self) {
            Dialect::Postgres
        } else {
            Dialect::Sqlite
        }
    }

    async fn tables(&mut self) -> Result<(bool, bool), GuardError> {
        let sql = if is_postgres(self) {
            "SELECT CAST(c.relname AS TEXT) FROM pg_catalog.pg_class c \
             WHERE c.oid IN (to_regclass('_sqlx_migrations'), to_regclass('_opskit_migrations'))"
        } else {
            "SELECT name FROM sqlite_master WHERE type = 'table' \
             AND name IN ('_sqlx_migrations', '_opskit_migrations')"
        };
        let names: Vec<String> = sqlx::query_scalar(sql)
            .fetch_all(&mut *self)
            .await
            .map_err(unreachable("reading the schema"))?;
        Ok((
            names.iter().any(|n| n == "_sqlx_migrations"),
            names.iter().any(|n| n == "_opskit_migrations"),
        ))
    }

    async fn applied(&mut self) -> Result<Vec<(i64, bool, Vec<u8>)>, GuardError> {
        // `success` is a boolean on PostgreSQL and an integer on SQLite: read both
        // as a BIGINT.
        let rows: Vec<(i64, i64, Vec<u8>)> = sqlx::query_as(
            "SELECT version, CAST(CASE WHEN success THEN 1 ELSE 0 END AS BIGINT), checksum \
             FROM _sqlx_migrations ORDER BY version",
        )
        .fetch_all(&mut *self)
        .await
        .map_err(unreachable("reading _sqlx_migrations"))?;
        Ok(rows
            .into_iter()
            .map(|(version, success, checksum)| (version, success != 0, checksum))
            .collect())
    }

    async fn descriptions(&mut self, versions: &[i64]) -> Result<Vec<(i64, String)>, GuardError> {
        fetch_descriptions::<Any>(self, versions).await
    }

    async fn records(&mut self, latest: i64) -> Result<Vec<RecordRow>, GuardError> {
        fetch_records::<Any>(self, latest).await
    }
}
