//! Secrets that rotate without a restart: with `NOTES_API_TOKEN_FILE` and
//! `NOTES_DATABASE_URL_FILE` (a mounted Kubernetes Secret, a Vault Agent file), a
//! new content is read within a second, checked as at start, and used: the new API
//! token at once (the previous one for `NOTES_API_TOKEN_GRACE`), the new database
//! URL for every connection opened from then on. A content that cannot be used
//! keeps the old value (`secret.rotation_failed` says why). Set as plain variables,
//! they stay fixed until a restart.

use opskit::secret::rotation::WatchedSecret;
use opskit::secret::{ConnectionString, SecretString, TokenCheck};
use opskit::telemetry::exit;
use opskit::telemetry::serving::Lifecycle;

use crate::database::Pools;
use crate::settings::Settings;

/// The check of write requests' token, following `NOTES_API_TOKEN_FILE`; `None`
/// when no token is set (writes are refused).
pub fn api_token(settings: &Settings, lifecycle: &Lifecycle) -> Option<TokenCheck> {
    if settings.api_token.is_none() {
        tracing::warn!(
            event = "notes.writes_disabled",
            "NOTES_API_TOKEN is not set: every write is refused with 403 until it is (set NOTES_API_TOKEN or NOTES_API_TOKEN_FILE)"
        );
        return None;
    }
    let token: WatchedSecret<SecretString> = WatchedSecret::from_env("NOTES_API_TOKEN")
        .unwrap_or_else(|err| lifecycle.exit(&err.to_string(), exit::CONFIG));
    Some(TokenCheck::new(&token, settings.api_token_grace))
}

/// Points both pools' new connections at each new `NOTES_DATABASE_URL_FILE`
/// content (connections already open keep working until they close), for as long
/// as the returned handle lives. Nothing to follow on the embedded SQLite file.
#[must_use = "the pools follow the file only while the handle lives"]
pub fn follow_database_url(
    settings: &Settings,
    pools: &Pools,
    lifecycle: &Lifecycle,
) -> Option<WatchedSecret<ConnectionString>> {
    settings.database_url.as_ref()?;
    let url: WatchedSecret<ConnectionString> = WatchedSecret::from_env("NOTES_DATABASE_URL")
        .unwrap_or_else(|err| lifecycle.exit(&err.to_string(), exit::CONFIG));
    let _ = opskit::secret::sqlx::rotate_pool_url(&pools.checks, &url);
    Some(opskit::secret::sqlx::rotate_pool_url(&pools.app, &url))
}
