//! `--max-writes-per-second`: writes are spaced evenly, across all segments.

use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

pub(super) struct Limiter {
    /// Time per write; `None` for no limit.
    spacing: Option<Duration>,
    next_free: Mutex<Instant>,
}

impl Limiter {
    pub(super) fn new(per_second: Option<u32>) -> Self {
        Self {
            spacing: per_second
                .filter(|&n| n > 0)
                .map(|n| Duration::from_secs_f64(1.0 / f64::from(n))),
            next_free: Mutex::new(Instant::now()),
        }
    }

    /// Waits until `writes` more writes keep within the rate.
    pub(super) async fn acquire(&self, writes: usize) {
        let Some(spacing) = self.spacing else {
            return;
        };
        let start = {
            let mut next_free = self.next_free.lock().await;
            let start = (*next_free).max(Instant::now());
            *next_free = start + spacing * u32::try_from(writes).unwrap_or(u32::MAX);
            start
        };
        tokio::time::sleep_until(start).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn spaces_writes_at_the_rate() {
        let limiter = Limiter::new(Some(10));
        let began = Instant::now();
        for _ in 0..5 {
            limiter.acquire(2).await;
        }
        // Four batches of two waited their turn: 8 writes at 10 a second.
        assert_eq!(began.elapsed(), Duration::from_millis(800));
        let unlimited = Limiter::new(None);
        let began = Instant::now();
        unlimited.acquire(1_000).await;
        assert_eq!(began.elapsed(), Duration::ZERO);
    }
}
