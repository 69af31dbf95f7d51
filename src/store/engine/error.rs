//! What a storage call can answer besides its result: a condition that did
//! not hold (with the items as they were), or a failure.

use super::{Item, Slot};

/// Why a conditional write did not happen, per op in request order: `None`
/// for an op whose condition held, otherwise the item as it was (if any).
#[derive(Debug, Clone, PartialEq)]
pub struct ConditionFailed {
    pub failures: Vec<Option<Failure>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub current: Option<Item>,
}

impl ConditionFailed {
    /// The failure of the op in `slot`, if its condition did not hold.
    pub fn at(&self, slot: Slot) -> Option<&Failure> {
        self.failures.get(slot.0).and_then(Option::as_ref)
    }

    /// The failure of a single-item write (an update).
    pub fn only(&self) -> Option<&Failure> {
        self.failures.first().and_then(Option::as_ref)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("a write condition did not hold")]
    ConditionFailed(ConditionFailed),
    /// Overloaded, throttled, timed out or unreachable: worth retrying later.
    #[error("the storage engine is unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// The table lacks this index, or it is still being built: the routes
    /// that read it are unavailable until it is ACTIVE.
    #[error("the index {0} is missing or not active yet")]
    IndexUnavailable(&'static str),
    /// The request's client went away before this write started: it was
    /// never sent (see `budget`).
    #[error("the client went away before the write started")]
    ClientGone,
    #[error("the storage engine failed")]
    Internal(#[source] anyhow::Error),
}
