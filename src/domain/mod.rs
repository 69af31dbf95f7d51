//! Domain types: everything here is valid by construction.
//!
//! Raw input is parsed into these newtypes at the HTTP edge; the store and the
//! handlers never see an unchecked string. Input and storage have types of
//! their own: today's rules for what a caller sends (`NewUsername`, `Email`,
//! `Name`, `Amount`, ...), and what any writer could have stored
//! (`Username`, and the `stored` module's types), which reads serve as is.

mod account;
mod amount;
mod email;
mod idempotency_key;
mod item_count;
mod number;
mod order;
mod order_id;
mod page_token;
mod queue_token;
mod status;
mod stored;
mod text;
mod timestamp;
mod token;
mod user;
mod username;

pub use account::{Access, AccountId};
pub use amount::Amount;
pub use email::Email;
pub use idempotency_key::IdempotencyKey;
pub use item_count::ItemCount;
pub use order::{NewOrder, Order};
pub use order_id::OrderId;
pub use page_token::PageToken;
pub use queue_token::{QueuePosition, QueueToken};
pub use status::{OrderStatus, StoredStatus};
pub use stored::{StoredEmail, StoredNumber, StoredText};
pub use text::{Address, Name};
pub use timestamp::Timestamp;
pub use user::{NewUser, User};
pub use username::{NewUsername, Username};

/// Each type parses with `str::parse` too, so the edge names a field once
/// and lets the type say what it accepts.
macro_rules! from_str_by_parse {
    ($($type:ty),* $(,)?) => {
        $(
            impl std::str::FromStr for $type {
                type Err = ParseError;

                fn from_str(raw: &str) -> Result<Self, ParseError> {
                    Self::parse(raw)
                }
            }
        )*
    };
}

from_str_by_parse!(
    AccountId,
    Address,
    Amount,
    Email,
    IdempotencyKey,
    ItemCount,
    Name,
    NewUsername,
    OrderId,
    OrderStatus,
    Timestamp,
);

/// Why a raw value was rejected. `field` is filled in by whoever knows which
/// input the value came from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct ParseError {
    pub reason: String,
}

impl ParseError {
    pub fn new(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
        }
    }
}
