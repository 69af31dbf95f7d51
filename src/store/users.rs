//! Customer profiles: registration with its email reservation, reads,
//! address edits, and deletion of a customer with everything they own.

use super::engine::{
    self, AttributeCheck, Change, Condition, Direction, EngineError, Index, Query, Transaction,
    Value, WriteOp, set,
};
use super::idempotency::{self, ScopedKey};
use super::keys::{self, IdempotentWrite};
use super::ownership::{active_customer, owned_by_or_unclaimed, refused};
use super::records::{self, ADDRESS, DELETING, LEGACY_ADDRESS, SUB, USERNAME};
use super::{Store, StoreError, Written};
use crate::domain::{Access, Address, Email, NewUser, Timestamp, User, Username};

/// Orders removed per transaction when a user is deleted: DynamoDB's limit
/// of 100 items per transaction, less the check that the run still owns
/// the deletion.
const DELETE_CHUNK: usize = engine::MAX_TRANSACTION_ITEMS - 1;

/// A deletion under way: the token it marked the profile with. Every step
/// is conditioned on the profile still carrying it, so a run that another
/// run finished (and whose user registered again since) deletes nothing
/// of the new account's.
#[derive(Debug, Clone)]
pub struct DeletionRun {
    username: Username,
    token: String,
    /// The profile's email and registered spelling: its reservation is
    /// deleted only if it is this profile's.
    email: Email,
    registered_as: String,
}

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
            username: new.username,
            email: new.email,
            name: new.name,
            address: None,
            created_at: Some(Timestamp::now()),
            account: access.account().cloned(),
        };
        let user_item = records::user_item(&user);
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
            Some(item) if records::is_profile(&item) => records::user_from_item(&item)?,
            _ => return Err(StoreError::UserNotFound),
        };
        self.own_profile(&user, access).await?;
        Ok(User {
            account: user.account.or_else(|| access.account().cloned()),
            ..user
        })
    }

    /// Sets the address of an existing user; never creates an item. A
    /// customer's edit claims an unclaimed profile in the same write.
    pub async fn set_address(
        &self,
        username: &Username,
        address: &Address,
        access: &Access,
    ) -> Result<User, StoreError> {
        // The original system's `address` goes in the same write: one left
        // on a profile is then always newer than `Address` (see `migrate`).
        let mut changes = vec![
            set(ADDRESS, Value::S(address.as_str().to_owned())),
            (LEGACY_ADDRESS, Change::Remove),
        ];
        changes.extend(
            access
                .account()
                .map(|a| set(SUB, records::account_value(a))),
        );
        let result = self
            .engine
            .update(&keys::customer(username), changes, active_customer(access))
            .await;
        match result {
            Ok(item) => records::user_from_item(&item),
            Err(EngineError::ConditionFailed(failed)) => {
                Err(refused(failed.only().and_then(|f| f.current.as_ref())))
            }
            Err(error) => Err(error.into()),
        }
    }

    /// Removes the profile, its email reservation and every order.
    pub async fn delete_user(
        &self,
        username: &Username,
        access: &Access,
    ) -> Result<(), StoreError> {
        let run = self.begin_deletion(username, access).await?;
        self.finish_deletion(run).await
    }

    /// Marks the profile as being deleted, which hides it and blocks new
    /// orders. A profile marked already (a deletion interrupted, or one
    /// running now) is joined under the token it carries, so a retry
    /// finishes an interrupted deletion.
    pub async fn begin_deletion(
        &self,
        username: &Username,
        access: &Access,
    ) -> Result<DeletionRun, StoreError> {
        let token = ulid::Ulid::generate().to_string();
        let mut changes = vec![set(DELETING, Value::S(token))];
        let mut checks = vec![
            AttributeCheck::Present(USERNAME),
            AttributeCheck::Absent(DELETING),
        ];
        if let Some(account) = access.account() {
            changes.push(set(SUB, records::account_value(account)));
            checks.push(owned_by_or_unclaimed(account));
        }
        let marked = self
            .engine
            .update(
                &keys::customer(username),
                changes,
                Condition::ExistsAnd(checks),
            )
            .await;
        let profile = match marked {
            Ok(profile) => profile,
            Err(EngineError::ConditionFailed(failed)) => {
                match failed.only().and_then(|f| f.current.clone()) {
                    None => return Err(StoreError::UserNotFound),
                    Some(current) if engine::text(&current, USERNAME).is_none() => {
                        return Err(StoreError::UserNotFound);
                    }
                    Some(current) => {
                        let owner = engine::text(&current, SUB);
                        let theirs = access
                            .account()
                            .is_none_or(|account| owner.is_none_or(|o| o == account.as_str()));
                        if !theirs {
                            return Err(StoreError::Forbidden);
                        }
                        current
                    }
                }
            }
            Err(error) => return Err(error.into()),
        };
        let token = engine::text(&profile, DELETING).ok_or_else(|| {
            StoreError::Internal(anyhow::anyhow!("a marked profile has no token"))
        })?;
        let user = records::user_from_item(&profile)?;
        Ok(DeletionRun {
            username: username.clone(),
            token: token.to_owned(),
            registered_as: user.username.as_str().to_owned(),
            email: user.email,
        })
    }

    /// Deletes the orders a chunk at a time, then the profile and its email
    /// reservation; every step conditioned on the run's token. `UserNotFound`
    /// when another run finished the deletion first.
    pub async fn finish_deletion(&self, run: DeletionRun) -> Result<(), StoreError> {
        let customer = keys::customer(&run.username);
        let owns_the_run = || {
            Condition::ExistsAnd(vec![AttributeCheck::equals(
                DELETING,
                Value::S(run.token.clone()),
            )])
        };
        loop {
            let batch = self
                .engine
                .query(Query {
                    index: Index::Table,
                    partition: customer.pk.clone(),
                    direction: Direction::Ascending,
                    limit: DELETE_CHUNK,
                    start_after: None,
                })
                .await?;
            let orders: Vec<WriteOp> = batch
                .iter()
                .filter_map(engine::key_of)
                .filter(|key| keys::is_order_sort_key(&key.sk))
                .map(|key| WriteOp::Delete {
                    key,
                    condition: Condition::Always,
                })
                .collect();
            if orders.is_empty() {
                break;
            }
            let mut chunk = Transaction::default();
            chunk.add(WriteOp::Check {
                key: customer.clone(),
                condition: owns_the_run(),
            });
            chunk.extend(orders);
            match self.engine.write(chunk).await {
                Ok(()) => {}
                // Another run finished this deletion: what is here now is not ours.
                Err(EngineError::ConditionFailed(_)) => return Err(StoreError::UserNotFound),
                Err(error) => return Err(error.into()),
            }
        }
        let mut last = Transaction::default();
        let profile = last.add(WriteOp::Delete {
            key: customer.clone(),
            condition: owns_the_run(),
        });
        let reservation = last.add(WriteOp::Delete {
            key: keys::email_reservation(&run.email),
            condition: reservation_of(&run.registered_as),
        });
        match self.engine.write(last).await {
            Ok(()) => Ok(()),
            Err(EngineError::ConditionFailed(failed)) if failed.at(profile).is_some() => {
                Err(StoreError::UserNotFound)
            }
            Err(EngineError::ConditionFailed(failed)) if failed.at(reservation).is_some() => {
                // The address is reserved for another user (data older than
                // the reservation's owner link): leave it, delete the profile.
                tracing::warn!(
                    "a deleted profile's email reservation belongs to another user; kept"
                );
                let mut profile_only = Transaction::default();
                profile_only.add(WriteOp::Delete {
                    key: customer,
                    condition: owns_the_run(),
                });
                match self.engine.write(profile_only).await {
                    Err(EngineError::ConditionFailed(_)) => Err(StoreError::UserNotFound),
                    other => other.map_err(Into::into),
                }
            }
            Err(error) => Err(error.into()),
        }
    }
}

/// The reservation is the profile's: it names its registered spelling, or
/// (a reservation from before it named its owner) nobody.
fn reservation_of(registered_as: &str) -> Condition {
    Condition::Holds(vec![AttributeCheck::EqualsOrAbsent(
        USERNAME,
        Value::S(registered_as.to_owned()),
    )])
}
