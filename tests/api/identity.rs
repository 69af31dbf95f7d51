//! Identity is the account (`sub`), not the name: a username can pass to a
//! new account, and that account sees none of the old one's data. Also:
//! privacy by role, idempotency keys per caller, and emails a token proves.

use std::time::Duration;

use reqwest::{RequestBuilder, StatusCode};
use serde_json::{Value, json};

use crate::helpers::jwt::{
    Jwks, SigningKey, account_claims, bearer, claims, id_claims, spawn_on_with_jwks, sub_of,
};
use crate::helpers::{EngineKind, TestApp, status_and_code, status_and_json};
use crate::on_both_engines;

on_both_engines!(
    a_new_account_under_an_old_username_sees_none_of_its_data,
    an_unclaimed_profile_goes_to_exactly_one_account,
    fulfilment_sees_only_what_shipping_needs,
    idempotency_keys_of_two_callers_never_meet,
    registration_needs_an_email_the_token_proves,
);

/// An app in JWT mode on `engine`, and the key that signs its tokens.
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

    /// An access token of the account `sub`, named `username`.
    fn access(&self, username: &str, sub: &str, groups: &[&str]) -> String {
        self.key.sign(&account_claims(username, sub, groups))
    }

    async fn send(&self, token: &str, request: RequestBuilder) -> (StatusCode, Value) {
        let response = bearer(request, token).send().await.unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, token: &str, path: &str) -> (StatusCode, Value) {
        self.send(token, self.app.client.get(self.app.url(path)))
            .await
    }

    /// Registers `username` for the account `sub` with an ID token.
    async fn register(&self, username: &str, sub: &str, email: &str) -> (StatusCode, Value) {
        let token = self.key.sign(&id_claims(username, sub, email));
        let body = json!({"email": email, "name": "N", "username": username});
        self.send(
            &token,
            self.app.client.post(self.app.url("/add_user")).json(&body),
        )
        .await
    }

    async fn place(&self, token: &str, username: &str) -> (StatusCode, Value) {
        let body = json!({"amount": 5.5, "numItems": 1, "username": username});
        self.send(
            token,
            self.app.client.post(self.app.url("/orders")).json(&body),
        )
        .await
    }
}

fn order_id(placed: &Value) -> String {
    placed["data"]["OrderId"]
        .as_str()
        .expect("an order id")
        .to_owned()
}

async fn a_new_account_under_an_old_username_sees_none_of_its_data(engine: EngineKind) {
    let issuer = Issuer::start(engine).await;
    let (status, _) = issuer
        .register("alice", "old-account", "alice@example.com")
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let old = issuer.access("alice", "old-account", &[]);
    let (_, placed) = issuer.place(&old, "alice").await;
    let id = order_id(&placed);
    for _ in 0..2 {
        assert_eq!(issuer.place(&old, "alice").await.0, StatusCode::CREATED);
    }
    let (_, first_page) = issuer.get(&old, "/orders?username=alice&limit=1").await;
    let token = first_page["nextToken"]
        .as_str()
        .expect("a second page")
        .to_owned();

    // Cognito gave the name to a new account once the old one was deleted.
    let new = issuer.access("alice", "new-account", &[]);
    let client = &issuer.app.client;
    let forbidden = [
        ("profile", client.get(issuer.app.url("/users/alice"))),
        (
            "listing",
            client.get(issuer.app.url("/orders?username=alice")),
        ),
        (
            "a later page",
            client.get(
                issuer
                    .app
                    .url(&format!("/orders?username=alice&limit=1&nextToken={token}")),
            ),
        ),
        (
            "an order by key",
            client.get(issuer.app.url(&format!("/orders/{id}?customer_id=alice"))),
        ),
        (
            "a cancel",
            client
                .put(issuer.app.url(&format!("/orders/{id}")))
                .json(&json!({"username": "alice", "status": "CANCEL"})),
        ),
        (
            "a placement",
            client
                .post(issuer.app.url("/orders"))
                .json(&json!({"amount": 1, "numItems": 1, "username": "alice"})),
        ),
        (
            "an address edit",
            client
                .post(issuer.app.url("/edit-address"))
                .query(&[("username", "alice"), ("new_address", "1 Thief St")]),
        ),
        ("a deletion", client.delete(issuer.app.url("/users/alice"))),
    ];
    for (what, request) in forbidden {
        let (status, body) = issuer.send(&new, request).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{what}: {body}");
        assert_eq!(body["error"]["code"], "FORBIDDEN", "{what}");
        assert!(
            !body.to_string().contains("alice@example.com"),
            "{what} leaked: {body}"
        );
    }
    let (status, body) = issuer.get(&new, &format!("/orders/{id}")).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "by id alone, as for anyone's order: {body}"
    );
    let (status, body) = issuer
        .register("alice", "new-account", "new@example.com")
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("USERNAME_TAKEN"))
    );

    // The old account's data is as it was.
    let (status, profile) = issuer.get(&old, "/users/alice").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(profile["data"]["Email"], "alice@example.com");
    assert!(profile["data"].get("Address").is_none());
    let (status, order) = issuer.get(&old, &format!("/orders/{id}")).await;
    assert_eq!(
        (status, order["data"]["Status"].as_str()),
        (StatusCode::OK, Some("PLACED"))
    );
    let (_, listing) = issuer.get(&old, "/orders?username=alice").await;
    assert_eq!(
        listing["data"].as_array().unwrap().len(),
        4,
        "the profile and 3 orders"
    );
}

async fn an_unclaimed_profile_goes_to_exactly_one_account(engine: EngineKind) {
    let issuer = Issuer::start(engine).await;
    // An admin registers dave: no account is recorded for the profile.
    let root = issuer.access("root", &sub_of("root"), &["admin"]);
    let body = json!({"email": "dave@example.com", "name": "Dave", "username": "dave"});
    let (status, _) = issuer
        .send(
            &root,
            issuer
                .app
                .client
                .post(issuer.app.url("/add_user"))
                .json(&body),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, placed) = issuer.place(&root, "dave").await;
    let id = order_id(&placed);

    // Ten accounts named dave, each with an ID token proving the profile's
    // email, race to use it: one claims it.
    let tokens: Vec<String> = (0..10)
        .map(|i| {
            let claims = id_claims("dave", &format!("dave-{i}"), "Dave@Example.com");
            issuer.key.sign(&claims)
        })
        .collect();
    let tries = tokens.iter().map(|token| issuer.get(token, "/users/dave"));
    let answers: Vec<StatusCode> = futures_util::future::join_all(tries)
        .await
        .into_iter()
        .map(|(status, _)| status)
        .collect();
    let winners: Vec<usize> = (0..10).filter(|&i| answers[i] == StatusCode::OK).collect();
    assert_eq!(winners.len(), 1, "exactly one claim wins: {answers:?}");
    assert!(
        answers
            .iter()
            .all(|s| *s == StatusCode::OK || *s == StatusCode::FORBIDDEN),
        "{answers:?}"
    );
    let owner = &tokens[winners[0]];
    let other = &tokens[(winners[0] + 1) % 10];
    // The admin's order is the owner's now, and nobody else's.
    assert_eq!(
        issuer
            .get(owner, &format!("/orders/{id}?customer_id=dave"))
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        issuer
            .get(other, &format!("/orders/{id}?customer_id=dave"))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    let cancel = json!({"username": "dave", "status": "CANCEL"});
    let request = |token: &String| {
        bearer(
            issuer
                .app
                .client
                .put(issuer.app.url(&format!("/orders/{id}")))
                .json(&cancel),
            token,
        )
    };
    assert_eq!(
        status_and_code(request(other).send().await.unwrap()).await,
        (StatusCode::FORBIDDEN, "FORBIDDEN".to_owned())
    );
    assert_eq!(
        request(owner).send().await.unwrap().status(),
        StatusCode::OK
    );
}

async fn fulfilment_sees_only_what_shipping_needs(engine: EngineKind) {
    let issuer = Issuer::start(engine).await;
    issuer
        .register("alice", &sub_of("alice"), "alice@example.com")
        .await;
    let alice = issuer.key.sign(&claims("alice", &[]));
    let edit = issuer
        .app
        .client
        .post(issuer.app.url("/edit-address"))
        .query(&[("username", "alice"), ("new_address", "1 Queen St")]);
    assert_eq!(issuer.send(&alice, edit).await.0, StatusCode::OK);
    issuer.place(&alice, "alice").await;

    let packer = issuer.key.sign(&claims("packer", &["fulfilment"]));
    let (status, listing) = issuer.get(&packer, "/orders?username=alice").await;
    assert_eq!(status, StatusCode::OK);
    let recipient = listing["data"][0].as_object().expect("the customer first");
    let mut fields: Vec<&str> = recipient.keys().map(String::as_str).collect();
    fields.sort_unstable();
    assert_eq!(fields, ["Address", "Name", "Username"]);
    assert_eq!(recipient["Address"], "1 Queen St");
    assert!(listing["data"][1]["OrderId"].is_string());
    // The owner still sees the whole profile.
    let (_, own) = issuer.get(&alice, "/orders?username=alice").await;
    assert_eq!(own["data"][0]["Email"], "alice@example.com");
}

async fn idempotency_keys_of_two_callers_never_meet(engine: EngineKind) {
    let issuer = Issuer::start(engine).await;
    for user in ["alice", "bob"] {
        issuer
            .register(user, &sub_of(user), &format!("{user}@example.com"))
            .await;
    }
    let place = |user: &'static str| {
        let token = issuer.key.sign(&claims(user, &[]));
        let body = json!({"amount": 5.5, "numItems": 1, "username": user});
        let request = issuer
            .app
            .client
            .post(issuer.app.url("/orders"))
            .header("Idempotency-Key", "order-1");
        async move {
            let response = bearer(request.json(&body), &token).send().await.unwrap();
            let replayed = response.headers().contains_key("idempotent-replayed");
            let (status, body) = status_and_json(response).await;
            (status, replayed, body)
        }
    };
    let (status, replayed, alices) = place("alice").await;
    assert_eq!((status, replayed), (StatusCode::CREATED, false));
    let (status, replayed, bobs) = place("bob").await;
    assert_eq!(
        (status, replayed),
        (StatusCode::CREATED, false),
        "bob's key is his own: {bobs}"
    );
    assert_ne!(order_id(&alices), order_id(&bobs));
    let (status, replayed, again) = place("alice").await;
    assert_eq!((status, replayed), (StatusCode::CREATED, true));
    assert_eq!(order_id(&again), order_id(&alices));
}

async fn registration_needs_an_email_the_token_proves(engine: EngineKind) {
    let issuer = Issuer::start(engine).await;
    let register = |token: String, username: &str, email: &str| {
        let body = json!({"email": email, "name": "N", "username": username});
        issuer.send_owned(
            token,
            issuer
                .app
                .client
                .post(issuer.app.url("/add_user"))
                .json(&body),
        )
    };
    let verified = |username: &str, email: &str| {
        issuer
            .key
            .sign(&id_claims(username, &sub_of(username), email))
    };

    let (status, body) = register(
        verified("mallory", "mallory@example.com"),
        "mallory",
        "victim@example.com",
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("EMAIL_NOT_VERIFIED"))
    );
    let mut unverified = id_claims("mallory", &sub_of("mallory"), "mallory@example.com");
    unverified["email_verified"] = json!(false);
    let (status, _) = register(
        issuer.key.sign(&unverified),
        "mallory",
        "mallory@example.com",
    )
    .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "an unverified email proves nothing"
    );
    let (status, body) = register(
        issuer.key.sign(&claims("mallory", &[])),
        "mallory",
        "mallory@example.com",
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("EMAIL_NOT_VERIFIED")),
        "an access token carries no email"
    );
    // Nothing was reserved: the victim can still register the address.
    let (status, _) = register(
        verified("victim", "Victim@Example.com"),
        "victim",
        "victim@example.com",
    )
    .await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "the check ignores letter case, as the reservation does"
    );
    let (status, _) = register(
        issuer.key.sign(&claims("root", &["admin"])),
        "carol",
        "carol@example.com",
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "an admin registers anyone");
}

impl Issuer {
    async fn send_owned(&self, token: String, request: RequestBuilder) -> (StatusCode, Value) {
        self.send(&token, request).await
    }
}
