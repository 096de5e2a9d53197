//! Notes in the database: every query the service runs, with fixed SQL and bound
//! values, the same text on PostgreSQL and SQLite. Behind a transaction pooler
//! (`NOTES_DATABASE_POOLING=transaction`) each runs in a transaction of its own
//! with an unnamed statement.

use futures_util::TryStreamExt;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, AnyPool, Transaction};
use tracing::Instrument;

use crate::settings::Pooling;

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

/// The notes in the database, reached through the service's pool the way its
/// [`Pooling`] allows.
#[derive(Clone)]
pub struct Notes {
    pool: AnyPool,
    pooling: Pooling,
}

impl Notes {
    pub fn new(pool: AnyPool, pooling: Pooling) -> Self {
        Self { pool, pooling }
    }

    /// A connection for one query: through a transaction pooler, a transaction of
    /// its own, so the statement's two round trips (parse, then bind and run)
    /// reach one server connection.
    async fn open(&self) -> Result<Open, sqlx::Error> {
        Ok(match self.pooling {
            Pooling::Session => Open::Session(self.pool.acquire().await?),
            Pooling::Transaction => Open::Transaction(self.pool.begin().await?),
        })
    }

    /// Whether a statement is prepared once per connection and kept: not through
    /// a transaction pooler, where the next transaction may meet another server
    /// connection (or another client's statement of the same name).
    fn keep_statements(&self) -> bool {
        self.pooling == Pooling::Session
    }

    /// Notes with an id above `after`, oldest first: at most `limit`, and no more
    /// once their text (titles, bodies and tags) reaches `max_bytes` (at least one
    /// note). The flag says whether more may follow: the page was cut by the limit
    /// or by size.
    pub async fn page(
        &self,
        after: i64,
        limit: i64,
        max_bytes: usize,
    ) -> Result<(Vec<Note>, bool), sqlx::Error> {
        async {
            let mut open = self.open().await?;
            let mut notes = Vec::new();
            let mut full = false;
            {
                let mut rows = sqlx::query_as::<_, Note>(
                    "SELECT id, title, body, tags FROM notes WHERE id > $1 ORDER BY id LIMIT $2",
                )
                .bind(after)
                .bind(limit)
                .persistent(self.keep_statements())
                .fetch(open.connection());
                let mut bytes = 0;
                while let Some(note) = rows.try_next().await? {
                    bytes += note.title.len()
                        + note.body.len()
                        + note.tags.as_ref().map_or(0, String::len);
                    notes.push(note);
                    if bytes >= max_bytes {
                        full = true;
                        break;
                    }
                }
            }
            open.close().await?;
            let full = full || i64::try_from(notes.len()).is_ok_and(|n| n == limit);
            Ok((notes, full))
        }
        .instrument(query_span(&self.pool, "SELECT notes"))
        .await
    }

    /// One note.
    pub async fn get(&self, id: i64) -> Result<Option<Note>, sqlx::Error> {
        async {
            let mut open = self.open().await?;
            let note =
                sqlx::query_as::<_, Note>("SELECT id, title, body, tags FROM notes WHERE id = $1")
                    .bind(id)
                    .persistent(self.keep_statements())
                    .fetch_optional(open.connection())
                    .await?;
            open.close().await?;
            Ok(note)
        }
        .instrument(query_span(&self.pool, "SELECT notes"))
        .await
    }

    /// Stores a note; its id comes from the database (an identity column), so
    /// writers never wait for each other. A note without tags gets `""`: this
    /// release always writes the column, which is what lets migration 3 (contract)
    /// require it.
    ///
    /// `fetch_all`, not `fetch_one`: SQLite commits an autocommit statement when it
    /// runs to its end, after the `RETURNING` row; reading every row runs it to the
    /// end, so a commit that fails (a full disk) is an error here, never a 201.
    pub async fn insert(&self, new: NewNote) -> Result<Note, sqlx::Error> {
        let rows: Vec<AnyRow> = async {
            let mut open = self.open().await?;
            let rows = sqlx::query(
                "INSERT INTO notes (title, body, tags) VALUES ($1, $2, $3) RETURNING id",
            )
            .bind(&new.title)
            .bind(&new.body)
            .bind(new.tags.as_deref().unwrap_or(""))
            .persistent(self.keep_statements())
            .fetch_all(open.connection())
            .await?;
            open.close().await?;
            Ok::<_, sqlx::Error>(rows)
        }
        .instrument(query_span(&self.pool, "INSERT notes"))
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
    pub async fn delete(&self, id: i64) -> Result<bool, sqlx::Error> {
        async {
            let mut open = self.open().await?;
            let done = sqlx::query("DELETE FROM notes WHERE id = $1")
                .bind(id)
                .persistent(self.keep_statements())
                .execute(open.connection())
                .await?;
            open.close().await?;
            Ok(done.rows_affected() > 0)
        }
        .instrument(query_span(&self.pool, "DELETE notes"))
        .await
    }
}

/// A connection taken for one query, and how it is given back.
enum Open {
    Session(PoolConnection<Any>),
    Transaction(Transaction<'static, Any>),
}

impl Open {
    fn connection(&mut self) -> &mut AnyConnection {
        match self {
            Open::Session(connection) => connection,
            Open::Transaction(transaction) => transaction,
        }
    }

    /// Gives the connection back; a transaction is committed first, and a commit
    /// that fails is the query's error.
    async fn close(self) -> Result<(), sqlx::Error> {
        match self {
            Open::Session(_) => Ok(()),
            Open::Transaction(transaction) => transaction.commit().await,
        }
    }
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
