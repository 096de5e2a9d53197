//! The `schema.status` event: the outcome of a policy run, with what was found,
//! what it means and what to do.

use crate::error::GuardError;
use crate::status::{SchemaStatus, State};

use super::TARGET;
use super::policy::Policy;

/// The `schema.status` event.
pub(super) fn log_status(result: &Result<SchemaStatus, GuardError>, policy: Policy) {
    let policy = policy.as_str();
    match result {
        Ok(status) => {
            let ahead: Vec<String> = status
                .ahead
                .iter()
                .map(|a| a.migration.version.to_string())
                .collect();
            let pending: Vec<String> = status
                .pending
                .iter()
                .map(|p| p.version.to_string())
                .collect();
            let (state, binary, database) = (
                status.state.as_str(),
                status.binary_latest,
                status.database_latest,
            );
            let (ahead, pending) = (ahead.join(","), pending.join(","));
            if status.state == State::UpToDate {
                tracing::info!(
                    target: TARGET,
                    event = "schema.status",
                    policy,
                    state,
                    binary_latest = binary,
                    database_latest = database,
                    compatible = true,
                    "{status}"
                );
            } else {
                tracing::warn!(
                    target: TARGET,
                    event = "schema.status",
                    policy,
                    state,
                    binary_latest = binary,
                    database_latest = database,
                    ahead,
                    pending,
                    compatible = status.is_compatible(),
                    "{status}"
                );
            }
        }
        Err(GuardError::Incompatible(status)) => {
            tracing::error!(
                target: TARGET,
                event = "schema.status",
                policy,
                state = status.state.as_str(),
                binary_latest = status.binary_latest,
                database_latest = status.database_latest,
                compatible = false,
                "{status}"
            );
        }
        Err(err) => {
            let state = match err {
                GuardError::Unreachable { .. } => "unreachable",
                GuardError::LockTimeout { .. } => "locked",
                GuardError::TableLocked { .. } => "table_locked",
                GuardError::InvalidIndex { .. } => "invalid_index",
                GuardError::MigrationSet { .. } => "migration_set",
                GuardError::MigrationFailed { .. } => "migration_failed",
                GuardError::UnsupportedDatabase { .. } => "unsupported_database",
                _ => "invalid_migration",
            };
            tracing::error!(target: TARGET, event = "schema.status", policy, state, compatible = false, error = %err, "{err}");
        }
    }
}
