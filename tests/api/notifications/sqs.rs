//! The production path: the queue an EventBridge Pipe fills, consumed by the
//! service binary and published to SNS and EventBridge in moto.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::Message;
use tempfile::TempDir;

use crate::helpers::aws::{
    Aws, INSERT, MODIFY_BATCH, QUICK_RETRY, event_ids, json, queue_arn, sdk, with_new_order,
};
use crate::helpers::aws_proxy::{AwsProxy, Behaviour};
use crate::helpers::fake_bus::{FakeBus, Refusal};

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
    assert_eq!(event_ids(&notified).len(), 1);
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

/// The README's redrive runbook: once what made the consumer fail is fixed
/// (here, the topic it was given did not exist), the dead-letter queue's
/// messages moved back to the queue (StartMessageMoveTask) are published
/// like any other, with the event id their change always had.
#[tokio::test]
async fn a_dead_lettered_message_redriven_after_the_fix_is_published() {
    // The stack's five receives, so that a publish that times out on a
    // loaded emulator after the redrive is retried rather than sent straight
    // back to the DLQ. A permanent refusal returns after the plain 1 s
    // visibility timeout, so dead-lettering still takes seconds.
    let aws = Aws::with_max_receives(5).await;
    let data_dir = TempDir::new().unwrap();
    let missing_topic = format!("{}-missing", aws.topic_arn);
    let broken = aws.start_service_with(&data_dir, &missing_topic, QUICK_RETRY);
    let (order, insert) = with_new_order(INSERT);
    aws.send(std::slice::from_ref(&insert)).await;
    let deadline = Instant::now() + Duration::from_secs(120);
    while aws.depth(&aws.dead_letters).await == 0 {
        assert!(Instant::now() < deadline, "never dead-lettered");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(broken.terminate().code(), Some(0));

    let fixed = aws.start_service_with(&data_dir, &aws.topic_arn, QUICK_RETRY);
    assert_eq!(aws.redrive().await, 1);
    let notified = aws
        .collect_until(&aws.topic_inbox, |seen| !seen.is_empty())
        .await;
    let event = json(&notified[0]);
    assert_eq!(event["orderId"], order.as_str());
    assert_eq!(event["eventType"], "OrderPlaced");
    aws.wait_until_drained(&aws.changes).await;
    assert_eq!(aws.depth(&aws.dead_letters).await, 0);
    assert_eq!(fixed.terminate().code(), Some(0));
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

    // Messages the crashed process held come back after the visibility
    // timeout: 5 s keeps the test short; the check below counts distinct
    // orders, so a redelivery cannot fail it.
    let quick = [("NOTIFICATIONS_VISIBILITY_TIMEOUT", "5")];
    let first = aws.start_service_with(&data_dir, &aws.topic_arn, &quick);
    let before_crash = aws
        .collect_until(&aws.topic_inbox, |seen| seen.len() >= 30)
        .await;
    first.crash();
    let second = aws.start_service_with(&data_dir, &aws.topic_arn, &quick);
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

/// SNS's error for a throttled KMS key behind an encrypted topic: a reason
/// to try later, which the SDK does not retry by itself.
const KMS_THROTTLED: &str = r#"<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Sender</Type><Code>KMSThrottling</Code><Message>Rate exceeded</Message></Error><RequestId>outage</RequestId></ErrorResponse>"#;
const NOT_AUTHORIZED: &str = r#"<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Sender</Type><Code>AuthorizationError</Code><Message>not authorized</Message></Error><RequestId>denied</RequestId></ErrorResponse>"#;

/// SNS is down longer than three receives at the plain visibility timeout
/// (1 s here) would last: with the queue's maxReceiveCount of 3, a
/// consumer that only waited for the timeout would dead-letter the message.
/// Hidden 1 s, then 4 s, its third receive comes after the outage.
#[tokio::test]
async fn a_publisher_outage_costs_delay_not_dead_letters() {
    let aws = Aws::with_max_receives(3).await;
    let sns = AwsProxy::serve(
        crate::helpers::moto_endpoint(),
        Behaviour::Outage {
            lasting: Duration::from_secs(3),
            status: 400,
            body: KMS_THROTTLED,
        },
    );
    let data_dir = TempDir::new().unwrap();
    let service = aws.start_service_with(
        &data_dir,
        &aws.topic_arn,
        &[
            ("NOTIFICATIONS_VISIBILITY_TIMEOUT", "1"),
            ("NOTIFICATIONS_CONCURRENCY", "1"),
            ("AWS_ENDPOINT_URL_SNS", &sns.endpoint),
        ],
    );
    let (order, insert) = with_new_order(INSERT);

    aws.send(&[insert]).await;

    let notified = aws
        .collect_until(&aws.topic_inbox, |seen| !seen.is_empty())
        .await;
    assert_eq!(json(&notified[0])["orderId"], order.as_str());
    assert!(
        sns.refused() >= 2,
        "published only after the outage ({} refused)",
        sns.refused()
    );
    aws.wait_until_drained(&aws.changes).await;
    assert_eq!(
        aws.depth(&aws.dead_letters).await,
        0,
        "nothing dead-lettered"
    );
    assert_eq!(service.terminate().code(), Some(0));
}

/// A refusal that no retry can change (access denied) still reaches the DLQ
/// after maxReceiveCount receives, at the plain visibility timeout.
#[tokio::test]
async fn a_permanent_refusal_still_reaches_the_dlq() {
    let aws = Aws::with_max_receives(2).await;
    let sns = AwsProxy::serve(
        crate::helpers::moto_endpoint(),
        Behaviour::Refuse {
            status: 403,
            body: NOT_AUTHORIZED,
        },
    );
    let data_dir = TempDir::new().unwrap();
    let service = aws.start_service_with(
        &data_dir,
        &aws.topic_arn,
        &[
            ("NOTIFICATIONS_VISIBILITY_TIMEOUT", "1"),
            ("AWS_ENDPOINT_URL_SNS", &sns.endpoint),
        ],
    );
    let (_, insert) = with_new_order(INSERT);
    let sent = Instant::now();

    aws.send(std::slice::from_ref(&insert)).await;

    let dead = aws
        .collect_until(&aws.dead_letters, |seen| !seen.is_empty())
        .await;
    assert_eq!(dead[0].body(), Some(insert.as_str()));
    assert!(
        sent.elapsed() < Duration::from_secs(30),
        "not hidden for longer: {:?}",
        sent.elapsed()
    );
    assert_eq!(service.terminate().code(), Some(0));
}

/// On a FIFO topic, SNS orders by message group and drops a repeated
/// deduplication id within five minutes ("Message grouping and
/// deduplication for FIFO topics"): the group is the order, the id is the
/// event, so a redelivered change is one message and an order's events
/// arrive in order.
#[tokio::test]
async fn a_fifo_topic_groups_by_order_and_deduplicates_by_event() {
    let aws = Aws::new().await;
    let sdk = sdk().await;
    let sns = aws_sdk_sns::Client::new(&sdk);
    let id = ulid::Ulid::generate().to_string().to_lowercase();
    let topic = sns
        .create_topic()
        .name(format!("orders-{id}.fifo"))
        .attributes("FifoTopic", "true")
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    let inbox = aws
        .sqs
        .create_queue()
        .queue_name(format!("fifo-inbox-{id}.fifo"))
        .attributes(aws_sdk_sqs::types::QueueAttributeName::FifoQueue, "true")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    sns.subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint(queue_arn(&aws.sqs, &inbox).await)
        .attributes("RawMessageDelivery", "true")
        .send()
        .await
        .unwrap();
    let data_dir = TempDir::new().unwrap();
    let service = aws.start_service(&data_dir, &topic);
    let (order, insert) = with_new_order(INSERT);

    aws.send(&[insert]).await;

    let deadline = Instant::now() + Duration::from_secs(60);
    let message = loop {
        assert!(Instant::now() < deadline, "nothing reached the FIFO inbox");
        let received = aws
            .sqs
            .receive_message()
            .queue_url(&inbox)
            .wait_time_seconds(1)
            .message_system_attribute_names(
                aws_sdk_sqs::types::MessageSystemAttributeName::MessageGroupId,
            )
            .message_system_attribute_names(
                aws_sdk_sqs::types::MessageSystemAttributeName::MessageDeduplicationId,
            )
            .send()
            .await
            .unwrap();
        if let Some(message) = received.messages.unwrap_or_default().pop() {
            break message;
        }
    };
    let system = message.attributes().unwrap();
    let event = json(&message);
    assert_eq!(event["orderId"], order.as_str());
    assert_eq!(
        system[&aws_sdk_sqs::types::MessageSystemAttributeName::MessageGroupId],
        order
    );
    assert_eq!(
        system[&aws_sdk_sqs::types::MessageSystemAttributeName::MessageDeduplicationId],
        event["eventId"].as_str().unwrap()
    );
    assert_eq!(service.terminate().code(), Some(0));
}

/// EventBridge answers entry by entry: one refused entry in a call that
/// published the others is retried alone, and the others are not sent again.
#[tokio::test]
async fn a_bus_entry_refused_alone_is_retried_alone() {
    let aws = Aws::with_max_receives(5).await;
    let (orders, bodies): (Vec<String>, Vec<String>) =
        (0..3).map(|_| with_new_order(INSERT)).unzip();
    let refused_order = orders[1].clone();
    let bus = FakeBus::serve(Some(Refusal {
        needle: refused_order.clone(),
        times: 1,
        code: "ThrottlingException",
    }));
    let data_dir = TempDir::new().unwrap();
    let service = aws.start_service_with(
        &data_dir,
        &aws.topic_arn,
        &[
            ("NOTIFICATIONS_VISIBILITY_TIMEOUT", "1"),
            ("NOTIFICATIONS_CONCURRENCY", "1"),
            ("AWS_ENDPOINT_URL_EVENTBRIDGE", &bus.url),
        ],
    );

    aws.send(&bodies).await;
    aws.wait_until_drained(&aws.changes).await;

    assert_eq!(bus.refused(), 1);
    let sent_for = |order: &str| {
        bus.entries()
            .iter()
            .filter(|entry| entry["Detail"].as_str().unwrap_or_default().contains(order))
            .count()
    };
    assert_eq!(sent_for(&refused_order), 2, "refused once, then published");
    for order in [&orders[0], &orders[2]] {
        assert_eq!(sent_for(order), 1, "{order} was published once, not again");
    }
    assert_eq!(aws.depth(&aws.dead_letters).await, 0);
    assert_eq!(service.terminate().code(), Some(0));
}
