//! Profiles and their email reservations: renamed attributes, reservations
//! linked to their owners, partial items and orphan reservations reported.
//! (Mixed-case customers move in `moves.rs`.)

use crate::domain::User;
use crate::store::StoreError;
use crate::store::engine::{AttributeCheck, Condition, Item, WriteOp, key_of, text};
use crate::store::keys::{self, Key};
use crate::store::records::{self, USERNAME};

use super::counts::{Counts, Kind};
use super::retry::{Reread, RetryIfChanged};
use super::{Conditional, Run, shape};

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
    pub(super) fn cached(&self, pk: &str) -> Option<&Owner> {
        self.last
            .as_ref()
            .filter(|(last, _)| last == pk)
            .map(|(_, owner)| owner)
    }

    pub(super) fn remember(&mut self, pk: &str, owner: Owner) {
        self.last = Some((pk.to_owned(), owner));
    }
}

/// What a profile's reservation needs: the ops, and what they count as.
#[derive(Default)]
pub(super) struct ReservationPlan {
    pub ops: Vec<WriteOp>,
    pub kind: Option<Kind>,
}

/// Reports a username today's rules refuse (served as stored, but worth an
/// operator's look), and among them one no URL path can name (`..`, see
/// `Username::fits_a_path`). Such a customer is still reached through the
/// routes that take the name in the query string or body (`GET
/// /orders?username=`, `POST /edit-address`, `POST /orders`).
fn note_username(user: &User, key: &Key, counts: &mut Counts) {
    if user.username.is_todays() {
        return;
    }
    counts.add(Kind::LegacyUsernames, 1);
    if user.username.fits_a_path() {
        tracing::info!(
            pk = key.pk,
            "a username today's registration rules refuse: served as stored"
        );
    } else {
        counts.add(Kind::UsernamesUnreachableByPath, 1);
        tracing::warn!(
            pk = key.pk,
            "a username no URL path can name: served by the routes that take it in the query or body; \
             GET and DELETE /users/{{username}} cannot (docs/operations/cutover.md: \"Usernames no path can carry\")"
        );
    }
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
        let owner = match self.engine.get(&keys::customer_of_partition(pk)).await? {
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
        let mut first_read = true;
        let mut tries = RetryIfChanged::new();
        while tries.another(counts) {
            if text(&item, USERNAME).is_none() {
                return self.partial(item, counts).await;
            }
            if records::is_being_deleted(&item) {
                counts.add(Kind::DeletionsUnderWay, 1);
                return Ok(());
            }
            let Some(user) = self.readable_profile(&item, &key, counts) else {
                return Ok(());
            };
            if std::mem::take(&mut first_read) {
                note_username(&user, &key, counts);
            }
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
                Conditional::Applied => {
                    if renamed {
                        counts.add(Kind::UsersNormalized, 1);
                    }
                    if let Some(kind) = reservation.kind {
                        counts.add(kind, 1);
                    }
                    return Ok(());
                }
                Conditional::Refused(_) => {
                    if let Reread::Gone = self.read_again(&key, &mut item).await? {
                        return Ok(());
                    }
                }
            }
        }
        Ok(())
    }

    /// The profile in `item`, if it reads and its name is its key's.
    pub(super) fn readable_profile(
        &self,
        item: &Item,
        key: &Key,
        counts: &mut Counts,
    ) -> Option<User> {
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
    pub(super) async fn link_reservation(
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
            Conditional::Applied => {
                if let Some(kind) = plan.kind {
                    counts.add(kind, 1);
                }
            }
            Conditional::Refused(_) => counts.add(Kind::ChangedMeanwhile, 1),
        }
        Ok(())
    }

    /// A customer key holding no profile, only (say) an address.
    pub(super) async fn partial(&self, item: Item, counts: &mut Counts) -> Result<(), StoreError> {
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
            Conditional::Applied => counts.add(Kind::PartialUsersDeleted, 1),
            Conditional::Refused(_) => counts.add(Kind::ChangedMeanwhile, 1),
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
        let engine = &self.engine;
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
            Conditional::Applied => counts.add(Kind::OrphanReservationsDeleted, 1),
            Conditional::Refused(_) => counts.add(Kind::ChangedMeanwhile, 1),
        }
        Ok(())
    }
}
