use super::{AccountId, Email, Name, NewUsername, StoredEmail, StoredText, Timestamp, Username};

/// A registration request that passed today's rules.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: NewUsername,
    pub email: Email,
    pub name: Name,
}

/// A customer profile as stored, by this service or the one it replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub username: Username,
    pub email: StoredEmail,
    pub name: StoredText,
    pub address: Option<StoredText>,
    /// Absent on a profile the original system wrote (it recorded none).
    pub created_at: Option<Timestamp>,
    /// The account the profile belongs to; `None` until one claims it
    /// (profiles registered by an admin, or before accounts were recorded).
    pub account: Option<AccountId>,
}
