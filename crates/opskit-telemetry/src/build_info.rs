//! What this binary is: name, version, commit, profile, compiler, target.

use std::fmt;

/// What the running binary was built from. Make one with [`build_info!`](crate::build_info).
///
/// The commit is what makes "the image tag points to old code" visible: it appears
/// in the `service.starting` event, as the `revision` label of the `*_build_info`
/// gauge, and in health responses as part of `releaseId`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuildInfo {
    /// The package name (`CARGO_PKG_NAME`).
    pub name: &'static str,
    /// The package version (`CARGO_PKG_VERSION`).
    pub version: &'static str,
    /// The git commit, or `unknown`.
    pub commit: &'static str,
    /// `true` when the build had uncommitted changes, `false`, or `unknown`.
    pub dirty: &'static str,
    /// The cargo profile (`debug`, `release`), or `unknown`.
    pub profile: &'static str,
    /// `rustc --version`, or `unknown`.
    pub rustc_version: &'static str,
    /// The target triple, or `unknown`.
    pub target: &'static str,
}

impl BuildInfo {
    /// The first 12 characters of the commit (or `unknown`).
    pub fn short_commit(&self) -> &'static str {
        match self.commit.char_indices().nth(12) {
            Some((end, _)) => &self.commit[..end],
            None => self.commit,
        }
    }

    /// `version+commit` (`1.4.2+3f9c2a41d07b`), for health responses' `releaseId`.
    pub fn release_id(&self) -> String {
        format!("{}+{}", self.version, self.short_commit())
    }

    /// The name of the build-info gauge: the package name with every character that
    /// is not a letter, digit or `_` turned into `_`, then `_build_info`
    /// (`notes-service` → `notes_service_build_info`).
    pub fn metric_name(&self) -> String {
        let mut name: String = self
            .name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        if name.starts_with(|c: char| c.is_ascii_digit()) {
            name.insert(0, '_');
        }
        name.push_str("_build_info");
        name
    }

    /// Sets the build-info gauge to 1, with labels `version`, `revision`, `profile`
    /// and `rustc_version`. Call it after installing the metrics recorder
    /// ([`PrometheusMetrics::install`](crate::metrics::PrometheusMetrics::install) does).
    pub fn record_metric(&self) {
        metrics::gauge!(
            self.metric_name(),
            "version" => self.version,
            "revision" => self.commit,
            "profile" => self.profile,
            "rustc_version" => self.rustc_version,
        )
        .set(1.0);
    }
}

impl fmt::Display for BuildInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} (commit {}, {}, {}, {})",
            self.name,
            self.version,
            self.short_commit(),
            self.profile,
            self.target,
            self.rustc_version
        )
    }
}

/// The [`BuildInfo`] of the crate this macro is used in.
///
/// Name and version come from cargo. Commit, profile, compiler and target come from
/// the variables that [`opskit_build::emit_build_info`] sets in the crate's
/// `build.rs`; without a build script, the commit is read from `OPSKIT_GIT_COMMIT`
/// or `GIT_COMMIT` in the compiler's environment, and the rest is `unknown`.
///
/// [`opskit_build::emit_build_info`]: https://docs.rs/opskit-build
///
/// ```
/// let info = opskit_telemetry::build_info!();
/// assert_eq!(info.name, "opskit-telemetry");
/// assert!(!info.commit.is_empty());
/// ```
#[macro_export]
macro_rules! build_info {
    () => {
        $crate::BuildInfo {
            name: ::core::env!("CARGO_PKG_NAME"),
            version: ::core::env!("CARGO_PKG_VERSION"),
            commit: $crate::__first_set(&[
                ::core::option_env!("OPSKIT_GIT_COMMIT"),
                ::core::option_env!("GIT_COMMIT"),
            ]),
            dirty: $crate::__first_set(&[::core::option_env!("OPSKIT_GIT_DIRTY")]),
            profile: $crate::__first_set(&[::core::option_env!("OPSKIT_BUILD_PROFILE")]),
            rustc_version: $crate::__first_set(&[::core::option_env!("OPSKIT_RUSTC_VERSION")]),
            target: $crate::__first_set(&[::core::option_env!("OPSKIT_TARGET")]),
        }
    };
}

/// The first of `values` that is set, else `"unknown"`: how [`build_info!`] reads
/// each variable of the compiler's environment. Called by the macro's expansion
/// only.
#[doc(hidden)]
pub const fn __first_set(values: &[Option<&'static str>]) -> &'static str {
    let mut i = 0;
    while i < values.len() {
        if let Some(value) = values[i] {
            return value;
        }
        i += 1;
    }
    "unknown"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(name: &'static str, commit: &'static str) -> BuildInfo {
        BuildInfo {
            name,
            version: "1.4.2",
            commit,
            dirty: "false",
            profile: "release",
            rustc_version: "rustc 1.95.0",
            target: "x86_64-unknown-linux-gnu",
        }
    }

    #[test]
    fn release_id_and_metric_name() {
        let info = info("notes-service", "3f9c2a41d07b6e58aa");
        assert_eq!(info.short_commit(), "3f9c2a41d07b");
        assert_eq!(info.release_id(), "1.4.2+3f9c2a41d07b");
        assert_eq!(info.metric_name(), "notes_service_build_info");
        assert_eq!(
            self::info("9lives", "unknown").metric_name(),
            "_9lives_build_info"
        );
        assert_eq!(self::info("x", "unknown").release_id(), "1.4.2+unknown");
    }
}
