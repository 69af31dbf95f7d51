//! AUTH_MODE=jwt: tokens signed with test-generated RSA keys, served from a
//! local JWKS endpoint; every protected route against own data, another
//! user's data, an admin and fulfilment.

use std::time::{Duration, Instant};

use aws_lc_rs::signature::KeyPair;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::jwt::{
    CLIENT_ID, Jwks, SigningKey, bearer, claims, id_claims, now, signing_input, spawn_on_with_jwks,
    spawn_with_jwks, sub_of,
};
use crate::helpers::{EngineKind, TestApp, status_and_code};

/// A 401 whose challenge names RFC 6750's error for a refused token.
async fn assert_unauthorized(app: &TestApp, token: Option<&str>, why: &str) {
    let mut request = app.client.get(app.url("/users/alice"));
    if let Some(token) = token {
        request = bearer(request, token);
    }
    assert_challenged(request, Some("invalid_token"), why).await;
}

/// A 401 in the error shape whose `WWW-Authenticate` carries `error`, or no
/// error code at all when the request had no credentials (RFC 6750, 3.1).
async fn assert_challenged(request: reqwest::RequestBuilder, error: Option<&str>, why: &str) {
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{why}");
    let challenge = response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(challenge.starts_with("Bearer realm="), "{why}: {challenge}");
    let named = challenge
        .split("error=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next());
    assert_eq!(named, error, "{why}: {challenge}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "UNAUTHORIZED", "{why}");
}

// Long on purpose: one refused token per few lines, each beside the reason
// it must be refused, against one key server started once.
#[tokio::test]
async fn refuses_every_token_it_cannot_trust() {
    let key = SigningKey::generate("key-1");
    let jwks = Jwks::serve(vec![key.jwk()]).await;
    let app = spawn_with_jwks(&jwks).await;
    let valid = key.sign(&claims("alice", &[]));
    let response = bearer(app.client.get(app.url("/users/alice")), &valid)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::NOT_FOUND,
        "a valid token reaches the store"
    );

    assert_challenged(
        app.client.get(app.url("/users/alice")),
        None,
        "no credentials",
    )
    .await;
    let basic = app
        .client
        .get(app.url("/users/alice"))
        .header("Authorization", format!("Basic {valid}"));
    assert_challenged(basic, Some("invalid_request"), "not a bearer scheme").await;
    let empty = app
        .client
        .get(app.url("/users/alice"))
        .header("Authorization", "Bearer");
    assert_challenged(empty, Some("invalid_request"), "a scheme without a token").await;
    assert_unauthorized(&app, Some("not-a-jwt"), "garbage").await;

    let mut expired = claims("alice", &[]);
    expired["exp"] = json!(now() - 3600);
    assert_unauthorized(&app, Some(&key.sign(&expired)), "expired").await;
    let mut early = claims("alice", &[]);
    early["nbf"] = json!(now() + 3600);
    assert_unauthorized(&app, Some(&key.sign(&early)), "not yet valid").await;
    let mut issuer = claims("alice", &[]);
    issuer["iss"] = json!("https://evil.example.com");
    assert_unauthorized(&app, Some(&key.sign(&issuer)), "wrong issuer").await;
    let mut audience = claims("alice", &[]);
    audience["client_id"] = json!("another-client");
    assert_unauthorized(&app, Some(&key.sign(&audience)), "wrong audience").await;
    let mut no_user = claims("alice", &[]);
    no_user.as_object_mut().unwrap().remove("username");
    assert_unauthorized(&app, Some(&key.sign(&no_user)), "no username claim").await;
    let without = |claim: &str| {
        let mut claims = claims("alice", &[]);
        claims.as_object_mut().unwrap().remove(claim);
        key.sign(&claims)
    };
    assert_unauthorized(
        &app,
        Some(&without("sub")),
        "no sub: no account to own data",
    )
    .await;
    assert_unauthorized(&app, Some(&without("token_use")), "no token_use").await;
    let mut refresh = claims("alice", &[]);
    refresh["token_use"] = json!("refresh");
    assert_unauthorized(
        &app,
        Some(&key.sign(&refresh)),
        "a token_use the service does not take",
    )
    .await;
    // Each kind names the client where Cognito puts it, nowhere else.
    let mut access_with_aud = without_claim(claims("alice", &[]), "client_id");
    access_with_aud["aud"] = json!(CLIENT_ID);
    assert_unauthorized(
        &app,
        Some(&key.sign(&access_with_aud)),
        "an access token's client is client_id",
    )
    .await;
    let mut id_with_client_id =
        without_claim(id_claims("alice", &sub_of("alice"), "a@example.com"), "aud");
    id_with_client_id["client_id"] = json!(CLIENT_ID);
    assert_unauthorized(
        &app,
        Some(&key.sign(&id_with_client_id)),
        "an ID token's client is aud",
    )
    .await;

    // alg=none: a header and claims with an empty signature.
    let none = format!(
        "{}.",
        signing_input(
            &json!({"alg": "none", "kid": "key-1"}),
            &claims("alice", &[])
        )
    );
    assert_unauthorized(&app, Some(&none), "alg=none").await;
    // HS256 with the public key as the HMAC secret: the classic key confusion.
    let public_key = key.pair.public_key().as_ref().to_vec();
    let input = signing_input(
        &json!({"alg": "HS256", "kid": "key-1"}),
        &claims("alice", &[]),
    );
    let mac = aws_lc_rs::hmac::sign(
        &aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &public_key),
        input.as_bytes(),
    );
    let confused = format!("{input}.{}", B64.encode(mac.as_ref()));
    assert_unauthorized(&app, Some(&confused), "HS256 signed with the public key").await;
    // Signed by another key that claims the trusted key's id.
    let impostor = SigningKey::generate("key-1");
    assert_unauthorized(
        &app,
        Some(&impostor.sign(&claims("alice", &[]))),
        "bad signature",
    )
    .await;
    // A tampered payload under a genuine signature.
    let mut parts: Vec<String> = valid.split('.').map(str::to_owned).collect();
    parts[1] = B64.encode(claims("admin", &["admin"]).to_string());
    assert_unauthorized(&app, Some(&parts.join(".")), "tampered claims").await;
}

#[tokio::test]
async fn an_id_token_with_the_client_as_audience_is_accepted() {
    let key = SigningKey::generate("key-1");
    let jwks = Jwks::serve(vec![key.jwk()]).await;
    let app = spawn_with_jwks(&jwks).await;
    let id_token = id_claims("alice", &sub_of("alice"), "alice@example.com");
    let response = bearer(app.client.post(app.url("/add_user")), &key.sign(&id_token))
        .json(&json!({"email": "alice@example.com", "name": "Alice", "username": "alice"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn rotated_keys_are_fetched_once_and_unknown_kids_cannot_hammer_the_issuer() {
    let old = SigningKey::generate("old");
    let jwks = Jwks::serve(vec![old.jwk()]).await;
    let app = spawn_with_jwks(&jwks).await;
    assert_eq!(jwks.fetches(), 1, "keys are fetched at start-up");
    let status = |token: String| {
        let request = bearer(app.client.get(app.url("/users/alice")), &token);
        async move { request.send().await.unwrap().status() }
    };
    assert_eq!(
        status(old.sign(&claims("alice", &[]))).await,
        StatusCode::NOT_FOUND
    );

    // The issuer rotates: the new key replaces the old one.
    let new = SigningKey::generate("new");
    *jwks.keys.lock().unwrap() = vec![new.jwk()];
    assert_eq!(
        status(new.sign(&claims("alice", &[]))).await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(jwks.fetches(), 2, "one refresh for the new kid");
    assert_eq!(
        status(new.sign(&claims("alice", &[]))).await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(jwks.fetches(), 2, "the new key is cached");
    assert_eq!(
        status(old.sign(&claims("alice", &[]))).await,
        StatusCode::UNAUTHORIZED,
        "the retired key no longer verifies"
    );

    // 30 made-up kids at once: none verifies, and none fetches again within
    // the refresh interval.
    let bogus = (0..30).map(|i| status(new.sign_as(&format!("bogus-{i}"), &claims("alice", &[]))));
    for answer in futures_util::future::join_all(bogus).await {
        assert_eq!(answer, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(jwks.fetches(), 2, "unknown kids are rate-limited");
}

fn without_claim(mut claims: Value, claim: &str) -> Value {
    claims.as_object_mut().unwrap().remove(claim);
    claims
}

/// The issuer drops a key (it leaked, say): within one refresh interval no
/// token it signed verifies, though its `kid` was known.
#[tokio::test]
async fn a_key_the_issuer_removed_stops_verifying_within_the_refresh_interval() {
    let kept = SigningKey::generate("kept");
    let removed = SigningKey::generate("removed");
    let jwks = Jwks::serve(vec![kept.jwk(), removed.jwk()]).await;
    let app = spawn_on_with_jwks(EngineKind::Embedded, &jwks, Duration::from_secs(1)).await;
    let status = |key: &SigningKey| {
        let request = bearer(
            app.client.get(app.url("/users/alice")),
            &key.sign(&claims("alice", &[])),
        );
        async move { request.send().await.unwrap().status() }
    };
    assert_eq!(
        status(&removed).await,
        StatusCode::NOT_FOUND,
        "trusted while published"
    );

    *jwks.keys.lock().unwrap() = vec![kept.jwk()];
    let deadline = Instant::now() + Duration::from_secs(10);
    while status(&removed).await != StatusCode::UNAUTHORIZED {
        assert!(
            Instant::now() < deadline,
            "the removed key was still trusted after 10 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(jwks.fetches() >= 2, "a scheduled fetch, not a restart");
    assert_eq!(
        status(&kept).await,
        StatusCode::NOT_FOUND,
        "the kept key still verifies"
    );
}

/// The issuer is unreachable when a refresh falls due: the keys in hand
/// keep verifying (an issuer outage must not lock every user out), and a
/// token naming a key the service has never seen is a 503 to retry, not a
/// 401 that would send the user back to sign in.
#[tokio::test]
async fn an_unreachable_issuer_at_refresh_keeps_the_known_keys_and_defers_unknown_ones() {
    let known = SigningKey::generate("known");
    let jwks = Jwks::serve(vec![known.jwk()]).await;
    let app = spawn_on_with_jwks(EngineKind::Embedded, &jwks, Duration::from_secs(1)).await;
    let send = |token: String| bearer(app.client.get(app.url("/users/alice")), &token).send();

    jwks.down.store(true, std::sync::atomic::Ordering::SeqCst);
    let fetched_before = jwks.fetches();
    let deadline = Instant::now() + Duration::from_secs(10);
    while jwks.fetches() < fetched_before + 1 {
        assert!(
            Instant::now() < deadline,
            "no scheduled refresh within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let response = send(known.sign(&claims("alice", &[]))).await.unwrap();
    assert_eq!(
        response.status(),
        StatusCode::NOT_FOUND,
        "the known key still verifies (and the store answers)"
    );
    let rotated = SigningKey::generate("rotated");
    let response = send(rotated.sign(&claims("alice", &[]))).await.unwrap();
    assert!(response.headers().contains_key("retry-after"));
    let (status, body) = crate::helpers::status_and_json(response).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "SERVICE_UNAVAILABLE");

    // The issuer is back, now publishing the rotated key: once the
    // unknown-kid refresh may run again, the rotated key verifies.
    *jwks.keys.lock().unwrap() = vec![known.jwk(), rotated.jwk()];
    jwks.down.store(false, std::sync::atomic::Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = send(rotated.sign(&claims("alice", &[])))
            .await
            .unwrap()
            .status();
        if status == StatusCode::NOT_FOUND {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the rotated key never verified: {status}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The issuer cannot be reached while a task starts (a NAT or Cognito blip
/// during a deploy): the task starts and is live all the same, every
/// authenticated request is a 503 to retry (never a 401 that would send
/// users back to sign in), and the first keys fetched in the background
/// make it serve, with no restart.
#[tokio::test]
async fn a_task_starts_without_its_signing_keys_and_serves_once_they_arrive() {
    let key = SigningKey::generate("key-1");
    let jwks = Jwks::serve(vec![key.jwk()]).await;
    jwks.down.store(true, std::sync::atomic::Ordering::SeqCst);
    let app = spawn_on_with_jwks(EngineKind::Embedded, &jwks, Duration::from_secs(60)).await;
    assert_eq!(
        app.get("/health/live").await.status(),
        StatusCode::OK,
        "live without keys"
    );
    let token = key.sign(&claims("alice", &[]));
    let send = || bearer(app.client.get(app.url("/users/alice")), &token).send();
    let refused = send().await.unwrap();
    assert!(refused.headers().contains_key("retry-after"));
    assert_eq!(
        status_and_code(refused).await,
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "SERVICE_UNAVAILABLE".to_owned()
        )
    );

    jwks.down.store(false, std::sync::atomic::Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = send().await.unwrap().status();
        if status == StatusCode::NOT_FOUND {
            break; // Verified; the store answers that alice does not exist.
        }
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            Instant::now() < deadline,
            "no keys within 10 s of the issuer's return"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
