use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::{Error, HttpMessage};
use tracing::Span;
use tracing::field::Empty;
use tracing_actix_web::RootSpanBuilder;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::request_id;
use super::{metrics, sampling, trace};

/// The root span of each request: the server span of its trace, continuing
/// the caller's `traceparent`. It names the route template, never the raw
/// path or query, which can carry personal data (an address, an email).
///
/// Each request ends with one line carrying its status and latency. That is
/// an event, not the fmt layer's span-close line: span-close timing stamps
/// every poll of the request and cost about a third of a read's CPU.
pub struct RequestSpan;

/// Marks a response as a refusal by an admission gate: a 503 or 429 the
/// service meant, not a failure, so no error line of its own.
pub struct Refused;

/// When the request started, and its route for the request metrics (when
/// they are on).
#[derive(Clone)]
struct Started {
    at: Instant,
    route: Option<String>,
}

impl RootSpanBuilder for RequestSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let route = request
            .match_pattern()
            .unwrap_or_else(|| "unmatched".into());
        request.extensions_mut().insert(Started {
            at: Instant::now(),
            route: metrics::enabled().then(|| format!("{} {}", request.method(), route)),
        });
        let caller = trace::incoming(request.headers());
        if !trace::enabled() || !sampling::decide(&caller) {
            // Not traced: a span for the log lines only. Its target keeps
            // the OpenTelemetry layer (if any) from building span data.
            let span = tracing::info_span!(
                target: sampling::UNSAMPLED,
                "request",
                http.method = %request.method(),
                http.route = %route,
                request_id = %request_id::resolve(request),
                trace_id = Empty,
            );
            // The caller's trace id still joins the logs to its trace.
            if request.headers().contains_key("traceparent")
                && let (Some(trace_id), _) = trace::ids(&span, &caller)
            {
                span.record("trace_id", trace_id);
            }
            return span;
        }
        let span = tracing::info_span!(
            "request",
            otel.name = %format_args!("{} {}", request.method(), route),
            otel.kind = "server",
            http.method = %request.method(),
            http.route = %route,
            request_id = %request_id::resolve(request),
            trace_id = Empty,
            span_id = Empty,
            http.response.status_code = Empty,
            otel.status_code = Empty,
        );
        let _ = span.set_parent(caller.clone());
        let (trace_id, span_id) = trace::ids(&span, &caller);
        if let Some(trace_id) = trace_id {
            span.record("trace_id", trace_id);
        }
        if let Some(span_id) = span_id {
            span.record("span_id", span_id);
        }
        span
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        let (status, error, started) = match outcome {
            Ok(response) => (
                response.status(),
                response
                    .response()
                    .error()
                    .filter(|_| !response.response().extensions().contains::<Refused>()),
                response.request().extensions_mut().remove::<Started>(),
            ),
            Err(error) => (error.as_response_error().status_code(), Some(error), None),
        };
        span.record("http.response.status_code", status.as_u16());
        if status.is_server_error() {
            span.record("otel.status_code", "ERROR");
        }
        let _entered = span.enter();
        // A client's mistake is not an error of ours: only 5xx are logged at
        // ERROR, once, with the whole cause chain.
        if let Some(error) = error.filter(|_| status.is_server_error()) {
            tracing::error!(error = ?error.as_response_error(), "request failed");
        }
        let latency = started.as_ref().map(|started| started.at.elapsed());
        if let (
            Some(Started {
                route: Some(route), ..
            }),
            Some(latency),
        ) = (&started, latency)
        {
            metrics::request(route, status.as_u16(), latency);
        }
        let latency_us = latency.map(|latency| latency.as_micros() as u64);
        tracing::info!(
            http.status_code = status.as_u16(),
            latency_us,
            "request finished"
        );
    }
}
