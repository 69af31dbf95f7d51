//! Traces, log lines and metrics as an on-call engineer reads them. This
//! binary installs the process-wide subscriber once, with an in-memory span
//! exporter and captured output, and runs the real app in-process on the
//! embedded engine.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use ecommerce_service::config::{
    AuthSettings, LogFormat, NotificationSettings, OverloadSettings, Settings, StoreSettings,
};
use ecommerce_service::startup::Application;
use ecommerce_service::telemetry::sampling::{self, Sampling};
use ecommerce_service::telemetry::{self, metrics, trace};
use opentelemetry::trace::{SpanId, SpanKind, TraceId};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use serde_json::{Value, json};
use tempfile::TempDir;
use tracing_subscriber::util::SubscriberInitExt;

/// Bytes written by the log layer or the metrics recorder.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn lines(&self) -> Vec<Value> {
        String::from_utf8_lossy(&self.0.lock().unwrap())
            .lines()
            .map(|line| serde_json::from_str(line).expect("a JSON line"))
            .collect()
    }
}

struct Observed {
    spans: InMemorySpanExporter,
    provider: SdkTracerProvider,
    logs: Captured,
    metrics: Captured,
}

fn observed() -> &'static Observed {
    static OBSERVED: OnceLock<Observed> = OnceLock::new();
    OBSERVED.get_or_init(|| {
        // As deployed: a caller's sampled flag decides (parent-based).
        sampling::install(Sampling::always());
        let spans = InMemorySpanExporter::default();
        let provider = trace::provider_with(spans.clone());
        let logs = Captured::default();
        let writer = logs.clone();
        telemetry::subscriber(LogFormat::Json, move || writer.clone(), Some(&provider)).init();
        let metrics = Captured::default();
        // Flushed by the tests, never by the clock.
        metrics::install(Box::new(metrics.clone()), Duration::from_secs(3600));
        Observed {
            spans,
            provider,
            logs,
            metrics,
        }
    })
}

struct App {
    address: String,
    client: reqwest::Client,
    _data_dir: TempDir,
}

async fn spawn_app() -> App {
    observed();
    let data_dir = TempDir::new().unwrap();
    let settings = Settings {
        host: IpAddr::V4(Ipv4Addr::LOCALHOST),
        port: 0,
        store: StoreSettings::Embedded {
            data_dir: data_dir.path().to_owned(),
        },
        log_format: LogFormat::Json,
        metrics_interval: None,
        trace_caller_sampled_per_second: 10,
        shutdown_timeout: Duration::from_secs(1),
        client_timeout: Duration::from_secs(2),
        notifications: NotificationSettings::off(),
        auth: AuthSettings::Off,
        overload: OverloadSettings::off(),
    };
    let app = Application::build(&settings).await.unwrap();
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    App {
        address,
        client: reqwest::Client::new(),
        _data_dir: data_dir,
    }
}

impl App {
    async fn send(&self, request: reqwest::RequestBuilder, request_id: &str) -> u16 {
        request
            .header("x-request-id", request_id)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    async fn register(&self, username: &str, request_id: &str) {
        let body = json!({"username": username, "email": format!("{username}@example.com"), "name": "Secret Name"});
        let status = self
            .send(
                self.client
                    .post(format!("{}/add_user", self.address))
                    .json(&body),
                request_id,
            )
            .await;
        assert_eq!(status, 201);
    }
}

/// The log lines of one request, by its id.
fn lines_of(request_id: &str) -> Vec<Value> {
    observed()
        .logs
        .lines()
        .into_iter()
        .filter(|line| line["span"]["request_id"] == request_id)
        .collect()
}

fn finished_spans() -> Vec<SpanData> {
    observed().provider.force_flush().unwrap();
    observed().spans.get_finished_spans().unwrap()
}

#[tokio::test]
async fn a_request_continues_the_callers_trace_and_parents_its_storage_calls() {
    let app = spawn_app().await;
    app.register("tracy", "trace-setup").await;
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller_span = "00f067aa0ba902b7";
    let status = app
        .send(
            app.client
                .get(format!("{}/orders?username=tracy", app.address))
                .header("traceparent", format!("00-{trace_id}-{caller_span}-01")),
            "trace-listing",
        )
        .await;
    assert_eq!(status, 200);

    let spans = finished_spans();
    let wanted = TraceId::from_hex(trace_id).unwrap();
    let server = spans
        .iter()
        .find(|span| span.span_context.trace_id() == wanted && span.span_kind == SpanKind::Server)
        .expect("a server span in the caller's trace");
    assert_eq!(server.name, "GET /orders");
    assert_eq!(
        server.parent_span_id,
        SpanId::from_hex(caller_span).unwrap()
    );
    let children: Vec<&SpanData> = spans
        .iter()
        .filter(|span| span.parent_span_id == server.span_context.span_id())
        .collect();
    // README, "Traces": each storage call is one client child span; a
    // listing's page is one query.
    assert_eq!(
        children.len(),
        1,
        "one span per storage call: {:?}",
        children.iter().map(|span| &span.name).collect::<Vec<_>>()
    );
    let query = children[0];
    assert_eq!(query.span_kind, SpanKind::Client);
    assert_eq!(query.span_context.trace_id(), wanted);
    assert_eq!(query.name, "Query");

    // Every line inside the request carries the ids, the route and, at the
    // end, the status and latency.
    let lines = lines_of("trace-listing");
    assert!(!lines.is_empty());
    for line in &lines {
        assert_eq!(line["span"]["trace_id"], trace_id, "{line}");
        assert_eq!(
            line["span"]["span_id"],
            server.span_context.span_id().to_string(),
            "{line}"
        );
        assert_eq!(line["span"]["http.route"], "/orders", "{line}");
    }
    let finished = lines
        .iter()
        .find(|line| line["message"] == "request finished")
        .expect("a request finished line");
    assert_eq!(finished["http.status_code"], 200);
    assert!(finished["latency_us"].as_u64().is_some());
}

/// A caller's unsampled flag (`-00`) is followed before the span is built
/// (src/telemetry/sampling.rs): nothing of the request reaches the exporter,
/// and its log lines are still written.
#[tokio::test]
async fn an_unsampled_callers_request_exports_no_span_and_still_logs() {
    let app = spawn_app().await;
    app.register("quiet", "unsampled-setup").await;
    let unsampled = "5bf92f3577b34da6a3ce929d0e0e4737";
    let sampled = "6bf92f3577b34da6a3ce929d0e0e4738";
    for (trace_id, flag, request_id) in [
        (unsampled, "00", "unsampled-get"),
        (sampled, "01", "sampled-get"),
    ] {
        let status = app
            .send(
                app.client
                    .get(format!("{}/orders?username=quiet", app.address))
                    .header(
                        "traceparent",
                        format!("00-{trace_id}-00f067aa0ba902b7-{flag}"),
                    ),
                request_id,
            )
            .await;
        assert_eq!(status, 200);
    }
    let spans = finished_spans();
    let in_trace = |trace_id: &str| {
        let wanted = TraceId::from_hex(trace_id).unwrap();
        spans
            .iter()
            .filter(|span| span.span_context.trace_id() == wanted)
            .count()
    };
    assert_eq!(
        in_trace(unsampled),
        0,
        "the unsampled request exported spans"
    );
    // The server span and its one Query: the same request, sampled, exports.
    assert_eq!(in_trace(sampled), 2);
    let finished = lines_of("unsampled-get")
        .into_iter()
        .find(|line| line["message"] == "request finished")
        .expect("the unsampled request still logs its line");
    assert_eq!(finished["http.status_code"], 200);
}

#[tokio::test]
async fn a_new_trace_id_starts_with_the_time_as_x_ray_requires() {
    let app = spawn_app().await;
    let status = app
        .send(
            app.client.get(format!("{}/users/xray", app.address)),
            "xray-404",
        )
        .await;
    assert_eq!(status, 404);
    let lines = lines_of("xray-404");
    let trace_id = lines[0]["span"]["trace_id"].as_str().expect("a trace id");
    let seconds = u64::from_str_radix(&trace_id[..8], 16).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        now.abs_diff(seconds) < 60,
        "{trace_id} starts with the epoch seconds"
    );
}

#[tokio::test]
async fn no_personal_data_is_logged_and_a_404_is_not_an_error() {
    let app = spawn_app().await;
    app.register("privy", "privacy-register").await;
    let status = app
        .send(
            app.client.post(format!(
                "{}/edit-address?username=privy&new_address=1%20Secret%20Lane",
                app.address
            )),
            "privacy-address",
        )
        .await;
    assert_eq!(status, 200);
    let missing = app
        .send(
            app.client.get(format!("{}/users/nobody-here", app.address)),
            "privacy-404",
        )
        .await;
    assert_eq!(missing, 404);

    let logged: Vec<String> = ["privacy-register", "privacy-address", "privacy-404"]
        .iter()
        .flat_map(|id| lines_of(id))
        .map(|line| line.to_string())
        .collect();
    assert!(logged.len() >= 3, "each request logged: {logged:?}");
    for line in &logged {
        assert!(!line.contains("privy@example.com"), "an email: {line}");
        assert!(!line.contains("Secret Lane"), "an address: {line}");
        assert!(!line.contains("Secret Name"), "a name: {line}");
    }
    let errors = lines_of("privacy-404")
        .into_iter()
        .filter(|line| line["level"] == "ERROR")
        .count();
    assert_eq!(errors, 0, "a client's 404 is not an error of ours");
}

#[tokio::test]
async fn metrics_are_embedded_metric_format_with_bounded_dimensions() {
    let app = spawn_app().await;
    app.register("metric-user", "metrics-register").await;
    let status = app
        .send(
            app.client.get(format!("{}/users/metric-user", app.address)),
            "metrics-get",
        )
        .await;
    assert_eq!(status, 200);
    metrics::flush();

    let lines = observed().metrics.lines();
    assert!(!lines.is_empty());
    for line in &lines {
        let aws = &line["_aws"];
        assert!(aws["Timestamp"].as_u64().is_some(), "{line}");
        let directives = aws["CloudWatchMetrics"]
            .as_array()
            .expect("CloudWatchMetrics");
        assert_eq!(directives.len(), 1);
        let directive = &directives[0];
        assert_eq!(directive["Namespace"], metrics::NAMESPACE);
        for dimension_set in directive["Dimensions"].as_array().unwrap() {
            for name in dimension_set.as_array().unwrap() {
                let value = line[name.as_str().unwrap()].as_str();
                assert!(value.is_some(), "dimension {name} at the top level: {line}");
                assert!(
                    !value.unwrap().contains("metric-user"),
                    "no username: {line}"
                );
            }
        }
        for metric in directive["Metrics"].as_array().unwrap() {
            assert!(metric["Unit"].is_string());
            let value = &line[metric["Name"].as_str().unwrap()];
            let numbers = match value {
                Value::Array(values) => values.clone(),
                number => vec![number.clone()],
            };
            assert!(!numbers.is_empty() && numbers.len() <= 100, "{line}");
            assert!(numbers.iter().all(Value::is_number), "{line}");
        }
    }
    let requests = lines
        .iter()
        .find(|line| line["Route"] == "GET /users/{username}" && line["StatusClass"] == "2xx")
        .expect("the profile reads, by route template");
    assert!(requests["Requests"].as_f64().unwrap() >= 1.0);
    assert!(!requests["Latency"].as_array().unwrap().is_empty());
    let reads = lines
        .iter()
        .find(|line| line["Engine"] == "redb" && line["Operation"] == "GetItem")
        .expect("the storage calls, by operation");
    assert!(reads["StorageCalls"].as_f64().unwrap() >= 1.0);
    assert_eq!(reads["StorageErrors"], 0.0);
}
