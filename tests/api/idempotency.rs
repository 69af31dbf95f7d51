//! `Idempotency-Key` on `POST /orders`: retries get the first answer and
//! place nothing; a different request under the key is refused; records
//! expire.

use aws_sdk_dynamodb::types::TimeToLiveStatus;
use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::aws_proxy::{AwsProxy, Behaviour};
use crate::helpers::process::start_on_dynamodb;
use crate::helpers::{Api, EngineKind, dynamodb_endpoint, spawn_app, status_and_json};
use crate::on_both_engines;

on_both_engines!(
    a_retry_with_the_same_key_gets_the_first_answer_and_places_nothing,
    a_different_body_under_the_same_key_is_refused,
    twenty_racing_requests_with_one_key_place_one_order,
    a_registration_retried_with_its_key_is_answered_not_refused,
    one_key_on_two_operations_is_two_requests,
);

async fn place(app: &Api, key: &str, body: &Value) -> (StatusCode, Value, bool) {
    let response = app
        .client
        .post(app.url("/orders"))
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
        .unwrap();
    let replayed = response.headers().contains_key("idempotent-replayed");
    let (status, body) = status_and_json(response).await;
    (status, body, replayed)
}

async fn order_count(app: &Api, username: &str) -> usize {
    let (status, listing) = status_and_json(
        app.get(&format!("/orders?username={username}&limit=100"))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    listing["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|entry| entry.get("OrderId").is_some())
        .count()
}

async fn a_retry_with_the_same_key_gets_the_first_answer_and_places_nothing(engine: EngineKind) {
    let app = spawn_app(engine).await;
    app.given_user("john").await;
    let body = json!({"amount": 19.99, "numItems": 2, "username": "john"});
    let (status, first, replayed) = place(&app, "checkout-1", &body).await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(!replayed);
    let (status, again, replayed) = place(&app, "checkout-1", &body).await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(replayed, "the retry is marked as a replay");
    assert_eq!(
        again, first,
        "the same answer, order id and timestamps included"
    );
    assert_eq!(order_count(&app, "john").await, 1);

    // Another key is another order.
    let (status, other, _) = place(&app, "checkout-2", &body).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_ne!(other["data"]["OrderId"], first["data"]["OrderId"]);
    assert_eq!(order_count(&app, "john").await, 2);
}

async fn a_different_body_under_the_same_key_is_refused(engine: EngineKind) {
    let app = spawn_app(engine).await;
    app.given_user("john").await;
    let body = json!({"amount": 19.99, "numItems": 2, "username": "john"});
    assert_eq!(place(&app, "k", &body).await.0, StatusCode::CREATED);
    let changed = json!({"amount": 29.99, "numItems": 2, "username": "john"});
    let (status, answer, _) = place(&app, "k", &changed).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(answer["error"]["code"], "IDEMPOTENCY_KEY_REUSED");
    assert_eq!(order_count(&app, "john").await, 1);

    for bad in ["", &"k".repeat(129)] {
        let (status, answer, _) = place(&app, bad, &body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad:?}");
        assert_eq!(answer["error"]["details"]["field"], "Idempotency-Key");
    }
}

async fn twenty_racing_requests_with_one_key_place_one_order(engine: EngineKind) {
    let app = spawn_app(engine).await;
    twenty_racers_with_one_key(&app).await;
}

/// On DynamoDB under contention: the first two transactions touching each
/// item (the order, the key's record, the profile) are cancelled with
/// `TransactionConflict`, so the racers' retries decide the race.
#[tokio::test]
async fn twenty_racers_with_one_key_through_transaction_conflicts_place_one_order() {
    let proxy = AwsProxy::serve(dynamodb_endpoint(), Behaviour::ConflictFirst { n: 2 });
    let data_dir = tempfile::TempDir::new().unwrap();
    let (service, _) = crate::helpers::process::start_on_dynamodb(&data_dir, &proxy.endpoint, &[]);

    twenty_racers_with_one_key(&service.api()).await;

    assert_eq!(
        proxy.refused(),
        2 + 20 * 2,
        "the registration and every racer's order (a new item each) met two conflicts"
    );
}

/// A write without a key whose first attempt reached DynamoDB after the SDK
/// had given up on it (so it landed), and whose retry met a conflict: the
/// service tries again under a new token and finds its own write there. A
/// placement (the order under its own fresh id) answered 500 before, a
/// registration (the profile with its own creation time) 409.
#[tokio::test]
async fn a_write_that_landed_late_before_its_conflict_retry_is_answered_once_as_written() {
    let late_proxy = |marker| {
        let late_by = std::time::Duration::from_millis(800);
        AwsProxy::serve(
            dynamodb_endpoint(),
            Behaviour::LateThenConflict { late_by, marker },
        )
    };
    let budget = [
        ("DYNAMODB_ATTEMPT_TIMEOUT_MS", "500"),
        ("DYNAMODB_TIMEOUT_MS", "8000"),
    ];

    let proxy = late_proxy("#ORDER#");
    let data_dir = tempfile::TempDir::new().unwrap();
    let (service, _) = start_on_dynamodb(&data_dir, &proxy.endpoint, &budget);
    let app = service.api();
    app.given_user("john").await;
    let body = json!({"amount": 5.5, "numItems": 1, "username": "john"});
    let (status, placed) = status_and_json(app.post_json("/orders", &body).await).await;
    assert_eq!(status, StatusCode::CREATED, "{placed}");
    assert_eq!(proxy.refused(), 1, "the retry met its conflict");
    assert!(
        proxy.count("TransactWriteItems") >= 4,
        "{:?}",
        proxy.counts()
    );
    assert_eq!(order_count(&app, "john").await, 1);

    let proxy = late_proxy("CUSTOMEREMAIL#");
    let data_dir = tempfile::TempDir::new().unwrap();
    let (service, _) = start_on_dynamodb(&data_dir, &proxy.endpoint, &budget);
    let app = service.api();
    let registration = json!({"email": "ann@example.com", "name": "Ann", "username": "ann"});
    let (status, registered) =
        status_and_json(app.post_json("/add_user", &registration).await).await;
    assert_eq!(status, StatusCode::CREATED, "{registered}");
    assert_eq!(registered["data"]["Email"], "ann@example.com");
    assert_eq!(proxy.refused(), 1, "the retry met its conflict");
    // Another's registration of the name is still refused.
    let again = json!({"email": "other@example.com", "name": "Ann", "username": "ann"});
    let (status, _) = status_and_json(app.post_json("/add_user", &again).await).await;
    assert_eq!(status, StatusCode::CONFLICT);
}

async fn twenty_racers_with_one_key(api: &Api) {
    api.given_user("john").await;
    let body = json!({"amount": 5.5, "numItems": 1, "username": "john"});
    let answers = join_all((0..20).map(|_| place(api, "race", &body))).await;
    let first = &answers[0].1;
    for (status, answer, _) in &answers {
        assert_eq!(*status, StatusCode::CREATED, "{answer}");
        assert_eq!(answer, first, "every racer gets the one order");
    }
    assert_eq!(
        answers.iter().filter(|(_, _, replayed)| !replayed).count(),
        1
    );
    assert_eq!(order_count(api, "john").await, 1);
}

async fn a_registration_retried_with_its_key_is_answered_not_refused(engine: EngineKind) {
    let app = spawn_app(engine).await;
    let register = |key: &'static str, email: &'static str| {
        let body = json!({"email": email, "name": "John", "username": "john"});
        let request = app
            .client
            .post(app.url("/add_user"))
            .header("Idempotency-Key", key)
            .json(&body);
        async move {
            let response = request.send().await.unwrap();
            let replayed = response.headers().contains_key("idempotent-replayed");
            let (status, body) = status_and_json(response).await;
            (status, body, replayed)
        }
    };
    let (status, first, replayed) = register("signup-1", "john@example.com").await;
    assert_eq!((status, replayed), (StatusCode::CREATED, false));
    let (status, again, replayed) = register("signup-1", "john@example.com").await;
    assert_eq!((status, replayed), (StatusCode::CREATED, true));
    assert_eq!(again, first);
    let (status, answer, _) = register("signup-1", "other@example.com").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(answer["error"]["code"], "IDEMPOTENCY_KEY_REUSED");
    // Under another key it is a new registration, and the username is taken.
    let (status, answer, _) = register("signup-2", "john@example.com").await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
}

/// DynamoDB deletes expired records only where TTL is on: the stack turns it
/// on, and so does the service for a table it creates (`CREATE_TABLE`).
#[tokio::test]
async fn a_table_the_service_creates_expires_idempotency_records() {
    let data_dir = tempfile::TempDir::new().unwrap();
    let (service, table) = start_on_dynamodb(&data_dir, &dynamodb_endpoint(), &[]);

    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await;
    let described = aws_sdk_dynamodb::Client::new(&sdk)
        .describe_time_to_live()
        .table_name(&table)
        .send()
        .await
        .unwrap();
    let ttl = described.time_to_live_description().unwrap();
    assert_eq!(ttl.time_to_live_status(), Some(&TimeToLiveStatus::Enabled));
    assert_eq!(ttl.attribute_name(), Some("ExpiresAt"));
    assert_eq!(service.terminate().code(), Some(0));
}

/// README: keys are scoped per operation. A key used to register is new to
/// `POST /orders`: the order is placed, not refused as a reused key.
async fn one_key_on_two_operations_is_two_requests(engine: EngineKind) {
    let app = spawn_app(engine).await;
    let registration = app
        .client
        .post(app.url("/add_user"))
        .header("Idempotency-Key", "shared-key")
        .json(&json!({"email": "john@example.com", "name": "John", "username": "john"}))
        .send()
        .await
        .unwrap();
    assert_eq!(registration.status(), StatusCode::CREATED);

    let body = json!({"amount": 5.5, "numItems": 1, "username": "john"});
    let (status, answer, replayed) = place(&app, "shared-key", &body).await;

    assert_eq!((status, replayed), (StatusCode::CREATED, false), "{answer}");
    assert!(answer["data"]["OrderId"].is_string(), "{answer}");
    assert_eq!(order_count(&app, "john").await, 1);
}
