//! The bookkeeping queries every database runs alike, written once: generic over the
//! sqlx database. The reads and the writes outside a migration are
//! [`Shared`](super::private::Shared), which every sqlx connection implements here;
//! the drivers (`postgres`, `sqlite`) call the rest inside a migration's
//! transaction. What differs per database stays in the driver's file.

use std::marker::PhantomData;
use std::time::Instant;

use sqlx::{AssertSqlSafe, Connection, Executor, IntoArguments};

use super::private::Shared;
use super::tables::{Spelling, Tables, create_table_sql};
use super::{Failure, ToApply};
use crate::error::{GuardError, unreachable};
use crate::status::RecordRow;

/// Maps a database error around a migration to [`Failure::Database`].
pub(super) fn db_error(doing: &'static str) -> impl FnOnce(sqlx::Error) -> Failure {
    move |err| Failure::Database(unreachable(doing)(err))
}

/// Reads a `_opskit_migrations` row.
type RecordTuple = (i64, String, String, String, Option<String>);

fn record_row((version, compat, summary, outcome, error): RecordTuple) -> RecordRow {
    RecordRow {
        version,
        compat,
        summary,
        outcome,
        error,
    }
}

/// A query with its arguments bound, ready to run on either database.
type Bound<DB> = sqlx::query::Query<'static, DB, <DB as sqlx::Database>::Arguments>;

/// The bookkeeping queries' arguments, on either database.
pub(super) trait Encodes<DB: sqlx::Database>:
    for<'t> sqlx::Encode<'t, DB> + sqlx::Type<DB> + Send + 'static
{
}

impl<DB: sqlx::Database, T> Encodes<DB> for T where
    T: for<'t> sqlx::Encode<'t, DB> + sqlx::Type<DB> + Send + 'static
{
}

/// The bookkeeping queries of database `DB`, built and run alike on each: a driver
/// names it once (`type Queries = Bookkeeping<Postgres>`) and calls
/// `Queries::insert_rows(...)`.
pub(super) struct Bookkeeping<DB>(PhantomData<DB>);

/// What the queries build (the values they bind, each database encodes) and what
/// the drivers run inside a migration's transaction.
impl<DB> Bookkeeping<DB>
where
    DB: sqlx::Database + sqlx::database::HasStatementCache,
    i64: Encodes<DB>,
    String: Encodes<DB>,
    Option<String>: Encodes<DB>,
    Vec<u8>: Encodes<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
{
    /// The guard's record of `m`, replacing an earlier one of the same version.
    fn record_upsert(m: &ToApply<'_>, outcome: &str, error: Option<&str>) -> Bound<DB> {
        let c = &m.classification;
        sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO {} (version, compat, classified_by, summary, outcome, error) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (version) DO UPDATE SET compat = excluded.compat, \
             classified_by = excluded.classified_by, summary = excluded.summary, outcome = excluded.outcome, \
             error = excluded.error, recorded_at = CURRENT_TIMESTAMP",
            m.tables.records
        )))
        .persistent(false)
        .bind(m.version)
        .bind(c.compat.as_str().to_owned())
        .bind(c.by.as_str().to_owned())
        .bind(c.summary())
        .bind(outcome.to_owned())
        .bind(error.map(str::to_owned))
    }

    /// An entry of the history of failures and repairs, which nothing ever rewrites.
    fn history_insert(t: &Tables, version: i64, event: &str, detail: &str) -> Bound<DB> {
        sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO {} (version, event, detail) VALUES ($1, $2, $3)",
            t.history
        )))
        .persistent(false)
        .bind(version)
        .bind(event.to_owned())
        .bind(detail.to_owned())
    }

    /// sqlx's row for `m`, as sqlx writes it; with `repair`, a dirty row turns clean.
    fn sqlx_row(m: &ToApply<'_>, elapsed_ns: i64, repair: bool) -> Bound<DB> {
        let upsert = if repair {
            " ON CONFLICT (version) DO UPDATE SET success = TRUE, checksum = excluded.checksum"
        } else {
            ""
        };
        let sql = format!(
            "INSERT INTO {} (version, description, success, checksum, execution_time) \
             VALUES ($1, $2, TRUE, $3, $4){upsert}",
            m.tables.sqlx
        );
        sqlx::query(AssertSqlSafe(sql))
            .persistent(false)
            .bind(m.version)
            .bind(m.description.to_owned())
            .bind(m.checksum.to_vec())
            .bind(elapsed_ns)
    }

    /// Removes a dirty sqlx row, as a repair of a migration undone by hand.
    fn sqlx_dirty_delete(t: &Tables, version: i64) -> Bound<DB> {
        sqlx::query(AssertSqlSafe(format!(
            "DELETE FROM {} WHERE version = $1 AND NOT success",
            t.sqlx
        )))
        .persistent(false)
        .bind(version)
    }

    /// What a repair writes: `(sqlx's row or its removal, the record, the history)`.
    fn repair_queries(m: &ToApply<'_>, applied: bool, note: &str) -> [Bound<DB>; 3] {
        let (sqlx_change, outcome, event) = if applied {
            (Self::sqlx_row(m, 0, true), "applied", "repaired_applied")
        } else {
            (
                Self::sqlx_dirty_delete(m.tables, m.version),
                "failed",
                "repaired_not_applied",
            )
        };
        [
            sqlx_change,
            Self::record_upsert(m, outcome, Some(note)),
            Self::history_insert(m.tables, m.version, event, note),
        ]
    }

    /// Whether `version` is applied: the re-check under the lock (or inside the
    /// migration's transaction), so a replica that waited for another applies
    /// nothing twice.
    pub(super) async fn already_applied(
        conn: &mut DB::Connection,
        t: &Tables,
        version: i64,
    ) -> Result<bool, Failure>
    where
        (i64,): for<'r> sqlx::FromRow<'r, DB::Row>,
    {
        let sql = format!("SELECT version FROM {} WHERE version = $1", t.sqlx);
        let done: Option<i64> = sqlx::query_scalar(AssertSqlSafe(sql))
            .persistent(false)
            .bind(version)
            .fetch_optional(&mut *conn)
            .await
            .map_err(db_error("reading the migrations table"))?;
        Ok(done.is_some())
    }

    /// Inserts sqlx's row and the guard's record, in the caller's
    /// transaction (or none, for a PostgreSQL `-- no-transaction` migration).
    pub(super) async fn insert_rows(
        conn: &mut DB::Connection,
        m: &ToApply<'_>,
        start: Instant,
    ) -> Result<(), Failure> {
        Self::sqlx_row(m, ToApply::elapsed_ns(start), false)
            .execute(&mut *conn)
            .await
            .map_err(db_error("recording a migration in the migrations table"))?;
        Self::record_upsert(m, "applied", None)
            .execute(&mut *conn)
            .await
            .map_err(db_error("recording a migration in _opskit_migrations"))?;
        Ok(())
    }
}

/// The guard's records of migrations newer than `latest`, and of failures.
fn records_query(t: &Tables, latest: i64) -> String {
    format!(
        "SELECT version, compat, summary, outcome, error FROM {} \
         WHERE version > {latest} OR outcome <> 'applied' ORDER BY version",
        t.records
    )
}

/// The descriptions of `versions` from sqlx's table, in one query.
fn descriptions_query(t: &Tables, versions: &[i64]) -> String {
    let list: Vec<String> = versions.iter().map(i64::to_string).collect();
    format!(
        "SELECT version, description FROM {} WHERE version IN ({}) ORDER BY version",
        t.sqlx,
        list.join(",")
    )
}

/// Every row of sqlx's table: version, success, checksum. `success` is a boolean
/// on PostgreSQL and an integer on SQLite: read as a BIGINT, it decodes alike
/// from both, through `Any` too.
fn applied_query(t: &Tables) -> String {
    format!(
        "SELECT version, CAST(CASE WHEN success THEN 1 ELSE 0 END AS BIGINT), checksum \
         FROM {} ORDER BY version",
        t.sqlx
    )
}

/// Rows of a statement without parameters, decoded as `T`. Sent as a
/// simple-protocol statement, it may reach any server connection of a transaction
/// pooler. Only numbers of ours and names `Tables` checked are written into `sql`.
async fn rows<C, T>(conn: &mut C, sql: String, doing: &'static str) -> Result<Vec<T>, GuardError>
where
    C: Connection,
    for<'c> &'c mut C: Executor<'c, Database = C::Database>,
    T: for<'r> sqlx::FromRow<'r, <C::Database as sqlx::Database>::Row>,
{
    sqlx::raw_sql(AssertSqlSafe(sql))
        .fetch_all(conn)
        .await
        .and_then(|rows| rows.iter().map(T::from_row).collect())
        .map_err(unreachable(doing))
}

/// The queries every connection runs alike (see [`Shared`]), once for all: the
/// reads as simple-protocol statements, the writes in a transaction each.
#[allow(private_interfaces)]
impl<C, DB> Shared for C
where
    C: Connection<Database = DB> + Send,
    DB: sqlx::Database<Connection = C> + sqlx::database::HasStatementCache,
    i64: Encodes<DB>,
    String: Encodes<DB>,
    Option<String>: Encodes<DB>,
    Vec<u8>: Encodes<DB>,
    for<'c> &'c mut C: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    (i64, i64, Vec<u8>): for<'r> sqlx::FromRow<'r, DB::Row>,
    (i64, String): for<'r> sqlx::FromRow<'r, DB::Row>,
    RecordTuple: for<'r> sqlx::FromRow<'r, DB::Row>,
{
    async fn applied(&mut self, t: &Tables) -> Result<Vec<(i64, bool, Vec<u8>)>, GuardError> {
        let found: Vec<(i64, i64, Vec<u8>)> =
            rows(self, applied_query(t), "reading the migrations table").await?;
        Ok(found
            .into_iter()
            .map(|(version, success, checksum)| (version, success != 0, checksum))
            .collect())
    }

    async fn descriptions(
        &mut self,
        t: &Tables,
        versions: &[i64],
    ) -> Result<Vec<(i64, String)>, GuardError> {
        let sql = descriptions_query(t, versions);
        rows(self, sql, "reading the migrations table").await
    }

    async fn records(&mut self, t: &Tables, latest: i64) -> Result<Vec<RecordRow>, GuardError> {
        let sql = records_query(t, latest);
        let found: Vec<RecordTuple> = rows(self, sql, "reading _opskit_migrations").await?;
        Ok(found.into_iter().map(record_row).collect())
    }

    async fn create_table(
        &mut self,
        t: &Tables,
        table: usize,
        spelling: &Spelling,
    ) -> Result<(), sqlx::Error> {
        self.execute(AssertSqlSafe(create_table_sql(t, table, spelling)))
            .await
            .map(drop)
    }

    async fn record_failure(
        &mut self,
        m: &ToApply<'_>,
        outcome: &'static str,
        message: &str,
    ) -> Result<(), GuardError> {
        let queries = [
            Bookkeeping::<DB>::record_upsert(m, outcome, Some(message)),
            Bookkeeping::<DB>::history_insert(m.tables, m.version, outcome, message),
        ];
        in_transaction(self, queries, "recording a failed migration").await
    }

    async fn repair(
        &mut self,
        m: &ToApply<'_>,
        applied: bool,
        note: &str,
    ) -> Result<(), GuardError> {
        let queries = Bookkeeping::<DB>::repair_queries(m, applied, note);
        in_transaction(self, queries, "recording a repair").await
    }
}

/// Runs `queries` in one transaction.
async fn in_transaction<C, DB, const N: usize>(
    conn: &mut C,
    queries: [Bound<DB>; N],
    doing: &'static str,
) -> Result<(), GuardError>
where
    C: Connection<Database = DB>,
    DB: sqlx::Database<Connection = C>,
    for<'c> &'c mut C: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
{
    let mut tx = conn.begin().await.map_err(unreachable(doing))?;
    for query in queries {
        query.execute(&mut *tx).await.map_err(unreachable(doing))?;
    }
    tx.commit().await.map_err(unreachable(doing))
}
