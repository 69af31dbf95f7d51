//! The real binary as an operator runs it: configuration errors, signals,
//! and data that outlives the process.

use std::process::Command;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use tempfile::TempDir;

use crate::helpers::process::{Running, binary, start, start_with};
use crate::helpers::status_and_json;

#[tokio::test]
async fn sigterm_exits_zero_and_the_data_survives_a_restart() {
    let data_dir = TempDir::new().unwrap();

    let first = start(&data_dir);
    let response = first.api().add_user("john", "john@example.com").await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let order = serde_json::json!({"amount": 19.99, "numItems": 2, "username": "john"});
    let (status, placed) = status_and_json(first.api().post_json("/orders", &order).await).await;
    assert_eq!(status, StatusCode::CREATED);
    let exit = first.terminate();
    assert_eq!(exit.code(), Some(0), "SIGTERM is a clean stop");

    let second = start(&data_dir);
    let (status, listing) = status_and_json(second.api().get("/orders?username=john").await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listing["data"][0]["Email"], "john@example.com");
    assert_eq!(listing["data"][1]["OrderId"], placed["data"]["OrderId"]);
    assert_eq!(listing["data"][1]["Amount"].to_string(), "19.99");
    assert_eq!(second.terminate().code(), Some(0));
}

/// Once it says "listening", a SIGTERM stops it gracefully: the handlers
/// are in place before the line is written, never a moment after.
#[test]
fn a_sigterm_straight_after_listening_is_graceful() {
    for _ in 0..20 {
        let data_dir = TempDir::new().unwrap();
        let service = start(&data_dir);
        assert_eq!(service.terminate().code(), Some(0));
    }
}

#[test]
fn a_bad_setting_stops_start_up_with_one_clear_line() {
    let output = Command::new(binary())
        .env("PORT", "eighty")
        .output()
        .expect("the binary runs");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("PORT=\"eighty\""), "{stderr}");
}

#[tokio::test]
async fn the_healthcheck_subcommand_reports_the_service_state() {
    let data_dir = TempDir::new().unwrap();
    let running = start(&data_dir);
    let port = running.address.rsplit(':').next().unwrap().to_owned();

    let healthy = Command::new(binary())
        .arg("healthcheck")
        .env("PORT", &port)
        .status()
        .unwrap();
    assert!(healthy.success());

    assert_eq!(running.terminate().code(), Some(0));
    let after = Command::new(binary())
        .arg("healthcheck")
        .env("PORT", &port)
        .output()
        .unwrap();
    assert_eq!(after.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&after.stderr).contains("unhealthy"));
}

#[tokio::test]
async fn an_unreachable_dynamodb_is_a_503_with_retry_after_and_not_ready() {
    // Port 1 (tcpmux) is privileged and unused: connections are refused,
    // and no other test or process can take it in the meantime.
    let endpoint = "http://127.0.0.1:1";
    let data_dir = TempDir::new().unwrap();
    let running = start_with(
        &data_dir,
        &[
            ("STORE", "dynamodb"),
            ("AWS_ENDPOINT_URL_DYNAMODB", endpoint),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ],
    );
    let api = running.api();

    for path in ["/users/john", "/health/ready"] {
        let started = std::time::Instant::now();
        let response = api
            .get_with_request_id(path, &format!("unreachable{path}"))
            .await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE, "{path}");
        assert_eq!(response.headers()["retry-after"], "1");
        let (_, body) = status_and_json(response).await;
        assert_eq!(body["error"]["code"], "SERVICE_UNAVAILABLE");
        assert!(
            !body.to_string().contains("127.0.0.1"),
            "no internals leak: {body}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{path} answered within the SDK budget"
        );
    }
    let missing = api
        .get_with_request_id("/no/such/route", "unreachable-404")
        .await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);

    let (status, log) = running.terminate_and_read_log();
    assert_eq!(status.code(), Some(0));
    // The alarm counts ERROR lines: one per failed request, none for a 404.
    let errors_of = |request_id: &str| {
        log.iter()
            .filter(|line| line["level"] == "ERROR" && line["span"]["request_id"] == request_id)
            .count()
    };
    assert_eq!(errors_of("unreachable/users/john"), 1, "{log:#?}");
    assert_eq!(errors_of("unreachable-404"), 0);
    let failed = log
        .iter()
        .find(|line| {
            line["level"] == "ERROR" && line["span"]["request_id"] == "unreachable/users/john"
        })
        .unwrap();
    assert!(
        failed["error"]
            .as_str()
            .is_some_and(|error| error.contains("unavailable")),
        "logged with its cause chain: {failed}"
    );
}

/// Registers john (if he is not yet) and places an order for him.
async fn place_order(running: &Running) -> String {
    let api = running.api();
    api.add_user("john", "john@example.com").await;
    api.given_order("john").await
}

fn is_event_for(order: &str) -> impl Fn(&Value) -> bool + '_ {
    move |line| line["message"] == "order event" && line["order_id"] == order
}

#[tokio::test]
async fn the_embedded_default_logs_an_event_per_placed_order() {
    let data_dir = TempDir::new().unwrap();
    let running = start(&data_dir);

    let order = place_order(&running).await;

    let event = running.wait_for_log(is_event_for(&order));
    assert_eq!(event["event_type"], "OrderPlaced");
    let payload: Value = serde_json::from_str(event["payload"].as_str().unwrap()).unwrap();
    assert_eq!(payload["version"], 1, "{payload}");
    let payload: Value = serde_json::from_str(event["payload"].as_str().unwrap()).unwrap();
    assert_eq!(payload["username"], "john");
    assert!(
        !event.to_string().contains("john@example.com"),
        "no personal data in the event log line"
    );
    assert_eq!(running.terminate().code(), Some(0));
}

#[tokio::test]
async fn a_change_not_yet_published_is_published_after_a_restart() {
    let data_dir = TempDir::new().unwrap();
    // SNS refuses every connection: the change stays in the feed.
    let failing = start_with(
        &data_dir,
        &[
            ("NOTIFICATIONS_PUBLISHER", "aws"),
            (
                "ORDER_TOPIC_ARN",
                "arn:aws:sns:us-east-1:123456789012:unreachable",
            ),
            ("AWS_ENDPOINT_URL_SNS", "http://127.0.0.1:1"),
            ("AWS_ENDPOINT_URL_EVENTBRIDGE", "http://127.0.0.1:1"),
        ],
    );
    let order = place_order(&failing).await;
    failing.wait_for_log(|event| event["message"] == "order changes not published; retrying");
    assert_eq!(failing.terminate().code(), Some(0));

    let restarted = start(&data_dir);

    let event = restarted.wait_for_log(is_event_for(&order));
    assert_eq!(event["event_type"], "OrderPlaced");
    assert_eq!(restarted.terminate().code(), Some(0));
}

/// With notifications off the embedded engine records no changes (nothing
/// would ever read or forget them): turning them on later publishes what
/// happens from then on, not a backlog.
#[tokio::test]
async fn with_notifications_off_no_change_is_recorded() {
    let data_dir = TempDir::new().unwrap();
    let off = start_with(&data_dir, &[("NOTIFICATIONS_SOURCE", "off")]);
    let unrecorded = place_order(&off).await;
    assert_eq!(off.terminate().code(), Some(0));

    let on = start(&data_dir);
    let recorded = place_order(&on).await;
    // The feed publishes in order: the first order's event would come first.
    let first_event = on.wait_for_log(|event| event["message"] == "order event");
    assert_eq!(
        first_event["order_id"],
        recorded.as_str(),
        "{unrecorded} was not recorded"
    );
    assert_eq!(on.terminate().code(), Some(0));
}

#[tokio::test]
async fn each_request_ends_with_one_line_naming_its_route_status_and_latency() {
    let data_dir = TempDir::new().unwrap();
    let running = start(&data_dir);
    let response = running
        .api()
        .get_with_request_id("/users/nobody-here", "trace-me-1")
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);

    let finished = running.wait_for_log(|event| event["message"] == "request finished");
    assert_eq!(finished["level"], "INFO", "a client's 404 is not an error");
    assert_eq!(finished["http.status_code"], 404);
    assert!(finished["latency_us"].as_u64().is_some(), "{finished}");
    assert_eq!(finished["span"]["http.route"], "/users/{username}");
    assert_eq!(finished["span"]["request_id"], "trace-me-1");
    assert!(
        !finished.to_string().contains("nobody-here"),
        "the raw path is not logged: {finished}"
    );
}
