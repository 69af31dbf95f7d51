//! Whose data a caller may touch. A customer's profile and the orders they
//! placed carry their account (the token's `sub`), because a username can
//! pass to a new account once the old one is deleted (Cognito, "User pool
//! attributes": `sub` is unique and never reassigned; a username is not).
//!
//! A profile that carries no account yet (registered by an admin, or before
//! accounts were recorded) is claimed by the first account that uses it
//! under its username, atomically: after that, only that account may.

use super::engine::{AttributeCheck, Condition, EngineError, Item, Value, set};
use super::orders::belongs_to_profile;
use super::records::{self, DELETING, SUB, USERNAME};
use super::{Store, StoreError, keys};
use crate::domain::{Access, AccountId, Order, User, Username};

/// The customer's profile exists (not only a key and an address, which the
/// original system's `edit-address` could leave) and is not being deleted;
/// for a customer caller, it is theirs or nobody's yet.
pub(super) fn active_customer(access: &Access) -> Condition {
    let mut checks = vec![
        AttributeCheck::Present(USERNAME),
        AttributeCheck::Absent(DELETING),
    ];
    if let Some(account) = access.account() {
        checks.push(owned_by_or_unclaimed(account));
    }
    Condition::ExistsAnd(checks)
}

/// The customer exists, is not being deleted, and (for a customer caller)
/// is theirs already: for writes that cannot claim (a transaction's check).
pub(super) fn active_customer_of(access: &Access) -> Condition {
    let mut checks = vec![
        AttributeCheck::Present(USERNAME),
        AttributeCheck::Absent(DELETING),
    ];
    if let Some(account) = access.account() {
        checks.push(AttributeCheck::equals(SUB, records::account_value(account)));
    }
    Condition::ExistsAnd(checks)
}

pub(super) fn owned_by_or_unclaimed(account: &AccountId) -> AttributeCheck {
    AttributeCheck::EqualsOrAbsent(SUB, records::account_value(account))
}

/// What an item's current state says about a failed customer condition:
/// gone (or going), or someone else's.
pub(super) fn refused(current: Option<&Item>) -> StoreError {
    match current {
        Some(item) if records::is_profile(item) => StoreError::Forbidden,
        _ => StoreError::UserNotFound,
    }
}

impl Store {
    /// Checks that `profile` belongs to `access`, claiming it if it belongs
    /// to nobody yet.
    pub(super) async fn own_profile(
        &self,
        profile: &User,
        access: &Access,
    ) -> Result<(), StoreError> {
        let Some(account) = access.account() else {
            return Ok(());
        };
        match &profile.account {
            Some(owner) if owner == account => Ok(()),
            Some(_) => Err(StoreError::Forbidden),
            None => self.claim(&profile.username, account).await,
        }
    }

    /// Binds the unclaimed profile of `username` to `account`. Of two
    /// accounts racing for it, one wins and the other is refused.
    pub(super) async fn claim(
        &self,
        username: &Username,
        account: &AccountId,
    ) -> Result<(), StoreError> {
        let claimed = self
            .engine
            .update(
                &keys::customer(username),
                vec![set(SUB, records::account_value(account))],
                active_customer(&Access::Account(account.clone())),
            )
            .await;
        match claimed {
            Ok(_) => {
                tracing::info!("an unclaimed profile now belongs to the account that used it");
                Ok(())
            }
            Err(EngineError::ConditionFailed(failed)) => {
                Err(refused(failed.only().and_then(|f| f.current.as_ref())))
            }
            Err(error) => Err(error.into()),
        }
    }

    /// Checks that `order` belongs to `access`. An order placed without an
    /// account (by an admin, or before accounts were recorded) belongs to
    /// whoever owns its customer's profile.
    pub async fn own_order(&self, order: &Order, access: &Access) -> Result<(), StoreError> {
        let Some(account) = access.account() else {
            return Ok(());
        };
        match &order.account {
            Some(owner) if owner == account => Ok(()),
            Some(_) => Err(StoreError::Forbidden),
            None => {
                let profile = self.own_profile_of(&order.owner, access).await?;
                if belongs_to_profile(order, &profile) {
                    Ok(())
                } else {
                    Err(StoreError::Forbidden)
                }
            }
        }
    }

    /// Reads `username`'s profile and checks (or claims) it for `access`.
    pub(super) async fn own_profile_of(
        &self,
        username: &Username,
        access: &Access,
    ) -> Result<User, StoreError> {
        match self.engine.get(&keys::customer(username)).await? {
            Some(item) if records::is_profile(&item) => {
                let profile = records::user_from_item(&item)?;
                self.own_profile(&profile, access).await?;
                Ok(profile)
            }
            _ => Err(StoreError::UserNotFound),
        }
    }
}

/// The account, as the value a condition compares.
pub(super) fn account_of(access: &Access) -> Option<Value> {
    access.account().map(records::account_value)
}
