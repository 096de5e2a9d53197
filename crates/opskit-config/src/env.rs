//! A snapshot of the variables a load reads from.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};

/// The variables one load reads: the process environment, or given pairs.
///
/// Names that are not UTF-8 are dropped: no setting can have such a name.
#[derive(Debug, Default)]
pub(crate) struct Environment {
    vars: HashMap<String, OsString>,
}

impl Environment {
    pub(crate) fn from_process() -> Self {
        Self::from_pairs(std::env::vars_os())
    }

    pub(crate) fn from_pairs<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        let vars = pairs
            .into_iter()
            .filter_map(|(name, value)| {
                let name = name.as_ref().to_str()?.to_owned();
                Some((name, value.as_ref().to_owned()))
            })
            .collect();
        Self { vars }
    }

    /// The value of `name`, if set (possibly empty).
    pub(crate) fn get(&self, name: &str) -> Option<&OsStr> {
        self.vars.get(name).map(OsString::as_os_str)
    }

    pub(crate) fn names(&self) -> impl Iterator<Item = &str> {
        self.vars.keys().map(String::as_str)
    }
}
