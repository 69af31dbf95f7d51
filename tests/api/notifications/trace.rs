//! A published message carries its own trace and links the write's.

use serde_json::Value;
use tempfile::TempDir;

use crate::helpers::aws::{Aws, INSERT, json, with_new_order};
use crate::helpers::fake_bus::FakeBus;
use crate::helpers::recorder::Recorder;

#[tokio::test]
async fn a_published_message_carries_its_trace_and_links_the_write_that_caused_it() {
    let aws = Aws::new().await;
    let collector = Recorder::serve("/v1/traces", "application/x-protobuf", "");
    // moto's rule targets do not pass the TraceHeader on (nor does AWS: it
    // goes to X-Ray), so the bus is a fake that keeps the PutEvents request.
    let bus = FakeBus::serve(None);
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
    let put_events: Value = bus.requests.lock().unwrap()[0].clone();
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
