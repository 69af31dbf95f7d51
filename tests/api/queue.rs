//! The fulfilment work queue, `GET /orders?status=`: orders of every
//! customer in one status, oldest in the status first, paged exactly once
//! while orders keep arriving and moving.
//!
//! Both engines answer a queue read from the write just made: the embedded
//! engine keeps its index in the write's transaction, and DynamoDB Local's
//! indexes are immediate too. DynamoDB's are not ("Read consistency for global
//! secondary indexes"): README.md, "The work queue", says what a client sees
//! in that window.

use std::collections::HashSet;

use aws_sdk_dynamodb::types::AttributeValue;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::aws_proxy::{AwsProxy, Behaviour};
use crate::helpers::{Api, EngineKind, error_code, spawn_app, status_and_json};
use crate::on_both_engines;

on_both_engines!(
    queues_hold_every_customers_orders_oldest_in_the_status_first,
    paging_while_orders_arrive_and_move_returns_each_order_once,
    forged_foreign_and_malformed_queue_requests_are_refused,
    an_unreadable_entry_is_passed_over_and_the_walk_goes_on,
);

/// What a worker sees while DynamoDB's index lags a move: the order still in
/// its old queue with its old status (a proxy replays GSI2's first answer,
/// as a lagging index may for a while), and honest answers when it acts on
/// that stale entry: a move the order has outgrown is a 409, the move it
/// already made a 200 with the order as it is.
#[tokio::test]
async fn a_lagging_index_shows_a_moved_order_in_its_old_queue_and_moves_stay_honest() {
    let stale = AwsProxy::serve(crate::helpers::dynamodb_endpoint(), Behaviour::StaleIndex);
    let data_dir = tempfile::TempDir::new().unwrap();
    let (service, _) =
        crate::helpers::process::start_on_dynamodb(&data_dir, &stale.endpoint, QUICK_SETTLE);
    let app = Api::new(service.address.clone());
    app.given_user("hal").await;
    let id = app.given_order("hal").await;
    assert_eq!(first_settled_page(&app, "PLACED").await, vec![id.clone()]);

    move_order(&app, "hal", &id, "SHIPPED").await;
    // The index has not caught up: the order is still queued as PLACED.
    assert_eq!(page(&app, "PLACED", 20, None).await.0, vec![id.clone()]);
    let (code, body) = put_status(&app, "hal", &id, "PROCESSING").await;
    assert_eq!(code, StatusCode::CONFLICT, "{body}");
    assert_eq!(error_code(&body, code), "INVALID_STATUS_TRANSITION");
    let (code, body) = put_status(&app, "hal", &id, "SHIPPED").await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["Status"], "SHIPPED");
}

/// One order no writer of ours could have stored (a number for its status)
/// and one entry whose queue key names no time: a page passes over both,
/// as a customer's listing passes over an unreadable order, and the walk
/// still reaches every readable order behind them, once.
async fn an_unreadable_entry_is_passed_over_and_the_walk_goes_on(engine: EngineKind) {
    let app = spawn_app(engine).await;
    app.given_user("ida").await;
    let mut placed = Vec::new();
    for _ in 0..6 {
        placed.push(app.given_order("ida").await);
    }
    let stored = |id: &String| {
        let sk = format!("#ORDER#{id}");
        let store = app.store.clone();
        async move { store.raw_item("CUSTOMER#ida", &sk).await.unwrap().unwrap() }
    };
    let mut broken_status = stored(&placed[1]).await;
    broken_status["Status"] = json!({"N": "7"});
    let mut no_time = stored(&placed[3]).await;
    no_time["GSI2SK"] = json!({"S": format!("0000-bad#{}", placed[3])});
    app.store
        .put_raw_items(&[broken_status, no_time])
        .await
        .unwrap();

    let mut walked = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..20 {
        let (ids, next) = page(&app, "PLACED", 1, token.as_deref()).await;
        walked.extend(ids);
        match next {
            Some(next) => token = Some(next),
            None => break,
        }
    }
    let readable: Vec<String> = [0, 2, 4, 5].iter().map(|i| placed[*i].clone()).collect();
    assert_eq!(walked, readable);
}

/// A short DynamoDB budget, so the settle time (never shorter) is short too.
const QUICK_SETTLE: &[(&str, &str)] = &[
    ("DYNAMODB_ATTEMPT_TIMEOUT_MS", "2000"),
    ("DYNAMODB_TIMEOUT_MS", "2000"),
    ("QUEUE_SETTLE_MS", "2000"),
];

/// The first page of `status` once something in it has settled.
async fn first_settled_page(app: &Api, status: &str) -> Vec<String> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (ids, _) = page(app, status, 20, None).await;
        if !ids.is_empty() {
            return ids;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "nothing settled in {status}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// One page: the ids in order, every entry checked to be in `status`.
async fn page(
    app: &Api,
    status: &str,
    limit: usize,
    token: Option<&str>,
) -> (Vec<String>, Option<String>) {
    let mut path = format!("/orders?status={status}&limit={limit}");
    if let Some(token) = token {
        path.push_str(&format!("&nextToken={token}"));
    }
    let (code, body) = status_and_json(app.get(&path).await).await;
    assert_eq!(code, StatusCode::OK, "{path}: {body}");
    let entries = body["data"].as_array().expect("a list");
    assert!(entries.len() <= limit, "{body}");
    let ids = entries
        .iter()
        .map(|entry| {
            assert_eq!(entry["Status"], status, "{entry}");
            entry["OrderId"].as_str().expect("an order id").to_owned()
        })
        .collect();
    (ids, body["nextToken"].as_str().map(str::to_owned))
}

/// The whole queue, page by page.
async fn walk(app: &Api, status: &str, limit: usize) -> Vec<String> {
    let (mut ids, mut token) = page(app, status, limit, None).await;
    while let Some(next) = token {
        assert!(ids.len() < 1_000, "the walk does not end: {ids:?}");
        let (more, after) = page(app, status, limit, Some(&next)).await;
        assert!(!more.is_empty(), "a token led to an empty page");
        ids.extend(more);
        token = after;
    }
    ids
}

/// A status move, answered as it was.
async fn put_status(app: &Api, username: &str, id: &str, status: &str) -> (StatusCode, Value) {
    let body = json!({"username": username, "status": status});
    status_and_json(app.put_json(&format!("/orders/{id}"), &body).await).await
}

async fn move_order(app: &Api, username: &str, id: &str, status: &str) {
    let (code, body) = put_status(app, username, id, status).await;
    assert_eq!(code, StatusCode::OK, "{body}");
}
async fn queues_hold_every_customers_orders_oldest_in_the_status_first(engine: EngineKind) {
    let app = spawn_app(engine).await;
    let customers = ["ann", "ben", "cat"];
    for customer in customers {
        app.given_user(customer).await;
    }
    let mut placed = Vec::new();
    for _ in 0..4 {
        for customer in customers {
            placed.push((customer, app.given_order(customer).await));
        }
    }
    let ids =
        |orders: &[(&str, String)]| orders.iter().map(|(_, id)| id.clone()).collect::<Vec<_>>();
    assert_eq!(walk(&app, "PLACED", 5).await, ids(&placed));

    // Each entry names its customer.
    let (code, body) = status_and_json(app.get("/orders?status=PLACED&limit=3").await).await;
    assert_eq!(code, StatusCode::OK);
    for (entry, (customer, id)) in body["data"].as_array().unwrap().iter().zip(&placed) {
        assert_eq!(entry["OrderId"], id.as_str());
        assert_eq!(entry["Username"], *customer);
        assert_eq!(entry["PK"], format!("CUSTOMER#{customer}"));
    }

    // A move takes the order out of one queue and onto the end of the
    // next at once; the next queue is ordered by when orders entered it.
    let (later, earlier) = (placed[7].clone(), placed[2].clone());
    move_order(&app, later.0, &later.1, "PROCESSING").await;
    move_order(&app, earlier.0, &earlier.1, "PROCESSING").await;
    let still_placed: Vec<_> = placed
        .iter()
        .filter(|(_, id)| *id != later.1 && *id != earlier.1)
        .cloned()
        .collect();
    assert_eq!(walk(&app, "PLACED", 4).await, ids(&still_placed));
    assert_eq!(
        walk(&app, "PROCESSING", 4).await,
        vec![later.1.clone(), earlier.1.clone()]
    );
    // A repeated move changes nothing, so the order keeps its place.
    move_order(&app, later.0, &later.1, "PROCESSING").await;
    assert_eq!(
        walk(&app, "PROCESSING", 1).await,
        vec![later.1.clone(), earlier.1]
    );
    move_order(&app, later.0, &later.1, "SHIPPED").await;
    assert_eq!(walk(&app, "SHIPPED", 20).await, vec![later.1]);
    assert_eq!(walk(&app, "DELIVERED", 20).await, Vec::<String>::new());
}

async fn paging_while_orders_arrive_and_move_returns_each_order_once(engine: EngineKind) {
    let app = spawn_app(engine).await;
    let customers = ["dan", "eve", "fay"];
    for customer in customers {
        app.given_user(customer).await;
    }
    let mut owner_of = std::collections::HashMap::new();
    for i in 0..18 {
        let customer = customers[i % 3];
        owner_of.insert(app.given_order(customer).await, customer);
    }
    let mut seen = Vec::new();
    let mut cancelled = HashSet::new();
    let (mut ids, mut token) = page(&app, "PLACED", 4, None).await;
    let mut round = 0;
    loop {
        seen.extend(ids.iter().cloned());
        let Some(next) = token else { break };
        assert!(round < 50, "the walk does not end: {seen:?}");
        // Between pages: two new orders arrive, one order already seen is
        // cancelled, and so is one not reached yet (the newest).
        if round < 5 {
            for customer in &customers[..2] {
                owner_of.insert(app.given_order(customer).await, *customer);
            }
            let behind = seen.last().unwrap().clone();
            let ahead = owner_of
                .keys()
                .filter(|id| !seen.contains(*id) && !cancelled.contains(*id))
                .max()
                .unwrap()
                .clone();
            for id in [behind, ahead] {
                move_order(&app, owner_of[&id], &id, "CANCEL").await;
                cancelled.insert(id);
            }
        }
        round += 1;
        (ids, token) = page(&app, "PLACED", 4, Some(&next)).await;
    }
    let unique: HashSet<_> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "an order came twice: {seen:?}");
    // Every order still placed was returned; none cancelled before the walk
    // reached it was.
    let still_placed: HashSet<_> = owner_of
        .keys()
        .filter(|id| !cancelled.contains(*id))
        .cloned()
        .collect();
    let missing: Vec<_> = still_placed.difference(&unique).collect();
    assert!(missing.is_empty(), "never returned: {missing:?}");
    assert_eq!(owner_of.len(), 28);
    assert_eq!(
        unique.len(),
        28 - 5,
        "each cancelled-ahead order was skipped: {seen:?}"
    );
}

async fn forged_foreign_and_malformed_queue_requests_are_refused(engine: EngineKind) {
    let app = spawn_app(engine).await;
    app.given_user("gus").await;
    for _ in 0..3 {
        app.given_order("gus").await;
    }
    let (_, placed_token) = page(&app, "PLACED", 1, None).await;
    let placed_token = placed_token.expect("a second page");
    let (code, listing) = status_and_json(app.get("/orders?username=gus&limit=1").await).await;
    assert_eq!(code, StatusCode::OK);
    let listing_token = listing["nextToken"]
        .as_str()
        .expect("a listing token")
        .to_owned();

    for (path, want_status, want_code) in [
        // A token of another status's queue, of a customer listing, or none at all.
        (
            format!("/orders?status=SHIPPED&nextToken={placed_token}"),
            400,
            "INVALID_PAGE_TOKEN",
        ),
        (
            format!("/orders?status=PLACED&nextToken={listing_token}"),
            400,
            "INVALID_PAGE_TOKEN",
        ),
        (
            format!("/orders?username=gus&nextToken={placed_token}"),
            400,
            "INVALID_PAGE_TOKEN",
        ),
        // Well-formed, but for five shards where the table has four.
        (
            "/orders?status=PLACED&nextToken=AgAFAAAAAAA".to_owned(),
            400,
            "INVALID_PAGE_TOKEN",
        ),
        (
            "/orders?status=PLACED&nextToken=not-a-token".to_owned(),
            400,
            "INVALID_PAGE_TOKEN",
        ),
        ("/orders?status=placed".to_owned(), 422, "VALIDATION_FAILED"),
        (
            "/orders?status=PLACED&username=gus".to_owned(),
            422,
            "VALIDATION_FAILED",
        ),
        (
            "/orders?status=PLACED&limit=0".to_owned(),
            422,
            "VALIDATION_FAILED",
        ),
    ] {
        let (code, body): (StatusCode, Value) = status_and_json(app.get(&path).await).await;
        assert_eq!(code.as_u16(), want_status, "{path}: {body}");
        assert_eq!(error_code(&body, code), want_code, "{path}");
    }
    // The genuine token still works.
    let (rest, _) = page(&app, "PLACED", 5, Some(&placed_token)).await;
    assert_eq!(rest.len(), 2);
}

/// Orders written before GSI2 existed are off the queue until
/// `ecommerce-service migrate` runs beside the service (it was
/// `backfill-queues`, still its alias); it puts each on its queue once, and
/// a second run finds nothing to do.
#[tokio::test]
async fn backfill_queues_puts_orders_from_before_the_index_on_their_queue_once() {
    let endpoint = crate::helpers::dynamodb_endpoint();
    let data_dir = tempfile::TempDir::new().unwrap();
    let (service, table) =
        crate::helpers::process::start_on_dynamodb(&data_dir, &endpoint, QUICK_SETTLE);
    let app = service.api();
    app.given_user("ivy").await;
    let id = app.given_order("ivy").await;
    // Settled: from here on, only its index keys decide whether it shows.
    assert_eq!(first_settled_page(&app, "PLACED").await, vec![id.clone()]);
    // The same order as the service wrote it before the index existed.
    let dynamodb = aws_sdk_dynamodb::Client::new(&crate::helpers::aws::sdk().await);
    dynamodb
        .update_item()
        .table_name(&table)
        .key("PK", AttributeValue::S("CUSTOMER#ivy".into()))
        .key("SK", AttributeValue::S(format!("#ORDER#{id}")))
        .update_expression("REMOVE GSI2PK, GSI2SK")
        .send()
        .await
        .unwrap();
    assert_eq!(page(&app, "PLACED", 20, None).await.0, Vec::<String>::new());

    let backfill = || {
        let run = std::process::Command::new(crate::helpers::process::binary())
            .arg("backfill-queues")
            .env("RUST_LOG", "error")
            .env("STORE", "dynamodb")
            .env("TABLE_NAME", &table)
            .env("AWS_ENDPOINT_URL_DYNAMODB", &endpoint)
            .env("DATA_DIR", data_dir.path())
            .output()
            .expect("the binary runs");
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        serde_json::from_slice::<Value>(&run.stdout).expect("a JSON summary")
    };
    let first = backfill();
    assert_eq!(
        (
            first["counts"]["orders_normalized"].as_u64(),
            first["counts"]["writes"].as_u64()
        ),
        (Some(1), Some(1)),
        "{first}"
    );
    assert_eq!(page(&app, "PLACED", 20, None).await.0, vec![id]);
    let second = backfill();
    assert_eq!(second["counts"]["writes"].as_u64(), Some(0), "{second}");
}

/// On DynamoDB an order joins its queue's pages only once it has been in the
/// status for QUEUE_SETTLE_MS: the index lags the table, and a page walk
/// that went past a young entry could leave behind an older one that shows
/// up late. The order is there once the time has passed, never before.
#[tokio::test]
async fn on_dynamodb_an_order_joins_its_queue_once_it_has_settled() {
    let data_dir = tempfile::TempDir::new().unwrap();
    let (service, _) = crate::helpers::process::start_on_dynamodb(
        &data_dir,
        &crate::helpers::dynamodb_endpoint(),
        &[
            ("DYNAMODB_ATTEMPT_TIMEOUT_MS", "1500"),
            ("DYNAMODB_TIMEOUT_MS", "1500"),
            ("QUEUE_SETTLE_MS", "1500"),
        ],
    );
    let app = service.api();
    app.given_user("joy").await;
    let placed = std::time::Instant::now();
    let id = app.given_order("joy").await;
    let deadline = placed + std::time::Duration::from_secs(30);
    loop {
        let (ids, _) = page(&app, "PLACED", 20, None).await;
        let waited = placed.elapsed();
        if ids.is_empty() {
            assert!(
                std::time::Instant::now() < deadline,
                "never joined its queue"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            continue;
        }
        assert_eq!(ids, vec![id]);
        assert!(
            waited >= std::time::Duration::from_millis(1500),
            "shown after {waited:?}"
        );
        break;
    }
}
