//! Logging: one subscriber for the process, and the span every request runs in.

use actix_web::Error;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use tracing::Span;
use tracing_actix_web::RootSpanBuilder;
use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;

use crate::config::LogFormat;
use crate::http::request_id;

/// Installs the global subscriber. Lines go through a non-blocking writer so
/// a slow stdout never stalls a request; keep the guard alive until exit so
/// the last lines are flushed.
pub fn init(format: LogFormat) -> WorkerGuard {
    let (writer, guard) = tracing_appender::non_blocking(std::io::stdout());
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        // One line when a request span closes: its fields and its duration.
        .with_span_events(FmtSpan::CLOSE);
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
pub struct RequestSpan;

impl RootSpanBuilder for RequestSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let route = request
            .match_pattern()
            .unwrap_or_else(|| "unmatched".into());
        tracing::info_span!(
            "request",
            http.method = %request.method(),
            http.route = %route,
            request_id = %request_id::of(request),
            http.status_code = tracing::field::Empty,
        )
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        let (status, error) = match outcome {
            Ok(response) => (response.status(), response.response().error()),
            Err(error) => (error.as_response_error().status_code(), Some(error)),
        };
        span.record("http.status_code", status.as_u16());
        // A client's mistake is not an error of ours: only 5xx are logged at
        // ERROR, once, with the whole cause chain.
        if let Some(error) = error.filter(|_| status.is_server_error()) {
            let _entered = span.enter();
            tracing::error!(error = ?error.as_response_error(), "request failed");
        }
    }
}
