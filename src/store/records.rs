//! How domain values are laid out as items, and read back. Attribute names
//! are PascalCase, as in the original service.

use crate::domain::{
    AccountId, Address, Amount, Email, ItemCount, Name, Order, OrderStatus, Timestamp, User,
    Username,
};

use super::StoreError;
use super::engine::{Item, Value, number, text};
use super::keys::{self, EXPIRES_AT, GSI1PK, GSI1SK, GSI2PK, GSI2SK, PK, SK};

pub const USERNAME: &str = "Username";
pub const EMAIL: &str = "Email";
pub const NAME: &str = "Name";
pub const ADDRESS: &str = "Address";
pub const CREATED_AT: &str = "CreatedAt";
pub const UPDATED_AT: &str = "UpdatedAt";
pub const ORDER_ID: &str = "OrderId";
pub const STATUS: &str = "Status";
pub const AMOUNT: &str = "Amount";
pub const NUMBER_ITEMS: &str = "NumberItems";
/// An order's version: 1 when placed, one more with each move. Orders
/// written before it existed count as version 1.
pub const VERSION: &str = "Version";
/// The W3C `traceparent` of the request that last wrote an order, so the
/// notification it causes joins that trace. Absent when tracing is off.
pub const TRACE_PARENT: &str = "TraceParent";
/// The account (the token's `sub`) a profile or an order belongs to.
pub const SUB: &str = "Sub";
/// Set on a customer whose deletion is under way, to the token of the
/// deletion run that owns it: the profile is gone for every reader and no
/// order can be placed, until the last item is removed.
pub const DELETING: &str = "Deleting";
/// Stream checkpoints: the last sequence number handled, or that the shard is done.
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
        attribute(CREATED_AT, string(user.created_at.to_string())),
    ]);
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
    // An order enters its status when placed, or when last moved.
    let entered = order.updated_at.unwrap_or(order.created_at);
    let (gsi2pk, gsi2sk) = keys::order_gsi2(order.status, order.id, entered);
    let mut item = Item::from([
        attribute(PK, string(key.pk)),
        attribute(SK, string(key.sk)),
        attribute(GSI1PK, string(gsi1pk)),
        attribute(GSI1SK, string(gsi1sk)),
        attribute(GSI2PK, string(gsi2pk)),
        attribute(GSI2SK, string(gsi2sk)),
        attribute(ORDER_ID, string(order.id.to_string())),
        attribute(CREATED_AT, string(order.created_at.to_string())),
        attribute(STATUS, status_value(order.status)),
        attribute(AMOUNT, Value::N(order.amount.to_text())),
        attribute(NUMBER_ITEMS, Value::N(order.items.get().to_string())),
        attribute(VERSION, Value::N(order.version.to_string())),
    ]);
    if let Some(updated_at) = order.updated_at {
        item.insert(UPDATED_AT.to_owned(), string(updated_at.to_string()));
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

pub fn user_from_item(item: &Item) -> Result<User, StoreError> {
    Ok(User {
        username: required(item, USERNAME, text, Username::parse)?,
        email: required(item, EMAIL, text, Email::parse)?,
        name: required(item, NAME, text, Name::parse)?,
        address: optional(item, ADDRESS, Address::parse)?,
        created_at: required(item, CREATED_AT, text, Timestamp::parse)?,
        account: optional(item, SUB, AccountId::parse)?,
    })
}

pub fn order_from_item(item: &Item) -> Result<Order, StoreError> {
    let pk = text(item, PK).unwrap_or_default();
    let sk = text(item, SK).unwrap_or_default();
    Ok(Order {
        id: keys::order_id_of_sort_key(sk).ok_or_else(|| corrupt(SK))?,
        owner: keys::owner_of_partition(pk).ok_or_else(|| corrupt(PK))?,
        status: required(item, STATUS, text, OrderStatus::parse)?,
        amount: required(item, AMOUNT, number, Amount::parse)?,
        items: required(item, NUMBER_ITEMS, number, ItemCount::parse)?,
        created_at: required(item, CREATED_AT, text, Timestamp::parse)?,
        updated_at: optional(item, UPDATED_AT, Timestamp::parse)?,
        account: optional(item, SUB, AccountId::parse)?,
        version: match number(item, VERSION) {
            None => 1,
            Some(raw) => raw.parse().map_err(|_| corrupt(VERSION))?,
        },
    })
}

fn required<'a, T, E>(
    item: &'a Item,
    name: &str,
    read: fn(&'a Item, &str) -> Option<&'a str>,
    parse: fn(&str) -> Result<T, E>,
) -> Result<T, StoreError> {
    read(item, name)
        .and_then(|raw| parse(raw).ok())
        .ok_or_else(|| corrupt(name))
}

fn optional<T, E>(
    item: &Item,
    name: &str,
    parse: fn(&str) -> Result<T, E>,
) -> Result<Option<T>, StoreError> {
    text(item, name)
        .map(|raw| parse(raw).map_err(|_| corrupt(name)))
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
            email: Email::parse("john@example.com").unwrap(),
            name: Name::parse("john smith").unwrap(),
            address: Some(Address::parse("124 Street Akl NZ").unwrap()),
            created_at: Timestamp::now(),
            account: Some(AccountId::parse("c8e1b2f0-7f6a").unwrap()),
        };
        assert_eq!(user_from_item(&user_item(&user)).unwrap(), user);

        let order = Order {
            id: OrderId::parse("01ARZ3NDEKTSV4RRFFQ69G5FAV").unwrap(),
            owner: Username::parse("john").unwrap(),
            status: OrderStatus::Shipped,
            amount: Amount::parse("19.99").unwrap(),
            items: ItemCount::parse("2").unwrap(),
            created_at: Timestamp::now(),
            updated_at: Some(Timestamp::now()),
            account: None,
            version: 3,
        };
        let item = order_item(&order, None);
        assert_eq!(item.get(AMOUNT), Some(&Value::N("19.99".into())));
        assert_eq!(order_from_item(&item).unwrap(), order);
    }
}
