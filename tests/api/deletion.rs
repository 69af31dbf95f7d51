//! Deleting a user: a run owns its deletion through a token, so overlapping
//! deletions and a re-registration in between lose nothing acknowledged,
//! and a retry finishes a deletion that died half-way. A lookup by id alone
//! follows the table, not the lagging index, through a move and a deletion.

use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::aws_proxy::{AwsProxy, Behaviour};
use crate::helpers::{Api, EngineKind, spawn_app, status_and_json};
use crate::on_both_engines;
use ecommerce_service::domain::{Access, Username};
use ecommerce_service::store::StoreError;

on_both_engines!(
    overlapping_deletions_lose_nothing_acknowledged,
    a_retry_finishes_an_interrupted_deletion,
    a_lookup_by_id_alone_sees_a_move_and_a_deletion_at_once,
    a_user_with_150_orders_is_deleted_whole_in_chunks,
);

fn order_id(placed: &serde_json::Value) -> String {
    placed["data"]["OrderId"]
        .as_str()
        .expect("an order id")
        .to_owned()
}

/// More orders than one transaction holds (DynamoDB's limit is 100 items,
/// "TransactWriteItems": "up to 100 action requests"; the embedded engine
/// enforces it too), so the deletion runs in two chunks.
async fn a_user_with_150_orders_is_deleted_whole_in_chunks(engine: EngineKind) {
    let app = spawn_app(engine).await;
    app.given_user("john").await;
    let ids: Vec<String> = futures_util::stream::iter(0..150)
        .map(|_| app.given_order("john"))
        .buffer_unordered(8)
        .collect()
        .await;

    let (requests, deleted) = match engine {
        EngineKind::DynamoDb => {
            app.dynamodb_requests_during(app.delete("/users/john"))
                .await
        }
        EngineKind::Embedded => (0, app.delete("/users/john").await),
    };

    assert_eq!(deleted.status(), StatusCode::OK);
    if engine == EngineKind::DynamoDb {
        // README, "Requests per call": 1 GetItem reads the profile and
        // decides, 1 UpdateItem marks it; per chunk of 99 orders, 1 Query +
        // 1 transaction (99 deletes + the run's check); 1 last Query finds
        // none left; 1 final transaction.
        assert_eq!(requests, 2 + 2 * 2 + 1 + 1, "requests to delete 150 orders");
    }
    for id in [&ids[0], &ids[99], &ids[149]] {
        let (status, body) = status_and_json(app.get(&format!("/orders/{id}")).await).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        assert_eq!(body["error"]["code"], "ORDER_NOT_FOUND");
    }
    // The email reservation went too: john can register again, and starts
    // with nothing.
    app.given_user("john").await;
    let (status, listing) = status_and_json(app.get("/orders?username=john&limit=100").await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listing["data"].as_array().unwrap().len(), 1, "{listing}");
}

async fn overlapping_deletions_lose_nothing_acknowledged(engine: EngineKind) {
    let app = spawn_app(engine).await;
    app.given_user("john").await;
    let first = app.given_order("john").await;
    let john = Username::parse("john").unwrap();

    // Deletion B marks the profile, then stalls.
    let stalled = app.store.begin_deletion(&john, &Access::Any).await.unwrap();
    // Deletion A joins the run and finishes it.
    assert_eq!(app.delete("/users/john").await.status(), StatusCode::OK);
    // john registers again, with the same email, and orders.
    app.given_user("john").await;
    let second = app.given_order("john").await;

    // B wakes up: the run it joined is over, and the new account is not its to delete.
    match app.store.finish_deletion(stalled).await {
        Err(StoreError::UserNotFound) => {}
        other => panic!("the stalled deletion must find its user gone, got {other:?}"),
    }
    let (status, listing) = status_and_json(app.get("/orders?username=john").await).await;
    assert_eq!(status, StatusCode::OK, "{listing}");
    let entries = listing["data"].as_array().expect("a listing");
    let ids: Vec<&str> = entries[1..]
        .iter()
        .filter_map(|o| o["OrderId"].as_str())
        .collect();
    assert_eq!(
        ids,
        [second.as_str()],
        "the new order survives; the old one is gone ({first})"
    );
    let (status, body) = status_and_json(app.add_user("jim", "john@example.com").await).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("EMAIL_TAKEN")),
        "still reserved"
    );
}

async fn a_retry_finishes_an_interrupted_deletion(engine: EngineKind) {
    let app = spawn_app(engine).await;
    app.given_user("john").await;
    for _ in 0..3 {
        app.given_order("john").await;
    }
    let john = Username::parse("john").unwrap();
    // A deletion that marked the profile and died.
    drop(app.store.begin_deletion(&john, &Access::Any).await.unwrap());
    assert_eq!(
        app.get("/users/john").await.status(),
        StatusCode::NOT_FOUND,
        "hidden while it is being deleted"
    );
    assert_eq!(
        app.place_order("john", "1", 1).await.status(),
        StatusCode::NOT_FOUND,
        "no orders for it"
    );

    assert_eq!(
        app.delete("/users/john").await.status(),
        StatusCode::OK,
        "the retry finishes it"
    );
    assert_eq!(
        app.delete("/users/john").await.status(),
        StatusCode::NOT_FOUND
    );
    app.given_user("john").await;
    let (_, listing) = status_and_json(app.get("/orders?username=john").await).await;
    assert_eq!(
        listing["data"].as_array().unwrap().len(),
        1,
        "a new john starts with no orders: {listing}"
    );
}

async fn a_lookup_by_id_alone_sees_a_move_and_a_deletion_at_once(engine: EngineKind) {
    match engine {
        EngineKind::Embedded => {
            let app = spawn_app(engine).await;
            app.given_user("john").await;
            let id = app.given_order("john").await;
            by_id_alone_follows_the_table(&app, &id).await;
        }
        // Through a proxy whose GSI1 answers never change, as a lagging
        // index's may not for a while.
        EngineKind::DynamoDb => {
            let index = AwsProxy::serve(crate::helpers::dynamodb_endpoint(), Behaviour::StaleIndex);
            let data_dir = tempfile::TempDir::new().unwrap();
            let (service, _) =
                crate::helpers::process::start_on_dynamodb(&data_dir, &index.endpoint, &[]);
            let api = service.api();
            let created = api.add_user("john", "john@example.com").await;
            assert_eq!(created.status(), StatusCode::CREATED);
            let order = json!({"amount": 5.5, "numItems": 1, "username": "john"});
            let (_, placed) = status_and_json(api.post_json("/orders", &order).await).await;
            by_id_alone_follows_the_table(&api, &order_id(&placed)).await;
        }
    }
}

async fn by_id_alone_follows_the_table(api: &Api, id: &str) {
    let by_id = || async { status_and_json(api.get(&format!("/orders/{id}")).await).await };
    let (status, before) = by_id().await;
    assert_eq!(
        (status, before["data"]["Status"].as_str()),
        (StatusCode::OK, Some("PLACED"))
    );
    let move_body = json!({"username": "john", "status": "SHIPPED"});
    let moved = api.put_json(&format!("/orders/{id}"), &move_body).await;
    assert_eq!(moved.status(), StatusCode::OK);
    let (_, after) = by_id().await;
    assert_eq!(
        after["data"]["Status"], "SHIPPED",
        "a 200 move is what the next read sees"
    );
    let deleted = api.delete("/users/john").await;
    assert_eq!(deleted.status(), StatusCode::OK);
    let (status, gone) = by_id().await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a deleted order is gone: {gone}"
    );
}
