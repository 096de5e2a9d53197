//! The caller's `traceparent`, read without allocating: a request the sampler
//! drops must cost nothing.

use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};

/// The caller's `traceparent`, read by the rules of the SDK's W3C propagator
/// (`TraceContextPropagator`), without allocating: a request the sampler drops
/// must cost nothing. Its `tracestate` is read later, and only when there is one,
/// to go on with the request's trace (`otel::begin`).
pub(crate) fn remote_parent(headers: &http::HeaderMap) -> Option<SpanContext> {
    const TRACEPARENT: http::HeaderName = http::HeaderName::from_static("traceparent");
    let value = headers.get(TRACEPARENT)?.to_str().ok()?.trim();
    if let Some(parent) = canonical(value.as_bytes()) {
        return parent;
    }
    let mut parts = value.split_terminator('-');
    let (version, trace, span, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let version = u8::from_str_radix(version, 16).ok()?;
    if version == u8::MAX || (version == 0 && parts.next().is_some()) {
        return None;
    }
    let lowercase = |s: &str| !s.bytes().any(|b| b.is_ascii_uppercase());
    if !(lowercase(trace) && lowercase(span) && lowercase(flags)) {
        return None;
    }
    let trace_id = TraceId::from_hex(trace).ok()?;
    let span_id = SpanId::from_hex(span).ok()?;
    let flags = TraceFlags::new(u8::from_str_radix(flags, 16).ok()?) & TraceFlags::SAMPLED;
    let parent = SpanContext::new(trace_id, span_id, flags, true, TraceState::default());
    parent.is_valid().then_some(parent)
}

/// A version 00 `traceparent` as W3C Trace Context writes it (55 characters,
/// lowercase hex), decoded without the generic parsers: `None` when it is not in
/// that form (the general reader then decides), else what the propagator makes of
/// it.
fn canonical(value: &[u8]) -> Option<Option<SpanContext>> {
    /// Up to 16 lowercase hex digits.
    fn hex(text: &[u8]) -> Option<u64> {
        text.iter().try_fold(0u64, |n, &b| {
            let digit = match b {
                b'0'..=b'9' => b - b'0',
                b'a'..=b'f' => b - b'a' + 10,
                _ => return None,
            };
            Some(n << 4 | u64::from(digit))
        })
    }
    if value.len() != 55 || &value[..3] != b"00-" || value[35] != b'-' || value[52] != b'-' {
        return None;
    }
    let trace = u128::from(hex(&value[3..19])?) << 64 | u128::from(hex(&value[19..35])?);
    let span = hex(&value[36..52])?;
    let flags = u8::try_from(hex(&value[53..55])?).ok()?;
    let parent = SpanContext::new(
        TraceId::from(trace),
        SpanId::from(span),
        TraceFlags::new(flags) & TraceFlags::SAMPLED,
        true,
        TraceState::default(),
    );
    Some(parent.is_valid().then_some(parent))
}

#[cfg(test)]
mod tests {
    use opentelemetry::propagation::TextMapPropagator;
    use opentelemetry::trace::TraceContextExt;
    use opentelemetry_http::HeaderExtractor;
    use opentelemetry_sdk::propagation::TraceContextPropagator;
    use opentelemetry_sdk::trace::{IdGenerator, RandomIdGenerator};

    use super::*;

    /// What the SDK's propagator makes of a `traceparent`: (trace, span, sampled).
    fn propagator(headers: &http::HeaderMap) -> Option<(TraceId, SpanId, bool)> {
        let context = TraceContextPropagator::new().extract(&HeaderExtractor(headers));
        let span = context.span();
        let parent = span.span_context();
        parent
            .is_valid()
            .then(|| (parent.trace_id(), parent.span_id(), parent.is_sampled()))
    }

    #[test]
    fn the_callers_trace_is_read_as_the_sdks_propagator_reads_it() {
        let trace = "0af7651916cd43dd8448eb211c80319c";
        let span = "b7ad6b7169203331";
        let cases = [
            format!("00-{trace}-{span}-01"),
            format!("00-{trace}-{span}-00"),
            format!("00-{trace}-{span}-03"),
            format!("  00-{trace}-{span}-01  "),
            format!("00-{trace}-{span}-01-extra"),
            format!("01-{trace}-{span}-01-extra"),
            format!("cc-{trace}-{span}-01"),
            format!("ff-{trace}-{span}-01"),
            format!("00-{}-{span}-01", trace.to_uppercase()),
            format!("00-{trace}-{}-01", span.to_uppercase()),
            format!("00-{trace}-{span}-0A"),
            format!("00-{}-{span}-01", "0".repeat(32)),
            format!("00-{trace}-{}-01", "0".repeat(16)),
            format!("00-{trace}-{span}"),
            format!("00-{trace}-{span}-01-"),
            format!("00-{}-{span}-01", &trace[1..]),
            format!("0-{trace}-{span}-01"),
            format!("00-{trace}-{span}-zz"),
            "garbage".to_owned(),
            String::new(),
        ];
        for case in cases {
            let mut headers = http::HeaderMap::new();
            headers.insert("traceparent", case.parse().unwrap());
            let ours = remote_parent(&headers).map(|p| (p.trace_id(), p.span_id(), p.is_sampled()));
            assert_eq!(ours, propagator(&headers), "traceparent {case:?}");
        }
        assert_eq!(remote_parent(&http::HeaderMap::new()), None);

        // Canonical headers, and each with one character changed: the fast reader
        // and the propagator agree on every one.
        let ids = RandomIdGenerator::default();
        let alphabet = b"0123456789abcdefABCDEF-+ xz";
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        for round in 0..2000 {
            let flags = ["00", "01", "03", "ff"][round % 4];
            let mut text =
                format!("00-{}-{}-{flags}", ids.new_trace_id(), ids.new_span_id()).into_bytes();
            if round % 3 != 0 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let at = (seed % 55) as usize;
                text[at] = alphabet[(seed >> 8) as usize % alphabet.len()];
            }
            let text = String::from_utf8(text).unwrap();
            let mut headers = http::HeaderMap::new();
            headers.insert("traceparent", text.parse().unwrap());
            let ours = remote_parent(&headers).map(|p| (p.trace_id(), p.span_id(), p.is_sampled()));
            assert_eq!(ours, propagator(&headers), "traceparent {text:?}");
        }
    }
}
