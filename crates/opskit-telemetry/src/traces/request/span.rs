//! The request's span and its six fields, which opskit's JSON format writes as text
//! only when a line first needs them: with the default
//! [`RequestLog::Errors`](super::RequestLog), a request answered 2xx writes no line,
//! and its fields were formatted for nobody. Every other layer (an OpenTelemetry
//! exporter, a format of its own) sees the fields when the span is made, as before.

use tracing::Span;

use crate::logs::fields::{defer_fields, write_deferred};
use crate::route::Route;
use crate::traces::request_id::RequestId;

/// Makes the request's span, every field set at once (recording one later makes a
/// JSON format parse and rewrite the span's fields), and returns with it the
/// values opskit's JSON format left unwritten, if it did.
pub(crate) fn request_span(
    method: &'static str,
    route: &Route,
    path: &str,
    id: &RequestId,
) -> (Span, Option<SpanFields>) {
    let (span, deferred) = defer_fields(|| {
        with_span_name(method, route.as_str(), |name| {
            tracing::info_span!(
                target: "opskit::http",
                "request",
                otel.name = name,
                otel.kind = "server",
                http.request.method = method,
                http.route = route.as_str(),
                url.path = path,
                request_id = id.as_str(),
            )
        })
    });
    let fields = deferred.then(|| SpanFields {
        method,
        route: route.clone(),
        path: Path::new(path),
    });
    (span, fields)
}

/// The values of a request span's fields that opskit's JSON format has not
/// written yet (its request id is beside it, in the span's
/// [`Correlation`](crate::traces::correlate::Correlation)).
#[derive(Debug)]
pub(crate) struct SpanFields {
    method: &'static str,
    route: Route,
    path: Path,
}

impl SpanFields {
    /// Writes the fields into `current`, the span's formatted fields, as
    /// `request_span`'s macro gives them to a format: the same names, values and
    /// order.
    pub(crate) fn write(&self, request_id: &str, current: &mut String) {
        let route = self.route.as_str();
        with_span_name(self.method, route, |name| {
            write_deferred(
                current,
                &[
                    ("otel.name", name),
                    ("otel.kind", "server"),
                    ("http.request.method", self.method),
                    ("http.route", route),
                    ("url.path", self.path.as_str()),
                    ("request_id", request_id),
                ],
            );
        });
    }
}

/// Calls `f` with the span's name, `otel.name` (`GET /notes/{id}`), put together on
/// the stack: a `str` is written as it is, where `format_args!` goes through the
/// formatting machinery.
fn with_span_name<R>(method: &str, route: &str, f: impl FnOnce(&str) -> R) -> R {
    let mut buffer = [0u8; SPAN_NAME_ON_STACK];
    match buffer.get_mut(..method.len() + 1 + route.len()) {
        Some(name) => {
            let (head, tail) = name.split_at_mut(method.len());
            head.copy_from_slice(method.as_bytes());
            tail[0] = b' ';
            tail[1..].copy_from_slice(route.as_bytes());
            f(std::str::from_utf8(name).unwrap_or(route))
        }
        None => f(&format!("{method} {route}")),
    }
}

/// Longest span name (method, space, route template) put together without
/// allocating.
const SPAN_NAME_ON_STACK: usize = 128;

/// A request's path, kept without allocating when it is short (most are).
#[derive(Debug)]
enum Path {
    Short { len: u8, bytes: [u8; PATH_ON_STACK] },
    Long(Box<str>),
}

/// Longest path kept without allocating.
const PATH_ON_STACK: usize = 64;

impl Path {
    fn new(path: &str) -> Self {
        let mut bytes = [0u8; PATH_ON_STACK];
        match (bytes.get_mut(..path.len()), u8::try_from(path.len())) {
            (Some(short), Ok(len)) => {
                short.copy_from_slice(path.as_bytes());
                Self::Short { len, bytes }
            }
            _ => Self::Long(path.into()),
        }
    }

    fn as_str(&self) -> &str {
        match self {
            // Copied whole from a `str`: always UTF-8.
            Self::Short { len, bytes } => {
                std::str::from_utf8(&bytes[..usize::from(*len)]).unwrap_or_default()
            }
            Self::Long(path) => path,
        }
    }
}

#[cfg(test)]
mod tests {
    use tracing_subscriber::fmt::FormattedFields;
    use tracing_subscriber::registry::LookupSpan;

    use super::*;
    use crate::logs::fields::JsonSpanFields;
    use crate::logs::{LogFormat, LogSettings};

    /// The text opskit's JSON format keeps for `span`'s fields.
    fn formatted(span: &Span) -> Option<String> {
        span.with_subscriber(|(id, dispatch)| {
            let registry = dispatch.downcast_ref::<tracing_subscriber::Registry>()?;
            let span = registry.span(id)?;
            let extensions = span.extensions();
            Some(
                extensions
                    .get::<FormattedFields<JsonSpanFields>>()?
                    .fields
                    .clone(),
            )
        })
        .flatten()
    }

    fn made_in(format: LogFormat) -> (Span, Option<SpanFields>, Option<String>) {
        let settings = LogSettings {
            format,
            ..LogSettings::default()
        };
        let subscriber = crate::logs::subscriber(&settings, std::io::sink, false).unwrap();
        tracing::subscriber::with_default(subscriber, || {
            let route = Route::Named("/notes/{id}".into());
            let (span, fields) = request_span("GET", &route, "/notes/7", &RequestId::generate());
            let text = formatted(&span);
            (span, fields, text)
        })
    }

    #[test]
    fn the_json_format_leaves_a_request_spans_fields_unwritten_until_asked() {
        let (_span, fields, text) = made_in(LogFormat::Json);
        assert_eq!(
            text.as_deref(),
            Some(""),
            "nothing written when the span is made"
        );
        let mut written = String::new();
        fields.expect("the values kept").write("r-1", &mut written);
        let value: serde_json::Value = serde_json::from_str(&written).unwrap();
        assert_eq!(value["otel.name"], "GET /notes/{id}");
        assert_eq!(value["url.path"], "/notes/7");
        assert_eq!(value["request_id"], "r-1");
        // Spans made next are written as they are made.
        let (_span, text) = tracing::subscriber::with_default(
            crate::logs::subscriber(
                &LogSettings {
                    format: LogFormat::Json,
                    ..LogSettings::default()
                },
                std::io::sink,
                false,
            )
            .unwrap(),
            || {
                let span = tracing::info_span!("other", n = 1);
                let text = formatted(&span);
                (span, text)
            },
        );
        assert_eq!(text.as_deref(), Some(r#"{"n":1}"#));
    }

    #[test]
    fn other_formats_see_a_request_spans_fields_as_it_is_made() {
        let (_span, fields, text) = made_in(LogFormat::Pretty);
        assert!(fields.is_none(), "no values kept: nothing left to write");
        assert_eq!(text, None);
    }

    #[test]
    fn paths_short_and_long_are_kept_as_they_were() {
        for path in [
            "",
            "/",
            "/notes/42",
            &"/é".repeat(40),
            &"x".repeat(64),
            &"y".repeat(65),
        ] {
            assert_eq!(Path::new(path).as_str(), path);
        }
        assert!(matches!(Path::new(&"x".repeat(64)), Path::Short { .. }));
        assert!(matches!(Path::new(&"x".repeat(65)), Path::Long(_)));
    }

    #[test]
    fn span_names_long_and_short_are_method_space_route() {
        let long = format!("/{}", "r".repeat(200));
        for route in ["/notes/{id}", long.as_str()] {
            assert_eq!(
                with_span_name("GET", route, str::to_owned),
                format!("GET {route}")
            );
        }
    }
}
