//! The single-table model, written once over the engine interface.

pub mod dynamodb;
pub mod embedded;
pub mod engine;
mod error;
pub mod keys;
pub mod records;

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use crate::domain::{
    Address, IdempotencyKey, NewOrder, NewUser, Order, OrderId, OrderStatus, Timestamp, User,
    Username,
};
use engine::{
    AttributeCheck, Condition, ConditionFailed, Direction, Engine, EngineError, Index, Item, Query,
    Value, WriteOp,
};
pub use error::StoreError;
use keys::IdempotentWrite;
use records::{ADDRESS, DELETING, STATUS, UPDATED_AT};

/// Orders are removed in chunks this size when a user is deleted (DynamoDB's
/// limit for one transaction).
const DELETE_CHUNK: usize = dynamodb::MAX_TRANSACTION_ITEMS;

/// How long a retry with the same `Idempotency-Key` gets the first answer.
pub const IDEMPOTENCY_TTL: Duration = Duration::from_secs(24 * 60 * 60);

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

/// The write that records an idempotency key with the item it guards; it
/// fails if the key has an unexpired record.
fn idempotency_guard(
    write: IdempotentWrite,
    key: Option<&IdempotencyKey>,
    written: &Item,
    fingerprint: impl FnOnce() -> String,
) -> (Option<WriteOp>, Option<String>) {
    let Some(key) = key else {
        // Without a key there is nothing to record or compare: no work on
        // the write path.
        return (None, None);
    };
    let key = keys::idempotency(write, key);
    let fingerprint = fingerprint();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let expires_at = now + IDEMPOTENCY_TTL.as_secs() as i64;
    let guard = WriteOp::Put {
        item: records::idempotency_item(&key, written, &fingerprint, expires_at),
        condition: Condition::NotExistsOrBelow(keys::EXPIRES_AT, now),
    };
    (Some(guard), Some(fingerprint))
}

/// When the guard at `index` failed: the first write's item if the request
/// (its `fingerprint`) is the same, `IdempotencyKeyReused` if it is not.
/// `None` when the guard held (or there was none) and another condition failed.
fn replay(
    failed: &ConditionFailed,
    index: usize,
    fingerprint: Option<&str>,
) -> Result<Option<Item>, StoreError> {
    let (Some(fingerprint), Some(failure)) = (fingerprint, failed.failed(index)) else {
        return Ok(None);
    };
    let record = failure.current.as_ref().ok_or_else(|| {
        StoreError::Internal(anyhow::anyhow!(
            "an idempotency record's condition failed without its item"
        ))
    })?;
    let (recorded, first) = records::from_idempotency_item(record)?;
    if recorded != fingerprint {
        return Err(StoreError::IdempotencyKeyReused);
    }
    Ok(Some(first))
}

#[derive(Clone)]
pub struct Store {
    engine: Engine,
    order_ids: Arc<Mutex<ulid::Generator>>,
}

/// How far the stream reader got in one shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShardPosition {
    New,
    After(String),
    Finished,
}

/// One page of a customer's orders, newest first. `customer` is present on
/// the first page only.
#[derive(Debug)]
pub struct OrdersPage {
    pub customer: Option<User>,
    pub orders: Vec<Order>,
    pub next: Option<OrderId>,
}

impl Store {
    pub fn new(engine: Engine) -> Self {
        Self {
            engine,
            order_ids: Arc::new(Mutex::new(ulid::Generator::new())),
        }
    }

    /// Proves the engine answers by reading a key that never exists.
    pub async fn ready(&self) -> Result<(), StoreError> {
        self.engine.get(&keys::health_probe()).await?;
        Ok(())
    }

    /// Writes the profile and the email reservation in one transaction; each
    /// is conditional on not existing yet.
    /// Registers a user and reserves their email in one atomic write; under
    /// an idempotency key, as [`Store::place_order`] describes.
    pub async fn register(
        &self,
        new: NewUser,
        idempotency_key: Option<&IdempotencyKey>,
    ) -> Result<Written<User>, StoreError> {
        let user = User {
            username: new.username,
            email: new.email,
            name: new.name,
            address: None,
            created_at: Timestamp::now(),
        };
        let user_item = records::user_item(&user);
        // Built before the item moves into its Put: no copy without a key.
        let (guard, fingerprint) = idempotency_guard(
            IdempotentWrite::Registration,
            idempotency_key,
            &user_item,
            || {
                format!(
                    "{}|{}|{}",
                    user.username,
                    user.email.as_str(),
                    user.name.as_str()
                )
            },
        );
        let mut ops = vec![
            WriteOp::Put {
                item: user_item,
                condition: Condition::NotExists,
            },
            WriteOp::Put {
                item: records::email_reservation_item(&user),
                condition: Condition::NotExists,
            },
        ];
        ops.extend(guard);
        match self.engine.write(ops).await {
            Ok(()) => Ok(Written::new(user)),
            Err(EngineError::ConditionFailed(failed)) => {
                if let Some(first) = replay(&failed, 2, fingerprint.as_deref())? {
                    return Ok(Written::replayed(records::user_from_item(&first)?));
                }
                Err(StoreError::Taken {
                    username: failed.failed(0).is_some(),
                    email: failed.failed(1).is_some(),
                })
            }
            Err(error) => Err(error.into()),
        }
    }

    pub async fn user(&self, username: &Username) -> Result<User, StoreError> {
        match self.engine.get(&keys::customer(username)).await? {
            Some(item) if !records::is_being_deleted(&item) => records::user_from_item(&item),
            _ => Err(StoreError::UserNotFound),
        }
    }

    /// Sets the address of an existing user; never creates an item.
    pub async fn set_address(
        &self,
        username: &Username,
        address: &Address,
    ) -> Result<User, StoreError> {
        let result = self
            .engine
            .update(
                &keys::customer(username),
                vec![(ADDRESS, Value::S(address.as_str().to_owned()))],
                active_customer(),
            )
            .await;
        match result {
            Ok(item) => records::user_from_item(&item),
            Err(EngineError::ConditionFailed(_)) => Err(StoreError::UserNotFound),
            Err(error) => Err(error.into()),
        }
    }

    /// Removes the profile, its email reservation and every order. The
    /// profile is first marked as being deleted, which hides it and blocks
    /// new orders, so a deletion interrupted half-way is finished by a retry
    /// and never leaves old orders for a new user of the same name.
    pub async fn delete_user(&self, username: &Username) -> Result<(), StoreError> {
        let customer = keys::customer(username);
        let marked = self
            .engine
            .update(
                &customer,
                vec![(DELETING, records::timestamp_value(Timestamp::now()))],
                Condition::Exists,
            )
            .await;
        let profile = match marked {
            Ok(item) => records::user_from_item(&item)?,
            Err(EngineError::ConditionFailed(_)) => return Err(StoreError::UserNotFound),
            Err(error) => return Err(error.into()),
        };
        loop {
            let batch = self
                .engine
                .query(Query {
                    index: Index::Table,
                    partition: customer.pk.clone(),
                    direction: Direction::Ascending,
                    limit: DELETE_CHUNK,
                    start_after: None,
                })
                .await?;
            let orders: Vec<WriteOp> = batch
                .iter()
                .filter_map(engine::key_of)
                .filter(|key| keys::is_order_sort_key(&key.sk))
                .map(|key| WriteOp::Delete {
                    key,
                    condition: Condition::Always,
                })
                .collect();
            if orders.is_empty() {
                break;
            }
            self.engine.write(orders).await?;
        }
        let ops = vec![
            WriteOp::Delete {
                key: customer,
                condition: Condition::Exists,
            },
            WriteOp::Delete {
                key: keys::email_reservation(&profile.email),
                condition: Condition::Always,
            },
        ];
        match self.engine.write(ops).await {
            Ok(()) => Ok(()),
            // A concurrent deletion of the same user finished first.
            Err(EngineError::ConditionFailed(_)) => Err(StoreError::UserNotFound),
            Err(error) => Err(error.into()),
        }
    }

    /// Places the order only if its customer exists, checked in the same
    /// atomic write.
    /// Places an order. Under an idempotency key, the order and the key's
    /// record are one atomic write: a retry of the same request finds the
    /// record and gets the first answer back; a different request under the
    /// same key is refused. Records expire after [`IDEMPOTENCY_TTL`].
    pub async fn place_order(
        &self,
        new: NewOrder,
        idempotency_key: Option<&IdempotencyKey>,
    ) -> Result<Written<Order>, StoreError> {
        let created_at = Timestamp::now();
        let order = Order {
            id: self.next_order_id(created_at),
            owner: new.username.canonical(),
            status: OrderStatus::Placed,
            amount: new.amount,
            items: new.items,
            created_at,
            updated_at: None,
        };
        let order_item = records::order_item(&order);
        // Built before the item moves into its Put: no copy without a key.
        let (guard, fingerprint) = idempotency_guard(
            IdempotentWrite::Placement,
            idempotency_key,
            &order_item,
            || {
                format!(
                    "{}|{}|{}",
                    order.owner,
                    order.amount.to_text(),
                    order.items.get()
                )
            },
        );
        let mut ops = vec![
            WriteOp::Check {
                key: keys::customer(&new.username),
                condition: active_customer(),
            },
            WriteOp::Put {
                item: order_item,
                condition: Condition::NotExists,
            },
        ];
        ops.extend(guard);
        match self.engine.write(ops).await {
            Ok(()) => Ok(Written::new(order)),
            Err(EngineError::ConditionFailed(failed)) => {
                // The key's record is checked first: the original answer
                // stands even if the customer was deleted since.
                if let Some(first) = replay(&failed, 2, fingerprint.as_deref())? {
                    return Ok(Written::replayed(records::order_from_item(&first)?));
                }
                if failed.failed(0).is_some() {
                    return Err(StoreError::UserNotFound);
                }
                Err(EngineError::ConditionFailed(failed).into())
            }
            Err(error) => Err(error.into()),
        }
    }

    /// One query per page. The first page reads the customer item too: it
    /// sorts after all orders, so a descending query returns it first.
    pub async fn orders_page(
        &self,
        username: &Username,
        limit: usize,
        after: Option<OrderId>,
    ) -> Result<OrdersPage, StoreError> {
        let partition = keys::customer_partition(username);
        let first_page = after.is_none();
        let start_after = after.map(|id| {
            let key = keys::order(username, id);
            Item::from([
                (keys::PK.to_owned(), Value::S(key.pk)),
                (keys::SK.to_owned(), Value::S(key.sk)),
            ])
        });
        // One extra order tells whether another page exists.
        let extra = if first_page { 2 } else { 1 };
        let mut items = self
            .engine
            .query(Query {
                index: Index::Table,
                partition,
                direction: Direction::Descending,
                limit: limit + extra,
                start_after,
            })
            .await?
            .into_iter();
        let customer = if first_page {
            let item = items.next().ok_or(StoreError::UserNotFound)?;
            let sk = engine::text(&item, keys::SK).unwrap_or_default();
            if !keys::is_customer_sort_key(sk) || records::is_being_deleted(&item) {
                return Err(StoreError::UserNotFound);
            }
            Some(records::user_from_item(&item)?)
        } else {
            None
        };
        let mut orders = items
            .map(|item| records::order_from_item(&item))
            .collect::<Result<Vec<_>, _>>()?;
        let next = if orders.len() > limit {
            orders.truncate(limit);
            orders.last().map(|order| order.id)
        } else {
            None
        };
        Ok(OrdersPage {
            customer,
            orders,
            next,
        })
    }

    /// Reads an order from its customer's partition, or through GSI1 when the
    /// customer is not given.
    pub async fn order(&self, id: OrderId, owner: Option<&Username>) -> Result<Order, StoreError> {
        let item = match owner {
            Some(owner) => self.engine.get(&keys::order(owner, id)).await?,
            None => self
                .engine
                .query(Query {
                    index: Index::Gsi1,
                    partition: keys::order_gsi1_partition(id),
                    direction: Direction::Ascending,
                    limit: 1,
                    start_after: None,
                })
                .await?
                .into_iter()
                .next(),
        };
        item.map(|item| records::order_from_item(&item))
            .transpose()?
            .ok_or(StoreError::OrderNotFound)
    }

    /// Moves an order to `to`. The allowed current statuses are the write's
    /// condition, so no concurrent move can slip between check and write.
    pub async fn move_order(
        &self,
        owner: &Username,
        id: OrderId,
        to: OrderStatus,
    ) -> Result<Order, StoreError> {
        let key = keys::order(owner, id);
        let from = to.allowed_predecessors();
        if from.is_empty() {
            let current = self.order(id, Some(owner)).await?;
            return Err(StoreError::InvalidTransition {
                from: current.status,
                to,
            });
        }
        let condition = Condition::ExistsAnd(AttributeCheck::In(
            STATUS,
            from.iter().copied().map(records::status_value).collect(),
        ));
        let mut set = vec![
            (STATUS, records::status_value(to)),
            (UPDATED_AT, records::timestamp_value(Timestamp::now())),
        ];
        if let Some(trace_parent) = records::current_trace_parent() {
            set.push((records::TRACE_PARENT, trace_parent));
        }
        match self.engine.update(&key, set, condition).await {
            Ok(item) => records::order_from_item(&item),
            Err(EngineError::ConditionFailed(failed)) => {
                match failed
                    .failed(0)
                    .and_then(|failure| failure.current.as_ref())
                {
                    Some(current) => Err(StoreError::InvalidTransition {
                        from: records::order_from_item(current)?.status,
                        to,
                    }),
                    None => Err(StoreError::OrderNotFound),
                }
            }
            Err(error) => Err(error.into()),
        }
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub async fn shard_position(&self, shard_id: &str) -> Result<ShardPosition, StoreError> {
        let item = self.engine.get(&keys::stream_checkpoint(shard_id)).await?;
        Ok(match item {
            None => ShardPosition::New,
            Some(item) if item.contains_key(records::FINISHED) => ShardPosition::Finished,
            Some(item) => engine::text(&item, records::SEQUENCE_NUMBER)
                .map_or(ShardPosition::New, |sequence| {
                    ShardPosition::After(sequence.to_owned())
                }),
        })
    }

    pub async fn save_shard_position(
        &self,
        shard_id: &str,
        position: &ShardPosition,
    ) -> Result<(), StoreError> {
        let set = match position {
            ShardPosition::New => return Ok(()),
            ShardPosition::After(sequence) => {
                vec![(records::SEQUENCE_NUMBER, Value::S(sequence.clone()))]
            }
            ShardPosition::Finished => vec![(
                records::FINISHED,
                records::timestamp_value(Timestamp::now()),
            )],
        };
        self.engine
            .update(&keys::stream_checkpoint(shard_id), set, Condition::Always)
            .await?;
        Ok(())
    }

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

/// The customer exists and is not being deleted.
fn active_customer() -> Condition {
    Condition::ExistsAnd(AttributeCheck::Absent(DELETING))
}
