use crate::domain::{OrderStatus, StoredStatus};

use super::engine::EngineError;

/// What the store reports, in the domain's terms.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the username or email is already registered")]
    Taken { username: bool, email: bool },
    #[error("user not found")]
    UserNotFound,
    #[error("order not found")]
    OrderNotFound,
    #[error("the idempotency key was used for a different request")]
    IdempotencyKeyReused,
    #[error("an order cannot move from {from} to {to}")]
    InvalidTransition { from: StoredStatus, to: OrderStatus },
    /// A stored item is not in any shape this service or the system it
    /// replaced wrote (logged with its key when met).
    #[error("a stored {kind} has a missing or invalid {attribute}")]
    Unreadable {
        kind: &'static str,
        attribute: &'static str,
    },
    /// A status queue's page token that does not fit this table's shards.
    #[error("the page token was not issued by this service")]
    InvalidPageToken,
    /// The data belongs to another account than the caller's.
    #[error("the data belongs to another account")]
    Forbidden,
    /// A customer's write needs their profile claimed first (the store
    /// claims it and retries; this never leaves the store).
    #[error("the customer's profile belongs to no account yet")]
    Unclaimed,
    #[error("the store is temporarily unavailable")]
    Unavailable(#[source] anyhow::Error),
    #[error("the store failed")]
    Internal(#[source] anyhow::Error),
}

impl From<EngineError> for StoreError {
    fn from(error: EngineError) -> Self {
        match error {
            EngineError::Unavailable(source) => StoreError::Unavailable(source),
            EngineError::Internal(source) => StoreError::Internal(source),
            EngineError::ConditionFailed(failed) => StoreError::Internal(anyhow::anyhow!(
                "an unexpected write condition failed: {failed:?}"
            )),
        }
    }
}
