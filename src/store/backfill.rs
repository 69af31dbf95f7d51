//! Puts orders written before the status queue existed (without GSI2 keys)
//! onto it, and moves orders that a service from before the queue moved
//! (their keys still name the old status) to the right queue:
//! `ecommerce-service backfill-queues`. Safe beside a live service on
//! DynamoDB: each order is updated only if its queue keys and its status are
//! still what was read, so a move made meanwhile (which writes the keys
//! itself) is never overwritten. A second run finds nothing to do.

use serde::Serialize;

use super::engine::{AttributeCheck, Condition, EngineError, Item, Value, set, text};
use super::keys::{self, GSI2PK, GSI2SK, SK};
use super::records::{self, STATUS};
use super::{Store, StoreError};

/// Items read per scan page.
const SCAN_PAGE: usize = 500;

/// What a backfill did, by kind.
#[derive(Debug, Default, PartialEq, Eq, Serialize)]
pub struct Backfill {
    /// Items read.
    pub scanned: u64,
    /// Orders given their queue keys.
    pub indexed: u64,
    /// Orders on the queue already.
    pub already_indexed: u64,
    /// Orders on the queue of a status they have left, moved to their own.
    pub requeued: u64,
    /// Orders that moved or went away between read and write (a move puts
    /// an order on its queue itself).
    pub changed_meanwhile: u64,
    /// Orders whose status or times cannot be read: left as they are.
    pub unreadable: u64,
}

impl Store {
    pub async fn backfill_status_queues(&self) -> Result<Backfill, StoreError> {
        let mut report = Backfill::default();
        let mut start_after = None;
        loop {
            let (items, next) = self.engine.scan(start_after, SCAN_PAGE).await?;
            for item in &items {
                report.scanned += 1;
                if !text(item, SK).is_some_and(keys::is_order_sort_key) {
                    continue;
                }
                match self.put_on_queue(item).await? {
                    Outcome::AlreadyIndexed => report.already_indexed += 1,
                    Outcome::Indexed => report.indexed += 1,
                    Outcome::Requeued => report.requeued += 1,
                    Outcome::ChangedMeanwhile => report.changed_meanwhile += 1,
                    Outcome::Unreadable => report.unreadable += 1,
                }
            }
            match next {
                Some(key) => start_after = Some(key),
                None => return Ok(report),
            }
        }
    }

    async fn put_on_queue(&self, item: &Item) -> Result<Outcome, StoreError> {
        let Ok(order) = records::order_from_item(item) else {
            tracing::warn!(pk = ?text(item, keys::PK), sk = ?text(item, SK), "an order the backfill cannot read");
            return Ok(Outcome::Unreadable);
        };
        let entered = order.updated_at.unwrap_or(order.created_at);
        let (partition, position) = keys::order_gsi2(order.status, order.id, entered);
        let (unchanged_keys, done) = match text(item, GSI2PK) {
            None => (AttributeCheck::Absent(GSI2PK), Outcome::Indexed),
            Some(current) if current == partition => return Ok(Outcome::AlreadyIndexed),
            Some(current) => (
                AttributeCheck::equals(GSI2PK, Value::S(current.to_owned())),
                Outcome::Requeued,
            ),
        };
        let condition = Condition::ExistsAnd(vec![
            unchanged_keys,
            AttributeCheck::equals(STATUS, records::status_value(order.status)),
        ]);
        let changes = vec![
            set(GSI2PK, Value::S(partition)),
            set(GSI2SK, Value::S(position)),
        ];
        let key = keys::order(&order.owner, order.id);
        match self.engine.update(&key, changes, condition).await {
            Ok(_) => Ok(done),
            Err(EngineError::ConditionFailed(_)) => Ok(Outcome::ChangedMeanwhile),
            Err(error) => Err(error.into()),
        }
    }
}

enum Outcome {
    AlreadyIndexed,
    Indexed,
    Requeued,
    ChangedMeanwhile,
    Unreadable,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::OrderStatus;
    use crate::store::embedded::{ChangeFeed, EmbeddedEngine};
    use crate::store::engine::{Engine, Transaction, WriteOp};

    /// An order as the service wrote it before the queue existed.
    fn order_without_queue_keys(owner: &str, id: &str, status: &str) -> Item {
        let pk = format!("CUSTOMER#{owner}");
        [
            ("PK", pk.clone()),
            ("SK", format!("#ORDER#{id}")),
            ("GSI1PK", format!("ORDER#{id}")),
            ("GSI1SK", pk),
            ("OrderId", id.to_owned()),
            ("Status", status.to_owned()),
            ("CreatedAt", "2026-11-01T10:00:00.000000Z".to_owned()),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), Value::S(value)))
        .chain([
            ("Amount".to_owned(), Value::N("5.5".into())),
            ("NumberItems".to_owned(), Value::N("2".into())),
        ])
        .collect()
    }

    #[tokio::test]
    async fn puts_old_orders_on_their_queue_once_and_leaves_the_rest() {
        let dir = tempfile::TempDir::new().unwrap();
        let engine = Engine::Embedded(EmbeddedEngine::open(dir.path(), ChangeFeed::Off).unwrap());
        let ids = ["01KB0000000000000000000001", "01KB0000000000000000000002"];
        let mut items: Vec<Item> = ids
            .iter()
            .map(|id| order_without_queue_keys("ann", id, "PLACED"))
            .collect();
        items.push(order_without_queue_keys(
            "ann",
            "01KB0000000000000000000003",
            "LOST",
        ));
        // Shipped by a service from before the queue: keys of its old status.
        let mut shipped = order_without_queue_keys("ann", "01KB0000000000000000000004", "SHIPPED");
        shipped.insert(GSI2PK.into(), Value::S("STATUS#PLACED#0".into()));
        let old_position = "2026-11-01T10:00:00.000000Z#01KB0000000000000000000004";
        shipped.insert(GSI2SK.into(), Value::S(old_position.into()));
        items.push(shipped);
        for item in items {
            let mut transaction = Transaction::default();
            transaction.add(WriteOp::Put {
                item,
                condition: Condition::Always,
            });
            engine.write(transaction).await.unwrap();
        }
        let store = Store::new(engine);
        assert!(
            store
                .status_queue(OrderStatus::Placed, 10, None)
                .await
                .unwrap()
                .orders
                .is_empty()
        );

        let first = store.backfill_status_queues().await.unwrap();
        assert_eq!(
            (
                first.scanned,
                first.indexed,
                first.requeued,
                first.unreadable
            ),
            (4, 2, 1, 1)
        );
        let queued: Vec<String> = store
            .status_queue(OrderStatus::Placed, 10, None)
            .await
            .unwrap()
            .orders
            .iter()
            .map(|order| order.id.to_string())
            .collect();
        assert_eq!(queued, ids);
        let shipped = store.status_queue(OrderStatus::Shipped, 10, None).await;
        assert_eq!(shipped.unwrap().orders.len(), 1);

        let second = store.backfill_status_queues().await.unwrap();
        assert_eq!(
            (second.indexed, second.requeued, second.already_indexed),
            (0, 0, 3)
        );
    }
}
