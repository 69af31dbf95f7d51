//! Orders: placement under the customer's check, listings, reads by id, and
//! status moves whose allowed predecessors are the write's condition.

use super::engine::{
    self, AttributeCheck, Change, Condition, Direction, EngineError, Index, Item, Query,
    Transaction, Value, WriteOp, key_item, set,
};
use super::idempotency::{self, ScopedKey};
use super::keys::{self, GSI1PK, GSI1SK, GSI2PK, GSI2SK, IdempotentWrite};
use super::ownership::{
    Standing, account_of, active_customer_of, order_for, profile_for, refused, standing,
};
use super::records::{self, STATUS, SUB, UPDATED_AT, VERSION};
use super::{Store, StoreError, Written};
use crate::domain::{
    Access, AccountId, NewOrder, Order, OrderId, OrderStatus, StoredStatus, Username,
};

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

    /// Moves an order to `to`. The allowed current statuses are the write's
    /// condition, so no concurrent move can slip between check and write. A
    /// move to the status the order has already is answered with the order
    /// as it is (a retried move succeeded the first time). A customer's move
    /// is also conditioned on the order being theirs.
    pub async fn move_order(
        &self,
        owner: &Username,
        id: OrderId,
        to: OrderStatus,
        access: &Access,
    ) -> Result<Order, StoreError> {
        match self
            .try_move(owner, id, to, access, Binding::OwnedOrder)
            .await
        {
            // An order placed without an account: check (or claim) the
            // profile, then move it and record the account on it.
            Err(StoreError::Unclaimed) => {
                let order = self.order(id, Some(owner), access.account()).await?;
                // Decided before the claim writes: whose it is, then
                // whether the state machine takes the move at all.
                let to_claim = self.order_standing(&order, access).await?;
                let allowed = order.status == to
                    || order
                        .status
                        .known()
                        .is_some_and(|from| to.allowed_predecessors().contains(&from));
                if !allowed {
                    return Err(StoreError::InvalidTransition {
                        from: order.status,
                        to,
                    });
                }
                if let Some(profile) = to_claim {
                    self.claim(&profile, access).await?;
                }
                self.try_move(owner, id, to, access, Binding::UnboundOrder)
                    .await
            }
            moved => moved,
        }
    }

    async fn try_move(
        &self,
        owner: &Username,
        id: OrderId,
        to: OrderStatus,
        access: &Access,
        binding: Binding,
    ) -> Result<Order, StoreError> {
        let from = to.allowed_predecessors();
        let status_check = if from.is_empty() {
            // Nothing moves into `to` (PLACED) from the state machine: only
            // a repeat, or staff repairing another status, is an answer.
            let current = self.order(id, Some(owner), access.account()).await?;
            self.check_order_access(&current, access).await?;
            if current.status == to {
                return Ok(current);
            }
            match current.status {
                StoredStatus::Other(raw) if access.account().is_none() => {
                    AttributeCheck::equals(STATUS, Value::S(raw))
                }
                from => return Err(StoreError::InvalidTransition { from, to }),
            }
        } else {
            AttributeCheck::In(
                STATUS,
                from.iter().copied().map(records::status_value).collect(),
            )
        };
        let moved = self
            .update_status(owner, id, to, access, binding, status_check)
            .await;
        match moved {
            // A status only the original system wrote: staff may move the
            // order to any status of the state machine, if it still holds it.
            Err(StoreError::InvalidTransition {
                from: StoredStatus::Other(raw),
                to,
            }) if access.account().is_none() => {
                let still = AttributeCheck::equals(STATUS, Value::S(raw));
                self.update_status(owner, id, to, access, binding, still)
                    .await
            }
            moved => moved,
        }
    }

    /// One conditional write of a move: `status_check` says which current
    /// statuses it may leave.
    async fn update_status(
        &self,
        owner: &Username,
        id: OrderId,
        to: OrderStatus,
        access: &Access,
        binding: Binding,
        status_check: AttributeCheck,
    ) -> Result<Order, StoreError> {
        let key = keys::order(owner, id);
        // Readable, so the answer never fails after the write.
        let mut checks = vec![status_check];
        checks.extend(records::order_readable());
        let (now, entering) = self.entering.stamp();
        // The order leaves its old status's queue and joins the end of the
        // new one's, in the same write: still one request per move.
        let (queue_partition, queue_position) = keys::order_gsi2(to, id, now);
        // The lookup by id too, which an order the original system placed
        // has no key for until `migrate` runs.
        let (by_id_partition, by_id_owner) = keys::order_gsi1(owner, id);
        let mut changes = vec![
            set(STATUS, records::status_value(to)),
            set(UPDATED_AT, records::timestamp_value(now)),
            set(GSI1PK, Value::S(by_id_partition)),
            set(GSI1SK, Value::S(by_id_owner)),
            set(GSI2PK, Value::S(queue_partition)),
            set(GSI2SK, Value::S(queue_position)),
            // In the same write as the move: subscribers order an order's
            // events by it.
            (VERSION, Change::Increment),
        ];
        if let Some(account) = account_of(access) {
            match binding {
                Binding::OwnedOrder => checks.push(AttributeCheck::equals(SUB, account)),
                Binding::UnboundOrder => {
                    checks.push(AttributeCheck::Absent(SUB));
                    changes.push(set(SUB, account));
                }
            }
        }
        if let Some(trace_parent) = records::current_trace_parent() {
            changes.push(set(records::TRACE_PARENT, trace_parent));
        }
        let engine = self.engine.clone();
        let moved = async move {
            let condition = Condition::ExistsAnd(checks);
            engine.update(&key, changes, condition).await
        };
        match self.write_entering(entering, moved).await {
            Ok(item) => records::order_from_item(&item),
            Err(EngineError::ConditionFailed(failed)) => {
                let Some(current) = failed.only().and_then(|f| f.current.as_ref()) else {
                    return Err(StoreError::OrderNotFound);
                };
                let current = order_for(current, access.account())?;
                if let Some(account) = access.account() {
                    match &current.account {
                        Some(theirs) if theirs != account => return Err(StoreError::Forbidden),
                        None if binding == Binding::OwnedOrder => {
                            return Err(StoreError::Unclaimed);
                        }
                        _ => {}
                    }
                }
                if current.status == to {
                    return Ok(current);
                }
                Err(StoreError::InvalidTransition {
                    from: current.status,
                    to,
                })
            }
            Err(error) => Err(error.into()),
        }
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

/// Whether a customer's move expects the order to carry their account, or
/// (after the profile was checked) to carry none yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Binding {
    OwnedOrder,
    UnboundOrder,
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
