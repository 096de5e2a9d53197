//! The `schema.status` event: the outcome of a policy run, with what was found,
//! what it means and what to do.

use crate::error::GuardError;
use crate::status::{SchemaStatus, State};

use super::TARGET;
use super::policy::Policy;

/// A `schema.status` event at `$level` about `$status`: the fields every such
/// event has, then the `$rest` of this one.
macro_rules! status_event {
    ($level:ident, $policy:expr, $status:expr, $($rest:tt)*) => {
        tracing::$level!(
            target: TARGET,
            event = "schema.status",
            policy = $policy,
            state = $status.state.as_str(),
            binary_latest = $status.binary_latest,
            database_latest = $status.database_latest,
            $($rest)*
        )
    };
}

/// The `schema.status` event.
pub(super) fn log_status(result: &Result<SchemaStatus, GuardError>, policy: Policy) {
    let policy = policy.as_str();
    match result {
        Ok(status) if status.state == State::UpToDate => {
            status_event!(info, policy, status, compatible = true, "{status}");
        }
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
            status_event!(
                warn,
                policy,
                status,
                ahead = ahead.join(","),
                pending = pending.join(","),
                compatible = status.is_compatible(),
                "{status}"
            );
        }
        Err(GuardError::Incompatible(status)) => {
            status_event!(error, policy, status, compatible = false, "{status}");
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
