//! Credentials that rotate for an sqlx pool: one call makes a pool's new connections
//! use each new value of a [`WatchedSecret`] (a password, or a whole URL).
//!
//! sqlx lets a pool's connect options be replaced while it runs
//! ([`Pool::set_connect_options`]): connections opened afterwards use the new
//! options, connections already open keep working until the pool retires them
//! (`max_lifetime`, `idle_timeout`) or the server ends them. A rotation replaces the
//! options only after the new value is registered with the log redaction; a value
//! the database type cannot use (a URL for another driver, say) logs
//! `secret.rotation_failed` and leaves the pool's options as they were.
//!
//! # Example
//!
//! With a PostgreSQL password rotating in `APP_DATABASE_PASSWORD_FILE`:
//!
//! ```no_run
//! use opskit_secret::rotation::WatchedSecret;
//! use opskit_secret::{ExposeSecret, SecretString};
//! use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let password: WatchedSecret<SecretString> = WatchedSecret::from_env("APP_DATABASE_PASSWORD")?;
//! let options = PgConnectOptions::new()
//!     .host("db")
//!     .username("app")
//!     .password(password.current().expose_secret());
//! let pool = PgPoolOptions::new().connect_lazy_with(options);
//! opskit_secret::sqlx::rotate_pool_password(&pool, &password, PgConnectOptions::password);
//! # Ok(())
//! # }
//! ```
//!
//! Or a whole URL in `APP_DATABASE_URL_FILE`:
//!
//! ```no_run
//! use opskit_secret::rotation::WatchedSecret;
//! use opskit_secret::{ConnectionString, ExposeSecret};
//! use sqlx::PgPool;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let url: WatchedSecret<ConnectionString> = WatchedSecret::from_env("APP_DATABASE_URL")?;
//! let pool = PgPool::connect_lazy(url.current().expose_secret())?;
//! opskit_secret::sqlx::rotate_pool_url(&pool, &url);
//! # Ok(())
//! # }
//! ```

use std::str::FromStr;

use ::sqlx::{Connection, Database, Pool};
use secrecy::{ExposeSecret, SecretString};

use crate::ConnectionString;
use crate::rotation::{SecretValue, WatchedSecret};

type Options<DB> = <<DB as Database>::Connection as Connection>::Options;

/// Makes `pool` open new connections with options made by `make` from each new
/// value of `secret`; applies the current value now, too (a rotation between the
/// pool's creation and this call is not missed).
///
/// The general form of [`rotate_pool_password`] and [`rotate_pool_url`]: `make`
/// builds the complete options from a value (keeping TLS settings and the like). An
/// error from `make` is logged as `secret.rotation_failed` with the error's message,
/// which must not quote the value (sqlx's own messages do not; they are scrubbed of
/// it anyway), and the pool keeps its options.
///
/// ```no_run
/// use opskit_secret::rotation::WatchedSecret;
/// use opskit_secret::{ConnectionString, ExposeSecret};
/// use sqlx::postgres::{PgConnectOptions, PgPool};
///
/// # fn run(pool: PgPool) -> Result<(), Box<dyn std::error::Error>> {
/// let url: WatchedSecret<ConnectionString> = WatchedSecret::from_env("APP_DATABASE_URL")?;
/// opskit_secret::sqlx::rotate_pool(&pool, &url, |url: &ConnectionString| {
///     url.expose_secret()
///         .parse::<PgConnectOptions>()
///         .map(|options| options.ssl_root_cert("/etc/ssl/db-ca.crt"))
/// });
/// # Ok(())
/// # }
/// ```
pub fn rotate_pool<DB, T, E, F>(pool: &Pool<DB>, secret: &WatchedSecret<T>, make: F)
where
    DB: Database,
    T: SecretValue,
    E: std::fmt::Display,
    F: Fn(&T) -> Result<Options<DB>, E> + Send + Sync + 'static,
{
    let apply = {
        let pool = pool.clone();
        let name = secret.name().to_owned();
        move |value: &T| match make(value) {
            Ok(options) => pool.set_connect_options(options),
            Err(err) => refused(&name, &err),
        }
    };
    apply(&secret.current());
    secret.on_rotate(apply);
}

/// Makes `pool` open new connections with each new password of `password`, set on
/// the pool's current options by `set` (`PgConnectOptions::password`,
/// `MySqlConnectOptions::password`); everything else stays as the pool has it.
///
/// ```no_run
/// use opskit_secret::rotation::WatchedSecret;
/// use opskit_secret::SecretString;
/// use sqlx::postgres::{PgConnectOptions, PgPool};
///
/// # fn run(pool: PgPool) -> Result<(), Box<dyn std::error::Error>> {
/// let password: WatchedSecret<SecretString> = WatchedSecret::from_env("APP_DATABASE_PASSWORD")?;
/// opskit_secret::sqlx::rotate_pool_password(&pool, &password, PgConnectOptions::password);
/// # Ok(())
/// # }
/// ```
pub fn rotate_pool_password<DB, F>(pool: &Pool<DB>, password: &WatchedSecret<SecretString>, set: F)
where
    DB: Database,
    F: Fn(Options<DB>, &str) -> Options<DB> + Send + Sync + 'static,
{
    let base = pool.clone();
    rotate_pool(pool, password, move |password: &SecretString| {
        let options = Options::<DB>::clone(&base.connect_options());
        Ok::<_, std::convert::Infallible>(set(options, password.expose_secret()))
    });
}

/// Makes `pool` open new connections with options parsed from each new URL of `url`
/// (any option the pool had beyond the URL is replaced; use [`rotate_pool`] to keep
/// some).
///
/// It works for any pool, `AnyPool` included:
///
/// ```no_run
/// use opskit_secret::rotation::WatchedSecret;
/// use opskit_secret::{ConnectionString, ExposeSecret};
/// use sqlx::any::AnyPoolOptions;
///
/// # fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let url: WatchedSecret<ConnectionString> = WatchedSecret::from_env("APP_DATABASE_URL")?;
/// let pool = AnyPoolOptions::new().connect_lazy(url.current().expose_secret())?;
/// opskit_secret::sqlx::rotate_pool_url(&pool, &url);
/// # Ok(())
/// # }
/// ```
pub fn rotate_pool_url<DB: Database>(pool: &Pool<DB>, url: &WatchedSecret<ConnectionString>) {
    rotate_pool(pool, url, |url: &ConnectionString| {
        let options = Options::<DB>::from_str(url.expose_secret())
            .map_err(|err| url.scrub(&err.to_string()))?;
        Ok::<_, String>(options)
    });
}

fn refused(name: &str, err: &dyn std::fmt::Display) {
    let reason = crate::redaction::redact(&err.to_string()).into_owned();
    metrics::counter!("secret_rotation_failures_total", "secret" => name.to_owned()).increment(1);
    tracing::warn!(
        event = "secret.rotation_failed",
        secret = %name,
        reason = %reason,
        "secret {name}: the pool keeps its connect options, since the new value cannot \
         make options for it: {reason}"
    );
}
