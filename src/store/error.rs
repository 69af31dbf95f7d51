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
    /// A customer's move of an order placed without an account: the
    /// profile is checked (or claimed) first, then the move is retried.
    /// Never leaves the store.
    #[error("the order belongs to no account yet")]
    Unclaimed,
    /// A customer's placement for a profile that belongs to no account yet,
    /// whose email their token proves: the store claims it and retries.
    /// Never leaves the store.
    #[error("the customer's profile belongs to no account yet")]
    Claimable(Box<crate::domain::User>),
    /// An admin's bind of an account to a profile that has one already.
    #[error("the profile belongs to an account already")]
    AlreadyBound,
    #[error("the store is temporarily unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// The table lacks what the service needs (see `preflight`): each problem.
    #[error("the table is not ready: {}", .0.join("; "))]
    TableNotReady(Vec<String>),
    /// The table lacks an index this request reads (see `preflight`).
    #[error("the index {0} is missing or not active yet")]
    IndexUnavailable(&'static str),
    /// The request's client went away before a write started (see `budget`).
    #[error("the client went away before a write started")]
    ClientGone,
    #[error("the store failed")]
    Internal(#[source] anyhow::Error),
}

impl From<EngineError> for StoreError {
    fn from(error: EngineError) -> Self {
        match error {
            EngineError::Unavailable(source) => StoreError::Unavailable(source),
            EngineError::IndexUnavailable(index) => StoreError::IndexUnavailable(index),
            EngineError::Internal(source) => StoreError::Internal(source),
            EngineError::ClientGone => StoreError::ClientGone,
            EngineError::ConditionFailed(failed) => StoreError::Internal(anyhow::anyhow!(
                "an unexpected write condition failed: {failed:?}"
            )),
        }
    }
}
