//! The status queue: orders in one status across all customers, oldest
//! first, from GSI2. Each status is spread over [`keys::STATUS_SHARDS`]
//! index partitions; a page reads every shard from where the last page left
//! it, merges them by the time each order entered the status, and returns
//! the first `limit`. The next page's token carries each shard's position.
//!
//! A walk must never pass an order that is about to appear behind it. An
//! order's place is when it entered the status, stamped before its write,
//! so a page shows only orders older than a watermark: the oldest stamp of
//! this process's writes still in flight (each runs to its end even if its
//! request goes away), and on DynamoDB the settle time ago. Any task's
//! write lands within the request's DynamoDB budget of its stamp or is
//! never sent again (`store::budget`), and the index follows it after its
//! lag ("DynamoDB read consistency"): the settle time is never shorter than
//! the budget and by default adds an allowance for the lag (`config`), so a
//! place behind a walk's position is never filled later, whichever task
//! wrote it.

use std::sync::{Arc, Mutex};

use futures_util::future::try_join_all;
use tracing::Instrument;

use super::engine::{Direction, EngineError, Index, Item, Query, Value, text};
use super::keys::{self, GSI2PK, GSI2SK, PK, SK, STATUS_SHARDS};
use super::{Store, StoreError, records};
use crate::domain::{Order, OrderStatus, QueuePosition, QueueToken, Timestamp};

/// One page of a status queue.
#[derive(Debug)]
pub struct QueuePage {
    pub orders: Vec<Order>,
    pub next: Option<QueueToken>,
}

/// An entry read from one shard: its place, and the order if it can be
/// read (an unreadable one is passed over, as listings do, but the walk
/// still moves past its place).
struct Entry {
    shard: usize,
    sort_key: String,
    position: QueuePosition,
    order: Option<Order>,
}

impl Store {
    /// `limit` orders in `status`, oldest first, after `after`'s positions.
    /// A shard is walked in its index order from its own position, so a
    /// walk returns each order at most once, and an order that enters the
    /// status while the walk is under way joins the end of the queue, where
    /// the walk still reaches it. One query per shard per page, in parallel,
    /// each for about half a page (orders spread evenly over the shards);
    /// when one shard holds more of the page than that, a second round
    /// reads a whole page from each.
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
        let per_shard = limit.div_ceil(usize::from(STATUS_SHARDS)) * 2;
        let reads = self
            .read_shards(status, &positions, per_shard, watermark)
            .await?;
        let (taken, more) = match merge(reads, limit) {
            Some(page) => page,
            // A shard holds more than its share: a page from each settles it.
            None => {
                let reads = self
                    .read_shards(status, &positions, limit, watermark)
                    .await?;
                merge(reads, limit).ok_or_else(|| {
                    StoreError::Internal(anyhow::anyhow!("a status queue page did not settle"))
                })?
            }
        };
        let mut next_positions = positions;
        let mut orders = Vec::with_capacity(taken.len());
        for entry in taken {
            next_positions[entry.shard] = Some(entry.position);
            orders.extend(entry.order);
        }
        Ok(QueuePage {
            orders: orders
                .into_iter()
                // An entry a move by an older version of the service left
                // behind (it changed the status, not the index keys) is
                // passed over; `migrate` moves it where it belongs.
                .filter(|order| order.status == status)
                .collect(),
            next: more.then_some(QueueToken {
                status,
                positions: next_positions,
            }),
        })
    }

    /// Up to `per_shard` settled entries of each shard after its position,
    /// and whether a settled one follows them (read as one more).
    async fn read_shards(
        &self,
        status: OrderStatus,
        positions: &[Option<QueuePosition>],
        per_shard: usize,
        watermark: Timestamp,
    ) -> Result<Vec<ShardRead>, StoreError> {
        let queries = positions.iter().enumerate().map(|(shard, position)| {
            let shard_number = u8::try_from(shard).unwrap_or(u8::MAX);
            self.engine.query(Query {
                index: Index::Gsi2,
                partition: keys::status_queue_partition(status, shard_number),
                direction: Direction::Ascending,
                limit: per_shard + 1,
                start_after: position
                    .as_ref()
                    .map(|position| start_after(status, shard_number, position)),
            })
        });
        let mut reads = Vec::with_capacity(positions.len());
        for (shard, items) in try_join_all(queries).await?.into_iter().enumerate() {
            let mut entries = Vec::with_capacity(items.len());
            for item in items {
                let Some(entry) = entry(shard, &item)? else {
                    continue;
                };
                // Each shard is in time order: the rest are younger still.
                if entry.position.entered >= watermark {
                    break;
                }
                entries.push(entry);
            }
            let more = entries.len() > per_shard;
            entries.truncate(per_shard);
            reads.push(ShardRead { entries, more });
        }
        Ok(reads)
    }

    /// Runs a write that puts an order on a queue to its end, even if the
    /// request that started it goes away (a client that hung up drops the
    /// handler): `held`, the order's stamp, is released only once the
    /// write has answered, so no page of this process passes the order's
    /// place while its write may still land. The write keeps the request's
    /// DynamoDB budget, so it ends when the request would have.
    pub(super) async fn write_entering<T: Send + 'static>(
        &self,
        held: InFlight,
        write: impl Future<Output = Result<T, EngineError>> + Send + 'static,
    ) -> Result<T, EngineError> {
        let deadline = self.engine.start_budget();
        let landed = async move {
            let outcome = write.await;
            drop(held);
            outcome
        };
        tokio::spawn(super::budget::continuing(deadline, landed).in_current_span())
            .await
            .unwrap_or_else(|failed| {
                Err(EngineError::Internal(anyhow::anyhow!(
                    "a queue write's task failed: {failed}"
                )))
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

/// What one shard gave a page.
struct ShardRead {
    entries: Vec<Entry>,
    /// A settled entry follows the last one read.
    more: bool,
}

/// The page's entries (the oldest `limit` of the shards') and whether more
/// remain; `None` when a shard with more unread could hold some of them.
/// An entry is safe to take when no unread entry can sort before it: not
/// past the last entry read from any shard that has more.
fn merge(reads: Vec<ShardRead>, limit: usize) -> Option<(Vec<Entry>, bool)> {
    let boundary = reads
        .iter()
        .filter(|read| read.more)
        .filter_map(|read| read.entries.last().map(|entry| entry.sort_key.clone()))
        .min();
    let any_more = reads.iter().any(|read| read.more);
    let mut safe: Vec<Entry> = reads
        .into_iter()
        .flat_map(|read| read.entries)
        .filter(|entry| boundary.as_ref().is_none_or(|b| entry.sort_key <= *b))
        .collect();
    if safe.len() < limit && any_more {
        return None;
    }
    safe.sort_by(|a, b| a.sort_key.cmp(&b.sort_key));
    // Past the page: an entry read, or one a shard has unread.
    let more = safe.len() > limit || any_more;
    safe.truncate(limit);
    Some((safe, more))
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

/// The entry `item` makes in `shard`'s queue. Its place comes from its
/// keys; an order that cannot be read is reported (see `unreadable`) and
/// passed over. An entry whose keys name no place in this shard (no time,
/// or an order id of another shard, which no version of the service
/// writes) is reported and skipped: a token could not carry its place.
fn entry(shard: usize, item: &Item) -> Result<Option<Entry>, StoreError> {
    let sort_key = text(item, GSI2SK).unwrap_or_default().to_owned();
    let entered = sort_key
        .split_once('#')
        .and_then(|(at, _)| Timestamp::parse(at).ok());
    let id = text(item, SK).and_then(keys::order_id_of_sort_key);
    let owner = text(item, PK).and_then(keys::owner_of_partition);
    let (Some(entered), Some(id), Some(owner)) = (entered, id, owner) else {
        super::unreadable::report(item, "order", GSI2SK);
        return Ok(None);
    };
    if usize::from(keys::order_shard(id)) != shard {
        super::unreadable::report(item, "order", GSI2PK);
        return Ok(None);
    }
    let order = match records::order_from_item(item) {
        Ok(order) => Some(order),
        // Reported where it was read.
        Err(StoreError::Unreadable { .. }) => None,
        Err(error) => return Err(error),
    };
    Ok(Some(Entry {
        shard,
        sort_key,
        position: QueuePosition { entered, id, owner },
        order,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Amount, ItemCount, Username};
    use crate::store::embedded::{ChangeFeed, EmbeddedEngine};
    use crate::store::engine::{Condition, Engine, Transaction, WriteOp};

    fn placed_order(id: crate::domain::OrderId, at: Timestamp) -> Order {
        Order {
            id,
            owner: Username::parse("ann").unwrap(),
            status: OrderStatus::Placed.into(),
            amount: Amount::parse("5.5").unwrap().into(),
            items: ItemCount::parse("2").unwrap().into(),
            created_at: Some(at),
            updated_at: None,
            account: None,
            version: 1,
        }
    }

    async fn put(store: &Store, order: &Order) {
        let mut transaction = Transaction::default();
        transaction.add(WriteOp::Put {
            item: records::order_item(order, None),
            condition: Condition::NotExists,
        });
        store.engine.write(transaction).await.unwrap();
    }

    /// Most of the queue in one shard: the first round's share per shard is
    /// too small for a page, and the other shard's newer orders must not
    /// jump the queue. The page takes a second round, and a walk still
    /// returns each order once, oldest first.
    #[tokio::test]
    async fn a_shard_holding_most_of_the_queue_still_pages_oldest_first_once() {
        let dir = tempfile::TempDir::new().unwrap();
        let engine = EmbeddedEngine::open(dir.path(), ChangeFeed::Off).unwrap();
        let store = Store::new(Engine::Embedded(engine));
        let start = Timestamp::parse("2026-11-30T09:00:00.000000Z").unwrap();
        let mut placed = Vec::new();
        for i in 0..21u8 {
            let mut bytes = ulid::Ulid::generate().to_bytes();
            // The 16 oldest in shard 0, the 5 newest in shard 1.
            bytes[15] = i * 4 + u8::from(i >= 16);
            let id = crate::domain::OrderId::from_ulid(ulid::Ulid::from_bytes(bytes));
            let at = Timestamp::from_datetime(
                start.as_datetime() + std::time::Duration::from_secs(u64::from(i)),
            );
            put(&store, &placed_order(id, at)).await;
            placed.push(id);
        }
        let mut walked = Vec::new();
        let mut token = None;
        loop {
            let page = store
                .status_queue(OrderStatus::Placed, 8, token)
                .await
                .unwrap();
            assert!(!page.orders.is_empty());
            walked.extend(page.orders.iter().map(|order| order.id));
            match page.next {
                Some(next) => token = Some(next),
                None => break,
            }
        }
        assert_eq!(walked, placed);
    }

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
        let id = crate::domain::OrderId::from_ulid(ulid::Ulid::generate());
        put(&store, &placed_order(id, entered)).await;
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
