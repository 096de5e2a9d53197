//! sqlx's advisory lock on PostgreSQL: its key for a database (the one `sqlx
//! migrate run` takes, so the two exclude each other) and who holds it.

use sqlx::{AssertSqlSafe, PgConnection};

use crate::error::{GuardError, unreachable};

/// sqlx's advisory-lock key for the connection's database.
pub(super) async fn advisory_key(
    conn: &mut PgConnection,
    doing: &'static str,
) -> Result<i64, GuardError> {
    let row = sqlx::raw_sql("SELECT current_database()")
        .fetch_one(conn)
        .await
        .map_err(unreachable(doing))?;
    let database: String = sqlx::Row::try_get(&row, 0).map_err(unreachable(doing))?;
    Ok(lock_id(&database))
}

/// sqlx's lock key for a database, so the guard and `sqlx migrate run` exclude
/// each other.
fn lock_id(database: &str) -> i64 {
    const CRC_IEEE: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);
    0x3d32_ad9e * i64::from(CRC_IEEE.checksum(database.as_bytes()))
}

/// Who holds the advisory lock, from `pg_locks` and `pg_stat_activity`.
pub(super) async fn lock_holder(conn: &mut PgConnection, key: i64) -> String {
    type Holder = (i32, Option<String>, Option<String>, Option<String>);
    // Two numbers of ours in a simple-protocol statement: safe behind a pooler.
    let sql = format!(
        "SELECT a.pid, a.application_name, host(a.client_addr), to_char(a.backend_start, 'YYYY-MM-DD HH24:MI:SS TZ') \
         FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
         WHERE l.locktype = 'advisory' AND l.granted AND l.classid::bigint = {} AND l.objid::bigint = {} LIMIT 1",
        (key >> 32) & 0xffff_ffff,
        key & 0xffff_ffff
    );
    let row: Result<Option<Holder>, _> = sqlx::raw_sql(AssertSqlSafe(sql))
        .fetch_optional(&mut *conn)
        .await
        .and_then(|row| row.map(|r| sqlx::FromRow::from_row(&r)).transpose());
    match row {
        Ok(Some((pid, application, address, since))) => format!(
            "PostgreSQL backend {pid} (application {:?}, client {}, connected since {})",
            application.unwrap_or_default(),
            address.unwrap_or_else(|| "local".into()),
            since.unwrap_or_else(|| "?".into())
        ),
        Ok(None) => "another session (it released the lock as the guard gave up)".to_owned(),
        Err(err) => format!("another session (pg_locks could not be read: {err})"),
    }
}
