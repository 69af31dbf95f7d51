//! Tokens as an identity provider issues them: RSA keys generated here, a
//! local JWKS endpoint a test can change, and Cognito-shaped claims.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::{App, HttpResponse, HttpServer, web};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::{KeyPair, RSA_PKCS1_SHA256};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ecommerce_service::config::AuthSettings;
use reqwest::RequestBuilder;
use serde_json::{Value, json};

use super::{EngineKind, TestApp, spawn_app_with_auth};

pub const ISSUER: &str = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Test";
pub const CLIENT_ID: &str = "test-client";

pub struct SigningKey {
    pub pair: RsaKeyPair,
    kid: String,
}

impl SigningKey {
    pub fn generate(kid: &str) -> Self {
        Self {
            pair: RsaKeyPair::generate(KeySize::Rsa2048).unwrap(),
            kid: kid.to_owned(),
        }
    }

    pub fn jwk(&self) -> Value {
        let public = self.pair.public_key();
        json!({
            "kty": "RSA", "alg": "RS256", "use": "sig", "kid": self.kid,
            "n": B64.encode(public.modulus().big_endian_without_leading_zero()),
            "e": B64.encode(public.exponent().big_endian_without_leading_zero()),
        })
    }

    pub fn sign(&self, claims: &Value) -> String {
        self.sign_as(&self.kid, claims)
    }

    pub fn sign_as(&self, kid: &str, claims: &Value) -> String {
        let input = signing_input(&json!({"alg": "RS256", "typ": "JWT", "kid": kid}), claims);
        let mut signature = vec![0; self.pair.public_modulus_len()];
        self.pair
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                input.as_bytes(),
                &mut signature,
            )
            .unwrap();
        format!("{input}.{}", B64.encode(signature))
    }
}

pub fn signing_input(header: &Value, claims: &Value) -> String {
    format!(
        "{}.{}",
        B64.encode(header.to_string()),
        B64.encode(claims.to_string())
    )
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The account (`sub`) of the first account to hold `username`.
pub fn sub_of(username: &str) -> String {
    format!("sub-of-{username}")
}

/// A Cognito access token's claims, for the first account named `username`.
pub fn claims(username: &str, groups: &[&str]) -> Value {
    account_claims(username, &sub_of(username), groups)
}

/// A Cognito access token's claims for the account `sub`.
pub fn account_claims(username: &str, sub: &str, groups: &[&str]) -> Value {
    json!({
        "iss": ISSUER, "client_id": CLIENT_ID, "token_use": "access", "sub": sub,
        "username": username, "cognito:groups": groups,
        "iat": now(), "exp": now() + 600,
    })
}

/// A Cognito ID token's claims: the app client as `aud`, and the email the
/// pool verified.
pub fn id_claims(username: &str, sub: &str, email: &str) -> Value {
    json!({
        "iss": ISSUER, "aud": CLIENT_ID, "token_use": "id", "sub": sub,
        "cognito:username": username, "email": email, "email_verified": true,
        "iat": now(), "exp": now() + 600,
    })
}

/// A JWKS endpoint whose keys a test can swap, counting its fetches. While
/// `down` is set it answers every fetch with a 503, as an issuer in an
/// outage would.
pub struct Jwks {
    pub url: String,
    pub keys: Arc<Mutex<Vec<Value>>>,
    pub down: Arc<std::sync::atomic::AtomicBool>,
    fetches: Arc<AtomicUsize>,
}

impl Jwks {
    pub async fn serve(keys: Vec<Value>) -> Self {
        let keys = Arc::new(Mutex::new(keys));
        let fetches = Arc::new(AtomicUsize::new(0));
        let down = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (served, counted, outage) =
            (Arc::clone(&keys), Arc::clone(&fetches), Arc::clone(&down));
        let (listener, base) = super::loopback();
        let url = format!("{base}/jwks.json");
        let server = HttpServer::new(move || {
            let (served, counted, outage) = (
                Arc::clone(&served),
                Arc::clone(&counted),
                Arc::clone(&outage),
            );
            App::new().route(
                "/jwks.json",
                web::get().to(move || {
                    counted.fetch_add(1, Ordering::SeqCst);
                    let keys = served.lock().unwrap().clone();
                    let down = outage.load(Ordering::SeqCst);
                    async move {
                        if down {
                            HttpResponse::ServiceUnavailable().finish()
                        } else {
                            HttpResponse::Ok().json(json!({ "keys": keys }))
                        }
                    }
                }),
            )
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(server);
        Self {
            url,
            keys,
            down,
            fetches,
        }
    }

    pub fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

pub async fn spawn_with_jwks(jwks: &Jwks) -> TestApp {
    spawn_on_with_jwks(EngineKind::Embedded, jwks, Duration::from_secs(60)).await
}

/// The app on `engine`, trusting `jwks`'s keys, refreshed every `refresh`.
pub async fn spawn_on_with_jwks(engine: EngineKind, jwks: &Jwks, refresh: Duration) -> TestApp {
    spawn_app_with_auth(engine, auth_settings(jwks, refresh)).await
}

/// JWT mode trusting `jwks`'s keys, refreshed every `refresh`.
pub fn auth_settings(jwks: &Jwks, refresh: Duration) -> AuthSettings {
    AuthSettings::Jwt {
        issuer: ISSUER.into(),
        jwks_url: jwks.url.clone(),
        audiences: vec![CLIENT_ID.into()],
        refresh_interval: refresh,
    }
}

pub fn bearer(request: RequestBuilder, token: &str) -> RequestBuilder {
    request.header("Authorization", format!("Bearer {token}"))
}
