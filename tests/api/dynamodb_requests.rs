//! Each API call costs as few DynamoDB requests as the design promises: one
//! for each single-item operation, one per page of a listing.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{EngineKind, spawn_app};

// Long on purpose: one operation and its request count per few lines, the
// whole API against one app, so a count that grows stands next to its call.
#[tokio::test]
async fn each_single_item_operation_is_one_request() {
    let app = spawn_app(EngineKind::DynamoDb).await;

    let (requests, response) = app
        .dynamodb_requests_during(app.add_user("john", "john@example.com"))
        .await;
    assert_eq!(
        (requests, response.status()),
        (1, StatusCode::CREATED),
        "register"
    );

    let (requests, response) = app
        .dynamodb_requests_during(app.add_user("john", "john@example.com"))
        .await;
    assert_eq!(
        (requests, response.status()),
        (1, StatusCode::CONFLICT),
        "duplicate register"
    );

    let (requests, response) = app.dynamodb_requests_during(app.get("/users/john")).await;
    assert_eq!(
        (requests, response.status()),
        (1, StatusCode::OK),
        "get user"
    );

    let edit = app
        .client
        .post(app.url("/edit-address?username=john&new_address=Akl"))
        .send();
    let (requests, response) = app.dynamodb_requests_during(edit).await;
    assert_eq!(
        (requests, response.unwrap().status()),
        (1, StatusCode::OK),
        "edit address"
    );

    let (requests, response) = app
        .dynamodb_requests_during(app.place_order("john", "5.5", 2))
        .await;
    assert_eq!(
        (requests, response.status()),
        (1, StatusCode::CREATED),
        "place order"
    );
    let body: serde_json::Value = response.json().await.unwrap();
    let id = body["data"]["OrderId"].as_str().unwrap().to_owned();

    let (requests, response) = app
        .dynamodb_requests_during(app.place_order("nobody", "5.5", 2))
        .await;
    assert_eq!(
        (requests, response.status()),
        (1, StatusCode::NOT_FOUND),
        "order for nobody"
    );

    let (requests, response) = app
        .dynamodb_requests_during(app.get(&format!("/orders/{id}?customer_id=john")))
        .await;
    assert_eq!(
        (requests, response.status()),
        (1, StatusCode::OK),
        "get order by key"
    );

    let (requests, response) = app
        .dynamodb_requests_during(app.get(&format!("/orders/{id}")))
        .await;
    assert_eq!(
        (requests, response.status()),
        (2, StatusCode::OK),
        "get order by id alone: GSI1 finds the owner, the table has the order"
    );

    let cancel = json!({"username": "john", "status": "CANCEL"});
    let (requests, response) = app
        .dynamodb_requests_during(app.put_json(&format!("/orders/{id}"), &cancel))
        .await;
    assert_eq!(
        (requests, response.status()),
        (1, StatusCode::OK),
        "update status"
    );

    let (requests, response) = app
        .dynamodb_requests_during(app.put_json(&format!("/orders/{id}"), &cancel))
        .await;
    assert_eq!(
        (requests, response.status()),
        (1, StatusCode::OK),
        "a repeated move"
    );

    let ship = json!({"username": "john", "status": "SHIPPED"});
    let (requests, response) = app
        .dynamodb_requests_during(app.put_json(&format!("/orders/{id}"), &ship))
        .await;
    assert_eq!(
        (requests, response.status()),
        (1, StatusCode::CONFLICT),
        "refused move"
    );
}

#[tokio::test]
async fn a_listing_is_one_request_per_page() {
    let app = spawn_app(EngineKind::DynamoDb).await;
    app.given_user("john").await;
    for _ in 0..3 {
        app.given_order("john").await;
    }

    let (requests, response) = app
        .dynamodb_requests_during(app.get("/orders?username=john&limit=2"))
        .await;
    assert_eq!(requests, 1, "first page");
    let body: serde_json::Value = response.json().await.unwrap();
    let token = body["nextToken"]
        .as_str()
        .expect("a second page")
        .to_owned();

    let next = format!("/orders?username=john&limit=2&nextToken={token}");
    let (requests, response) = app.dynamodb_requests_during(app.get(&next)).await;
    assert_eq!(requests, 1, "second page");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["data"].as_array().unwrap().len(), 1);
    assert!(body.get("nextToken").is_none());
}
