//! The OpenTelemetry settings: the specification's standard `OTEL_*` variables,
//! read and checked with the rest of a service's settings.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::Sampler;
use opskit_config::{Config, Invalid};
use opskit_secret::{ConnectionString, ExposeSecret, SecretString};
use serde::Deserialize;

use crate::build_info::BuildInfo;

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
    /// Headers for trace exports only, as key=value pairs separated by commas; each wins over OTEL_EXPORTER_OTLP_HEADERS' header of the same name.
    #[config(name = "OTEL_EXPORTER_OTLP_TRACES_HEADERS")]
    pub traces_headers: Option<SecretString>,
    /// Longest one export may take, in milliseconds; also bounds the flush at shutdown.
    #[config(name = "OTEL_EXPORTER_OTLP_TIMEOUT", default = "10000")]
    pub timeout_ms: u64,
    /// Longest one trace export may take, in milliseconds; wins over OTEL_EXPORTER_OTLP_TIMEOUT.
    #[config(name = "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT")]
    pub traces_timeout_ms: Option<u64>,
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
            traces_headers: None,
            timeout_ms: 10_000,
            traces_timeout_ms: None,
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
        for (field, headers) in [
            ("headers", &self.headers),
            ("traces_headers", &self.traces_headers),
        ] {
            if let Some(headers) = headers
                && parse_headers(headers.expose_secret()).is_none()
            {
                problems.push(Invalid::new(
                    field,
                    "must be key=value pairs separated by commas, with header names of letters, digits and '-' \
                     and values without control characters (no CR or LF, as is or percent-encoded)",
                ));
            }
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

    /// The longest one trace export may take: `OTEL_EXPORTER_OTLP_TRACES_TIMEOUT`,
    /// else `OTEL_EXPORTER_OTLP_TIMEOUT`. It also bounds the flush at shutdown.
    pub fn export_timeout(&self) -> Duration {
        Duration::from_millis(self.traces_timeout_ms.unwrap_or(self.timeout_ms))
    }

    /// The headers sent with every trace export: `OTEL_EXPORTER_OTLP_HEADERS`, with
    /// `OTEL_EXPORTER_OTLP_TRACES_HEADERS` added over it (its header wins where
    /// both name one), as the specification has signal-specific settings win.
    /// Header names are lowercase, as HTTP/2 sends them and as a collector sees them.
    pub(crate) fn export_headers(&self) -> HashMap<String, String> {
        let mut headers = HashMap::new();
        for text in [&self.headers, &self.traces_headers].into_iter().flatten() {
            headers.extend(
                parse_headers(text.expose_secret())
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(name, value)| (name.to_ascii_lowercase(), value)),
            );
        }
        headers
    }

    pub(crate) fn sampler(&self) -> Sampler {
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

    pub(crate) fn resource(&self, info: &BuildInfo) -> Resource {
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
pub(crate) fn parse_headers(text: &str) -> Option<HashMap<String, String>> {
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
        // An HTTP header value holds no control character (a CR or LF, as is or
        // percent-encoded): the exporter would drop the header from every export.
        if value.chars().any(|c| c.is_control() && c != '\t') {
            return None;
        }
        headers.insert(key.to_owned(), value.into_owned());
    }
    Some(headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(pairs: &[(&str, &str)]) -> Result<OtelSettings, opskit_config::ConfigError> {
        OtelSettings::from_pairs(pairs.iter().copied()).map(opskit_config::Loaded::into_inner)
    }

    #[test]
    fn a_header_value_with_a_line_break_is_refused_naming_the_variable() {
        for headers in [
            "x-api-key=abc\r\ndef",
            "x-api-key=abc%0D%0Adef",
            "x-api-key=a\nb",
        ] {
            let err = load(&[("OTEL_EXPORTER_OTLP_HEADERS", headers)]).unwrap_err();
            let report = err.to_string();
            assert!(report.contains("OTEL_EXPORTER_OTLP_HEADERS"), "{report}");
            assert!(report.contains("no CR or LF"), "{report}");
        }
        assert!(load(&[("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=a%09b")]).is_ok());
    }

    #[test]
    fn trace_settings_win_over_the_general_ones() {
        let settings = load(&[
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                "X-Api-Key=general-key,x-tenant=all",
            ),
            (
                "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
                "X-Tenant=traces%20team",
            ),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "7000"),
            ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "1500"),
        ])
        .unwrap();
        let headers = settings.export_headers();
        assert_eq!(headers.len(), 2, "{:?}", headers.keys());
        assert_eq!(headers["x-api-key"], "general-key");
        assert_eq!(headers["x-tenant"], "traces team");
        assert_eq!(settings.export_timeout(), Duration::from_millis(1500));

        let general = load(&[("OTEL_EXPORTER_OTLP_TIMEOUT", "7000")]).unwrap();
        assert_eq!(general.export_timeout(), Duration::from_millis(7000));
        assert!(general.export_headers().is_empty());
        assert_eq!(
            OtelSettings::default().export_timeout(),
            Duration::from_secs(10),
            "the specification's default"
        );
    }

    #[test]
    fn malformed_trace_headers_are_named_and_never_quoted() {
        let canary = "canary-traces-header-71c0";
        let err = load(&[(
            "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
            &format!("authorization={canary}, broken"),
        )])
        .unwrap_err();
        let text = format!("{err}\n{err:?}");
        assert!(text.contains("OTEL_EXPORTER_OTLP_TRACES_HEADERS"), "{text}");
        assert!(text.contains("key=value pairs"), "{text}");
        assert!(!text.contains(canary), "{text}");
    }
}
