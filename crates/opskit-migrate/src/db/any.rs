//! Reading the status through sqlx's `AnyConnection`: the shared queries (which
//! decode alike from both databases), with the schema lookup of the database
//! behind it.

use sqlx::{AnyConnection, AssertSqlSafe};

use super::elsewhere::{PG_CANDIDATES, SQLITE_CANDIDATES, sqlite_quoted};
use super::private::Reader;
use super::tables::{Tables, literal};
use crate::error::{GuardError, unreachable};
use crate::lint::Dialect;

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

    async fn existing(&mut self, t: &Tables) -> Result<[bool; 3], GuardError> {
        // The names are literals of names `Tables` checked.
        let exists: Vec<String> = if is_postgres(self) {
            t.bookkeeping()
                .iter()
                .map(|name| {
                    format!(
                        "CAST(to_regclass({}) IS NOT NULL AS INTEGER)",
                        literal(name)
                    )
                })
                .collect()
        } else {
            let master = t.sqlite_master();
            t.bare_names()
                .iter()
                .map(|name| {
                    format!(
                        "EXISTS (SELECT 1 FROM {master} WHERE type = 'table' AND name = {} COLLATE NOCASE)",
                        literal(name)
                    )
                })
                .collect()
        };
        let sql = format!("SELECT {}", exists.join(", "));
        let (sqlx, records, history): (i32, i32, i32) = sqlx::query_as(AssertSqlSafe(sql))
            .fetch_one(&mut *self)
            .await
            .map_err(unreachable("reading the schema"))?;
        Ok([sqlx != 0, records != 0, history != 0])
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
