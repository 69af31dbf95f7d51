//! The embedded engine's change feed as a source. Records are written in the
//! same transaction as the changes, and forgotten only after their events
//! were published: a change made just before a crash is published after the
//! restart.

use std::time::Duration;

use tokio::sync::watch;

use super::event::OrderEvent;
use super::publish::Publisher;
use super::record::decode_body;
use crate::store::embedded::EmbeddedEngine;

const BATCH: usize = 100;
const IDLE_POLL: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

pub struct EmbeddedFeed {
    pub engine: EmbeddedEngine,
}

impl EmbeddedFeed {
    pub async fn run(&self, publisher: &Publisher, mut shutdown: watch::Receiver<bool>) {
        let changed = self.engine.change_signal();
        let mut backoff = Duration::from_millis(200);
        while !*shutdown.borrow() {
            let wait = match self.handle_batch(publisher).await {
                Ok(0) => IDLE_POLL,
                Ok(_) => {
                    backoff = Duration::from_millis(200);
                    continue;
                }
                Err(reason) => {
                    tracing::error!(error = %reason, "order changes not published; retrying");
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    backoff
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
    async fn handle_batch(&self, publisher: &Publisher) -> Result<usize, String> {
        let pending = self
            .engine
            .pending_changes(BATCH)
            .map_err(|e| format!("{e:?}"))?;
        if pending.is_empty() {
            return Ok(0);
        }
        let mut events = Vec::new();
        let mut sequences = Vec::with_capacity(pending.len());
        for (sequence, body) in &pending {
            sequences.push(*sequence);
            let decoded = decode_body(body)
                .map_err(|e| e.to_string())
                .and_then(|records| {
                    records
                        .iter()
                        .filter_map(|record| {
                            OrderEvent::from_record(record)
                                .map_err(|e| e.to_string())
                                .transpose()
                        })
                        .collect::<Result<Vec<_>, _>>()
                });
            match decoded {
                Ok(found) => events.extend(found),
                // The engine wrote it; if it cannot be read, retrying cannot help.
                Err(reason) => {
                    tracing::error!(sequence, error = %reason, "an unreadable change record is dropped")
                }
            }
        }
        publisher.publish_all(&events).await?;
        self.engine
            .forget_changes(sequences)
            .await
            .map_err(|e| format!("{e:?}"))?;
        Ok(pending.len())
    }
}
