//! Profiles and their email reservations: renamed attributes, mixed-case
//! customers moved to the lower-case key, reservations linked to their
//! owners, partial items and orphan reservations reported.

use crate::domain::User;
use crate::store::StoreError;
use crate::store::engine::{AttributeCheck, Condition, Item, Value, WriteOp, key_of, text};
use crate::store::keys::{self, Key};
use crate::store::records::{self, ADDRESS, LEGACY_ADDRESS, MIGRATED_FROM, USERNAME};

use super::counts::{Counts, Kind};
use super::{ATTEMPTS, Run, Written, shape};

/// Who owns the partition the scan is in: items of one partition come
/// together (in sort-key order) within a segment, so one read per
/// partition tells it for all of them.
#[derive(Default)]
pub(super) struct Partitions {
    last: Option<(String, Owner)>,
}

#[derive(Debug, Clone)]
pub(super) enum Owner {
    /// A profile, and the item it was read from.
    Profile(Box<User>, Item),
    /// A deletion is under way: it removes the orders itself.
    Deleting,
    /// No profile: no item, or only an address.
    Nobody,
    /// A mixed-case partition whose profile has moved to the lower-case key:
    /// its orders follow, one by one as the scan reaches them.
    MovedTo(crate::domain::Username),
    /// A mixed-case partition that stays (a case collision, or a profile
    /// that cannot be read or moved now).
    Stays,
}

impl Partitions {
    fn cached(&self, pk: &str) -> Option<&Owner> {
        self.last
            .as_ref()
            .filter(|(last, _)| last == pk)
            .map(|(_, owner)| owner)
    }

    fn remember(&mut self, pk: &str, owner: Owner) {
        self.last = Some((pk.to_owned(), owner));
    }
}

/// What a profile's reservation needs: the ops, and what they count as.
#[derive(Default)]
pub(super) struct ReservationPlan {
    pub ops: Vec<WriteOp>,
    pub kind: Option<Kind>,
}

impl Run {
    /// The owner of a canonical partition (read once per partition).
    pub(super) async fn owner(
        &self,
        pk: &str,
        partitions: &mut Partitions,
    ) -> Result<Owner, StoreError> {
        if let Some(owner) = partitions.cached(pk) {
            return Ok(owner.clone());
        }
        let owner = match self
            .store
            .engine
            .get(&keys::customer_of_partition(pk))
            .await?
        {
            Some(item) if records::is_being_deleted(&item) => Owner::Deleting,
            Some(item) if records::is_profile(&item) => match records::user_from_item(&item) {
                Ok(user) => Owner::Profile(Box::new(user), item),
                // Its orders stay as they are until the profile can be read.
                Err(_) => Owner::Deleting,
            },
            _ => Owner::Nobody,
        };
        partitions.remember(pk, owner.clone());
        Ok(owner)
    }

    /// A profile under its lower-case key: `address` renamed, and (for one
    /// the original system registered, which has no `CreatedAt`) a
    /// reservation that names it.
    pub(super) async fn shape_profile(
        &self,
        mut item: Item,
        counts: &mut Counts,
    ) -> Result<(), StoreError> {
        let Some(key) = key_of(&item) else {
            return Ok(());
        };
        for _ in 0..ATTEMPTS {
            if text(&item, USERNAME).is_none() {
                return self.partial(item, counts).await;
            }
            if records::is_being_deleted(&item) {
                return Ok(());
            }
            let Some(user) = self.readable_profile(&item, &key, counts) else {
                return Ok(());
            };
            let wanted = shape::user_shape(&item, &user);
            let renamed = wanted != item;
            // The profile as read, in the same write as its reservation's
            // link: a deletion that slipped in between leaves no reservation
            // naming a profile that is gone.
            let mut ops = vec![if renamed {
                WriteOp::Put {
                    item: wanted,
                    condition: shape::unchanged(&item),
                }
            } else {
                WriteOp::Check {
                    key: key.clone(),
                    condition: shape::unchanged(&item),
                }
            }];
            let reservation = if user.created_at.is_none() {
                self.reservation_plan(&user).await?
            } else {
                ReservationPlan::default()
            };
            ops.extend(reservation.ops);
            match self.write(ops, counts).await? {
                Written::Done => {
                    if renamed {
                        counts.add(Kind::UsersNormalized, 1);
                    }
                    if let Some(kind) = reservation.kind {
                        counts.add(kind, 1);
                    }
                    return Ok(());
                }
                Written::Refused(_) => match self.reread(&key).await? {
                    Some(again) => item = again,
                    None => return Ok(()),
                },
            }
        }
        counts.add(Kind::ChangedMeanwhile, 1);
        Ok(())
    }

    /// The profile in `item`, if it reads and its name is its key's.
    fn readable_profile(&self, item: &Item, key: &Key, counts: &mut Counts) -> Option<User> {
        let user = records::user_from_item(item).ok().filter(|user| {
            keys::owner_of_partition(&key.pk)
                .is_some_and(|owner| owner.canonical() == user.username.canonical())
        });
        if user.is_none() {
            counts.add(Kind::Unreadable, 1);
        }
        user
    }

    /// Links `user`'s reservation on its own, if the profile in `profile`
    /// (at `key`) is still as read.
    async fn link_reservation(
        &self,
        user: &User,
        key: &Key,
        profile: &Item,
        counts: &mut Counts,
    ) -> Result<(), StoreError> {
        let plan = self.reservation_plan(user).await?;
        let mut ops = vec![WriteOp::Check {
            key: key.clone(),
            condition: shape::unchanged(profile),
        }];
        ops.extend(plan.ops);
        match self.write(ops, counts).await? {
            Written::Done => {
                if let Some(kind) = plan.kind {
                    counts.add(kind, 1);
                }
            }
            Written::Refused(_) => counts.add(Kind::ChangedMeanwhile, 1),
        }
        Ok(())
    }

    /// A customer key holding no profile, only (say) an address.
    async fn partial(&self, item: Item, counts: &mut Counts) -> Result<(), StoreError> {
        let Some(key) = key_of(&item) else {
            return Ok(());
        };
        counts.add(Kind::PartialUsers, 1);
        tracing::warn!(
            pk = key.pk,
            "a customer key holds no profile (partial item)"
        );
        if !self.options.delete_orphans {
            return Ok(());
        }
        let delete = WriteOp::Delete {
            condition: shape::unchanged(&item),
            key,
        };
        match self.write(vec![delete], counts).await? {
            Written::Done => counts.add(Kind::PartialUsersDeleted, 1),
            Written::Refused(_) => counts.add(Kind::ChangedMeanwhile, 1),
        }
        Ok(())
    }

    /// The ops that leave `user` with a lower-case reservation naming it:
    /// none if it has one; a link if its reservation names nobody; a move
    /// if the original system keyed it in mixed case; a new one if it has
    /// none. When another profile holds the address, its own mixed-case
    /// reservation (if any) is linked where it is, and the collision counted.
    pub(super) async fn reservation_plan(
        &self,
        user: &User,
    ) -> Result<ReservationPlan, StoreError> {
        let canonical = keys::email_reservation(&user.email);
        let linked = |key: &Key| shape::reservation(key, user);
        let owner_name = user.username.as_str();
        let engine = &self.store.engine;
        if let Some(current) = engine.get(&canonical).await? {
            return Ok(match text(&current, USERNAME) {
                Some(owner) if owner == owner_name => ReservationPlan::default(),
                Some(other) => {
                    tracing::warn!(
                        username = owner_name,
                        holder = other,
                        "another profile holds this profile's email address"
                    );
                    let typed = keys::email_reservation_as_typed(&user.email);
                    let mut ops = Vec::new();
                    if typed != canonical
                        && let Some(own) = engine.get(&typed).await?
                        && text(&own, USERNAME).is_none()
                    {
                        ops.push(WriteOp::Put {
                            item: linked(&typed),
                            condition: shape::unchanged(&own),
                        });
                    }
                    ReservationPlan {
                        ops,
                        kind: Some(Kind::EmailCollisions),
                    }
                }
                None => ReservationPlan {
                    ops: vec![WriteOp::Put {
                        item: linked(&canonical),
                        condition: shape::unchanged(&current),
                    }],
                    kind: Some(Kind::ReservationsLinked),
                },
            });
        }
        let create = WriteOp::Put {
            item: linked(&canonical),
            condition: Condition::NotExists,
        };
        let typed = keys::email_reservation_as_typed(&user.email);
        if typed != canonical
            && let Some(own) = engine.get(&typed).await?
            && text(&own, USERNAME).is_none_or(|owner| owner == owner_name)
        {
            let remove = WriteOp::Delete {
                key: typed,
                condition: shape::unchanged(&own),
            };
            return Ok(ReservationPlan {
                ops: vec![create, remove],
                kind: Some(Kind::ReservationsMoved),
            });
        }
        Ok(ReservationPlan {
            ops: vec![create],
            kind: Some(Kind::ReservationsCreated),
        })
    }

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
        for _ in 0..ATTEMPTS {
            let old = self.store.engine.get(&old_key).await?;
            let current = self.store.engine.get(&target).await?;
            let moved_here = current
                .as_ref()
                .is_some_and(|moved| text(moved, MIGRATED_FROM) == Some(old_pk));
            let old_profile = old
                .as_ref()
                .is_some_and(|old| text(old, USERNAME).is_some());
            if let (true, true, Some(old)) = (moved_here, old_profile, &old) {
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
            if let (true, Some(current)) = (moved_here, &current) {
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
            if let Written::Done = self.write(ops, counts).await? {
                counts.add(Kind::UsersMoved, 1);
                if let Some(kind) = reservation.kind {
                    counts.add(kind, 1);
                }
                return Ok(Owner::MovedTo(canonical));
            }
            // Refused: taken, changed, or a reservation changed. Look again.
        }
        counts.add(Kind::ChangedMeanwhile, 1);
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
            Written::Done => {
                counts.add(Kind::UsersNormalized, 1);
                Ok(true)
            }
            Written::Refused(_) => Ok(false),
        }
    }

    /// Pass 2: a reservation that names nobody after pass 1 belongs to no
    /// profile (the original system's deletion left it behind).
    pub(super) async fn orphan_reservation(
        &self,
        item: Item,
        counts: &mut Counts,
    ) -> Result<(), StoreError> {
        let Some(key) = key_of(&item) else {
            return Ok(());
        };
        if !keys::is_email_reservation(&key.pk)
            || text(&item, USERNAME).is_some()
            || self.was_claimed(&key)
        {
            return Ok(());
        }
        counts.add(Kind::OrphanReservations, 1);
        tracing::warn!(
            pk = key.pk,
            "an email reservation that belongs to no profile"
        );
        if !self.options.delete_orphans || !self.deletes_reservations() {
            return Ok(());
        }
        let delete = WriteOp::Delete {
            condition: Condition::ExistsAnd(vec![AttributeCheck::Absent(USERNAME)]),
            key,
        };
        match self.write(vec![delete], counts).await? {
            Written::Done => counts.add(Kind::OrphanReservationsDeleted, 1),
            Written::Refused(_) => counts.add(Kind::ChangedMeanwhile, 1),
        }
        Ok(())
    }
}
