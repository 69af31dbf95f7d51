//! Orders: placement under the customer's check, listings and reads by id.
//! Status moves are in `moves`.

use super::engine::{
    self, Condition, Direction, EngineError, Index, Item, Query, Transaction, WriteOp, key_item,
};
use super::idempotency::{self, ScopedKey};
use super::keys::{self, IdempotentWrite};
use super::ownership::{Standing, active_customer_of, order_for, profile_for, refused, standing};
use super::records::{self, SUB};
use super::{Store, StoreError, Written};
use crate::domain::{Access, AccountId, NewOrder, Order, OrderId, OrderStatus, Username};

/// How often a placement claims an unclaimed profile and tries again.
const CLAIM_ROUNDS: usize = 3;

/// One page of a customer's orders, newest first. `customer` is present on
/// the first page only.
#[derive(Debug)]
pub struct OrdersPage {
    pub customer: Option<crate::domain::User>,
    pub orders: Vec<Order>,
    pub next: Option<OrderId>,
}

impl Store {
    /// Places an order if its customer exists (and, for a customer caller,
    /// is theirs), checked in the same atomic write. Under an idempotency
    /// key, the order and the key's record are one atomic write: a retry of
    /// the same request finds the record and gets the first answer back; a
    /// different request under the same key is refused. Records expire after
    /// [`super::IDEMPOTENCY_TTL`].
    pub async fn place_order(
        &self,
        new: NewOrder,
        access: &Access,
        idempotency_key: Option<ScopedKey<'_>>,
    ) -> Result<Written<Order>, StoreError> {
        // The customer's profile belongs to nobody yet, and the caller's
        // token proves its email: claim it, then place. It can lose its
        // owner again meanwhile (an admin deleted and registered it anew),
        // so a few rounds, then a retry-later answer.
        for _ in 0..CLAIM_ROUNDS {
            match self.try_place(&new, access, idempotency_key).await {
                Err(StoreError::Claimable(profile)) => self.claim(&profile, access).await?,
                placed => return placed,
            }
        }
        Err(StoreError::Unavailable(anyhow::anyhow!(
            "the customer's profile kept losing its owner while an order was placed"
        )))
    }

    async fn try_place(
        &self,
        new: &NewOrder,
        access: &Access,
        idempotency_key: Option<ScopedKey<'_>>,
    ) -> Result<Written<Order>, StoreError> {
        // Held until the write has answered: the queue waits for it.
        let (created_at, entering) = self.entering.stamp();
        let order = Order {
            id: self.next_order_id(created_at),
            owner: new.username.canonical(),
            status: OrderStatus::Placed.into(),
            amount: new.amount.into(),
            items: new.items.into(),
            created_at: Some(created_at),
            updated_at: None,
            account: access.account().cloned(),
            version: 1,
        };
        let order_item = records::order_item(&order, records::current_trace_parent());
        let mut transaction = Transaction::default();
        // Built before the item moves into its Put: no copy without a key.
        let guard = idempotency::guard(
            &mut transaction,
            IdempotentWrite::Placement,
            idempotency_key,
            &order_item,
            || {
                format!(
                    "{}|{}|{}",
                    order.owner,
                    order.amount.as_str(),
                    order.items.as_str()
                )
            },
        );
        let customer = transaction.add(WriteOp::Check {
            key: keys::customer(&new.username),
            condition: active_customer_of(access),
        });
        let placed = transaction.add(WriteOp::Put {
            item: order_item,
            condition: Condition::NotExists,
        });
        let engine = self.engine.clone();
        let written = async move { engine.write(transaction).await };
        match self.write_entering(entering, written).await {
            Ok(()) => Ok(Written::new(order)),
            Err(EngineError::ConditionFailed(failed)) => {
                // The key's record is checked first: the original answer
                // stands even if the customer was deleted since.
                if let Some(first) = idempotency::replay(&failed, guard.as_ref())? {
                    return Ok(Written::replayed(records::order_from_item(&first)?));
                }
                // The id is this write's own, fresh: an order under it is
                // this very write, landed by an attempt the engine had given
                // up on (late, then a conflict retried under a new token).
                if let Some(landed) = failed.at(placed) {
                    return match &landed.current {
                        Some(item) => Ok(Written::new(records::order_from_item(item)?)),
                        None => Ok(Written::new(order)),
                    };
                }
                match failed.at(customer) {
                    Some(failure) => Err(customer_refusal(failure.current.as_ref(), access)),
                    None => Err(EngineError::ConditionFailed(failed).into()),
                }
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
        access: &Access,
    ) -> Result<OrdersPage, StoreError> {
        let partition = keys::customer_partition(username);
        let first_page = after.is_none();
        let start_after = after.map(|id| key_item(&keys::order(username, id)));
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
            if !keys::is_customer_sort_key(sk) || !records::is_profile(&item) {
                return Err(StoreError::UserNotFound);
            }
            let mut customer = profile_for(&item, access)?;
            self.own_profile(&customer, access).await?;
            // Claimed just now, if it was nobody's.
            customer.account = customer.account.or_else(|| access.account().cloned());
            Some(customer)
        } else {
            None
        };
        // Whether there is more, and where it starts, is decided on the
        // items read: orders passed over below (unreadable, or an earlier
        // account's) never end the listing early.
        let mut page: Vec<Item> = items.collect();
        let next = if page.len() > limit {
            page.truncate(limit);
            page.last()
                .and_then(|item| engine::text(item, keys::SK))
                .and_then(keys::order_id_of_sort_key)
        } else {
            None
        };
        let mut orders = readable_orders(page)?;
        let profile = match &customer {
            Some(customer) => Some(customer.clone()),
            None => self.own_later_page(username, &orders, access).await?,
        };
        if let (Some(profile), Some(_)) = (&profile, access.account()) {
            orders.retain(|order| order.belongs_to(profile));
        }
        Ok(OrdersPage {
            customer,
            orders,
            next,
        })
    }

    /// A later page holds no profile to check: its orders must carry the
    /// caller's account, or (orders without one, or no orders) the profile
    /// is read and checked, and returned. A page token is only an order id:
    /// anyone can make one.
    async fn own_later_page(
        &self,
        username: &Username,
        orders: &[Order],
        access: &Access,
    ) -> Result<Option<crate::domain::User>, StoreError> {
        let Some(account) = access.account() else {
            return Ok(None);
        };
        if orders
            .iter()
            .any(|order| order.account.as_ref().is_some_and(|a| a != account))
        {
            return Err(StoreError::Forbidden);
        }
        if orders.is_empty() || orders.iter().any(|order| order.account.is_none()) {
            return self.own_profile_of(username, access).await.map(Some);
        }
        Ok(None)
    }

    /// Reads an order from its customer's partition, or, when the customer
    /// is not given, finds the customer through GSI1 and then reads the order
    /// from the table: index reads are eventually consistent ("Read
    /// consistency for global secondary indexes"), table reads are strongly
    /// consistent, so a move or a deletion just answered is what a read sees.
    /// Checking who may see it is the caller's ([`Store::check_order_access`]).
    /// `viewer` is a customer caller's account (`None` for staff): an
    /// unreadable order answers as someone else's to anyone it does not name.
    pub async fn order(
        &self,
        id: OrderId,
        owner: Option<&Username>,
        viewer: Option<&AccountId>,
    ) -> Result<Order, StoreError> {
        let key = match owner {
            Some(owner) => keys::order(owner, id),
            None => {
                let indexed = self
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
                    .next()
                    .ok_or(StoreError::OrderNotFound)?;
                engine::key_of(&indexed).ok_or_else(|| {
                    StoreError::Internal(anyhow::anyhow!("an index entry without its key"))
                })?
            }
        };
        let item = self
            .engine
            .get(&key)
            .await?
            .ok_or(StoreError::OrderNotFound)?;
        order_for(&item, viewer)
    }
}

/// The orders among `items`, passing over any that cannot be read (each is
/// reported: see [`super::unreadable`]), so one bad item never hides the rest.
pub(super) fn readable_orders(
    items: impl IntoIterator<Item = Item>,
) -> Result<Vec<Order>, StoreError> {
    let mut orders = Vec::new();
    for item in items {
        match records::order_from_item(&item) {
            Ok(order) => orders.push(order),
            Err(StoreError::Unreadable { .. }) => {}
            Err(error) => return Err(error),
        }
    }
    Ok(orders)
}

/// Why the customer check of a placement failed: an unclaimed profile the
/// caller may claim (decided on the profile as it is now), or a refusal.
fn customer_refusal(current: Option<&Item>, access: &Access) -> StoreError {
    match current {
        Some(item) if records::is_profile(item) && engine::text(item, SUB).is_none() => {
            let profile = match profile_for(item, access) {
                Ok(profile) => profile,
                Err(unreadable) => return unreadable,
            };
            match standing(&profile, access) {
                Ok(Standing::MayClaim) => StoreError::Claimable(Box::new(profile)),
                Ok(Standing::Owns) => refused(current, access),
                Err(refusal) => refusal,
            }
        }
        current => refused(current, access),
    }
}
