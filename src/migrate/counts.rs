//! What a migration did (or, on a dry run, would do), by kind.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One kind of thing a migration counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Items read by the first pass.
    ItemsScanned,
    /// Profiles rewritten in place (`address` renamed to `Address`).
    UsersNormalized,
    /// Mixed-case profiles moved to their lower-case key.
    UsersMoved,
    /// Mixed-case profiles left where they are: another profile has the
    /// lower-case key (two users that differ only in case).
    CaseCollisions,
    /// Items with a customer key and no profile (only an address).
    PartialUsers,
    PartialUsersDeleted,
    /// Email reservations given their owner's name.
    ReservationsLinked,
    /// Mixed-case email reservations moved to their lower-case key.
    ReservationsMoved,
    /// Profiles that had no reservation: given one.
    ReservationsCreated,
    /// Profiles whose lower-case email another profile has reserved.
    EmailCollisions,
    /// Reservations that belong to no profile.
    OrphanReservations,
    OrphanReservationsDeleted,
    /// Orders given their index keys and today's timestamps in place.
    OrdersNormalized,
    /// Orders moved with their mixed-case customer.
    OrdersMoved,
    /// Orders of no profile, or left by an earlier account of the name.
    OrphanOrders,
    OrphanOrdersDeleted,
    /// Items a request changed between read and write, every time they
    /// were tried: left for the next run.
    ChangedMeanwhile,
    /// Items that cannot be read (logged with their keys): left as they are.
    Unreadable,
    /// Profiles marked for deletion when read (a deletion running, or one
    /// stopped that the next request finishes): not judged, so no
    /// reservation is deleted as an orphan this run.
    DeletionsUnderWay,
    /// Profiles whose username today's registration rules refuse (the
    /// replaced system took any): served, percent-encoded in a path.
    LegacyUsernames,
    /// Profiles whose username no URL path can carry (`.` or `..`, which
    /// clients resolve away): logged with their keys for an operator.
    UsernamesUnreachableByPath,
    /// Items written (puts and deletes).
    Writes,
}

impl Kind {
    const ALL: [Kind; 22] = [
        Kind::ItemsScanned,
        Kind::UsersNormalized,
        Kind::UsersMoved,
        Kind::CaseCollisions,
        Kind::PartialUsers,
        Kind::PartialUsersDeleted,
        Kind::ReservationsLinked,
        Kind::ReservationsMoved,
        Kind::ReservationsCreated,
        Kind::EmailCollisions,
        Kind::OrphanReservations,
        Kind::OrphanReservationsDeleted,
        Kind::OrdersNormalized,
        Kind::OrdersMoved,
        Kind::OrphanOrders,
        Kind::OrphanOrdersDeleted,
        Kind::ChangedMeanwhile,
        Kind::Unreadable,
        Kind::DeletionsUnderWay,
        Kind::LegacyUsernames,
        Kind::UsernamesUnreachableByPath,
        Kind::Writes,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::ItemsScanned => "items_scanned",
            Kind::UsersNormalized => "users_normalized",
            Kind::UsersMoved => "users_moved",
            Kind::CaseCollisions => "case_collisions",
            Kind::PartialUsers => "partial_users",
            Kind::PartialUsersDeleted => "partial_users_deleted",
            Kind::ReservationsLinked => "reservations_linked",
            Kind::ReservationsMoved => "reservations_moved",
            Kind::ReservationsCreated => "reservations_created",
            Kind::EmailCollisions => "email_collisions",
            Kind::OrphanReservations => "orphan_reservations",
            Kind::OrphanReservationsDeleted => "orphan_reservations_deleted",
            Kind::OrdersNormalized => "orders_normalized",
            Kind::OrdersMoved => "orders_moved",
            Kind::OrphanOrders => "orphan_orders",
            Kind::OrphanOrdersDeleted => "orphan_orders_deleted",
            Kind::ChangedMeanwhile => "changed_meanwhile",
            Kind::Unreadable => "unreadable",
            Kind::DeletionsUnderWay => "deletions_under_way",
            Kind::LegacyUsernames => "legacy_usernames",
            Kind::UsernamesUnreachableByPath => "usernames_unreachable_by_path",
            Kind::Writes => "writes",
        }
    }
}

/// Counts by kind; every kind is present, so a summary shows its zeros.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Counts(BTreeMap<String, u64>);

impl Default for Counts {
    fn default() -> Self {
        Self(
            Kind::ALL
                .iter()
                .map(|kind| (kind.as_str().to_owned(), 0))
                .collect(),
        )
    }
}

impl Counts {
    pub fn add(&mut self, kind: Kind, n: u64) {
        *self.0.entry(kind.as_str().to_owned()).or_default() += n;
    }

    pub fn get(&self, kind: Kind) -> u64 {
        self.0.get(kind.as_str()).copied().unwrap_or_default()
    }

    pub fn merge(&mut self, other: &Counts) {
        for (kind, n) in &other.0 {
            *self.0.entry(kind.clone()).or_default() += n;
        }
    }

    /// Whether anything was (or would be) changed.
    pub fn changed_anything(&self) -> bool {
        self.get(Kind::Writes) > 0
    }
}
