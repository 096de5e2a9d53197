//! Spans the exporter could not deliver, counted, so that shutdown can say traces
//! were lost: the SDK's shutdown reports a timeout, not a batch the collector
//! refused or never received. Whether the collector takes exports is what
//! [`Sampling`](crate::traces::otel::sampling::Sampling) admits request traces by: known at
//! each attempt ([`Watching`]), not once the exporter's retries (up to a second)
//! have run out.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};

/// What was lost: how many spans, the last error, and the request traces not
/// started while the collector could not take them.
#[derive(Debug, Default)]
pub(crate) struct Lost {
    spans: AtomicU64,
    last_error: Mutex<Option<String>>,
    failing: AtomicBool,
    not_started: AtomicU64,
}

impl Lost {
    /// `None` when every batch was delivered; else how many spans were not, and why.
    pub(crate) fn report(&self) -> Option<String> {
        let spans = self.spans.load(Ordering::Relaxed);
        let not_started = self.not_started.load(Ordering::Relaxed);
        (spans > 0 || not_started > 0).then(|| {
            let error = self
                .last_error
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone()
                .unwrap_or_default();
            let mut report = format!(
                "{spans} span(s) could not be exported since the start (last error: {error})"
            );
            if not_started > 0 {
                report.push_str(&format!(
                    ", and {not_started} sampled request trace(s) were not started while the \
                     collector could not take them (more than the export queue holds)"
                ));
            }
            report
        })
    }

    /// Whether the last export failed.
    pub(crate) fn failing(&self) -> bool {
        self.failing.load(Ordering::Relaxed)
    }

    /// Marks the last export failed (or not), as the exporter does.
    #[cfg(test)]
    pub(crate) fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::Relaxed);
    }

    /// Counts a sampled request trace not started because the collector is failing.
    pub(crate) fn not_started(&self) {
        self.not_started.fetch_add(1, Ordering::Relaxed);
    }
}

/// Wraps the exporter and counts the spans of each batch it fails to export.
#[derive(Debug)]
pub(crate) struct Counting<E> {
    inner: E,
    lost: Arc<Lost>,
}

impl<E> Counting<E> {
    pub(crate) fn new(inner: E, lost: Arc<Lost>) -> Self {
        Self { inner, lost }
    }
}

impl<E: SpanExporter> SpanExporter for Counting<E> {
    fn export(
        &self,
        batch: Vec<SpanData>,
    ) -> impl std::future::Future<Output = OTelSdkResult> + Send {
        let spans = batch.len() as u64;
        let export = self.inner.export(batch);
        let lost = self.lost.clone();
        async move {
            let result = export.await;
            lost.failing.store(result.is_err(), Ordering::Relaxed);
            if let Err(err) = &result {
                lost.spans.fetch_add(spans, Ordering::Relaxed);
                *lost
                    .last_error
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = Some(err.to_string());
            }
            result
        }
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

/// Wraps the exporter's HTTP client and notes, at every attempt, whether the
/// collector took the export: a 2xx answer, or a refusal, an error status or no
/// answer at all.
#[derive(Debug)]
pub(crate) struct Watching<C> {
    inner: C,
    lost: Arc<Lost>,
}

impl<C> Watching<C> {
    pub(crate) fn new(inner: C, lost: Arc<Lost>) -> Self {
        Self { inner, lost }
    }
}

#[async_trait::async_trait]
impl<C: opentelemetry_http::HttpClient> opentelemetry_http::HttpClient for Watching<C> {
    async fn send_bytes(
        &self,
        request: http::Request<bytes::Bytes>,
    ) -> Result<http::Response<bytes::Bytes>, opentelemetry_http::HttpError> {
        let result = self.inner.send_bytes(request).await;
        let taken = result
            .as_ref()
            .is_ok_and(|response| response.status().is_success());
        self.lost.failing.store(!taken, Ordering::Relaxed);
        result
    }
}
