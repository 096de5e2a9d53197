use sqlx::{Database, Executor, Pool};

use crate::checks::{Check, Tolerant};
use crate::outcome::Outcome;

/// A check that acquires a connection from an sqlx pool and runs `SELECT 1` on it.
///
/// It fails when the pool cannot hand out a connection (database down, pool
/// exhausted) or the query fails; the run's timeout bounds both. It belongs to
/// readiness (the default), never to liveness: a database outage must not restart
/// every replica. One failed run is not enough to report failing: it takes 3 in a
/// row (a pool busy serving requests answers late once in a while), unless the
/// options set another [`failure_threshold`](crate::CheckOptions::failure_threshold).
///
/// Needs the `sqlx` feature; it works with any sqlx 0.9 database (the `opskit`
/// facade turns it on with `postgres` or `sqlite`).
///
/// ```
/// use opskit_health::{CheckOptions, Health, checks::sqlx_pool};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let pool = sqlx::SqlitePool::connect("sqlite::memory:").await?;
/// let health = Health::builder()
///     .check("database", sqlx_pool(pool), CheckOptions::new().component_type("datastore"))
///     .build()?;
/// # Ok(()) }
/// ```
pub fn sqlx_pool<DB>(pool: Pool<DB>) -> impl Check
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    let check = move || {
        let pool = pool.clone();
        async move {
            let mut connection = match pool.acquire().await {
                Ok(connection) => connection,
                Err(err) => {
                    return Outcome::fail(format!("cannot get a database connection: {err}"));
                }
            };
            match connection.execute("SELECT 1").await {
                Ok(_) => Outcome::pass(),
                Err(err) => Outcome::fail(format!("SELECT 1 failed: {err}")),
            }
        }
    };
    Tolerant::new(check, 3)
}
