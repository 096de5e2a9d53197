//! Run with `cargo run --example config-report` (add `-- --describe` for the list of
//! variables, `-- --env-example` for an `.env.example` file).
//!
//! Loads the settings of a small service from the environment, the way a service's
//! `main` does: logging first (JSON on stdout), then the configuration with fail-fast.
//! With a valid environment it logs a `config.loaded` event with the redacted summary
//! and exits 0; with any problem it logs one `config.invalid` event, prints the whole
//! report on stderr and exits 78. With no variables set at all it starts on its
//! defaults.

// A command-line example prints its listings on stdout.
#![allow(clippy::print_stdout)]

use std::net::SocketAddr;
use std::time::Duration;

use opskit::config::Config;
use opskit::secret::{ConnectionString, SecretString};
use serde::Deserialize;

/// Where the service runs.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Deployment {
    Local,
    Staging,
    Production,
}

/// Database pool settings.
#[derive(Config)]
#[allow(dead_code)]
struct Pool {
    /// Largest number of open database connections.
    #[config(default = "10")]
    max_connections: u32,
    /// How long a request waits for a free connection before failing.
    #[config(default = "5s")]
    acquire_timeout: Duration,
}

/// Settings of the example service.
#[derive(Config)]
#[config(prefix = "APP_")]
#[allow(dead_code)]
struct Settings {
    /// Address the HTTP server binds.
    #[config(default = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Where the service runs: local, staging or production.
    #[config(default = "local")]
    deployment: Deployment,
    /// Database URL; unset means the embedded SQLite file.
    database_url: Option<ConnectionString>,
    /// Token that write requests must present; unset means writes are refused.
    api_token: Option<SecretString>,
    /// How long in-flight requests may run after SIGTERM.
    #[config(default = "30s")]
    shutdown_timeout: Duration,
    /// Database pool.
    #[config(nested)]
    db_pool: Pool,
}

fn main() {
    let argument = std::env::args().nth(1);
    match argument.as_deref() {
        Some("--describe") => return print!("{}", Settings::describe().to_markdown()),
        Some("--env-example") => return print!("{}", Settings::describe().to_env_example()),
        _ => {}
    }

    // Logging comes up before the configuration, so a config failure reaches the
    // log collector and not only the terminal.
    tracing_subscriber::fmt()
        .json()
        .with_writer(std::io::stdout)
        .init();

    let settings = Settings::from_env_or_exit();
    tracing::info!(
        event = "config.loaded",
        config = %settings.summary().to_json(),
        "configuration loaded"
    );
}
