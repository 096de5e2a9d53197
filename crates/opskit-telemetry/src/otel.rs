//! OpenTelemetry traces over OTLP/HTTP, configured by the standard `OTEL_*`
//! variables, read and checked with the rest of the settings.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry::{Context, KeyValue};
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracer, SdkTracerProvider,
};
use opskit_config::{Config, Invalid};
use opskit_secret::{ConnectionString, ExposeSecret, SecretString};
use serde::Deserialize;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::registry::LookupSpan;

use crate::build_info::BuildInfo;
use crate::otel_loss::{Counting, Lost};

/// The OpenTelemetry settings opskit reads: the standard variables of the
/// OpenTelemetry specification, with their standard defaults. Traces are exported
/// when `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is
/// set; without one no span is made for OpenTelemetry, and log lines carry
/// `request_id` alone.
#[derive(Debug, Clone, Config)]
#[config(validate = "OtelSettings::check")]
pub struct OtelSettings {
    /// Turns OpenTelemetry off: no traces are made or exported.
    #[config(name = "OTEL_SDK_DISABLED", default = "false")]
    pub sdk_disabled: bool,
    /// Trace exporter: otlp, or none.
    #[config(name = "OTEL_TRACES_EXPORTER", default = "otlp")]
    pub traces_exporter: TracesExporter,
    /// Base URL of the OTLP/HTTP receiver (a collector or agent), such as http://otel-collector:4318; traces go to its /v1/traces.
    ///
    /// A URL that may carry credentials: shown with its password masked, never quoted
    /// in an error.
    #[config(name = "OTEL_EXPORTER_OTLP_ENDPOINT")]
    pub endpoint: Option<ConnectionString>,
    /// Full URL traces are sent to; wins over OTEL_EXPORTER_OTLP_ENDPOINT.
    #[config(name = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")]
    pub traces_endpoint: Option<ConnectionString>,
    /// OTLP protocol: http/protobuf (the one opskit exports with).
    #[config(name = "OTEL_EXPORTER_OTLP_PROTOCOL", default = "http/protobuf")]
    pub protocol: String,
    /// Headers sent with every export, as key=value pairs separated by commas (API keys: a secret).
    #[config(name = "OTEL_EXPORTER_OTLP_HEADERS")]
    pub headers: Option<SecretString>,
    /// Longest one export may take, in milliseconds; also bounds the flush at shutdown.
    #[config(name = "OTEL_EXPORTER_OTLP_TIMEOUT", default = "10000")]
    pub timeout_ms: u64,
    /// service.name of the resource; the service's package name when unset.
    #[config(name = "OTEL_SERVICE_NAME")]
    pub service_name: Option<String>,
    /// More resource attributes, as key=value pairs separated by commas (values percent-encoded).
    #[config(name = "OTEL_RESOURCE_ATTRIBUTES", default)]
    pub resource_attributes: BTreeMap<String, String>,
    /// Sampler: always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off or parentbased_traceidratio.
    #[config(name = "OTEL_TRACES_SAMPLER", default = "parentbased_always_on")]
    pub sampler: SamplerName,
    /// The sampler's argument: the ratio (0 to 1) for the *traceidratio samplers.
    #[config(name = "OTEL_TRACES_SAMPLER_ARG")]
    pub sampler_arg: Option<f64>,
    /// Spans queued for export at most; past it new spans are dropped, never waited for.
    #[config(name = "OTEL_BSP_MAX_QUEUE_SIZE", default = "2048")]
    pub max_queue_size: usize,
    /// Time between two exports, in milliseconds.
    #[config(name = "OTEL_BSP_SCHEDULE_DELAY", default = "5000")]
    pub schedule_delay_ms: u64,
    /// Spans per export at most.
    #[config(name = "OTEL_BSP_MAX_EXPORT_BATCH_SIZE", default = "512")]
    pub max_export_batch_size: usize,
}

/// `OTEL_TRACES_EXPORTER`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TracesExporter {
    /// OTLP over HTTP.
    Otlp,
    /// No export.
    None,
}

/// `OTEL_TRACES_SAMPLER`: the specification's built-in samplers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SamplerName {
    /// Every trace.
    AlwaysOn,
    /// No trace.
    AlwaysOff,
    /// A ratio of traces, by trace id.
    Traceidratio,
    /// The caller's decision; every trace that starts here.
    ParentbasedAlwaysOn,
    /// The caller's decision; no trace that starts here.
    ParentbasedAlwaysOff,
    /// The caller's decision; a ratio of the traces that start here.
    ParentbasedTraceidratio,
}

impl Default for OtelSettings {
    fn default() -> Self {
        Self {
            sdk_disabled: false,
            traces_exporter: TracesExporter::Otlp,
            endpoint: None,
            traces_endpoint: None,
            protocol: "http/protobuf".to_owned(),
            headers: None,
            timeout_ms: 10_000,
            service_name: None,
            resource_attributes: BTreeMap::new(),
            sampler: SamplerName::ParentbasedAlwaysOn,
            sampler_arg: None,
            max_queue_size: 2048,
            schedule_delay_ms: 5000,
            max_export_batch_size: 512,
        }
    }
}

impl OtelSettings {
    fn check(&self) -> Vec<Invalid> {
        let mut problems = Vec::new();
        if self.protocol != "http/protobuf" {
            problems.push(Invalid::new(
                "protocol",
                "is not supported: opskit exports with http/protobuf (port 4318 on a collector); \
                 set OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf or unset it",
            ));
        }
        for (field, url) in [
            ("endpoint", &self.endpoint),
            ("traces_endpoint", &self.traces_endpoint),
        ] {
            if let Some(url) = url
                && url.scheme() != "http"
            {
                problems.push(Invalid::new(
                    field,
                    format!(
                        "uses {}://, but opskit exports over plain HTTP: point it at a collector or \
                         agent next to the service (http://localhost:4318) that forwards over TLS",
                        url.scheme()
                    ),
                ));
            }
        }
        if let Some(ratio) = self.sampler_arg
            && !(0.0..=1.0).contains(&ratio)
        {
            problems.push(Invalid::new(
                "sampler_arg",
                "must be a ratio between 0 and 1, such as 0.25",
            ));
        }
        if let Some(headers) = &self.headers
            && parse_headers(headers.expose_secret()).is_none()
        {
            problems.push(Invalid::new(
                "headers",
                "must be key=value pairs separated by commas, with header names of letters, digits and '-'",
            ));
        }
        if self.max_queue_size == 0 || self.max_export_batch_size == 0 {
            let field = if self.max_queue_size == 0 {
                "max_queue_size"
            } else {
                "max_export_batch_size"
            };
            problems.push(Invalid::new(field, "must be at least 1"));
        }
        problems
    }

    /// Where traces go, if anywhere.
    pub fn traces_url(&self) -> Option<String> {
        if self.sdk_disabled || self.traces_exporter == TracesExporter::None {
            return None;
        }
        if let Some(url) = &self.traces_endpoint {
            return Some(url.expose_secret().to_owned());
        }
        self.endpoint
            .as_ref()
            .map(|base| format!("{}/v1/traces", base.expose_secret().trim_end_matches('/')))
    }

    fn sampler(&self) -> Sampler {
        let ratio = self.sampler_arg.unwrap_or(1.0);
        match self.sampler {
            SamplerName::AlwaysOn => Sampler::AlwaysOn,
            SamplerName::AlwaysOff => Sampler::AlwaysOff,
            SamplerName::Traceidratio => Sampler::TraceIdRatioBased(ratio),
            SamplerName::ParentbasedAlwaysOn => Sampler::ParentBased(Box::new(Sampler::AlwaysOn)),
            SamplerName::ParentbasedAlwaysOff => Sampler::ParentBased(Box::new(Sampler::AlwaysOff)),
            SamplerName::ParentbasedTraceidratio => {
                Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(ratio)))
            }
        }
    }

    fn resource(&self, info: &BuildInfo) -> Resource {
        let name = self.service_name.as_deref().unwrap_or(info.name).to_owned();
        let attributes = self.resource_attributes.iter().map(|(key, value)| {
            let value = percent_encoding::percent_decode_str(value).decode_utf8_lossy();
            KeyValue::new(key.clone(), value.into_owned())
        });
        Resource::builder_empty()
            .with_attributes(attributes)
            .with_attribute(KeyValue::new("service.version", info.version))
            .with_service_name(name)
            .build()
    }
}

/// `key=value,key=value` as header pairs, or `None` when malformed.
fn parse_headers(text: &str) -> Option<HashMap<String, String>> {
    let mut headers = HashMap::new();
    for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=')?;
        let key = key.trim();
        let value = percent_encoding::percent_decode_str(value.trim())
            .decode_utf8()
            .ok()?;
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return None;
        }
        headers.insert(key.to_owned(), value.into_owned());
    }
    Some(headers)
}

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
/// [`init_with_layer`](crate::init_with_layer)): spans become OpenTelemetry spans,
/// batched (a bounded queue, `OTEL_BSP_*`) and exported over OTLP/HTTP by a thread
/// of their own, so a collector that is slow or down costs requests nothing;
/// callers' `traceparent` headers are honoured ([`RequestTracingLayer`](crate::RequestTracingLayer)).
/// `None` when no endpoint is set. Spans of the exporter's own HTTP stack are left
/// out, so exporting never traces itself.
///
/// [`start`](crate::start) calls it with the settings it loaded; the flush at
/// shutdown is part of [`Lifecycle::stopped`](crate::Lifecycle::stopped).
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
    let timeout = Duration::from_millis(settings.timeout_ms);
    let headers = settings
        .headers
        .as_ref()
        .and_then(|h| parse_headers(h.expose_secret()))
        .unwrap_or_default();
    for value in headers.values() {
        opskit_secret::redaction::register(value);
    }
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(url.clone())
        .with_timeout(timeout)
        .with_headers(headers)
        .build()
        .map_err(|err| {
            // The exporter's words may quote the URL: mask its password there too.
            let masked = ConnectionString::parse(&url).map_or_else(
                |_| "the OTLP endpoint".to_owned(),
                |c| c.masked().to_owned(),
            );
            let reason = ConnectionString::parse(&url)
                .map_or_else(|_| err.to_string(), |c| c.scrub(&err.to_string()));
            OtelError {
                url: masked,
                reason,
            }
        })?;
    let batch = BatchConfigBuilder::default()
        .with_max_queue_size(settings.max_queue_size)
        .with_max_export_batch_size(settings.max_export_batch_size.min(settings.max_queue_size))
        .with_scheduled_delay(Duration::from_millis(settings.schedule_delay_ms))
        .build();
    let lost = Arc::new(Lost::default());
    let exporter = Counting::new(exporter, lost.clone());
    let provider = SdkTracerProvider::builder()
        .with_span_processor(
            BatchSpanProcessor::builder(exporter)
                .with_batch_config(batch)
                .build(),
        )
        .with_sampler(settings.sampler())
        .with_resource(settings.resource(info))
        .build();
    let tracer: SdkTracer = provider.tracer("opskit");
    opentelemetry::global::set_tracer_provider(provider.clone());
    let _ = PROVIDER.set((provider, timeout, lost));
    // The exporter's own stack must not feed spans back into the exporter.
    let not_the_exporter = Targets::new()
        .with_default(tracing::Level::TRACE)
        .with_target("opentelemetry", tracing::level_filters::LevelFilter::OFF)
        .with_target(
            "opentelemetry_sdk",
            tracing::level_filters::LevelFilter::OFF,
        )
        .with_target(
            "opentelemetry_otlp",
            tracing::level_filters::LevelFilter::OFF,
        )
        .with_target(
            "opentelemetry_http",
            tracing::level_filters::LevelFilter::OFF,
        )
        .with_target("reqwest", tracing::level_filters::LevelFilter::OFF)
        .with_target("hyper_util", tracing::level_filters::LevelFilter::OFF)
        .with_target("hyper", tracing::level_filters::LevelFilter::OFF)
        .with_target("h2", tracing::level_filters::LevelFilter::OFF);
    Ok(Some(
        tracing_opentelemetry::layer()
            .with_tracer(tracer)
            .with_location(false)
            .with_threads(false)
            .with_tracked_inactivity(false)
            .with_filter(not_the_exporter),
    ))
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

/// Makes `span` continue the trace of the caller's `traceparent`, if it sent one;
/// whether OpenTelemetry traces it at all (an exporter is set up).
pub(crate) fn continue_trace(span: &Span, headers: &http::HeaderMap) -> bool {
    // Without an exporter, OpenTelemetry has no layer and the span no trace.
    if PROVIDER.get().is_none() {
        return false;
    }
    if headers.contains_key("traceparent") {
        let parent = TraceContextPropagator::new().extract(&HeaderExtractor(headers));
        let _ = span.set_parent(parent);
    }
    true
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
    let context: Context = Span::current().context();
    TraceContextPropagator::new().inject_context(&context, &mut HeaderInjector(headers));
}

/// Sets what is known once the response is: the status code, and an error status
/// on 5xx (or no response), on the OpenTelemetry span only (the log lines' copy of
/// the span's fields is left alone: rewriting it costs more than the whole span).
pub(crate) fn finish_server_span(span: &Span, status: Option<u16>, failed: bool) {
    if PROVIDER.get().is_none() || span.is_disabled() {
        return;
    }
    if let Some(code) = status {
        span.set_attribute("http.response.status_code", i64::from(code));
    }
    if failed {
        span.set_status(opentelemetry::trace::Status::error(""));
    }
}
