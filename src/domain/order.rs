use super::{
    AccountId, Amount, ItemCount, OrderId, StoredNumber, StoredStatus, Timestamp, Username,
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

impl Order {
    /// When it was placed: as recorded, or else as its id says.
    pub fn placed_at(&self) -> Timestamp {
        self.created_at.unwrap_or_else(|| self.id.minted_at())
    }

    /// When it entered its current status: placed, or last moved.
    pub fn entered_status_at(&self) -> Timestamp {
        self.updated_at.unwrap_or_else(|| self.placed_at())
    }
}
