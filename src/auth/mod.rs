//! Who is calling, and what they may do. Tokens are verified here; the HTTP
//! edge only extracts the bearer token and maps failures to 401/403.

mod jwks;
mod token;

use std::sync::Arc;

use crate::config::AuthSettings;
use crate::domain::{OrderStatus, Username};

pub use token::Verifier;

/// The groups (`cognito:groups`) that widen a caller's rights.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Groups {
    pub admin: bool,
    pub fulfilment: bool,
}

/// A verified token's identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub username: Username,
    pub groups: Groups,
}

/// The caller of one request.
#[derive(Debug, Clone)]
pub enum Caller {
    /// `AUTH_MODE=off`: everything is allowed.
    Unauthenticated,
    Authenticated(Principal),
}

impl Caller {
    fn is(&self, user: &Username) -> bool {
        match self {
            Caller::Unauthenticated => true,
            Caller::Authenticated(p) => p.username.canonical() == user.canonical(),
        }
    }

    fn groups(&self) -> Groups {
        match self {
            Caller::Unauthenticated => Groups {
                admin: true,
                fulfilment: true,
            },
            Caller::Authenticated(p) => p.groups,
        }
    }

    /// Registering, reading, editing or deleting `user`'s profile, and
    /// placing orders for them: the user themselves, or an admin.
    pub fn may_act_for(&self, user: &Username) -> bool {
        self.is(user) || self.groups().admin
    }

    /// Reading `owner`'s orders: the owner, fulfilment or an admin.
    pub fn may_read_orders_of(&self, owner: &Username) -> bool {
        let groups = self.groups();
        self.is(owner) || groups.admin || groups.fulfilment
    }

    /// A customer may only cancel their own order; the other moves belong
    /// to fulfilment (and admins).
    pub fn may_move(&self, owner: &Username, to: OrderStatus) -> bool {
        let groups = self.groups();
        groups.admin || groups.fulfilment || (to == OrderStatus::Cancel && self.is(owner))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("a bearer token is required")]
    Missing,
    #[error("the Authorization header is not a bearer token")]
    Malformed,
    #[error("the token is not valid: {0}")]
    Invalid(&'static str),
    #[error("the signing keys cannot be fetched")]
    KeysUnavailable(#[source] anyhow::Error),
}

/// Turns an `Authorization` header into a caller.
#[derive(Clone)]
pub enum Authenticator {
    Off,
    Jwt(Arc<Verifier>),
}

impl Authenticator {
    /// In JWT mode this fetches the signing keys: a service that cannot
    /// verify a single token fails at start-up rather than at every request.
    pub async fn build(settings: &AuthSettings) -> anyhow::Result<Self> {
        Ok(match settings {
            AuthSettings::Off => {
                tracing::warn!(
                    "AUTH_MODE=off: the API is unauthenticated; anyone may act on any user"
                );
                Authenticator::Off
            }
            AuthSettings::Jwt { .. } => {
                Authenticator::Jwt(Arc::new(Verifier::start(settings).await?))
            }
        })
    }

    pub async fn caller(&self, authorization: Option<&[u8]>) -> Result<Caller, AuthError> {
        let verifier = match self {
            Authenticator::Off => return Ok(Caller::Unauthenticated),
            Authenticator::Jwt(verifier) => verifier,
        };
        let header = authorization.ok_or(AuthError::Missing)?;
        let header = std::str::from_utf8(header).map_err(|_| AuthError::Malformed)?;
        let (scheme, token) = header.split_once(' ').ok_or(AuthError::Malformed)?;
        if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
            return Err(AuthError::Malformed);
        }
        verifier
            .verify(token.trim())
            .await
            .map(Caller::Authenticated)
    }
}
