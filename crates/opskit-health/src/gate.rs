//! Why a probe fails before its checks are looked at: starting, draining, or
//! marked not ready.

/// Why a probe fails before its checks are even looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Gate {
    Starting,
    Draining,
    Maintenance,
}

impl Gate {
    pub(crate) fn output(self) -> &'static str {
        match self {
            Self::Starting => "starting: the service has not finished starting",
            Self::Draining => "draining: the service is shutting down",
            Self::Maintenance => "maintenance: the service was marked not ready",
        }
    }
}
