//! Spans the exporter could not deliver, counted, so that shutdown can say traces
//! were lost: the SDK's shutdown reports a timeout, not a batch the collector
//! refused or never received.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};

/// What was lost: how many spans, and the last error.
#[derive(Debug, Default)]
pub(crate) struct Lost {
    spans: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl Lost {
    /// `None` when every batch was delivered; else how many spans were not, and why.
    pub(crate) fn report(&self) -> Option<String> {
        let spans = self.spans.load(Ordering::Relaxed);
        (spans > 0).then(|| {
            let error = self
                .last_error
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone()
                .unwrap_or_default();
            format!("{spans} span(s) could not be exported since the start (last error: {error})")
        })
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
