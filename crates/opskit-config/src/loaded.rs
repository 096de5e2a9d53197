//! A loaded configuration, with its summary and warnings.

use std::fmt;
use std::ops::{Deref, DerefMut};

use crate::summary::Summary;
use crate::warnings::{Warning, log_warnings};

/// A loaded configuration with its [`Summary`] and [`Warning`]s.
///
/// Dereferences to the configuration itself.
pub struct Loaded<T> {
    config: T,
    summary: Summary,
    warnings: Vec<Warning>,
}

impl<T> Loaded<T> {
    pub(crate) fn new(config: T, summary: Summary, warnings: Vec<Warning>) -> Self {
        Self {
            config,
            summary,
            warnings,
        }
    }

    /// The redacted summary, for the startup log.
    pub fn summary(&self) -> &Summary {
        &self.summary
    }

    /// Variables that carry the prefix but match no setting (typos, most often).
    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }

    /// Emits each warning as a `config.unknown_variable` warning event.
    pub fn log_warnings(&self) {
        log_warnings(&self.warnings);
    }

    /// The configuration.
    pub fn into_inner(self) -> T {
        self.config
    }

    /// The configuration, the summary and the warnings.
    pub fn into_parts(self) -> (T, Summary, Vec<Warning>) {
        (self.config, self.summary, self.warnings)
    }
}

impl<T> Deref for Loaded<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.config
    }
}

impl<T> DerefMut for Loaded<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.config
    }
}

/// Shows the summary and warnings only: the configuration may hold values whose
/// `Debug` is not redacted.
impl<T> fmt::Debug for Loaded<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Loaded")
            .field("summary", &self.summary)
            .field("warnings", &self.warnings)
            .finish_non_exhaustive()
    }
}
