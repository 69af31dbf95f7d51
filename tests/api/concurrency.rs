//! Racing requests on one item, on both engines and on DynamoDB as it
//! behaves under contention: through a proxy that cancels the first
//! transactions touching each item with `TransactionConflict`, which moto
//! (applying requests one at a time) never does.

use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::aws_proxy::{AwsProxy, Behaviour};
use crate::helpers::process::start_on_dynamodb;
use crate::helpers::{Api, EngineKind, dynamodb_endpoint, spawn_app, status_and_json, unique};
use crate::on_both_engines;

on_both_engines!(
    fifty_racing_registrations_of_one_username_admit_one,
    fifty_racing_registrations_of_one_email_admit_one,
    racing_status_moves_end_at_the_furthest_status_they_reported,
);

/// Every racer's transaction is cancelled this often before it goes
/// through: one fewer than the service's attempts, so the retries must
/// carry every racer to DynamoDB's condition check.
const CONFLICTS_PER_ITEM: usize = 2;

async fn count_created(responses: Vec<reqwest::Response>, conflict_code: &str) -> usize {
    let mut created = 0;
    for response in responses {
        let (status, body) = status_and_json(response).await;
        match status {
            StatusCode::CREATED => created += 1,
            StatusCode::CONFLICT => assert_eq!(body["error"]["code"], conflict_code, "{body}"),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    created
}

async fn fifty_racing_registrations_of_one_username_admit_one(engine: EngineKind) {
    let app = spawn_app(engine).await;
    one_username_for_fifty_racers(&app).await;
}

async fn fifty_racing_registrations_of_one_email_admit_one(engine: EngineKind) {
    let app = spawn_app(engine).await;
    one_email_for_fifty_racers(&app).await;
}

async fn one_username_for_fifty_racers(api: &Api) {
    let emails: Vec<String> = (0..50).map(|i| format!("racer{i}@example.com")).collect();
    let attempts = emails.iter().map(|email| api.add_user("racer", email));

    let created = count_created(join_all(attempts).await, "USERNAME_TAKEN").await;

    assert_eq!(created, 1);
}

async fn one_email_for_fifty_racers(api: &Api) {
    let names: Vec<String> = (0..50).map(|i| format!("racer{i}")).collect();
    let attempts = names
        .iter()
        .map(|name| api.add_user(name, "same@example.com"));

    let created = count_created(join_all(attempts).await, "EMAIL_TAKEN").await;

    assert_eq!(created, 1);
}

/// The binary on DynamoDB behind a proxy that cancels the first `n`
/// transactions touching each item.
fn behind_conflicts(
    n: usize,
) -> (
    AwsProxy,
    crate::helpers::process::Running,
    tempfile::TempDir,
) {
    let proxy = AwsProxy::serve(dynamodb_endpoint(), Behaviour::ConflictFirst { n });
    let data_dir = tempfile::TempDir::new().unwrap();
    let (running, _) = start_on_dynamodb(&data_dir, &proxy.endpoint, &[]);
    (proxy, running, data_dir)
}

#[tokio::test]
async fn racing_registrations_of_one_username_through_transaction_conflicts_admit_one() {
    let (proxy, service, _dir) = behind_conflicts(CONFLICTS_PER_ITEM);

    one_username_for_fifty_racers(&service.api()).await;

    assert_eq!(
        proxy.refused(),
        50 * CONFLICTS_PER_ITEM,
        "each racer's own email reservation met {CONFLICTS_PER_ITEM} conflicts"
    );
}

#[tokio::test]
async fn racing_registrations_of_one_email_through_transaction_conflicts_admit_one() {
    let (proxy, service, _dir) = behind_conflicts(CONFLICTS_PER_ITEM);

    one_email_for_fifty_racers(&service.api()).await;

    assert_eq!(proxy.refused(), 50 * CONFLICTS_PER_ITEM);
}

/// Conflicts that outlast the service's three attempts are a 503 with
/// `Retry-After`, and the cancelled transaction left nothing behind: a
/// retry with the same key registers the user as if for the first time.
#[tokio::test]
async fn transaction_conflicts_that_outlast_the_retries_are_a_503_and_write_nothing() {
    let (proxy, service, _dir) = behind_conflicts(3);
    let api = service.api();
    let username = unique("contended");
    let register = || {
        api.client
            .post(api.url("/add_user"))
            .header("Idempotency-Key", "signup")
            .json(&json!({"email": format!("{username}@example.com"), "name": "Contended", "username": username}))
            .send()
    };

    let refused = register().await.unwrap();
    let retry_after = refused.headers().get("retry-after").cloned();
    let (status, body) = status_and_json(refused).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "SERVICE_UNAVAILABLE");
    assert!(retry_after.is_some(), "a 503 says when to retry");
    assert_eq!(proxy.refused(), 3, "three attempts, each cancelled");
    let (status, _) = status_and_json(api.get(&format!("/users/{username}")).await).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "no profile was written");

    let retried = register().await.unwrap();
    let replayed = retried.headers().contains_key("idempotent-replayed");
    let (status, body) = status_and_json(retried).await;
    assert_eq!(
        (status, replayed),
        (StatusCode::CREATED, false),
        "no reservation or key record was left to refuse the retry: {body}"
    );
}

async fn racing_status_moves_end_at_the_furthest_status_they_reported(engine: EngineKind) {
    let app = spawn_app(engine).await;
    app.given_user("john").await;
    let id = app.given_order("john").await;
    let path = format!("/orders/{id}");
    let targets = ["PROCESSING", "SHIPPED", "CANCEL", "DELIVERED"];
    let moves = (0..20).map(|i| {
        let body = json!({"username": "john", "status": targets[i % targets.len()]});
        let path = path.clone();
        let app = &app;
        async move { app.put_json(&path, &body).await }
    });

    let mut reported: Vec<String> = Vec::new();
    for response in join_all(moves).await {
        let (status, body) = status_and_json(response).await;
        match status {
            StatusCode::OK => reported.push(body["data"]["Status"].as_str().unwrap().to_owned()),
            StatusCode::CONFLICT => assert_eq!(body["error"]["code"], "INVALID_STATUS_TRANSITION"),
            other => panic!("unexpected {other}: {body}"),
        }
    }

    // Each 200 reported a status the order really held, and statuses only
    // move forward: the reported statuses lie on one life-cycle path, and
    // the order ends at the furthest of them. A lost update breaks one of
    // these: two moves from one status both reported (a fork), or the order
    // left behind (or beyond) what the last successful move reported.
    let (_, fetched) = status_and_json(app.get(&path).await).await;
    let last = fetched["data"]["Status"].as_str().expect("a status");
    assert!(
        reported.iter().any(|seen| seen == last),
        "the order ended at {last}, which no move reported: {reported:?}"
    );
    for seen in &reported {
        assert!(
            seen == last || reaches(seen, last),
            "a move reported {seen} but the order ended at {last}"
        );
    }
}

/// Whether the life cycle leads from `from` to `to` in one or more moves.
fn reaches(from: &str, to: &str) -> bool {
    let next: &[&str] = match from {
        "PLACED" => &["PROCESSING", "SHIPPED", "CANCEL"],
        "PROCESSING" => &["SHIPPED", "CANCEL"],
        "SHIPPED" => &["DELIVERED"],
        _ => &[],
    };
    next.iter().any(|step| *step == to || reaches(step, to))
}
