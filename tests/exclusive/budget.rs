//! One request's DynamoDB time stays inside DYNAMODB_TIMEOUT_MS, retries of
//! conflicts and of a transaction still in progress included. A fake
//! DynamoDB answers `TransactWriteItems` as a script says, slowly if asked,
//! and records each request's `ClientRequestToken`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpResponse, HttpServer, web};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::process::{Running, start_with};
use crate::helpers::{http_client, status_and_json};

#[derive(Clone, Copy)]
enum Answer {
    /// Cancelled: another transaction held one of the items.
    Conflict,
    /// "TransactionInProgressException": an earlier attempt with this
    /// token is still running at DynamoDB.
    InProgress,
    Committed,
}

struct FakeTransactions {
    endpoint: String,
    tokens: Arc<Mutex<Vec<String>>>,
}

impl FakeTransactions {
    /// Answers the n-th `TransactWriteItems` with `script[n]` (the last one
    /// from then on), each after `delay`.
    fn serve(script: &'static [Answer], delay: Duration) -> Self {
        let tokens: Arc<Mutex<Vec<String>>> = Arc::default();
        let seen = Arc::clone(&tokens);
        let (listener, endpoint) = crate::helpers::loopback();
        let server = HttpServer::new(move || {
            let seen = Arc::clone(&seen);
            App::new().default_service(web::to(move |body: web::Bytes| {
                let seen = Arc::clone(&seen);
                async move {
                    let request: Value = serde_json::from_slice(&body).unwrap_or_default();
                    let Some(token) = request["ClientRequestToken"].as_str() else {
                        // Not a transaction (the start-up DescribeTable):
                        // an answer the service reads as a fault.
                        return HttpResponse::InternalServerError().finish();
                    };
                    let n = {
                        let mut seen = seen.lock().unwrap();
                        seen.push(token.to_owned());
                        seen.len() - 1
                    };
                    tokio::time::sleep(delay).await;
                    let answer = script[n.min(script.len() - 1)];
                    let (status, body) = match answer {
                        Answer::Committed => (200, json!({})),
                        Answer::Conflict => (
                            400,
                            json!({
                                "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
                                "message": "Transaction cancelled, please refer cancellation reasons for specific reasons [TransactionConflict, None, None]",
                                "CancellationReasons": [{"Code": "TransactionConflict"}, {"Code": "None"}, {"Code": "None"}],
                            }),
                        ),
                        Answer::InProgress => (
                            400,
                            json!({
                                "__type": "com.amazonaws.dynamodb.v20120810#TransactionInProgressException",
                                "message": "The transaction with the given request token is already in progress.",
                            }),
                        ),
                    };
                    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap())
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
        Self { endpoint, tokens }
    }

    fn tokens(&self) -> Vec<String> {
        self.tokens.lock().unwrap().clone()
    }
}

fn start_behind(fake: &FakeTransactions, data_dir: &TempDir, budget_ms: &str) -> Running {
    start_with(
        data_dir,
        &[
            ("STORE", "dynamodb"),
            ("AWS_ENDPOINT_URL_DYNAMODB", &fake.endpoint),
            ("DYNAMODB_ATTEMPT_TIMEOUT_MS", budget_ms),
            ("DYNAMODB_TIMEOUT_MS", budget_ms),
            ("NOTIFICATIONS_SOURCE", "off"),
        ],
    )
}

async fn register(running: &Running) -> (StatusCode, Value, Duration, Option<String>) {
    let started = Instant::now();
    let response = http_client()
        .post(format!("{}/add_user", running.address))
        .json(&json!({"email": "john@example.com", "name": "John", "username": "john"}))
        .send()
        .await
        .unwrap();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|value| value.to_str().unwrap().to_owned());
    let (status, body) = status_and_json(response).await;
    (status, body, started.elapsed(), retry_after)
}

/// Each attempt takes 800 ms and meets a conflict. Three attempts, each
/// with the budget to itself, took 2.5 s against a 1 s budget; now the
/// second attempt is cut at the budget and the answer is a 503.
#[tokio::test]
async fn conflicts_that_outlast_the_budget_are_a_503_within_dynamodb_timeout_ms() {
    let _alone = crate::alone().await;
    let fake = FakeTransactions::serve(&[Answer::Conflict], Duration::from_millis(800));
    let data_dir = TempDir::new().unwrap();
    let running = start_behind(&fake, &data_dir, "1000");

    let (status, body, took, retry_after) = register(&running).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "SERVICE_UNAVAILABLE");
    assert_eq!(retry_after.as_deref(), Some("1"));
    assert!(took < Duration::from_millis(1600), "took {took:?}");
    let tokens = fake.tokens();
    assert_eq!(tokens.len(), 2, "a conflict is retried: {tokens:?}");
    assert_ne!(tokens[0], tokens[1], "a cancelled transaction is a new one");
}

/// The first attempt timed out at the client while DynamoDB still runs it:
/// asking again with the same token gets its outcome ("TransactWriteItems":
/// a token is idempotent; "TransactionInProgressException": a retry 5 s
/// after the first attempt completes it).
#[tokio::test]
async fn a_transaction_in_progress_is_asked_again_with_its_token_and_its_outcome_answers() {
    let _alone = crate::alone().await;
    let script = &[Answer::InProgress, Answer::InProgress, Answer::Committed];
    let fake = FakeTransactions::serve(script, Duration::ZERO);
    let data_dir = TempDir::new().unwrap();
    let running = start_behind(&fake, &data_dir, "8000");

    let (status, body, _, _) = register(&running).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let tokens = fake.tokens();
    assert_eq!(tokens.len(), 3, "{tokens:?}");
    assert!(tokens.iter().all(|token| *token == tokens[0]), "{tokens:?}");
}

/// Still in progress when the budget runs out: the write may yet commit, so
/// a 503 with Retry-After (never a 500), within the budget.
#[tokio::test]
async fn a_transaction_still_in_progress_at_the_budget_is_a_503_with_retry_after() {
    let _alone = crate::alone().await;
    let fake = FakeTransactions::serve(&[Answer::InProgress], Duration::ZERO);
    let data_dir = TempDir::new().unwrap();
    let running = start_behind(&fake, &data_dir, "3000");

    let (status, body, took, retry_after) = register(&running).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(retry_after.as_deref(), Some("1"));
    assert!(took < Duration::from_millis(3600), "took {took:?}");
    // Asked again and again (by the SDK, which counts it as throttling,
    // then by the service), always with the first attempt's token.
    let tokens = fake.tokens();
    assert!(tokens.len() >= 3, "{tokens:?}");
    assert!(tokens.iter().all(|token| *token == tokens[0]), "{tokens:?}");
}

/// Sends a registration's head and the start of its body; the rest is for
/// the test to send.
async fn start_registration(running: &Running) -> (tokio::net::TcpStream, String) {
    let body = json!({"email": "john@example.com", "name": "John", "username": "john"}).to_string();
    let (first, rest) = body.split_at(10);
    let address = running.address.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let head = format!(
        "POST /add_user HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{first}",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    (stream, rest.to_owned())
}

/// The budget counts from the request's arrival, not from its first
/// storage call: a client that took 600 ms to send its body leaves 400 ms
/// of a 1 s budget, and a write that takes 600 ms is cut (it would have
/// been a 201 with a budget that started at the call).
#[tokio::test]
async fn the_budget_counts_from_the_requests_arrival_so_a_call_that_would_outlive_it_is_cut() {
    let _alone = crate::alone().await;
    let fake = FakeTransactions::serve(&[Answer::Committed], Duration::from_millis(600));
    let data_dir = TempDir::new().unwrap();
    let running = start_behind(&fake, &data_dir, "1000");

    let (mut stream, rest) = start_registration(&running).await;
    // The slow client is the scenario, not a wait for something.
    tokio::time::sleep(Duration::from_millis(600)).await;
    stream.write_all(rest.as_bytes()).await.unwrap();
    let mut status_line = vec![0u8; 12];
    stream.read_exact(&mut status_line).await.unwrap();
    assert_eq!(&status_line, b"HTTP/1.1 503");
    assert_eq!(fake.tokens().len(), 1, "the write was sent, and cut");
}

/// A client that hangs up while its first attempt meets a conflict: the
/// attempt already sent runs to its end, and the retry, a write not yet
/// started, is never sent. The request ends with nginx's 499 in the log.
#[tokio::test]
async fn a_client_that_went_away_stops_its_request_before_the_next_write() {
    let _alone = crate::alone().await;
    let fake = FakeTransactions::serve(&[Answer::Conflict], Duration::from_millis(300));
    let data_dir = TempDir::new().unwrap();
    let running = start_behind(&fake, &data_dir, "5000");

    let (mut stream, rest) = start_registration(&running).await;
    stream.write_all(rest.as_bytes()).await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), async {
        while fake.tokens().is_empty() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the first attempt is sent");
    drop(stream);
    let finished = running.wait_for_log(|event| event["message"] == "request finished");
    assert_eq!(finished["http.status_code"], 499, "{finished}");
    assert_eq!(fake.tokens().len(), 1, "no write after the client left");
}
