//! The `http.request` log line, and which requests get one.

use std::borrow::Cow;

use serde::Deserialize;

/// Which requests get a log line of their own (`http.request`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RequestLog {
    /// None: the request metrics count every request already.
    Off,
    /// Those answered 5xx (or failed without an answer), at WARN: the requests an
    /// operator reads logs for, at a volume that stays small when traffic is high.
    #[default]
    Errors,
    /// Every request, at INFO (5xx at WARN): one line per request, for services with
    /// little traffic or an investigation.
    All,
}

impl RequestLog {
    /// Whether a request that ended this way gets a line.
    pub(crate) fn wants(self, failed: bool) -> bool {
        match self {
            Self::Off => false,
            Self::Errors => failed,
            Self::All => true,
        }
    }
}

/// Writes the `http.request` line of a request, at WARN when it failed.
pub(crate) fn log_request(
    method: &'static str,
    route: &str,
    status: Option<u16>,
    seconds: f64,
    failed: bool,
) {
    let status: Cow<'_, str> = status.map_or("error".into(), |c| c.to_string().into());
    // One line, at WARN for a failure: `event!` needs its level as a constant.
    macro_rules! request_line {
        ($level:ident) => {
            tracing::event!(
                target: "opskit::http",
                tracing::Level::$level,
                event = "http.request",
                http_request_method = method,
                http_route = route,
                http_response_status_code = %status,
                http_server_request_duration_seconds = seconds,
                "{method} {route} answered {status}",
            )
        };
    }
    if failed {
        request_line!(WARN);
    } else {
        request_line!(INFO);
    }
}
