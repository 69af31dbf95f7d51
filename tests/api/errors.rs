use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::process::start_on_dynamodb;
use crate::helpers::{EngineKind, dynamodb_endpoint, error_code, spawn_app, status_and_json};

// Transport-level errors are decided before the engine is reached, so one
// engine suffices here.

#[tokio::test]
async fn malformed_json_is_a_400() {
    let app = spawn_app(EngineKind::Embedded).await;
    for body in ["{", "{\"username\": }", "[1,", "{} {}", "\u{0}"] {
        let response = app
            .client
            .post(app.url("/add_user"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let (status, json) = status_and_json(response).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body:?}");
        assert_eq!(error_code(&json, status), "MALFORMED_JSON");
    }
}

#[tokio::test]
async fn a_body_over_16_kib_is_a_413() {
    let app = spawn_app(EngineKind::Embedded).await;
    let name = "x".repeat(17 * 1024);
    let (status, body) = status_and_json(
        app.post_json(
            "/add_user",
            &json!({"email": "a@example.com", "name": name, "username": "ab"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(error_code(&body, status), "PAYLOAD_TOO_LARGE");
}

#[tokio::test]
async fn a_body_that_is_not_json_is_a_415() {
    let app = spawn_app(EngineKind::Embedded).await;
    let response = app
        .client
        .post(app.url("/orders"))
        .header("content-type", "text/plain")
        .body("amount=5")
        .send()
        .await
        .unwrap();
    let (status, body) = status_and_json(response).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(error_code(&body, status), "UNSUPPORTED_MEDIA_TYPE");
}

#[tokio::test]
async fn undecodable_paths_and_queries_answer_in_the_error_shape() {
    let app = spawn_app(EngineKind::Embedded).await;

    let (status, body) = status_and_json(app.get("/users/%FF%FE").await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_code(&body, status), "VALIDATION_FAILED");

    // Query strings decode lossily; the replacement character is no username.
    let (status, body) = status_and_json(app.get("/orders?username=%FF").await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["details"]["field"], "username");
    assert_eq!(app.get("/health/ready").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_in_the_error_shape() {
    let app = spawn_app(EngineKind::Embedded).await;

    let (status, body) = status_and_json(app.get("/nowhere").await).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error_code(&body, status), "NOT_FOUND");

    let response = app.delete("/orders").await;
    assert_eq!(
        response.headers()["allow"],
        "GET, POST",
        "RFC 9110 asks 405s to list the methods"
    );
    let (status, body) = status_and_json(response).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(error_code(&body, status), "METHOD_NOT_ALLOWED");
    let response = app
        .client
        .patch(app.url("/users/john/"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers()["allow"], "GET, DELETE");
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_echoes_the_callers() {
    let app = spawn_app(EngineKind::Embedded).await;

    let generated = app.get("/health/live").await;
    let id = generated.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(!id.is_empty());
    let other = app.get("/nowhere").await;
    assert_ne!(other.headers()["x-request-id"].to_str().unwrap(), id);

    let echoed = app
        .client
        .get(app.url("/users/nobody"))
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .unwrap();
    assert_eq!(echoed.status(), StatusCode::NOT_FOUND);
    assert_eq!(echoed.headers()["x-request-id"], "trace-me-42");
}

#[tokio::test]
async fn health_and_root_answer() {
    let app = spawn_app(EngineKind::Embedded).await;
    let (status, body) = status_and_json(app.get("/").await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["service"], "ecommerce-service");
    let (status, body) = status_and_json(app.get("/health/live").await).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"status": "ok"})));
    let (status, body) = status_and_json(app.get("/health/ready/").await).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"status": "ready"})));
}

#[tokio::test]
async fn a_query_string_that_does_not_decode_into_the_parameters_is_a_400() {
    let app = spawn_app(EngineKind::Embedded).await;
    for path in [
        "/orders?username=john&username=jane",
        "/orders/01K9Z8Y7X6W5V4T3S2R1Q0P9N8?customer_id=a&customer_id=b",
    ] {
        let (status, body) = status_and_json(app.get(path).await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert_eq!(error_code(&body, status), "MALFORMED_QUERY", "{path}");
    }
}

#[tokio::test]
async fn a_body_without_content_type_is_taken_as_json() {
    let app = spawn_app(EngineKind::Embedded).await;
    let response = app
        .client
        .post(app.url("/add_user"))
        .body(r#"{"email": "bare@example.com", "name": "Bare", "username": "bare"}"#)
        .send()
        .await
        .unwrap();
    let (status, body) = status_and_json(response).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["data"]["Username"], "bare");
}

/// Headers are limited in total, not one by one: several that only add up
/// to more than 16 KiB are refused, and the same count just under passes.
#[tokio::test]
async fn headers_over_16_kib_in_total_are_a_431() {
    let app = spawn_app(EngineKind::Embedded).await;
    let with_headers = |count: usize| {
        let mut request = app.client.get(app.url("/health/live"));
        for i in 0..count {
            request = request.header(format!("x-padding-{i}"), "p".repeat(3 * 1024));
        }
        request.send()
    };

    let (status, body) = status_and_json(with_headers(6).await.unwrap()).await;
    assert_eq!(
        status,
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        "18 KiB"
    );
    assert_eq!(error_code(&body, status), "HEADERS_TOO_LARGE");
    assert_eq!(
        with_headers(4).await.unwrap().status(),
        StatusCode::OK,
        "12 KiB"
    );
}

/// A storage fault we cannot retry (here, a table that does not exist) is
/// a 500 whose body says nothing of the cause; the log has it.
#[tokio::test]
async fn an_internal_fault_is_a_500_that_leaks_nothing_and_is_logged() {
    let data_dir = tempfile::TempDir::new().unwrap();
    let (service, table) = start_on_dynamodb(
        &data_dir,
        &dynamodb_endpoint(),
        &[("CREATE_TABLE", "false")],
    );

    let response = service.api().get("/users/john").await;
    let (status, body) = status_and_json(response).await;

    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(error_code(&body, status), "INTERNAL_ERROR");
    let text = body.to_string();
    for secret in [table.as_str(), "ResourceNotFound", "DynamoDB", "dynamodb"] {
        assert!(!text.contains(secret), "the body leaks {secret:?}: {text}");
    }
    let (_, log) = service.terminate_and_read_log();
    assert!(
        log.iter()
            .any(|line| line.to_string().contains("ResourceNotFound")),
        "the cause is logged"
    );
}
