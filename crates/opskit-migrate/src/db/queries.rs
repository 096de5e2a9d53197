//! The bookkeeping queries every database runs alike, written once: generic over the
//! sqlx database, as each driver (`postgres`, `sqlite`, `any`) calls them. What
//! differs per database stays in the driver's file.

use std::marker::PhantomData;
use std::time::Instant;

use sqlx::{AssertSqlSafe, Connection, Executor, IntoArguments};

use super::tables::Tables;
#[cfg(any(feature = "postgres", feature = "_sqlite"))]
use super::tables::{Spelling, create_table_sql};
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

/// What the queries build: the values they bind, each database encodes.
impl<DB> Bookkeeping<DB>
where
    DB: sqlx::Database + sqlx::database::HasStatementCache,
    i64: Encodes<DB>,
    String: Encodes<DB>,
    Option<String>: Encodes<DB>,
    Vec<u8>: Encodes<DB>,
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
}

/// The query both databases run to read the guard's records of migrations newer
/// than `latest` (a parameter, or a number written in), and of failures.
fn records_query(t: &Tables, latest: &str) -> String {
    format!(
        "SELECT version, compat, summary, outcome, error FROM {} \
         WHERE version > {latest} OR outcome <> 'applied' ORDER BY version",
        t.records
    )
}

/// The descriptions of `versions` from sqlx's table, in one query.
fn descriptions_query(t: &Tables, versions: &[i64]) -> String {
    // Integers formatted by us, and a table name `Tables` checked: nothing to inject.
    let list: Vec<String> = versions.iter().map(i64::to_string).collect();
    format!(
        "SELECT version, description FROM {} WHERE version IN ({}) ORDER BY version",
        t.sqlx,
        list.join(",")
    )
}

/// The query both databases run to read sqlx's table: version, success,
/// checksum. (The `Any` driver reads `success` through a cast instead.)
pub(super) fn applied_query(t: &Tables) -> String {
    format!(
        "SELECT version, success, checksum FROM {} ORDER BY version",
        t.sqlx
    )
}

/// What the drivers run: reads decode their rows, each database its own way.
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
    /// Every row of sqlx's table: version, success, checksum. (The `Any` driver
    /// reads `success` through a cast instead.)
    pub(super) async fn applied(
        conn: &mut DB::Connection,
        t: &Tables,
    ) -> Result<Vec<(i64, bool, Vec<u8>)>, GuardError>
    where
        (i64, bool, Vec<u8>): for<'r> sqlx::FromRow<'r, DB::Row>,
    {
        sqlx::query_as(AssertSqlSafe(applied_query(t)))
            .persistent(false)
            .fetch_all(&mut *conn)
            .await
            .map_err(unreachable("reading the migrations table"))
    }

    /// Descriptions of the applied migrations of `versions`.
    pub(super) async fn descriptions(
        conn: &mut DB::Connection,
        t: &Tables,
        versions: &[i64],
    ) -> Result<Vec<(i64, String)>, GuardError>
    where
        (i64, String): for<'r> sqlx::FromRow<'r, DB::Row>,
    {
        sqlx::query_as(AssertSqlSafe(descriptions_query(t, versions)))
            .fetch_all(&mut *conn)
            .await
            .map_err(unreachable("reading the migrations table"))
    }

    /// The guard's records of migrations newer than `latest`, and of failures.
    pub(super) async fn records(
        conn: &mut DB::Connection,
        t: &Tables,
        latest: i64,
    ) -> Result<Vec<RecordRow>, GuardError>
    where
        RecordTuple: for<'r> sqlx::FromRow<'r, DB::Row>,
    {
        let rows: Vec<RecordTuple> = sqlx::query_as(AssertSqlSafe(records_query(t, "$1")))
            .bind(latest)
            .fetch_all(&mut *conn)
            .await
            .map_err(unreachable("reading _opskit_migrations"))?;
        Ok(rows.into_iter().map(record_row).collect())
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

    /// Creates bookkeeping table `table` of the three, as `spelling` spells the
    /// columns that differ per database.
    #[cfg(any(feature = "postgres", feature = "_sqlite"))]
    pub(super) async fn create_table(
        conn: &mut DB::Connection,
        t: &Tables,
        table: usize,
        spelling: &Spelling,
    ) -> Result<(), sqlx::Error> {
        conn.execute(AssertSqlSafe(create_table_sql(t, table, spelling)))
            .await
            .map(drop)
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

    /// Records a failed migration (`outcome` `failed` or `failed_partial`), and the
    /// attempt in the history.
    pub(super) async fn record_failure(
        conn: &mut DB::Connection,
        m: &ToApply<'_>,
        outcome: &'static str,
        message: &str,
    ) -> Result<(), GuardError> {
        let doing = "recording a failed migration";
        for query in [
            Self::record_upsert(m, outcome, Some(message)),
            Self::history_insert(m.tables, m.version, outcome, message),
        ] {
            query
                .execute(&mut *conn)
                .await
                .map_err(unreachable(doing))?;
        }
        Ok(())
    }

    /// Records what an operator verified after a partial failure, in one transaction
    /// (see [`Driver::repair`](super::private::Driver::repair)).
    pub(super) async fn record_repair(
        conn: &mut DB::Connection,
        m: &ToApply<'_>,
        applied: bool,
        note: &str,
    ) -> Result<(), GuardError> {
        let doing = "recording a repair";
        let mut tx = conn.begin().await.map_err(unreachable(doing))?;
        for query in Self::repair_queries(m, applied, note) {
            query.execute(&mut *tx).await.map_err(unreachable(doing))?;
        }
        tx.commit().await.map_err(unreachable(doing))
    }
}

/// The descriptions and records reads on PostgreSQL, as simple-protocol
/// statements with the numbers written in: each may reach any server connection
/// of a transaction pooler.
#[cfg(feature = "postgres")]
pub(super) mod simple {
    use sqlx::{AssertSqlSafe, PgConnection};

    use super::{RecordTuple, Tables, descriptions_query, record_row, records_query};
    use crate::error::{GuardError, unreachable};
    use crate::status::RecordRow;

    /// Rows of a simple-protocol statement, decoded as `T`.
    async fn rows<T>(
        conn: &mut PgConnection,
        sql: String,
        doing: &'static str,
    ) -> Result<Vec<T>, GuardError>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>,
    {
        // Only numbers of ours are written into `sql`.
        sqlx::raw_sql(AssertSqlSafe(sql))
            .fetch_all(conn)
            .await
            .and_then(|rows| rows.iter().map(T::from_row).collect())
            .map_err(unreachable(doing))
    }

    /// Descriptions of the applied migrations of `versions`.
    pub(in crate::db) async fn descriptions(
        conn: &mut PgConnection,
        t: &Tables,
        versions: &[i64],
    ) -> Result<Vec<(i64, String)>, GuardError> {
        rows(
            conn,
            descriptions_query(t, versions),
            "reading the migrations table",
        )
        .await
    }

    /// The guard's records of migrations newer than `latest`, and of failures.
    pub(in crate::db) async fn records(
        conn: &mut PgConnection,
        t: &Tables,
        latest: i64,
    ) -> Result<Vec<RecordRow>, GuardError> {
        let sql = records_query(t, &latest.to_string());
        let found: Vec<RecordTuple> = rows(conn, sql, "reading _opskit_migrations").await?;
        Ok(found.into_iter().map(record_row).collect())
    }
}
