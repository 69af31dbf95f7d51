//! Spawns the real application on a random port, against either engine, and
//! talks plain HTTP to it.

pub mod aws;
pub mod aws_proxy;
pub mod fake_bus;
pub mod fake_streams;
pub mod jwt;
pub mod process;
pub mod recorder;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ecommerce_service::config::{
    AuthSettings, LogFormat, NotificationSettings, OverloadSettings, Settings, StoreSettings,
};
use ecommerce_service::startup::Application;
use ecommerce_service::store::Store;
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use tempfile::TempDir;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineKind {
    Embedded,
    DynamoDb,
}

/// The service's HTTP API as a client sees it, wherever the service runs
/// (in this process, or as the real binary).
pub struct Api {
    pub address: String,
    pub client: reqwest::Client,
}

/// The app in this test's process.
pub struct TestApp {
    api: Api,
    /// The app's own store, for tests that must interleave a step of their
    /// own with the app's requests.
    pub store: Store,
    dynamodb_requests: Option<Arc<AtomicU64>>,
    _data_dir: Option<TempDir>,
}

impl std::ops::Deref for TestApp {
    type Target = Api;

    fn deref(&self) -> &Api {
        &self.api
    }
}

/// Runs the test body once per engine, as `<name>::embedded` and `<name>::dynamodb`.
#[macro_export]
macro_rules! on_both_engines {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                use $crate::EngineKind;

                #[tokio::test]
                async fn embedded() {
                    super::$name(EngineKind::Embedded).await
                }

                #[tokio::test]
                async fn dynamodb() {
                    super::$name(EngineKind::DynamoDb).await
                }
            }
        )*
    };
}

/// DynamoDB budgets for the suite: moto handles DynamoDB requests one at a
/// time, and on a loaded 2-core machine a 100-item transaction can wait
/// seconds in its queue. These tests check behaviour, not budgets (the
/// budget tests in tests/exclusive set their own), so a slow emulator must
/// not turn into a 503.
pub const EMULATOR_TIMEOUTS: ecommerce_service::config::DynamoDbTimeouts =
    ecommerce_service::config::DynamoDbTimeouts {
        attempt: Duration::from_secs(20),
        call: Duration::from_secs(60),
    };

/// The emulator's address. The DynamoDB half of the suite needs it and
/// fails, never skips, without it.
pub fn moto_endpoint() -> String {
    std::env::var("MOTO_ENDPOINT").expect(
        "MOTO_ENDPOINT is not set: run the suite with `make test` \
         (or scripts/with-moto.sh cargo test), which starts the AWS emulator",
    )
}

/// Amazon's DynamoDB Local: the DynamoDB (and DynamoDB Streams) of the
/// suite. Its half of the suite needs it and fails, never skips, without.
pub fn dynamodb_endpoint() -> String {
    std::env::var("DYNAMODB_LOCAL_ENDPOINT").expect(
        "DYNAMODB_LOCAL_ENDPOINT is not set: run the suite with `make test` (or \
         scripts/with-moto.sh scripts/with-dynamodb-local.sh cargo test), which starts DynamoDB Local",
    )
}

/// A listener on a free loopback port for a fake server, and its base URL.
pub fn loopback() -> (std::net::TcpListener, String) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let url = format!("http://{}", listener.local_addr().unwrap());
    (listener, url)
}

/// Runs a fake server on a thread of its own, for the rest of the test
/// binary: it keeps serving whichever test runtime is blocked.
pub fn run_in_background(server: actix_web::dev::Server) {
    std::thread::spawn(move || actix_web::rt::System::new().block_on(server));
}

/// A reqwest client. reqwest's rustls takes the process-wide crypto provider
/// (the service installs aws-lc-rs only when it builds its JWKS client), so
/// the tests install the same one rather than depend on test order.
pub fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    reqwest::Client::new()
}

pub fn http_client_builder() -> reqwest::ClientBuilder {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    reqwest::Client::builder()
}

pub async fn spawn_app(kind: EngineKind) -> TestApp {
    spawn_app_with_auth(kind, AuthSettings::Off).await
}

pub async fn spawn_app_with_auth(kind: EngineKind, auth: AuthSettings) -> TestApp {
    spawn_app_with(kind, auth, OverloadSettings::off()).await
}

/// The suite's apps run without the overload gates (it races the service
/// from one address on a busy debug build); a test of the gates sets them.
pub async fn spawn_app_with(
    kind: EngineKind,
    auth: AuthSettings,
    overload: OverloadSettings,
) -> TestApp {
    let (store, data_dir) = match kind {
        EngineKind::Embedded => {
            let dir = TempDir::new().expect("a temporary data directory");
            let store = StoreSettings::Embedded {
                data_dir: dir.path().to_owned(),
            };
            (store, Some(dir))
        }
        EngineKind::DynamoDb => {
            dynamodb_endpoint();
            // A table of its own keeps each test isolated on the shared
            // DynamoDB Local (the app's SDK finds it through
            // AWS_ENDPOINT_URL_DYNAMODB, which the script sets).
            let table_name = format!("test-{}", ulid::Ulid::generate());
            let store = StoreSettings::DynamoDb {
                table_name,
                create_table: true,
                timeouts: EMULATOR_TIMEOUTS,
                // moto's indexes never lag; tests/api/queue.rs shows the
                // settle time with a service of its own.
                queue_settle: Duration::ZERO,
                table_key_arn: None,
            };
            (store, None)
        }
    };
    let settings = Settings {
        host: IpAddr::V4(Ipv4Addr::LOCALHOST),
        port: 0,
        store,
        log_format: LogFormat::Pretty,
        metrics_interval: None,
        trace_caller_sampled_per_second: 10,
        shutdown_timeout: Duration::from_secs(1),
        client_timeout: Duration::from_secs(2),
        notifications: NotificationSettings::off(),
        auth,
        overload,
    };
    let app = Application::build(&settings).await.expect("the app starts");
    let address = format!("http://127.0.0.1:{}", app.port());
    let dynamodb_requests = app.dynamodb_requests();
    let store = app.store().clone();
    tokio::spawn(app.run_until_stopped());
    TestApp {
        api: Api::new(address),
        store,
        dynamodb_requests,
        _data_dir: data_dir,
    }
}

impl Api {
    pub fn new(address: String) -> Self {
        Self {
            address,
            client: http_client(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn put_json(&self, path: &str, body: &Value) -> Response {
        self.client
            .put(self.url(path))
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request sent")
    }

    /// A GET whose log lines the test finds by their `x-request-id`.
    pub async fn get_with_request_id(&self, path: &str, request_id: &str) -> Response {
        self.client
            .get(self.url(path))
            .header("x-request-id", request_id)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn delete(&self, path: &str) -> Response {
        self.client
            .delete(self.url(path))
            .send()
            .await
            .expect("request sent")
    }

    pub async fn add_user(&self, username: &str, email: &str) -> Response {
        let body =
            json!({"email": email, "name": format!("{username} smith"), "username": username});
        self.post_json("/add_user", &body).await
    }

    /// Registers a user and returns nothing but the certainty that it exists.
    pub async fn given_user(&self, username: &str) {
        let response = self
            .add_user(username, &format!("{username}@example.com"))
            .await;
        assert_eq!(
            response.status(),
            StatusCode::CREATED,
            "registering {username}"
        );
    }

    pub async fn place_order(&self, username: &str, amount: &str, items: u32) -> Response {
        let body: Value = serde_json::from_str(&format!(
            r#"{{"amount": {amount}, "numItems": {items}, "username": "{username}"}}"#
        ))
        .expect("valid JSON");
        self.post_json("/orders", &body).await
    }

    /// Places an order that must succeed and returns its id.
    pub async fn given_order(&self, username: &str) -> String {
        let response = self.place_order(username, "5.5", 2).await;
        let (status, body) = status_and_json(response).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["data"]["OrderId"]
            .as_str()
            .expect("an order id")
            .to_owned()
    }
}

impl TestApp {
    /// How many DynamoDB requests `action` sent.
    pub async fn dynamodb_requests_during<F: std::future::Future<Output = T>, T>(
        &self,
        action: F,
    ) -> (u64, T) {
        let counter = self
            .dynamodb_requests
            .as_ref()
            .expect("only the DynamoDB engine counts requests");
        let before = counter.load(Ordering::SeqCst);
        let result = action.await;
        (counter.load(Ordering::SeqCst) - before, result)
    }
}

/// The status and error code of an error answer, for one-line assertions.
pub async fn status_and_code(response: Response) -> (StatusCode, String) {
    let (status, body) = status_and_json(response).await;
    (status, error_code(&body, status))
}

pub async fn status_and_json(response: Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().await.expect("a body");
    let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("a JSON body, got {text:?}"));
    (status, body)
}

/// Asserts the common error shape and returns the error code.
pub fn error_code(body: &Value, status: StatusCode) -> String {
    assert_eq!(body["success"], json!(false), "{body}");
    assert_eq!(body["status"], json!(status.as_u16()), "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    body["error"]["code"]
        .as_str()
        .expect("an error code")
        .to_owned()
}

/// A username no other test uses.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        ulid::Ulid::generate().to_string().to_lowercase()
    )
}
