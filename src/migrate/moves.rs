//! Mixed-case customers (the original system keyed users by the name as
//! typed) move to the lower-case key: the profile with its reservation
//! first, then each order as the scan reaches it (`orders.rs`).

use crate::store::StoreError;
use crate::store::engine::{AttributeCheck, Condition, Item, Value, WriteOp, key_of, text};
use crate::store::keys;
use crate::store::records::{ADDRESS, LEGACY_ADDRESS, MIGRATED_FROM, USERNAME};

use super::counts::{Counts, Kind};
use super::customers::{Owner, Partitions};
use super::retry::RetryIfChanged;
use super::{Conditional, Run, shape};

impl Run {
    /// A partition keyed by a mixed-case username: at its first item, its
    /// profile moves to the lower-case key (with its reservation) in one
    /// atomic write; each of its orders follows as the scan reaches it. The
    /// profile goes first so that no registration can take the key between;
    /// a run interrupted after it finds the profile naming the partition it
    /// came from, and moves the orders left.
    pub(super) async fn shape_moving(
        &self,
        item: Item,
        owner: &crate::domain::Username,
        partitions: &mut Partitions,
        counts: &mut Counts,
    ) -> Result<(), StoreError> {
        let Some(key) = key_of(&item) else {
            return Ok(());
        };
        let state = match partitions.cached(&key.pk) {
            Some(state) => state.clone(),
            None => {
                let state = self.move_profile(&key.pk, owner, counts).await?;
                partitions.remember(&key.pk, state.clone());
                state
            }
        };
        if !keys::is_order_sort_key(&key.sk) {
            return Ok(());
        }
        match state {
            Owner::MovedTo(owner) => self.move_order(item, &owner, counts).await,
            Owner::Nobody => {
                self.orphan_order(item, super::orders::no_profile(&key.pk), counts)
                    .await
            }
            _ => Ok(()),
        }
    }

    /// Moves the profile of the mixed-case partition `old_pk`, or says why
    /// it stays.
    async fn move_profile(
        &self,
        old_pk: &str,
        owner: &crate::domain::Username,
        counts: &mut Counts,
    ) -> Result<Owner, StoreError> {
        let canonical = owner.canonical();
        let target = keys::customer(&canonical);
        let old_key = keys::customer_of_partition(old_pk);
        let mut tries = RetryIfChanged::new();
        while tries.another(counts) {
            let old = self.engine.get(&old_key).await?;
            let current = self.engine.get(&target).await?;
            let moved_here = current
                .as_ref()
                .is_some_and(|moved| text(moved, MIGRATED_FROM) == Some(old_pk));
            let registered_again = old
                .as_ref()
                .filter(|old| moved_here && text(old, USERNAME).is_some());
            if let Some(old) = registered_again {
                // The original system registered the name again after the
                // move: another customer, whose orders are not the moved one's.
                counts.add(Kind::CaseCollisions, 1);
                tracing::warn!(
                    pk = old_pk,
                    "a customer registered again under a name that moved: it stays where it is, nothing merged"
                );
                if let Some(user) = self.readable_profile(old, &old_key, counts) {
                    self.link_reservation(&user, &old_key, old, counts).await?;
                }
                return Ok(Owner::Stays);
            }
            if let Some(current) = current.as_ref().filter(|_| moved_here) {
                // The original system edited the address of the moved
                // customer (under the name as typed) since: it goes over.
                if let Some(old) = old.as_ref().filter(|old| old.contains_key(LEGACY_ADDRESS))
                    && !self.carry_address(old, current, counts).await?
                {
                    continue;
                }
                return Ok(Owner::MovedTo(canonical));
            }
            let Some(old) = old else {
                return Ok(Owner::Nobody);
            };
            if text(&old, USERNAME).is_none() {
                self.partial(old, counts).await?;
                return Ok(Owner::Nobody);
            }
            let Some(user) = self.readable_profile(&old, &old_key, counts) else {
                return Ok(Owner::Stays);
            };
            // A key holding only an address is free, as for a registration.
            if let Some(current) = current.filter(|current| text(current, USERNAME).is_some()) {
                counts.add(Kind::CaseCollisions, 1);
                tracing::warn!(
                    pk = old_pk,
                    taken_by = text(&current, USERNAME).unwrap_or_default(),
                    "two customers differ only in letter case: this one stays where it is, nothing merged"
                );
                // Its reservation is still its own: linked, so no pass
                // takes it for an orphan.
                self.link_reservation(&user, &old_key, &old, counts).await?;
                return Ok(Owner::Stays);
            }
            let mut wanted = shape::user_shape(&old, &user);
            wanted.insert(MIGRATED_FROM.to_owned(), Value::S(old_pk.to_owned()));
            let reservation = self.reservation_plan(&user).await?;
            let mut ops = vec![
                WriteOp::Put {
                    item: wanted,
                    condition: Condition::Holds(vec![AttributeCheck::Absent(USERNAME)]),
                },
                WriteOp::Delete {
                    key: old_key.clone(),
                    condition: shape::unchanged(&old),
                },
            ];
            ops.extend(reservation.ops);
            if let Conditional::Applied = self.write(ops, counts).await? {
                counts.add(Kind::UsersMoved, 1);
                if let Some(kind) = reservation.kind {
                    counts.add(kind, 1);
                }
                return Ok(Owner::MovedTo(canonical));
            }
            // Refused: taken, changed, or a reservation changed. Look again.
        }
        Ok(Owner::Stays)
    }

    /// Moves the `address` of `partial` (an item at a moved customer's old
    /// key, written by the original system after the move) onto the moved
    /// profile `moved`, both as read. False if either changed meanwhile.
    async fn carry_address(
        &self,
        partial: &Item,
        moved: &Item,
        counts: &mut Counts,
    ) -> Result<bool, StoreError> {
        let (Some(partial_key), Some(address)) = (key_of(partial), partial.get(LEGACY_ADDRESS))
        else {
            return Ok(true);
        };
        let mut wanted = moved.clone();
        wanted.insert(ADDRESS.to_owned(), address.clone());
        let ops = vec![
            WriteOp::Put {
                item: wanted,
                condition: shape::unchanged(moved),
            },
            WriteOp::Delete {
                key: partial_key,
                condition: shape::unchanged(partial),
            },
        ];
        match self.write(ops, counts).await? {
            Conditional::Applied => {
                counts.add(Kind::UsersNormalized, 1);
                Ok(true)
            }
            Conditional::Refused(_) => Ok(false),
        }
    }
}
