//! JSON lines that say which request (and trace) they belong to: `request_id`,
//! `trace_id` and `span_id` at the top level, where log pipelines look for them.

use std::fmt::{self, Write as _};

use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::{LookupSpan, SpanRef};

use crate::logs::fields::JsonSpanFields;
use crate::traces::request::SpanFields;
use crate::traces::request_id::RequestId;

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

/// What a request's span carries for its log lines: its [`RequestId`], when the
/// request is traced where to find its OpenTelemetry ids, and the span's fields
/// that opskit's JSON format has not written yet (all read only when a line is
/// written: most requests write none). [`RequestTracing`](crate::traces::RequestTracing)
/// puts it in the span's extensions.
#[derive(Debug)]
pub(crate) struct Correlation {
    pub(crate) request_id: RequestId,
    #[cfg(feature = "otel")]
    pub(crate) trace: Trace,
    /// Taken when they are written, at the first line that shows the span.
    pub(crate) fields: Option<SpanFields>,
}

/// Where a request's trace ids are.
#[cfg(feature = "otel")]
#[derive(Debug, Clone)]
pub(crate) enum Trace {
    /// No OpenTelemetry layer: no trace.
    None,
    /// In the OpenTelemetry span of this context, started when the request began.
    Exported(opentelemetry::Context),
    /// Here: the sampler dropped the request before any OpenTelemetry span was made.
    SampledOut(opentelemetry::trace::SpanContext),
}

/// The trace of the sampled-out request `span` belongs to, if it does.
#[cfg(feature = "otel")]
pub(crate) fn sampled_out(span: &tracing::Span) -> Option<opentelemetry::trace::SpanContext> {
    span.with_subscriber(|(id, dispatch)| {
        let registry = dispatch.downcast_ref::<tracing_subscriber::Registry>()?;
        LookupSpan::span(registry, id)?.scope().find_map(|span| {
            match &span.extensions().get::<Correlation>()?.trace {
                Trace::SampledOut(trace) => Some(Some(trace.clone())),
                _ => Some(None),
            }
        })?
    })
    .flatten()
}

impl Correlation {
    /// The ids of the request `event` belongs to, after writing the fields not
    /// written yet of every request span the line shows: those around the event,
    /// and the current ones (the line's `spans`, which for an event with a parent
    /// of its own are not the same).
    fn of<S, N>(ctx: &FmtContext<'_, S, N>, event: &Event<'_>) -> Option<Self>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
        N: for<'a> FormatFields<'a> + 'static,
    {
        let mut ids = None;
        for span in ctx.event_scope().into_iter().flatten() {
            let pending = {
                let extensions = span.extensions();
                let Some(correlation) = extensions.get::<Self>() else {
                    continue;
                };
                ids.get_or_insert_with(|| correlation.ids());
                correlation.fields.is_some()
            };
            if pending {
                write_span_fields(&span);
            }
        }
        if !event.is_contextual() {
            for span in ctx.lookup_current().into_iter().flat_map(|s| s.scope()) {
                let pending = span
                    .extensions()
                    .get::<Self>()
                    .is_some_and(|c| c.fields.is_some());
                if pending {
                    write_span_fields(&span);
                }
            }
        }
        ids
    }

    /// The ids alone, for one line.
    fn ids(&self) -> Self {
        Self {
            request_id: self.request_id.clone(),
            #[cfg(feature = "otel")]
            trace: self.trace.clone(),
            fields: None,
        }
    }

    /// `"request_id":"…","trace_id":"…","span_id":"…",` (ids are plain ASCII: no
    /// escaping needed).
    fn write_fields(&self, out: &mut String) -> fmt::Result {
        write!(out, "\"request_id\":\"{}\",", self.request_id.as_str())?;
        #[cfg(feature = "otel")]
        if let Some((trace, span)) = self.trace_ids() {
            write!(out, "\"trace_id\":\"{trace}\",\"span_id\":\"{span}\",")?;
        }
        Ok(())
    }

    /// The request's trace id and span id.
    #[cfg(feature = "otel")]
    fn trace_ids(&self) -> Option<(opentelemetry::TraceId, opentelemetry::SpanId)> {
        use opentelemetry::trace::TraceContextExt;
        match &self.trace {
            Trace::None => None,
            Trace::SampledOut(trace) => Some((trace.trace_id(), trace.span_id())),
            Trace::Exported(context) => {
                let span = context.span();
                let ids = span.span_context();
                ids.is_valid().then(|| (ids.trace_id(), ids.span_id()))
            }
        }
    }
}

/// Writes the fields of a request span that opskit's JSON format left unwritten
/// into the span's formatted fields, where the line format reads them.
fn write_span_fields<S>(span: &SpanRef<'_, S>)
where
    S: for<'a> LookupSpan<'a>,
{
    let mut extensions = span.extensions_mut();
    let Some((fields, id)) = extensions
        .get_mut::<Correlation>()
        .and_then(|c| Some((c.fields.take()?, c.request_id.clone())))
    else {
        return;
    };
    if let Some(formatted) = extensions.get_mut::<FormattedFields<JsonSpanFields>>() {
        fields.write(id.as_str(), &mut formatted.fields);
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
        let Some(ids) = Correlation::of(ctx, event) else {
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
