//! The table's stream read by the service itself (the `dynamodb-streams`
//! source): against DynamoDB Local (with SNS and EventBridge on moto), and
//! against a fake that does what no emulator does (empty pages, splits,
//! trimmed records, a failing shard).

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_sqs::types::Message;
use tempfile::TempDir;

use crate::helpers::aws::{Aws, json};
use crate::helpers::aws_proxy::{AwsProxy, Behaviour};
use crate::helpers::fake_streams::{End, FakeStreams, Page, Shard, order_insert};
use crate::helpers::process::start_with;
use crate::helpers::{dynamodb_endpoint, moto_endpoint};

// Long on purpose: one stream from table creation to a restart, each step
// depending on the checkpoint the previous one left.
#[tokio::test]
async fn orders_placed_over_http_are_published_from_the_table_stream_once() {
    let aws = Aws::new().await;
    let (moto, dynamodb) = (moto_endpoint(), dynamodb_endpoint());
    let table = format!(
        "streams-{}",
        ulid::Ulid::generate().to_string().to_lowercase()
    );
    let settings = |source: &'static str| {
        vec![
            ("STORE", "dynamodb".to_owned()),
            ("CREATE_TABLE", "true".to_owned()),
            ("TABLE_NAME", table.clone()),
            ("NOTIFICATIONS_SOURCE", source.to_owned()),
            ("ORDER_TOPIC_ARN", aws.topic_arn.clone()),
            ("EVENT_BUS_NAME", aws.bus.clone()),
            ("AWS_ENDPOINT_URL", moto.clone()),
            ("AWS_ENDPOINT_URL_DYNAMODB", dynamodb.clone()),
            ("AWS_ENDPOINT_URL_DYNAMODB_STREAMS", dynamodb.clone()),
        ]
    };
    let start = |source| {
        let owned = settings(source);
        let pairs: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
        start_with(&TempDir::new().unwrap(), &pairs)
    };
    let client = crate::helpers::http_client();
    let event_types = |messages: &[Message]| -> Vec<(String, String)> {
        messages
            .iter()
            .map(|m| {
                let event = json(m);
                (
                    event["eventType"].as_str().unwrap().to_owned(),
                    event["status"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };

    let reader = start("dynamodb-streams");
    reader.api().add_user("john", "john@example.com").await;
    let first_order = reader.api().given_order("john").await;
    let placed = aws
        .collect_until(&aws.topic_inbox, |seen| !seen.is_empty())
        .await;
    assert_eq!(
        event_types(&placed),
        [("OrderPlaced".to_owned(), "PLACED".to_owned())]
    );
    assert_eq!(json(&placed[0])["orderId"], first_order.as_str());
    let on_bus = aws
        .collect_until(&aws.bus_inbox, |seen| !seen.is_empty())
        .await;
    assert_eq!(json(&on_bus[0])["detail"]["orderId"], first_order.as_str());

    // Two status moves with a change in between that leaves the status alone.
    let order_path = format!("{}/orders/{first_order}", reader.address);
    let moved = client
        .put(&order_path)
        .json(&serde_json::json!({"username": "john", "status": "PROCESSING"}))
        .send()
        .await
        .unwrap();
    assert!(moved.status().is_success());
    let edit = format!(
        "{}/edit-address?username=john&new_address=Akl",
        reader.address
    );
    assert!(
        client
            .post(edit)
            .send()
            .await
            .unwrap()
            .status()
            .is_success()
    );
    let moved = client
        .put(&order_path)
        .json(&serde_json::json!({"username": "john", "status": "SHIPPED"}))
        .send()
        .await
        .unwrap();
    assert!(moved.status().is_success());
    let changes = aws
        .collect_until(&aws.topic_inbox, |seen| seen.len() >= 2)
        .await;
    assert_eq!(
        event_types(&changes),
        [
            ("OrderStatusChanged".to_owned(), "PROCESSING".to_owned()),
            ("OrderStatusChanged".to_owned(), "SHIPPED".to_owned())
        ]
    );
    // Each event carries the order's version, written with the change: a
    // subscriber orders an order's events by it, whatever order they came in.
    let versions: Vec<u64> = placed
        .iter()
        .chain(&changes)
        .map(|m| json(m)["version"].as_u64().expect("a version"))
        .collect();
    assert_eq!(versions, [1, 2, 3]);
    assert_eq!(reader.terminate().code(), Some(0));

    // While no reader runs, an order is placed; the next reader publishes
    // it, and nothing it had already published.
    let writer = start("off");
    writer.api().add_user("john", "john@example.com").await;
    let second_order = writer.api().given_order("john").await;
    assert_eq!(writer.terminate().code(), Some(0));
    let reader = start("dynamodb-streams");
    let after_restart = aws
        .collect_until(&aws.topic_inbox, |seen| {
            seen.iter()
                .any(|m| json(m)["orderId"] == second_order.as_str())
        })
        .await;
    assert_eq!(
        after_restart.len(),
        1,
        "no replay: {:?}",
        event_types(&after_restart)
    );
    assert_eq!(reader.terminate().code(), Some(0));
}

/// A table with a stream, made by the test so it can hold a checkpoint
/// before the service starts.
async fn table_with_stream(name: &str) -> aws_sdk_dynamodb::Client {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
        StreamSpecification, StreamViewType,
    };
    let client = aws_sdk_dynamodb::Client::new(&crate::helpers::aws::sdk().await);
    let key = |attribute: &str, kind| {
        KeySchemaElement::builder()
            .attribute_name(attribute)
            .key_type(kind)
            .build()
            .unwrap()
    };
    let string = |attribute: &str| {
        AttributeDefinition::builder()
            .attribute_name(attribute)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .unwrap()
    };
    client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key("PK", KeyType::Hash))
        .key_schema(key("SK", KeyType::Range))
        .attribute_definitions(string("PK"))
        .attribute_definitions(string("SK"))
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::NewAndOldImages)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    client
}

fn checkpoint_key(shard: &str) -> std::collections::HashMap<String, AttributeValue> {
    let key = AttributeValue::S(format!("STREAMCHECKPOINT#{shard}"));
    [("PK".to_owned(), key.clone()), ("SK".to_owned(), key)].into()
}

/// What DynamoDB documents and moto never does: a shard that answers empty
/// pages before its records, a split whose child must wait for its parent,
/// a shard that keeps failing, a checkpoint older than the stream keeps,
/// and records trimmed away while being read.
///
/// Long on purpose: one scripted stream whose shards interact (a child
/// waits on its parent), read by one service from start to end.
#[tokio::test]
async fn the_reader_follows_empty_pages_splits_failures_and_trims() {
    let order: Vec<String> = (0..5).map(|_| ulid::Ulid::generate().to_string()).collect();
    let streams = FakeStreams::serve(vec![
        Shard {
            id: "shard-parent",
            parent: None,
            pages: vec![
                Page::Empty,
                Page::Empty,
                Page::Empty,
                Page::Records(vec![
                    order_insert(&order[0], "11"),
                    order_insert(&order[1], "12"),
                ]),
            ],
            end: End::Closed,
            trimmed_positions: vec![],
        },
        Shard {
            id: "shard-child",
            parent: Some("shard-parent"),
            pages: vec![Page::Records(vec![order_insert(&order[2], "21")])],
            end: End::Open,
            trimmed_positions: vec![],
        },
        Shard {
            id: "shard-broken",
            parent: None,
            pages: vec![Page::Fail],
            end: End::Open,
            trimmed_positions: vec![],
        },
        Shard {
            id: "shard-behind",
            parent: None,
            pages: vec![Page::Records(vec![order_insert(&order[3], "41")])],
            end: End::Open,
            trimmed_positions: vec!["40"],
        },
        Shard {
            id: "shard-trimmed-while-read",
            parent: None,
            pages: vec![
                Page::TrimmedOnce,
                Page::Records(vec![order_insert(&order[4], "51")]),
            ],
            end: End::Open,
            trimmed_positions: vec![],
        },
    ]);
    let table = format!(
        "fake-streams-{}",
        ulid::Ulid::generate().to_string().to_lowercase()
    );
    let dynamodb = table_with_stream(&table).await;
    // The reader was last here more than 24 hours ago.
    let mut behind = checkpoint_key("shard-behind");
    behind.insert("SequenceNumber".into(), AttributeValue::S("40".into()));
    dynamodb
        .put_item()
        .table_name(&table)
        .set_item(Some(behind))
        .send()
        .await
        .unwrap();

    let (moto, dynamodb_local) = (moto_endpoint(), dynamodb_endpoint());
    let service = start_with(
        &TempDir::new().unwrap(),
        &[
            ("STORE", "dynamodb"),
            ("TABLE_NAME", &table),
            ("NOTIFICATIONS_SOURCE", "dynamodb-streams"),
            ("AWS_ENDPOINT_URL", &moto),
            ("AWS_ENDPOINT_URL_DYNAMODB", &dynamodb_local),
            ("AWS_ENDPOINT_URL_DYNAMODB_STREAMS", &streams.endpoint),
            ("METRICS", "on"),
            ("METRICS_INTERVAL", "1"),
        ],
    );

    let mut published: Vec<String> = Vec::new();
    let (mut broken_shard_logged, mut trims_logged, mut lost_counted) = (false, 0, false);
    while published.len() < order.len() || !broken_shard_logged || trims_logged < 2 || !lost_counted
    {
        let line = service.wait_for_log(|_| true);
        match line["message"].as_str().unwrap_or_default() {
            "order event" => published.push(line["order_id"].as_str().unwrap().to_owned()),
            message if message.starts_with("reading a stream shard failed") => {
                assert_eq!(line["shard"], "shard-broken", "{line}");
                broken_shard_logged = true;
            }
            message if message.starts_with("stream records were trimmed") => {
                assert_eq!(line["level"], "ERROR");
                trims_logged += 1;
            }
            _ if line["ChangesLost"].as_f64().is_some_and(|n| n >= 1.0) => lost_counted = true,
            _ => {}
        }
    }
    let position = |id: &String| published.iter().position(|p| p == id).unwrap();
    let mut sorted = published.clone();
    sorted.sort();
    let mut expected = order.clone();
    expected.sort();
    assert_eq!(
        sorted, expected,
        "every record, each once, past empty pages and trims"
    );
    assert!(
        position(&order[2]) > position(&order[0]) && position(&order[2]) > position(&order[1]),
        "the child after its parent: {published:?}"
    );
    let parent = dynamodb
        .get_item()
        .table_name(&table)
        .set_key(Some(checkpoint_key("shard-parent")))
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    assert!(
        parent
            .item()
            .is_some_and(|item| item.contains_key("Finished")),
        "the parent read to its end"
    );
    assert_eq!(service.terminate().code(), Some(0));
}

/// The reader's own checkpoint writes are stream records too. They must not
/// count as work: an idle reader sleeps between passes and writes nothing.
#[tokio::test]
async fn an_idle_reader_writes_no_checkpoints_and_sleeps() {
    // DynamoDB Local speaks both DynamoDB and DynamoDB Streams on one port.
    let proxy = AwsProxy::serve(dynamodb_endpoint(), Behaviour::Pass);
    let table = format!("idle-{}", ulid::Ulid::generate().to_string().to_lowercase());
    let service = start_with(
        &TempDir::new().unwrap(),
        &[
            ("STORE", "dynamodb"),
            ("CREATE_TABLE", "true"),
            ("TABLE_NAME", &table),
            ("NOTIFICATIONS_SOURCE", "dynamodb-streams"),
            ("AWS_ENDPOINT_URL_DYNAMODB", &proxy.endpoint),
            ("AWS_ENDPOINT_URL_DYNAMODB_STREAMS", &proxy.endpoint),
        ],
    );
    service.api().given_user("john").await;
    let order = service.api().given_order("john").await;
    service.wait_for_log(|line| {
        line["message"] == "order event" && line["order_id"] == order.as_str()
    });
    // The pass that published it saves its checkpoint after the log line,
    // and the user's records may have had a checkpoint of their own before:
    // idle begins once a few reads go by with no new checkpoint.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut settled = (proxy.count("UpdateItem"), proxy.count("GetRecords"));
    loop {
        let now = (proxy.count("UpdateItem"), proxy.count("GetRecords"));
        if now.0 != settled.0 || now.0 == 0 {
            settled = now;
        } else if now.1 >= settled.1 + 3 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the reader never went idle after its checkpoint: {:?}",
            proxy.counts()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let before = proxy.counts();
    tokio::time::sleep(Duration::from_secs(4)).await;
    let after = proxy.counts();
    let during =
        |operation: &str| after.get(operation).unwrap_or(&0) - before.get(operation).unwrap_or(&0);
    assert_eq!(
        during("UpdateItem"),
        0,
        "no checkpoint written while idle: {after:?}"
    );
    // One pass a second, a couple of GetRecords each on the table's one shard.
    assert!(
        during("GetRecords") <= 12,
        "{} GetRecords in 4 s: {after:?}",
        during("GetRecords")
    );
    assert!(
        during("GetShardIterator") <= 1,
        "iterators are kept between passes: {after:?}"
    );
    assert_eq!(service.terminate().code(), Some(0));
}
