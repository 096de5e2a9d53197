use std::net::SocketAddr;
use std::process::ExitCode;

use axum::{Router, routing::get};
use opskit::config::Config;
use opskit::health::checks::sqlx_pool;
use opskit::health::{CheckOptions, Health, HealthSettings};
use opskit::migrate::{Guard, Policy};
use opskit::secret::{ConnectionString, ExposeSecret};
use opskit::telemetry::metrics::HttpMetricsLayer;
use opskit::telemetry::{BuildInfo, HttpSettings, Started, exit};
use tower::ServiceBuilder;

/// Settings of the bookmarks service.
#[derive(Config)]
#[config(prefix = "BOOKMARKS_")]
struct Settings {
    /// Address to listen on.
    #[config(default = "0.0.0.0:8080")]
    listen: SocketAddr,
    /// PostgreSQL URL (or BOOKMARKS_DATABASE_URL_FILE).
    database_url: ConnectionString,
    /// Shutdown timeline and connection limits (BOOKMARKS_DRAIN_DELAY, ...).
    #[config(nested, prefix = "")]
    http: HttpSettings,
    /// Probe paths (BOOKMARKS_HEALTH_READINESS_PATH, ...).
    #[config(nested)]
    health: HealthSettings,
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[tokio::main]
async fn main() -> ExitCode {
    // Logging, settings (every problem at once: exit 78), service.starting, metrics.
    let Started { settings, lifecycle, metrics } = opskit::telemetry::start::<Settings>(BuildInfo {
        name: "bookmarks",
        ..opskit::telemetry::build_info!()
    });
    // The schema: 65 when the database holds one this release cannot run against.
    let guard = Guard::new(&MIGRATOR);
    if let Err(err) = guard.run(&settings.database_url, Policy::Apply).await {
        lifecycle.exit(&err.to_string(), err.exit_code());
    }
    let pool = match sqlx::PgPool::connect(settings.database_url.expose_secret()).await {
        Ok(pool) => pool,
        Err(err) => lifecycle.exit(&format!("cannot open the database: {err}"), exit::UNAVAILABLE),
    };
    let health = Health::builder()
        .settings(&settings.health)
        .check("database", sqlx_pool(pool.clone()), CheckOptions::new())
        .check("schema", opskit::migrate::schema_check(guard, pool), CheckOptions::new())
        .build()
        .unwrap_or_else(|err| lifecycle.exit(&err.to_string(), exit::SOFTWARE));

    let app = Router::new()
        .route("/bookmarks", get(|| async { "[]" }))
        .layer(HttpMetricsLayer::new()); // inside the router: labels by route template
    let service = ServiceBuilder::new()
        .layer(metrics.layer()) // /metrics
        .layer(health.layer()) // /livez, /readyz, /startupz
        .service(app);
    opskit::telemetry::serve(&lifecycle, &health, &settings.http, settings.listen, service).await
}
