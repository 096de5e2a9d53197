//! Reading the status through sqlx's `AnyConnection`: the same queries, with the
//! schema lookup of the database behind it, and columns cast to types that decode
//! alike from both.

use sqlx::{Any, AnyConnection, AssertSqlSafe};

use super::elsewhere::{PG_CANDIDATES, SQLITE_CANDIDATES, sqlite_quoted};
use super::private::Reader;
use super::queries::Bookkeeping;
use super::tables::{Tables, literal};
use crate::error::{GuardError, unreachable};
use crate::lint::Dialect;
use crate::status::RecordRow;

/// The bookkeeping queries, through `Any`.
type Queries = Bookkeeping<Any>;

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

    async fn tables(&mut self, t: &Tables) -> Result<(bool, bool), GuardError> {
        // The names are literals of names `Tables` checked.
        let sql = if is_postgres(self) {
            format!(
                "SELECT CAST(to_regclass({}) IS NOT NULL AS INTEGER), CAST(to_regclass({}) IS NOT NULL AS INTEGER)",
                literal(&t.sqlx),
                literal(&t.records)
            )
        } else {
            let [sqlx, records, _] = t.bare_names();
            format!(
                "SELECT EXISTS (SELECT 1 FROM {master} WHERE type = 'table' AND name = {} COLLATE NOCASE), \
                 EXISTS (SELECT 1 FROM {master} WHERE type = 'table' AND name = {} COLLATE NOCASE)",
                literal(&sqlx),
                literal(&records),
                master = t.sqlite_master(),
            )
        };
        let (sqlx, records): (i32, i32) = sqlx::query_as(AssertSqlSafe(sql))
            .fetch_one(&mut *self)
            .await
            .map_err(unreachable("reading the schema"))?;
        Ok((sqlx != 0, records != 0))
    }

    async fn applied(&mut self, t: &Tables) -> Result<Vec<(i64, bool, Vec<u8>)>, GuardError> {
        // `success` is a boolean on PostgreSQL and an integer on SQLite: read both
        // as a BIGINT.
        let sql = format!(
            "SELECT version, CAST(CASE WHEN success THEN 1 ELSE 0 END AS BIGINT), checksum \
             FROM {} ORDER BY version",
            t.sqlx
        );
        let rows: Vec<(i64, i64, Vec<u8>)> = sqlx::query_as(AssertSqlSafe(sql))
            .fetch_all(&mut *self)
            .await
            .map_err(unreachable("reading the migrations table"))?;
        Ok(rows
            .into_iter()
            .map(|(version, success, checksum)| (version, success != 0, checksum))
            .collect())
    }

    async fn descriptions(
        &mut self,
        t: &Tables,
        versions: &[i64],
    ) -> Result<Vec<(i64, String)>, GuardError> {
        Queries::descriptions(self, t, versions).await
    }

    async fn records(&mut self, t: &Tables, latest: i64) -> Result<Vec<RecordRow>, GuardError> {
        Queries::records(self, t, latest).await
    }

    async fn candidates(&mut self) -> Result<Vec<String>, GuardError> {
        let postgres = is_postgres(self);
        let sql = if postgres {
            PG_CANDIDATES
        } else {
            SQLITE_CANDIDATES
        };
        let names: Vec<String> = sqlx::query_scalar(sql)
            .fetch_all(&mut *self)
            .await
            .map_err(unreachable("reading the schema"))?;
        Ok(if postgres {
            names
        } else {
            names.iter().map(|name| sqlite_quoted(name)).collect()
        })
    }
}
