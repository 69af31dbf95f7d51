//! Refusals made visible: a metric every second, and a log line when a gate
//! starts refusing, at most one a minute while it goes on, and one when it
//! stops, rather than one per refused request.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::Admission;
use crate::telemetry::metrics;

const EVERY: Duration = Duration::from_secs(1);
/// Quiet this long and the episode is over.
const QUIET: Duration = Duration::from_secs(5);
const REMINDER: Duration = Duration::from_secs(60);

/// One gate's refusals, as the monitor follows them.
struct Gate {
    name: &'static str,
    seen: u64,
    episode: Option<Episode>,
}

struct Episode {
    started: Instant,
    refused: u64,
    last_refusal: Instant,
    last_line: Instant,
}

impl Gate {
    fn new(name: &'static str) -> Self {
        Self {
            name,
            seen: 0,
            episode: None,
        }
    }

    fn update(&mut self, total: u64, now: Instant) {
        let new = total.saturating_sub(self.seen);
        self.seen = total;
        if new > 0 {
            metrics::refused(self.name, new);
        }
        match (&mut self.episode, new) {
            (None, 0) => {}
            (None, _) => {
                tracing::warn!(
                    gate = self.name,
                    refused = new,
                    "admission: started refusing requests"
                );
                self.episode = Some(Episode {
                    started: now,
                    refused: new,
                    last_refusal: now,
                    last_line: now,
                });
            }
            (Some(episode), _) => {
                episode.refused += new;
                if new > 0 {
                    episode.last_refusal = now;
                }
                if now.duration_since(episode.last_refusal) >= QUIET {
                    tracing::info!(
                        gate = self.name,
                        refused = episode.refused,
                        seconds = now.duration_since(episode.started).as_secs(),
                        "admission: stopped refusing requests"
                    );
                    self.episode = None;
                } else if now.duration_since(episode.last_line) >= REMINDER {
                    tracing::warn!(
                        gate = self.name,
                        refused = episode.refused,
                        seconds = now.duration_since(episode.started).as_secs(),
                        "admission: still refusing requests"
                    );
                    episode.last_line = now;
                }
            }
        }
    }
}

pub(super) async fn run(admission: Admission) {
    let mut gates = [
        Gate::new("queue"),
        Gate::new("in-flight"),
        Gate::new("caller"),
    ];
    let mut every = tokio::time::interval(EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let now = Instant::now();
        gates[0].update(admission.queue_refused.load(Ordering::Relaxed), now);
        if let Some(limit) = &admission.concurrency {
            gates[1].update(limit.refused(), now);
            metrics::in_flight(limit.in_flight(), limit.limit());
        }
        if let Some(callers) = &admission.callers {
            gates[2].update(callers.refused(), now);
        }
    }
}
