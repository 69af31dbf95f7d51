//! The single-table model, written once over the engine interface. Each
//! concern is a file of its own `impl Store`: `users`, `address`,
//! `deletion`, `orders`,
//! `ownership` (whose data a caller may touch), `queue` (orders by status),
//! `idempotency` and the stream reader's `checkpoints`. Only what serves
//! requests lives here: `crate::migrate`, the one-off cut-over tool, uses
//! the engine interface from above.

mod address;
pub mod budget;
mod checkpoints;
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
mod unreadable;
mod users;

use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use crate::domain::{OrderId, Timestamp};
use engine::Engine;

pub use checkpoints::ShardPosition;
pub use deletion::DeletionRun;
pub use dynamodb::preflight::Finding as TableFinding;
pub use error::StoreError;
pub use idempotency::{IDEMPOTENCY_TTL, ScopedKey};
pub use orders::OrdersPage;
pub(crate) use ownership::belongs_to_profile;
pub use queue::QueuePage;

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

    pub fn engine(&self) -> &Engine {
        &self.engine
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
    pub async fn ready(&self) -> Result<(), StoreError> {
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
    pub async fn check_table_for_serving(&self) {
        self.engine.check_table_for_serving().await;
    }

    /// What the table lacks, checked now: `ecommerce-service preflight`.
    pub async fn check_table(&self) -> Result<Vec<TableFinding>, StoreError> {
        self.engine
            .check_table()
            .await
            .map_err(StoreError::Unavailable)
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
