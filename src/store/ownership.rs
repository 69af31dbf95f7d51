//! Whose data a caller may touch. A customer's profile and the orders they
//! placed carry their account (the token's `sub`), because a username can
//! pass to a new account once the old one is deleted (Cognito, "User pool
//! attributes": `sub` is unique and never reassigned; a username is not).
//!
//! A profile that carries no account yet (the replaced system's customers,
//! or one an admin registered) is claimed only by an account whose token
//! proves the profile's email: an ID token whose verified `email` equals
//! the stored `Email`, letter case aside. A username proves nothing: with
//! self sign-up, anyone can take a legacy customer's name first. The claim
//! is decided on a read (DynamoDB compares exactly; the service compares
//! ignoring case) and written under the condition that the profile is
//! still unclaimed and holds the address read. Any other caller is refused
//! as for anyone else's data. An admin binds an account to a profile whose
//! address nobody can prove ([`Store::bind_account`]).

use super::engine::{AttributeCheck, Condition, EngineError, Item, Value, set, text};
use super::records::{self, DELETING, EMAIL, MIGRATED_FROM, SUB};
use super::{Store, StoreError, keys};
use crate::domain::{Access, AccountId, Order, StoredEmail, User, Username};

/// The customer exists, is not being deleted, reads as a profile, and (for
/// a customer caller) is theirs already.
pub(super) fn active_customer_of(access: &Access) -> Condition {
    Condition::ExistsAnd(active_customer_checks(access))
}

pub(super) fn active_customer_checks(access: &Access) -> Vec<AttributeCheck> {
    let mut checks = vec![AttributeCheck::Absent(DELETING)];
    checks.extend(records::profile_readable());
    if let Some(account) = access.account() {
        checks.push(AttributeCheck::equals(SUB, records::account_value(account)));
    }
    checks
}

/// The profile is still unclaimed and holds `email` exactly: the condition
/// of a claim decided on a read.
pub(super) fn still_claimable(email: &StoredEmail) -> Condition {
    let mut checks = vec![
        AttributeCheck::Absent(DELETING),
        AttributeCheck::Absent(SUB),
        AttributeCheck::equals(EMAIL, Value::S(email.as_str().to_owned())),
    ];
    checks.extend(records::profile_readable());
    Condition::ExistsAnd(checks)
}

/// How often a write decided on a read decides again when the item
/// changed between the two (a claim, a deletion, a concurrent edit).
pub(super) const DECISION_ROUNDS: usize = 3;

/// The profile is still as `item` was read in everything a write decided
/// on: not being deleted, the same owner (or none), the same email (a
/// claim's proof) and the same origin (`migrate`'s move), and readable.
pub(super) fn profile_as_read(item: &Item) -> Condition {
    let as_read = |name: &'static str| match item.get(name) {
        Some(value) => AttributeCheck::equals(name, value.clone()),
        None => AttributeCheck::Absent(name),
    };
    let mut checks = vec![
        AttributeCheck::Absent(DELETING),
        as_read(SUB),
        as_read(EMAIL),
        as_read(MIGRATED_FROM),
    ];
    checks.extend(records::profile_readable());
    Condition::ExistsAnd(checks)
}

/// What an item's current state says about a failed customer condition:
/// gone (or going), unreadable, or someone else's.
pub(super) fn refused(current: Option<&Item>, access: &Access) -> StoreError {
    match current {
        Some(item) if records::is_profile(item) => match profile_for(item, access) {
            Ok(_) => StoreError::Forbidden,
            Err(unreadable) => unreadable,
        },
        _ => StoreError::UserNotFound,
    }
}

/// A profile as read, for `access`: an item no writer could have written
/// answers STORED_ITEM_UNREADABLE only to staff or to the account it names;
/// anyone else gets the refusal they get for others' data, so a broken item
/// tells a stranger nothing.
pub(super) fn profile_for(item: &Item, access: &Access) -> Result<User, StoreError> {
    records::user_from_item(item).map_err(|error| hide_unreadable(item, access.account(), error))
}

/// An order as read, for a viewer (a customer's account; `None` for staff),
/// on the same terms as [`profile_for`].
pub(super) fn order_for(item: &Item, viewer: Option<&AccountId>) -> Result<Order, StoreError> {
    records::order_from_item(item).map_err(|error| hide_unreadable(item, viewer, error))
}

fn hide_unreadable(item: &Item, viewer: Option<&AccountId>, error: StoreError) -> StoreError {
    match (viewer, &error) {
        (Some(account), StoreError::Unreadable { .. })
            if text(item, SUB) != Some(account.as_str()) =>
        {
            StoreError::Forbidden
        }
        _ => error,
    }
}

/// What a caller may do with a profile as read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Standing {
    /// Staff, or the account the profile belongs to.
    Owns,
    /// An unclaimed profile whose email the caller's token proves.
    MayClaim,
}

/// Decides, on a profile as read, what `access` may do with it; anyone
/// else is refused as for another account's data.
pub(super) fn standing(profile: &User, access: &Access) -> Result<Standing, StoreError> {
    let Some(account) = access.account() else {
        return Ok(Standing::Owns);
    };
    match &profile.account {
        Some(owner) if owner == account => Ok(Standing::Owns),
        None if access.proves(&profile.email) => Ok(Standing::MayClaim),
        _ => Err(StoreError::Forbidden),
    }
}

/// How an account came to own a profile, for the audit line and metric.
#[derive(Debug, Clone, Copy)]
pub(super) enum ClaimedBy {
    VerifiedEmail,
    AdminBind,
}

impl ClaimedBy {
    fn as_str(self) -> &'static str {
        match self {
            ClaimedBy::VerifiedEmail => "verified-email",
            ClaimedBy::AdminBind => "admin-bind",
        }
    }
}

/// One audit line per claim, naming the profile and the account, and the
/// `ProfileClaims` metric.
pub(super) fn audit_claim(username: &Username, account: &AccountId, how: ClaimedBy) {
    tracing::info!(
        profile = %username.canonical(),
        account = account.as_str(),
        claimed_by = how.as_str(),
        "an account claimed a profile"
    );
    crate::telemetry::metrics::profile_claim(how.as_str());
}

impl Store {
    /// Checks that `profile` belongs to `access`, claiming it if it belongs
    /// to nobody yet and the caller's token proves its email.
    pub(super) async fn own_profile(
        &self,
        profile: &User,
        access: &Access,
    ) -> Result<(), StoreError> {
        match standing(profile, access)? {
            Standing::Owns => Ok(()),
            Standing::MayClaim => self.claim(profile, access).await,
        }
    }

    /// Binds the unclaimed `profile` to `access`'s account, decided on the
    /// profile as read. Of two accounts racing for it, one wins and the
    /// other is refused.
    pub(super) async fn claim(&self, profile: &User, access: &Access) -> Result<(), StoreError> {
        let Some(account) = access.account() else {
            return Ok(());
        };
        let claimed = self
            .engine
            .update(
                &keys::customer(&profile.username),
                vec![set(SUB, records::account_value(account))],
                still_claimable(&profile.email),
            )
            .await;
        match claimed {
            Ok(_) => {
                audit_claim(&profile.username, account, ClaimedBy::VerifiedEmail);
                Ok(())
            }
            Err(EngineError::ConditionFailed(failed)) => {
                match failed.only().and_then(|f| f.current.as_ref()) {
                    // Another request of the same account claimed it first.
                    Some(item) if owned_by(item, account) => Ok(()),
                    current => Err(refused(current, access)),
                }
            }
            Err(error) => Err(error.into()),
        }
    }

    /// Checks that `order` belongs to `access`, claiming its profile if the
    /// caller may. An order placed without an account (by an admin, or
    /// before accounts were recorded) belongs to whoever owns its
    /// customer's profile.
    pub async fn check_order_access(
        &self,
        order: &Order,
        access: &Access,
    ) -> Result<(), StoreError> {
        if let Some(profile) = self.order_standing(order, access).await? {
            self.claim(&profile, access).await?;
        }
        Ok(())
    }

    /// Decides, without writing, whether `order` is `access`'s: `Some` with
    /// the profile when the caller must claim it first.
    pub(super) async fn order_standing(
        &self,
        order: &Order,
        access: &Access,
    ) -> Result<Option<User>, StoreError> {
        let Some(account) = access.account() else {
            return Ok(None);
        };
        match &order.account {
            Some(owner) if owner == account => Ok(None),
            Some(_) => Err(StoreError::Forbidden),
            None => {
                let (profile, standing) = self.read_profile(&order.owner, access).await?;
                if !order.belongs_to(&profile) {
                    return Err(StoreError::Forbidden);
                }
                Ok((standing == Standing::MayClaim).then_some(profile))
            }
        }
    }

    /// Reads `username`'s profile and decides what `access` may do with it.
    async fn read_profile(
        &self,
        username: &Username,
        access: &Access,
    ) -> Result<(User, Standing), StoreError> {
        match self.engine.get(&keys::customer(username)).await? {
            Some(item) if records::is_profile(&item) => {
                let profile = profile_for(&item, access)?;
                let standing = standing(&profile, access)?;
                Ok((profile, standing))
            }
            _ => Err(StoreError::UserNotFound),
        }
    }

    /// Reads `username`'s profile and checks (or claims) it for `access`.
    pub(super) async fn own_profile_of(
        &self,
        username: &Username,
        access: &Access,
    ) -> Result<User, StoreError> {
        let (mut profile, standing) = self.read_profile(username, access).await?;
        if standing == Standing::MayClaim {
            self.claim(&profile, access).await?;
        }
        profile.account = profile.account.or_else(|| access.account().cloned());
        Ok(profile)
    }
}

/// The item is a profile of `account` already.
pub(super) fn owned_by(item: &Item, account: &AccountId) -> bool {
    records::is_profile(item) && text(item, SUB) == Some(account.as_str())
}

/// The account, as the value a condition compares.
pub(super) fn account_of(access: &Access) -> Option<Value> {
    access.account().map(records::account_value)
}
