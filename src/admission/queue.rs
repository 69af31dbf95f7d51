//! A worker's queue. Requests that reach a busy worker wait in their sockets,
//! where no count of requests in flight sees them: a handler on the embedded
//! engine runs to its answer without yielding, so a flood of connections
//! shows as one request in flight and a long line nobody counts. So each
//! worker runs a probe, a timer that should fire every [`TICK`]: how late it
//! fires is how long a request ready on that worker waits for it. While the
//! probe is later than the target, the worker refuses a growing share of new
//! requests (503 with Retry-After: clients that honour it step back, and the
//! line drains); once it is on time again, the share falls back to nothing.
//! One worker is one thread (actix-web), so the state is a `Cell`.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

/// How often the probe should fire.
pub const TICK: Duration = Duration::from_millis(10);
/// The share added per second, per target's worth of lateness.
const GAIN_PER_SECOND: f64 = 2.0;
/// How far past the target one sample counts (four targets): a single
/// stall moves the share by a bounded step.
const LATEST_COUNTED: f64 = 4.0;
/// The most time one sample stands for: a single long stall is one step.
const LONGEST_SAMPLE: Duration = Duration::from_millis(100);
/// The share taken off by each probe on time: a line that has drained
/// stops refusing within a few ticks, before the clients it sent away
/// return (a second later), so the service is not left idle.
const RELIEF_PER_TICK: f64 = 0.05;
/// Some requests are always admitted: the line is measured by their answers.
const MOST_REFUSED: f64 = 0.9;

pub struct WorkerQueue {
    target: Duration,
    refuse_share: Cell<f64>,
    last_sample: Cell<Option<Instant>>,
    /// Since when the probe has been late without a sample on time.
    late_since: Cell<Option<Instant>>,
    /// Shared by every worker's queue: the refusals of the process.
    refused: Arc<AtomicU64>,
}

impl WorkerQueue {
    pub fn new(target: Duration, refused: Arc<AtomicU64>) -> Self {
        Self {
            target,
            refuse_share: Cell::new(0.0),
            last_sample: Cell::new(None),
            late_since: Cell::new(None),
            refused,
        }
    }

    /// Whether a new request is taken on (a draw against the refused share).
    pub fn admit(&self) -> bool {
        let share = self.refuse_share.get();
        if share > 0.0 && fastrand::f64() < share {
            self.refused.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        true
    }

    /// The share of new requests refused now.
    pub fn refuse_share(&self) -> f64 {
        self.refuse_share.get()
    }

    /// Raises the share while a line stands (the probe late by more than
    /// the target for twice the target's time, as CoDel tells a standing
    /// queue from a burst), in proportion to how late and for how long, so
    /// it settles where the line stays at the target; lowers it by a fixed
    /// step each time the probe is on time. A lone stall of the thread (the
    /// machine busy elsewhere for a moment) refuses nothing.
    fn observe(&self, lateness: Duration, now: Instant) {
        let since = self
            .last_sample
            .replace(Some(now))
            .map_or(TICK, |last| now.duration_since(last))
            .min(LONGEST_SAMPLE);
        let late = lateness > self.target;
        let late_since = match (late, self.late_since.get()) {
            (false, _) => None,
            (true, Some(since)) => Some(since),
            (true, None) => Some(now - lateness),
        };
        self.late_since.set(late_since);
        let standing = late_since.is_some_and(|since| now.duration_since(since) >= self.target * 2);
        let share = self.refuse_share.get();
        let share = if standing {
            let over = lateness.as_secs_f64() / self.target.as_secs_f64() - 1.0;
            share + GAIN_PER_SECOND * over.min(LATEST_COUNTED) * since.as_secs_f64()
        } else if late {
            share
        } else {
            share - RELIEF_PER_TICK
        };
        self.refuse_share.set(share.clamp(0.0, MOST_REFUSED));
    }
}

/// The probe of one worker: runs on the worker's thread until it stops.
pub async fn probe(queue: Rc<WorkerQueue>) {
    loop {
        let due = Instant::now() + TICK;
        tokio::time::sleep_until(due).await;
        let now = Instant::now();
        queue.observe(now.duration_since(due), now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue() -> Rc<WorkerQueue> {
        Rc::new(WorkerQueue::new(Duration::from_millis(20), Arc::default()))
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_worker_kept_busy_refuses_a_share_and_takes_everything_once_on_time_again() {
        let local = tokio::task::LocalSet::new();
        local
            .run_until(async {
                let queue = queue();
                tokio::task::spawn_local(probe(Rc::clone(&queue)));
                tokio::task::yield_now().await;
                assert!(
                    (0..100).all(|_| queue.admit()),
                    "an idle worker takes everything"
                );
                // Work that holds the thread 100 ms at a time, as a flood of
                // ready connections does: each wake of the probe is late.
                for _ in 0..6 {
                    std::thread::sleep(Duration::from_millis(100));
                    tokio::task::yield_now().await;
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                let share = queue.refuse_share();
                assert!(share > 0.5, "a standing line refuses most: {share}");
                let refused = (0..1000).filter(|_| !queue.admit()).count();
                assert!(refused > 400 && refused < 1000, "{refused} of 1000 refused");
                assert_eq!(queue.refused.load(Ordering::Relaxed), refused as u64);
                let recovered = tokio::time::timeout(Duration::from_secs(10), async {
                    while queue.refuse_share() > 0.0 {
                        tokio::time::sleep(TICK).await;
                    }
                });
                recovered
                    .await
                    .expect("the share falls to nothing once on time");
            })
            .await;
    }

    #[test]
    fn a_lone_stall_shorter_than_twice_the_target_refuses_nothing() {
        let queue = queue();
        let now = Instant::now();
        queue.observe(Duration::from_millis(30), now);
        assert_eq!(
            queue.refuse_share(),
            0.0,
            "late once, by 30 ms of a 20 ms target"
        );
        queue.observe(Duration::from_millis(1), now + Duration::from_millis(10));
        queue.observe(Duration::from_millis(30), now + Duration::from_millis(50));
        assert_eq!(
            queue.refuse_share(),
            0.0,
            "on time between: not a standing line"
        );
        queue.observe(Duration::from_millis(30), now + Duration::from_millis(90));
        assert!(
            queue.refuse_share() > 0.0,
            "late 70 ms in a row: a standing line"
        );
    }

    #[test]
    fn one_stall_moves_the_share_by_a_bounded_step() {
        let queue = queue();
        let now = Instant::now();
        queue.observe(Duration::ZERO, now);
        queue.observe(Duration::from_secs(5), now + Duration::from_secs(5));
        // Four targets' worth at most, for 100 ms at most: 2 * 4 * 0.1.
        assert!(
            (queue.refuse_share() - 0.8).abs() < 1e-9,
            "{}",
            queue.refuse_share()
        );
    }
}
