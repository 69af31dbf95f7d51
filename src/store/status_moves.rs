//! Status moves: the order's allowed predecessors are the write's condition,
//! and the move takes the order off one status queue and onto the next in the
//! same write.

use super::engine::{AttributeCheck, Change, Condition, EngineError, Value, set};
use super::keys::{self, GSI1PK, GSI1SK, GSI2PK, GSI2SK};
use super::ownership::{account_of, order_for};
use super::records::{self, STATUS, SUB, UPDATED_AT, VERSION};
use super::{Store, StoreError};
use crate::domain::{Access, Order, OrderId, OrderStatus, StoredStatus, Username};

impl Store {
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

/// Whether a customer's move expects the order to carry their account, or
/// (after the profile was checked) to carry none yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Binding {
    OwnedOrder,
    UnboundOrder,
}
