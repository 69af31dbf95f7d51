//! What the original system left in its table, item by item, in its own
//! shapes (from its source; see issue 20): users keyed by the username as
//! typed, with no `CreatedAt` and the address in `address`; reservations
//! that name nobody; orders under KSUIDs with any status string, naive
//! timestamps and no index keys; and what its deletion left behind.

use serde_json::{Value, json};

/// Ann: a lower-case user with an address, a reservation and three orders.
pub const ANN_PLACED: &str = "2UJT4m2UkBAWG7DHDLfkXxbMN04";
pub const ANN_SHIPPED: &str = "2UJT4m2UkBAWG7DHDLfkXxbMN05";
/// A status the state machine does not know, as a client sent it.
pub const ANN_RETURNED: &str = "2UJT4m2UkBAWG7DHDLfkXxbMN06";
/// Cy: a lower-case user the tests delete before any migration.
pub const CY_ORDER: &str = "2UJT4m2UkBAWG7DHDLfkXxbMN07";
/// Bob and bob: two users that differ only in case, one order each.
pub const BOB_UPPER_ORDER: &str = "2UJT4m2UkBAWG7DHDLfkXxbMN08";
pub const BOB_LOWER_ORDER: &str = "2UJT4m2UkBAWG7DHDLfkXxbMN09";
/// The order of a user the original system deleted (it kept the order).
pub const GONE_ORDER: &str = "2UJT4m2UkBAWG7DHDLfkXxbMN0A";
/// Maria, typed with a capital, has more than 100 orders.
pub const MARIA_ORDERS: usize = 120;

fn s(value: &str) -> Value {
    json!({ "S": value })
}

fn n(value: &str) -> Value {
    json!({ "N": value })
}

fn user(typed: &str, email: &str) -> Value {
    let key = format!("CUSTOMER#{typed}");
    json!({
        "PK": s(&key), "SK": s(&key), "Username": s(typed),
        "Name": s(&format!("{} smith", typed.to_lowercase())), "Email": s(email),
    })
}

fn reservation(typed_email: &str) -> Value {
    let key = format!("CUSTOMEREMAIL#{typed_email}");
    json!({ "PK": s(&key), "SK": s(&key) })
}

fn order(typed_owner: &str, id: &str, status: &str, created_at: &str) -> Value {
    json!({
        "PK": s(&format!("CUSTOMER#{typed_owner}")), "SK": s(&format!("#ORDER#{id}")),
        "OrderId": s(id), "Status": s(status), "Amount": n("19.99"), "NumberItems": n("2"),
        "CreatedAt": s(created_at),
    })
}

/// Maria's orders: KSUIDs that differ in their last characters.
pub fn maria_order_id(i: usize) -> String {
    const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let (high, low) = (i / 62, i % 62);
    format!(
        "2UJT4m2UkBAWG7DHDLfkXxbM{}{}0",
        BASE62[high] as char, BASE62[low] as char
    )
}

pub fn items() -> Vec<Value> {
    let mut ann = user("ann", "ann@example.com");
    ann["address"] = s("1 Queen St Akl NZ");
    let mut shipped = order("ann", ANN_SHIPPED, "SHIPPED", "2023-08-21T22:21:34");
    shipped["UpdatedAt"] = s("2023-08-22T08:00:00.5");
    let mut items = vec![
        ann,
        reservation("ann@example.com"),
        order("ann", ANN_PLACED, "PLACED", "2023-08-21T22:21:34.811747"),
        shipped,
        order(
            "ann",
            ANN_RETURNED,
            "Returned",
            "2023-08-20T10:00:00.000001",
        ),
        user("cy", "cy@example.com"),
        reservation("cy@example.com"),
        order("cy", CY_ORDER, "PLACED", "2023-08-21T09:00:00.000000"),
        user("Bob", "bob.one@example.com"),
        reservation("bob.one@example.com"),
        order("Bob", BOB_UPPER_ORDER, "PLACED", "2023-08-21T09:00:00"),
        user("bob", "bob.two@example.com"),
        reservation("bob.two@example.com"),
        order("bob", BOB_LOWER_ORDER, "PLACED", "2023-08-21T09:00:00"),
        // Left by edit-address for usernames nobody had registered.
        json!({ "PK": s("CUSTOMER#ghost"), "SK": s("CUSTOMER#ghost"), "address": s("Nowhere") }),
        json!({ "PK": s("CUSTOMER#wisp"), "SK": s("CUSTOMER#wisp"), "address": s("Nowhere") }),
        // Left by the deletion of "gone".
        reservation("gone@example.com"),
        order(
            "gone",
            GONE_ORDER,
            "DELIVERED",
            "2023-08-01T12:00:00.000000",
        ),
        user("Maria", "Maria@Example.com"),
        reservation("Maria@Example.com"),
    ];
    for i in 0..MARIA_ORDERS {
        items.push(order(
            "Maria",
            &maria_order_id(i),
            "PLACED",
            &format!("2023-08-21T10:{:02}:{:02}.000100", i / 60, i % 60),
        ));
    }
    items
}
