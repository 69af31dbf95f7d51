//! One API call's DynamoDB time. Every storage call a request makes, the
//! SDK's retries and ours (conflicts, a transaction still in progress)
//! included, shares one deadline: `DYNAMODB_TIMEOUT_MS` from the request's
//! first storage call. So a request that reads, decides and writes answers
//! within its budget however many calls it makes, and a write that puts an
//! order on a queue has committed, or never will be sent again, by then
//! (the work queue's settle time counts on it: see `queue`).
//!
//! Outside a request (`migrate`, the stream reader) each storage call has
//! the budget to itself.

use std::cell::Cell;
use std::time::Duration;

use tokio::time::Instant;

tokio::task_local! {
    /// The request's deadline, once its first storage call set it.
    static DEADLINE: Cell<Option<Instant>>;
}

/// Runs a request's work under one shared budget, which its first storage
/// call starts.
pub async fn per_request<F: Future>(work: F) -> F::Output {
    DEADLINE.scope(Cell::new(None), work).await
}

/// Runs `work` (a write moved to a task of its own) under a deadline
/// already running, so it ends when the request's budget does.
pub async fn continuing<F: Future>(deadline: Option<Instant>, work: F) -> F::Output {
    DEADLINE.scope(Cell::new(deadline), work).await
}

/// The deadline of the work under way, starting it (`budget` from now) if
/// this is its first storage call, or a fresh one outside a request.
pub fn deadline(budget: Duration) -> Instant {
    let fresh = Instant::now() + budget;
    DEADLINE
        .try_with(|deadline| {
            let started = deadline.get().unwrap_or(fresh);
            deadline.set(Some(started));
            started
        })
        .unwrap_or(fresh)
}

/// The deadline of the work under way, if it has started one.
#[cfg(test)]
fn current() -> Option<Instant> {
    DEADLINE.try_with(Cell::get).ok().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_request_shares_one_deadline_from_its_first_storage_call() {
        let budget = Duration::from_secs(8);
        per_request(async {
            assert_eq!(current(), None);
            tokio::time::advance(Duration::from_secs(1)).await;
            let first = deadline(budget);
            assert_eq!(first, Instant::now() + budget);
            tokio::time::advance(Duration::from_secs(3)).await;
            assert_eq!(deadline(budget), first, "a later call has what is left");
            let carried = current();
            let in_task = tokio::spawn(continuing(carried, async move { deadline(budget) }));
            assert_eq!(in_task.await.unwrap(), first);
        })
        .await;
        // Outside a request, each call has the whole budget.
        assert_eq!(deadline(budget), Instant::now() + budget);
    }
}
