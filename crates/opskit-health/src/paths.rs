//! Which request paths are probes.

use crate::error::BuildError;
use crate::probe::Probe;

/// The probe paths and their aliases.
#[derive(Debug, Clone)]
pub(crate) struct Paths {
    /// `(path, probe)`, the main path of each probe first.
    routes: Vec<(String, Probe)>,
    /// The second byte of every path (the one after `/`), as a 256-bit set: most
    /// requests are for other paths, and this turns them away without comparing
    /// strings.
    second_bytes: [u64; 4],
}

impl Default for Paths {
    fn default() -> Self {
        let mut paths = Self {
            routes: vec![
                ("/livez".to_owned(), Probe::Liveness),
                ("/readyz".to_owned(), Probe::Readiness),
                ("/startupz".to_owned(), Probe::Startup),
            ],
            second_bytes: [0; 4],
        };
        paths.index();
        paths
    }
}

/// What is wrong with a probe path, given the paths set before it.
pub(crate) fn path_problem<'a>(
    path: &str,
    mut earlier: impl Iterator<Item = &'a str>,
) -> Option<&'static str> {
    if !path.starts_with('/') {
        Some("a probe path must start with '/'")
    } else if path == "/" {
        Some("a probe at / would answer for the application's own pages")
    } else if path.ends_with('/') {
        Some("a probe path must not end with '/'")
    } else if path.contains(['?', '#']) {
        Some("a probe path is a path only, without '?' or '#'")
    } else if path.contains(char::is_whitespace) {
        Some("a probe path has no spaces")
    } else if path == "/metrics" || path.starts_with("/metrics/") {
        Some("the path of the Prometheus endpoint, which answers before the probes would")
    } else if earlier.any(|other| other == path) {
        Some("the path is used twice")
    } else {
        None
    }
}

/// Whether a probe at `probe` would answer requests for the application's route
/// `route` (a path, or a template such as `/notes/{id}` whose `{...}` segments match
/// any segment): the probe answers its path and its path plus one segment.
#[cfg_attr(not(feature = "config"), allow(dead_code))]
pub(crate) fn takes_over(probe: &str, route: &str) -> bool {
    let probe: Vec<&str> = probe.trim_matches('/').split('/').collect();
    let route: Vec<&str> = route.trim_matches('/').split('/').collect();
    let reaches = route.len() == probe.len() || route.len() == probe.len() + 1;
    reaches
        && probe
            .iter()
            .zip(&route)
            .all(|(p, r)| p == r || (r.starts_with('{') && r.ends_with('}')))
}

/// A request path that names a probe, and maybe one check of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Route<'a> {
    pub(crate) probe: Probe,
    pub(crate) check: Option<&'a str>,
}

impl Paths {
    pub(crate) fn set(&mut self, probe: Probe, path: String) {
        self.routes[probe.index()] = (path, probe);
        self.index();
    }

    pub(crate) fn alias(&mut self, probe: Probe, path: String) {
        self.routes.push((path, probe));
        self.index();
    }

    fn index(&mut self) {
        self.second_bytes = [0; 4];
        // Paths are validated to be longer than "/", so each has a second byte.
        for byte in self
            .routes
            .iter()
            .filter_map(|(path, _)| path.as_bytes().get(1))
        {
            self.second_bytes[usize::from(byte >> 6)] |= 1 << (byte & 63);
        }
    }

    #[inline]
    fn may_match(&self, path: &str) -> bool {
        path.as_bytes().get(1).is_some_and(|&byte| {
            self.second_bytes[usize::from(byte >> 6)] & (1 << (byte & 63)) != 0
        })
    }

    pub(crate) fn validate(&self) -> Result<(), BuildError> {
        for (i, (path, _)) in self.routes.iter().enumerate() {
            let earlier = self.routes[..i].iter().map(|(other, _)| other.as_str());
            if let Some(reason) = path_problem(path, earlier) {
                return Err(BuildError::InvalidPath {
                    path: path.clone(),
                    reason,
                });
            }
        }
        Ok(())
    }

    /// The probe a request path asks for: `/readyz`, or `/readyz/NAME` for one check.
    #[inline]
    pub(crate) fn route<'a>(&self, path: &'a str) -> Option<Route<'a>> {
        if !self.may_match(path) {
            return None;
        }
        self.routes.iter().find_map(|(probe_path, probe)| {
            let rest = path.strip_prefix(probe_path.as_str())?;
            match rest {
                "" | "/" => Some(Route {
                    probe: *probe,
                    check: None,
                }),
                _ => rest
                    .strip_prefix('/')
                    .filter(|name| !name.contains('/'))
                    .map(|name| Route {
                        probe: *probe,
                        check: Some(name),
                    }),
            }
        })
    }

    /// The main path of every probe and the aliases, for messages.
    pub(crate) fn describe(&self) -> String {
        let paths: Vec<String> = self
            .routes
            .iter()
            .map(|(path, probe)| format!("{path} ({probe})"))
            .collect();
        paths.join(", ")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_probe_takes_over_the_routes_it_would_answer() {
        use super::takes_over;
        assert!(takes_over("/notes", "/notes"));
        assert!(
            takes_over("/notes", "/notes/{id}"),
            "/notes/5 would be a check's name"
        );
        assert!(takes_over("/notes/5", "/notes/{id}"));
        assert!(!takes_over("/notes", "/notes/{id}/tags/{tag}"));
        assert!(!takes_over("/readyz", "/notes"));
        assert!(!takes_over("/notes/live", "/notes"));
        assert!(takes_over("/hello", "/hello/"));
    }

    use super::*;

    #[test]
    fn routes_probe_paths_and_single_checks_only() {
        let mut paths = Paths::default();
        paths.alias(Probe::Readiness, "/healthz".into());
        let route = |p| paths.route(p);
        assert_eq!(
            route("/livez"),
            Some(Route {
                probe: Probe::Liveness,
                check: None
            })
        );
        assert_eq!(
            route("/readyz/"),
            Some(Route {
                probe: Probe::Readiness,
                check: None
            })
        );
        assert_eq!(
            route("/readyz/db"),
            Some(Route {
                probe: Probe::Readiness,
                check: Some("db")
            })
        );
        assert_eq!(
            route("/healthz"),
            Some(Route {
                probe: Probe::Readiness,
                check: None
            })
        );
        assert_eq!(route("/readyzz"), None);
        assert_eq!(route("/readyz/db/x"), None);
        assert_eq!(route("/notes"), None);
        assert_eq!(route("/"), None);
        assert_eq!(route(""), None);
        assert_eq!(route("*"), None);
        assert_eq!(route("/r"), None);
    }

    #[test]
    fn the_root_is_not_a_probe_path() {
        let mut paths = Paths::default();
        paths.set(Probe::Liveness, "/".into());
        assert_eq!(
            paths.validate(),
            Err(BuildError::InvalidPath {
                path: "/".into(),
                reason: "a probe at / would answer for the application's own pages"
            })
        );
    }

    #[test]
    fn invalid_paths_are_refused_with_the_reason() {
        let mut paths = Paths::default();
        paths.set(Probe::Readiness, "readyz".into());
        assert!(matches!(
            paths.validate(),
            Err(BuildError::InvalidPath { .. })
        ));
        let mut paths = Paths::default();
        paths.alias(Probe::Readiness, "/livez".into());
        assert_eq!(
            paths.validate(),
            Err(BuildError::InvalidPath {
                path: "/livez".into(),
                reason: "the path is used twice"
            })
        );
    }
}
