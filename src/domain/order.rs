use super::{
    AccountId, Amount, ItemCount, OrderId, StoredNumber, StoredStatus, Timestamp, User, Username,
};

/// An order request that passed validation.
#[derive(Debug, Clone)]
pub struct NewOrder {
    pub username: Username,
    pub amount: Amount,
    pub items: ItemCount,
}

/// An order as stored, by this service or the one it replaced. `owner` is the canonical (lower-case) username of the
/// customer whose partition holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub id: OrderId,
    pub owner: Username,
    pub status: StoredStatus,
    pub amount: StoredNumber,
    pub items: StoredNumber,
    /// Absent only on an order the original system wrote without one.
    pub created_at: Option<Timestamp>,
    pub updated_at: Option<Timestamp>,
    /// The owner's account, recorded when the owner placed it; `None` for
    /// orders placed by an admin or before accounts were recorded.
    pub account: Option<AccountId>,
    /// 1 when placed, one more with each status move: subscribers put an
    /// order's events in order, and drop repeats, by it.
    pub version: u64,
}

/// How far apart two tasks' clocks may be when an order's placing time is
/// compared with its profile's registration: both were stamped by whichever
/// task served the request. ECS tasks keep time from the Amazon Time Sync
/// Service, within a millisecond; five minutes also covers a host whose
/// synchronisation failed for a while.
pub const CLOCK_SKEW_TOLERANCE: std::time::Duration = std::time::Duration::from_secs(300);

impl Order {
    /// When it was placed: as recorded, or else as its id says.
    pub fn placed_at(&self) -> Timestamp {
        self.created_at.unwrap_or_else(|| self.id.minted_at())
    }

    /// When it entered its current status: placed, or last moved.
    pub fn entered_status_at(&self) -> Timestamp {
        self.updated_at.unwrap_or_else(|| self.placed_at())
    }

    /// An order placed without an account belongs to the profile's owner
    /// only if it is not older than the profile (by more than the clocks of
    /// two tasks may differ): an older one was left behind by an earlier
    /// account of the same name.
    pub fn belongs_to(&self, profile: &User) -> bool {
        // A profile the original system registered has no date: its orders
        // cannot be told apart from an earlier account's, and count as its own.
        self.account.is_some()
            || profile.created_at.is_none_or(|registered| {
                let earliest = time::Duration::try_from(CLOCK_SKEW_TOLERANCE)
                    .ok()
                    .and_then(|skew| registered.as_datetime().checked_sub(skew));
                earliest.is_none_or(|earliest| self.placed_at().as_datetime() >= earliest)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{StoredEmail, StoredText};

    fn at(text: &str) -> Timestamp {
        Timestamp::parse(text).unwrap()
    }

    #[test]
    fn an_order_stamped_by_a_task_whose_clock_is_behind_is_still_the_profiles() {
        let profile = User {
            username: Username::parse("ann").unwrap(),
            email: StoredEmail::new("ann@example.com"),
            name: StoredText::new("Ann"),
            address: None,
            created_at: Some(at("2026-12-01T10:00:00Z")),
            account: None,
        };
        let order = |placed: &str| Order {
            id: OrderId::parse("01ARZ3NDEKTSV4RRFFQ69G5FAV").unwrap(),
            owner: profile.username.clone(),
            status: crate::domain::OrderStatus::Placed.into(),
            amount: StoredNumber::parse("5").unwrap(),
            items: StoredNumber::parse_integer("1").unwrap(),
            created_at: Some(at(placed)),
            updated_at: None,
            account: None,
            version: 1,
        };
        assert!(order("2026-12-01T10:00:01Z").belongs_to(&profile));
        assert!(order("2026-12-01T09:58:00Z").belongs_to(&profile), "skew");
        assert!(
            !order("2026-12-01T09:50:00Z").belongs_to(&profile),
            "an earlier account's"
        );
    }
}
