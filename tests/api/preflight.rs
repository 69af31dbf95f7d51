//! The replaced system's table may lack what this service needs. `preflight`
//! names each thing with its fix and fails; a service started on such a
//! table says so on `/health/ready` and answers the routes that need a
//! missing index with a 503 that names it, never a 500.

use std::process::Command;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    StreamSpecification, StreamViewType,
};
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::process::{binary, start_with};
use crate::helpers::{dynamodb_endpoint, status_and_code, status_and_json, unique};

/// A table as the original's Terraform made it: its keys, a stream of
/// `view`, and nothing else (no GSI1, no GSI2, no TTL).
async fn original_table(view: StreamViewType) -> String {
    let sdk = crate::helpers::aws::sdk().await;
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    let name = unique("original");
    let key = |name: &str, kind| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .unwrap()
    };
    let string = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .unwrap()
    };
    client
        .create_table()
        .table_name(&name)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key("PK", KeyType::Hash))
        .key_schema(key("SK", KeyType::Range))
        .attribute_definitions(string("PK"))
        .attribute_definitions(string("SK"))
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(view)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("the original's table");
    name
}

fn preflight(settings: &[(&str, &str)]) -> (i32, String) {
    let output = Command::new(binary())
        .arg("preflight")
        .envs(settings.iter().copied())
        .env("AWS_ENDPOINT_URL_DYNAMODB", dynamodb_endpoint())
        .output()
        .expect("preflight runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    (output.status.code().unwrap_or(-1), stdout)
}

#[tokio::test]
async fn preflight_names_each_thing_the_table_lacks_with_its_fix_and_fails() {
    let table = original_table(StreamViewType::KeysOnly).await;
    let (code, out) = preflight(&[("STORE", "dynamodb"), ("TABLE_NAME", &table)]);
    assert_eq!(code, 1, "{out}");
    for expected in [
        "missing: GSI1 is missing",
        "missing: GSI2 is missing",
        "view type is KEYS_ONLY",
        "TTL is off",
        &format!("aws dynamodb update-table --table-name {table}"),
        &format!("aws dynamodb update-time-to-live --table-name {table}"),
        "4 thing(s) missing",
    ] {
        assert!(out.contains(expected), "{expected:?} in:\n{out}");
    }

    // The table the service creates for itself has everything.
    let own = unique("own");
    let created = Command::new(binary())
        .arg("preflight")
        .envs([
            ("STORE", "dynamodb"),
            ("TABLE_NAME", own.as_str()),
            ("CREATE_TABLE", "true"),
        ])
        .env("AWS_ENDPOINT_URL_DYNAMODB", dynamodb_endpoint())
        .output()
        .unwrap();
    assert_eq!(
        created.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&created.stdout)
    );
    // The embedded engine makes its own tables: nothing to check.
    let data_dir = tempfile::TempDir::new().unwrap();
    let (code, out) = preflight(&[
        ("STORE", "embedded"),
        ("DATA_DIR", data_dir.path().to_str().unwrap()),
    ]);
    assert_eq!(code, 0, "{out}");
}

#[tokio::test]
async fn a_service_on_a_table_without_its_indexes_is_not_ready_and_answers_503_not_500() {
    let table = original_table(StreamViewType::NewAndOldImages).await;
    let data_dir = tempfile::TempDir::new().unwrap();
    let endpoint = dynamodb_endpoint();
    let service = start_with(
        &data_dir,
        &[
            ("STORE", "dynamodb"),
            ("TABLE_NAME", &table),
            ("AWS_ENDPOINT_URL_DYNAMODB", &endpoint),
            ("NOTIFICATIONS_SOURCE", "off"),
        ],
    );
    let api = service.api();
    let (status, ready) = status_and_json(api.get("/health/ready").await).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{ready}");
    assert_eq!(ready["error"]["code"], "TABLE_NOT_READY");
    let problems = ready["error"]["details"]["problems"].to_string();
    assert!(
        problems.contains("GSI1") && problems.contains("GSI2"),
        "{problems}"
    );

    // The table alone serves what needs no index.
    api.given_user("john").await;
    let id = api.given_order("john").await;
    let (status, _) =
        status_and_json(api.get(&format!("/orders/{id}?customer_id=john")).await).await;
    assert_eq!(status, StatusCode::OK);
    let cancel = json!({"username": "john", "status": "CANCEL"});
    let moved = api.put_json(&format!("/orders/{id}"), &cancel).await;
    assert_eq!(moved.status(), StatusCode::OK);
    // What needs an index is a 503 that names it.
    let not_ready = (
        StatusCode::SERVICE_UNAVAILABLE,
        "INDEX_NOT_READY".to_owned(),
    );
    assert_eq!(
        status_and_code(api.get(&format!("/orders/{id}")).await).await,
        not_ready,
        "by id alone reads GSI1"
    );
    assert_eq!(
        status_and_code(api.get("/orders?status=PLACED").await).await,
        not_ready,
        "the work queue reads GSI2"
    );
}
