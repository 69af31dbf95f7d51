//! What the original system accepted (any email, any name, any amount
//! above 0, any item count, any username of two characters or more) is
//! served as stored: it reads, lists, moves and deletes, before and after
//! `migrate`. Only an item no writer could have produced is refused, and
//! then before anything is written.

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::listing;
use super::migration::migrate;
use crate::helpers::{EngineKind, spawn_app, status_and_code, status_and_json};
use crate::on_both_engines;

on_both_engines!(
    every_shape_the_original_accepted_reads_lists_moves_and_deletes_as_stored,
    an_item_no_writer_could_have_written_is_refused_before_anything_is_written,
    a_username_todays_rules_refuse_is_reached_percent_encoded,
);

fn s(value: &str) -> Value {
    json!({ "S": value })
}

fn n(value: &str) -> Value {
    json!({ "N": value })
}

fn profile(username: &str, email: &str, name: &str) -> Value {
    let key = format!("CUSTOMER#{username}");
    json!({
        "PK": s(&key), "SK": s(&key), "Username": s(username), "Email": s(email), "Name": s(name),
    })
}

fn order(username: &str, id: &str, amount: &str, items: &str) -> Value {
    json!({
        "PK": s(&format!("CUSTOMER#{username}")), "SK": s(&format!("#ORDER#{id}")),
        "OrderId": s(id), "Status": s("PLACED"), "Amount": n(amount), "NumberItems": n(items),
        "CreatedAt": s("2023-08-21T22:21:34.811747"),
    })
}

/// The rows of the table: (order id, Amount, NumberItems).
const ODD_ORDERS: [(&str, &str, &str); 4] = [
    ("2UJT4m2UkBAWG7DHDLfkXxbMN11", "2500000", "2"),
    ("2UJT4m2UkBAWG7DHDLfkXxbMN12", "3.14159265358979", "2"),
    ("2UJT4m2UkBAWG7DHDLfkXxbMN13", "5.5", "20000"),
    // DynamoDB's 38 significant digits.
    (
        "2UJT4m2UkBAWG7DHDLfkXxbMN14",
        "12345678901234567890.123456789012345678",
        "2",
    ),
];

fn fixture() -> Vec<Value> {
    let mut items = vec![
        profile("odd", "odd@localhost", "Odd"),
        json!({ "PK": s("CUSTOMEREMAIL#odd@localhost"), "SK": s("CUSTOMEREMAIL#odd@localhost") }),
        profile("nomail", "not-an-email", ""),
        json!({ "PK": s("CUSTOMEREMAIL#not-an-email"), "SK": s("CUSTOMEREMAIL#not-an-email") }),
    ];
    items.extend(
        ODD_ORDERS
            .iter()
            .map(|(id, amount, count)| order("odd", id, amount, count)),
    );
    items
}

/// Each order's amount and item count as the JSON text of the answer.
fn numbers(orders: &[Value]) -> Vec<(String, String, String)> {
    let mut numbers: Vec<(String, String, String)> = orders
        .iter()
        .map(|order| {
            (
                order["OrderId"].as_str().unwrap_or_default().to_owned(),
                order["Amount"].to_string(),
                order["NumberItems"].to_string(),
            )
        })
        .collect();
    numbers.sort();
    numbers
}

fn as_stored() -> Vec<(String, String, String)> {
    ODD_ORDERS
        .iter()
        .map(|(id, amount, count)| ((*id).to_owned(), (*amount).to_owned(), (*count).to_owned()))
        .collect()
}

async fn every_shape_the_original_accepted_reads_lists_moves_and_deletes_as_stored(
    kind: EngineKind,
) {
    let app = spawn_app(kind).await;
    app.store.put_raw_items(&fixture()).await.unwrap();

    let (status, odd) = status_and_json(app.get("/users/odd").await).await;
    assert_eq!(status, StatusCode::OK, "{odd}");
    assert_eq!(odd["data"]["Email"], "odd@localhost");
    let (status, nomail) = status_and_json(app.get("/users/nomail").await).await;
    assert_eq!(status, StatusCode::OK, "{nomail}");
    assert_eq!(
        (&nomail["data"]["Email"], &nomail["data"]["Name"]),
        (&json!("not-an-email"), &json!(""))
    );
    // An edit needs today's rules only for what it sends: the address.
    let path = "/edit-address?username=nomail&new_address=1%20Queen%20St";
    let (status, edited) =
        status_and_json(app.client.post(app.url(path)).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    assert_eq!(edited["data"]["Name"], "", "the name stays as stored");
    assert_eq!(edited["data"]["Address"], "1 Queen St");

    // Every order lists, with its numbers digit for digit, and reads alone.
    let (_, orders) = listing(&app, "odd").await;
    assert_eq!(numbers(&orders), as_stored());
    for (id, amount, _) in ODD_ORDERS {
        let path = format!("/orders/{id}?customer_id=odd");
        let (status, order) = status_and_json(app.get(&path).await).await;
        assert_eq!(status, StatusCode::OK, "{order}");
        assert_eq!(order["data"]["Amount"].to_string(), amount);
    }
    // A move keeps them as they are.
    let (id, amount, _) = ODD_ORDERS[3];
    let (status, moved) = super::move_order(&app, id, "odd", "CANCEL").await;
    assert_eq!(status, StatusCode::OK, "{moved}");
    assert_eq!(moved["data"]["Amount"].to_string(), amount);

    // So does `migrate`, which puts them in today's shape.
    migrate(&app.store, false, false).await;
    let (_, orders) = listing(&app, "odd").await;
    assert_eq!(numbers(&orders), as_stored());
    let (status, _) = status_and_json(app.get(&format!("/orders/{id}")).await).await;
    assert_eq!(status, StatusCode::OK, "found by id alone after migrate");

    // Both delete, and their names and addresses are free again.
    for username in ["odd", "nomail"] {
        let (status, body) = status_and_json(app.delete(&format!("/users/{username}")).await).await;
        assert_eq!(status, StatusCode::OK, "{username}: {body}");
        let (status, _) = status_and_code(app.get(&format!("/users/{username}")).await).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let again = app
            .add_user(username, &format!("{username}@example.com"))
            .await;
        assert_eq!(again.status(), StatusCode::CREATED, "{username}");
    }
    let (_, orders) = listing(&app, "odd").await;
    assert!(orders.is_empty(), "the new odd has none of the old orders");
}

/// A string where a number belongs: no writer produced that. Every route
/// answers STORED_ITEM_UNREADABLE, and none wrote anything first: once the
/// item is mended, it is exactly as it was.
async fn an_item_no_writer_could_have_written_is_refused_before_anything_is_written(
    kind: EngineKind,
) {
    let app = spawn_app(kind).await;
    let mut broken = profile("bad", "bad@example.com", "Bad");
    broken["Email"] = n("5");
    let mut broken_order = order("good", "2UJT4m2UkBAWG7DHDLfkXxbMN21", "5", "1");
    broken_order["Amount"] = s("five");
    app.store
        .put_raw_items(&[
            broken,
            profile("good", "good@example.com", "Good"),
            broken_order,
        ])
        .await
        .unwrap();
    let unreadable = (
        StatusCode::INTERNAL_SERVER_ERROR,
        "STORED_ITEM_UNREADABLE".to_owned(),
    );
    let id = "2UJT4m2UkBAWG7DHDLfkXxbMN21";
    let order_sk = format!("#ORDER#{id}");
    let stored = || async {
        (
            app.store
                .raw_item("CUSTOMER#bad", "CUSTOMER#bad")
                .await
                .unwrap(),
            app.store
                .raw_item("CUSTOMER#good", &order_sk)
                .await
                .unwrap(),
        )
    };
    let before = stored().await;
    assert!(before.0.is_some() && before.1.is_some());
    assert_eq!(
        status_and_code(app.get("/users/bad").await).await,
        unreadable
    );
    assert_eq!(
        status_and_code(app.delete("/users/bad").await).await,
        unreadable
    );
    let edit = app
        .client
        .post(app.url("/edit-address?username=bad&new_address=Somewhere"))
        .send()
        .await
        .unwrap();
    assert_eq!(status_and_code(edit).await, unreadable);
    let (status, code) = status_and_code(
        app.put_json(
            &format!("/orders/{id}"),
            &json!({"username": "good", "status": "SHIPPED"}),
        )
        .await,
    )
    .await;
    assert_eq!((status, code), unreadable, "a move");
    // Each item is exactly as it was: no mark, no address, no move.
    assert_eq!(stored().await, before);
}

/// The original took any name of two or more characters; today's rules
/// apply to new names only. A space, a quote, a slash or a letter outside
/// ASCII is reached percent-encoded, on every route that names a customer.
async fn a_username_todays_rules_refuse_is_reached_percent_encoded(kind: EngineKind) {
    let app = spawn_app(kind).await;
    let names = [
        ("ann smith", "ann%20smith"),
        ("o'brien", "o'brien"),
        ("a/b", "a%2Fb"),
        ("jöhn", "j%C3%B6hn"),
        ("50%off", "50%25off"),
    ];
    let mut items = Vec::new();
    for (i, (name, _)) in names.iter().enumerate() {
        items.push(profile(name, &format!("legacy{i}@example.com"), "Legacy"));
        items.push(order(
            name,
            &format!("2UJT4m2UkBAWG7DHDLfkXxbMN3{i}"),
            "5",
            "1",
        ));
    }
    app.store.put_raw_items(&items).await.unwrap();
    for (i, (name, encoded)) in names.iter().enumerate() {
        let (status, user) = status_and_json(app.get(&format!("/users/{encoded}")).await).await;
        assert_eq!(status, StatusCode::OK, "{name}: {user}");
        assert_eq!(user["data"]["Username"], *name);
        let id = format!("2UJT4m2UkBAWG7DHDLfkXxbMN3{i}");
        let path = format!("/orders/{id}?customer_id={encoded}");
        let (status, order) = status_and_json(app.get(&path).await).await;
        assert_eq!(status, StatusCode::OK, "{name}: {order}");
        let (status, moved) = super::move_order(&app, &id, name, "PROCESSING").await;
        assert_eq!(status, StatusCode::OK, "{name}: {moved}");
        let (status, placed) = status_and_json(app.place_order(name, "5", 1).await).await;
        assert_eq!(status, StatusCode::CREATED, "{name}: {placed}");
        let (status, deleted) =
            status_and_json(app.delete(&format!("/users/{encoded}")).await).await;
        assert_eq!(status, StatusCode::OK, "{name}: {deleted}");
    }
    // A new name still follows today's rules.
    let refused = app.add_user("ann smith", "new@example.com").await;
    assert_eq!(
        status_and_code(refused).await,
        (StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_FAILED".into())
    );
}
