//! Today's shape of an item the original system wrote, and the condition
//! that replaces an item only if nobody changed it since it was read. Pure
//! functions: no reads, no writes.

use crate::domain::{Order, User};
use crate::store::engine::{AttributeCheck, Condition, Item, Value, text};
use crate::store::keys::{self, GSI1PK, GSI1SK, GSI2PK, GSI2SK, PK, SK};
use crate::store::records::{
    ADDRESS, CREATED_AT, CUSTOMER_ATTRIBUTES, LEGACY_ADDRESS, ORDER_ID, UPDATED_AT, USERNAME,
};

/// The item exists and is as `read`: the condition of every migration
/// write, so it never overwrites a concurrent request's write.
pub(super) fn unchanged(read: &Item) -> Condition {
    // A write of the live service changes at least one attribute it
    // writes, so an item whose values of all of them are as read has not
    // been written since (attributes outside the list are carried over as
    // read, never checked).
    let checks = CUSTOMER_ATTRIBUTES
        .iter()
        .map(|&name| match read.get(name) {
            Some(value) => AttributeCheck::equals(name, value.clone()),
            None => AttributeCheck::Absent(name),
        })
        .collect();
    Condition::ExistsAnd(checks)
}

fn string(value: impl Into<String>) -> Value {
    Value::S(value.into())
}

/// A profile keyed by its canonical (lower-case) username, with its address
/// in `Address`. What else it holds is kept as it is.
pub(super) fn user_shape(item: &Item, user: &User) -> Item {
    let mut wanted = item.clone();
    let key = keys::customer(&user.username);
    wanted.insert(PK.to_owned(), string(key.pk));
    wanted.insert(SK.to_owned(), string(key.sk));
    if let Some(legacy) = wanted.remove(LEGACY_ADDRESS) {
        // `migrate` and this service's address edits remove `address`, so
        // one that is here was written by the original system after both:
        // it is the newest address.
        wanted.insert(ADDRESS.to_owned(), legacy);
    }
    wanted
}

/// An order in its customer's canonical partition, with both index keys
/// and timestamps in this service's format.
pub(super) fn order_shape(item: &Item, order: &Order) -> Item {
    let mut wanted = item.clone();
    let owner = order.owner.canonical();
    let key = keys::order(&owner, order.id);
    let (by_id, by_id_owner) = keys::order_gsi1(&owner, order.id);
    for (name, value) in [
        (PK, key.pk),
        (SK, key.sk),
        (GSI1PK, by_id),
        (GSI1SK, by_id_owner),
        (ORDER_ID, order.id.to_string()),
    ] {
        wanted.insert(name.to_owned(), string(value));
    }
    // Only the state machine's statuses have a queue. An order that is on
    // its status's queue already keeps its place there.
    match order.status.known() {
        Some(status) => {
            let (queue, position) = keys::order_gsi2(status, order.id, order.entered_status_at());
            if text(item, GSI2PK) != Some(queue.as_str()) {
                wanted.insert(GSI2PK.to_owned(), string(queue));
                wanted.insert(GSI2SK.to_owned(), string(position));
            }
        }
        None => {
            wanted.remove(GSI2PK);
            wanted.remove(GSI2SK);
        }
    }
    for (name, at) in [
        (CREATED_AT, order.created_at),
        (UPDATED_AT, order.updated_at),
    ] {
        if let Some(at) = at {
            wanted.insert(name.to_owned(), string(at.to_string()));
        }
    }
    wanted
}

/// An email reservation naming its owner's registered spelling.
pub(super) fn reservation(key: &keys::Key, user: &User) -> Item {
    Item::from([
        (PK.to_owned(), string(key.pk.clone())),
        (SK.to_owned(), string(key.sk.clone())),
        (USERNAME.to_owned(), string(user.username.as_str())),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::records::{AMOUNT, STATUS, VERSION, order_from_item, user_from_item};

    fn item(pairs: &[(&str, &str)], numbers: &[(&str, &str)]) -> Item {
        pairs
            .iter()
            .map(|(name, value)| (name.to_string(), string(*value)))
            .chain(
                numbers
                    .iter()
                    .map(|(name, value)| (name.to_string(), Value::N(value.to_string()))),
            )
            .collect()
    }

    #[test]
    fn an_original_order_gets_index_keys_and_todays_timestamps() {
        let original = item(
            &[
                ("PK", "CUSTOMER#John"),
                ("SK", "#ORDER#2UJT4m2UkBAWG7DHDLfkXxbMN04"),
                ("OrderId", "2UJT4m2UkBAWG7DHDLfkXxbMN04"),
                ("Status", "PLACED"),
                ("CreatedAt", "2023-08-21T22:21:34.811747"),
            ],
            &[("Amount", "19.99"), ("NumberItems", "2")],
        );
        let order = order_from_item(&original).unwrap();
        let wanted = order_shape(&original, &order);
        assert_eq!(text(&wanted, PK), Some("CUSTOMER#john"));
        assert_eq!(
            text(&wanted, GSI1PK),
            Some("ORDER#2UJT4m2UkBAWG7DHDLfkXxbMN04")
        );
        assert_eq!(text(&wanted, GSI1SK), Some("CUSTOMER#john"));
        assert!(text(&wanted, GSI2PK).is_some_and(|q| q.starts_with("STATUS#PLACED#")));
        assert_eq!(
            text(&wanted, CREATED_AT),
            Some("2023-08-21T22:21:34.811747Z")
        );
        assert_eq!(wanted.get(AMOUNT), original.get(AMOUNT));
        // In today's shape, nothing more to do.
        let again = order_shape(&wanted, &order_from_item(&wanted).unwrap());
        assert_eq!(again, wanted);
    }

    #[test]
    fn an_order_in_another_status_gets_no_queue() {
        let original = item(
            &[
                ("PK", "CUSTOMER#ann"),
                ("SK", "#ORDER#2UJT4m2UkBAWG7DHDLfkXxbMN04"),
                ("Status", "Returned"),
                ("CreatedAt", "2023-08-21T22:21:34"),
                // Left from when it had a status of the state machine.
                ("GSI2PK", "STATUS#PLACED#1"),
                (
                    "GSI2SK",
                    "2023-08-21T22:21:34.000000Z#2UJT4m2UkBAWG7DHDLfkXxbMN04",
                ),
            ],
            &[("Amount", "5"), ("NumberItems", "1")],
        );
        let wanted = order_shape(&original, &order_from_item(&original).unwrap());
        assert!(!wanted.contains_key(GSI2PK) && !wanted.contains_key(GSI2SK));
        assert_eq!(text(&wanted, STATUS), Some("Returned"));
    }

    #[test]
    fn a_profile_gets_its_address_renamed_and_the_canonical_key() {
        let original = item(
            &[
                ("PK", "CUSTOMER#John"),
                ("SK", "CUSTOMER#John"),
                ("Username", "John"),
                ("Name", "john smith"),
                ("Email", "John@Example.com"),
                ("address", "124 Street Akl NZ"),
            ],
            &[],
        );
        let user = user_from_item(&original).unwrap();
        let wanted = user_shape(&original, &user);
        assert_eq!(text(&wanted, PK), Some("CUSTOMER#john"));
        assert_eq!(text(&wanted, ADDRESS), Some("124 Street Akl NZ"));
        assert!(!wanted.contains_key(LEGACY_ADDRESS));
        assert_eq!(text(&wanted, USERNAME), Some("John"));
    }

    #[test]
    fn unchanged_holds_only_for_the_item_as_read() {
        let read = item(&[("Status", "PLACED")], &[]);
        let condition = unchanged(&read);
        assert!(condition.holds_for(Some(&read)));
        assert!(!condition.holds_for(None));
        let moved = item(&[("Status", "SHIPPED")], &[]);
        assert!(!condition.holds_for(Some(&moved)));
        let mut versioned = read.clone();
        versioned.insert(VERSION.into(), Value::N("2".into()));
        assert!(!condition.holds_for(Some(&versioned)));
    }
}
