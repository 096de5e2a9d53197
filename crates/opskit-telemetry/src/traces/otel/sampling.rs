//! The sampling decision for a request, taken before its span exists.
//!
//! tracing-opentelemetry copies every field of a span into a span builder when the
//! span is made, and the SDK's sampler only runs when the span starts: a request the
//! sampler drops would pay for the builder, its attributes and a non-recording span
//! all the same. [`RequestTracing`](crate::traces::RequestTracing) asks [`Sampling`] first,
//! with the same sampler the SDK has; a request it drops gets its span (for the log
//! lines) but tracing-opentelemetry never sees it, nor any span or event inside
//! it ([`SampledRequests`], the layer's filter). Its trace id and the decision still travel on: log lines
//! carry them and [`inject_trace_context`](crate::traces::inject_trace_context) sends them to
//! the next service, which decides as it would have.
//!
//! While the collector refuses or cannot be reached, at most `OTEL_BSP_MAX_QUEUE_SIZE`
//! request traces are started per `OTEL_BSP_SCHEDULE_DELAY` (a queue's worth, if
//! each had one span); past that, most would be dropped by the full queue anyway,
//! and are dropped here instead, before they cost anything, and counted.

use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use opentelemetry::trace::{
    SpanContext, SpanId, SpanKind, TraceContextExt as _, TraceFlags, TraceId,
};
use opentelemetry_sdk::trace::{
    IdGenerator, RandomIdGenerator, Sampler, SamplingDecision, ShouldSample,
};
use tracing::subscriber::Interest;
use tracing::{Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Filter};
use tracing_subscriber::registry::LookupSpan;

use super::loss::Lost;
use super::settings::{OtelSettings, SamplerName};
use super::traceparent::remote_parent;

thread_local! {
    /// The caller's trace, while `RequestTracing` makes a request's span.
    static PENDING_PARENT: Cell<Option<Option<SpanContext>>> = const { Cell::new(None) };
    /// The sampler's decision for that span.
    static DECISION: Cell<Option<Decision>> = const { Cell::new(None) };
    /// The trace id the sampler decided on, for the root span about to start.
    static PLANNED_TRACE_ID: Cell<Option<TraceId>> = const { Cell::new(None) };
}

/// What [`Sampling::decide`] says about one request.
#[derive(Debug, Clone)]
pub(crate) enum Decision {
    /// Traced and exported: the span goes to tracing-opentelemetry.
    Export {
        /// The caller's trace, from a valid `traceparent`, to continue.
        parent: Option<SpanContext>,
        /// The trace id a new trace must start with: the one the sampler saw.
        planned: Option<TraceId>,
    },
    /// Not exported: the request's trace (not sampled, or sampled when the
    /// collector could not take it) for its log lines and the next service.
    SampledOut {
        /// The trace, its id and the decision.
        trace: SpanContext,
        /// Where to count it when the sampler kept it but the collector could not
        /// take it (counted once the span is known to exist).
        not_started: Option<Arc<Lost>>,
        /// Whether the trace is the caller's (from its `traceparent`): its
        /// `tracestate` then goes on with it.
        from_caller: bool,
    },
}

/// The sampler of one OpenTelemetry layer, and its collector's state.
#[derive(Debug)]
pub(crate) struct Sampling {
    sampler: SamplerName,
    ratio: f64,
    lost: Arc<Lost>,
    window_ms: u64,
    per_window: u64,
    epoch: Instant,
    window: AtomicU64,
    admitted: AtomicU64,
}

impl Sampling {
    pub(crate) fn new(settings: &OtelSettings, lost: Arc<Lost>) -> Self {
        Self {
            sampler: settings.sampler,
            ratio: settings.sampler_arg.unwrap_or(1.0),
            lost,
            window_ms: settings.schedule_delay_ms.max(1),
            per_window: settings.max_queue_size as u64,
            epoch: Instant::now(),
            window: AtomicU64::new(0),
            admitted: AtomicU64::new(0),
        }
    }

    /// The sampler's decision for a request with this caller's trace, as the SDK
    /// will take it when the span starts (the same sampler, parent and trace id).
    /// Without a caller's trace, the parent is the OpenTelemetry context current on
    /// this thread, as it is for the SDK: a request served inside a traced span.
    fn decide(&self, remote: Option<SpanContext>) -> Decision {
        let local = if remote.is_none() {
            let current = opentelemetry::Context::current();
            let span = current.span();
            let context = span.span_context();
            context.is_valid().then(|| context.clone())
        } else {
            None
        };
        let parent = remote.clone().or(local);
        let ids = RandomIdGenerator::default();
        let trace_id = parent
            .as_ref()
            .map_or_else(|| ids.new_trace_id(), SpanContext::trace_id);
        let parent_based = matches!(
            self.sampler,
            SamplerName::ParentbasedAlwaysOn
                | SamplerName::ParentbasedAlwaysOff
                | SamplerName::ParentbasedTraceidratio
        );
        let sampled = match (&parent, self.sampler) {
            (Some(parent), _) if parent_based => parent.is_sampled(),
            (_, SamplerName::AlwaysOn | SamplerName::ParentbasedAlwaysOn) => true,
            (_, SamplerName::AlwaysOff | SamplerName::ParentbasedAlwaysOff) => false,
            (_, SamplerName::Traceidratio | SamplerName::ParentbasedTraceidratio) => {
                Sampler::TraceIdRatioBased(self.ratio)
                    .should_sample(None, trace_id, "", &SpanKind::Server, &[], &[])
                    .decision
                    != SamplingDecision::Drop
            }
        };
        if sampled && self.admit() {
            return Decision::Export {
                planned: parent.is_none().then_some(trace_id),
                parent: remote,
            };
        }
        let flags = if sampled {
            TraceFlags::SAMPLED
        } else {
            TraceFlags::default()
        };
        Decision::SampledOut {
            trace: SpanContext::new(
                trace_id,
                ids.new_span_id(),
                flags,
                false,
                // A local parent's vendors' state goes on; the caller's is read
                // from its header once the span exists.
                parent
                    .as_ref()
                    .map(|parent| parent.trace_state().clone())
                    .unwrap_or_default(),
            ),
            not_started: sampled.then(|| self.lost.clone()),
            from_caller: remote.is_some(),
        }
    }

    /// Whether a sampled request may start its trace: always, unless the last
    /// export failed and this window's share is taken.
    fn admit(&self) -> bool {
        if !self.lost.failing() {
            return true;
        }
        let now = self.epoch.elapsed().as_millis() as u64 / self.window_ms;
        let window = self.window.load(Ordering::Relaxed);
        // Windows only move forward: a thread that read the clock before another
        // moved the window cannot move it back and reset the count again.
        if now > window
            && self
                .window
                .compare_exchange(window, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.admitted.store(0, Ordering::Relaxed);
        }
        self.admitted.fetch_add(1, Ordering::Relaxed) < self.per_window
    }
}

/// Hands the caller's trace to the sampler while `RequestTracing` makes the
/// request's span, and takes back the decision, if an OpenTelemetry layer took one.
pub(crate) struct Pending(());

impl Pending {
    pub(crate) fn new(headers: &http::HeaderMap) -> Self {
        // Without an OpenTelemetry layer nobody takes it: the header is not read.
        if LAYERS.load(Ordering::Relaxed) {
            PENDING_PARENT.set(Some(remote_parent(headers)));
        }
        Self(())
    }

    /// The decision, once the span is made: `None` without an OpenTelemetry layer
    /// (or when the span is disabled).
    pub(crate) fn decision(self) -> Option<Decision> {
        DECISION.take()
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        PENDING_PARENT.set(None);
        DECISION.set(None);
    }
}

/// Gives the next trace started on this thread the id the sampler decided on,
/// until dropped.
pub(crate) struct PlannedTraceId;

impl PlannedTraceId {
    pub(crate) fn new(planned: Option<TraceId>) -> Option<Self> {
        planned.map(|id| {
            PLANNED_TRACE_ID.set(Some(id));
            Self
        })
    }
}

impl Drop for PlannedTraceId {
    fn drop(&mut self) {
        PLANNED_TRACE_ID.set(None);
    }
}

/// The SDK's random ids, except a trace id planned by [`PlannedTraceId`]: so the
/// SDK's sampler sees the trace id `RequestTracing`'s decision was taken on.
#[derive(Debug, Default)]
pub(crate) struct PlannedIds(RandomIdGenerator);

impl IdGenerator for PlannedIds {
    fn new_trace_id(&self) -> TraceId {
        PLANNED_TRACE_ID
            .take()
            .unwrap_or_else(|| self.0.new_trace_id())
    }

    fn new_span_id(&self) -> SpanId {
        self.0.new_span_id()
    }
}

/// The per-layer filter of the tracing-opentelemetry layer: a request span gets
/// the sampler's decision; a span or event inside a request the sampler dropped
/// (a span the layer has not seen) is not passed on.
#[derive(Debug)]
pub(crate) struct SampledRequests {
    sampling: Sampling,
}

impl SampledRequests {
    pub(crate) fn new(sampling: Sampling) -> Self {
        LAYERS.store(true, Ordering::Relaxed);
        Self { sampling }
    }
}

/// Whether any OpenTelemetry layer was made in this process.
static LAYERS: AtomicBool = AtomicBool::new(false);

impl<S> Filter<S> for SampledRequests
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn enabled(&self, meta: &Metadata<'_>, cx: &Context<'_, S>) -> bool {
        if meta.is_span()
            && meta.name() == "request"
            && meta.target() == "opskit::http"
            && let Some(parent) = PENDING_PARENT.take()
        {
            let decision = self.sampling.decide(parent);
            let export = matches!(decision, Decision::Export { .. });
            DECISION.set(Some(decision));
            return export;
        }
        // Inside a span this layer did not see (a sampled-out request, or the
        // exporter's own work), nothing is passed on. (A span with an explicit parent
        // is judged by the current span too: the filter is not told the parent.)
        cx.current_span()
            .id()
            .is_none_or(|current| cx.span(current).is_some())
    }

    fn callsite_enabled(&self, _meta: &'static Metadata<'static>) -> Interest {
        // Decided for each span and event, by the request it belongs to.
        Interest::sometimes()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use opentelemetry::trace::TraceState;

    use super::*;

    fn settings(sampler: SamplerName, ratio: Option<f64>) -> OtelSettings {
        OtelSettings {
            sampler,
            sampler_arg: ratio,
            max_queue_size: 3,
            schedule_delay_ms: 200,
            ..OtelSettings::default()
        }
    }

    fn parent(sampled: bool) -> Option<SpanContext> {
        let flags = if sampled {
            TraceFlags::SAMPLED
        } else {
            TraceFlags::default()
        };
        Some(SpanContext::new(
            TraceId::from(0x0af7_6519_16cd_43dd_8448_eb21_1c80_319c),
            SpanId::from(0xb7ad_6b71_6920_3331),
            flags,
            true,
            TraceState::default(),
        ))
    }

    fn exported(decision: &Decision) -> bool {
        matches!(decision, Decision::Export { .. })
    }

    #[test]
    fn decisions_are_the_samplers_of_the_specification() {
        let lost = Arc::new(Lost::default());
        let on = Sampling::new(&settings(SamplerName::AlwaysOn, None), lost.clone());
        let off = Sampling::new(&settings(SamplerName::AlwaysOff, None), lost.clone());
        let follow = Sampling::new(
            &settings(SamplerName::ParentbasedAlwaysOn, None),
            lost.clone(),
        );
        assert!(
            exported(&on.decide(parent(false))),
            "always_on ignores the parent"
        );
        assert!(
            !exported(&off.decide(parent(true))),
            "always_off ignores the parent"
        );
        assert!(exported(&follow.decide(None)), "a new trace: always_on");
        assert!(
            !exported(&follow.decide(parent(false))),
            "the caller's decision"
        );
        assert!(
            exported(&follow.decide(parent(true))),
            "the caller's decision"
        );

        // A dropped request keeps the caller's trace, not sampled, for the next service.
        let Decision::SampledOut { trace, .. } = follow.decide(parent(false)) else {
            panic!("sampled out");
        };
        assert_eq!(trace.trace_id(), parent(false).unwrap().trace_id());
        assert!(!trace.is_sampled() && trace.is_valid());

        // A ratio decides by the trace id, which the SDK then starts the trace with.
        let half = Sampling::new(&settings(SamplerName::Traceidratio, Some(0.5)), lost);
        let mut kept = 0;
        for _ in 0..1000 {
            match half.decide(None) {
                Decision::Export { parent, planned } => {
                    assert!(parent.is_none());
                    let id = planned.expect("a new trace has its id planned");
                    let rule = Sampler::TraceIdRatioBased(0.5)
                        .should_sample(None, id, "", &SpanKind::Server, &[], &[])
                        .decision;
                    assert_eq!(rule, SamplingDecision::RecordAndSample, "{id}");
                    kept += 1;
                }
                Decision::SampledOut { trace, .. } => assert!(!trace.is_sampled()),
            }
        }
        assert!((400..600).contains(&kept), "{kept} of 1000 kept at 0.5");
    }

    #[test]
    fn while_exports_fail_a_windows_worth_of_traces_is_started_and_the_rest_counted() {
        let lost = Arc::new(Lost::default());
        let mut sampling = Sampling::new(&settings(SamplerName::AlwaysOn, None), lost.clone());
        // Windows of a minute, moved by hand below: every decision falls in the
        // window the test means, however slow the machine.
        let window = Duration::from_secs(60);
        sampling.window_ms = window.as_millis() as u64;
        assert!(
            (0..10).all(|_| exported(&sampling.decide(None))),
            "exports work"
        );
        lost.set_failing(true);
        let decisions: Vec<Decision> = (0..5).map(|_| sampling.decide(None)).collect();
        let started: Vec<bool> = decisions.iter().map(exported).collect();
        assert_eq!(started, [true, true, true, false, false]);
        for decision in decisions {
            // Counted where the request's span is made (`otel::begin`).
            if let Decision::SampledOut {
                not_started: Some(lost),
                ..
            } = decision
            {
                lost.not_started();
            }
        }
        assert!(
            lost.report()
                .unwrap()
                .contains("2 sampled request trace(s) were not started")
        );
        // Sampled-out requests keep the sampler's decision for the next service.
        let Decision::SampledOut { trace, .. } = sampling.decide(None) else {
            panic!("the window is taken");
        };
        assert!(trace.is_sampled());
        // The clock moves on by a window.
        sampling.epoch = sampling.epoch.checked_sub(window).expect("up for a minute");
        assert!(
            exported(&sampling.decide(None)),
            "the next window starts again"
        );
        lost.set_failing(false);
        assert!(
            (0..10).all(|_| exported(&sampling.decide(None))),
            "exports work again"
        );
    }
}
