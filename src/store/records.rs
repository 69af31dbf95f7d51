//! How domain values are laid out as items, and read back. Attribute names
//! are PascalCase, as in the original service.

use crate::domain::{
    AccountId, Order, OrderStatus, StoredEmail, StoredNumber, StoredStatus, StoredText, Timestamp,
    User, Username,
};

use super::StoreError;
use super::engine::{AttributeCheck, Item, Value, number, text};
use super::keys::{self, EXPIRES_AT, GSI1PK, GSI1SK, GSI2PK, GSI2SK, PK, SK};

/// Declares the attributes of the items in customer partitions (profiles,
/// reservations, orders) and, from the same declaration, the list of them:
/// what `migrate`'s "unchanged since read" condition checks, so an attribute
/// added here is covered there.
macro_rules! customer_attributes {
    ($($(#[doc = $doc:literal])* $name:ident = $value:literal;)*) => {
        $($(#[doc = $doc])* pub const $name: &str = $value;)*
        /// Every attribute this service writes to a customer partition's
        /// items, the index keys included.
        pub const CUSTOMER_ATTRIBUTES: &[&str] =
            &[GSI1PK, GSI1SK, GSI2PK, GSI2SK, $($name),*];
    };
}

customer_attributes! {
    USERNAME = "Username";
    EMAIL = "Email";
    NAME = "Name";
    ADDRESS = "Address";
    /// Where the original system's `edit-address` wrote the address: read as
    /// [`ADDRESS`] when that is absent; `migrate` renames it.
    LEGACY_ADDRESS = "address";
    /// On an item `migrate` moved to its customer's canonical (lower-case)
    /// partition: the partition it came from. Its insert is no new order, so
    /// the notification consumer publishes nothing for it.
    MIGRATED_FROM = "MigratedFrom";
    CREATED_AT = "CreatedAt";
    UPDATED_AT = "UpdatedAt";
    ORDER_ID = "OrderId";
    STATUS = "Status";
    AMOUNT = "Amount";
    NUMBER_ITEMS = "NumberItems";
    /// An order's version: 1 when placed, one more with each move. Orders
    /// written before it existed count as version 1.
    VERSION = "Version";
    /// The W3C `traceparent` of the request that last wrote an order, so the
    /// notification it causes joins that trace. Absent when tracing is off.
    TRACE_PARENT = "TraceParent";
    /// The account (the token's `sub`) a profile or an order belongs to.
    SUB = "Sub";
    /// Set on a customer whose deletion is under way, to the token of the
    /// deletion run that owns it: the profile is gone for every reader and no
    /// order can be placed, until the last item is removed.
    DELETING = "Deleting";
}

/// Shard positions: the last sequence number handled, or that the shard is done.
pub const SEQUENCE_NUMBER: &str = "SequenceNumber";
pub const FINISHED: &str = "Finished";
/// Idempotency records: what the request was, when the record expires
/// ([`EXPIRES_AT`]), and the key of the item it wrote.
pub const FINGERPRINT: &str = "Fingerprint";
pub const ORIGINAL_PK: &str = "OriginalPK";
pub const ORIGINAL_SK: &str = "OriginalSK";

fn string(value: impl Into<String>) -> Value {
    Value::S(value.into())
}

fn attribute(name: &str, value: Value) -> (String, Value) {
    (name.to_owned(), value)
}

pub fn user_item(user: &User) -> Item {
    let key = keys::customer(&user.username);
    let mut item = Item::from([
        attribute(PK, string(key.pk)),
        attribute(SK, string(key.sk)),
        attribute(USERNAME, string(user.username.as_str())),
        attribute(EMAIL, string(user.email.as_str())),
        attribute(NAME, string(user.name.as_str())),
    ]);
    if let Some(created_at) = user.created_at {
        item.insert(CREATED_AT.to_owned(), timestamp_value(created_at));
    }
    if let Some(address) = &user.address {
        item.insert(ADDRESS.to_owned(), string(address.as_str()));
    }
    if let Some(account) = &user.account {
        item.insert(SUB.to_owned(), account_value(account));
    }
    item
}

pub fn email_reservation_item(user: &User) -> Item {
    let key = keys::email_reservation(&user.email);
    Item::from([
        attribute(PK, string(key.pk)),
        attribute(SK, string(key.sk)),
        attribute(USERNAME, string(user.username.as_str())),
    ])
}

/// An order's item; `trace_parent` is the writing request's trace, when
/// it is traced (so the notification the write causes can link to it).
pub fn order_item(order: &Order, trace_parent: Option<Value>) -> Item {
    let key = keys::order(&order.owner, order.id);
    let (gsi1pk, gsi1sk) = keys::order_gsi1(&order.owner, order.id);
    let mut item = Item::from([
        attribute(PK, string(key.pk)),
        attribute(SK, string(key.sk)),
        attribute(GSI1PK, string(gsi1pk)),
        attribute(GSI1SK, string(gsi1sk)),
        attribute(ORDER_ID, string(order.id.to_string())),
        attribute(STATUS, string(order.status.as_str())),
        attribute(AMOUNT, Value::N(order.amount.as_str().to_owned())),
        attribute(NUMBER_ITEMS, Value::N(order.items.as_str().to_owned())),
        attribute(VERSION, Value::N(order.version.to_string())),
    ]);
    // Only the state machine's statuses have a queue.
    if let Some(status) = order.status.known() {
        let (gsi2pk, gsi2sk) = keys::order_gsi2(status, order.id, order.entered_status_at());
        item.insert(GSI2PK.to_owned(), string(gsi2pk));
        item.insert(GSI2SK.to_owned(), string(gsi2sk));
    }
    if let Some(created_at) = order.created_at {
        item.insert(CREATED_AT.to_owned(), timestamp_value(created_at));
    }
    if let Some(updated_at) = order.updated_at {
        item.insert(UPDATED_AT.to_owned(), timestamp_value(updated_at));
    }
    if let Some(account) = &order.account {
        item.insert(SUB.to_owned(), account_value(account));
    }
    if let Some(trace_parent) = trace_parent {
        item.insert(TRACE_PARENT.to_owned(), trace_parent);
    }
    item
}

/// The current span's `traceparent`, when tracing is on.
pub fn current_trace_parent() -> Option<Value> {
    if !crate::telemetry::trace::enabled() {
        return None;
    }
    crate::telemetry::trace::outgoing(&tracing::Span::current())
        .remove("traceparent")
        .map(string)
}

pub fn status_value(status: OrderStatus) -> Value {
    string(status.as_str())
}

pub fn account_value(account: &AccountId) -> Value {
    string(account.as_str())
}

pub fn timestamp_value(at: Timestamp) -> Value {
    string(at.to_string())
}

pub fn is_being_deleted(item: &Item) -> bool {
    item.contains_key(DELETING)
}

/// A customer item that is a profile: the original system's `edit-address`
/// for an unknown username left items holding only a key and an address,
/// which are no profile.
pub fn is_profile(item: &Item) -> bool {
    text(item, USERNAME).is_some() && !is_being_deleted(item)
}

/// What a profile needs to read (see [`user_from_item`]): a write that
/// answers with the profile is conditioned on it, so an item no writer
/// could have written is refused before anything is written.
pub fn profile_readable() -> Vec<AttributeCheck> {
    vec![
        AttributeCheck::IsString(USERNAME),
        AttributeCheck::IsString(EMAIL),
        AttributeCheck::IsString(NAME),
    ]
}

/// What an order needs to read (see [`order_from_item`]), for the same reason.
pub fn order_readable() -> Vec<AttributeCheck> {
    vec![
        AttributeCheck::IsString(STATUS),
        AttributeCheck::IsNumber(AMOUNT),
        AttributeCheck::IsNumber(NUMBER_ITEMS),
    ]
}

/// Reads a profile, in this service's shape or the original system's (no
/// `CreatedAt`, the address in `address`), with every value as stored: the
/// original took any string for an email, a name or an address.
pub fn user_from_item(item: &Item) -> Result<User, StoreError> {
    decode(item, "profile", |item| {
        Ok(User {
            username: required(item, USERNAME, text, Username::parse)?,
            email: StoredEmail::new(text(item, EMAIL).ok_or(EMAIL)?),
            name: StoredText::new(text(item, NAME).ok_or(NAME)?),
            // An `address` still here is the newest: this service's edits
            // and `migrate` remove it, only the original system writes it.
            address: text(item, LEGACY_ADDRESS)
                .or_else(|| text(item, ADDRESS))
                .map(StoredText::new),
            created_at: optional(item, CREATED_AT, Timestamp::parse)?,
            account: optional(item, SUB, AccountId::parse)?,
        })
    })
}

/// Reads an order, in this service's shape or the original system's (a
/// KSUID, any status string, naive timestamps, no index keys, any amount
/// and item count), with its numbers exactly as stored.
pub fn order_from_item(item: &Item) -> Result<Order, StoreError> {
    decode(item, "order", |item| {
        let pk = text(item, PK).unwrap_or_default();
        let sk = text(item, SK).unwrap_or_default();
        Ok(Order {
            id: keys::order_id_of_sort_key(sk).ok_or(SK)?,
            owner: keys::owner_of_partition(pk).ok_or(PK)?,
            status: text(item, STATUS).map(StoredStatus::read).ok_or(STATUS)?,
            amount: required(item, AMOUNT, number, StoredNumber::parse)?,
            items: required(item, NUMBER_ITEMS, number, StoredNumber::parse_integer)?,
            created_at: optional(item, CREATED_AT, Timestamp::parse)?,
            updated_at: optional(item, UPDATED_AT, Timestamp::parse)?,
            account: optional(item, SUB, AccountId::parse)?,
            version: match number(item, VERSION) {
                None => 1,
                Some(raw) => raw.parse().map_err(|_| VERSION)?,
            },
        })
    })
}

/// Reads an item with `read`, which names the attribute it could not read;
/// such an item is reported (see [`super::unreadable`]).
fn decode<T>(
    item: &Item,
    kind: &'static str,
    read: impl FnOnce(&Item) -> Result<T, &'static str>,
) -> Result<T, StoreError> {
    read(item).map_err(|attribute| super::unreadable::report(item, kind, attribute))
}

fn required<'a, T, E>(
    item: &'a Item,
    name: &'static str,
    read: fn(&'a Item, &str) -> Option<&'a str>,
    parse: fn(&str) -> Result<T, E>,
) -> Result<T, &'static str> {
    read(item, name).and_then(|raw| parse(raw).ok()).ok_or(name)
}

fn optional<T, E>(
    item: &Item,
    name: &'static str,
    parse: fn(&str) -> Result<T, E>,
) -> Result<Option<T>, &'static str> {
    text(item, name)
        .map(|raw| parse(raw).map_err(|_| name))
        .transpose()
}

fn corrupt(attribute: &str) -> StoreError {
    StoreError::Internal(anyhow::anyhow!(
        "a stored item has a missing or invalid {attribute}"
    ))
}

/// The record of a write under an idempotency key: the item as first
/// written (so a replay answers exactly as the first response did, whatever
/// happened to the item since) and the request it answered.
pub fn idempotency_item(
    key: &keys::Key,
    written: &Item,
    fingerprint: &str,
    expires_at: i64,
) -> Item {
    let mut item = written.clone();
    let original_pk = item.remove(PK).unwrap_or(Value::S(String::new()));
    let original_sk = item.remove(SK).unwrap_or(Value::S(String::new()));
    // A record is no order: it stays out of both indexes.
    for index_key in [GSI1PK, GSI1SK, GSI2PK, GSI2SK] {
        item.remove(index_key);
    }
    item.extend([
        attribute(PK, string(key.pk.clone())),
        attribute(SK, string(key.sk.clone())),
        attribute(ORIGINAL_PK, original_pk),
        attribute(ORIGINAL_SK, original_sk),
        attribute(FINGERPRINT, string(fingerprint)),
        attribute(EXPIRES_AT, Value::N(expires_at.to_string())),
    ]);
    item
}

/// An idempotency record's fingerprint, and the item as first written
/// (without its index keys, which no reader of a replay needs).
pub fn from_idempotency_item(record: &Item) -> Result<(String, Item), StoreError> {
    let fingerprint = text(record, FINGERPRINT).ok_or_else(|| corrupt(FINGERPRINT))?;
    let mut written = record.clone();
    written.remove(FINGERPRINT);
    written.remove(EXPIRES_AT);
    for (from, to) in [(ORIGINAL_PK, PK), (ORIGINAL_SK, SK)] {
        let value = written.remove(from).ok_or_else(|| corrupt(from))?;
        written.insert(to.to_owned(), value);
    }
    Ok((fingerprint.to_owned(), written))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::OrderId;

    #[test]
    fn users_and_orders_round_trip() {
        let user = User {
            username: Username::parse("John").unwrap(),
            email: StoredEmail::new("john@example.com"),
            name: StoredText::new("john smith"),
            address: Some(StoredText::new("124 Street Akl NZ")),
            created_at: Some(Timestamp::now()),
            account: Some(AccountId::parse("c8e1b2f0-7f6a").unwrap()),
        };
        assert_eq!(user_from_item(&user_item(&user)).unwrap(), user);

        let order = Order {
            id: OrderId::parse("01ARZ3NDEKTSV4RRFFQ69G5FAV").unwrap(),
            owner: Username::parse("john").unwrap(),
            status: OrderStatus::Shipped.into(),
            amount: StoredNumber::parse("19.99").unwrap(),
            items: StoredNumber::parse_integer("2").unwrap(),
            created_at: Some(Timestamp::now()),
            updated_at: Some(Timestamp::now()),
            account: None,
            version: 3,
        };
        let item = order_item(&order, None);
        assert_eq!(item.get(AMOUNT), Some(&Value::N("19.99".into())));
        assert_eq!(order_from_item(&item).unwrap(), order);
    }

    #[test]
    fn what_the_original_accepted_reads_as_stored() {
        let profile = |email: &str, name: &str| {
            Item::from([
                (PK.to_owned(), Value::S("CUSTOMER#ann".into())),
                (SK.to_owned(), Value::S("CUSTOMER#ann".into())),
                (USERNAME.to_owned(), Value::S("ann".into())),
                (EMAIL.to_owned(), Value::S(email.into())),
                (NAME.to_owned(), Value::S(name.into())),
            ])
        };
        for (email, name) in [("ann@localhost", "Ann"), ("not-an-email", ""), ("", " \t")] {
            let user = user_from_item(&profile(email, name)).unwrap();
            assert_eq!((user.email.as_str(), user.name.as_str()), (email, name));
        }
        // A number where the original wrote a string: no writer did that.
        let mut numbered = profile("ann@example.com", "Ann");
        numbered.insert(EMAIL.to_owned(), Value::N("5".into()));
        assert!(matches!(
            user_from_item(&numbered),
            Err(StoreError::Unreadable {
                attribute: EMAIL,
                ..
            })
        ));
    }
}
