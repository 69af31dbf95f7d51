//! The original's customers have no accounts yet, and the stack lets anyone
//! sign up. A profile with no recorded account goes only to a token that
//! proves its email; a stranger who took the customer's username first
//! gets what anyone gets for someone else's data, before and after the
//! customer claims it. An admin binds an account to a profile whose email
//! nobody can prove.

use std::time::Duration;

use reqwest::{RequestBuilder, StatusCode};
use serde_json::{Value, json};

use crate::helpers::jwt::{
    Jwks, SigningKey, account_claims, bearer, id_claims, spawn_on_with_jwks,
};
use crate::helpers::{EngineKind, TestApp};
use crate::on_both_engines;

on_both_engines!(
    a_stranger_with_a_legacy_customers_username_gets_nothing_before_or_after_the_claim,
    an_admin_binds_an_account_to_a_profile_whose_email_nobody_can_prove,
);

const ANN_ORDER: &str = "2UJT4m2UkBAWG7DHDLfkXxbMN41";

fn s(value: &str) -> Value {
    json!({ "S": value })
}

/// Ann as the original left her: no account, her email typed in mixed
/// case, an address and an order.
fn legacy_ann(email: &str) -> Vec<Value> {
    vec![
        json!({
            "PK": s("CUSTOMER#ann"), "SK": s("CUSTOMER#ann"), "Username": s("ann"),
            "Email": s(email), "Name": s("Ann"), "address": s("1 Queen St Akl NZ"),
        }),
        json!({
            "PK": s("CUSTOMER#ann"), "SK": s(&format!("#ORDER#{ANN_ORDER}")),
            "OrderId": s(ANN_ORDER), "Status": s("PLACED"), "Amount": {"N": "19.99"},
            "NumberItems": {"N": "2"}, "CreatedAt": s("2023-08-21T22:21:34.811747"),
        }),
    ]
}

struct Issuer {
    app: TestApp,
    key: SigningKey,
    _jwks: Jwks,
}

impl Issuer {
    async fn start(engine: EngineKind) -> Self {
        let key = SigningKey::generate("key-1");
        let jwks = Jwks::serve(vec![key.jwk()]).await;
        let app = spawn_on_with_jwks(engine, &jwks, Duration::from_secs(60)).await;
        Self {
            app,
            key,
            _jwks: jwks,
        }
    }

    fn access(&self, username: &str, sub: &str, groups: &[&str]) -> String {
        self.key.sign(&account_claims(username, sub, groups))
    }

    fn id(&self, username: &str, sub: &str, email: &str) -> String {
        self.key.sign(&id_claims(username, sub, email))
    }

    async fn send(&self, token: &str, request: RequestBuilder) -> (StatusCode, String) {
        let response = bearer(request, token).send().await.unwrap();
        (response.status(), response.text().await.unwrap_or_default())
    }

    /// An admin's bind of the account `sub` to ann's profile, as `token`.
    async fn bind(&self, token: &str, sub: &str) -> (StatusCode, String) {
        let request = self
            .app
            .client
            .put(self.app.url("/users/ann/account"))
            .json(&json!({ "sub": sub }));
        self.send(token, request).await
    }

    /// Every route a customer has on their own data, as `token`: status
    /// and body of each.
    async fn everything(&self, token: &str) -> Vec<(&'static str, StatusCode, String)> {
        let client = &self.app.client;
        let url = |path: &str| self.app.url(path);
        let order = json!({"amount": 5.5, "numItems": 1, "username": "ann"});
        let cancel = json!({"username": "ann", "status": "CANCEL"});
        let requests = [
            ("get profile", client.get(url("/users/ann"))),
            ("list orders", client.get(url("/orders?username=ann"))),
            (
                "get order",
                client.get(url(&format!("/orders/{ANN_ORDER}?customer_id=ann"))),
            ),
            ("place order", client.post(url("/orders")).json(&order)),
            (
                "cancel order",
                client
                    .put(url(&format!("/orders/{ANN_ORDER}")))
                    .json(&cancel),
            ),
            (
                "edit address",
                client.post(url("/edit-address?username=ann&new_address=Elsewhere")),
            ),
            ("delete", client.delete(url("/users/ann"))),
        ];
        let mut answers = Vec::new();
        for (what, request) in requests {
            let (status, body) = self.send(token, request).await;
            answers.push((what, status, body));
        }
        answers
    }
}

/// Each answer is a 403 FORBIDDEN that tells nothing of the profile.
fn assert_refused_blind(answers: &[(&str, StatusCode, String)], who: &str) {
    for (what, status, body) in answers {
        assert_eq!(*status, StatusCode::FORBIDDEN, "{who}: {what}: {body}");
        assert!(body.contains("\"FORBIDDEN\""), "{who}: {what}: {body}");
        for secret in ["Example.com", "example.com", "Queen", "19.99", ANN_ORDER] {
            assert!(
                !body.contains(secret),
                "{who}: {what} leaks {secret}: {body}"
            );
        }
    }
}

async fn a_stranger_with_a_legacy_customers_username_gets_nothing_before_or_after_the_claim(
    engine: EngineKind,
) {
    let issuer = Issuer::start(engine).await;
    issuer
        .app
        .store
        .put_raw_items(&legacy_ann("Ann@Example.com"))
        .await
        .unwrap();

    // Signed up as "ann" before Ann did: an access token, and an ID token
    // proving another address.
    let stranger = issuer.access("ann", "stranger", &[]);
    assert_refused_blind(&issuer.everything(&stranger).await, "stranger");
    let other_email = issuer.id("ann", "stranger", "mallory@example.org");
    assert_refused_blind(&issuer.everything(&other_email).await, "other email");
    // Ann's own account, with only an access token, proves nothing either,
    // nor does an ID token whose email the pool has not verified.
    let ann_access = issuer.access("ann", "ann-account", &[]);
    assert_refused_blind(&issuer.everything(&ann_access).await, "unproven");
    let mut unverified = id_claims("ann", "ann-account", "ann@example.com");
    unverified["email_verified"] = json!(false);
    let unverified = issuer.key.sign(&unverified);
    assert_refused_blind(&issuer.everything(&unverified).await, "unverified");

    // Ann's ID token proves the stored email (letter case aside): her
    // profile, as stored, and it is hers from now on.
    let ann_id = issuer.id("ann", "ann-account", "ann@example.com");
    let (status, body) = issuer
        .send(&ann_id, issuer.app.client.get(issuer.app.url("/users/ann")))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let profile: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(profile["data"]["Email"], "Ann@Example.com");
    assert_eq!(profile["data"]["Address"], "1 Queen St Akl NZ");

    // The stranger is refused as before; Ann's access token now works.
    assert_refused_blind(&issuer.everything(&stranger).await, "stranger after");
    let answers = issuer.everything(&ann_access).await;
    let statuses: Vec<(&str, StatusCode)> = answers.iter().map(|(w, s, _)| (*w, *s)).collect();
    assert_eq!(
        statuses,
        [
            ("get profile", StatusCode::OK),
            ("list orders", StatusCode::OK),
            ("get order", StatusCode::OK),
            ("place order", StatusCode::CREATED),
            ("cancel order", StatusCode::OK),
            ("edit address", StatusCode::OK),
            ("delete", StatusCode::OK),
        ],
        "{answers:?}"
    );
}

async fn an_admin_binds_an_account_to_a_profile_whose_email_nobody_can_prove(engine: EngineKind) {
    let issuer = Issuer::start(engine).await;
    issuer
        .app
        .store
        .put_raw_items(&legacy_ann("ann@localhost"))
        .await
        .unwrap();
    // A customer may not bind, not even their own account.
    let ann = issuer.access("ann", "ann-account", &[]);
    assert_eq!(
        issuer.bind(&ann, "ann-account").await.0,
        StatusCode::FORBIDDEN
    );
    let admin = issuer.access("root", "root-account", &["admin"]);
    let (status, body) = issuer.bind(&admin, "ann-account").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        issuer.bind(&admin, "ann-account").await.0,
        StatusCode::OK,
        "again"
    );
    let (status, body) = issuer.bind(&admin, "someone-else").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body.contains("ACCOUNT_ALREADY_BOUND"), "{body}");
    let (status, body) = issuer
        .send(
            &ann,
            issuer
                .app
                .client
                .get(issuer.app.url("/orders?username=ann")),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains(ANN_ORDER), "her order is hers: {body}");
    let stranger = issuer.access("ann", "stranger", &[]);
    assert_refused_blind(&issuer.everything(&stranger).await, "stranger");
}
