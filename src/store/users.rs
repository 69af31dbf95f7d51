//! Customer profiles: registration with its email reservation, reads, and
//! an admin's bind of an account to a profile. (Address edits are in
//! `address.rs`, deletion in `deletion.rs`.)

use super::engine::{AttributeCheck, Condition, EngineError, Transaction, WriteOp, set};
use super::idempotency::{self, ScopedKey};
use super::keys::{self, IdempotentWrite};
use super::ownership::{ClaimedBy, audit_claim, owned_by, profile_for, refused};
use super::records::{self, DELETING, SUB, USERNAME};
use super::{Store, StoreError, Written};
use crate::domain::{Access, AccountId, NewUser, Timestamp, User, Username};

impl Store {
    /// Registers a user and reserves their email in one atomic write; each is
    /// conditional on not existing yet. A customer's profile belongs to their
    /// account from the start. Under an idempotency key, as
    /// [`Store::place_order`] describes.
    pub async fn register(
        &self,
        new: NewUser,
        access: &Access,
        idempotency_key: Option<ScopedKey<'_>>,
    ) -> Result<Written<User>, StoreError> {
        let user = User {
            username: new.username.into_username(),
            email: new.email.into(),
            name: new.name.into(),
            address: None,
            created_at: Some(Timestamp::now()),
            account: access.account().cloned(),
        };
        let user_item = records::user_item(&user);
        let written = user_item.clone();
        let mut transaction = Transaction::default();
        // Built before the item moves into its Put: no copy without a key.
        let guard = idempotency::guard(
            &mut transaction,
            IdempotentWrite::Registration,
            idempotency_key,
            &user_item,
            || {
                format!(
                    "{}|{}|{}",
                    user.username,
                    user.email.as_str(),
                    user.name.as_str()
                )
            },
        );
        // A key holding no profile (only an address the original system's
        // `edit-address` wrote for an unknown username) is free to take.
        let profile = transaction.add(WriteOp::Put {
            item: user_item,
            condition: Condition::Holds(vec![AttributeCheck::Absent(USERNAME)]),
        });
        let reservation = transaction.add(WriteOp::Put {
            item: records::email_reservation_item(&user),
            condition: Condition::NotExists,
        });
        match self.engine.write(transaction).await {
            Ok(()) => Ok(Written::new(user)),
            Err(EngineError::ConditionFailed(failed)) => {
                if let Some(first) = idempotency::replay(&failed, guard.as_ref())? {
                    return Ok(Written::replayed(records::user_from_item(&first)?));
                }
                // The profile is the one this write wrote (its creation time
                // is this request's own, to the microsecond): an attempt the
                // engine had given up on landed before a retry under a new
                // token. Registered, by this request.
                let landed = failed.at(profile).and_then(|f| f.current.as_ref());
                if landed == Some(&written) {
                    return Ok(Written::new(user));
                }
                Err(StoreError::Taken {
                    username: failed.at(profile).is_some(),
                    email: failed.at(reservation).is_some(),
                })
            }
            Err(error) => Err(error.into()),
        }
    }

    pub async fn user(&self, username: &Username, access: &Access) -> Result<User, StoreError> {
        let user = match self.engine.get(&keys::customer(username)).await? {
            Some(item) if records::is_profile(&item) => profile_for(&item, access)?,
            _ => return Err(StoreError::UserNotFound),
        };
        self.own_profile(&user, access).await?;
        Ok(User {
            account: user.account.or_else(|| access.account().cloned()),
            ..user
        })
    }

    /// Binds `account` to the profile of `username`, which belongs to no
    /// account yet: an admin's way for a customer of the replaced system
    /// whose stored email no token can prove (mistyped, or not an address
    /// at all). A profile bound already is left as it is; binding it to the
    /// same account again answers as the first time.
    pub async fn bind_account(
        &self,
        username: &Username,
        account: &AccountId,
    ) -> Result<User, StoreError> {
        let mut checks = vec![
            AttributeCheck::Absent(DELETING),
            AttributeCheck::Absent(SUB),
        ];
        checks.extend(records::profile_readable());
        let bound = self
            .engine
            .update(
                &keys::customer(username),
                vec![set(SUB, records::account_value(account))],
                Condition::ExistsAnd(checks),
            )
            .await;
        match bound {
            Ok(item) => {
                let user = records::user_from_item(&item)?;
                audit_claim(&user.username, account, ClaimedBy::AdminBind);
                Ok(user)
            }
            Err(EngineError::ConditionFailed(failed)) => {
                match failed.only().and_then(|f| f.current.as_ref()) {
                    Some(item) if owned_by(item, account) => records::user_from_item(item),
                    Some(item) if records::is_profile(item) => {
                        records::user_from_item(item)?;
                        Err(StoreError::AlreadyBound)
                    }
                    current => Err(refused(current, &Access::Any)),
                }
            }
            Err(error) => Err(error.into()),
        }
    }
}
