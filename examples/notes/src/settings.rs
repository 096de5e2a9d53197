//! The service's settings: every `NOTES_*` variable, checked at startup.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::time::Duration;

use opskit::config::{Config, Invalid};
use opskit::health::HealthSettings;
use opskit::migrate::Policy;
use opskit::secret::{ConnectionString, SQLX_POSTGRES_PARAMETERS, SecretString};
use opskit::telemetry::logs::LogSettings;
use opskit::telemetry::{BuildInfo, HttpSettings, Started};
use serde::Deserialize;

/// Where the service runs. Production refuses what is only fine on a laptop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Deployment {
    Local,
    Staging,
    Production,
}

/// How the database URL's connections are pooled on the way to PostgreSQL: what
/// the service's own queries may leave on a server connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pooling {
    /// Each connection is the service's while it is open: PostgreSQL itself, or
    /// PgBouncer with `pool_mode = session`. Statements are prepared once per
    /// connection and reused.
    Session,
    /// A pooler hands a server connection over for one transaction at a time
    /// (PgBouncer with `pool_mode = transaction`): each query runs in a transaction
    /// of its own with an unnamed statement, so nothing outlives it on the server
    /// connection.
    Transaction,
}

/// The paths the router serves (`routes::router`): a probe path may not take
/// any of them over (`NOTES_HEALTH_*_PATH`, exit 78).
pub const ROUTES: [&str; 3] = ["/hello", "/notes", "/notes/{id}"];

/// The most connections a pool may be given: PostgreSQL's `max_connections` ceiling.
const MAX_DATABASE_CONNECTIONS: u32 = 262_143;

/// The shortest wait for a connection that can succeed: a new connection's handshake
/// counts against it.
const MIN_ACQUIRE_TIMEOUT: Duration = Duration::from_millis(100);

/// Settings of the notes service.
///
/// Each rule names the settings it reads and runs whenever those parsed, so its
/// problem is in the one report with every other problem (exit 78).
#[derive(Config)]
#[config(prefix = "NOTES_")]
#[config(rule(database_url_is_usable(database_url)))]
#[config(rule(pooling_needs_postgres(database_pooling, database_url)))]
#[config(rule(data_dir_is_plain(data_dir)))]
#[config(rule(pool_is_usable(database_max_connections, database_acquire_timeout)))]
#[config(rule(probes_leave_routes_alone(health)))]
#[config(rule(production_refuses_laptop_defaults(deployment, api_token, database_url)))]
#[config(rule(production_refuses_human_logs(deployment, logs)))]
pub struct Settings {
    /// Address the HTTP server binds; port 0 picks a free port (service.listening says which).
    #[config(default = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Address of a listener of its own for /metrics (an admin port only the scraper reaches); unset serves /metrics on NOTES_LISTEN.
    pub metrics_listen: Option<SocketAddr>,
    /// Where the service runs: local, staging or production (production refuses laptop defaults).
    #[config(default = "local")]
    pub deployment: Deployment,
    /// PostgreSQL URL (postgres://); unset means the embedded SQLite file in NOTES_DATA_DIR. From NOTES_DATABASE_URL_FILE it follows the file: connections opened after a change use the new URL.
    pub database_url: Option<ConnectionString>,
    /// How NOTES_DATABASE_URL's connections are pooled: session (PostgreSQL itself, or PgBouncer with pool_mode = session) or transaction (PgBouncer with pool_mode = transaction: each query in a transaction of its own, no prepared statement kept).
    #[config(default = "session")]
    pub database_pooling: Pooling,
    /// Directory of the embedded SQLite database, created on first run.
    #[config(default = "data")]
    pub data_dir: PathBuf,
    /// Longest a request waits for a database connection before it gets 503.
    #[config(default = "3s")]
    pub database_acquire_timeout: Duration,
    /// Most database connections the service opens (one more serves the health checks).
    #[config(default = "10")]
    pub database_max_connections: NonZeroU32,
    /// How long the service waits, alive and not ready, for a database that is down
    /// at start before it exits 69.
    #[config(default = "5m")]
    pub database_start_deadline: Duration,
    /// Token write requests must present as `Authorization: Bearer <token>`; unset refuses writes. From NOTES_API_TOKEN_FILE it follows the file: a new content is used within a second.
    pub api_token: Option<SecretString>,
    /// How long the previous API token is still accepted after NOTES_API_TOKEN_FILE's content changes, so clients that switch after the service are not refused.
    #[config(default = "5m")]
    pub api_token_grace: Duration,
    /// Migrations at startup (and the `--migrate-only` job): apply (all of them), expand
    /// (up to the first contract one, so release N-1 keeps working; apply the rest once
    /// it is gone) or verify (a separate job migrates).
    #[config(default = "apply")]
    pub migrate: Policy,
    /// Shutdown timeline and connection limits.
    #[config(nested, prefix = "")]
    pub http: HttpSettings,
    /// Health endpoints.
    #[config(nested)]
    pub health: HealthSettings,
    /// Logging (`LOG_FORMAT`, `LOG_LEVEL`, `RUST_LOG`: no `NOTES_` prefix), read here
    /// for the production rule; `telemetry::start` sets logging up from the same.
    #[config(nested)]
    pub logs: LogSettings,
}

/// The one database this service connects to by URL, with parameters its driver reads.
fn database_url_is_usable(database_url: &Option<ConnectionString>) -> Option<Invalid> {
    let url = database_url.as_ref()?;
    if !matches!(url.scheme(), "postgres" | "postgresql") {
        return Some(Invalid::new(
            "database_url",
            "is not a postgres:// URL, the one database this service connects to by URL; \
             leave it unset for the embedded SQLite database",
        ));
    }
    let ignored = url.ignored_parameter(SQLX_POSTGRES_PARAMETERS)?;
    Some(Invalid::new(
        "database_url",
        format!(
            "has {ignored}, which the PostgreSQL driver does not read and would ignore; \
             remove it (NOTES_DATABASE_ACQUIRE_TIMEOUT bounds how long a request waits \
             for a connection)"
        ),
    ))
}

/// A transaction pooler sits in front of PostgreSQL only.
fn pooling_needs_postgres(
    pooling: &Pooling,
    database_url: &Option<ConnectionString>,
) -> Option<Invalid> {
    (*pooling == Pooling::Transaction && database_url.is_none()).then(|| {
        Invalid::new(
            "database_pooling",
            "is transaction, but NOTES_DATABASE_URL is not set: the embedded SQLite \
             database has no pooler; set NOTES_DATABASE_URL to the pooler's \
             postgres:// URL, or leave NOTES_DATABASE_POOLING unset",
        )
    })
}

/// The SQLite file's directory goes into a `sqlite://` URL as it is.
fn data_dir_is_plain(data_dir: &Path) -> Option<Invalid> {
    data_dir
        .to_str()
        .is_none_or(|dir| dir.contains(['?', '#', '%']))
        .then(|| {
            Invalid::new(
                "data_dir",
                "must be a plain directory path (no '?', '#' or '%', valid UTF-8)",
            )
        })
}

/// What the pool accepts without failing every request: sqlx takes any u32 and any
/// duration, but allocates room for every connection up front and counts a connect
/// against the acquire timeout.
fn pool_is_usable(max_connections: &NonZeroU32, acquire_timeout: &Duration) -> Vec<Invalid> {
    let mut invalid = Vec::new();
    if max_connections.get() > MAX_DATABASE_CONNECTIONS {
        invalid.push(Invalid::new(
            "database_max_connections",
            format!(
                "is more than {MAX_DATABASE_CONNECTIONS}, PostgreSQL's own ceiling on \
                 connections; a pool size is the server's max_connections divided \
                 among the replicas"
            ),
        ));
    }
    if *acquire_timeout < MIN_ACQUIRE_TIMEOUT {
        invalid.push(Invalid::new(
            "database_acquire_timeout",
            format!(
                "is under {MIN_ACQUIRE_TIMEOUT:?}, less than opening a connection \
                 takes, so every request and health check would time out; use 1s or more"
            ),
        ));
    }
    invalid
}

/// A probe path answers before the router, so it may not take over a route.
fn probes_leave_routes_alone(health: &HealthSettings) -> Vec<Invalid> {
    health.route_conflicts(&ROUTES)
}

/// Production refuses what is only fine on a laptop.
fn production_refuses_laptop_defaults(
    deployment: &Deployment,
    api_token: &Option<SecretString>,
    database_url: &Option<ConnectionString>,
) -> Vec<Invalid> {
    if *deployment == Deployment::Production {
        laptop_defaults(api_token, database_url)
    } else {
        Vec::new()
    }
}

/// Production refuses logs a collector cannot parse. A rule of its own, so that a
/// bad `LOG_LEVEL` does not hide the other laptop defaults.
fn production_refuses_human_logs(deployment: &Deployment, logs: &LogSettings) -> Option<Invalid> {
    (*deployment == Deployment::Production)
        .then(|| human_readable_logs(logs))
        .flatten()
}

/// What is fine on a laptop but not in production.
fn laptop_defaults(
    api_token: &Option<SecretString>,
    database_url: &Option<ConnectionString>,
) -> Vec<Invalid> {
    let mut found = Vec::new();
    if api_token.is_none() {
        found.push(Invalid::new(
            "api_token",
            "is not set, which refuses every write; production needs it: set NOTES_API_TOKEN or NOTES_API_TOKEN_FILE",
        ));
    }
    if database_url.is_none() {
        found.push(Invalid::new(
            "database_url",
            "is not set, so notes would live in an SQLite file inside one container; production needs a PostgreSQL URL",
        ));
    }
    found
}

/// Logs a collector cannot parse: `LOG_FORMAT=pretty`, or `auto` on a terminal.
fn human_readable_logs(logs: &LogSettings) -> Option<Invalid> {
    (!logs.is_json(std::io::stdout().is_terminal())).then(|| {
        Invalid::new(
            "LOG_FORMAT",
            "gives human-readable lines, which a log collector cannot parse; production needs LOG_FORMAT=json (or auto off a terminal)",
        )
    })
}

/// The service's first steps, [`opskit::telemetry::start`] under its name (logging,
/// these settings with every problem at once and exit 78, `service.starting`,
/// metrics), then in staging a warning for each thing production would refuse.
pub fn start() -> Started<Settings> {
    let started = opskit::telemetry::start::<Settings>(BuildInfo {
        name: "notes",
        ..opskit::telemetry::build_info!()
    });
    started.settings.warn_if_staging();
    started
}

impl Settings {
    /// In staging, what production would refuse is logged as a warning.
    fn warn_if_staging(&self) {
        if self.deployment != Deployment::Staging {
            return;
        }
        let logs = human_readable_logs(&self.logs);
        for rule in laptop_defaults(&self.api_token, &self.database_url)
            .into_iter()
            .chain(logs)
        {
            let variable = match rule.field {
                "LOG_FORMAT" => "LOG_FORMAT".to_owned(),
                field => format!("NOTES_{}", field.to_ascii_uppercase()),
            };
            tracing::warn!(
                event = "config.deployment_warning",
                variable,
                deployment = "staging",
                "{variable} {}; production would refuse to start",
                rule.reason
            );
        }
    }
}
