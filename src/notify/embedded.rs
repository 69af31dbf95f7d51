//! The embedded engine's change feed as a source. Records are written in the
//! same transaction as the changes, and forgotten only after their events
//! were published: a change made just before a crash is published after the
//! restart.

use std::time::Duration;

use tokio::sync::watch;

use super::backoff::Backoff;
use super::error::NotifyError;
use super::event::OrderEvent;
use super::publish::Publisher;
use super::record::decode_body;
use crate::error_chain as chain;
use crate::store::embedded::EmbeddedEngine;

const BATCH: usize = 100;
/// The feed wakes the source on every commit that records a change; this is
/// only the longest it sleeps without one.
const IDLE_POLL: Duration = Duration::from_secs(5);

pub struct EmbeddedFeed {
    pub engine: EmbeddedEngine,
}

impl EmbeddedFeed {
    pub async fn run(&self, publisher: &Publisher, mut shutdown: watch::Receiver<bool>) {
        let changed = self.engine.change_signal();
        let mut backoff = Backoff::new(Duration::from_millis(200));
        while !*shutdown.borrow() {
            let wait = match self.handle_batch(publisher).await {
                Ok(0) => IDLE_POLL,
                Ok(_) => {
                    backoff.succeeded();
                    continue;
                }
                Err(error) => {
                    tracing::error!(
                        error = chain(&error),
                        "order changes not published; retrying"
                    );
                    backoff.failed()
                }
            };
            tokio::select! {
                _ = shutdown.changed() => break,
                () = changed.notified() => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Publishes the oldest pending changes; returns how many were handled.
    async fn handle_batch(&self, publisher: &Publisher) -> Result<usize, NotifyError> {
        let pending = self.engine.pending_changes(BATCH)?;
        if pending.is_empty() {
            return Ok(0);
        }
        let mut events = Vec::new();
        let mut sequences = Vec::with_capacity(pending.len());
        for (sequence, body) in &pending {
            sequences.push(*sequence);
            match events_of(body) {
                Ok(found) => events.extend(found),
                // The engine wrote it; if it cannot be read, retrying cannot help.
                Err(error) => {
                    tracing::error!(
                        sequence,
                        error = chain(&error),
                        "an unreadable change record is dropped"
                    )
                }
            }
        }
        publisher.publish_all(&events).await?;
        self.engine.forget_changes(sequences).await?;
        Ok(pending.len())
    }
}

fn events_of(body: &str) -> Result<Vec<OrderEvent>, NotifyError> {
    let mut events = Vec::new();
    for record in decode_body(body)? {
        events.extend(OrderEvent::from_record(&record)?);
    }
    Ok(events)
}
