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

use opskit::telemetry::Started;

#[tokio::main]
async fn main() -> ExitCode {
    // Logging, settings (every problem at once, exit 78), service.starting, metrics.
    let Started {
        settings,
        lifecycle,
        metrics,
    } = settings::start();
    // The schema this release needs (65 if the database holds one it cannot run
    // against; while unreachable the service is alive, not ready), and the pools;
    // `--migrate-only` migrates and exits.
    let (url, guard, pools) = database::open(&settings, &lifecycle).await;
    let _watch = secrets::follow_database_url(&settings, &pools, &lifecycle);
    let health = health::registry(&settings, &url, &pools.checks, guard, &lifecycle);
    let app = routes::router(
        routes::App {
            notes: notes::Notes::new(pools.app, settings.database_pooling),
            token: secrets::api_token(&settings, &lifecycle),
        },
        settings.http.request_tracing(),
    );
    // Probes and /metrics answer first; bind, ready after the first checks, drain
    // on SIGTERM, service.stopped last.
    admin::serve(app, &metrics, &health, &settings, &lifecycle).await
}
