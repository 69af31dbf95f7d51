use super::{AccountId, Address, Email, Name, Timestamp, Username};

/// A registration request that passed validation.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: Username,
    pub email: Email,
    pub name: Name,
}

/// A customer profile as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub username: Username,
    pub email: Email,
    pub name: Name,
    pub address: Option<Address>,
    /// Absent on a profile the original system wrote (it recorded none).
    pub created_at: Option<Timestamp>,
    /// The account the profile belongs to; `None` until one claims it
    /// (profiles registered by an admin, or before accounts were recorded).
    pub account: Option<AccountId>,
}
