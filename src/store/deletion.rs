//! Deleting a customer with everything they own: the profile is marked
//! first (hidden, and closed to new orders), then the orders go a chunk at
//! a time, then the profile and its email reservation. Every step is
//! conditioned on the run's mark, so an interrupted deletion is finished by
//! the next request, and never touches what a later registration wrote.

use super::engine::{
    self, AttributeCheck, Condition, Direction, EngineError, Index, Query, Transaction, Value,
    WriteOp, set, text,
};
use super::keys;
use super::ownership::{
    ClaimedBy, DECISION_ROUNDS, Standing, audit_claim, profile_as_read, profile_for, standing,
};
use super::records::{self, DELETING, SUB, USERNAME};
use super::{Store, StoreError};
use crate::domain::{Access, StoredEmail, Username};

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
    email: StoredEmail,
    registered_as: String,
}

impl Store {
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
    /// orders. Everything the run needs (who may delete, a claim, the
    /// email whose reservation goes with it) is read and decided first: a
    /// profile that cannot be read is left unmarked. A profile marked
    /// already (a deletion interrupted, or one running now) is joined under
    /// the token it carries, so a retry finishes an interrupted deletion.
    pub async fn begin_deletion(
        &self,
        username: &Username,
        access: &Access,
    ) -> Result<DeletionRun, StoreError> {
        let key = keys::customer(username);
        let mut current = self.engine.get(&key).await?;
        for _ in 0..DECISION_ROUNDS {
            let Some(item) = current.filter(|item| text(item, USERNAME).is_some()) else {
                return Err(StoreError::UserNotFound);
            };
            let profile = profile_for(&item, access)?;
            let standing = standing(&profile, access)?;
            let run = |token: &str| DeletionRun {
                username: username.clone(),
                token: token.to_owned(),
                registered_as: profile.username.as_str().to_owned(),
                email: profile.email.clone(),
            };
            if let Some(token) = text(&item, DELETING) {
                return Ok(run(token));
            }
            let token = ulid::Ulid::generate().to_string();
            let mut changes = vec![set(DELETING, Value::S(token.clone()))];
            let claim = match (standing, access.account()) {
                (Standing::MayClaim, Some(account)) => Some(account),
                _ => None,
            };
            if let Some(account) = claim {
                changes.push(set(SUB, records::account_value(account)));
            }
            match self
                .engine
                .update(&key, changes, profile_as_read(&item))
                .await
            {
                Ok(_) => {
                    if let Some(account) = claim {
                        audit_claim(&profile.username, account, ClaimedBy::VerifiedEmail);
                    }
                    return Ok(run(&token));
                }
                // It changed since it was read: decide again on what is there.
                Err(EngineError::ConditionFailed(failed)) => {
                    current = failed.only().and_then(|f| f.current.clone());
                }
                Err(error) => return Err(error.into()),
            }
        }
        Err(StoreError::Unavailable(anyhow::anyhow!(
            "the profile kept changing while its deletion began"
        )))
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
