//! The embedded engine's change feed as a source. Records are written in the
//! same transaction as the changes, and forgotten only after their events
//! were published: a change made just before a crash is published after the
//! restart.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, watch};

use super::error::NotifyError;
use super::event::OrderEvent;
use super::publish::Publisher;
use super::record::decode_body;
use super::worker::{Pacing, Pass, Source};
use crate::error_chain as chain;
use crate::store::embedded::EmbeddedEngine;

const BATCH: usize = 100;

pub struct EmbeddedFeed {
    engine: EmbeddedEngine,
    changed: Arc<Notify>,
}

/// The feed wakes the source on every commit that records a change, so the
/// idle rest is only the longest it sleeps without one.
pub(super) const PACING: Pacing = Pacing {
    idle: Duration::from_secs(5),
    first_retry: Duration::from_millis(200),
};

impl Source for EmbeddedFeed {
    const NAME: &'static str = "embedded";

    async fn pass(
        &mut self,
        publisher: &Publisher,
        _: &watch::Receiver<bool>,
    ) -> Result<Pass, NotifyError> {
        Ok(match self.handle_batch(publisher).await? {
            0 => Pass::Idle,
            _ => Pass::Worked,
        })
    }

    async fn woken(&self) {
        self.changed.notified().await
    }
}

impl EmbeddedFeed {
    pub fn new(engine: EmbeddedEngine) -> Self {
        let changed = engine.change_signal();
        Self { engine, changed }
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
