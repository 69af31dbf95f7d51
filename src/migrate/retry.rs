//! The one shape of every conditioned re-read-and-redo in `migrate`: each
//! write is conditioned on the items as read, so a request that changed one
//! meanwhile makes it refused. Then the item is read again and the write
//! decided again, a few times; after that it is left for the next run and
//! counted as changed meanwhile.
//!
//! A loop guard rather than a closure taking the work: an async closure
//! borrowing the counts makes `migrate::run`'s future lose `Send` (rustc's
//! higher-ranked lifetimes), and the command runs on a multi-threaded
//! runtime.

use crate::store::StoreError;
use crate::store::engine::Item;
use crate::store::keys::Key;

use super::Run;
use super::counts::{Counts, Kind};

/// Tries before an item that keeps changing is left for the next run.
const ATTEMPTS: usize = 3;

/// `while tries.another(counts) { … }`: at most [`ATTEMPTS`] passes; when the
/// last one ended changed too, the item is counted as changed meanwhile.
#[derive(Debug)]
pub(super) struct RetryIfChanged {
    done: usize,
}

impl RetryIfChanged {
    pub(super) fn new() -> Self {
        Self { done: 0 }
    }

    pub(super) fn another(&mut self, counts: &mut Counts) -> bool {
        if self.done == ATTEMPTS {
            counts.add(Kind::ChangedMeanwhile, 1);
            return false;
        }
        self.done += 1;
        true
    }
}

/// What reading an item again after a refused write found.
pub(super) enum Reread {
    /// It is there, in `item`: decide again.
    Changed,
    /// It is gone: nothing left to do.
    Gone,
}

impl Run {
    pub(super) async fn read_again(
        &self,
        key: &Key,
        item: &mut Item,
    ) -> Result<Reread, StoreError> {
        Ok(match self.engine.get(key).await? {
            Some(again) => {
                *item = again;
                Reread::Changed
            }
            None => Reread::Gone,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_passes_then_the_item_counts_as_changed_meanwhile() {
        let mut counts = Counts::default();
        let mut tries = RetryIfChanged::new();
        let passes = std::iter::from_fn(|| tries.another(&mut counts).then_some(())).count();
        assert_eq!(passes, ATTEMPTS);
        assert_eq!(counts.get(Kind::ChangedMeanwhile), 1);
    }
}
