//! Orders: index keys and timestamps in place, moves with a mixed-case
//! customer, and orders that belong to no profile.

use crate::store::StoreError;
use crate::store::engine::{
    AttributeCheck, Condition, Item, Value, WriteOp, key_of, text as engine_text,
};
use crate::store::keys;
use crate::store::records::{self, CREATED_AT, DELETING, MIGRATED_FROM, USERNAME};

use super::counts::{Counts, Kind};
use super::customers::{Owner, Partitions};
use super::retry::{Reread, RetryIfChanged};
use super::{Conditional, Run, shape};

impl Run {
    /// An order in a lower-case partition: into today's shape if its
    /// customer's profile owns it, otherwise an orphan.
    pub(super) async fn shape_order(
        &self,
        mut item: Item,
        partitions: &mut Partitions,
        counts: &mut Counts,
    ) -> Result<(), StoreError> {
        let Some(key) = key_of(&item) else {
            return Ok(());
        };
        let owner = self.owner(&key.pk, partitions).await?;
        let mut tries = RetryIfChanged::new();
        while tries.another(counts) {
            let Ok(order) = records::order_from_item(&item) else {
                counts.add(Kind::Unreadable, 1);
                return Ok(());
            };
            let orphan = match &owner {
                Owner::Deleting | Owner::MovedTo(_) | Owner::Stays => return Ok(()),
                Owner::Nobody => no_profile(&key.pk),
                // Left by an earlier account of the same name.
                Owner::Profile(profile, profile_item) if !order.belongs_to(profile) => {
                    same_profile(&key.pk, profile_item)
                }
                Owner::Profile(..) => {
                    let wanted = shape::order_shape(&item, &order);
                    if wanted == item {
                        return Ok(());
                    }
                    let put = WriteOp::Put {
                        condition: shape::unchanged(&item),
                        item: wanted,
                    };
                    match self.write(vec![put], counts).await? {
                        Conditional::Applied => {
                            counts.add(Kind::OrdersNormalized, 1);
                            return Ok(());
                        }
                        Conditional::Refused(_) => match self.read_again(&key, &mut item).await? {
                            Reread::Changed => continue,
                            Reread::Gone => return Ok(()),
                        },
                    }
                }
            };
            return self.orphan_order(item, orphan, counts).await;
        }
        Ok(())
    }

    /// An order no profile owns: reported, and removed with
    /// `--delete-orphans` if the customer key still says so (`owner_check`).
    pub(super) async fn orphan_order(
        &self,
        item: Item,
        owner_check: WriteOp,
        counts: &mut Counts,
    ) -> Result<(), StoreError> {
        let Some(key) = key_of(&item) else {
            return Ok(());
        };
        counts.add(Kind::OrphanOrders, 1);
        tracing::warn!(
            pk = key.pk,
            sk = key.sk,
            "an order that belongs to no profile"
        );
        if !self.options.delete_orphans {
            return Ok(());
        }
        let delete = WriteOp::Delete {
            condition: shape::unchanged(&item),
            key,
        };
        match self.write(vec![owner_check, delete], counts).await? {
            Conditional::Applied => counts.add(Kind::OrphanOrdersDeleted, 1),
            Conditional::Refused(_) => counts.add(Kind::ChangedMeanwhile, 1),
        }
        Ok(())
    }

    /// One order of a mixed-case partition whose profile moved to `owner`:
    /// to its place beside the profile, if the profile is still there.
    pub(super) async fn move_order(
        &self,
        mut old: Item,
        owner: &crate::domain::Username,
        counts: &mut Counts,
    ) -> Result<(), StoreError> {
        let Some(key) = key_of(&old) else {
            return Ok(());
        };
        let profile_there = WriteOp::Check {
            key: keys::customer(owner),
            condition: Condition::ExistsAnd(vec![
                AttributeCheck::equals(MIGRATED_FROM, Value::S(key.pk.clone())),
                AttributeCheck::Absent(DELETING),
            ]),
        };
        let mut tries = RetryIfChanged::new();
        while tries.another(counts) {
            let Some(new) = moved(&old, &key.pk) else {
                counts.add(Kind::Unreadable, 1);
                return Ok(());
            };
            let ops = vec![
                profile_there.clone(),
                WriteOp::Put {
                    item: new,
                    condition: Condition::NotExists,
                },
                WriteOp::Delete {
                    key: key.clone(),
                    condition: shape::unchanged(&old),
                },
            ];
            match self.write(ops, counts).await? {
                Conditional::Applied => {
                    counts.add(Kind::OrdersMoved, 1);
                    return Ok(());
                }
                // The profile went away or is being deleted: the order stays.
                Conditional::Refused(failed)
                    if failed.failures.first().is_some_and(Option::is_some) =>
                {
                    counts.add(Kind::ChangedMeanwhile, 1);
                    return Ok(());
                }
                Conditional::Refused(_) => match self.read_again(&key, &mut old).await? {
                    Reread::Changed => {}
                    Reread::Gone => {
                        // Gone: deleted meanwhile, or moved by this very
                        // write, whose first attempt succeeded and whose
                        // answer was lost. DynamoDB answers such a retry
                        // as the first (the SDK sets ClientRequestToken:
                        // "TransactWriteItems", idempotent for 10 minutes);
                        // moto does not, and refuses it.
                        let target = keys::order(owner, order_id(&key)?);
                        let arrived = self.engine.get(&target).await?.is_some_and(|new| {
                            engine_text(&new, MIGRATED_FROM) == Some(key.pk.as_str())
                        });
                        let kind = if arrived {
                            Kind::OrdersMoved
                        } else {
                            Kind::ChangedMeanwhile
                        };
                        counts.add(kind, 1);
                        return Ok(());
                    }
                },
            }
        }
        Ok(())
    }
}

fn order_id(key: &crate::store::keys::Key) -> Result<crate::domain::OrderId, StoreError> {
    keys::order_id_of_sort_key(&key.sk)
        .ok_or_else(|| StoreError::Internal(anyhow::anyhow!("an order key without an order id")))
}

/// The order in `old` as it is to be in its customer's lower-case partition.
fn moved(old: &Item, old_pk: &str) -> Option<Item> {
    let order = records::order_from_item(old).ok()?;
    let mut new = shape::order_shape(old, &order);
    new.insert(MIGRATED_FROM.to_owned(), Value::S(old_pk.to_owned()));
    Some(new)
}

/// The customer key of `pk` still holds no profile.
pub(super) fn no_profile(pk: &str) -> WriteOp {
    WriteOp::Check {
        key: keys::customer_of_partition(pk),
        condition: Condition::Holds(vec![AttributeCheck::Absent(USERNAME)]),
    }
}

/// The customer key of `pk` still holds the profile read (the same
/// registration: the same `CreatedAt`).
fn same_profile(pk: &str, profile: &Item) -> WriteOp {
    let registered = match profile.get(CREATED_AT) {
        Some(value) => AttributeCheck::equals(CREATED_AT, value.clone()),
        None => AttributeCheck::Absent(CREATED_AT),
    };
    WriteOp::Check {
        key: keys::customer_of_partition(pk),
        condition: Condition::ExistsAnd(vec![registered]),
    }
}
