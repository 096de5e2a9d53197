//! What one run of a check found: its [`Status`] and [`Outcome`].

use std::fmt;

/// The result of one run of a check, as reported in health responses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Status {
    /// Healthy.
    Pass,
    /// Degraded but serving: still answers 200.
    Warn,
    /// Unhealthy: answers 503.
    Fail,
}

impl Status {
    /// `pass`, `warn` or `fail`, as in the health+json draft.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Warn => "warn",
            Self::Fail => "fail",
        }
    }

    /// Whether a probe with this status succeeds (pass and warn do).
    pub fn is_healthy(self) -> bool {
        self != Self::Fail
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What one run of a check found: a [`Status`] and an optional short output.
///
/// The output of a failing or warning check is an operator's clue ("connection
/// refused", "pool exhausted"). It is logged, and shown in health responses only when
/// details are enabled, because it may name internal hosts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The status.
    pub status: Status,
    /// A short explanation, if any.
    pub output: Option<String>,
}

impl Outcome {
    /// Healthy.
    pub fn pass() -> Self {
        Self {
            status: Status::Pass,
            output: None,
        }
    }

    /// Degraded but serving, with why.
    pub fn warn(output: impl Into<String>) -> Self {
        Self {
            status: Status::Warn,
            output: Some(output.into()),
        }
    }

    /// Unhealthy, with why.
    pub fn fail(output: impl Into<String>) -> Self {
        Self {
            status: Status::Fail,
            output: Some(output.into()),
        }
    }
}

/// `Ok(())` passes; `Err(e)` fails with `e`'s message.
impl<E: fmt::Display> From<Result<(), E>> for Outcome {
    fn from(result: Result<(), E>) -> Self {
        match result {
            Ok(()) => Self::pass(),
            Err(err) => Self::fail(err.to_string()),
        }
    }
}
