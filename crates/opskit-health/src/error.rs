//! What can go wrong when a health registry is built.

/// Why a [`Health`](crate::Health) could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// `build` must run inside a Tokio runtime, which the background checks run on.
    #[error(
        "health checks need a Tokio runtime: call HealthBuilder::build from async code or inside Runtime::enter"
    )]
    NoRuntime,
    /// Two checks have the same name.
    #[error("two health checks are named {0:?}; give each check its own name")]
    DuplicateCheck(String),
    /// A check name with characters that do not fit in a URL path segment.
    #[error(
        "invalid health check name {0:?}: use letters, digits, '-', '_' and '.' (it appears in /readyz/NAME)"
    )]
    InvalidName(String),
    /// A probe path that does not start with `/` or is used twice.
    #[error("invalid probe path {path:?}: {reason}")]
    InvalidPath {
        /// The path at fault.
        path: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A check with a zero interval would run in a busy loop.
    #[error("health check {0:?} has a zero interval; give it one of at least a second")]
    ZeroInterval(String),
    /// A check with a zero timeout would always fail.
    #[error(
        "health check {0:?} has a zero timeout; give it one below the Kubernetes probe's timeoutSeconds"
    )]
    ZeroTimeout(String),
}
