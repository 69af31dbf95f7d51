//! What the service takes on when it is offered more than it can answer in
//! time. Three gates, cheapest first, each refusing at once rather than
//! queueing: the worker's line ([`queue`], 503), the caller's token bucket
//! ([`callers`], 429), and the limit on requests in flight ([`concurrency`],
//! 503). The HTTP edge applies them (`http::admission`); the health routes
//! pass none, so a task that sheds is never taken for a dead one.

pub mod callers;
pub mod concurrency;
mod monitor;
pub mod queue;

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

pub use callers::{CallerKey, CallerLimits, Tier, Verdict};
pub use concurrency::{ConcurrencyLimit, Outcome};
pub use queue::WorkerQueue;

use crate::config::OverloadSettings;

/// The gates of one process, shared by its workers (each worker adds its
/// own line: [`Admission::worker_queue`]).
#[derive(Clone)]
pub struct Admission {
    pub concurrency: Option<Arc<ConcurrencyLimit>>,
    pub callers: Option<Arc<CallerLimits>>,
    queue_target: Option<Duration>,
    queue_refused: Arc<AtomicU64>,
}

impl Admission {
    /// The gates, and the tasks that keep them (the callers' housekeeping,
    /// the monitor that logs and counts refusals), started on the current
    /// runtime.
    pub fn start(settings: &OverloadSettings) -> Self {
        let admission = Self {
            concurrency: settings
                .admission
                .as_ref()
                .map(|a| Arc::new(ConcurrencyLimit::new(a))),
            callers: settings.rate_limit.as_ref().map(CallerLimits::new),
            queue_target: settings.admission.as_ref().map(|a| a.queue_target),
            queue_refused: Arc::default(),
        };
        if let Some(callers) = &admission.callers {
            tokio::spawn(callers::housekeeping(Arc::clone(callers)));
        }
        if admission.concurrency.is_some() || admission.callers.is_some() {
            tokio::spawn(monitor::run(admission.clone()));
        }
        admission
    }

    /// A worker's line, with its probe running on the worker's thread; `None`
    /// with admission off.
    pub fn worker_queue(&self) -> Option<std::rc::Rc<WorkerQueue>> {
        let target = self.queue_target?;
        let queue = std::rc::Rc::new(WorkerQueue::new(target, Arc::clone(&self.queue_refused)));
        tokio::task::spawn_local(queue::probe(std::rc::Rc::clone(&queue)));
        Some(queue)
    }
}
