//! Logs and traces: one subscriber for the process, and the span every
//! request runs in.

pub mod metrics;
mod request;
pub(crate) mod request_id;
pub mod sampling;
pub mod trace;

pub use request::{Refused, RequestSpan};

use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

use crate::config::LogFormat;

/// Keeps logs and traces flowing; dropping it flushes both.
pub struct Telemetry {
    _logs: WorkerGuard,
    traces: Option<SdkTracerProvider>,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        metrics::flush();
        if let Some(provider) = self.traces.take()
            && let Err(error) = provider.shutdown()
        {
            eprintln!("traces were not all exported: {error}");
        }
    }
}

/// Installs the global subscriber: log lines on stdout, OpenTelemetry spans
/// when `OTEL_EXPORTER_OTLP_ENDPOINT` is set (sampled as `sampling` says),
/// and EMF metric lines every `metrics_interval` if given. Lines go through
/// a non-blocking writer so a slow stdout never stalls a request.
pub fn init(
    format: LogFormat,
    metrics_interval: Option<Duration>,
    caller_sampled_per_second: u32,
) -> anyhow::Result<Telemetry> {
    // The writer thread flushes whenever its queue runs dry; buffering in
    // between turns a burst of lines into one write instead of one each.
    let stdout = std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout());
    let (writer, guard) = tracing_appender::non_blocking(stdout);
    let sampling = sampling::Sampling::from_env(caller_sampled_per_second)?;
    let traces = trace::provider_from_env(&sampling)?;
    sampling::install(sampling);
    if let Some(interval) = metrics_interval {
        metrics::install(Box::new(writer.clone()), interval);
    }
    subscriber(format, writer, traces.as_ref()).init();
    Ok(Telemetry {
        _logs: guard,
        traces,
    })
}

/// The subscriber `init` installs, writing to `writer` and exporting spans
/// through `traces` if given (tests pass an in-memory exporter).
pub fn subscriber<W>(
    format: LogFormat,
    writer: W,
    traces: Option<&SdkTracerProvider>,
) -> impl tracing::Subscriber + Send + Sync
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let lines: Box<dyn Layer<Registry> + Send + Sync> = match format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .with_writer(writer)
            .boxed(),
        LogFormat::Pretty => tracing_subscriber::fmt::layer().with_writer(writer).boxed(),
    };
    let spans = traces.map(|provider| {
        trace::enable();
        // Unsampled requests never reach the OpenTelemetry layer (see
        // sampling.rs): it builds no span data for them.
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("ecommerce-service"))
            .with_location(false)
            .with_threads(false)
            .with_filter(tracing_subscriber::filter::filter_fn(|metadata| {
                metadata.target() != sampling::UNSAMPLED
            }))
    });
    Registry::default().with(lines).with(spans).with(filter)
}
