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
/// The share refused per second, per target's worth of lateness.
const GAIN_PER_SECOND: f64 = 0.5;
/// How far past the target one sample counts (four targets): a single
/// stall moves the share by a bounded step.
const LATEST_COUNTED: f64 = 4.0;
/// The most time one sample stands for: a single long stall is one step.
const LONGEST_SAMPLE: Duration = Duration::from_millis(100);
/// Some requests are always admitted: the line is measured by their answers.
const MOST_REFUSED: f64 = 0.9;

pub struct WorkerQueue {
    target: Duration,
    refuse_share: Cell<f64>,
    last_sample: Cell<Option<Instant>>,
    /// Shared by every worker's queue: the refusals of the process.
    refused: Arc<AtomicU64>,
}

impl WorkerQueue {
    pub fn new(target: Duration, refused: Arc<AtomicU64>) -> Self {
        Self {
            target,
            refuse_share: Cell::new(0.0),
            last_sample: Cell::new(None),
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

    /// Moves the share by how far `lateness` is from the target, in
    /// proportion to the time since the last sample (an integral
    /// controller: the share settles where the line stays at the target).
    fn observe(&self, lateness: Duration, now: Instant) {
        let since = self
            .last_sample
            .replace(Some(now))
            .map_or(TICK, |last| now.duration_since(last))
            .min(LONGEST_SAMPLE);
        let error =
            (lateness.as_secs_f64() - self.target.as_secs_f64()) / self.target.as_secs_f64();
        let step = GAIN_PER_SECOND * error.clamp(-1.0, LATEST_COUNTED) * since.as_secs_f64();
        self.refuse_share
            .set((self.refuse_share.get() + step).clamp(0.0, MOST_REFUSED));
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
    fn one_stall_moves_the_share_by_a_bounded_step() {
        let queue = queue();
        let now = Instant::now();
        queue.observe(Duration::ZERO, now);
        queue.observe(Duration::from_secs(5), now + Duration::from_secs(5));
        // Four targets' worth at most, for 100 ms at most: 0.5 * 4 * 0.1.
        assert!(
            (queue.refuse_share() - 0.2).abs() < 1e-9,
            "{}",
            queue.refuse_share()
        );
    }
}
