//! The three probes of Kubernetes, and what each one asks.

use std::fmt;

/// The three probes of Kubernetes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Probe {
    /// `/livez`: is the process able to make progress? Failing restarts the container.
    Liveness,
    /// `/readyz`: should the service receive traffic? Failing removes it from the load
    /// balancer, without a restart.
    Readiness,
    /// `/startupz`: has the service finished starting? Holds off the other two.
    Startup,
}

impl Probe {
    /// `liveness`, `readiness` or `startup`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Liveness => "liveness",
            Self::Readiness => "readiness",
            Self::Startup => "startup",
        }
    }

    pub(crate) const ALL: [Probe; 3] = [Probe::Liveness, Probe::Readiness, Probe::Startup];

    pub(crate) fn index(self) -> usize {
        match self {
            Self::Liveness => 0,
            Self::Readiness => 1,
            Self::Startup => 2,
        }
    }
}

impl fmt::Display for Probe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
