//! Which requests are traced, decided before their span is built.
//!
//! The OpenTelemetry layer builds a span's data (its builder, attributes,
//! events) for every span it sees, and the SDK's sampler drops the unsampled
//! ones only afterwards. So a request is decided here first: an unsampled
//! request's span carries [`UNSAMPLED`] as its target, the OpenTelemetry
//! layer's filter never lets it in, and its storage calls open no span of
//! their own. It then costs what it costs with tracing off.
//!
//! The decision follows the standard `OTEL_TRACES_SAMPLER` and
//! `OTEL_TRACES_SAMPLER_ARG` variables, with one limit of ours: a caller's
//! sampled flag (`traceparent` ending in `-01`) is honoured at most
//! `TRACE_CALLER_SAMPLED_PER_SECOND` times a second, so a client cannot make
//! the service trace (and pay for) every request it sends.

use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use opentelemetry::trace::{SpanKind, TraceContextExt, TraceId};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::{Sampler, SamplingDecision, SamplingResult, ShouldSample};

/// The target of an unsampled request's span: a child of the crate's
/// target, so `RUST_LOG=ecommerce_service=...` still logs it.
pub(crate) const UNSAMPLED: &str = "ecommerce_service::telemetry::unsampled";

#[derive(Debug, thiserror::Error)]
pub enum SamplingError {
    #[error("OTEL_TRACES_SAMPLER={0} is not one this service supports")]
    UnknownSampler(String),
    #[error("OTEL_TRACES_SAMPLER_ARG={0} is not a ratio from 0 to 1")]
    BadRatio(String),
}

/// How requests are sampled.
#[derive(Debug)]
pub struct Sampling {
    /// The share of new traces (no caller decision) that are sampled.
    root_ratio: f64,
    /// Whether a caller's decision counts (the `parentbased_*` samplers).
    parent_based: bool,
    caller_budget: Budget,
}

static SAMPLING: OnceLock<Sampling> = OnceLock::new();

impl Sampling {
    /// From `OTEL_TRACES_SAMPLER` (default `parentbased_always_on`) and
    /// `OTEL_TRACES_SAMPLER_ARG` (default 1).
    pub fn from_env(caller_sampled_per_second: u32) -> Result<Self, SamplingError> {
        let sampler = std::env::var("OTEL_TRACES_SAMPLER")
            .unwrap_or_else(|_| "parentbased_always_on".to_owned());
        let ratio = match std::env::var("OTEL_TRACES_SAMPLER_ARG") {
            Err(_) => 1.0,
            Ok(text) => text
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|ratio| (0.0..=1.0).contains(ratio))
                .ok_or(SamplingError::BadRatio(text))?,
        };
        let (root_ratio, parent_based) = match sampler.trim() {
            "always_on" => (1.0, false),
            "always_off" => (0.0, false),
            "traceidratio" => (ratio, false),
            "parentbased_always_on" => (1.0, true),
            "parentbased_always_off" => (0.0, true),
            "parentbased_traceidratio" => (ratio, true),
            other => return Err(SamplingError::UnknownSampler(other.to_owned())),
        };
        Ok(Self {
            root_ratio,
            parent_based,
            caller_budget: Budget::per_second(caller_sampled_per_second),
        })
    }

    /// Every request traced: for tests that export to memory.
    pub fn always() -> Self {
        Self {
            root_ratio: 1.0,
            parent_based: true,
            caller_budget: Budget::per_second(u32::MAX),
        }
    }

    /// The SDK sampler for the spans this module does not decide: spans
    /// within a request follow it (their parent is sampled), and the
    /// notification consumer's spans are new traces sampled at the same ratio.
    pub(crate) fn sdk_sampler(&self) -> RequestsDecidedFirst {
        let root = if self.root_ratio >= 1.0 {
            Sampler::AlwaysOn
        } else if self.root_ratio <= 0.0 {
            Sampler::AlwaysOff
        } else {
            Sampler::TraceIdRatioBased(self.root_ratio)
        };
        RequestsDecidedFirst(if self.parent_based {
            Sampler::ParentBased(Box::new(root))
        } else {
            root
        })
    }

    /// Whether a request continuing `caller` is traced.
    fn decide(&self, caller: &Context) -> bool {
        let parent = caller.span().span_context().clone();
        if self.parent_based && parent.is_valid() {
            return parent.is_sampled() && self.caller_budget.take();
        }
        self.root_ratio >= 1.0 || (self.root_ratio > 0.0 && fastrand::f64() < self.root_ratio)
    }
}

/// Installs the process's sampling (once; later calls change nothing).
pub fn install(sampling: Sampling) {
    let _ = SAMPLING.set(sampling);
}

/// Whether a request continuing `caller` is traced. Without installed
/// sampling (tests), every request is.
pub(crate) fn decide(caller: &Context) -> bool {
    SAMPLING
        .get()
        .is_none_or(|sampling| sampling.decide(caller))
}

/// A token bucket: at most `rate` takes a second, in bursts of `rate`.
#[derive(Debug)]
struct Budget {
    rate: f64,
    state: Mutex<(f64, Instant)>,
}

impl Budget {
    fn per_second(rate: u32) -> Self {
        let rate = f64::from(rate);
        Self {
            rate,
            state: Mutex::new((rate, Instant::now())),
        }
    }

    fn take(&self) -> bool {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let (tokens, last) = &mut *state;
        let now = Instant::now();
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * self.rate).min(self.rate);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// The SDK's sampler: a request's server span reaches the SDK only when
/// [`decide`] said yes (the layer's filter keeps the others out), so it is
/// recorded and sampled; every other span follows the configured sampler.
#[derive(Debug, Clone)]
pub(crate) struct RequestsDecidedFirst(Sampler);

impl ShouldSample for RequestsDecidedFirst {
    fn should_sample(
        &self,
        parent_context: Option<&Context>,
        trace_id: TraceId,
        name: &str,
        span_kind: &SpanKind,
        attributes: &[KeyValue],
        links: &[opentelemetry::trace::Link],
    ) -> SamplingResult {
        if *span_kind == SpanKind::Server {
            let trace_state = parent_context
                .map(|context| context.span().span_context().trace_state().clone())
                .unwrap_or_default();
            return SamplingResult {
                decision: SamplingDecision::RecordAndSample,
                attributes: Vec::new(),
                trace_state,
            };
        }
        self.0
            .should_sample(parent_context, trace_id, name, span_kind, attributes, links)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceState};

    fn caller(sampled: bool) -> Context {
        let flags = if sampled {
            TraceFlags::SAMPLED
        } else {
            TraceFlags::default()
        };
        let context = SpanContext::new(
            TraceId::from_bytes([7; 16]),
            SpanId::from_bytes([9; 8]),
            flags,
            true,
            TraceState::default(),
        );
        Context::new().with_remote_span_context(context)
    }

    fn sampling(root_ratio: f64, parent_based: bool, per_second: u32) -> Sampling {
        Sampling {
            root_ratio,
            parent_based,
            caller_budget: Budget::per_second(per_second),
        }
    }

    #[test]
    fn a_callers_sampled_flag_is_honoured_up_to_the_budget() {
        let capped = sampling(0.0, true, 3);
        let honoured = (0..10).filter(|_| capped.decide(&caller(true))).count();
        assert_eq!(honoured, 3, "a burst of the budget, then none");
        assert!(
            !capped.decide(&caller(false)),
            "an unsampled caller is not traced"
        );
    }

    #[test]
    fn new_traces_are_sampled_at_the_ratio() {
        let tenth = sampling(0.1, true, 0);
        let sampled = (0..100_000)
            .filter(|_| tenth.decide(&Context::new()))
            .count();
        assert!(
            (9_000..11_000).contains(&sampled),
            "{sampled} of 100,000 at a ratio of 0.1"
        );
        assert!(
            sampling(1.0, false, 0).decide(&caller(false)),
            "always_on ignores the caller"
        );
        assert!(!sampling(0.0, false, 100).decide(&caller(true)));
    }
}
