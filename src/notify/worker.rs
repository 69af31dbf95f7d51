//! The one loop every change source runs: a pass over what is pending, then
//! straight on after work, a rest when idle, or a growing wait after a
//! failure. A source says what its pass found; how long to wait is decided
//! here, with the waits named once ([`Pacing`]).

use std::time::Duration;

use tokio::sync::watch;

use super::backoff::Backoff;
use super::error::NotifyError;
use super::publish::Publisher;
use crate::error_chain as chain;

/// What one pass found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Pass {
    /// Something was handled: there may be more at once.
    Worked,
    /// Nothing was pending.
    Idle,
}

/// How a source waits between passes.
#[derive(Debug, Clone, Copy)]
pub(super) struct Pacing {
    /// The longest rest after an idle pass (a source may be woken sooner).
    pub idle: Duration,
    /// The first wait after a failed pass; it doubles with each failure in
    /// a row, up to [`Backoff::CAP`].
    pub first_retry: Duration,
}

pub(super) trait Source {
    /// Names the source in log lines.
    const NAME: &'static str;

    /// One pass. A pass whose wait for work may simply be dropped (a long
    /// poll) gives it up when `shutdown` turns true; work in hand is always
    /// finished.
    async fn pass(
        &mut self,
        publisher: &Publisher,
        shutdown: &watch::Receiver<bool>,
    ) -> Result<Pass, NotifyError>;

    /// Ends an idle rest early: the embedded feed's signal of a new change.
    async fn woken(&self) {
        std::future::pending().await
    }
}

/// Runs `source` until `shutdown` turns true.
pub(super) async fn run<S: Source>(
    source: &mut S,
    publisher: &Publisher,
    pacing: Pacing,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut backoff = Backoff::new(pacing.first_retry);
    while !*shutdown.borrow() {
        let wait = match source.pass(publisher, &shutdown).await {
            Ok(Pass::Worked) => {
                backoff.succeeded();
                continue;
            }
            Ok(Pass::Idle) => {
                backoff.succeeded();
                pacing.idle
            }
            Err(error) => {
                let retry_in = backoff.failed();
                tracing::error!(
                    source = S::NAME,
                    error = chain(&error),
                    retry_in_ms = retry_in.as_millis() as u64,
                    "order changes not published; retrying"
                );
                retry_in
            }
        };
        if wait.is_zero() {
            continue;
        }
        tokio::select! {
            _ = shutdown.changed() => break,
            () = source.woken() => {}
            () = tokio::time::sleep(wait) => {}
        }
    }
}

/// Resolves once `shutdown` is true: what a droppable wait races against.
pub(super) async fn stopping(shutdown: &watch::Receiver<bool>) {
    let mut shutdown = shutdown.clone();
    // An error means the sender is gone: nobody will say stop, so wait on.
    if shutdown.wait_for(|stop| *stop).await.is_err() {
        std::future::pending::<()>().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;
    use tokio::time::Instant;

    /// Answers a scripted sequence of passes and notes when each began.
    struct Scripted {
        answers: VecDeque<Result<Pass, NotifyError>>,
        began: Vec<Instant>,
        stop: watch::Sender<bool>,
    }

    impl Source for Scripted {
        const NAME: &'static str = "scripted";

        async fn pass(
            &mut self,
            _: &Publisher,
            _: &watch::Receiver<bool>,
        ) -> Result<Pass, NotifyError> {
            self.began.push(Instant::now());
            match self.answers.pop_front() {
                Some(answer) => answer,
                None => {
                    let _ = self.stop.send(true);
                    Ok(Pass::Idle)
                }
            }
        }
    }

    fn failure() -> Result<Pass, NotifyError> {
        Err(NotifyError::NoStream("scripted".into()))
    }

    #[tokio::test(start_paused = true)]
    async fn works_on_at_once_rests_when_idle_and_backs_off_after_failures() {
        let (stop, shutdown) = watch::channel(false);
        let mut source = Scripted {
            answers: VecDeque::from([
                Ok(Pass::Worked),
                Ok(Pass::Idle),
                failure(),
                failure(),
                Ok(Pass::Worked),
                failure(),
            ]),
            began: Vec::new(),
            stop,
        };
        let pacing = Pacing {
            idle: Duration::from_secs(5),
            first_retry: Duration::from_millis(200),
        };
        run(&mut source, &Publisher::Log, pacing, shutdown).await;
        let gaps: Vec<u128> = source
            .began
            .windows(2)
            .map(|pair| (pair[1] - pair[0]).as_millis())
            .collect();
        // Worked: at once; idle: 5 s; failures: 200 ms, then 400 ms; after a
        // success the back-off starts over at 200 ms.
        assert_eq!(gaps, [0, 5000, 200, 400, 0, 200]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_shutdown_ends_a_rest_at_once() {
        let (stop, shutdown) = watch::channel(false);
        let mut source = Scripted {
            answers: VecDeque::from([Ok(Pass::Idle)]),
            began: Vec::new(),
            // Its own: this test stops the loop from outside.
            stop: watch::channel(false).0,
        };
        let pacing = Pacing {
            idle: Duration::from_secs(3600),
            first_retry: Duration::from_secs(1),
        };
        let started = Instant::now();
        let stopper = async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            stop.send(true).unwrap();
        };
        tokio::join!(run(&mut source, &Publisher::Log, pacing, shutdown), stopper);
        assert_eq!(started.elapsed(), Duration::from_secs(1));
        assert_eq!(source.began.len(), 1);
    }
}
