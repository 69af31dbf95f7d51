//! The status queue: orders in one status across all customers, oldest
//! first, from GSI2. Each status is spread over [`keys::STATUS_SHARDS`]
//! index partitions; a page reads every shard from where the last page left
//! it, merges them by the time each order entered the status, and returns
//! the first `limit`. The next page's token carries each shard's position.

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
                fetched.push(entry(shard, &item)?);
            }
        }
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
            orders: fetched.into_iter().map(|entry| entry.order).collect(),
            next: more_than_a_page.then_some(QueueToken {
                status,
                positions: next_positions,
            }),
        })
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
