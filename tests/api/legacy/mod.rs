//! Cut-over from the original system: the service serves what it wrote,
//! before and after `migrate`, on both engines.

mod claims;
pub(crate) mod fixture;
mod migration;
mod resume;
mod seams;
mod shapes;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Api, EngineKind, spawn_app, status_and_code, status_and_json};
use crate::on_both_engines;
use fixture::*;

on_both_engines!(reads_and_moves_work_on_what_the_original_system_wrote_before_any_migration);

/// Every order of a customer's listing, over all its pages: the profile
/// and the orders' ids.
pub async fn listing(app: &Api, username: &str) -> (Value, Vec<Value>) {
    let mut path = format!("/orders?username={username}&limit=50");
    let mut profile = Value::Null;
    let mut orders = Vec::new();
    loop {
        let (status, body) = status_and_json(app.get(&path).await).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        for entry in body["data"].as_array().expect("a list") {
            if entry["SK"]
                .as_str()
                .is_some_and(|sk| sk.starts_with("CUSTOMER#"))
            {
                profile = entry.clone();
            } else {
                orders.push(entry.clone());
            }
        }
        match body["nextToken"].as_str() {
            Some(token) => path = format!("/orders?username={username}&limit=50&nextToken={token}"),
            None => return (profile, orders),
        }
    }
}

pub async fn move_order(app: &Api, id: &str, username: &str, status: &str) -> (StatusCode, Value) {
    let body = json!({"username": username, "status": status});
    status_and_json(app.put_json(&format!("/orders/{id}"), &body).await).await
}

/// The answers the issue found broken (500s and 404s on a customer's
/// existing data) with the data as the original system left it.
async fn reads_and_moves_work_on_what_the_original_system_wrote_before_any_migration(
    kind: EngineKind,
) {
    let app = spawn_app(kind).await;
    app.store.put_raw_items(&fixture::items()).await.unwrap();

    // The profile: no CreatedAt (left out), the address from `address`.
    let (status, ann) = status_and_json(app.get("/users/ann").await).await;
    assert_eq!(status, StatusCode::OK, "{ann}");
    assert_eq!(ann["data"]["Address"], "1 Queen St Akl NZ", "{ann}");
    assert!(ann["data"].get("CreatedAt").is_none(), "{ann}");

    // The listing: KSUIDs, naive timestamps read as UTC, any status as stored.
    let (profile, orders) = listing(&app, "ann").await;
    assert_eq!(profile["Username"], "ann");
    let by_id = |id: &str| {
        orders
            .iter()
            .find(|order| order["OrderId"] == id)
            .unwrap_or_else(|| panic!("{id} listed: {orders:?}"))
            .clone()
    };
    assert_eq!(orders.len(), 3, "{orders:?}");
    assert_eq!(
        by_id(ANN_PLACED)["CreatedAt"],
        "2023-08-21T22:21:34.811747Z"
    );
    assert_eq!(
        by_id(ANN_SHIPPED)["CreatedAt"],
        "2023-08-21T22:21:34.000000Z"
    );
    assert_eq!(
        by_id(ANN_SHIPPED)["UpdatedAt"],
        "2023-08-22T08:00:00.500000Z"
    );
    assert_eq!(by_id(ANN_RETURNED)["Status"], "Returned");
    assert_eq!(by_id(ANN_PLACED)["Amount"], json!(19.99));

    // One order by its id and customer, and a move of it.
    let path = format!("/orders/{ANN_PLACED}?customer_id=ann");
    let (status, order) = status_and_json(app.get(&path).await).await;
    assert_eq!(status, StatusCode::OK, "{order}");
    assert_eq!(order["data"]["OrderId"], ANN_PLACED);
    let (status, cancelled) = move_order(&app, ANN_PLACED, "ann", "CANCEL").await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    assert_eq!(cancelled["data"]["Status"], "CANCEL");
    // A moved order has its index key: found by id alone from now on. The
    // others need `migrate` for that.
    let (status, _) = status_and_json(app.get(&format!("/orders/{ANN_PLACED}")).await).await;
    assert_eq!(status, StatusCode::OK);
    let (status, code) = status_and_code(app.get(&format!("/orders/{ANN_SHIPPED}")).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::NOT_FOUND, "ORDER_NOT_FOUND")
    );

    // A status outside the state machine: staff move it into it.
    let (status, repaired) = move_order(&app, ANN_RETURNED, "ann", "DELIVERED").await;
    assert_eq!(status, StatusCode::OK, "{repaired}");
    assert_eq!(repaired["data"]["Status"], "DELIVERED");

    // Deletion: profile, orders and its reservation (free to register again).
    let (status, deleted) = status_and_json(app.delete("/users/cy").await).await;
    assert_eq!(status, StatusCode::OK, "{deleted}");
    let (status, _) = status_and_code(app.get("/users/cy").await).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) =
        status_and_code(app.get(&format!("/orders/{CY_ORDER}?customer_id=cy")).await).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let again = app.add_user("cy2", "cy@example.com").await;
    assert_eq!(again.status(), StatusCode::CREATED);

    // A key holding only an address is no profile: 404, and free to register.
    for path in ["/users/wisp", "/orders?username=wisp"] {
        let (status, code) = status_and_code(app.get(path).await).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::NOT_FOUND, "USER_NOT_FOUND"),
            "{path}"
        );
    }
    let path = "/edit-address?username=wisp&new_address=Somewhere";
    let (status, _) = status_and_code(app.client.post(app.url(path)).send().await.unwrap()).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "edit-address creates no profile"
    );
    let (status, code) = status_and_code(app.place_order("wisp", "5", 1).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::NOT_FOUND, "USER_NOT_FOUND")
    );
    let registered = app.add_user("wisp", "wisp@example.com").await;
    assert_eq!(registered.status(), StatusCode::CREATED);

    // Documented: a mixed-case customer is found once `migrate` moved it.
    let (status, _) = status_and_code(app.get("/users/maria").await).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

on_both_engines!(an_item_no_writer_could_have_written_is_skipped_in_listings_and_named_when_read);

/// An order whose amount is not a number at all: the listing shows the
/// customer's other orders; the order itself answers with a clear error.
async fn an_item_no_writer_could_have_written_is_skipped_in_listings_and_named_when_read(
    kind: EngineKind,
) {
    let app = spawn_app(kind).await;
    app.given_user("dora").await;
    let good = app.given_order("dora").await;
    let broken = "2UJT4m2UkBAWG7DHDLfkXxbMN0Z";
    app.store
        .put_raw_items(&[json!({
            "PK": {"S": "CUSTOMER#dora"}, "SK": {"S": format!("#ORDER#{broken}")},
            "OrderId": {"S": broken}, "Status": {"S": "PLACED"},
            "Amount": {"S": "nineteen"}, "NumberItems": {"N": "2"},
        })])
        .await
        .unwrap();
    let (_, orders) = listing(&app, "dora").await;
    let ids: Vec<&str> = orders
        .iter()
        .filter_map(|o| o["OrderId"].as_str())
        .collect();
    assert_eq!(ids, [good.as_str()]);
    // A page of one: the KSUID sorts first, so the first page's one order
    // is the unreadable one; the listing goes on past it all the same.
    let (status, first) = status_and_json(app.get("/orders?username=dora&limit=1").await).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let token = first["nextToken"].as_str().expect("a next page");
    let path = format!("/orders?username=dora&limit=1&nextToken={token}");
    let (_, second) = status_and_json(app.get(&path).await).await;
    assert_eq!(second["data"][0]["OrderId"], good.as_str(), "{second}");
    let path = format!("/orders/{broken}?customer_id=dora");
    let (status, code) = status_and_code(app.get(&path).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::INTERNAL_SERVER_ERROR, "STORED_ITEM_UNREADABLE")
    );
}
