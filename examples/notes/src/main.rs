//! Run with `cargo run -p example-notes` (from the repository root).
//!
//! The notes service: a small JSON API over PostgreSQL or an embedded SQLite file,
//! wired with opskit the way a service should start and stop. With no environment
//! at all it starts on `./data/notes.db`, on 127.0.0.1:8080, with writes refused
//! until `NOTES_API_TOKEN` (or `NOTES_API_TOKEN_FILE`) is set. `RUNBOOK.md` (beside
//! this package's `Cargo.toml`) is its runbook; `--describe` lists its settings.

mod admin;
mod database;
mod health;
mod notes;
mod routes;
mod secrets;
mod settings;

use std::process::ExitCode;

use opskit::telemetry::{BuildInfo, Started};
use tower::ServiceBuilder;

use crate::settings::Settings;

#[tokio::main]
async fn main() -> ExitCode {
    // Logging, settings (every problem at once, exit 78), service.starting, metrics.
    let Started {
        settings,
        lifecycle,
        metrics,
    } = opskit::telemetry::start::<Settings>(BuildInfo {
        name: "notes",
        ..opskit::telemetry::build_info!()
    });
    settings.warn_if_staging();

    // The schema this release needs (65 if the database holds one it cannot run
    // against; while unreachable the service is alive, not ready), and the pools.
    let url = database::url(&settings, &lifecycle);
    let guard = database::guard(&url);
    if std::env::args().nth(1).as_deref() == Some("--migrate-only") {
        database::migrate_only(&url, &guard, settings.migrate, &lifecycle).await;
    }
    let pools = database::start(&settings, &url, &guard, &lifecycle).await;
    let _watch = secrets::follow_database_url(&settings, &pools, &lifecycle);
    let health = health::registry(&settings, &url, &pools.checks, guard, &lifecycle);
    let app = routes::router(
        routes::App {
            notes: notes::Notes::new(pools.app, settings.database_pooling),
            token: secrets::api_token(&settings, &lifecycle),
        },
        settings.http.request_tracing(),
    );
    // Probes and /metrics answer first, outside the application's layers; /metrics
    // on a port of its own when NOTES_METRICS_LISTEN is set.
    let metrics_here = admin::serve_metrics(&metrics, settings.metrics_listen, &lifecycle).await;
    let service = ServiceBuilder::new()
        .layer(metrics.layer_if(metrics_here))
        .layer(health.layer())
        .service(app);
    // Bind, ready after the first checks, drain on SIGTERM, service.stopped last.
    opskit::telemetry::serve(
        &lifecycle,
        &health,
        &settings.http,
        settings.listen,
        service,
    )
    .await
}
