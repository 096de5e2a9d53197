//! The HTTP API: `/hello`, `/notes` (paginated), `/notes/{id}`.
//!
//! Writes need `Authorization: Bearer <token>`, checked before the body is read;
//! bodies are capped; lists are paged, each page capped in notes and in bytes, and
//! only a few pages are built at once (the rest wait a moment, then get 503 with
//! `Retry-After`), so no burst of requests can make the service hold more than a
//! few pages in memory.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use opskit::secret::TokenCheck;
use opskit::telemetry::metrics::HttpMetricsLayer;
use opskit::telemetry::traces::RequestTracingLayer;
use serde::Deserialize;
use tokio::sync::Semaphore;
use tower::ServiceBuilder;

use crate::notes::{NewNote, Notes};

/// Largest request body accepted, in bytes.
const MAX_BODY_BYTES: usize = 64 * 1024;
/// Notes per page when the client does not say.
const DEFAULT_PAGE: i64 = 50;
/// Most notes per page.
const MAX_PAGE: i64 = 200;
/// Most note text per page, in bytes: a page of large notes ends early, with a
/// `Link` to the rest.
const MAX_PAGE_BYTES: usize = 512 * 1024;
/// Most pages built at once (each holds its notes and their JSON); a request for
/// one more waits for its turn ([`AtMost`]).
const MAX_PAGES_AT_ONCE: usize = 8;

/// What every handler shares.
#[derive(Clone)]
pub struct App {
    /// The notes, through the application's pool.
    pub notes: Notes,
    /// The API token (and, for a grace period after it rotates, the previous one).
    pub token: Option<TokenCheck>,
}

/// The routes, with request metrics labelled by route template, and a span, a
/// request id (and, with `OTEL_EXPORTER_OTLP_ENDPOINT` set, a trace) per request.
pub fn router(app: App, tracing: RequestTracingLayer) -> Router {
    Router::new()
        .route("/hello", get(hello))
        .route(
            "/notes",
            get(list)
                .layer(middleware::from_fn_with_state(
                    AtMost::new(MAX_PAGES_AT_ONCE),
                    at_most,
                ))
                .post(create),
        )
        .route("/notes/{id}", get(fetch).delete(delete))
        .with_state(app)
        // One `Router::layer` for all three: each call wraps every route once more
        // (a boxed service and a boxed future per request, about 1,000
        // instructions).
        .layer(
            ServiceBuilder::new()
                .layer(tracing)
                .layer(HttpMetricsLayer::new())
                .layer(DefaultBodyLimit::max(MAX_BODY_BYTES)),
        )
}

/// At most a number of requests of a route at once: one more waits up to 3 s for
/// its turn (as long as a request waits for a database connection by default),
/// then is answered 503 with `Retry-After: 1`. Memory stays bounded however many
/// clients ask, and a short burst of cheap requests only waits. A turn ends when the
/// handler returns its response: a slow client still reading a page holds that one
/// page on its connection, never more. The pattern for any request that is
/// expensive in memory or time.
#[derive(Clone)]
pub struct AtMost {
    permits: Arc<Semaphore>,
}

impl AtMost {
    /// Up to `requests` at once.
    pub fn new(requests: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(requests)),
        }
    }
}

/// How long a request waits for its turn under [`AtMost`].
const TURN_WAIT: Duration = Duration::from_secs(3);

/// The middleware of [`AtMost`].
async fn at_most(State(limit): State<AtMost>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(TURN_WAIT, limit.permits.acquire()).await {
        Ok(Ok(_turn)) => next.run(request).await,
        _ => unavailable("too many requests of this kind at once; retry shortly"),
    }
}

/// 503 with `Retry-After: 1`: the client may retry in a second.
fn unavailable(message: &str) -> Response {
    let mut response = error(StatusCode::SERVICE_UNAVAILABLE, message);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

/// An error as JSON: `{"error": "..."}`.
fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(serde_json::json!({ "error": message }))).into_response()
}

/// Whether the error passes: the database is out of reach, busy, restarting or out
/// of space, so the client may retry.
fn is_transient(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_) => true,
        // A connection cut while it is being set up: sqlx reads the one-byte answer
        // to PostgreSQL's SSLRequest and reports end-of-stream as "unexpected
        // response from SSLRequest: 0x00", a protocol error.
        sqlx::Error::Protocol(_) => true,
        // SQLite: SQLITE_BUSY (5), SQLITE_LOCKED (6), SQLITE_FULL (13).
        // PostgreSQL: connection exceptions (08), a password refused (28P01, 28000:
        // rotated on the server before the service read the new one, which it does
        // within a second of the file's change), serialization failure and
        // deadlock (40001, 40P01), insufficient resources (53), the server
        // shutting down or starting up (57P01, 57P02, 57P03).
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            matches!(
                code.as_ref(),
                "5" | "6"
                    | "13"
                    | "28P01"
                    | "28000"
                    | "40001"
                    | "40P01"
                    | "57P01"
                    | "57P02"
                    | "57P03"
            ) || code.starts_with("08")
                || code.starts_with("53")
        }),
        _ => false,
    }
}

/// A database failure: 503 with `Retry-After` when it passes (the database is out
/// of reach, busy or out of space: the client may retry), 500 otherwise. The details
/// go to the log only.
fn database_error(err: sqlx::Error) -> Response {
    tracing::error!(event = "notes.database_error", error = %err, "database error: {err}");
    match err {
        ref err if is_transient(err) => unavailable("the database is unavailable; retry shortly"),
        _ => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "database error; the service log has the details",
        ),
    }
}

/// Proof that the request carries the API token: an extractor, so axum checks it
/// before it reads the body.
pub struct Writer;

impl FromRequestParts<App> for Writer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Response> {
        let Some(token) = &app.token else {
            return Err(error(
                StatusCode::FORBIDDEN,
                "writes are disabled: the service has no API token (set NOTES_API_TOKEN or NOTES_API_TOKEN_FILE)",
            ));
        };
        let presented = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        if token.verify(presented.as_bytes()) {
            Ok(Self)
        } else {
            Err(error(
                StatusCode::UNAUTHORIZED,
                "missing or wrong bearer token",
            ))
        }
    }
}

/// `GET /hello`: which release answers, without touching the database.
async fn hello() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "service": "notes", "version": env!("CARGO_PKG_VERSION") }))
}

/// `?after=ID&limit=N` of `GET /notes`.
#[derive(Debug, Deserialize)]
struct PageQuery {
    #[serde(default)]
    after: i64,
    limit: Option<i64>,
}

/// `GET /notes`: a page of notes, oldest first; a page cut by its limit or its
/// size has a `Link` header to the next.
async fn list(State(app): State<App>, Query(page): Query<PageQuery>) -> Response {
    let limit = page.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
    match app.notes.page(page.after, limit, MAX_PAGE_BYTES).await {
        Ok((notes, more)) => {
            let next = more.then(|| notes.last().map(|n| n.id)).flatten();
            // Up to half a megabyte of JSON: written on a blocking thread, so the
            // runtime's threads stay free for the probes and other requests.
            let written = tokio::task::spawn_blocking(move || serde_json::to_vec(&notes)).await;
            let json = match written {
                Ok(Ok(json)) => json,
                Ok(Err(err)) => return page_failed(&err),
                Err(err) => return page_failed(&err),
            };
            let mut response = (
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                )],
                json,
            )
                .into_response();
            if let Some(last) = next {
                let link = format!("</notes?after={last}&limit={limit}>; rel=\"next\"");
                if let Ok(link) = HeaderValue::from_str(&link) {
                    response.headers_mut().insert(header::LINK, link);
                }
            }
            response
        }
        Err(err) => database_error(err),
    }
}

/// A page that could not be written as JSON: logged, and 500.
fn page_failed(err: &dyn std::fmt::Display) -> Response {
    tracing::error!(event = "notes.page_failed", error = %err, "could not write a page of notes: {err}");
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "could not write the page; the service log has the details",
    )
}

/// `POST /notes`: stores a note (201 with the note and its id).
async fn create(
    State(app): State<App>,
    _writer: Writer,
    new: Result<Json<NewNote>, JsonRejection>,
) -> Response {
    let Json(new) = match new {
        Ok(new) => new,
        Err(rejection) => return error(rejection.status(), &rejection.body_text()),
    };
    if new.title.is_empty() || new.title.chars().count() > 200 {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "title must be 1 to 200 characters",
        );
    }
    match app.notes.insert(new).await {
        Ok(note) => (StatusCode::CREATED, Json(note)).into_response(),
        Err(err) => database_error(err),
    }
}

/// `GET /notes/{id}`.
async fn fetch(State(app): State<App>, Path(id): Path<i64>) -> Response {
    match app.notes.get(id).await {
        Ok(Some(note)) => Json(note).into_response(),
        Ok(None) => error(StatusCode::NOT_FOUND, "no such note"),
        Err(err) => database_error(err),
    }
}

/// `DELETE /notes/{id}`.
async fn delete(State(app): State<App>, _writer: Writer, Path(id): Path<i64>) -> Response {
    match app.notes.delete(id).await {
        Ok(true) => StatusCode::NO_CONTENT.into_response(),
        Ok(false) => error(StatusCode::NOT_FOUND, "no such note"),
        Err(err) => database_error(err),
    }
}

#[cfg(test)]
mod tests {
    use super::is_transient;

    #[test]
    fn a_cut_connection_is_transient_and_a_bad_query_is_not() {
        let cut = std::io::Error::from(std::io::ErrorKind::UnexpectedEof);
        assert!(is_transient(&sqlx::Error::Io(cut)));
        assert!(is_transient(&sqlx::Error::Protocol(
            "unexpected response from SSLRequest: 0x00".into()
        )));
        assert!(is_transient(&sqlx::Error::Tls("handshake eof".into())));
        assert!(is_transient(&sqlx::Error::PoolTimedOut));
        assert!(!is_transient(&sqlx::Error::RowNotFound));
        assert!(!is_transient(&sqlx::Error::ColumnNotFound("title".into())));
    }
}
