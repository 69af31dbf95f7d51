use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{EngineKind, spawn_app, status_and_json};
use crate::on_both_engines;

on_both_engines!(
    fifty_racing_registrations_of_one_username_admit_one,
    fifty_racing_registrations_of_one_email_admit_one,
    racing_status_moves_end_at_or_past_every_status_they_reported,
);

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
    let emails: Vec<String> = (0..50).map(|i| format!("racer{i}@example.com")).collect();
    let attempts = emails.iter().map(|email| app.add_user("racer", email));

    let created = count_created(join_all(attempts).await, "USERNAME_TAKEN").await;

    assert_eq!(created, 1);
}

async fn fifty_racing_registrations_of_one_email_admit_one(engine: EngineKind) {
    let app = spawn_app(engine).await;
    let names: Vec<String> = (0..50).map(|i| format!("racer{i}")).collect();
    let attempts = names
        .iter()
        .map(|name| app.add_user(name, "same@example.com"));

    let created = count_created(join_all(attempts).await, "EMAIL_TAKEN").await;

    assert_eq!(created, 1);
}

async fn racing_status_moves_end_at_or_past_every_status_they_reported(engine: EngineKind) {
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

    let mut reported: Vec<Value> = Vec::new();
    for response in join_all(moves).await {
        let (status, body) = status_and_json(response).await;
        match status {
            StatusCode::OK => reported.push(body["data"]["Status"].clone()),
            StatusCode::CONFLICT => assert_eq!(body["error"]["code"], "INVALID_STATUS_TRANSITION"),
            other => panic!("unexpected {other}: {body}"),
        }
    }

    assert!(
        !reported.is_empty(),
        "the first move from PLACED always succeeds"
    );
    // Statuses only move forward, so every status a 200 reported must lie
    // on one life-cycle path, and the order's final status must be at or
    // past each of them: a lost update would leave it behind one.
    let (_, fetched) = status_and_json(app.get(&path).await).await;
    let last = status(&fetched["data"]["Status"]);
    for seen in &reported {
        let seen = status(seen);
        assert!(
            seen == last || reaches(seen, last),
            "a move reported {seen} but the order ended at {last}"
        );
    }
}

fn status(value: &Value) -> &str {
    value.as_str().expect("a status")
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
