//! The limit on requests in flight, adapted from how fast they are answered
//! (AIMD, as TCP adapts its congestion window). An answer within the latency
//! target while the limit is in use raises the limit (by one for an answer
//! in half the target, else by `1/limit`); a slower one, or a 503 from storage, cuts it
//! in proportion to how far past the target it was (to a half at most), and
//! at most once per target's time, so one slow burst is one cut, not one per
//! request it held. Past the limit a request is refused at once: when a
//! dependency slows down, the requests waiting on it stay bounded, and so do
//! memory and latency, instead of piling up while the balancer keeps sending.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::config::AdmissionSettings;

/// The least a cut leaves of the limit.
const DEEPEST_CUT: f64 = 0.5;
/// The most a cut leaves of it (an answer just past the target).
const SHALLOWEST_CUT: f64 = 0.9;

pub struct ConcurrencyLimit {
    in_flight: AtomicUsize,
    /// The limit rounded down, read by every admission without the lock.
    admit_below: AtomicUsize,
    aimd: Mutex<Aimd>,
    refused: AtomicU64,
    min: f64,
    max: f64,
    target: Duration,
}

struct Aimd {
    limit: f64,
    last_cut: Option<Instant>,
}

/// How an admitted request ended, for the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Answered,
    /// A dependency was unavailable (storage throttled or timed out, the
    /// signing keys unreachable): a loss, whatever the latency.
    Dropped,
}

impl ConcurrencyLimit {
    /// Starts at the ceiling: a healthy service is never limited, and the
    /// first slowdown brings the limit down within a few targets' time.
    pub fn new(settings: &AdmissionSettings) -> Self {
        let max = f64::from(settings.max_in_flight);
        Self {
            in_flight: AtomicUsize::new(0),
            admit_below: AtomicUsize::new(settings.max_in_flight as usize),
            aimd: Mutex::new(Aimd {
                limit: max,
                last_cut: None,
            }),
            refused: AtomicU64::new(0),
            min: f64::from(settings.min_in_flight),
            max,
            target: settings.latency_target,
        }
    }

    /// A permit for one request, or `None` when the limit is reached.
    pub fn try_acquire(&self) -> Option<Permit<'_>> {
        let before = self.in_flight.fetch_add(1, Ordering::AcqRel);
        if before >= self.admit_below.load(Ordering::Acquire) {
            self.in_flight.fetch_sub(1, Ordering::AcqRel);
            self.refused.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        Some(Permit {
            limit: self,
            started: Instant::now(),
            in_use: before + 1,
            done: false,
        })
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    pub fn limit(&self) -> usize {
        self.admit_below.load(Ordering::Acquire)
    }

    /// Requests refused since the start.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    fn finish(&self, latency: Duration, in_use: usize, outcome: Outcome) {
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
        let now = Instant::now();
        let mut aimd = self.aimd.lock().unwrap_or_else(|e| e.into_inner());
        let slow = latency > self.target;
        if outcome == Outcome::Dropped || slow {
            let cut_recently = aimd
                .last_cut
                .is_some_and(|at| now.duration_since(at) < self.target);
            if !cut_recently {
                let kept = if slow {
                    (self.target.as_secs_f64() / latency.as_secs_f64())
                        .clamp(DEEPEST_CUT, SHALLOWEST_CUT)
                } else {
                    SHALLOWEST_CUT
                };
                aimd.limit = (aimd.limit * kept).max(self.min);
                aimd.last_cut = Some(now);
            }
        } else if in_use as f64 * 2.0 >= aimd.limit {
            // Only a limit in use grows: an idle service's limit says
            // nothing about what it could take. An answer in half the
            // target adds a whole place (the limit doubles in a round of
            // such answers, as TCP's slow start), so a dependency that has
            // recovered gets its traffic back within a second; one nearer
            // the target adds a limit's worth of answers for one place.
            let step = if latency <= self.target / 2 {
                1.0
            } else {
                1.0 / aimd.limit
            };
            aimd.limit = (aimd.limit + step).min(self.max);
        }
        self.admit_below
            .store(aimd.limit.floor() as usize, Ordering::Release);
    }
}

/// A request admitted past the limit; it counts as in flight until finished
/// (or dropped: a request cancelled by its client counts as answered).
pub struct Permit<'a> {
    limit: &'a ConcurrencyLimit,
    started: Instant,
    in_use: usize,
    done: bool,
}

impl Permit<'_> {
    pub fn finish(self, outcome: Outcome) {
        let latency = self.started.elapsed();
        self.finish_after(latency, outcome);
    }

    fn finish_after(mut self, latency: Duration, outcome: Outcome) {
        self.done = true;
        self.limit.finish(latency, self.in_use, outcome);
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if !self.done {
            let latency = self.started.elapsed();
            self.limit.finish(latency, self.in_use, Outcome::Answered);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(min: u32, max: u32, target_ms: u64) -> AdmissionSettings {
        AdmissionSettings {
            min_in_flight: min,
            max_in_flight: max,
            latency_target: Duration::from_millis(target_ms),
            queue_target: Duration::from_millis(20),
        }
    }

    #[test]
    fn refuses_past_the_limit_and_admits_again_once_a_request_is_answered() {
        let limit = ConcurrencyLimit::new(&settings(2, 2, 1_000));
        let first = limit.try_acquire().expect("one of two");
        let second = limit.try_acquire().expect("two of two");
        assert!(limit.try_acquire().is_none(), "a third is refused");
        assert_eq!(limit.refused(), 1);
        first.finish(Outcome::Answered);
        let third = limit.try_acquire().expect("a place came free");
        drop((second, third));
        assert_eq!(limit.in_flight(), 0);
    }

    #[test]
    fn a_dropped_answer_cuts_the_limit_once_per_target_and_never_below_the_floor() {
        let limit = ConcurrencyLimit::new(&settings(4, 100, 60_000));
        limit.try_acquire().unwrap().finish(Outcome::Dropped);
        assert_eq!(limit.limit(), 90, "cut to nine tenths");
        limit.try_acquire().unwrap().finish(Outcome::Dropped);
        assert_eq!(
            limit.limit(),
            90,
            "a second loss within the target is the same slowdown"
        );
        let floor = ConcurrencyLimit::new(&settings(4, 5, 1));
        for _ in 0..5 {
            std::thread::sleep(Duration::from_millis(2));
            floor.try_acquire().unwrap().finish(Outcome::Dropped);
        }
        assert_eq!(floor.limit(), 4);
    }

    #[test]
    fn a_limit_in_use_grows_back_to_the_ceiling_and_an_idle_one_does_not() {
        let limit = ConcurrencyLimit::new(&settings(4, 8, 60_000));
        limit.try_acquire().unwrap().finish(Outcome::Dropped);
        assert_eq!(limit.limit(), 7, "8 * 0.9 = 7.2");
        for _ in 0..50 {
            limit.try_acquire().unwrap().finish(Outcome::Answered);
        }
        assert_eq!(limit.limit(), 7, "one at a time does not use a limit of 7");
        let permits: Vec<_> = (0..7).map(|_| limit.try_acquire().unwrap()).collect();
        permits
            .into_iter()
            .for_each(|p| p.finish(Outcome::Answered));
        // Fast answers from 4 to 7 at once (in use: at least half the limit) add one each.
        assert_eq!(limit.limit(), 8, "back to the ceiling, and no further");
    }

    #[test]
    fn answers_near_the_target_grow_the_limit_by_one_per_limits_worth() {
        let limit = ConcurrencyLimit::new(&settings(4, 100, 20));
        limit.try_acquire().unwrap().finish(Outcome::Dropped);
        assert_eq!(limit.limit(), 90);
        let permits: Vec<_> = (0..60).map(|_| limit.try_acquire().unwrap()).collect();
        // Past half the target (10 ms), short of it (20 ms).
        let latency = Duration::from_millis(15);
        permits
            .into_iter()
            .for_each(|p| p.finish_after(latency, Outcome::Answered));
        // In use from 45 to 60 at once: 16 answers of 1/90 each.
        assert_eq!(limit.limit(), 90);
    }
}
