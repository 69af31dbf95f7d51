//! Throttling and transaction conflicts, which emulators never produce: a
//! fake DynamoDB answers every request with the error, and the real binary
//! must retry within its budget, then answer 503 with Retry-After, never 500.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use reqwest::StatusCode;
use serde_json::json;
use tempfile::TempDir;

use crate::helpers::process::start_with;
use crate::helpers::{http_client, status_and_json};

/// Every request gets `error` (or, for TransactWriteItems, a cancellation
/// for a transaction conflict); requests are counted by operation.
struct FakeDynamoDb {
    endpoint: String,
    requests: Arc<Mutex<HashMap<String, usize>>>,
}

impl FakeDynamoDb {
    fn serve(error: &'static str) -> Self {
        let requests = Arc::new(Mutex::new(HashMap::new()));
        let counted = Arc::clone(&requests);
        let (listener, endpoint) = crate::helpers::loopback();
        let server = HttpServer::new(move || {
            let counted = Arc::clone(&counted);
            App::new().default_service(web::to(move |request: HttpRequest| {
                let operation = request
                    .headers()
                    .get("x-amz-target")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|target| target.split('.').nth(1))
                    .unwrap_or("?")
                    .to_owned();
                *counted.lock().unwrap().entry(operation.clone()).or_insert(0) += 1;
                let body = if operation == "TransactWriteItems" {
                    json!({
                        "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
                        "message": "Transaction cancelled, please refer cancellation reasons for specific reasons [TransactionConflict, None]",
                        "CancellationReasons": [{"Code": "TransactionConflict"}, {"Code": "None"}],
                    })
                } else {
                    json!({
                        "__type": format!("com.amazonaws.dynamodb.v20120810#{error}"),
                        "message": "Rate exceeded",
                    })
                };
                async move {
                    HttpResponse::BadRequest()
                        .content_type("application/x-amz-json-1.0")
                        .body(body.to_string())
                }
            }))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
        crate::helpers::run_in_background(server);
        Self { endpoint, requests }
    }

    fn requests(&self, operation: &str) -> usize {
        self.requests
            .lock()
            .unwrap()
            .get(operation)
            .copied()
            .unwrap_or(0)
    }
}

async fn answers_503_after_bounded_retries(error: &'static str) {
    let fake = FakeDynamoDb::serve(error);
    let data_dir = TempDir::new().unwrap();
    let running = start_with(
        &data_dir,
        &[
            ("STORE", "dynamodb"),
            ("AWS_ENDPOINT_URL_DYNAMODB", &fake.endpoint),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ],
    );
    let client = http_client();
    let started = Instant::now();
    let response = client
        .get(format!("{}/users/john", running.address))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "{error}"
    );
    assert_eq!(response.headers()["retry-after"], "1");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{error}: within the SDK budget"
    );
    let attempts = fake.requests("GetItem");
    assert!(
        (2..=3).contains(&attempts),
        "{error}: retried, and boundedly: {attempts} attempts"
    );

    let registration = json!({"email": "john@example.com", "name": "John", "username": "john"});
    let response = client
        .post(format!("{}/add_user", running.address))
        .json(&registration)
        .send()
        .await
        .unwrap();
    let (status, body) = status_and_json(response).await;
    assert_eq!(
        status,
        StatusCode::SERVICE_UNAVAILABLE,
        "a transaction conflict: {body}"
    );
    assert_eq!(body["error"]["code"], "SERVICE_UNAVAILABLE");
    let attempts = fake.requests("TransactWriteItems");
    assert!(attempts >= 2, "conflicts are retried: {attempts} attempts");
    assert!(attempts <= 10, "but not forever: {attempts} attempts");
}

#[tokio::test]
async fn provisioned_throughput_exceeded_is_retried_then_503() {
    let _alone = crate::alone().await;
    answers_503_after_bounded_retries("ProvisionedThroughputExceededException").await;
}

#[tokio::test]
async fn throttling_is_retried_then_503() {
    let _alone = crate::alone().await;
    answers_503_after_bounded_retries("ThrottlingException").await;
}
