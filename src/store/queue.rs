//! The status queue: orders in one status across all customers, oldest
//! first, from GSI2. Each status is spread over [`keys::STATUS_SHARDS`]
//! index partitions; a page reads every shard from where the last page left
//! it, merges them by the time each order entered the status, and returns
//! the first `limit`. The next page's token carries each shard's position.
//!
//! A walk must never pass an order that is about to appear behind it. An
//! order's place is when it entered the status, stamped before its write,
//! so a page shows only orders older than a watermark: the oldest stamp of
//! this process's writes still in flight, and (for DynamoDB, whose index
//! lags the table: "DynamoDB read consistency") the settle time ago.

use std::sync::{Arc, Mutex};

use futures_util::future::try_join_all;

use super::engine::{Direction, Index, Item, Query, Value, text};
use super::keys::{self, GSI2PK, GSI2SK, PK, SK, STATUS_SHARDS};
use super::{Store, StoreError, records};
use crate::domain::{Order, OrderStatus, QueuePosition, QueueToken, Timestamp};

/// One page of a status queue.
#[derive(Debug)]
pub struct QueuePage {
    pub orders: Vec<Order>,
    pub next: Option<QueueToken>,
}

/// An order read from one shard, with when it entered the status.
struct Entry {
    shard: usize,
    sort_key: String,
    entered: Timestamp,
    order: Order,
}

impl Store {
    /// `limit` orders in `status`, oldest first, after `after`'s positions.
    /// A shard is walked in its index order from its own position, so a
    /// walk returns each order at most once, and an order that enters the
    /// status while the walk is under way joins the end of the queue, where
    /// the walk still reaches it. One query per shard per page, in parallel.
    pub async fn status_queue(
        &self,
        status: OrderStatus,
        limit: usize,
        after: Option<QueueToken>,
    ) -> Result<QueuePage, StoreError> {
        // Before the reads: a write stamped earlier and no longer in flight
        // is in them (on the embedded engine; after the settle time on
        // DynamoDB), one stamped later is above the watermark anyway.
        let watermark = self.queue_watermark();
        let positions = match after {
            None => vec![None; usize::from(STATUS_SHARDS)],
            Some(token) => checked_positions(token)?,
        };
        // One more per shard than a page holds tells whether more remain.
        let queries = positions.iter().enumerate().map(|(shard, position)| {
            let shard_number = u8::try_from(shard).unwrap_or(u8::MAX);
            self.engine.query(Query {
                index: Index::Gsi2,
                partition: keys::status_queue_partition(status, shard_number),
                direction: Direction::Ascending,
                limit: limit + 1,
                start_after: position
                    .as_ref()
                    .map(|position| start_after(status, shard_number, position)),
            })
        });
        let shards = try_join_all(queries).await?;
        let mut fetched = Vec::new();
        for (shard, items) in shards.into_iter().enumerate() {
            for item in items {
                let entry = entry(shard, &item)?;
                // Each shard is in time order: the rest are younger still.
                if entry.entered >= watermark {
                    break;
                }
                fetched.push(entry);
            }
        }
        // Each shard returned at most a page beyond its position, so more
        // remain exactly when more than a page was fetched.
        let more_than_a_page = fetched.len() > limit;
        fetched.sort_by(|a, b| a.sort_key.cmp(&b.sort_key));
        fetched.truncate(limit);
        let mut next_positions = positions;
        for entry in &fetched {
            next_positions[entry.shard] = Some(QueuePosition {
                entered: entry.entered,
                id: entry.order.id,
                owner: entry.order.owner.clone(),
            });
        }
        Ok(QueuePage {
            orders: fetched
                .into_iter()
                .map(|entry| entry.order)
                // An entry a move by an older version of the service left
                // behind (it changed the status, not the index keys) is
                // passed over; `backfill-queues` moves it where it belongs.
                .filter(|order| order.status == status)
                .collect(),
            next: more_than_a_page.then_some(QueueToken {
                status,
                positions: next_positions,
            }),
        })
    }

    fn queue_watermark(&self) -> Timestamp {
        let now = Timestamp::now().as_datetime();
        let settled = Timestamp::from_datetime(now - self.queue_settle);
        match self.entering.oldest() {
            Some(oldest) if oldest < settled => oldest,
            _ => settled,
        }
    }
}

/// The entry stamps of this process's queue-changing writes in flight.
#[derive(Clone, Default)]
pub(super) struct Entering(Arc<Mutex<Vec<Timestamp>>>);

/// Holds a stamp in flight until dropped (when its write has answered).
pub(super) struct InFlight {
    entering: Entering,
    stamp: Timestamp,
}

impl Entering {
    /// A stamp for a write that puts an order on a queue, taken under the
    /// lock so no page can compute its watermark in between.
    pub(super) fn stamp(&self) -> (Timestamp, InFlight) {
        let mut stamps = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let stamp = Timestamp::now();
        stamps.push(stamp);
        let held = InFlight {
            entering: self.clone(),
            stamp,
        };
        (stamp, held)
    }

    fn oldest(&self) -> Option<Timestamp> {
        let stamps = self.0.lock().unwrap_or_else(|p| p.into_inner());
        stamps.iter().min().copied()
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut stamps = self.entering.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(at) = stamps.iter().position(|s| *s == self.stamp) {
            stamps.swap_remove(at);
        }
    }
}

/// A token's positions, if they fit this table's shards: each order in the
/// shard its id names. Anything else was not issued here.
fn checked_positions(token: QueueToken) -> Result<Vec<Option<QueuePosition>>, StoreError> {
    let fits = token.positions.len() == usize::from(STATUS_SHARDS)
        && token.positions.iter().enumerate().all(|(shard, position)| {
            position
                .as_ref()
                .is_none_or(|p| usize::from(keys::order_shard(p.id)) == shard)
        });
    if fits {
        Ok(token.positions)
    } else {
        Err(StoreError::InvalidPageToken)
    }
}

/// The index keys of a position: where a shard's query resumes.
fn start_after(status: OrderStatus, shard: u8, position: &QueuePosition) -> Item {
    let order = keys::order(&position.owner, position.id);
    Item::from([
        (PK.to_owned(), Value::S(order.pk)),
        (SK.to_owned(), Value::S(order.sk)),
        (
            GSI2PK.to_owned(),
            Value::S(keys::status_queue_partition(status, shard)),
        ),
        (
            GSI2SK.to_owned(),
            Value::S(keys::status_queue_sort_key(position.id, position.entered)),
        ),
    ])
}

fn entry(shard: usize, item: &Item) -> Result<Entry, StoreError> {
    let sort_key = text(item, GSI2SK).unwrap_or_default().to_owned();
    let entered = sort_key
        .split_once('#')
        .and_then(|(at, _)| Timestamp::parse(at).ok())
        .ok_or_else(|| {
            StoreError::Internal(anyhow::anyhow!("a status queue entry without its time"))
        })?;
    Ok(Entry {
        shard,
        sort_key,
        entered,
        order: records::order_from_item(item)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Amount, ItemCount, Username};
    use crate::store::embedded::{ChangeFeed, EmbeddedEngine};
    use crate::store::engine::{Condition, Engine, Transaction, WriteOp};

    /// Two writes race: the one stamped first is still in flight when the
    /// other (stamped later) has committed. A page must not go past the
    /// later one, or a walk would never return the earlier.
    #[tokio::test]
    async fn a_page_waits_for_a_write_in_flight_that_entered_first() {
        let dir = tempfile::TempDir::new().unwrap();
        let engine = EmbeddedEngine::open(dir.path(), ChangeFeed::Off).unwrap();
        let store = Store::new(Engine::Embedded(engine));
        let (_, first) = store.entering.stamp();
        let (entered, second) = store.entering.stamp();
        let later = Order {
            id: crate::domain::OrderId::from_ulid(ulid::Ulid::generate()),
            owner: Username::parse("ann").unwrap(),
            status: OrderStatus::Placed,
            amount: Amount::parse("5.5").unwrap(),
            items: ItemCount::parse("2").unwrap(),
            created_at: entered,
            updated_at: None,
            account: None,
            version: 1,
        };
        let mut transaction = Transaction::default();
        transaction.add(WriteOp::Put {
            item: records::order_item(&later, None),
            condition: Condition::NotExists,
        });
        store.engine.write(transaction).await.unwrap();
        drop(second);

        let queued = || async {
            let page = store.status_queue(OrderStatus::Placed, 10, None).await;
            page.unwrap().orders.len()
        };
        assert_eq!(
            queued().await,
            0,
            "shown while an earlier write is in flight"
        );
        drop(first);
        assert_eq!(queued().await, 1);
    }
}
