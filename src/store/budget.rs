//! One API call's DynamoDB time, and whether its client is still there.
//!
//! Every storage call a request makes, the SDK's retries and ours
//! (conflicts, a transaction still in progress) included, shares one
//! deadline: `DYNAMODB_TIMEOUT_MS` from the request's arrival. So no call
//! outlives the answer it serves, a request that reads, decides and writes
//! answers within its budget however many calls it makes, and a write that
//! puts an order on a queue has committed, or never will be sent again, by
//! then (the work queue's settle time counts on it: see `queue`).
//!
//! A request whose client went away stops before its next write starts
//! ([`EngineError::ClientGone`](super::engine::EngineError)): what it has
//! written stays, what it would write is never sent. A write already sent
//! runs to its end, and so does one moved to a task of its own.
//!
//! Outside a request (`migrate`, the stream reader) each storage call has
//! the budget to itself, and nobody can go away.

use std::cell::Cell;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

/// Whether the request's client has gone away; the HTTP edge knows how to ask.
pub type ClientProbe = Arc<dyn Fn() -> bool + Send + Sync>;

struct Scope {
    /// When the request arrived, or the deadline a write carried into a
    /// task of its own (see `continuing`).
    deadline_base: Cell<Option<Base>>,
    client: Option<ClientProbe>,
}

#[derive(Clone, Copy)]
enum Base {
    /// The deadline is this plus the engine's budget.
    Arrived(Instant),
    /// The deadline itself, carried into a task.
    Deadline(Instant),
}

tokio::task_local! {
    static SCOPE: Scope;
}

/// Runs a request's work under one budget counted from now, asking `client`
/// before each write whether to go on.
pub async fn per_request<F: Future>(client: Option<ClientProbe>, work: F) -> F::Output {
    let scope = Scope {
        deadline_base: Cell::new(Some(Base::Arrived(Instant::now()))),
        client,
    };
    SCOPE.scope(scope, work).await
}

/// Runs `work` (a write moved to a task of its own) under a deadline
/// already running, so it ends when the request's budget does. It runs to
/// its end whatever the client does.
pub async fn continuing<F: Future>(deadline: Option<Instant>, work: F) -> F::Output {
    let scope = Scope {
        deadline_base: Cell::new(deadline.map(Base::Deadline)),
        client: None,
    };
    SCOPE.scope(scope, work).await
}

/// The deadline of the work under way: its request's arrival plus
/// `budget`, or a fresh one outside a request.
pub fn deadline(budget: Duration) -> Instant {
    let fresh = || Instant::now() + budget;
    SCOPE
        .try_with(|scope| match scope.deadline_base.get() {
            Some(Base::Arrived(at)) => at + budget,
            Some(Base::Deadline(at)) => at,
            None => {
                let started = fresh();
                scope.deadline_base.set(Some(Base::Deadline(started)));
                started
            }
        })
        .unwrap_or_else(|_| fresh())
}

/// Whether the client of the request under way has gone away (never, outside
/// a request or in a write's own task).
pub fn client_gone() -> bool {
    SCOPE
        .try_with(|scope| scope.client.as_ref().is_some_and(|gone| gone()))
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_request_shares_one_deadline_counted_from_its_arrival() {
        let budget = Duration::from_secs(8);
        let arrived = Instant::now();
        per_request(None, async {
            tokio::time::advance(Duration::from_secs(1)).await;
            let first = deadline(budget);
            assert_eq!(
                first,
                arrived + budget,
                "the time before the first call counts"
            );
            tokio::time::advance(Duration::from_secs(3)).await;
            assert_eq!(deadline(budget), first, "a later call has what is left");
            let in_task = tokio::spawn(continuing(Some(first), async move { deadline(budget) }));
            assert_eq!(in_task.await.unwrap(), first);
        })
        .await;
        // Outside a request, each call has the whole budget.
        assert_eq!(deadline(budget), Instant::now() + budget);
    }

    #[tokio::test]
    async fn a_request_asks_its_probe_whether_the_client_is_gone_and_a_task_of_its_own_never_does()
    {
        let gone = Arc::new(AtomicBool::new(false));
        let probe: ClientProbe = {
            let gone = Arc::clone(&gone);
            Arc::new(move || gone.load(Ordering::Relaxed))
        };
        per_request(Some(probe), async {
            assert!(!client_gone());
            gone.store(true, Ordering::Relaxed);
            assert!(client_gone());
            let in_task = tokio::spawn(continuing(None, async { client_gone() }));
            assert!(
                !in_task.await.unwrap(),
                "a write moved to a task runs to its end"
            );
        })
        .await;
        assert!(!client_gone(), "outside a request nobody goes away");
    }
}
