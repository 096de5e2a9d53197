//! A snapshot of the variables a load reads from.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};

/// The variables one load reads: the process environment, or given pairs.
///
/// Names are compared as bytes and only decoded when the typo check lists them; a
/// name that is not UTF-8 never matches a setting. When a name is given twice, the
/// last value wins, as when variables are set in turn.
#[derive(Debug, Default)]
pub(crate) struct Environment {
    vars: HashMap<OsString, OsString>,
}

impl Environment {
    pub(crate) fn from_process() -> Self {
        Self::from_pairs(std::env::vars_os())
    }

    pub(crate) fn from_pairs<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<OsString>,
        V: Into<OsString>,
    {
        let pairs = pairs.into_iter();
        let mut vars = HashMap::with_capacity(pairs.size_hint().0);
        vars.extend(pairs.map(|(name, value)| (name.into(), value.into())));
        Self { vars }
    }

    /// The value of `name`, if set (possibly empty).
    pub(crate) fn get(&self, name: &str) -> Option<&OsStr> {
        self.vars.get(OsStr::new(name)).map(OsString::as_os_str)
    }

    /// The number of variables.
    pub(crate) fn len(&self) -> usize {
        self.vars.len()
    }

    /// The names that are UTF-8.
    pub(crate) fn names(&self) -> impl Iterator<Item = &str> {
        self.vars.keys().filter_map(|name| name.to_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_value_given_for_a_name_wins() {
        let env =
            Environment::from_pairs([("B", "1"), ("A", "x"), ("B", "2"), ("C", ""), ("B", "3")]);
        assert_eq!(env.get("B"), Some(OsStr::new("3")));
        assert_eq!(env.get("A"), Some(OsStr::new("x")));
        assert_eq!(env.get("C"), Some(OsStr::new("")));
        assert_eq!(env.get("D"), None);
        let mut names: Vec<&str> = env.names().collect();
        names.sort_unstable();
        assert_eq!(names, ["A", "B", "C"]);
    }
}
