//! The notes service, shared by its releases (`main.rs` is release N, `previous.rs`
//! release N-1).

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router, ServiceExt};
use opskit::config::{Config, ConfigError, Problem, ProblemKind};
use opskit::health::checks::sqlx_pool;
use opskit::health::{CheckOptions, Health, HealthSettings, Outcome, Probe};
use opskit::migrate::{Guard, Policy, State as SchemaState};
use opskit::secret::{ConnectionString, ExposeSecret, SecretString, secret_eq};
use opskit::telemetry::{
    GracefulShutdown, HttpMetricsLayer, Lifecycle, LogSettings, PrometheusMetrics, exit,
};
use serde::{Deserialize, Serialize};
use sqlx::{AnyPool, Row};

/// Which release this binary is.
pub(crate) struct Release {
    pub(crate) name: &'static str,
    pub(crate) migrator: &'static sqlx::migrate::Migrator,
    /// Release N knows the `tags` column; N-1 does not.
    pub(crate) has_tags: bool,
}

/// Where the service runs. Production refuses what is only fine on a laptop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Deployment {
    Local,
    Staging,
    Production,
}

/// Settings of the notes service.
#[derive(Config)]
#[config(prefix = "NOTES_")]
pub(crate) struct Settings {
    /// Address the HTTP server binds; port 0 picks a free port (service.listening says which).
    #[config(default = "127.0.0.1:8080")]
    pub(crate) listen: SocketAddr,
    /// Where the service runs: local, staging or production (production refuses laptop defaults).
    #[config(default = "local")]
    pub(crate) deployment: Deployment,
    /// PostgreSQL URL; unset means the embedded SQLite file in NOTES_DATA_DIR.
    pub(crate) database_url: Option<ConnectionString>,
    /// Directory of the embedded SQLite database, created on first run.
    #[config(default = "data")]
    pub(crate) data_dir: PathBuf,
    /// Token write requests must present as `Authorization: Bearer <token>`; unset refuses writes.
    pub(crate) api_token: Option<SecretString>,
    /// Migrations at startup: apply (migrate, then serve) or verify (a separate job migrates).
    #[config(default = "apply")]
    pub(crate) migrate: Policy,
    /// Time between failing readiness and refusing new connections after SIGTERM.
    #[config(default = "2s")]
    pub(crate) drain_delay: Duration,
    /// Longest in-flight requests may run after new connections are refused.
    #[config(default = "30s")]
    pub(crate) shutdown_timeout: Duration,
    /// Health endpoints.
    #[config(nested)]
    pub(crate) health: HealthSettings,
}

/// The rules that depend on the deployment: problems refuse the start in
/// production; in staging they are warnings.
fn deployment_problems(settings: &Settings) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut problem = |variable: &str, expected: &'static str, secret: bool, reason: &str| {
        problems.push(Problem {
            variable: variable.to_owned(),
            kind: ProblemKind::NotAllowed {
                reason: reason.to_owned(),
            },
            expected,
            secret,
            doc: "",
        });
    };
    if settings.api_token.is_none() {
        problem(
            "NOTES_API_TOKEN",
            "SecretString",
            true,
            "is not set, which refuses every write; production needs it: set NOTES_API_TOKEN or NOTES_API_TOKEN_FILE",
        );
    }
    if settings.database_url.is_none() {
        problem(
            "NOTES_DATABASE_URL",
            "ConnectionString",
            true,
            "is not set, so notes would live in an SQLite file inside one container; production needs a PostgreSQL URL",
        );
    }
    let logs = LogSettings::from_env()
        .map(|l| l.into_inner())
        .unwrap_or_default();
    if !logs.is_json(std::io::stdout().is_terminal()) {
        problem(
            "LOG_FORMAT",
            "LogFormat",
            false,
            "gives human-readable lines, which a log collector cannot parse; production needs LOG_FORMAT=json (or auto off a terminal)",
        );
    }
    problems
}

#[derive(Clone)]
struct App {
    pool: AnyPool,
    token: Option<std::sync::Arc<SecretString>>,
    has_tags: bool,
}

#[derive(Debug, Serialize)]
struct Note {
    id: i64,
    title: String,
    body: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    tags: Option<String>,
}

#[derive(Debug, Deserialize)]
struct NewNote {
    title: String,
    body: String,
    tags: Option<String>,
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(serde_json::json!({ "error": message }))).into_response()
}

fn database_error(err: sqlx::Error) -> Response {
    tracing::error!(event = "notes.database_error", error = %err, "database error: {err}");
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "database error; the service log has the details",
    )
}

/// Writes need `Authorization: Bearer <token>`, compared in constant time. `Some`
/// is the refusal to send.
fn refuse_write(app: &App, headers: &HeaderMap) -> Option<Response> {
    let Some(token) = &app.token else {
        return Some(error(
            StatusCode::FORBIDDEN,
            "writes are disabled: the service has no API token (set NOTES_API_TOKEN or NOTES_API_TOKEN_FILE)",
        ));
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    (!secret_eq(token, presented.as_bytes()))
        .then(|| error(StatusCode::UNAUTHORIZED, "missing or wrong bearer token"))
}

fn columns(app: &App) -> &'static str {
    if app.has_tags {
        "id, title, body, tags"
    } else {
        "id, title, body"
    }
}

fn note(app: &App, row: &sqlx::any::AnyRow) -> Result<Note, sqlx::Error> {
    Ok(Note {
        id: row.try_get("id")?,
        title: row.try_get("title")?,
        body: row.try_get("body")?,
        tags: if app.has_tags {
            row.try_get("tags")?
        } else {
            None
        },
    })
}

/// `GET /hello`: which release answers, without touching the database.
async fn hello() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "service": "notes", "version": env!("CARGO_PKG_VERSION") }))
}

async fn list(State(app): State<App>) -> Response {
    let sql = format!("SELECT {} FROM notes ORDER BY id", columns(&app));
    match sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_all(&app.pool)
        .await
    {
        Ok(rows) => match rows
            .iter()
            .map(|r| note(&app, r))
            .collect::<Result<Vec<_>, _>>()
        {
            Ok(notes) => Json(notes).into_response(),
            Err(err) => database_error(err),
        },
        Err(err) => database_error(err),
    }
}

async fn create(State(app): State<App>, headers: HeaderMap, Json(new): Json<NewNote>) -> Response {
    if let Some(refusal) = refuse_write(&app, &headers) {
        return refusal;
    }
    let tags = if app.has_tags { new.tags } else { None };
    match insert(&app, &new.title, &new.body, tags.as_deref()).await {
        Ok(id) => (
            StatusCode::CREATED,
            Json(Note {
                id,
                title: new.title,
                body: new.body,
                tags,
            }),
        )
            .into_response(),
        Err(err) => database_error(err),
    }
}

/// The PostgreSQL advisory lock that serialises note inserts ("notes" in ASCII).
const INSERT_LOCK: i64 = 0x6e_6f_74_65_73;

/// Inserts a note and returns its id: the next after the highest. One migration set
/// serves SQLite and PostgreSQL, which share no identity-column syntax, so the id is
/// chosen in the INSERT, with writers taking turns. SQLite takes its write lock when
/// a writing statement starts, so the statement alone is enough; PostgreSQL reads a
/// snapshot taken before other writers commit, so the insert waits for a
/// transaction-scoped advisory lock first (it holds across replicas too).
async fn insert(
    app: &App,
    title: &str,
    body: &str,
    tags: Option<&str>,
) -> Result<i64, sqlx::Error> {
    let sql = if app.has_tags {
        "INSERT INTO notes (id, title, body, tags) \
         SELECT COALESCE(MAX(id), 0) + 1, $1, $2, $3 FROM notes RETURNING id"
    } else {
        "INSERT INTO notes (id, title, body) \
         SELECT COALESCE(MAX(id), 0) + 1, $1, $2 FROM notes RETURNING id"
    };
    let mut tx = app.pool.begin().await?;
    if tx.backend_name() == "PostgreSQL" {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(INSERT_LOCK)
            .execute(&mut *tx)
            .await?;
    }
    let mut query = sqlx::query_scalar::<_, i64>(sql).bind(title).bind(body);
    if app.has_tags {
        query = query.bind(tags);
    }
    let id = query.fetch_one(&mut *tx).await?;
    tx.commit().await?;
    Ok(id)
}

async fn fetch(State(app): State<App>, Path(id): Path<i64>) -> Response {
    let sql = format!("SELECT {} FROM notes WHERE id = $1", columns(&app));
    match sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&app.pool)
        .await
    {
        Ok(Some(row)) => match note(&app, &row) {
            Ok(note) => Json(note).into_response(),
            Err(err) => database_error(err),
        },
        Ok(None) => error(StatusCode::NOT_FOUND, "no such note"),
        Err(err) => database_error(err),
    }
}

async fn delete(State(app): State<App>, headers: HeaderMap, Path(id): Path<i64>) -> Response {
    if let Some(refusal) = refuse_write(&app, &headers) {
        return refusal;
    }
    match sqlx::query("DELETE FROM notes WHERE id = $1")
        .bind(id)
        .execute(&app.pool)
        .await
    {
        Ok(done) if done.rows_affected() > 0 => StatusCode::NO_CONTENT.into_response(),
        Ok(_) => error(StatusCode::NOT_FOUND, "no such note"),
        Err(err) => database_error(err),
    }
}

/// Stops the process after logging `service.stopped`.
fn stop(lifecycle: &Lifecycle, reason: &str, code: i32) -> ! {
    lifecycle.stopped(reason, code);
    std::process::exit(code)
}

pub(crate) async fn run(release: Release) {
    // `--describe` and `--env-example` list the settings (for the runbook and for
    // an .env file) without starting anything.
    match std::env::args().nth(1).as_deref() {
        Some("--describe") => return print!("{}", Settings::describe().to_markdown()),
        Some("--env-example") => return print!("{}", Settings::describe().to_env_example()),
        _ => {}
    }
    // 1. Logging first: everything after it, a configuration failure included, is logged.
    opskit::telemetry::init_or_exit();
    // 2. Configuration, every problem at once (exit 78).
    let settings = Settings::from_env_or_exit();
    let problems = deployment_problems(&settings);
    match settings.deployment {
        Deployment::Production => {
            if let Some(err) = ConfigError::from_problems(problems) {
                err.exit();
            }
        }
        Deployment::Staging => {
            for p in &problems {
                tracing::warn!(event = "config.deployment_warning", variable = %p.variable, deployment = "staging", "{p}; production would refuse to start");
            }
        }
        Deployment::Local => {}
    }
    // 3. Who we are, and the redacted configuration.
    let info = opskit::telemetry::BuildInfo {
        name: "notes",
        ..opskit::telemetry::build_info!()
    };
    let lifecycle = Lifecycle::starting(info, Some(settings.summary()));
    if settings.api_token.is_none() {
        tracing::warn!(
            event = "notes.writes_disabled",
            "NOTES_API_TOKEN is not set: every write is refused with 403 until it is (set NOTES_API_TOKEN or NOTES_API_TOKEN_FILE)"
        );
    }
    let metrics = match PrometheusMetrics::install(&info) {
        Ok(metrics) => metrics,
        Err(err) => stop(&lifecycle, &err.to_string(), exit::SOFTWARE),
    };

    // 4. The schema: refuse one this release cannot run against (65), apply or verify.
    let url = match &settings.database_url {
        Some(url) => url.expose_secret().to_owned(),
        None => {
            if let Err(err) = std::fs::create_dir_all(&settings.data_dir) {
                let reason = format!(
                    "cannot create the data directory {}: {err}",
                    settings.data_dir.display()
                );
                stop(&lifecycle, &reason, exit::OS_ERROR);
            }
            format!(
                "sqlite://{}?mode=rwc",
                settings.data_dir.join("notes.db").display()
            )
        }
    };
    let guard = Guard::new(release.migrator);
    // `--migrate-only`: the migration job of a fleet whose replicas only verify.
    if std::env::args().nth(1).as_deref() == Some("--migrate-only") {
        match guard.run(&url, Policy::Apply).await {
            Ok(status) => stop(
                &lifecycle,
                &format!("migrations applied: {status}"),
                exit::OK,
            ),
            Err(err) => stop(&lifecycle, &err.to_string(), err.exit_code()),
        }
    }
    if let Err(err) = guard.run(&url, settings.migrate).await {
        stop(&lifecycle, &err.to_string(), err.exit_code());
    }

    sqlx::any::install_default_drivers();
    let pool = match AnyPool::connect(&url).await {
        Ok(pool) => pool,
        Err(err) => stop(
            &lifecycle,
            &format!("cannot open the database: {err}"),
            exit::UNAVAILABLE,
        ),
    };

    // 5. Health: the database (readiness), the schema (readiness and startup).
    let schema_url = url.clone();
    let schema_guard = std::sync::Arc::new(guard);
    let health = Health::builder()
        .service_id("notes")
        .version(info.version)
        .release_id(info.release_id())
        .description(release.name)
        .settings(&settings.health)
        .check(
            "database",
            sqlx_pool(pool.clone()),
            CheckOptions::new().component_type("datastore"),
        )
        .check(
            "schema",
            move || {
                let guard = schema_guard.clone();
                let url = schema_url.clone();
                async move {
                    match guard.status_at(&url).await {
                        Ok(status) if status.state == SchemaState::UpToDate => Outcome::pass(),
                        Ok(status) if status.is_compatible() => Outcome::warn(status.to_string()),
                        Ok(status) => Outcome::fail(status.to_string()),
                        Err(err) => Outcome::fail(err.to_string()),
                    }
                }
            },
            CheckOptions::new()
                .probes([Probe::Readiness, Probe::Startup])
                .component_type("datastore"),
        )
        .build()
        .expect("the health registry is valid and built inside the runtime");

    let app = App {
        pool,
        token: settings.api_token.clone().map(std::sync::Arc::new),
        has_tags: release.has_tags,
    };
    let router = Router::new()
        .route("/hello", get(hello))
        .route("/notes", get(list).post(create))
        .route("/notes/{id}", get(fetch).delete(delete))
        .with_state(app)
        // Request metrics label by the matched route, so they go inside the router...
        .layer(HttpMetricsLayer::new());
    // ...while the health and /metrics endpoints answer before routing. Wrapping the
    // router once costs one layer per request; `Router::layer` would box every route
    // once more for each layer.
    let service = tower::ServiceBuilder::new()
        .map_response(|response: axum::http::Response<_>| response.map(axum::body::Body::new))
        .layer(metrics.layer())
        .layer(health.layer())
        .service(router);

    // 6. Listen, then ready.
    let listener = match tokio::net::TcpListener::bind(settings.listen).await {
        Ok(listener) => listener,
        Err(err) => {
            let reason = format!("cannot listen on {}: {err}", settings.listen);
            tracing::error!(event = "service.bind_failed", address = %settings.listen, error = %err, "{reason}");
            stop(&lifecycle, &reason, exit::OS_ERROR);
        }
    };
    match listener.local_addr() {
        Ok(address) => lifecycle.listening("http", address),
        Err(err) => stop(&lifecycle, &err.to_string(), exit::OS_ERROR),
    }
    let shutdown = GracefulShutdown::new(settings.drain_delay, settings.shutdown_timeout)
        .health(health.clone())
        .lifecycle(lifecycle.clone());
    let server = axum::serve(
        listener,
        ServiceExt::<axum::extract::Request>::into_make_service(service),
    )
    .with_graceful_shutdown(shutdown.stop_accepting());
    health.mark_started();
    // "ready" in the log means /readyz can pass: every check has run once.
    if !health.wait_until_checked(Duration::from_secs(10)).await {
        tracing::warn!(
            event = "health.slow_first_check",
            "a health check has not finished its first run after 10 s; /readyz says which"
        );
    }
    lifecycle.ready();

    // 7. Until SIGTERM: drain, stop accepting, finish in-flight requests.
    let outcome = shutdown.run(server.into_future()).await;
    match outcome.result {
        Some(Err(err)) => stop(
            &lifecycle,
            &format!("the server failed: {err}"),
            exit::OS_ERROR,
        ),
        _ => lifecycle.stopped(&outcome.reason(), exit::OK),
    }
}
