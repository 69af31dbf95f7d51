use reqwest::StatusCode;

use crate::helpers::{EngineKind, spawn_app};

const COMMITTED: &str = include_str!("../../openapi/openapi.json");

#[test]
fn the_committed_spec_matches_the_code() {
    let generated = ecommerce_service::http::openapi::spec_json();
    assert!(
        generated == COMMITTED,
        "openapi/openapi.json is stale: run `make openapi` and commit the result"
    );
}

#[tokio::test]
async fn serves_the_spec_and_swagger_ui() {
    let app = spawn_app(EngineKind::Embedded).await;

    let spec: serde_json::Value = app
        .get("/api-docs/openapi.json")
        .await
        .json()
        .await
        .unwrap();
    let mut committed: serde_json::Value = serde_json::from_str(COMMITTED).unwrap();
    // AUTH_MODE=off: the same document without the bearer requirement.
    assert!(!spec.to_string().contains("\"security\""));
    for operation in committed["paths"]
        .as_object_mut()
        .unwrap()
        .values_mut()
        .flat_map(|item| item.as_object_mut().unwrap().values_mut())
    {
        operation.as_object_mut().unwrap().remove("security");
    }
    committed["components"]
        .as_object_mut()
        .unwrap()
        .remove("securitySchemes");
    assert_eq!(spec, committed);
    for path in [
        "/add_user",
        "/users/{username}",
        "/edit-address",
        "/orders",
        "/orders/{order_id}",
    ] {
        assert!(spec["paths"].get(path).is_some(), "{path} is documented");
    }

    let page = app.get("/swagger-ui/").await;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("swagger-ui"));

    let no_redirects = crate::helpers::http_client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let redirect = no_redirects
        .get(app.url("/swagger-ui"))
        .send()
        .await
        .unwrap();
    assert!(redirect.status().is_redirection());
    assert_eq!(redirect.headers()["location"], "/swagger-ui/");
}
