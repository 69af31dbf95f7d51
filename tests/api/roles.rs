//! What each role may do on every protected route: the user themselves,
//! another customer, an admin, and fulfilment; and what needs no token.

use reqwest::{RequestBuilder, StatusCode};
use serde_json::{Value, json};

use crate::helpers::jwt::{Jwks, SigningKey, bearer, claims, id_claims, spawn_with_jwks, sub_of};
use crate::helpers::{TestApp, error_code};

/// alice and bob are customers; root is an admin; packer is fulfilment.
/// Each has an access token; alice and bob registered with ID tokens.
struct World {
    app: TestApp,
    tokens: std::collections::HashMap<&'static str, String>,
}

impl World {
    async fn new() -> Self {
        let key = SigningKey::generate("key-1");
        let jwks = Jwks::serve(vec![key.jwk()]).await;
        let app = spawn_with_jwks(&jwks).await;
        let tokens = [
            ("alice", key.sign(&claims("alice", &[]))),
            ("bob", key.sign(&claims("bob", &[]))),
            ("root", key.sign(&claims("root", &["admin"]))),
            ("packer", key.sign(&claims("packer", &["fulfilment"]))),
            ("carol", key.sign(&claims("carol", &[]))),
        ]
        .into_iter()
        .collect();
        let world = Self { app, tokens };
        for user in ["alice", "bob"] {
            let id_token = key.sign(&id_claims(
                user,
                &sub_of(user),
                &format!("{user}@example.com"),
            ));
            let body =
                json!({"email": format!("{user}@example.com"), "name": "N", "username": user});
            let request = world
                .app
                .client
                .post(world.app.url("/add_user"))
                .json(&body);
            let response = bearer(request, &id_token).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::CREATED);
        }
        world
    }

    fn as_(&self, who: &str, request: RequestBuilder) -> RequestBuilder {
        bearer(request, &self.tokens[who])
    }

    /// Sends as `who`. Every refusal in this file is about the role, so
    /// each 403 must say `FORBIDDEN` in the error shape.
    async fn send(&self, who: &str, request: RequestBuilder) -> (StatusCode, Value) {
        let response = self.as_(who, request).send().await.unwrap();
        let status = response.status();
        let body = response.json().await.unwrap_or(Value::Null);
        if status == StatusCode::FORBIDDEN {
            assert_eq!(error_code(&body, status), "FORBIDDEN", "as {who}: {body}");
        }
        (status, body)
    }

    async fn add_user(&self, who: &str, username: &str) -> (StatusCode, Value) {
        let body =
            json!({"email": format!("{username}@example.com"), "name": "N", "username": username});
        self.send(
            who,
            self.app.client.post(self.app.url("/add_user")).json(&body),
        )
        .await
    }

    async fn place_order(&self, who: &str, username: &str) -> (StatusCode, Value) {
        let body = json!({"amount": 5.5, "numItems": 1, "username": username});
        self.send(
            who,
            self.app.client.post(self.app.url("/orders")).json(&body),
        )
        .await
    }

    async fn alices_order(&self) -> String {
        let (status, body) = self.place_order("alice", "alice").await;
        assert_eq!(status, StatusCode::CREATED);
        body["data"]["OrderId"].as_str().unwrap().to_owned()
    }

    async fn get(&self, who: &str, path: &str) -> StatusCode {
        self.send(who, self.app.client.get(self.app.url(path)))
            .await
            .0
    }

    async fn move_order(&self, who: &str, id: &str, status: &str) -> StatusCode {
        let body = json!({"username": "alice", "status": status});
        let request = self
            .app
            .client
            .put(self.app.url(&format!("/orders/{id}")))
            .json(&body);
        self.send(who, request).await.0
    }
}

const OWN_OTHER_ADMIN_FULFILMENT: [&str; 4] = ["alice", "bob", "root", "packer"];

#[tokio::test]
async fn profiles_belong_to_their_user_and_admins() {
    let world = World::new().await;
    // Registering: only oneself, or anyone by an admin.
    assert_eq!(
        world.add_user("bob", "carol").await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        world.add_user("packer", "carol").await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(world.add_user("root", "carol").await.0, StatusCode::CREATED);

    let expected = [
        StatusCode::OK,
        StatusCode::FORBIDDEN,
        StatusCode::OK,
        StatusCode::FORBIDDEN,
    ];
    for (who, wanted) in OWN_OTHER_ADMIN_FULFILMENT.iter().zip(expected) {
        assert_eq!(
            world.get(who, "/users/alice").await,
            wanted,
            "GET profile as {who}"
        );
        let edit = world
            .app
            .client
            .post(world.app.url("/edit-address"))
            .query(&[("username", "alice"), ("new_address", "1 Queen St")]);
        assert_eq!(
            world.send(who, edit).await.0,
            wanted,
            "edit address as {who}"
        );
    }
    // A forbidden lookup does not tell whether the user exists.
    assert_eq!(
        world.get("bob", "/users/nobody").await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        world.get("bob", "/users/alice").await,
        StatusCode::FORBIDDEN
    );

    let delete = |who: &'static str, user: &str| {
        let request = world
            .app
            .client
            .delete(world.app.url(&format!("/users/{user}")));
        world.send(who, request)
    };
    assert_eq!(delete("bob", "alice").await.0, StatusCode::FORBIDDEN);
    assert_eq!(delete("packer", "alice").await.0, StatusCode::FORBIDDEN);
    assert_eq!(delete("root", "carol").await.0, StatusCode::OK);
    assert_eq!(delete("alice", "alice").await.0, StatusCode::OK);
}

#[tokio::test]
async fn orders_are_read_by_their_owner_fulfilment_and_admins() {
    let world = World::new().await;
    let expected = [
        StatusCode::CREATED,
        StatusCode::FORBIDDEN,
        StatusCode::CREATED,
        StatusCode::FORBIDDEN,
    ];
    for (who, wanted) in OWN_OTHER_ADMIN_FULFILMENT.iter().zip(expected) {
        assert_eq!(
            world.place_order(who, "alice").await.0,
            wanted,
            "place for alice as {who}"
        );
    }
    let id = world.alices_order().await;
    let expected = [
        StatusCode::OK,
        StatusCode::FORBIDDEN,
        StatusCode::OK,
        StatusCode::OK,
    ];
    for (who, wanted) in OWN_OTHER_ADMIN_FULFILMENT.iter().zip(expected) {
        assert_eq!(
            world.get(who, "/orders?username=alice").await,
            wanted,
            "list as {who}"
        );
        let path = format!("/orders/{id}?customer_id=alice");
        assert_eq!(world.get(who, &path).await, wanted, "get order as {who}");
    }
    // By id alone, someone else's order is simply not there for bob.
    assert_eq!(
        world.get("bob", &format!("/orders/{id}")).await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        world.get("alice", &format!("/orders/{id}")).await,
        StatusCode::OK
    );
}

/// The work queue holds every customer's orders: staff only. A customer
/// is refused even with only their own orders in it.
#[tokio::test]
async fn status_queues_are_read_by_fulfilment_and_admins_only() {
    let world = World::new().await;
    let id = world.alices_order().await;
    for who in ["alice", "bob"] {
        assert_eq!(
            world.get(who, "/orders?status=PLACED").await,
            StatusCode::FORBIDDEN,
            "{who}"
        );
    }
    for who in ["root", "packer"] {
        let (status, body) = world
            .send(
                who,
                world.app.client.get(world.app.url("/orders?status=PLACED")),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{who}: {body}");
        assert_eq!(body["data"][0]["OrderId"], id.as_str(), "{who}");
    }
}

#[tokio::test]
async fn customers_may_only_cancel_their_own_orders() {
    let world = World::new().await;
    let id = world.alices_order().await;
    assert_eq!(
        world.move_order("alice", &id, "PROCESSING").await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        world.move_order("bob", &id, "CANCEL").await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        world.move_order("packer", &id, "PROCESSING").await,
        StatusCode::OK
    );
    assert_eq!(
        world.move_order("root", &id, "SHIPPED").await,
        StatusCode::OK
    );
    assert_eq!(
        world.move_order("bob", &id, "DELIVERED").await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        world.move_order("packer", &id, "DELIVERED").await,
        StatusCode::OK
    );

    let second = world.alices_order().await;
    assert_eq!(
        world.move_order("alice", &second, "CANCEL").await,
        StatusCode::OK
    );
    let third = world.alices_order().await;
    assert_eq!(
        world.move_order("packer", &third, "CANCEL").await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn probes_and_docs_need_no_token() {
    let world = World::new().await;
    for path in [
        "/",
        "/health/live",
        "/health/ready",
        "/api-docs/openapi.json",
        "/swagger-ui/",
    ] {
        let response = world.app.get(path).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
    }
    for path in ["/users/alice", "/orders?username=alice"] {
        assert_eq!(
            world.app.get(path).await.status(),
            StatusCode::UNAUTHORIZED,
            "{path}"
        );
    }
}

#[tokio::test]
async fn the_served_document_asks_for_a_bearer_token_in_jwt_mode() {
    let world = World::new().await;
    let served: Value = world
        .app
        .get("/api-docs/openapi.json")
        .await
        .json()
        .await
        .unwrap();
    let committed: Value =
        serde_json::from_str(include_str!("../../openapi/openapi.json")).unwrap();
    assert_eq!(served, committed);
    assert_eq!(
        served["paths"]["/orders"]["post"]["security"],
        serde_json::json!([{"bearer": []}])
    );
}

/// An order the replaced system left in a status of its own: its customer
/// sees it as stored but cannot move it (which move would be right is
/// unknown); staff put it back into the state machine.
#[tokio::test]
async fn only_staff_move_an_order_out_of_a_status_the_replaced_system_wrote() {
    let world = World::new().await;
    let id = "2UJT4m2UkBAWG7DHDLfkXxbMN0C";
    let s = |value: &str| json!({ "S": value });
    world
        .app
        .store
        .put_raw_items(&[
            // Bound to her account already (claims: tests/api/legacy/claims.rs).
            json!({"PK": s("CUSTOMER#carol"), "SK": s("CUSTOMER#carol"), "Username": s("carol"),
                   "Name": s("carol smith"), "Email": s("carol@example.com"),
                   "Sub": s(&crate::helpers::jwt::sub_of("carol"))}),
            json!({"PK": s("CUSTOMER#carol"), "SK": s(&format!("#ORDER#{id}")), "OrderId": s(id),
                   "Status": s("Returned"), "Amount": {"N": "5"}, "NumberItems": {"N": "1"},
                   "CreatedAt": s("2023-08-21T22:21:34.811747")}),
        ])
        .await
        .unwrap();
    let path = format!("/orders/{id}?customer_id=carol");
    let request = world.app.client.get(world.app.url(&path));
    let (status, order) = world.send("carol", request).await;
    assert_eq!(status, StatusCode::OK, "{order}");
    assert_eq!(order["data"]["Status"], "Returned");
    let put = |status: &str| {
        let body = json!({"username": "carol", "status": status});
        world
            .app
            .client
            .put(world.app.url(&format!("/orders/{id}")))
            .json(&body)
    };
    let (status, refused) = world.send("carol", put("CANCEL")).await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    assert_eq!(error_code(&refused, status), "INVALID_STATUS_TRANSITION");
    assert_eq!(refused["error"]["details"]["from"], "Returned");
    let (status, repaired) = world.send("packer", put("DELIVERED")).await;
    assert_eq!(status, StatusCode::OK, "{repaired}");
    assert_eq!(repaired["data"]["Status"], "DELIVERED");
}
