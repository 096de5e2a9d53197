//! Running on a URL: connect with the driver its scheme names, run a policy, a
//! status read or a repair, close, and log the outcome.

#[cfg(any(feature = "postgres", feature = "_sqlite"))]
use crate::db::GuardConnection;
use crate::error::GuardError;
use crate::status::SchemaStatus;

use super::Guard;
use super::policy::Policy;
use super::repair::Repair;
use super::status_event::log_status;
use super::url::DatabaseUrl;

/// What a connection made from a URL is for. (Without a database feature, no
/// driver reads it.)
#[derive(Debug, Clone, Copy)]
#[cfg_attr(not(any(feature = "postgres", feature = "_sqlite")), allow(dead_code))]
enum Action {
    Status,
    Policy(Policy),
    Repair(i64, Repair),
}

impl Guard {
    /// Connects to `url` (`sqlite:` or `postgres:`), runs `policy`, and logs the
    /// outcome as a `schema.status` event (ERROR when refused).
    ///
    /// # Errors
    ///
    /// As [`apply`](Self::apply) and [`verify`](Self::verify);
    /// [`GuardError::UnsupportedDatabase`] for another scheme.
    pub async fn run(
        &self,
        url: &(impl DatabaseUrl + ?Sized),
        policy: Policy,
    ) -> Result<SchemaStatus, GuardError> {
        let url = url.expose_url();
        let result = self
            .run_inner(url, policy)
            .await
            .map_err(|err| err.at_database(url));
        log_status(&result, policy);
        result
    }

    /// Connects to `url` and reads the status, without writing and without logging:
    /// for a periodic health check.
    ///
    /// # Errors
    ///
    /// [`GuardError::Unreachable`], [`GuardError::UnsupportedDatabase`].
    pub async fn status_at(
        &self,
        url: &(impl DatabaseUrl + ?Sized),
    ) -> Result<SchemaStatus, GuardError> {
        let url = url.expose_url();
        self.status_at_inner(url)
            .await
            .map_err(|err| err.at_database(url))
    }

    /// Connects to `url` and [`repair`](Self::repair)s migration `version`, logging
    /// a `schema.repaired` event.
    ///
    /// # Errors
    ///
    /// As [`repair`](Self::repair); [`GuardError::UnsupportedDatabase`].
    pub async fn repair_at(
        &self,
        url: &(impl DatabaseUrl + ?Sized),
        version: i64,
        repair: Repair,
    ) -> Result<SchemaStatus, GuardError> {
        let url = url.expose_url();
        self.connect_and_run(url, Action::Repair(version, repair))
            .await
            .map_err(|err| err.at_database(url))
    }

    async fn status_at_inner(&self, url: &str) -> Result<SchemaStatus, GuardError> {
        self.connect_and_run(url, Action::Status).await
    }

    async fn run_inner(&self, url: &str, policy: Policy) -> Result<SchemaStatus, GuardError> {
        self.connect_and_run(url, Action::Policy(policy)).await
    }

    /// Connects to `url` with the driver its scheme names, runs `policy` (or only
    /// reads the status), and closes the connection.
    #[cfg_attr(
        not(any(feature = "postgres", feature = "_sqlite")),
        allow(unused_variables)
    )]
    async fn connect_and_run(&self, url: &str, action: Action) -> Result<SchemaStatus, GuardError> {
        // Before anything runs, and before the database is reached.
        crate::source::refuse_bad_versions(&self.migrations)?;
        self.tables()?;
        match url.split(':').next().unwrap_or_default() {
            #[cfg(feature = "_sqlite")]
            "sqlite" => {
                self.run_on(connect::<sqlx::SqliteConnection>(url).await?, action, url)
                    .await
            }
            #[cfg(feature = "postgres")]
            "postgres" | "postgresql" => {
                self.run_on(connect::<sqlx::PgConnection>(url).await?, action, url)
                    .await
            }
            other => Err(GuardError::UnsupportedDatabase {
                scheme: other.to_owned(),
                supported: crate::db::SUPPORTED_SCHEMES,
            }),
        }
    }

    #[cfg(any(feature = "postgres", feature = "_sqlite"))]
    async fn run_on<C>(
        &self,
        mut conn: C,
        action: Action,
        url: &str,
    ) -> Result<SchemaStatus, GuardError>
    where
        C: GuardConnection + sqlx::Connection,
    {
        let result = match action {
            Action::Policy(policy) => self.run_policy(&mut conn, policy, url).await,
            Action::Status => self.status(&mut conn).await,
            Action::Repair(version, repair) => self.repair(&mut conn, version, repair).await,
        };
        let _ = conn.close().await;
        result
    }

    #[cfg(any(feature = "postgres", feature = "_sqlite"))]
    async fn run_policy(
        &self,
        conn: &mut impl GuardConnection,
        policy: Policy,
        url: &str,
    ) -> Result<SchemaStatus, GuardError> {
        // With the URL, a try that waits for a table's lock names who holds it.
        match policy {
            Policy::Apply => self.apply_until(conn, false, Some(url)).await,
            Policy::Verify => self.verify(conn).await,
            Policy::Expand => self.apply_until(conn, true, Some(url)).await,
        }
    }
}

/// Opens one connection to `url`.
#[cfg(any(feature = "postgres", feature = "_sqlite"))]
async fn connect<C: sqlx::Connection>(url: &str) -> Result<C, GuardError> {
    C::connect(url)
        .await
        .map_err(crate::error::unreachable("connecting"))
}
