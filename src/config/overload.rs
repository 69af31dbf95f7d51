//! What the service takes on when it is offered more than it can answer in
//! time: the admission gates and the per-caller token buckets.

use std::time::Duration;

use super::ConfigError;
use super::args::{SettingsArgs, Toggle};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverloadSettings {
    /// `None`: every request is admitted (`ADMISSION=off`).
    pub admission: Option<AdmissionSettings>,
    /// `None`: no per-caller bound (`RATE_LIMIT=off`).
    pub rate_limit: Option<RateLimitSettings>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdmissionSettings {
    pub min_in_flight: u32,
    pub max_in_flight: u32,
    pub latency_target: Duration,
    pub queue_target: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitSettings {
    pub customer: Quota,
    pub staff: Quota,
    pub max_callers: u32,
}

/// A token bucket: `burst` requests at once, refilled at `per_second`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub per_second: u32,
    pub burst: u32,
}

impl OverloadSettings {
    /// Both off: for harnesses that measure or race the service itself.
    pub fn off() -> Self {
        Self {
            admission: None,
            rate_limit: None,
        }
    }
}

pub(super) fn overload(args: &SettingsArgs) -> Result<OverloadSettings, ConfigError> {
    if args.admission_min_in_flight > args.admission_max_in_flight {
        return Err(ConfigError {
            name: "ADMISSION_MIN_IN_FLIGHT".into(),
            value: args.admission_min_in_flight.to_string(),
            expected: format!(
                "at most ADMISSION_MAX_IN_FLIGHT ({})",
                args.admission_max_in_flight
            ),
        });
    }
    let admission = (args.admission == Toggle::On).then_some(AdmissionSettings {
        min_in_flight: args.admission_min_in_flight,
        max_in_flight: args.admission_max_in_flight,
        latency_target: args.admission_latency_target_ms,
        queue_target: args.admission_queue_target_ms,
    });
    let rate_limit = (args.rate_limit == Toggle::On).then_some(RateLimitSettings {
        customer: Quota {
            per_second: args.rate_limit_per_second,
            burst: args.rate_limit_burst,
        },
        staff: Quota {
            per_second: args.rate_limit_staff_per_second,
            burst: args.rate_limit_staff_burst,
        },
        max_callers: args.rate_limit_max_callers,
    });
    Ok(OverloadSettings {
        admission,
        rate_limit,
    })
}
