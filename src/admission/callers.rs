//! A token bucket per caller (GCRA, through `governor`), so one caller
//! cannot take a task's whole capacity: a customer's account has one, staff
//! (the admin and fulfilment groups) a larger one each, and without tokens
//! (`AUTH_MODE=off`) each client address has a customer's. Buckets are per
//! task; the edge throttle bounds the fleet as a whole.
//!
//! Memory stays bounded however many callers come: a full bucket (a caller
//! idle long enough to have refilled it) says nothing and is dropped every
//! [`HOUSEKEEPING`]; past the configured number of callers, idle buckets are
//! dropped at once and, if that is not enough, new callers share one bucket
//! until there is room again.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota as Gcra, RateLimiter};

use crate::config::{Quota, RateLimitSettings};

/// How often full buckets are dropped.
pub const HOUSEKEEPING: Duration = Duration::from_secs(10);
/// The least time between two unscheduled clean-ups (at the callers' bound).
const EARLIEST_CLEANUP: Duration = Duration::from_secs(1);

/// Whose bucket a request draws from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CallerKey {
    /// A token's `sub`.
    Account(String),
    /// The client address, without tokens.
    Address(IpAddr),
    /// New callers past the bound, together.
    Overflow,
}

/// Which bucket size a caller has; named in the `RateLimit` fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    Customer,
    Staff,
}

impl Tier {
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Customer => "customer",
            Tier::Staff => "staff",
        }
    }
}

/// A bucket's answer, with what the `RateLimit` fields report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    pub tier: Tier,
    pub quota: Quota,
    /// Requests left in the bucket after this one.
    pub remaining: u32,
    /// Until the bucket is full again (admitted), or until the next request
    /// would be (refused).
    pub reset: Duration,
    pub admitted: bool,
}

type Buckets = RateLimiter<
    CallerKey,
    DefaultKeyedStateStore<CallerKey>,
    DefaultClock,
    StateInformationMiddleware,
>;

pub struct CallerLimits {
    customers: Buckets,
    staff: Buckets,
    customer_quota: Quota,
    staff_quota: Quota,
    max_callers: usize,
    last_cleanup: Mutex<Instant>,
    refused: AtomicU64,
}

impl CallerLimits {
    pub fn new(settings: &RateLimitSettings) -> Arc<Self> {
        let buckets = |quota: Quota| {
            RateLimiter::keyed(gcra(quota)).with_middleware::<StateInformationMiddleware>()
        };
        Arc::new(Self {
            customers: buckets(settings.customer),
            staff: buckets(settings.staff),
            customer_quota: settings.customer,
            staff_quota: settings.staff,
            max_callers: settings.max_callers as usize,
            last_cleanup: Mutex::new(Instant::now()),
            refused: AtomicU64::new(0),
        })
    }

    /// Takes one request from `key`'s bucket of `tier`, if it has one.
    pub fn check(&self, key: CallerKey, tier: Tier) -> Verdict {
        let (buckets, quota) = match tier {
            Tier::Customer => (&self.customers, self.customer_quota),
            Tier::Staff => (&self.staff, self.staff_quota),
        };
        let key = if self.callers() >= self.max_callers && !self.make_room() {
            CallerKey::Overflow
        } else {
            key
        };
        let per_request = Duration::from_secs(1) / quota.per_second;
        match buckets.check_key(&key) {
            Ok(state) => {
                let remaining = state.remaining_burst_capacity();
                Verdict {
                    tier,
                    quota,
                    remaining,
                    reset: per_request * quota.burst.saturating_sub(remaining),
                    admitted: true,
                }
            }
            Err(not_until) => {
                self.refused.fetch_add(1, Ordering::Relaxed);
                Verdict {
                    tier,
                    quota,
                    remaining: 0,
                    reset: not_until.wait_time_from(buckets.clock().now()),
                    admitted: false,
                }
            }
        }
    }

    /// Callers with a bucket now.
    pub fn callers(&self) -> usize {
        self.customers.len() + self.staff.len()
    }

    /// Requests refused since the start.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// Drops the buckets of callers idle long enough to have refilled them.
    pub fn drop_full_buckets(&self) {
        for buckets in [&self.customers, &self.staff] {
            buckets.retain_recent();
            buckets.shrink_to_fit();
        }
    }

    /// At the bound: clean up now (at most once a second), and say whether
    /// that made room.
    fn make_room(&self) -> bool {
        let mut last = self.last_cleanup.lock().unwrap_or_else(|e| e.into_inner());
        if last.elapsed() >= EARLIEST_CLEANUP {
            *last = Instant::now();
            self.drop_full_buckets();
        }
        self.callers() < self.max_callers
    }
}

fn gcra(quota: Quota) -> Gcra {
    let nonzero = |n: u32| NonZeroU32::new(n.max(1)).expect("at least one");
    Gcra::per_second(nonzero(quota.per_second)).allow_burst(nonzero(quota.burst))
}

/// Drops full buckets every [`HOUSEKEEPING`], for as long as the service runs.
pub async fn housekeeping(limits: Arc<CallerLimits>) {
    let mut every = tokio::time::interval(HOUSEKEEPING);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        limits.drop_full_buckets();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(burst: u32, max_callers: u32) -> Arc<CallerLimits> {
        CallerLimits::new(&RateLimitSettings {
            customer: Quota {
                per_second: 1,
                burst,
            },
            staff: Quota {
                per_second: 1,
                burst: burst * 10,
            },
            max_callers,
        })
    }

    fn account(name: &str) -> CallerKey {
        CallerKey::Account(name.to_owned())
    }

    #[test]
    fn each_caller_has_a_bucket_of_its_own_and_staff_a_larger_one() {
        let limits = limits(3, 100);
        let first: Vec<Verdict> = (0..4)
            .map(|_| limits.check(account("a"), Tier::Customer))
            .collect();
        assert_eq!(
            first.iter().map(|v| v.remaining).collect::<Vec<_>>(),
            [2, 1, 0, 0]
        );
        assert!(first[..3].iter().all(|v| v.admitted));
        assert!(
            !first[3].admitted,
            "the fourth in a burst of three is refused"
        );
        assert!(first[3].reset > Duration::ZERO && first[3].reset <= Duration::from_secs(1));
        assert!(
            limits.check(account("b"), Tier::Customer).admitted,
            "b has its own"
        );
        let staff = (0..30)
            .filter(|_| limits.check(account("s"), Tier::Staff).admitted)
            .count();
        assert_eq!(staff, 30);
        assert_eq!(limits.refused(), 1);
    }

    #[test]
    fn past_the_bound_new_callers_share_one_bucket_and_memory_stays_bounded() {
        let limits = limits(2, 3);
        for name in ["a", "b", "c"] {
            limits.check(account(name), Tier::Customer);
        }
        // Three live buckets: d and e draw from the shared one.
        assert!(limits.check(account("d"), Tier::Customer).admitted);
        assert!(limits.check(account("e"), Tier::Customer).admitted);
        assert!(!limits.check(account("f"), Tier::Customer).admitted);
        assert!(limits.callers() <= 4, "{} buckets", limits.callers());
    }
}
