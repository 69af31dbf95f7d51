use super::{AccountId, Amount, ItemCount, OrderId, OrderStatus, Timestamp, Username};

/// An order request that passed validation.
#[derive(Debug, Clone)]
pub struct NewOrder {
    pub username: Username,
    pub amount: Amount,
    pub items: ItemCount,
}

/// An order as stored. `owner` is the canonical (lower-case) username of the
/// customer whose partition holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub id: OrderId,
    pub owner: Username,
    pub status: OrderStatus,
    pub amount: Amount,
    pub items: ItemCount,
    pub created_at: Timestamp,
    pub updated_at: Option<Timestamp>,
    /// The owner's account, recorded when the owner placed it; `None` for
    /// orders placed by an admin or before accounts were recorded.
    pub account: Option<AccountId>,
    /// 1 when placed, one more with each status move: subscribers put an
    /// order's events in order, and drop repeats, by it.
    pub version: u64,
}
