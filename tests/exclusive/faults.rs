//! Dependency faults: a TCP proxy between the real binary and the DynamoDB
//! emulator refuses connections, cuts them, or holds DynamoDB's answers back.
//! Requests must answer 503 with Retry-After within the configured budget,
//! /health/ready must say not-ready, the service must recover by itself, and
//! a write that timed out after DynamoDB applied it must not be placed twice.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::watch;

use crate::helpers::process::{Running, start_with};
use crate::helpers::{dynamodb_endpoint, http_client, status_and_json, unique};

/// Per attempt, and per DynamoDB call with its retries (the service's budget).
const ATTEMPT_TIMEOUT: Duration = Duration::from_millis(500);
const CALL_TIMEOUT: Duration = Duration::from_millis(1500);
/// What a request may take on top of its DynamoDB call: scheduling on a
/// 2-core machine with two busy loops beside the suite, not a second call.
const SLACK: Duration = Duration::from_secs(3);
/// How late a slow DynamoDB answers: far past the budget and its slack, so
/// a request that waited for the answer cannot pass for one that gave up.
const SLOW: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq)]
enum Fault {
    None,
    /// Nothing listens: connections are refused.
    Refuse,
    /// Connections are accepted and closed at once; open ones are cut.
    Cut,
    /// Requests reach DynamoDB (and are applied); its answers come this late.
    SlowAnswers(Duration),
}

struct FaultProxy {
    address: SocketAddr,
    fault: watch::Sender<Fault>,
}

impl FaultProxy {
    async fn start(upstream: SocketAddr) -> Self {
        let listener = listen(None).await;
        let address = listener.local_addr().unwrap();
        let (fault, faults) = watch::channel(Fault::None);
        tokio::spawn(serve(listener, address, upstream, faults));
        Self { address, fault }
    }

    fn set(&self, fault: Fault) {
        self.fault.send_replace(fault);
    }

    fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }
}

/// Binds with SO_REUSEADDR so the proxy can take its port back after a
/// spell of refusing connections.
async fn listen(address: Option<SocketAddr>) -> TcpListener {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_reuseaddr(true).unwrap();
    socket
        .bind(address.unwrap_or_else(|| "127.0.0.1:0".parse().unwrap()))
        .unwrap();
    socket.listen(128).unwrap()
}

async fn serve(
    listener: TcpListener,
    address: SocketAddr,
    upstream: SocketAddr,
    mut faults: watch::Receiver<Fault>,
) {
    let mut listener = Some(listener);
    loop {
        let fault = *faults.borrow_and_update();
        match (fault, listener.is_some()) {
            // Closing the socket is what makes connections refused.
            (Fault::Refuse, true) => listener = None,
            (Fault::Refuse, false) => {}
            (_, false) => listener = Some(listen(Some(address)).await),
            (_, true) => {}
        }
        let Some(open) = &listener else {
            if faults.changed().await.is_err() {
                return;
            }
            continue;
        };
        tokio::select! {
            accepted = open.accept() => {
                let Ok((client, _)) = accepted else { continue };
                if fault == Fault::Cut {
                    drop(client);
                    continue;
                }
                tokio::spawn(forward(client, upstream, faults.clone()));
            }
            changed = faults.changed() => {
                if changed.is_err() {
                    return;
                }
            }
        }
    }
}

/// Copies both ways until either side closes or a fault cuts the connection.
async fn forward(client: TcpStream, upstream: SocketAddr, mut faults: watch::Receiver<Fault>) {
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let requests = async {
        let mut buffer = vec![0; 16 * 1024];
        while let Ok(n @ 1..) = client_read.read(&mut buffer).await {
            if server_write.write_all(&buffer[..n]).await.is_err() {
                break;
            }
        }
    };
    let answers_faults = faults.clone();
    let answers = async {
        let mut buffer = vec![0; 16 * 1024];
        while let Ok(n @ 1..) = server_read.read(&mut buffer).await {
            let fault = *answers_faults.borrow();
            if let Fault::SlowAnswers(delay) = fault {
                tokio::time::sleep(delay).await;
            }
            if client_write.write_all(&buffer[..n]).await.is_err() {
                break;
            }
        }
    };
    let cut = async {
        loop {
            let fault = *faults.borrow_and_update();
            if matches!(fault, Fault::Refuse | Fault::Cut) {
                break;
            }
            if faults.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = async { tokio::join!(requests, answers) } => {}
        _ = cut => {}
    }
}

/// DynamoDB Local's address: the faults stand between a task and it.
fn dynamodb_address() -> SocketAddr {
    let endpoint = dynamodb_endpoint();
    let authority = endpoint.trim_start_matches("http://").trim_end_matches('/');
    std::net::ToSocketAddrs::to_socket_addrs(authority)
        .unwrap()
        .next()
        .unwrap()
}

/// The proxy runs on this test's runtime while `start_with` blocks the
/// calling thread, so these tests need a multi-threaded runtime.
fn start_behind(proxy: &FaultProxy, data_dir: &TempDir) -> Running {
    let table = unique("faults");
    let attempt = ATTEMPT_TIMEOUT.as_millis().to_string();
    let call = CALL_TIMEOUT.as_millis().to_string();
    start_with(
        data_dir,
        &[
            ("STORE", "dynamodb"),
            ("CREATE_TABLE", "true"),
            ("TABLE_NAME", &table),
            ("AWS_ENDPOINT_URL_DYNAMODB", &proxy.endpoint()),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
            ("DYNAMODB_ATTEMPT_TIMEOUT_MS", &attempt),
            ("DYNAMODB_TIMEOUT_MS", &call),
        ],
    )
}

/// The binary behind a fault proxy (no fault yet), with one registered user.
struct Behind {
    proxy: FaultProxy,
    running: Running,
    address: String,
    client: reqwest::Client,
    _data_dir: TempDir,
}

impl Behind {
    async fn with_user(username: &str) -> Self {
        let proxy = FaultProxy::start(dynamodb_address()).await;
        let data_dir = TempDir::new().unwrap();
        let running = start_behind(&proxy, &data_dir);
        let address = running.address.clone();
        let client = http_client();
        let registration = json!({"username": username, "email": format!("{username}@example.com"), "name": username});
        let response = client
            .post(format!("{address}/add_user"))
            .json(&registration)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        Self {
            proxy,
            running,
            address,
            client,
            _data_dir: data_dir,
        }
    }
}

/// Sends one request and times it.
async fn timed(request: reqwest::RequestBuilder) -> (StatusCode, Option<String>, Duration) {
    let started = Instant::now();
    let response = request.send().await.expect("the service answers");
    let elapsed = started.elapsed();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|value| value.to_str().unwrap().to_owned());
    (response.status(), retry_after, elapsed)
}

/// Polls readiness until it is 200, for at most 15 s.
async fn await_ready(client: &reqwest::Client, address: &str) -> Duration {
    let started = Instant::now();
    loop {
        let response = client
            .get(format!("{address}/health/ready"))
            .send()
            .await
            .unwrap();
        if response.status() == StatusCode::OK {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "ready again after the fault cleared"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_dynamodb_means_fast_503s_not_ready_and_recovery_without_restart() {
    let _alone = crate::alone().await;
    let Behind {
        proxy,
        running,
        address,
        client,
        _data_dir,
    } = Behind::with_user("alice").await;
    let order = json!({"username": "alice", "amount": 5.5, "numItems": 2});

    for fault in [Fault::Refuse, Fault::Cut, Fault::SlowAnswers(SLOW)] {
        proxy.set(fault);
        for (what, request) in [
            ("GET user", client.get(format!("{address}/users/alice"))),
            (
                "POST order",
                client.post(format!("{address}/orders")).json(&order),
            ),
            (
                "list",
                client.get(format!("{address}/orders?username=alice")),
            ),
            ("ready", client.get(format!("{address}/health/ready"))),
        ] {
            let (status, retry_after, elapsed) = timed(request).await;
            assert_eq!(
                status,
                StatusCode::SERVICE_UNAVAILABLE,
                "{what} during {fault:?}"
            );
            assert_eq!(retry_after.as_deref(), Some("1"), "{what} during {fault:?}");
            assert!(
                elapsed <= CALL_TIMEOUT + SLACK,
                "{what} during {fault:?} took {elapsed:?}, over the budget"
            );
        }
        let (status, _, _) = timed(client.get(format!("{address}/health/live"))).await;
        assert_eq!(status, StatusCode::OK, "alive during {fault:?}");

        proxy.set(Fault::None);
        await_ready(&client, &address).await;
        let (status, _, _) = timed(client.get(format!("{address}/users/alice"))).await;
        assert_eq!(status, StatusCode::OK, "recovered after {fault:?}");
    }
    running.terminate();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_that_timed_out_after_it_was_applied_is_not_repeated_by_its_retry() {
    let _alone = crate::alone().await;
    let Behind {
        proxy,
        running,
        address,
        client,
        _data_dir,
    } = Behind::with_user("bob").await;
    let order = json!({"username": "bob", "amount": 12.25, "numItems": 3});
    let place = || {
        client
            .post(format!("{address}/orders"))
            .header("Idempotency-Key", "bob-order-1")
            .json(&order)
    };

    // DynamoDB applies the transaction; the answer never arrives in time.
    proxy.set(Fault::SlowAnswers(SLOW));
    let (status, _, elapsed) = timed(place()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(elapsed <= CALL_TIMEOUT + SLACK, "took {elapsed:?}");

    proxy.set(Fault::None);
    await_ready(&client, &address).await;
    let response = place().send().await.unwrap();
    let replayed = response.headers().get("idempotent-replayed").cloned();
    let (status, body) = status_and_json(response).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        replayed.map(|value| value.to_str().unwrap().to_owned()),
        Some("true".to_owned()),
        "the retry finds the write that timed out: {body}"
    );

    let response = client
        .get(format!("{address}/orders?username=bob"))
        .send()
        .await
        .unwrap();
    let (status, listing) = status_and_json(response).await;
    assert_eq!(status, StatusCode::OK);
    let orders: Vec<&Value> = listing["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|entry| entry.get("OrderId").is_some())
        .collect();
    assert_eq!(orders.len(), 1, "one order, not two: {listing}");
    assert_eq!(orders[0]["OrderId"], body["data"]["OrderId"]);
    running.terminate();
}
