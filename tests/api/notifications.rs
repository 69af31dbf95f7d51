//! The notification consumer on its production path, against moto: records
//! shaped as an EventBridge Pipe delivers them are put on the notifications
//! queue, and a queue subscribed to the topic and an EventBridge rule's
//! queue show what subscribers get.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpResponse, HttpServer, web};
use aws_sdk_sqs::types::{Message, QueueAttributeName, SendMessageBatchRequestEntry};
use serde_json::Value;
use tempfile::TempDir;

use crate::helpers::moto_endpoint;
use crate::process::{Running, start_with};

const INSERT: &str = include_str!("../fixtures/pipe-insert.json");
const MODIFY_BATCH: &str = include_str!("../fixtures/pipe-modify-batch.json");
const FIXTURE_ORDER: &str = "01JDHZ4Q5T8V0K3M7N2P6R9S1W";

/// For the tests that wait for a message to come back until it reaches the
/// DLQ: redelivery after 1 s.
const QUICK_RETRY: &[(&str, &str)] = &[("NOTIFICATIONS_VISIBILITY_TIMEOUT", "1")];

struct Aws {
    sqs: aws_sdk_sqs::Client,
    changes: String,
    dead_letters: String,
    topic_arn: String,
    bus: String,
    /// Subscribed to the topic with raw delivery.
    topic_inbox: String,
    /// The target of a rule on the bus for `source: ecommerce.orders`.
    bus_inbox: String,
}

async fn sdk() -> aws_config::SdkConfig {
    moto_endpoint();
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await
}

impl Aws {
    /// Fresh, uniquely named resources, so tests share the emulator safely.
    /// A message reaches the DLQ on its third receive: quick for the tests
    /// that want it there.
    async fn new() -> Self {
        Self::with_max_receives(2).await
    }

    async fn with_max_receives(max_receives: u32) -> Self {
        let sdk = sdk().await;
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let sns = aws_sdk_sns::Client::new(&sdk);
        let events = aws_sdk_eventbridge::Client::new(&sdk);
        let id = ulid::Ulid::generate().to_string().to_lowercase();

        let dead_letters = create_queue(&sqs, &format!("dlq-{id}"), None).await;
        let dlq_arn = queue_arn(&sqs, &dead_letters).await;
        let redrive =
            format!(r#"{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":"{max_receives}"}}"#);
        let changes = create_queue(&sqs, &format!("changes-{id}"), Some(redrive)).await;

        let topic_arn = sns
            .create_topic()
            .name(format!("orders-{id}"))
            .send()
            .await
            .unwrap()
            .topic_arn
            .unwrap();
        let topic_inbox = create_queue(&sqs, &format!("topic-inbox-{id}"), None).await;
        sns.subscribe()
            .topic_arn(&topic_arn)
            .protocol("sqs")
            .endpoint(queue_arn(&sqs, &topic_inbox).await)
            .attributes("RawMessageDelivery", "true")
            .send()
            .await
            .unwrap();

        let bus = format!("bus-{id}");
        events.create_event_bus().name(&bus).send().await.unwrap();
        let bus_inbox = create_queue(&sqs, &format!("bus-inbox-{id}"), None).await;
        events
            .put_rule()
            .name(format!("orders-{id}"))
            .event_bus_name(&bus)
            .event_pattern(r#"{"source":["ecommerce.orders"]}"#)
            .send()
            .await
            .unwrap();
        events
            .put_targets()
            .rule(format!("orders-{id}"))
            .event_bus_name(&bus)
            .targets(
                aws_sdk_eventbridge::types::Target::builder()
                    .id("inbox")
                    .arn(queue_arn(&sqs, &bus_inbox).await)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
        Self {
            sqs,
            changes,
            dead_letters,
            topic_arn,
            bus,
            topic_inbox,
            bus_inbox,
        }
    }

    /// The service binary consuming the changes queue.
    fn start_service(&self, data_dir: &TempDir, topic_arn: &str) -> Running {
        self.start_service_with(data_dir, topic_arn, &[])
    }

    fn start_service_with(
        &self,
        data_dir: &TempDir,
        topic_arn: &str,
        extra: &[(&str, &str)],
    ) -> Running {
        let endpoint = moto_endpoint();
        let mut settings = vec![
            ("NOTIFICATIONS_SOURCE", "sqs"),
            ("NOTIFICATIONS_QUEUE_URL", &self.changes),
            // Longer than a batch takes on a loaded machine, so a message
            // comes back only when a test wants it to (see QUICK_RETRY).
            ("NOTIFICATIONS_VISIBILITY_TIMEOUT", "5"),
            ("NOTIFICATIONS_CONCURRENCY", "2"),
            ("ORDER_TOPIC_ARN", topic_arn),
            ("EVENT_BUS_NAME", &self.bus),
            ("AWS_ENDPOINT_URL", &endpoint),
        ];
        settings.extend_from_slice(extra);
        start_with(data_dir, &settings)
    }

    async fn send(&self, bodies: &[String]) {
        for chunk in bodies.chunks(10) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, body)| {
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(body)
                        .build()
                        .unwrap()
                })
                .collect();
            let sent = self
                .sqs
                .send_message_batch()
                .queue_url(&self.changes)
                .set_entries(Some(entries))
                .send()
                .await
                .unwrap();
            assert!(sent.failed().is_empty());
        }
    }

    /// Receives and deletes what arrives in `queue` until `done` says so.
    /// The deadline only bounds a hang: moto serves about 200 requests a
    /// second to the whole suite, and hundreds of messages can take a minute.
    async fn collect_until(&self, queue: &str, done: impl Fn(&[Message]) -> bool) -> Vec<Message> {
        let deadline = Instant::now() + Duration::from_secs(180);
        let mut seen = Vec::new();
        while !done(&seen) {
            if Instant::now() >= deadline {
                panic!(
                    "gave up waiting on {queue}: {} messages so far, {} on the dead-letter queue",
                    seen.len(),
                    self.depth(&self.dead_letters).await
                );
            }
            let received = self
                .sqs
                .receive_message()
                .queue_url(queue)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .message_attribute_names("All")
                .send()
                .await
                .unwrap();
            for message in received.messages.unwrap_or_default() {
                self.sqs
                    .delete_message()
                    .queue_url(queue)
                    .receipt_handle(message.receipt_handle().unwrap())
                    .send()
                    .await
                    .unwrap();
                seen.push(message);
            }
        }
        seen
    }

    async fn depth(&self, queue: &str) -> u64 {
        let attributes = self
            .sqs
            .get_queue_attributes()
            .queue_url(queue)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .unwrap()
            .attributes
            .unwrap_or_default();
        attributes.values().map(|v| v.parse::<u64>().unwrap()).sum()
    }

    async fn wait_until_drained(&self, queue: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.depth(queue).await > 0 {
            assert!(Instant::now() < deadline, "{queue} never drained");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

async fn create_queue(sqs: &aws_sdk_sqs::Client, name: &str, redrive: Option<String>) -> String {
    let mut request = sqs.create_queue().queue_name(name);
    if let Some(policy) = redrive {
        request = request.attributes(QueueAttributeName::RedrivePolicy, policy);
    }
    request.send().await.unwrap().queue_url.unwrap()
}

async fn queue_arn(sqs: &aws_sdk_sqs::Client, url: &str) -> String {
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap();
    attributes[&QueueAttributeName::QueueArn].clone()
}

/// A fixture with a fresh order id and fresh event ids.
fn with_new_order(fixture: &str) -> (String, String) {
    let order = ulid::Ulid::generate().to_string();
    let mut body = fixture.replace(FIXTURE_ORDER, &order);
    for event_id in [
        "7de3041dd709b024af6f29e4fa13d34c",
        "c81e728d9d4c2f636f067f89cc14862c",
        "eccbc87e4b5ce2fe28308fd9f2a7baf3",
    ] {
        body = body.replace(event_id, &ulid::Ulid::generate().to_string());
    }
    (order, body)
}

fn json(message: &Message) -> Value {
    serde_json::from_str(message.body().unwrap()).unwrap()
}

#[tokio::test]
async fn pipe_records_are_published_to_the_topic_and_the_bus_then_deleted() {
    let aws = Aws::new().await;
    let data_dir = TempDir::new().unwrap();
    let service = aws.start_service(&data_dir, &aws.topic_arn);
    let (order, insert) = with_new_order(INSERT);

    aws.send(&[insert]).await;

    let notified = aws
        .collect_until(&aws.topic_inbox, |seen| !seen.is_empty())
        .await;
    assert_eq!(notified.len(), 1);
    let event = json(&notified[0]);
    assert_eq!(event["eventType"], "OrderPlaced");
    assert_eq!(event["orderId"], order.as_str());
    assert_eq!(event["username"], "john");
    assert_eq!(event["status"], "PLACED");
    assert_eq!(event["amount"].to_string(), "19.99");
    assert_eq!(event["numItems"], 2);
    assert!(event["eventId"].as_str().is_some_and(|id| !id.is_empty()));
    let attributes = notified[0].message_attributes().unwrap();
    assert_eq!(attributes["eventType"].string_value(), Some("OrderPlaced"));
    assert_eq!(attributes["orderId"].string_value(), Some(order.as_str()));
    assert_eq!(attributes["username"].string_value(), Some("john"));

    let on_bus = aws
        .collect_until(&aws.bus_inbox, |seen| !seen.is_empty())
        .await;
    let envelope = json(&on_bus[0]);
    assert_eq!(envelope["source"], "ecommerce.orders");
    assert_eq!(envelope["detail-type"], "OrderPlaced");
    assert_eq!(envelope["detail"]["orderId"], order.as_str());
    assert_eq!(envelope["detail"]["eventId"], event["eventId"]);

    aws.wait_until_drained(&aws.changes).await;

    // A status change is one event; a change that leaves the status alone is none.
    let (order, modify) = with_new_order(MODIFY_BATCH);
    aws.send(&[modify]).await;
    let notified = aws
        .collect_until(&aws.topic_inbox, |seen| !seen.is_empty())
        .await;
    let event = json(&notified[0]);
    assert_eq!(event["eventType"], "OrderStatusChanged");
    assert_eq!(event["orderId"], order.as_str());
    assert_eq!(
        (event["previousStatus"].as_str(), event["status"].as_str()),
        (Some("PLACED"), Some("SHIPPED"))
    );
    aws.wait_until_drained(&aws.changes).await;
    assert_eq!(
        aws.depth(&aws.topic_inbox).await,
        0,
        "the NumberItems-only change published nothing"
    );
    assert_eq!(service.terminate().code(), Some(0));
}

#[tokio::test]
async fn a_message_that_cannot_be_published_is_kept_until_it_reaches_the_dlq() {
    let aws = Aws::new().await;
    let data_dir = TempDir::new().unwrap();
    let missing_topic = format!("{}-missing", aws.topic_arn);
    let service = aws.start_service_with(&data_dir, &missing_topic, QUICK_RETRY);
    let (_, insert) = with_new_order(INSERT);

    aws.send(std::slice::from_ref(&insert)).await;

    let dead = aws
        .collect_until(&aws.dead_letters, |seen| !seen.is_empty())
        .await;
    assert_eq!(
        dead[0].body(),
        Some(insert.as_str()),
        "the same message, not deleted"
    );
    assert_eq!(aws.depth(&aws.topic_inbox).await, 0);
    assert_eq!(service.terminate().code(), Some(0));
}

#[tokio::test]
async fn a_malformed_message_goes_to_the_dlq_without_holding_up_the_rest() {
    let aws = Aws::new().await;
    let data_dir = TempDir::new().unwrap();
    let service = aws.start_service_with(&data_dir, &aws.topic_arn, QUICK_RETRY);
    let (order, insert) = with_new_order(INSERT);

    aws.send(&["this is not a stream record".to_owned(), insert])
        .await;

    let notified = aws
        .collect_until(&aws.topic_inbox, |seen| !seen.is_empty())
        .await;
    assert_eq!(json(&notified[0])["orderId"], order.as_str());
    let dead = aws
        .collect_until(&aws.dead_letters, |seen| !seen.is_empty())
        .await;
    assert_eq!(dead[0].body(), Some("this is not a stream record"));
    assert_eq!(service.terminate().code(), Some(0));
}

#[tokio::test]
async fn a_crash_mid_stream_loses_no_order() {
    // The stack's five receives: on a loaded machine with a 1 s visibility
    // timeout and two, a message could be received twice before the crash
    // and land on the DLQ after it, which is the queue doing its job, not
    // the loss this test looks for.
    let aws = Aws::with_max_receives(5).await;
    let data_dir = TempDir::new().unwrap();
    let (orders, bodies): (Vec<String>, Vec<String>) =
        (0..200).map(|_| with_new_order(INSERT)).unzip();
    aws.send(&bodies).await;

    let first = aws.start_service(&data_dir, &aws.topic_arn);
    let before_crash = aws
        .collect_until(&aws.topic_inbox, |seen| seen.len() >= 30)
        .await;
    first.crash();
    let second = aws.start_service(&data_dir, &aws.topic_arn);
    let order_ids = |messages: &[Message]| -> HashSet<String> {
        messages
            .iter()
            .map(|m| json(m)["orderId"].as_str().unwrap().to_owned())
            .collect()
    };
    let seen_before = order_ids(&before_crash);
    let after_restart = aws
        .collect_until(&aws.topic_inbox, |seen| {
            let mut all = order_ids(seen);
            all.extend(seen_before.iter().cloned());
            all.len() >= orders.len()
        })
        .await;

    let mut published = order_ids(&before_crash);
    published.extend(order_ids(&after_restart));
    assert_eq!(
        published,
        orders.into_iter().collect::<HashSet<_>>(),
        "every order published at least once"
    );
    assert_eq!(second.terminate().code(), Some(0));
}

#[tokio::test]
async fn orders_placed_over_http_are_published_from_the_table_stream_once() {
    let aws = Aws::new().await;
    let endpoint = moto_endpoint();
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
            ("AWS_ENDPOINT_URL", endpoint.clone()),
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
    let first_order = crate::process::place_order(&client, &reader.address).await;
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
    assert_eq!(reader.terminate().code(), Some(0));

    // While no reader runs, an order is placed; the next reader publishes
    // it, and nothing it had already published.
    let writer = start("off");
    let second_order = crate::process::place_order(&client, &writer.address).await;
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

/// A fake HTTP endpoint that keeps the bodies POSTed to `path` and answers
/// each with `answer`: an OTLP collector, or EventBridge's PutEvents.
struct Recorder {
    url: String,
    bodies: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl Recorder {
    fn serve(path: &'static str, content_type: &'static str, answer: &'static str) -> Self {
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let kept = Arc::clone(&bodies);
        let (listener, url) = crate::helpers::loopback();
        let server = HttpServer::new(move || {
            let kept = Arc::clone(&kept);
            App::new().route(
                path,
                web::post().to(move |body: web::Bytes| {
                    kept.lock().unwrap().push(body.to_vec());
                    async move { HttpResponse::Ok().content_type(content_type).body(answer) }
                }),
            )
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
        crate::helpers::run_in_background(server);
        Self { url, bodies }
    }
}

#[tokio::test]
async fn a_published_message_carries_its_trace_and_links_the_write_that_caused_it() {
    let aws = Aws::new().await;
    let collector = Recorder::serve("/v1/traces", "application/x-protobuf", "");
    // moto's rule targets do not pass the TraceHeader on (nor does AWS: it
    // goes to X-Ray), so the bus is a fake that keeps the PutEvents request.
    let bus = Recorder::serve(
        "/",
        "application/x-amz-json-1.1",
        r#"{"FailedEntryCount":0,"Entries":[{"EventId":"e-1"}]}"#,
    );
    let data_dir = TempDir::new().unwrap();
    let service = aws.start_service_with(
        &data_dir,
        &aws.topic_arn,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &collector.url),
            ("OTEL_TRACES_SAMPLER", "always_on"),
            ("AWS_ENDPOINT_URL_EVENTBRIDGE", &bus.url),
        ],
    );
    // The write was traced: its item carries the request's traceparent.
    let write_trace = "0af7651916cd43dd8448eb211c80319c";
    let (order, insert) = with_new_order(INSERT);
    let insert = insert.replace(
        r#""NumberItems": { "N": "2" }"#,
        &format!(r#""NumberItems": {{ "N": "2" }}, "TraceParent": {{ "S": "00-{write_trace}-b7ad6b7169203331-01" }}"#),
    );
    assert!(insert.contains("TraceParent"));
    aws.send(&[insert]).await;

    let notified = aws
        .collect_until(&aws.topic_inbox, |seen| !seen.is_empty())
        .await;
    assert_eq!(json(&notified[0])["orderId"], order.as_str());
    let attributes = notified[0].message_attributes().unwrap();
    let traceparent = attributes["traceparent"]
        .string_value()
        .expect("a traceparent attribute");
    let parts: Vec<&str> = traceparent.split('-').collect();
    assert_eq!(parts.len(), 4, "{traceparent}");
    assert_eq!((parts[0], parts[3]), ("00", "01"), "{traceparent}");
    assert_eq!(parts[1].len(), 32, "{traceparent}");
    assert_ne!(parts[1], write_trace, "the message starts its own trace");
    // Deleted only once both publishes succeeded, so PutEvents has been sent.
    aws.wait_until_drained(&aws.changes).await;
    let put_events: Value = serde_json::from_slice(&bus.bodies.lock().unwrap()[0]).unwrap();
    assert_eq!(
        put_events["Entries"][0]["TraceHeader"],
        format!(
            "Root=1-{}-{};Parent={};Sampled=1",
            &parts[1][..8],
            &parts[1][8..],
            parts[2]
        ),
        "the event continues the same trace as the SNS message"
    );
    assert_eq!(service.terminate().code(), Some(0), "exits and flushes");

    // The exported spans (protobuf) hold the message's trace id, and the
    // write's trace id only as the link.
    let exported = collector.bodies.lock().unwrap().concat();
    let bytes = |hex: &str| -> Vec<u8> {
        (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect()
    };
    let holds = |needle: Vec<u8>| {
        exported
            .windows(needle.len())
            .any(|w| w == needle.as_slice())
    };
    assert!(holds(bytes(parts[1])), "the message's span was exported");
    assert!(holds(bytes(write_trace)), "and links the write's trace");
}
