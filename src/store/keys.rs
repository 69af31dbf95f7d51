//! The single-table key design. This is the only module that spells a key.
//!
//! | item              | PK                          | SK                    | GSI1PK        | GSI1SK          |
//! |-------------------|-----------------------------|-----------------------|---------------|-----------------|
//! | customer          | `CUSTOMER#<username>`       | same as PK            |               |                 |
//! | email reservation | `CUSTOMEREMAIL#<email>`     | same as PK            |               |                 |
//! | order             | `CUSTOMER#<username>`       | `#ORDER#<ulid>`       | `ORDER#<ulid>`| `CUSTOMER#<username>` |
//! | shard position    | `STREAMCHECKPOINT#<shard>`  | same as PK            |               |                 |
//!
//! Orders also carry GSI2 keys, the status queue: `GSI2PK` is
//! `STATUS#<status>#<shard>` and `GSI2SK` is `<when it entered the status>#<ulid>`
//! (see [`STATUS_SHARDS`]).
//!
//! Usernames and emails appear in keys in their canonical lower-case form, so
//! uniqueness ignores letter case. Orders sort before their customer item
//! (`#` < `C`), and by ULID among themselves, so one descending query returns
//! the customer and then the newest orders.

use crate::domain::{IdempotencyKey, OrderId, OrderStatus, StoredEmail, Timestamp, Username};

pub const PK: &str = "PK";
pub const SK: &str = "SK";
pub const GSI1PK: &str = "GSI1PK";
pub const GSI1SK: &str = "GSI1SK";
pub const GSI1: &str = "GSI1";
pub const GSI2PK: &str = "GSI2PK";
pub const GSI2SK: &str = "GSI2SK";
pub const GSI2: &str = "GSI2";
/// How many index partitions each status is spread over. All new orders
/// enter one status (PLACED), so one partition per status would take every
/// placement's index write, and a partition, of a table or of a GSI, takes
/// at most 1,000 write units a second (DynamoDB Developer Guide: "Key range
/// throughput exceeded (hot partitions)" and "Understanding DynamoDB warm
/// throughput in different scenarios"; the remedy is "Using write sharding
/// to distribute workloads evenly"): at
/// one unit per index entry of an order (under 1 KB), 4 shards carry 4,000
/// placements a second, twenty times the 200 a second of the README's
/// 1,000 req/s cost model. A page reads every shard (4 queries, in
/// parallel). Fixed: changing it re-keys every order.
pub const STATUS_SHARDS: u8 = 4;
/// The table's time-to-live attribute (epoch seconds): DynamoDB deletes an
/// item some time after it passes, and so does the embedded engine.
pub const EXPIRES_AT: &str = "ExpiresAt";

const CUSTOMER: &str = "CUSTOMER#";
const CUSTOMER_EMAIL: &str = "CUSTOMEREMAIL#";
const ORDER_SK: &str = "#ORDER#";
const ORDER_GSI: &str = "ORDER#";
const STATUS_QUEUE: &str = "STATUS#";
const HEALTH_PROBE: &str = "HEALTHCHECK#PROBE";
const IDEMPOTENCY: &str = "IDEMPOTENCY#";
const STREAM_CHECKPOINT: &str = "STREAMCHECKPOINT#";
const MIGRATION_CHECKPOINT: &str = "MIGRATIONCHECKPOINT#";

/// The primary key of one item.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    pub pk: String,
    pub sk: String,
}

impl Key {
    fn same(value: String) -> Self {
        Self {
            sk: value.clone(),
            pk: value,
        }
    }
}

pub fn customer_partition(username: &Username) -> String {
    format!("{CUSTOMER}{}", username.canonical())
}

pub fn customer(username: &Username) -> Key {
    Key::same(customer_partition(username))
}

pub fn email_reservation(email: &StoredEmail) -> Key {
    Key::same(format!("{CUSTOMER_EMAIL}{}", email.canonical()))
}

pub fn order(username: &Username, id: OrderId) -> Key {
    Key {
        pk: customer_partition(username),
        sk: order_sort_key(id),
    }
}

pub fn order_sort_key(id: OrderId) -> String {
    format!("{ORDER_SK}{id}")
}

/// The GSI1 keys of an order: a lookup by order id alone.
pub fn order_gsi1(username: &Username, id: OrderId) -> (String, String) {
    (format!("{ORDER_GSI}{id}"), customer_partition(username))
}

pub fn order_gsi1_partition(id: OrderId) -> String {
    format!("{ORDER_GSI}{id}")
}

/// The status-queue shard of an order: from the id's random bits (a ULID's
/// or a KSUID's), so orders spread evenly whatever their owner or time.
pub fn order_shard(id: OrderId) -> u8 {
    id.random_low_byte() % STATUS_SHARDS
}

/// The GSI2 partition of one shard of a status.
pub fn status_queue_partition(status: OrderStatus, shard: u8) -> String {
    format!("{STATUS_QUEUE}{status}#{shard}")
}

/// The GSI2 keys of an order that entered `status` at `entered`: oldest
/// first within a shard, ties broken by id.
pub fn order_gsi2(status: OrderStatus, id: OrderId, entered: Timestamp) -> (String, String) {
    (
        status_queue_partition(status, order_shard(id)),
        status_queue_sort_key(id, entered),
    )
}

pub fn status_queue_sort_key(id: OrderId, entered: Timestamp) -> String {
    format!("{entered}#{id}")
}

/// Which write an idempotency key belongs to: keys of different
/// operations never collide.
#[derive(Debug, Clone, Copy)]
pub enum IdempotentWrite {
    Registration,
    Placement,
}

/// An idempotency record: its own partition, so it can be written in the
/// same transaction as the write it guards and expire on its own. Keyed by
/// the operation, the caller's account (length-prefixed, so no pair of
/// account and key can spell another pair) and the client's key.
pub fn idempotency(write: IdempotentWrite, caller: Option<&str>, key: &IdempotencyKey) -> Key {
    let scope = match write {
        IdempotentWrite::Registration => "USER#",
        IdempotentWrite::Placement => "ORDER#",
    };
    let caller = caller.unwrap_or_default();
    Key::same(format!(
        "{IDEMPOTENCY}{scope}{}:{caller}#{}",
        caller.len(),
        key.as_str()
    ))
}

/// A key no item ever has; reading it proves the engine answers.
pub fn health_probe() -> Key {
    Key::same(HEALTH_PROBE.to_owned())
}

/// Where the stream reader keeps its position in one shard.
pub fn shard_position_key(shard_id: &str) -> Key {
    Key::same(format!("{STREAM_CHECKPOINT}{shard_id}"))
}

/// Where `migrate` keeps its position in one segment of its scan.
pub fn migration_checkpoint(segment: u32) -> Key {
    Key::same(format!("{MIGRATION_CHECKPOINT}{segment}"))
}

/// The customer item of a partition, whatever case its name is in: the
/// original system keyed users by the username exactly as typed.
pub fn customer_of_partition(pk: &str) -> Key {
    Key::same(pk.to_owned())
}

/// An email reservation keyed by the address exactly as typed, as the
/// original system wrote it (this service keys the lower-case form).
pub fn email_reservation_as_typed(email: &StoredEmail) -> Key {
    Key::same(format!("{CUSTOMER_EMAIL}{}", email.as_str()))
}

pub fn is_email_reservation(pk: &str) -> bool {
    pk.starts_with(CUSTOMER_EMAIL)
}

pub fn is_customer_partition(pk: &str) -> bool {
    pk.starts_with(CUSTOMER)
}

pub fn is_shard_position(pk: &str) -> bool {
    pk.starts_with(STREAM_CHECKPOINT)
}

pub fn is_order_sort_key(sk: &str) -> bool {
    sk.starts_with(ORDER_SK)
}

pub fn is_customer_sort_key(sk: &str) -> bool {
    sk.starts_with(CUSTOMER)
}

/// The username that owns a customer partition, as its key spells it
/// (lower case, but for partitions of the original system's mixed-case
/// users that `migrate` has not moved yet).
pub fn owner_of_partition(pk: &str) -> Option<Username> {
    pk.strip_prefix(CUSTOMER)
        .and_then(|name| Username::parse(name).ok())
}

/// The order id in an order's sort key.
pub fn order_id_of_sort_key(sk: &str) -> Option<OrderId> {
    sk.strip_prefix(ORDER_SK)
        .and_then(|id| OrderId::parse(id).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str) -> Username {
        Username::parse(name).unwrap()
    }

    #[test]
    fn orders_sort_before_their_customer() {
        let id = OrderId::parse("01ARZ3NDEKTSV4RRFFQ69G5FAV").unwrap();
        let order = order(&user("john"), id);
        let customer = customer(&user("john"));
        assert_eq!(order.pk, customer.pk);
        assert!(order.sk < customer.sk);
    }

    #[test]
    fn keys_ignore_letter_case() {
        assert_eq!(customer(&user("John")), customer(&user("jOHN")));
        let upper = StoredEmail::new("John@Example.com");
        let lower = StoredEmail::new("john@example.com");
        assert_eq!(email_reservation(&upper), email_reservation(&lower));
    }

    #[test]
    fn idempotency_keys_of_two_callers_never_meet() {
        let key = |raw: &str| IdempotencyKey::parse(raw).unwrap();
        let place = IdempotentWrite::Placement;
        assert_ne!(
            idempotency(place, Some("alice"), &key("k")),
            idempotency(place, Some("bob"), &key("k"))
        );
        assert_ne!(
            idempotency(place, Some("a#b"), &key("c")),
            idempotency(place, Some("a"), &key("b#c"))
        );
        assert_ne!(
            idempotency(place, None, &key("k")),
            idempotency(IdempotentWrite::Registration, None, &key("k"))
        );
    }

    #[test]
    fn status_queue_keys_sort_by_entry_time_and_spread_over_every_shard() {
        let early = Timestamp::parse("2026-11-30T09:00:00.000001Z").unwrap();
        let late = Timestamp::parse("2026-11-30T10:00:00.000000Z").unwrap();
        let id = OrderId::parse("01ARZ3NDEKTSV4RRFFQ69G5FAV").unwrap();
        let (partition, sort_key) = order_gsi2(OrderStatus::Placed, id, early);
        assert!(partition.starts_with("STATUS#PLACED#"));
        assert!(sort_key < status_queue_sort_key(id, late));
        let shards: std::collections::HashSet<u8> = (0..64)
            .map(|_| order_shard(OrderId::from_ulid(ulid::Ulid::generate())))
            .collect();
        assert_eq!(shards.len(), usize::from(STATUS_SHARDS));
    }

    #[test]
    fn parses_back_what_it_writes() {
        let id = OrderId::parse("01ARZ3NDEKTSV4RRFFQ69G5FAV").unwrap();
        let key = order(&user("John"), id);
        assert_eq!(order_id_of_sort_key(&key.sk), Some(id));
        assert_eq!(owner_of_partition(&key.pk), Some(user("john")));
        assert!(is_order_sort_key(&key.sk));
        assert!(is_customer_sort_key(&customer(&user("john")).sk));
    }
}
