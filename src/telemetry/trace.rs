//! OpenTelemetry traces: the exporter, from the standard `OTEL_*` variables,
//! and W3C trace context in and out of the process.
//!
//! Tracing is on only when an OTLP endpoint is configured. When it is off no
//! OpenTelemetry layer is installed, so spans cost what they cost without it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use actix_web::http::header::HeaderMap;
use opentelemetry::Context;
use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceId};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{IdGenerator, RandomIdGenerator, SdkTracerProvider, SpanExporter};
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::sampling::{self, Sampling};

const SERVICE_NAME: &str = "ecommerce-service";

/// Whether spans go to OpenTelemetry: set once, when the subscriber is built
/// with a tracer provider. Off, the request path skips everything that only
/// traces use (per-call spans, trace-context fields).
static ENABLED: AtomicBool = AtomicBool::new(false);

pub(crate) fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

pub(super) fn enable() {
    ENABLED.store(true, Ordering::Relaxed);
}

/// Whether the code running now is traced: tracing is on, and this is not
/// an unsampled request (whose storage calls then open no span).
pub(crate) fn traced_here() -> bool {
    enabled()
        && Span::current()
            .metadata()
            .is_none_or(|metadata| metadata.target() != sampling::UNSAMPLED)
}

/// The tracer provider the environment asks for, if any: OTLP over HTTP to
/// `OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT`, sampled as `sampling` says (from
/// `OTEL_TRACES_SAMPLER`), named by `OTEL_SERVICE_NAME` (default
/// `ecommerce-service`).
pub fn provider_from_env(sampling: &Sampling) -> anyhow::Result<Option<SdkTracerProvider>> {
    let set = |name: &str| std::env::var(name).is_ok_and(|value| !value.trim().is_empty());
    let disabled = std::env::var("OTEL_SDK_DISABLED").is_ok_and(|value| value == "true");
    if disabled
        || !(set("OTEL_EXPORTER_OTLP_ENDPOINT") || set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
    {
        return Ok(None);
    }
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .build()?;
    // The batch processor exports from its own thread, off the request path.
    let builder = SdkTracerProvider::builder().with_batch_exporter(exporter);
    Ok(Some(
        builder
            .with_sampler(sampling.sdk_sampler())
            .with_id_generator(XrayCompatibleIds::default())
            .with_resource(resource())
            .build(),
    ))
}

/// A provider that hands every span to `exporter` as it ends (tests).
pub fn provider_with(exporter: impl SpanExporter + 'static) -> SdkTracerProvider {
    SdkTracerProvider::builder()
        .with_simple_exporter(exporter)
        .with_id_generator(XrayCompatibleIds::default())
        .with_resource(resource())
        .build()
}

/// Trace ids that start with the time in epoch seconds (the other 12 bytes
/// random), as X-Ray requires: the collector's X-Ray exporter drops spans of
/// fully random trace ids. Any other backend takes them as they are.
#[derive(Debug, Default)]
struct XrayCompatibleIds(RandomIdGenerator);

impl IdGenerator for XrayCompatibleIds {
    fn new_trace_id(&self) -> TraceId {
        let mut bytes = self.0.new_trace_id().to_bytes();
        let seconds = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_secs() as u32);
        bytes[..4].copy_from_slice(&seconds.to_be_bytes());
        TraceId::from_bytes(bytes)
    }

    fn new_span_id(&self) -> SpanId {
        self.0.new_span_id()
    }
}

fn resource() -> Resource {
    let builder = Resource::builder();
    if std::env::var_os("OTEL_SERVICE_NAME").is_some() {
        builder.build()
    } else {
        builder.with_service_name(SERVICE_NAME).build()
    }
}

struct Headers<'a>(&'a HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|name| name.as_str()).collect()
    }
}

/// The caller's trace, from its `traceparent` and `tracestate` headers.
pub(crate) fn incoming(headers: &HeaderMap) -> Context {
    TraceContextPropagator::new().extract(&Headers(headers))
}

/// The trace and span ids to log for `span`: its own when tracing is on,
/// otherwise the caller's trace id (so logs still join the caller's trace).
pub(crate) fn ids(span: &Span, caller: &Context) -> (Option<String>, Option<String>) {
    let own = span.context().span().span_context().clone();
    if own.is_valid() {
        return (
            Some(own.trace_id().to_string()),
            Some(own.span_id().to_string()),
        );
    }
    let caller = caller.span().span_context().clone();
    (
        caller.is_valid().then(|| caller.trace_id().to_string()),
        None,
    )
}

/// `span`'s context as W3C headers (`traceparent`, and `tracestate` when
/// there is one), for a message that carries the trace onwards. Empty when
/// tracing is off.
pub(crate) fn outgoing(span: &Span) -> HashMap<String, String> {
    let mut carrier = HashMap::new();
    let context = span.context();
    if context.span().span_context().is_valid() {
        TraceContextPropagator::new().inject_context(&context, &mut carrier);
    }
    // An empty `tracestate` is written as an empty value, which SNS refuses
    // as a message attribute.
    carrier.retain(|_, value| !value.is_empty());
    carrier
}

/// `span`'s context in X-Ray's header format, as EventBridge's `TraceHeader`
/// takes it: `Root=1-<8 hex>-<24 hex>;Parent=<16 hex>;Sampled=<0|1>`.
pub(crate) fn xray_header(span: &Span) -> Option<String> {
    let context = span.context();
    let span_context = context.span().span_context().clone();
    span_context.is_valid().then(|| {
        let trace_id = span_context.trace_id().to_string();
        format!(
            "Root=1-{}-{};Parent={};Sampled={}",
            &trace_id[..8],
            &trace_id[8..],
            span_context.span_id(),
            u8::from(span_context.is_sampled()),
        )
    })
}

/// The span context written in a `traceparent` value, if it is one.
pub(crate) fn parse_traceparent(traceparent: &str) -> Option<SpanContext> {
    let carrier = HashMap::from([("traceparent".to_owned(), traceparent.to_owned())]);
    let context = TraceContextPropagator::new().extract(&carrier);
    let span_context = context.span().span_context().clone();
    span_context.is_valid().then_some(span_context)
}
