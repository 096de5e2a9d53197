//! JSON lines that say which request (and trace) they belong to: `request_id`,
//! `trace_id` and `span_id` at the top level, where log pipelines look for them.

use std::fmt::{self, Write as _};

use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use crate::request::RequestId;

/// Wraps a JSON event formatter: a line written inside a span that carries a
/// [`Correlation`] starts with `"request_id"` (and `"trace_id"` and `"span_id"`);
/// other lines are the inner formatter's, untouched.
#[derive(Debug, Clone)]
pub(crate) struct Correlated<F> {
    inner: F,
}

impl<F> Correlated<F> {
    pub(crate) fn new(inner: F) -> Self {
        Self { inner }
    }
}

/// What a request's span carries for its log lines: its [`RequestId`] and, when
/// the request is traced, the trace id and the id of the request's server span
/// (hex). [`RequestTracing`](crate::RequestTracing) puts it in the span's
/// extensions.
#[derive(Debug, Clone)]
pub(crate) struct Correlation {
    pub(crate) request_id: RequestId,
    pub(crate) trace: Option<(String, String)>,
}

impl Correlation {
    fn of<S, N>(ctx: &FmtContext<'_, S, N>) -> Option<Self>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
        N: for<'a> FormatFields<'a> + 'static,
    {
        ctx.event_scope()?
            .find_map(|span| span.extensions().get::<Self>().cloned())
    }

    /// `"request_id":"…","trace_id":"…","span_id":"…",` (ids are plain ASCII: no
    /// escaping needed).
    fn write_fields(&self, out: &mut String) -> fmt::Result {
        write!(out, "\"request_id\":\"{}\",", self.request_id.as_str())?;
        if let Some((trace, span)) = &self.trace {
            write!(out, "\"trace_id\":\"{trace}\",\"span_id\":\"{span}\",")?;
        }
        Ok(())
    }
}

impl<S, N, F> FormatEvent<S, N> for Correlated<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let Some(ids) = Correlation::of(ctx) else {
            return self.inner.format_event(ctx, writer, event);
        };
        let mut line = String::with_capacity(256);
        line.push('{');
        ids.write_fields(&mut line)?;
        let fields_end = line.len();
        self.inner
            .format_event(ctx, Writer::new(&mut line), event)?;
        // The inner line opens with its own '{': drop it, the ids took its place.
        match line[fields_end..].strip_prefix('{') {
            Some(rest) => {
                writer.write_str(&line[..fields_end])?;
                writer.write_str(rest)
            }
            None => writer.write_str(&line[fields_end..]),
        }
    }
}
