//! Run with `cargo run -p notes-drill --bin notes-previous`.
//!
//! Release N-1 of the notes service, kept for the rollback drill: it ships the
//! migrations of its time (`migrations/`, version 1 only: no `tags` column) and
//! serves and stores notes without tags.
//! Its code is release N's as it was then: the notes package's shared modules, and
//! the note queries of that time below.

#[path = "../../../notes/src/admin.rs"]
mod admin;
#[path = "../../../notes/src/database.rs"]
mod database;
#[path = "../../../notes/src/health.rs"]
mod health;
#[path = "../../../notes/src/secrets.rs"]
mod secrets;
#[path = "../../../notes/src/settings.rs"]
mod settings;

use std::process::ExitCode;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use opskit::secret::TokenCheck;
use opskit::telemetry::Started;
use opskit::telemetry::metrics::HttpMetricsLayer;
use serde::Serialize;
use sqlx::AnyPool;

/// A note as release N-1 knew it.
#[derive(Serialize, sqlx::FromRow)]
struct Note {
    id: i64,
    title: String,
    body: String,
}

fn answer<T: Serialize>(result: Result<T, sqlx::Error>) -> Response {
    match result {
        Ok(value) => Json(value).into_response(),
        Err(err) => {
            tracing::error!(event = "notes.database_error", error = %err, "database error: {err}");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// What the handlers share.
#[derive(Clone)]
struct App {
    pool: AnyPool,
    token: Option<TokenCheck>,
}

async fn list(State(app): State<App>) -> Response {
    let notes =
        sqlx::query_as::<_, Note>("SELECT id, title, body FROM notes ORDER BY id LIMIT 200")
            .fetch_all(&app.pool)
            .await;
    answer(notes)
}

async fn fetch(State(app): State<App>, Path(id): Path<i64>) -> Response {
    let note = sqlx::query_as::<_, Note>("SELECT id, title, body FROM notes WHERE id = $1")
        .bind(id)
        .fetch_optional(&app.pool)
        .await;
    match note {
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        other => answer(other),
    }
}

/// A note to store, as clients of release N-1 sent it (tags, if any, are ignored).
#[derive(serde::Deserialize)]
struct NewNote {
    title: String,
    body: String,
}

/// Stores a note, for clients that present the API token.
async fn create(
    State(app): State<App>,
    headers: axum::http::HeaderMap,
    Json(new): Json<NewNote>,
) -> Response {
    let presented = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    let allowed = app
        .token
        .as_ref()
        .is_some_and(|token| token.verify(presented.as_bytes()));
    if !allowed {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let id = sqlx::query_scalar::<_, i64>(
        "INSERT INTO notes (title, body) VALUES ($1, $2) RETURNING id",
    )
    .bind(&new.title)
    .bind(&new.body)
    .fetch_all(&app.pool)
    .await
    .map(|ids| ids.first().copied());
    match id {
        Ok(Some(id)) => (
            StatusCode::CREATED,
            Json(Note {
                id,
                title: new.title,
                body: new.body,
            }),
        )
            .into_response(),
        other => answer(other),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let Started {
        settings,
        lifecycle,
        metrics,
    } = settings::start();
    // This release's queries predate transaction pooling: they keep named statements.
    if settings.database_pooling == settings::Pooling::Transaction {
        lifecycle.exit(
            "NOTES_DATABASE_POOLING=transaction: this release predates it; point it at \
             PostgreSQL or a session-mode pool",
            opskit::telemetry::exit::CONFIG,
        );
    }
    let (url, guard, pools) = database::open(&settings, &lifecycle).await;
    let _watch = secrets::follow_database_url(&settings, &pools, &lifecycle);
    let health = health::registry(&settings, &url, &pools.checks, guard, &lifecycle);
    let app = Router::new()
        .route("/notes", get(list).post(create))
        .route("/notes/{id}", get(fetch))
        .with_state(App {
            pool: pools.app,
            token: secrets::api_token(&settings, &lifecycle),
        })
        .layer(HttpMetricsLayer::new());
    admin::serve(app, &metrics, &health, &settings, &lifecycle).await
}
