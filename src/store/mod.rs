//! The single-table model, written once over the engine interface. Each
//! concern is a file of its own `impl Store`, and what callers may use is:
//!
//! | file | public methods |
//! |---|---|
//! | `users` | `register`, `user`, `bind_account` |
//! | `address` | `set_address` |
//! | `deletion` | `delete_user`, `begin_deletion`, `finish_deletion` |
//! | `orders` | `place_order`, `orders_page`, `order` |
//! | `status_moves` | `move_order` |
//! | `ownership` | `check_order_access` (and the rules of whose data a caller may touch) |
//! | `queue` | `status_queue` (orders by status) |
//! | `table_access` | `TableAccess`: what `migrate` and `preflight` may do, nothing more |
//!
//! `idempotency`, `shard_positions` (the stream reader's) and the engines
//! are the crate's own. Only what serves requests lives here: `migrate`,
//! the cut-over tool, works through [`TableAccess`].

mod address;
#[cfg(test)]
mod attribute_coverage;
pub(crate) mod budget;
mod deletion;
pub(crate) mod dynamodb;
pub(crate) mod embedded;
pub(crate) mod engine;
mod error;
mod idempotency;
pub(crate) mod keys;
mod orders;
mod ownership;
mod queue;
pub(crate) mod records;
mod shard_positions;
mod status_moves;
mod table_access;
mod unreadable;
mod users;

use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use crate::domain::{OrderId, Timestamp};
use engine::Engine;

pub use deletion::DeletionRun;
pub use dynamodb::preflight::Finding as TableFinding;
pub use error::StoreError;
pub use idempotency::{IDEMPOTENCY_TTL, ScopedKey};
pub use orders::OrdersPage;
pub use queue::QueuePage;
pub use shard_positions::ShardPosition;
pub use table_access::TableAccess;

/// What a write produced, and whether this answer replays an earlier write
/// under the same idempotency key.
#[derive(Debug)]
pub struct Written<T> {
    pub value: T,
    pub replayed: bool,
}

impl<T> Written<T> {
    fn new(value: T) -> Self {
        Self {
            value,
            replayed: false,
        }
    }

    fn replayed(value: T) -> Self {
        Self {
            value,
            replayed: true,
        }
    }
}

#[derive(Clone)]
pub struct Store {
    engine: Engine,
    order_ids: Arc<Mutex<ulid::Generator>>,
    /// When this process's writes in flight entered their status: the work
    /// queue shows nothing younger than the oldest of them.
    entering: queue::Entering,
    /// How long an order must have been in its status before the work
    /// queue shows it (for an index that lags the table).
    queue_settle: std::time::Duration,
}

impl Store {
    pub fn new(engine: Engine) -> Self {
        Self {
            engine,
            order_ids: Arc::new(Mutex::new(ulid::Generator::new())),
            entering: queue::Entering::default(),
            queue_settle: std::time::Duration::ZERO,
        }
    }

    /// For an engine whose index lags: see [`Store::status_queue`].
    pub fn with_queue_settle(mut self, settle: std::time::Duration) -> Self {
        self.queue_settle = settle;
        self
    }

    /// The table as the maintenance commands see it.
    pub fn table_access(&self) -> TableAccess {
        TableAccess::new(self.engine.clone())
    }

    /// How many requests this process has sent to DynamoDB, when that is the
    /// engine (the tests' and benchmarks' request counts).
    pub(crate) fn dynamodb_request_count(&self) -> Option<Arc<std::sync::atomic::AtomicU64>> {
        match &self.engine {
            Engine::DynamoDb(engine) => Some(engine.request_count()),
            Engine::Embedded(_) => None,
        }
    }

    /// The embedded engine's change feed, when that is the engine.
    pub(crate) fn embedded_change_feed(&self) -> Option<embedded::EmbeddedEngine> {
        match &self.engine {
            Engine::Embedded(engine) => Some(engine.clone()),
            Engine::DynamoDb(_) => None,
        }
    }

    /// Writes items as given, in DynamoDB's JSON form (`{"PK": {"S":
    /// "..."}, "Amount": {"N": "5"}}`; strings and numbers), unconditionally: for
    /// tests that need what another writer left in the table (the replaced
    /// system's shapes). The service never calls it.
    #[doc(hidden)]
    pub async fn put_raw_items(&self, items: &[serde_json::Value]) -> Result<(), StoreError> {
        for chunk in items.chunks(engine::MAX_TRANSACTION_ITEMS) {
            let mut transaction = engine::Transaction::default();
            for raw in chunk {
                let object = raw.as_object().ok_or_else(|| {
                    StoreError::Internal(anyhow::anyhow!("a raw item is not an object"))
                })?;
                let item = engine::item_from_json(object)
                    .map_err(|untyped| StoreError::Internal(untyped.into()))?;
                transaction.add(engine::WriteOp::Put {
                    item,
                    condition: engine::Condition::Always,
                });
            }
            self.engine.write(transaction).await?;
        }
        Ok(())
    }

    /// Reads one item as stored, in DynamoDB's JSON form: for tests that
    /// check what a failed request left. The service never calls it.
    #[doc(hidden)]
    pub async fn raw_item(
        &self,
        pk: &str,
        sk: &str,
    ) -> Result<Option<serde_json::Value>, StoreError> {
        let key = keys::Key {
            pk: pk.to_owned(),
            sk: sk.to_owned(),
        };
        Ok(self
            .engine
            .get(&key)
            .await?
            .as_ref()
            .map(engine::item_to_json))
    }

    /// Proves the engine answers by reading a key that never exists, and
    /// that the table has what the service needs (as last checked).
    pub(crate) async fn ready(&self) -> Result<(), StoreError> {
        self.engine.get(&keys::health_probe()).await?;
        let problems: Vec<String> = self
            .engine
            .table_findings()
            .await
            .into_iter()
            .filter(|finding| finding.serving)
            .map(|finding| finding.problem)
            .collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(StoreError::TableNotReady(problems))
        }
    }

    /// Checks the table before serving (`Application::build`): what it lacks
    /// is logged, and kept for readiness and the routes on an index.
    pub(crate) async fn check_table_for_serving(&self) {
        self.engine.check_table_for_serving().await;
    }

    /// ULIDs from one monotonic generator: ids placed within one millisecond
    /// still sort in placement order.
    fn next_order_id(&self, at: Timestamp) -> OrderId {
        let at: SystemTime = at.as_datetime().into();
        let mut generator = self
            .order_ids
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let ulid = match generator.generate_from_datetime(at) {
            Ok(ulid) => ulid,
            Err(overflow) => overflow.commit_overflow_increment(),
        };
        OrderId::from_ulid(ulid)
    }
}
