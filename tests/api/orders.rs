use std::collections::HashSet;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{EngineKind, error_code, spawn_app, status_and_json};
use crate::on_both_engines;

on_both_engines!(
    places_an_order_with_the_seed_example,
    amounts_stay_exact_decimals,
    an_order_needs_an_existing_user,
    order_fields_are_validated,
    lists_the_customer_then_orders_newest_first,
    pages_through_every_order_exactly_once,
    a_page_holds_20_orders_by_default,
    listing_rejects_forged_tokens_and_unknown_users,
    fetches_an_order_with_or_without_its_customer,
    moves_an_order_through_its_life_cycle,
    refuses_moves_the_life_cycle_forbids,
);

async fn places_an_order_with_the_seed_example(engine: EngineKind) {
    let app = spawn_app(engine).await;
    app.given_user("john").await;

    let (status, body) = status_and_json(
        app.post_json(
            "/orders/",
            &json!({"amount": 5.5, "numItems": 2, "username": "john"}),
        )
        .await,
    )
    .await;

    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(body["message"], "Order placed successfully");
    assert_eq!(body["success"], true);
    let order = &body["data"];
    let id = order["OrderId"].as_str().unwrap();
    assert!(ulid::Ulid::from_string(id).is_ok(), "{id} is a ULID");
    assert_eq!(order["PK"], "CUSTOMER#john");
    assert_eq!(order["SK"], format!("#ORDER#{id}"));
    assert_eq!(order["Status"], "PLACED");
    assert_eq!(order["Amount"].to_string(), "5.5");
    assert_eq!(order["NumberItems"], 2);
    assert!(order["CreatedAt"].is_string());
    assert!(order.get("GSI1PK").is_none() && order.get("UpdatedAt").is_none());
}

async fn amounts_stay_exact_decimals(engine: EngineKind) {
    let app = spawn_app(engine).await;
    app.given_user("john").await;

    for (sent, stored) in [
        ("19.99", "19.99"),
        ("0.1", "0.1"),
        ("1e2", "100"),
        ("999999.9999", "999999.9999"),
    ] {
        let (status, body) = status_and_json(app.place_order("john", sent, 1).await).await;
        assert_eq!(status, StatusCode::CREATED, "{sent}: {body}");
        assert_eq!(body["data"]["Amount"].to_string(), stored);
        let id = body["data"]["OrderId"].as_str().unwrap();
        let (_, fetched) =
            status_and_json(app.get(&format!("/orders/{id}?customer_id=john")).await).await;
        assert_eq!(
            fetched["data"]["Amount"].to_string(),
            stored,
            "{sent} read back"
        );
    }
}

async fn an_order_needs_an_existing_user(engine: EngineKind) {
    let app = spawn_app(engine).await;

    let (status, body) = status_and_json(app.place_order("nobody", "5.5", 2).await).await;

    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error_code(&body, status), "USER_NOT_FOUND");
}

async fn order_fields_are_validated(engine: EngineKind) {
    let app = spawn_app(engine).await;
    app.given_user("john").await;
    let cases = [
        (
            r#"{"amount": 0, "numItems": 2, "username": "john"}"#,
            "amount",
        ),
        (
            r#"{"amount": -0, "numItems": 2, "username": "john"}"#,
            "amount",
        ),
        (
            r#"{"amount": -5, "numItems": 2, "username": "john"}"#,
            "amount",
        ),
        (
            r#"{"amount": 1e400, "numItems": 2, "username": "john"}"#,
            "amount",
        ),
        (
            r#"{"amount": 1000000.01, "numItems": 2, "username": "john"}"#,
            "amount",
        ),
        (
            r#"{"amount": "5.5", "numItems": 2, "username": "john"}"#,
            "amount",
        ),
        (r#"{"numItems": 2, "username": "john"}"#, "amount"),
        (
            r#"{"amount": 5.5, "numItems": 0, "username": "john"}"#,
            "numItems",
        ),
        (
            r#"{"amount": 5.5, "numItems": 2.5, "username": "john"}"#,
            "numItems",
        ),
        (
            r#"{"amount": 5.5, "numItems": 10001, "username": "john"}"#,
            "numItems",
        ),
        (
            r#"{"amount": 5.5, "numItems": 2, "username": ""}"#,
            "username",
        ),
    ];
    for (body, field) in cases {
        let response = app
            .client
            .post(app.url("/orders"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let (status, response) = status_and_json(response).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {response}"
        );
        assert_eq!(response["error"]["details"]["field"], field, "{body}");
    }
    // The boundaries themselves are valid: one item, and the seed's example.
    assert_eq!(
        app.place_order("john", "1000000", 1).await.status(),
        StatusCode::CREATED
    );
    assert_eq!(
        app.place_order("john", "0.0001", 10000).await.status(),
        StatusCode::CREATED
    );
}

async fn lists_the_customer_then_orders_newest_first(engine: EngineKind) {
    let app = spawn_app(engine).await;
    app.given_user("john").await;
    let first = app.given_order("john").await;
    let second = app.given_order("john").await;

    let (status, body) = status_and_json(app.get("/orders/?username=john").await).await;

    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["message"], "orders fetched successfully");
    let data = body["data"].as_array().unwrap();
    assert_eq!(data.len(), 3);
    assert_eq!(data[0]["SK"], "CUSTOMER#john");
    assert_eq!(data[0]["Email"], "john@example.com");
    assert_eq!(data[1]["OrderId"], second.as_str());
    assert_eq!(data[2]["OrderId"], first.as_str());
    assert!(body.get("nextToken").is_none());
}

async fn pages_through_every_order_exactly_once(engine: EngineKind) {
    let app = spawn_app(engine).await;
    app.given_user("john").await;
    let mut placed = Vec::new();
    for _ in 0..5 {
        placed.push(app.given_order("john").await);
    }

    let mut listed: Vec<Value> = Vec::new();
    let mut path = "/orders?username=john&limit=2".to_owned();
    let mut pages = 0;
    loop {
        let (status, body) = status_and_json(app.get(&path).await).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        pages += 1;
        listed.extend(body["data"].as_array().unwrap().iter().cloned());
        match body["nextToken"].as_str() {
            Some(token) => path = format!("/orders?username=john&limit=2&nextToken={token}"),
            None => break,
        }
    }

    assert_eq!(pages, 3, "2 + 2 + 1 orders, no empty trailing page");
    assert_eq!(listed[0]["SK"], "CUSTOMER#john");
    let ids: Vec<&str> = listed[1..]
        .iter()
        .map(|o| o["OrderId"].as_str().unwrap())
        .collect();
    placed.reverse();
    assert_eq!(ids, placed.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 5);
}

/// README, "Listing pages": without `limit`, a page holds 20 orders (the
/// first page opens with the profile besides).
async fn a_page_holds_20_orders_by_default(engine: EngineKind) {
    let app = spawn_app(engine).await;
    app.given_user("john").await;
    for _ in 0..21 {
        app.given_order("john").await;
    }

    let (status, first) = status_and_json(app.get("/orders?username=john").await).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let entries = first["data"].as_array().unwrap();
    assert_eq!(entries[0]["SK"], "CUSTOMER#john");
    assert_eq!(entries.len(), 1 + 20);
    let token = first["nextToken"].as_str().expect("a second page");
    let (_, second) = status_and_json(
        app.get(&format!("/orders?username=john&nextToken={token}"))
            .await,
    )
    .await;
    assert_eq!(second["data"].as_array().unwrap().len(), 1);
    assert!(second.get("nextToken").is_none(), "{second}");
}

async fn listing_rejects_forged_tokens_and_unknown_users(engine: EngineKind) {
    let app = spawn_app(engine).await;
    app.given_user("john").await;

    for token in ["garbage", "AQ", "%00%01", "AQGiFE_UChI0a267BFis7Ow_extra"] {
        let (status, body) = status_and_json(
            app.get(&format!("/orders?username=john&nextToken={token}"))
                .await,
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{token}");
        assert_eq!(error_code(&body, status), "INVALID_PAGE_TOKEN");
    }
    for limit in ["0", "101", "ten", "-1"] {
        let (status, body) = status_and_json(
            app.get(&format!("/orders?username=john&limit={limit}"))
                .await,
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{limit}");
        assert_eq!(body["error"]["details"]["field"], "limit");
    }
    let (status, body) = status_and_json(app.get("/orders?username=nobody").await).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error_code(&body, status), "USER_NOT_FOUND");
    let (status, body) = status_and_json(app.get("/orders").await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["details"]["field"], "username");
}

async fn fetches_an_order_with_or_without_its_customer(engine: EngineKind) {
    let app = spawn_app(engine).await;
    app.given_user("john").await;
    let id = app.given_order("john").await;

    for path in [
        format!("/orders/{id}?customer_id=john"),
        format!("/orders/{id}"),
    ] {
        let (status, body) = status_and_json(app.get(&path).await).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(body["message"], "Order fetched successfully");
        assert_eq!(body["status"], 200);
        assert_eq!(body["data"]["OrderId"], id.as_str());
        assert_eq!(body["data"]["PK"], "CUSTOMER#john");
    }

    let unknown = ulid::Ulid::generate().to_string();
    for path in [
        format!("/orders/{unknown}"),
        format!("/orders/{unknown}?customer_id=john"),
        format!("/orders/{id}?customer_id=jane"),
        "/orders/2UJuYiRSoBMgAiXg7jBp0V0UqxU".to_owned(),
    ] {
        let (status, body) = status_and_json(app.get(&path).await).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(body["message"], "Order not found");
        assert_eq!(body["success"], false);
        assert_eq!(body["status"], 404);
        assert_eq!(body["error"]["code"], "ORDER_NOT_FOUND");
    }
}

async fn moves_an_order_through_its_life_cycle(engine: EngineKind) {
    let app = spawn_app(engine).await;
    app.given_user("john").await;
    let id = app.given_order("john").await;

    for status in ["PROCESSING", "SHIPPED", "DELIVERED"] {
        let (code, body) = status_and_json(
            app.put_json(
                &format!("/orders/{id}"),
                &json!({"username": "john", "status": status}),
            )
            .await,
        )
        .await;
        assert_eq!(code, StatusCode::OK, "{status}: {body}");
        assert_eq!(body["message"], "Order updated successfully");
        assert_eq!(body["data"]["Status"], status);
        assert!(body["data"]["UpdatedAt"].is_string());
        assert_eq!(body["data"]["Amount"].to_string(), "5.5");
    }
    let (_, fetched) = status_and_json(app.get(&format!("/orders/{id}")).await).await;
    assert_eq!(fetched["data"]["Status"], "DELIVERED");

    // The seed's example cancels a fresh order.
    let fresh = app.given_order("john").await;
    let (code, body) = status_and_json(
        app.put_json(
            &format!("/orders/{fresh}/"),
            &json!({"username": "john", "status": "CANCEL"}),
        )
        .await,
    )
    .await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(body["data"]["Status"], "CANCEL");
}

async fn refuses_moves_the_life_cycle_forbids(engine: EngineKind) {
    let app = spawn_app(engine).await;
    app.given_user("john").await;
    let id = app.given_order("john").await;
    let path = format!("/orders/{id}");
    let update = |status: &str| json!({"username": "john", "status": status});

    let (code, body) = status_and_json(app.put_json(&path, &update("DELIVERED")).await).await;
    assert_eq!(code, StatusCode::CONFLICT);
    assert_eq!(error_code(&body, code), "INVALID_STATUS_TRANSITION");
    assert_eq!(
        body["error"]["details"],
        json!({"from": "PLACED", "to": "DELIVERED"})
    );

    let (code, body) = status_and_json(app.put_json(&path, &update("PLACED")).await).await;
    assert_eq!(code, StatusCode::OK, "a move to the current status: {body}");
    assert_eq!(body["data"]["Status"], "PLACED");
    assert!(body["data"].get("UpdatedAt").is_none(), "nothing changed");

    let (code, body) = status_and_json(app.put_json(&path, &update("LOST")).await).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["details"]["field"], "status");

    let (code, cancelled) = status_and_json(app.put_json(&path, &update("CANCEL")).await).await;
    assert_eq!(code, StatusCode::OK);
    // A retried move (the first one succeeded) answers the order as it is.
    let (code, again) = status_and_json(app.put_json(&path, &update("CANCEL")).await).await;
    assert_eq!(code, StatusCode::OK, "{again}");
    assert_eq!(
        again["data"], cancelled["data"],
        "unchanged, UpdatedAt included"
    );
    let (code, body) = status_and_json(app.put_json(&path, &update("PROCESSING")).await).await;
    assert_eq!(code, StatusCode::CONFLICT, "CANCEL is final");
    assert_eq!(body["error"]["details"]["from"], "CANCEL");

    let unknown = ulid::Ulid::generate().to_string();
    let (code, body) = status_and_json(
        app.put_json(&format!("/orders/{unknown}"), &update("CANCEL"))
            .await,
    )
    .await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    assert_eq!(error_code(&body, code), "ORDER_NOT_FOUND");
    let (code, _) = status_and_json(
        app.put_json(&path, &json!({"username": "jane", "status": "CANCEL"}))
            .await,
    )
    .await;
    assert_eq!(
        code,
        StatusCode::NOT_FOUND,
        "another user's partition has no such order"
    );
    let (_, fetched) = status_and_json(app.get(&path).await).await;
    assert_eq!(
        fetched["data"]["Status"], "CANCEL",
        "refused moves changed nothing"
    );
}
