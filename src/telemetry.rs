//! Logging: one subscriber for the process, and the span every request runs in.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::{Error, HttpMessage};
use std::time::Instant;
use tracing::Span;
use tracing_actix_web::RootSpanBuilder;
use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;
use crate::http::request_id;

/// Installs the global subscriber. Lines go through a non-blocking writer so
/// a slow stdout never stalls a request; keep the guard alive until exit so
/// the last lines are flushed.
pub fn init(format: LogFormat) -> WorkerGuard {
    // The writer thread flushes whenever its queue runs dry; buffering in
    // between turns a burst of lines into one write instead of one each.
    let stdout = std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout());
    let (writer, guard) = tracing_appender::non_blocking(stdout);
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .init(),
        LogFormat::Pretty => builder.init(),
    }
    guard
}

/// The root span of each request. It names the route template, never the
/// raw path or query, which can carry personal data.
///
/// Each request ends with one line carrying its status and latency. That is
/// an event, not the fmt layer's span-close line: span-close timing stamps
/// every poll of the request and cost about a third of a read's CPU.
pub struct RequestSpan;

#[derive(Clone, Copy)]
struct Started(Instant);

impl RootSpanBuilder for RequestSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let route = request
            .match_pattern()
            .unwrap_or_else(|| "unmatched".into());
        request.extensions_mut().insert(Started(Instant::now()));
        tracing::info_span!(
            "request",
            http.method = %request.method(),
            http.route = %route,
            request_id = %request_id::of(request),
        )
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        let (status, error, started) = match outcome {
            Ok(response) => (
                response.status(),
                response.response().error(),
                response.request().extensions().get::<Started>().copied(),
            ),
            Err(error) => (error.as_response_error().status_code(), Some(error), None),
        };
        let _entered = span.enter();
        // A client's mistake is not an error of ours: only 5xx are logged at
        // ERROR, once, with the whole cause chain.
        if let Some(error) = error.filter(|_| status.is_server_error()) {
            tracing::error!(error = ?error.as_response_error(), "request failed");
        }
        let latency_us = started.map(|Started(at)| at.elapsed().as_micros() as u64);
        tracing::info!(
            http.status_code = status.as_u16(),
            latency_us,
            "request finished"
        );
    }
}
