//! OpenTelemetry traces over OTLP/HTTP: the layer, its exporter, the flush at
//! shutdown, and the trace context in and out.

pub(crate) mod loss;
pub(crate) mod sampling;
mod settings;
mod traceparent;

pub use settings::{OtelSettings, SamplerName, TracesExporter};

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_http::HeaderInjector;
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, SdkTracer, SdkTracerProvider,
};
use opskit_secret::ConnectionString;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::{FilterExt as _, Targets};
use tracing_subscriber::registry::LookupSpan;

use self::loss::{Counting, Lost, Watching};
use self::sampling::{Decision, PlannedIds, PlannedTraceId, SampledRequests, Sampling};
use crate::build_info::BuildInfo;
use crate::traces::correlate::Trace;

/// Why the exporter could not be built.
#[derive(Debug, thiserror::Error)]
#[error(
    "cannot set up the OpenTelemetry trace exporter for {url}: {reason}; check OTEL_EXPORTER_OTLP_ENDPOINT"
)]
pub struct OtelError {
    url: String,
    reason: String,
}

/// The provider [`tracing_layer`] made, for the flush at shutdown.
static PROVIDER: OnceLock<(SdkTracerProvider, Duration, Arc<Lost>)> = OnceLock::new();

/// The `tracing-opentelemetry` layer opskit puts under its logging (see
/// [`init_with_layer`](crate::logs::init_with_layer)): spans become OpenTelemetry spans,
/// batched (a bounded queue, `OTEL_BSP_*`) and exported over OTLP/HTTP by a thread
/// of their own, so a collector that is slow or down costs requests nothing;
/// callers' `traceparent` headers are honoured ([`RequestTracingLayer`](crate::traces::RequestTracingLayer)).
/// `RequestTracingLayer` asks this layer's sampler before it makes a request's
/// span: a request the sampler drops never becomes an OpenTelemetry span, nor does
/// any span made inside it, and costs what the request's span alone costs. While
/// exports fail, at most `OTEL_BSP_MAX_QUEUE_SIZE` request traces are started per
/// `OTEL_BSP_SCHEDULE_DELAY` (a queue's worth, if each had one span); the rest are
/// not started, and counted in the flush's report.
/// `None` when no endpoint is set. Spans of the exporter's own HTTP stack are left
/// out, so exporting never traces itself.
///
/// [`start`](crate::serving::start) calls it with the settings it loaded; the flush at
/// shutdown is part of [`Lifecycle::stopped`](crate::serving::Lifecycle::stopped).
///
/// # Errors
///
/// [`OtelError`] when the exporter cannot be built.
pub fn tracing_layer<S>(
    settings: &OtelSettings,
    info: &BuildInfo,
) -> Result<Option<impl Layer<S> + Send + Sync + 'static>, OtelError>
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
{
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let Some(url) = settings.traces_url() else {
        return Ok(None);
    };
    let timeout = settings.export_timeout();
    let lost = Arc::new(Lost::default());
    let exporter = Counting::new(span_exporter(settings, &url, lost.clone())?, lost.clone());
    let provider = tracer_provider(settings, info, exporter);
    let tracer: SdkTracer = provider.tracer("opskit");
    opentelemetry::global::set_tracer_provider(provider.clone());
    let sampling = Sampling::new(settings, lost.clone());
    let _ = PROVIDER.set((provider, timeout, lost));
    let layer = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_location(false)
        .with_threads(false)
        .with_tracked_inactivity(false);
    Ok(Some(layer.with_filter(
        not_the_exporter().and(SampledRequests::new(sampling)),
    )))
}

/// The OTLP/HTTP exporter to `url`, with the settings' timeout and headers (whose
/// values are redacted from logs), through a client that tells `lost` whether the
/// collector takes exports.
fn span_exporter(
    settings: &OtelSettings,
    url: &str,
    lost: Arc<Lost>,
) -> Result<opentelemetry_otlp::SpanExporter, OtelError> {
    let timeout = settings.export_timeout();
    let headers = settings.export_headers();
    for value in headers.values() {
        opskit_secret::redaction::register(value);
    }
    let client = Watching::new(blocking_client(timeout, url)?, lost);
    opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(client)
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(url)
        .with_timeout(timeout)
        .with_headers(headers)
        .build()
        .map_err(|err| {
            // The exporter's words may quote the URL: mask its password there too.
            let masked = ConnectionString::parse(url).map_or_else(
                |_| "the OTLP endpoint".to_owned(),
                |c| c.masked().to_owned(),
            );
            let reason = ConnectionString::parse(url)
                .map_or_else(|_| err.to_string(), |c| c.scrub(&err.to_string()));
            OtelError {
                url: masked,
                reason,
            }
        })
}

/// The provider: spans batched by the settings' `OTEL_BSP_*` into `exporter`,
/// sampled by the settings' sampler, with the planned trace ids and the service's
/// resource.
fn tracer_provider(
    settings: &OtelSettings,
    info: &BuildInfo,
    exporter: Counting<opentelemetry_otlp::SpanExporter>,
) -> SdkTracerProvider {
    let batch = BatchConfigBuilder::default()
        .with_max_queue_size(settings.max_queue_size)
        .with_max_export_batch_size(settings.max_export_batch_size.min(settings.max_queue_size))
        .with_scheduled_delay(Duration::from_millis(settings.schedule_delay_ms))
        .build();
    SdkTracerProvider::builder()
        .with_span_processor(
            BatchSpanProcessor::builder(exporter)
                .with_batch_config(batch)
                .build(),
        )
        .with_sampler(settings.sampler())
        .with_id_generator(PlannedIds::default())
        .with_resource(settings.resource(info))
        .build()
}

/// Every target but the exporter's own stack: its spans must not feed back into
/// the exporter.
fn not_the_exporter() -> Targets {
    const EXPORTER_STACK: [&str; 8] = [
        "opentelemetry",
        "opentelemetry_sdk",
        "opentelemetry_otlp",
        "opentelemetry_http",
        "reqwest",
        "hyper_util",
        "hyper",
        "h2",
    ];
    EXPORTER_STACK.iter().fold(
        Targets::new().with_default(tracing::Level::TRACE),
        |targets, target| targets.with_target(*target, tracing::level_filters::LevelFilter::OFF),
    )
}

/// The HTTP client the OTLP exporter would make for itself: reqwest's blocking
/// client with the export timeout, made on a thread of its own (it cannot be made
/// inside an async runtime).
fn blocking_client(timeout: Duration, url: &str) -> Result<reqwest::blocking::Client, OtelError> {
    let failed = |reason: String| OtelError {
        url: ConnectionString::parse(url).map_or_else(
            |_| "the OTLP endpoint".to_owned(),
            |c| c.masked().to_owned(),
        ),
        reason,
    };
    std::thread::Builder::new()
        .name("otlp-client-setup".to_owned())
        .spawn(move || {
            reqwest::blocking::Client::builder()
                .timeout(timeout)
                .build()
        })
        .map_err(|err| failed(format!("cannot start a thread for the HTTP client: {err}")))?
        .join()
        .map_err(|_| failed("the HTTP client could not be made".to_owned()))?
        .map_err(|err| failed(format!("the HTTP client could not be made: {err}")))
}

/// Exports the spans still queued and stops the exporter, waiting at most the
/// export timeout (`OTEL_EXPORTER_OTLP_TIMEOUT`). Returns what went wrong, if
/// anything: queued spans not exported in time, or batches the collector did not
/// take (refused, unreachable), counted since the start. A collector that is down
/// costs this wait, never more.
pub(crate) fn flush() -> Option<String> {
    let (provider, timeout, lost) = PROVIDER.get()?;
    let started = std::time::Instant::now();
    let timed_out = provider.shutdown_with_timeout(*timeout).err().map(|err| {
        format!(
            "queued spans were not all exported within {:?} ({err})",
            started.elapsed()
        )
    });
    match (timed_out, lost.report()) {
        (None, None) => None,
        (Some(problem), None) | (None, Some(problem)) => Some(problem),
        (Some(timed_out), Some(lost)) => Some(format!("{timed_out}; {lost}")),
    }
}

/// Makes `span` continue the caller's trace: its `traceparent` as the sampler read
/// it, and its `tracestate`.
pub(crate) fn continue_trace(
    span: &Span,
    parent: &opentelemetry::trace::SpanContext,
    headers: &http::HeaderMap,
) {
    let parent = with_callers_state(parent, headers);
    let _ = span.set_parent(Context::new().with_remote_span_context(parent));
}

/// `trace` with the caller's `tracestate`, read as the W3C propagator reads it
/// (a malformed one is dropped), when the caller sent one; else `trace` as it is.
/// Read only when a request has one: most have none, and pay nothing.
fn with_callers_state(
    trace: &opentelemetry::trace::SpanContext,
    headers: &http::HeaderMap,
) -> opentelemetry::trace::SpanContext {
    use opentelemetry::trace::{SpanContext, TraceState};
    let state = headers
        .get(http::HeaderName::from_static("tracestate"))
        .and_then(|value| value.to_str().ok())
        .map(|text| text.parse().unwrap_or_else(|_| TraceState::default()));
    match state {
        Some(state) => SpanContext::new(
            trace.trace_id(),
            trace.span_id(),
            trace.trace_flags(),
            trace.is_remote(),
            state,
        ),
        None => trace.clone(),
    }
}

/// Adds the current span's W3C `traceparent` (and `tracestate`) to the headers of an
/// outgoing request, so the service it calls continues this trace.
///
/// ```
/// let mut headers = http::HeaderMap::new();
/// opskit_telemetry::inject_trace_context(&mut headers);
/// // send the request with `headers`
/// ```
pub fn inject_trace_context(headers: &mut http::HeaderMap) {
    let span = Span::current();
    // A request the sampler dropped has no OpenTelemetry span: its trace and the
    // decision go on from what the request's span keeps.
    let context: Context = crate::traces::correlate::sampled_out(&span).map_or_else(
        || span.context(),
        |trace| Context::new().with_remote_span_context(trace),
    );
    TraceContextPropagator::new().inject_context(&context, &mut HeaderInjector(headers));
}

/// Continues the caller's trace on an exported request's span and starts it, with
/// the trace id the sampler decided on: what the request's log lines and its
/// response need. A sampled-out request gets a context too, with its trace and the
/// decision (not exported), attached while the request is polled for code that
/// propagates from `opentelemetry::Context::current()`.
pub(crate) fn begin(
    span: &Span,
    decision: Option<Decision>,
    headers: &http::HeaderMap,
) -> (Trace, Option<Context>) {
    if span.is_disabled() {
        return (Trace::None, None);
    }
    match decision {
        None => (Trace::None, None),
        Some(Decision::SampledOut {
            trace,
            not_started,
            from_caller,
        }) => {
            if let Some(lost) = not_started {
                lost.not_started();
            }
            // The caller's vendors' state goes on to the next service, whatever
            // was decided here.
            let trace = if from_caller {
                with_callers_state(&trace, headers)
            } else {
                trace
            };
            let context = Context::new().with_remote_span_context(trace.clone());
            (Trace::SampledOut(trace), Some(context))
        }
        Some(Decision::Export { parent, planned }) => {
            if let Some(parent) = &parent {
                continue_trace(span, parent, headers);
            }
            let context = {
                let _planned = PlannedTraceId::new(planned);
                span.context()
            };
            (Trace::Exported(context.clone()), Some(context))
        }
    }
}

/// Sets what is known once the response is: the status code, and an error status
/// on 5xx (or no response), on the OpenTelemetry span only (the log lines' copy of
/// the span's fields is left alone).
pub(crate) fn finish_server_span(context: &Context, status: Option<u16>, failed: bool) {
    let span = context.span();
    if let Some(code) = status {
        span.set_attribute(KeyValue::new("http.response.status_code", i64::from(code)));
    }
    if failed {
        span.set_status(opentelemetry::trace::Status::error(""));
    }
}

#[cfg(test)]
mod tests {
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    use opentelemetry_http::HttpClient;

    use super::*;

    /// One export attempt through the watching client, as the exporter makes it.
    fn attempt(client: &Watching<reqwest::blocking::Client>, url: &str) {
        let request = http::Request::post(url)
            .header("content-type", "application/x-protobuf")
            .body(bytes::Bytes::new())
            .unwrap();
        // The blocking client answers within its first poll.
        let Poll::Ready(_) =
            pin!(client.send_bytes(request)).poll(&mut Context::from_waker(Waker::noop()))
        else {
            panic!("the blocking client did not answer in one poll");
        };
    }

    #[test]
    fn each_export_attempt_says_whether_the_collector_takes_exports() {
        let timeout = Duration::from_secs(2);
        let lost = Arc::new(Lost::default());
        let closed = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            format!("http://{}/v1/traces", listener.local_addr().unwrap())
        };
        let receiver = opskit_testkit::otlp::Receiver::start().unwrap();
        let open = format!("{}/v1/traces", receiver.endpoint());
        let client = Watching::new(blocking_client(timeout, &open).unwrap(), lost.clone());
        assert!(!lost.failing());
        attempt(&client, &closed);
        assert!(lost.failing(), "nothing listens at {closed}");
        attempt(&client, &open);
        assert!(!lost.failing(), "the receiver at {open} takes exports");
    }
}
