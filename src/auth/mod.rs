//! Who is calling, and what they may do. Tokens are verified here; the HTTP
//! edge only extracts the bearer token and maps failures to 401/403.

mod jwks;
mod token;

use std::sync::Arc;

use crate::config::AuthSettings;
use crate::domain::{Access, AccountId, Email, OrderStatus, User, Username};

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
    /// `sub`: the account, which a username can outlive.
    pub account: AccountId,
    pub groups: Groups,
    /// The address the issuer verified (`email` with `email_verified` true;
    /// Cognito puts them in ID tokens only), as the issuer wrote it. It lets
    /// the account register that address, and claim a profile that holds
    /// it (compared ASCII case aside).
    pub verified_email: Option<String>,
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

    /// What a customer acting on their own data may touch: their account's.
    fn own(&self) -> Access {
        match self {
            Caller::Unauthenticated => Access::Any,
            Caller::Authenticated(p) => Access::Account {
                account: p.account.clone(),
                verified_email: p.verified_email.clone(),
            },
        }
    }

    /// Registering, reading, editing or deleting `user`'s profile, and
    /// placing orders for them: the user themselves (their account's data
    /// only, staff included), or an admin.
    pub fn profile_access(&self, user: &Username) -> Option<Access> {
        if self.is(user) {
            Some(self.own())
        } else {
            self.groups().admin.then_some(Access::Any)
        }
    }

    /// Reading `owner`'s orders: the owner, fulfilment or an admin.
    pub fn order_access(&self, owner: &Username) -> Option<Access> {
        let groups = self.groups();
        if self.is(owner) && !groups.admin && !groups.fulfilment {
            Some(self.own())
        } else {
            (groups.admin || groups.fulfilment).then_some(Access::Any)
        }
    }

    /// Binding an account to a profile that belongs to none: admins only.
    pub fn may_bind_accounts(&self) -> bool {
        self.groups().admin
    }

    /// The account of a customer caller; `None` for staff and with
    /// `AUTH_MODE=off`, who may see any customer's data.
    pub fn customer_account(&self) -> Option<&AccountId> {
        let groups = self.groups();
        match self {
            Caller::Authenticated(p) if !groups.admin && !groups.fulfilment => Some(&p.account),
            _ => None,
        }
    }

    /// Reading a status queue (orders of every customer): fulfilment and
    /// admins only.
    pub fn may_read_queues(&self) -> bool {
        let groups = self.groups();
        groups.admin || groups.fulfilment
    }

    /// A customer may only cancel their own order; the other moves belong
    /// to fulfilment (and admins).
    pub fn move_access(&self, owner: &Username, to: OrderStatus) -> Option<Access> {
        let groups = self.groups();
        if groups.admin || groups.fulfilment {
            Some(Access::Any)
        } else {
            (to == OrderStatus::Cancel && self.is(owner)).then(|| self.own())
        }
    }

    /// Whether a listing may open with the whole `profile`: an admin's, or
    /// the account's own. Anyone else who may list the orders (fulfilment,
    /// even under the same username) sees only what shipping needs.
    pub fn sees_whole_profile(&self, profile: &User) -> bool {
        match self {
            Caller::Unauthenticated => true,
            Caller::Authenticated(p) => {
                p.groups.admin || profile.account.as_ref() == Some(&p.account)
            }
        }
    }

    /// A customer registers only an address their token proves they own:
    /// an ID token's verified `email`. Admins may register any address.
    pub fn may_register_email(&self, email: &Email) -> bool {
        match self {
            Caller::Unauthenticated => true,
            Caller::Authenticated(p) => {
                p.groups.admin
                    || p.verified_email.as_deref().is_some_and(|verified| {
                        !verified.is_empty() && verified.eq_ignore_ascii_case(email.as_str())
                    })
            }
        }
    }

    /// Whose idempotency keys a request's key is one of: two callers' keys
    /// never meet. `None` with `AUTH_MODE=off`, where there is one caller.
    pub fn idempotency_scope(&self) -> Option<&AccountId> {
        match self {
            Caller::Unauthenticated => None,
            Caller::Authenticated(p) => Some(&p.account),
        }
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
    /// In JWT mode this fetches the signing keys; a service that cannot
    /// fetch them yet starts all the same and answers 503 to authenticated
    /// requests until it can (see `jwks`).
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
