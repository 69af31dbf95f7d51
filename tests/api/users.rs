use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{EngineKind, error_code, spawn_app, status_and_code, status_and_json};
use crate::on_both_engines;

on_both_engines!(
    registers_a_user_with_the_seed_example,
    the_hyphenated_alias_and_trailing_slashes_work,
    a_taken_username_or_email_is_a_conflict,
    usernames_differing_only_in_case_cannot_coexist,
    registration_validates_every_field,
    name_and_address_lengths_count_the_spaces_sent_and_store_trimmed,
    fetches_a_user_or_404,
    edits_an_address_with_the_seed_example,
    editing_the_address_of_an_unknown_user_creates_nothing,
    deleting_a_user_frees_the_username_and_email_and_drops_the_orders,
);

async fn registers_a_user_with_the_seed_example(engine: EngineKind) {
    let app = spawn_app(engine).await;
    let body = json!({"email": "test111@example.com", "name": "Test Name", "username": "test111"});

    let (status, body) = status_and_json(app.post_json("/add_user/", &body).await).await;

    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(body["message"], "User test111 added successfully");
    assert_eq!(body["success"], true);
    let user = &body["data"];
    assert_eq!(user["PK"], "CUSTOMER#test111");
    assert_eq!(user["SK"], "CUSTOMER#test111");
    assert_eq!(user["Username"], "test111");
    assert_eq!(user["Email"], "test111@example.com");
    assert_eq!(user["Name"], "Test Name");
    assert!(
        user["CreatedAt"]
            .as_str()
            .is_some_and(|at| at.ends_with('Z'))
    );
    assert!(user.get("Address").is_none());
    assert!(user.get("GSI1PK").is_none());
}

async fn the_hyphenated_alias_and_trailing_slashes_work(engine: EngineKind) {
    let app = spawn_app(engine).await;
    let body = json!({"email": "ann@example.com", "name": "Ann", "username": "ann"});

    assert_eq!(
        app.post_json("/add-user/", &body).await.status(),
        StatusCode::CREATED
    );
    assert_eq!(app.get("/users/ann/").await.status(), StatusCode::OK);
    assert_eq!(app.get("/users/ann").await.status(), StatusCode::OK);
}

async fn a_taken_username_or_email_is_a_conflict(engine: EngineKind) {
    let app = spawn_app(engine).await;
    app.given_user("john").await;

    let (status, body) = status_and_json(app.add_user("john", "other@example.com").await).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(error_code(&body, status), "USERNAME_TAKEN");
    assert_eq!(
        body["error"]["details"]["conflicts"],
        json!(["USERNAME_TAKEN"])
    );

    let (status, body) = status_and_json(app.add_user("jane", "JOHN@Example.com").await).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(error_code(&body, status), "EMAIL_TAKEN");
    assert_eq!(
        body["error"]["details"]["conflicts"],
        json!(["EMAIL_TAKEN"])
    );

    let (status, body) = status_and_json(app.add_user("john", "john@example.com").await).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        body["error"]["details"]["conflicts"],
        json!(["USERNAME_TAKEN", "EMAIL_TAKEN"])
    );

    // The refused registrations wrote nothing: jane is still free.
    assert_eq!(
        status_and_code(app.get("/users/jane").await).await,
        (StatusCode::NOT_FOUND, "USER_NOT_FOUND".to_owned())
    );
}

async fn usernames_differing_only_in_case_cannot_coexist(engine: EngineKind) {
    let app = spawn_app(engine).await;
    app.given_user("John").await;

    let (status, body) = status_and_json(app.add_user("jOHN", "other@example.com").await).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(error_code(&body, status), "USERNAME_TAKEN");

    // Lookups ignore case too, and the registered spelling is kept.
    let (status, body) = status_and_json(app.get("/users/JOHN").await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["Username"], "John");
}

async fn registration_validates_every_field(engine: EngineKind) {
    let app = spawn_app(engine).await;
    let long_email = format!("{}@example.com", "a".repeat(250));
    let cases = [
        (
            json!({"email": "x@example.com", "name": "X", "username": "a#b"}),
            "username",
        ),
        (
            json!({"email": "x@example.com", "name": "X", "username": "x"}),
            "username",
        ),
        (json!({"email": "x@example.com", "name": "X"}), "username"),
        (
            json!({"email": "not-an-email", "name": "X", "username": "xx"}),
            "email",
        ),
        (
            json!({"email": long_email, "name": "X", "username": "xx"}),
            "email",
        ),
        (
            json!({"email": "x@example.com", "name": "   ", "username": "xx"}),
            "name",
        ),
        (
            json!({"email": "x@example.com", "name": "x".repeat(101), "username": "xx"}),
            "name",
        ),
        (
            json!({"email": "x@example.com", "name": 5, "username": "xx"}),
            "name",
        ),
    ];
    for (body, field) in cases {
        let (status, response) = status_and_json(app.post_json("/add_user", &body).await).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(error_code(&response, status), "VALIDATION_FAILED");
        assert_eq!(response["error"]["details"]["field"], field, "{body}");
    }
}

/// README, "Rules": lengths are counted as sent, spaces included, and the
/// stored value is trimmed.
async fn name_and_address_lengths_count_the_spaces_sent_and_store_trimmed(engine: EngineKind) {
    let app = spawn_app(engine).await;
    let padded = |text: &str| format!(" {text} ");

    let too_long =
        json!({"email": "a@example.com", "name": padded(&"n".repeat(99)), "username": "ann"});
    let (status, body) = status_and_json(app.post_json("/add_user", &too_long).await).await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "101 characters sent"
    );
    assert_eq!(body["error"]["details"]["field"], "name");

    let fits =
        json!({"email": "a@example.com", "name": padded(&"n".repeat(98)), "username": "ann"});
    let (status, body) = status_and_json(app.post_json("/add_user", &fits).await).await;
    assert_eq!(status, StatusCode::CREATED, "100 characters sent: {body}");
    assert_eq!(body["data"]["Name"], "n".repeat(98), "stored trimmed");

    let edit = |address: String| {
        app.client
            .post(app.url("/edit-address"))
            .query(&[("username", "ann"), ("new_address", address.as_str())])
            .send()
    };
    let (status, body) = status_and_json(edit(padded(&"a".repeat(299))).await.unwrap()).await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "301 characters sent"
    );
    assert_eq!(body["error"]["details"]["field"], "new_address");
    let (status, body) = status_and_json(edit(padded(&"a".repeat(298))).await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "300 characters sent: {body}");
    let (_, profile) = status_and_json(app.get("/users/ann").await).await;
    assert_eq!(
        profile["data"]["Address"],
        "a".repeat(298),
        "stored trimmed"
    );
}

async fn fetches_a_user_or_404(engine: EngineKind) {
    let app = spawn_app(engine).await;
    app.given_user("john").await;

    let (status, body) = status_and_json(app.get("/users/john").await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["success"], true);
    assert_eq!(body["data"]["Email"], "john@example.com");

    let (status, body) = status_and_json(app.get("/users/nobody").await).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error_code(&body, status), "USER_NOT_FOUND");

    // Any stored name is looked up as such (the replaced system took any),
    // and a separator in it names no other key.
    let (status, body) = status_and_json(app.get("/users/CUSTOMER%23john").await).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error_code(&body, status), "USER_NOT_FOUND");
}

async fn edits_an_address_with_the_seed_example(engine: EngineKind) {
    let app = spawn_app(engine).await;
    app.given_user("test111").await;

    let response = app
        .client
        .post(app.url("/edit-address?username=test111&new_address=124%20Street%20Akl%20NZ"))
        .header("accept", "application/json")
        .body("")
        .send()
        .await
        .unwrap();
    let (status, body) = status_and_json(response).await;

    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["Address"], "124 Street Akl NZ");
    let (_, stored) = status_and_json(app.get("/users/test111").await).await;
    assert_eq!(stored["data"]["Address"], "124 Street Akl NZ");
    assert_eq!(stored["data"]["Email"], "test111@example.com");
}

async fn editing_the_address_of_an_unknown_user_creates_nothing(engine: EngineKind) {
    let app = spawn_app(engine).await;

    let response = app
        .client
        .post(app.url("/edit-address?username=ghost&new_address=Nowhere"))
        .send()
        .await
        .unwrap();
    let (status, body) = status_and_json(response).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error_code(&body, status), "USER_NOT_FOUND");
    assert_eq!(
        status_and_code(app.get("/users/ghost").await).await,
        (StatusCode::NOT_FOUND, "USER_NOT_FOUND".to_owned())
    );
    // Registering the name still works: no partial item is in the way.
    app.given_user("ghost").await;

    let response = app
        .client
        .post(app.url("/edit-address?username=ghost"))
        .send()
        .await
        .unwrap();
    let (status, body) = status_and_json(response).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["details"]["field"], "new_address");
}

async fn deleting_a_user_frees_the_username_and_email_and_drops_the_orders(engine: EngineKind) {
    let app = spawn_app(engine).await;
    app.given_user("john").await;
    let old_order = app.given_order("john").await;
    app.given_order("john").await;

    let (status, body) = status_and_json(app.delete("/users/john").await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let not_found = |code: &str| (StatusCode::NOT_FOUND, code.to_owned());
    assert_eq!(
        status_and_code(app.get("/users/john").await).await,
        not_found("USER_NOT_FOUND")
    );
    assert_eq!(
        status_and_code(app.get(&format!("/orders/{old_order}")).await).await,
        not_found("ORDER_NOT_FOUND")
    );
    assert_eq!(
        status_and_code(app.delete("/users/john").await).await,
        not_found("USER_NOT_FOUND")
    );

    app.given_user("john").await;
    let (status, listing) = status_and_json(app.get("/orders?username=john").await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        listing["data"].as_array().unwrap().len(),
        1,
        "only the new profile: {listing}"
    );
}
