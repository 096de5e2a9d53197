//! The policy: what the guard does at startup (apply, verify, or expand only).

use serde::Deserialize;

/// What the guard does at startup.
///
/// New policies may come (as [`Policy::Expand`] did): a `match` on it needs a
/// wildcard arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Policy {
    /// Apply pending migrations under a lock, then verify: for a single service or
    /// the embedded SQLite database.
    Apply,
    /// Never write: for fleets where a separate job migrates. Pending migrations make
    /// the service not ready (not a refusal to start).
    Verify,
    /// Apply the pending migrations up to the first contract one, then verify: the
    /// migration job that runs before a rolling deploy, while the previous release
    /// still serves. The contract migrations wait for a run with [`Policy::Apply`]
    /// once no older release runs (see [`State::ContractPending`]).
    ///
    /// [`State::ContractPending`]: crate::State::ContractPending
    Expand,
}

impl Policy {
    /// `apply`, `verify` or `expand`, as settings and events spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Apply => "apply",
            Self::Verify => "verify",
            Self::Expand => "expand",
        }
    }
}
