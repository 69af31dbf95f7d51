//! What a migration did (or, on a dry run, would do), by kind.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Declares the kinds, their names in a summary, and the list of all of
/// them, once.
macro_rules! kinds {
    ($($(#[doc = $doc:literal])* $kind:ident => $name:literal,)*) => {
        /// One kind of thing a migration counts.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Kind {
            $($(#[doc = $doc])* $kind,)*
        }

        impl Kind {
            const ALL: &[Kind] = &[$(Kind::$kind),*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Kind::$kind => $name,)*
                }
            }
        }
    };
}

kinds! {
    /// Items read by the first pass.
    ItemsScanned => "items_scanned",
    /// Profiles rewritten in place (`address` renamed to `Address`).
    UsersNormalized => "users_normalized",
    /// Mixed-case profiles moved to their lower-case key.
    UsersMoved => "users_moved",
    /// Mixed-case profiles left where they are: another profile has the
    /// lower-case key (two users that differ only in case).
    CaseCollisions => "case_collisions",
    /// Items with a customer key and no profile (only an address).
    PartialUsers => "partial_users",
    PartialUsersDeleted => "partial_users_deleted",
    /// Email reservations given their owner's name.
    ReservationsLinked => "reservations_linked",
    /// Mixed-case email reservations moved to their lower-case key.
    ReservationsMoved => "reservations_moved",
    /// Profiles that had no reservation: given one.
    ReservationsCreated => "reservations_created",
    /// Profiles whose lower-case email another profile has reserved.
    EmailCollisions => "email_collisions",
    /// Reservations that belong to no profile.
    OrphanReservations => "orphan_reservations",
    OrphanReservationsDeleted => "orphan_reservations_deleted",
    /// Orders given their index keys and today's timestamps in place.
    OrdersNormalized => "orders_normalized",
    /// Orders moved with their mixed-case customer.
    OrdersMoved => "orders_moved",
    /// Orders of no profile, or left by an earlier account of the name.
    OrphanOrders => "orphan_orders",
    OrphanOrdersDeleted => "orphan_orders_deleted",
    /// Items a request changed between read and write, every time they
    /// were tried: left for the next run.
    ChangedMeanwhile => "changed_meanwhile",
    /// Items that cannot be read (logged with their keys): left as they are.
    Unreadable => "unreadable",
    /// Profiles marked for deletion when read (a deletion running, or one
    /// stopped that the next request finishes): not judged, so no
    /// reservation is deleted as an orphan this run.
    DeletionsUnderWay => "deletions_under_way",
    /// Profiles whose username today's registration rules refuse (the
    /// replaced system took any): served, percent-encoded in a path.
    LegacyUsernames => "legacy_usernames",
    /// Profiles whose username no URL path can carry (`.` or `..`, which
    /// clients resolve away): logged with their keys for an operator.
    UsernamesUnreachableByPath => "usernames_unreachable_by_path",
    /// Items written (puts and deletes).
    Writes => "writes",
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
