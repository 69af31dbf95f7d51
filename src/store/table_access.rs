//! What the maintenance commands (`migrate`, `preflight`) may do to the
//! table, and nothing more: read an item, scan it in segments, write a
//! transaction as given, and check what the table lacks. Requests go through
//! [`super::Store`]'s own methods, never through this.

use super::engine::{Engine, EngineError, Item, Segment, Transaction};
use super::keys::Key;
use super::{StoreError, TableFinding};

#[derive(Clone)]
pub struct TableAccess {
    engine: Engine,
}

impl TableAccess {
    pub(super) fn new(engine: Engine) -> Self {
        Self { engine }
    }

    pub(crate) async fn get(&self, key: &Key) -> Result<Option<Item>, EngineError> {
        self.engine.get(key).await
    }

    /// One page of one segment, and the key the next page starts after.
    pub(crate) async fn scan(
        &self,
        segment: Segment,
        start_after: Option<Key>,
        limit: usize,
    ) -> Result<(Vec<Item>, Option<Key>), EngineError> {
        self.engine.scan(segment, start_after, limit).await
    }

    pub(crate) fn max_segments(&self) -> u32 {
        self.engine.max_segments()
    }

    /// About how many items the table holds, for a progress estimate.
    pub(crate) async fn approximate_item_count(&self) -> Result<u64, EngineError> {
        self.engine.approximate_item_count().await
    }

    pub(crate) async fn write(&self, transaction: Transaction) -> Result<(), EngineError> {
        self.engine.write(transaction).await
    }

    /// What the table lacks, checked now: `ecommerce-service preflight`.
    pub async fn check_table(&self) -> Result<Vec<TableFinding>, StoreError> {
        self.engine
            .check_table()
            .await
            .map_err(StoreError::Unavailable)
    }
}
