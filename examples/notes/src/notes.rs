//! Notes in the database: every query the service runs, with fixed SQL and bound
//! values, the same text on PostgreSQL and SQLite.

use futures_util::TryStreamExt;
use serde::{Deserialize, Serialize};
use sqlx::AnyPool;
use sqlx::any::AnyRow;
use tracing::Instrument;

/// A stored note.
#[derive(Debug, Serialize, sqlx::FromRow)]
pub struct Note {
    pub id: i64,
    pub title: String,
    pub body: String,
    /// Stored as `""` when a note has none (migration 3 requires a value); NULL in
    /// rows release N-1 wrote before it. Either way, no `tags` in the JSON.
    #[serde(skip_serializing_if = "no_tags")]
    pub tags: Option<String>,
}

fn no_tags(tags: &Option<String>) -> bool {
    tags.as_deref().is_none_or(str::is_empty)
}

/// A note to store, as clients send it.
#[derive(Debug, Deserialize)]
pub struct NewNote {
    pub title: String,
    pub body: String,
    pub tags: Option<String>,
}

/// Notes with an id above `after`, oldest first: at most `limit`, and no more once
/// their text (titles, bodies and tags) reaches `max_bytes` (at least one note).
/// The flag says whether more may follow: the page was cut by the limit or by size.
pub async fn page(
    pool: &AnyPool,
    after: i64,
    limit: i64,
    max_bytes: usize,
) -> Result<(Vec<Note>, bool), sqlx::Error> {
    async {
        let mut rows = sqlx::query_as::<_, Note>(
            "SELECT id, title, body, tags FROM notes WHERE id > $1 ORDER BY id LIMIT $2",
        )
        .bind(after)
        .bind(limit)
        .fetch(pool);
        let mut notes = Vec::new();
        let mut bytes = 0;
        while let Some(note) = rows.try_next().await? {
            bytes += note.title.len() + note.body.len() + note.tags.as_ref().map_or(0, String::len);
            notes.push(note);
            if bytes >= max_bytes {
                return Ok((notes, true));
            }
        }
        let full = i64::try_from(notes.len()).is_ok_and(|n| n == limit);
        Ok((notes, full))
    }
    .instrument(query_span(pool, "SELECT notes"))
    .await
}

/// One note.
pub async fn get(pool: &AnyPool, id: i64) -> Result<Option<Note>, sqlx::Error> {
    sqlx::query_as::<_, Note>("SELECT id, title, body, tags FROM notes WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .instrument(query_span(pool, "SELECT notes"))
        .await
}

/// Stores a note; its id comes from the database (an identity column), so writers
/// never wait for each other. A note without tags gets `""`: this release always
/// writes the column, which is what lets migration 3 (contract) require it.
///
/// `fetch_all`, not `fetch_one`: SQLite commits an autocommit statement when it
/// runs to its end, after the `RETURNING` row; reading every row runs it to the end,
/// so a commit that fails (a full disk) is an error here, never a 201.
pub async fn insert(pool: &AnyPool, new: NewNote) -> Result<Note, sqlx::Error> {
    let rows: Vec<AnyRow> =
        sqlx::query("INSERT INTO notes (title, body, tags) VALUES ($1, $2, $3) RETURNING id")
            .bind(&new.title)
            .bind(&new.body)
            .bind(new.tags.as_deref().unwrap_or(""))
            .fetch_all(pool)
            .instrument(query_span(pool, "INSERT notes"))
            .await?;
    let row = rows.first().ok_or(sqlx::Error::RowNotFound)?;
    Ok(Note {
        id: sqlx::Row::try_get(row, "id")?,
        title: new.title,
        body: new.body,
        tags: new.tags,
    })
}

/// Deletes a note; `false` when there was none.
pub async fn delete(pool: &AnyPool, id: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM notes WHERE id = $1")
        .bind(id)
        .execute(pool)
        .instrument(query_span(pool, "DELETE notes"))
        .await?;
    Ok(done.rows_affected() > 0)
}

/// A span per query, named and described as OpenTelemetry's database conventions
/// say (`{operation} {table}`, client kind, `db.system.name`): in a trace, the
/// request's time in the database shows under its server span.
fn query_span(pool: &AnyPool, name: &'static str) -> tracing::Span {
    let options = pool.connect_options();
    let system = match options.database_url.scheme() {
        "postgres" | "postgresql" => "postgresql",
        other => other,
    };
    let (operation, table) = name.split_once(' ').unwrap_or((name, ""));
    tracing::info_span!(
        "query",
        otel.name = name,
        otel.kind = "client",
        db.system.name = system,
        db.operation.name = operation,
        db.collection.name = table,
    )
}
