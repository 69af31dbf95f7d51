//! The overload gates, black box: past its limit on requests in flight the
//! service refuses at once with 503 OVERLOADED and takes requests again as
//! soon as one is answered; each caller draws from a token bucket of its
//! own (429 RATE_LIMITED with Retry-After and the RateLimit fields); the
//! health routes pass no gate. Behaviour, not timing: the gates' arithmetic
//! is tested in src/admission.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use ecommerce_service::config::{
    AdmissionSettings, AuthSettings, OverloadSettings, Quota, RateLimitSettings,
};
use reqwest::{Response, StatusCode};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::jwt::{Jwks, SigningKey, auth_settings, bearer, claims};
use crate::helpers::{EngineKind, TestApp, http_client_builder, spawn_app_with, status_and_json};

/// One request in flight at most, whatever its latency: only the limit
/// on requests in flight decides (the line's target is never reached).
fn one_in_flight() -> OverloadSettings {
    OverloadSettings {
        admission: Some(AdmissionSettings {
            min_in_flight: 1,
            max_in_flight: 1,
            latency_target: Duration::from_secs(60),
            queue_target: Duration::from_secs(60),
        }),
        rate_limit: None,
    }
}

/// A customer may make `burst` requests at once, refilled at one a second;
/// staff ten times as many.
fn buckets(burst: u32) -> OverloadSettings {
    OverloadSettings {
        admission: None,
        rate_limit: Some(RateLimitSettings {
            customer: Quota {
                per_second: 1,
                burst,
            },
            staff: Quota {
                per_second: 1,
                burst: burst * 10,
            },
            max_callers: 1000,
        }),
    }
}

fn header(response: &Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .map(|value| value.to_str().unwrap().to_owned())
}

#[tokio::test]
async fn past_its_limit_on_requests_in_flight_it_refuses_with_503_and_takes_requests_again_once_one_is_answered()
 {
    let app = spawn_app_with(EngineKind::Embedded, AuthSettings::Off, one_in_flight()).await;
    // A registration whose body has not all arrived holds the one place.
    let body = json!({"username": "held", "email": "held@example.com", "name": "Held"}).to_string();
    let (first_half, second_half) = body.split_at(10);
    let address = app.url("").trim_start_matches("http://").to_owned();
    let mut held = tokio::net::TcpStream::connect(address).await.unwrap();
    let head = format!(
        "POST /add_user HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{first_half}",
        body.len()
    );
    held.write_all(head.as_bytes()).await.unwrap();

    // Until the held request is admitted, a read may still get the place.
    let refused = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let response = app.get("/users/held").await;
            if response.status() == StatusCode::SERVICE_UNAVAILABLE {
                return response;
            }
        }
    })
    .await
    .expect("a read is refused while the place is held");
    let retry_after: u64 = header(&refused, "retry-after").unwrap().parse().unwrap();
    assert!(
        (1..=3).contains(&retry_after),
        "at the in-flight limit: {retry_after}"
    );
    let (_, refusal) = status_and_json(refused).await;
    assert_eq!(refusal["error"]["code"], "OVERLOADED");
    assert_eq!(refusal["status"], 503);

    // A task that sheds still answers its health checks.
    for path in ["/health/live", "/health/ready", "/health/live/"] {
        assert_eq!(app.get(path).await.status(), StatusCode::OK, "{path}");
    }

    held.write_all(second_half.as_bytes()).await.unwrap();
    let mut answer = vec![0u8; 12];
    held.read_exact(&mut answer).await.unwrap();
    assert_eq!(&answer, b"HTTP/1.1 201", "the held request is answered");
    let (status, user) = status_and_json(app.get("/users/held").await).await;
    assert_eq!(status, StatusCode::OK, "admitted again: {user}");
}

#[tokio::test]
async fn each_account_has_a_bucket_of_its_own_staff_a_larger_one_and_past_it_a_429_says_when_to_retry()
 {
    let key = SigningKey::generate("key-1");
    let jwks = Jwks::serve(vec![key.jwk()]).await;
    let auth = auth_settings(&jwks, Duration::from_secs(60));
    let app: TestApp = spawn_app_with(EngineKind::Embedded, auth, buckets(3)).await;
    let alice = key.sign(&claims("alice", &[]));
    let bob = key.sign(&claims("bob", &[]));
    let staff = key.sign(&claims("ops", &["admin"]));
    let get = |token: &str, path: &str| bearer(app.client.get(app.url(path)), token).send();

    let mut answers = Vec::new();
    for _ in 0..6 {
        answers.push(get(&alice, "/users/alice").await.unwrap());
    }
    let admitted: Vec<Option<String>> = answers[..3]
        .iter()
        .map(|answer| {
            assert_eq!(
                answer.status(),
                StatusCode::NOT_FOUND,
                "admitted: no such user yet"
            );
            assert_eq!(
                header(answer, "ratelimit-policy").as_deref(),
                Some(r#""customer";q=3;w=3"#)
            );
            header(answer, "ratelimit")
        })
        .collect();
    let remaining: Vec<&str> = admitted
        .iter()
        .map(|field| field.as_deref().unwrap().split(';').nth(1).unwrap())
        .collect();
    assert_eq!(remaining, ["r=2", "r=1", "r=0"]);
    let refused = answers
        .into_iter()
        .skip(3)
        .find(|answer| answer.status() == StatusCode::TOO_MANY_REQUESTS)
        .expect("past a burst of three, a 429");
    let retry_after: u64 = header(&refused, "retry-after").unwrap().parse().unwrap();
    assert!((1..=3).contains(&retry_after), "Retry-After: {retry_after}");
    assert_eq!(
        header(&refused, "ratelimit").as_deref(),
        Some(format!(r#""customer";r=0;t={retry_after}"#).as_str())
    );
    let (_, body) = status_and_json(refused).await;
    assert_eq!(body["error"]["code"], "RATE_LIMITED");

    // Bob's bucket is his own, and staff have a larger one.
    let bobs = get(&bob, "/users/bob").await.unwrap();
    assert_eq!(bobs.status(), StatusCode::NOT_FOUND);
    assert!(header(&bobs, "ratelimit").unwrap().contains(";r=2;"));
    for _ in 0..10 {
        let answer = get(&staff, "/users/alice").await.unwrap();
        assert_eq!(answer.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            header(&answer, "ratelimit-policy").as_deref(),
            Some(r#""staff";q=30;w=30"#)
        );
    }
}

#[tokio::test]
async fn without_tokens_each_client_address_has_a_bucket_and_health_checks_draw_from_none() {
    let app = spawn_app_with(EngineKind::Embedded, AuthSettings::Off, buckets(2)).await;
    let from = |address: Ipv4Addr| {
        http_client_builder()
            .local_address(IpAddr::V4(address))
            .build()
            .unwrap()
    };
    let (one, two) = (
        from(Ipv4Addr::new(127, 0, 0, 1)),
        from(Ipv4Addr::new(127, 0, 0, 2)),
    );
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(
            one.get(app.url("/users/nobody"))
                .send()
                .await
                .unwrap()
                .status(),
        );
    }
    assert_eq!(statuses[..2], [StatusCode::NOT_FOUND; 2]);
    assert!(
        statuses.contains(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    let other = two.get(app.url("/users/nobody")).send().await.unwrap();
    assert_eq!(
        other.status(),
        StatusCode::NOT_FOUND,
        "another address, another bucket"
    );
    for _ in 0..5 {
        let health = one.get(app.url("/health/ready")).send().await.unwrap();
        assert_eq!(health.status(), StatusCode::OK);
        assert_eq!(header(&health, "ratelimit"), None);
    }
}
