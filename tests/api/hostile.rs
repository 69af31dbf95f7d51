//! Hostile HTTP: each is answered with the right 4xx, nothing hangs, and the
//! service is still ready afterwards. The edge is the same for both engines,
//! so these run on the embedded one.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{EngineKind, TestApp, spawn_app, status_and_json};

/// Sends raw bytes, optionally leaves the request unfinished, and returns the
/// status the server answers with (0 if it closed without answering) and
/// the body it sent with it.
async fn raw(app: &TestApp, bytes: &[u8]) -> (u16, String) {
    let address = app.address.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    let mut response = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        let mut buffer = [0u8; 4096];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    response.extend_from_slice(&buffer[..n]);
                    if is_complete(&response) {
                        break;
                    }
                }
            }
        }
    });
    read.await
        .expect("the server answers or closes within 10 s");
    let text = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    (status, body.to_owned())
}

/// Whether a response's head and its `Content-Length` of body have arrived.
fn is_complete(response: &[u8]) -> bool {
    let text = String::from_utf8_lossy(response);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return false;
    };
    let length = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    body.len() >= length
}

/// The error code of a raw response's JSON body.
fn code_of(body: &str) -> Value {
    serde_json::from_str::<Value>(body).unwrap_or_default()["error"]["code"].clone()
}

async fn assert_still_ready(app: &TestApp) {
    assert_eq!(app.get("/health/ready").await.status(), StatusCode::OK);
}

async fn post_raw_json(
    app: &TestApp,
    path: &str,
    body: impl Into<reqwest::Body>,
) -> (StatusCode, Value) {
    let response = app
        .client
        .post(app.url(path))
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn oversized_nested_and_mistyped_bodies_are_4xx() {
    let app = spawn_app(EngineKind::Embedded).await;

    let ten_megabytes = vec![b' '; 10 * 1024 * 1024];
    let (status, body) = post_raw_json(&app, "/orders", ten_megabytes).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body["error"]["code"], "PAYLOAD_TOO_LARGE");

    // 5,000 levels where a number belongs: the wrong type, named.
    let depth = 5000;
    let deep = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let (status, body) = post_raw_json(&app, "/orders", format!("{{\"amount\":{deep}}}")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["details"]["field"], "amount");
    // In a field nobody reads it is skipped without recursion; the missing
    // fields are what the client hears about.
    let (status, body) = post_raw_json(&app, "/orders", format!("{{\"extra\":{deep}}}")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["details"]["reason"], "is required");
    // Deep and unbalanced: a syntax error.
    let unbalanced = format!("{{\"extra\":{}}}", "[".repeat(depth));
    let (status, body) = post_raw_json(&app, "/orders", unbalanced).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "MALFORMED_JSON");

    let response = app
        .client
        .post(app.url("/orders"))
        .header("Content-Type", "text/plain")
        .body(r#"{"amount": 5, "numItems": 1, "username": "john"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let invalid_utf8 = b"{\"amount\": 5, \"numItems\": 1, \"username\": \"jo\xff\xfe\"}".to_vec();
    let (status, body) = post_raw_json(&app, "/orders", invalid_utf8).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_still_ready(&app).await;
}

#[tokio::test]
async fn extreme_numbers_are_validation_errors() {
    let app = spawn_app(EngineKind::Embedded).await;
    assert_eq!(
        app.add_user("john", "john@example.com").await.status(),
        StatusCode::CREATED
    );
    for (amount, items) in [
        ("1e400", "1"),
        ("-0", "1"),
        ("0e0", "1"),
        ("5", "1e400"),
        ("5", "-0"),
    ] {
        let body = format!(r#"{{"amount": {amount}, "numItems": {items}, "username": "john"}}"#);
        let (status, answer) = post_raw_json(&app, "/orders", body).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{amount} / {items}: {answer}"
        );
        let field = answer["error"]["details"]["field"].clone();
        assert!(
            field == json!("amount") || field == json!("numItems"),
            "{answer}"
        );
    }
    assert_still_ready(&app).await;
}

#[tokio::test]
async fn nul_bytes_bad_encodings_and_huge_headers_are_4xx() {
    let app = spawn_app(EngineKind::Embedded).await;
    // A name that did not decode cannot be a stored one: the validation
    // error names it.
    for (path, field) in [
        ("/orders?username=jo%ffhn", "username"),
        ("/users/%ff%fe", "username"),
    ] {
        let (status, body) = status_and_json(app.get(path).await).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{path}: {body}");
        assert_eq!(body["error"]["code"], "VALIDATION_FAILED", "{path}");
        assert_eq!(body["error"]["details"]["field"], field, "{path}");
    }

    // A NUL, percent-encoded, is text like any other: a name nobody has.
    for path in ["/users/%00", "/users/jo%00hn", "/orders?username=%00"] {
        let (status, body) = status_and_json(app.get(path).await).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
        assert_eq!(body["error"]["code"], "USER_NOT_FOUND", "{path}");
    }

    // A raw NUL is not HTTP at all: the parser refuses the request line.
    let (literal_nul, _) = raw(&app, b"GET /users/jo\0hn HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(literal_nul, 400, "a raw NUL in the path");

    let huge = format!(
        "GET /health/live HTTP/1.1\r\nHost: x\r\nX-Padding: {}\r\n\r\n",
        "a".repeat(64 * 1024)
    );
    let (status, body) = raw(&app, huge.as_bytes()).await;
    assert_eq!(status, 431, "a 64 KiB header");
    assert_eq!(code_of(&body), "HEADERS_TOO_LARGE", "{body}");
    assert_still_ready(&app).await;
}

#[tokio::test]
async fn a_client_that_never_finishes_its_request_is_cut_off() {
    // The test app's client timeout is 2 s.
    let app = spawn_app(EngineKind::Embedded).await;
    let started = Instant::now();
    let (unfinished_body, body) = raw(
        &app,
        b"POST /orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"amount\":",
    )
    .await;
    assert_eq!(unfinished_body, 408, "a body that never arrives");
    assert_eq!(code_of(&body), "REQUEST_TIMEOUT", "{body}");
    let (unfinished_head, _) = raw(&app, b"POST /orders HTTP/1.1\r\nHost: x\r\n").await;
    assert!(
        unfinished_head == 408 || unfinished_head == 0,
        "a head that never ends is answered 408 or closed: {unfinished_head}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "both were cut off near the 2 s timeout, not held: {:?}",
        started.elapsed()
    );
    assert_still_ready(&app).await;
}
