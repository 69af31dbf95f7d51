//! Address edits: one conditional write on the caller's own profile; a
//! claim, or a profile `migrate` moved from a mixed-case key, is decided on
//! the profile as read and written under the condition that it is still so.

use super::engine::{
    AttributeCheck, Change, Changes, Condition, EngineError, Item, Transaction, Value, WriteOp,
    apply, set, text,
};
use super::keys;
use super::ownership::{
    ClaimedBy, DECISION_ROUNDS, Standing, active_customer_checks, audit_claim, profile_as_read,
    profile_for, standing,
};
use super::records::{self, ADDRESS, LEGACY_ADDRESS, MIGRATED_FROM, SUB, USERNAME};
use super::{Store, StoreError};
use crate::domain::{Access, Address, User, Username};

impl Store {
    /// Sets the address of an existing user; never creates an item. A
    /// customer whose token proves an unclaimed profile's email claims it in
    /// the same write. Nothing is written unless the profile reads.
    pub async fn set_address(
        &self,
        username: &Username,
        address: &Address,
        access: &Access,
    ) -> Result<User, StoreError> {
        let key = keys::customer(username);
        // The original system's `address` goes in the same write: one left
        // on a profile is then always newer than `Address` (see `migrate`).
        let changes = vec![
            set(ADDRESS, Value::S(address.as_str().to_owned())),
            (LEGACY_ADDRESS, Change::Remove),
        ];
        // The common case, one request: the caller's own profile (or
        // staff), which never lived under a mixed-case key.
        let mut checks = active_customer_checks(access);
        checks.push(AttributeCheck::Absent(MIGRATED_FROM));
        let edited = self
            .engine
            .update(&key, changes.clone(), Condition::ExistsAnd(checks))
            .await;
        let current = match edited {
            Ok(item) => return records::user_from_item(&item),
            Err(EngineError::ConditionFailed(failed)) => {
                failed.only().and_then(|f| f.current.clone())
            }
            Err(error) => return Err(error.into()),
        };
        let Some(item) = current.filter(records::is_profile) else {
            return Err(StoreError::UserNotFound);
        };
        self.edit_as_read(item, changes, access).await
    }

    /// The edit decided on the profile as read (`item`): who may make it, a
    /// claim with it, and the original system's address at the key the
    /// profile moved from. Written only if the profile is still as read in
    /// all of that; if it changed meanwhile, decided again on what it is.
    async fn edit_as_read(
        &self,
        mut item: Item,
        changes: Changes,
        access: &Access,
    ) -> Result<User, StoreError> {
        for _ in 0..DECISION_ROUNDS {
            let profile = profile_for(&item, access)?;
            let standing = standing(&profile, access)?;
            let claim = match (standing, access.account()) {
                (Standing::MayClaim, Some(account)) => Some(account),
                _ => None,
            };
            let mut changes = changes.clone();
            changes.extend(claim.map(|account| set(SUB, records::account_value(account))));
            let key = keys::customer(&profile.username);
            let condition = profile_as_read(&item);
            let written = match text(&item, MIGRATED_FROM) {
                None => self.engine.update(&key, changes, condition).await,
                Some(moved_from) => {
                    self.edit_moved(&key, &item, moved_from, changes, condition)
                        .await
                }
            };
            match written {
                Ok(edited) => {
                    if let Some(account) = claim {
                        audit_claim(&profile.username, account, ClaimedBy::VerifiedEmail);
                    }
                    return profile_for(&edited, access);
                }
                Err(EngineError::ConditionFailed(failed)) => {
                    match failed.only().and_then(|f| f.current.clone()) {
                        Some(current) if records::is_profile(&current) => item = current,
                        _ => return Err(StoreError::UserNotFound),
                    }
                }
                Err(error) => return Err(error.into()),
            }
        }
        Err(StoreError::Unavailable(anyhow::anyhow!(
            "the profile kept changing while its address was edited"
        )))
    }

    /// The edit of a profile `migrate` moved from the mixed-case key
    /// `moved_from`, where the original system (still running under the
    /// name as typed) writes its `address`: removed in the same write, so
    /// the next `migrate` never carries an address older than this edit
    /// over it. A profile registered again at that key is left alone.
    async fn edit_moved(
        &self,
        key: &keys::Key,
        item: &Item,
        moved_from: &str,
        changes: Changes,
        condition: Condition,
    ) -> Result<Item, EngineError> {
        let mut edited = item.clone();
        apply(&mut edited, &changes);
        let mut transaction = Transaction::default();
        let profile = transaction.add(WriteOp::Put {
            item: edited.clone(),
            condition: condition.clone(),
        });
        let old_address = transaction.add(WriteOp::Delete {
            key: keys::customer_of_partition(moved_from),
            condition: Condition::Holds(vec![AttributeCheck::Absent(USERNAME)]),
        });
        match self.engine.write(transaction).await {
            Ok(()) => Ok(edited),
            Err(EngineError::ConditionFailed(failed))
                if failed.at(profile).is_none() && failed.at(old_address).is_some() =>
            {
                self.engine.update(key, changes, condition).await
            }
            Err(error) => Err(error),
        }
    }
}
