//! How long a source waits after a failure before it tries again: doubling
//! from a first wait up to a cap, back to the first wait after a success.
//! One helper for every source, so they all back off alike.

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Backoff {
    first: Duration,
    cap: Duration,
    next: Duration,
}

impl Backoff {
    pub const CAP: Duration = Duration::from_secs(30);

    pub fn new(first: Duration) -> Self {
        Self {
            first,
            cap: Self::CAP,
            next: first,
        }
    }

    /// The wait after one more failure in a row.
    pub fn failed(&mut self) -> Duration {
        let wait = self.next;
        self.next = (self.next * 2).min(self.cap);
        wait
    }

    pub fn succeeded(&mut self) {
        self.next = self.first;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap_and_starts_over_after_a_success() {
        let mut backoff = Backoff::new(Duration::from_secs(5));
        let waits: Vec<u64> = (0..5).map(|_| backoff.failed().as_secs()).collect();
        assert_eq!(waits, [5, 10, 20, 30, 30]);
        backoff.succeeded();
        assert_eq!(backoff.failed(), Duration::from_secs(5));
    }
}
