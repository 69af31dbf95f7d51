//! A fault front: a TCP proxy between one service process and DynamoDB
//! Local. It reads each HTTP/1.1 request and, as its seeded dice say,
//! forwards it or does what AWS and the network do and DynamoDB Local never
//! does:
//!
//! - `Late`: the request reaches DynamoDB after the SDK's attempt timeout,
//!   so it commits after the service gave up on the attempt and retried;
//! - `DroppedAfterCommit`: DynamoDB applied it, the answer never arrives
//!   (the connection is reset);
//! - `Conflict`: a write meets an ongoing transaction on one of its items
//!   ("TransactionCanceledException" with reason `TransactionConflict`, or
//!   "TransactionConflictException" for a single-item write);
//! - `ProvisionedThroughputExceeded`, `Throttling`: refused, not applied;
//! - `Reset`: the connection is reset before the request is forwarded.
//!
//! Only data-plane requests are faulted, and only while armed. Now and then
//! a front has a storm (most requests faulted for a while), so some calls
//! run out of retries and the service answers 503 or times out, and the
//! clients' own retries meet writes that may have landed.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::dice::Dice;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fault {
    Late,
    DroppedAfterCommit,
    Conflict,
    ProvisionedThroughputExceeded,
    Throttling,
    Reset,
}

const WRITES: [&str; 4] = ["TransactWriteItems", "UpdateItem", "PutItem", "DeleteItem"];
const READS: [&str; 3] = ["GetItem", "Query", "Scan"];

pub struct FaultFront {
    pub endpoint: String,
    state: Arc<State>,
}

struct State {
    upstream: String,
    client: reqwest::Client,
    dice: Mutex<Dice>,
    /// Percent of data-plane requests faulted while armed.
    rate: u64,
    late_by: Duration,
    armed: AtomicBool,
    storm_until: Mutex<Option<Instant>>,
    injected: Mutex<BTreeMap<Fault, usize>>,
}

/// A storm: how often one starts (per request), how long it lasts, and the
/// percent of requests it faults.
const STORM_ODDS: u64 = 80;
const STORM: Duration = Duration::from_millis(1500);
const STORM_RATE: u64 = 75;

/// One request as the client sent it.
struct Request {
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    operation: String,
}

/// What goes back to the client.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl FaultFront {
    /// A front on a free loopback port, serving on a thread of its own (the
    /// test's thread blocks while a service process starts).
    pub fn start(upstream: String, seed: u64, rate: u64, late_by: Duration) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        listener.set_nonblocking(true).unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(State {
            upstream,
            client: crate::helpers::http_client_builder()
                .pool_max_idle_per_host(32)
                .build()
                .unwrap(),
            dice: Mutex::new(Dice::new(seed)),
            rate,
            late_by,
            armed: AtomicBool::new(false),
            storm_until: Mutex::default(),
            injected: Mutex::default(),
        });
        let serving = Arc::clone(&state);
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = TcpListener::from_std(listener).unwrap();
                while let Ok((socket, _)) = listener.accept().await {
                    tokio::spawn(serve(socket, Arc::clone(&serving)));
                }
            });
        });
        Self { endpoint, state }
    }

    pub fn arm(&self) {
        self.state.armed.store(true, Ordering::SeqCst);
    }

    pub fn disarm(&self) {
        self.state.armed.store(false, Ordering::SeqCst);
    }

    pub fn injected(&self) -> BTreeMap<Fault, usize> {
        self.state.injected.lock().unwrap().clone()
    }
}

impl State {
    fn roll(&self, operation: &str) -> Option<Fault> {
        let write = WRITES.contains(&operation);
        if !self.armed.load(Ordering::SeqCst) || !(write || READS.contains(&operation)) {
            return None;
        }
        let mut dice = self.dice.lock().unwrap();
        let rate = {
            let mut storm = self.storm_until.lock().unwrap();
            let now = Instant::now();
            if storm.is_none_or(|until| until < now) && dice.below(STORM_ODDS) == 0 {
                *storm = Some(now + STORM);
            }
            if storm.is_some_and(|until| until >= now) {
                STORM_RATE
            } else {
                self.rate
            }
        };
        if dice.below(100) >= rate {
            return None;
        }
        let fault = match dice.below(12) {
            0..=1 => Fault::Late,
            2..=3 => Fault::DroppedAfterCommit,
            // A read never meets a transaction conflict.
            4..=6 if write => Fault::Conflict,
            4..=8 => Fault::ProvisionedThroughputExceeded,
            9..=10 => Fault::Throttling,
            _ => Fault::Reset,
        };
        *self.injected.lock().unwrap().entry(fault).or_insert(0) += 1;
        Some(fault)
    }

    async fn forward(&self, request: &Request) -> Answer {
        let mut upstream = self
            .client
            .post(format!("{}{}", self.upstream, request.path))
            .body(request.body.clone());
        for (name, value) in &request.headers {
            if !["host", "content-length", "connection", "transfer-encoding"]
                .contains(&name.as_str())
            {
                upstream = upstream.header(name, value);
            }
        }
        let Ok(response) = upstream.send().await else {
            return refusal(500, "InternalServerError", "the upstream did not answer");
        };
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .filter(|(name, _)| {
                !["connection", "transfer-encoding", "content-length"].contains(&name.as_str())
            })
            .map(|(name, value)| {
                (
                    name.to_string(),
                    value.to_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        let body = response
            .bytes()
            .await
            .map(|b| b.to_vec())
            .unwrap_or_default();
        Answer {
            status,
            headers,
            body,
        }
    }
}

async fn serve(mut socket: TcpStream, state: Arc<State>) {
    let mut buffer = Vec::new();
    while let Some(request) = read_request(&mut socket, &mut buffer).await {
        let answer = match state.roll(&request.operation) {
            None => state.forward(&request).await,
            Some(Fault::Late) => {
                tokio::time::sleep(state.late_by).await;
                // The client gave up on this attempt long ago.
                let _ = state.forward(&request).await;
                return;
            }
            Some(Fault::DroppedAfterCommit) => {
                let _ = state.forward(&request).await;
                reset(socket);
                return;
            }
            Some(Fault::Reset) => {
                reset(socket);
                return;
            }
            Some(Fault::Conflict) => conflict(&request),
            Some(Fault::ProvisionedThroughputExceeded) => refusal(
                400,
                "ProvisionedThroughputExceededException",
                "The level of configured provisioned throughput for the table was exceeded.",
            ),
            Some(Fault::Throttling) => refusal(400, "ThrottlingException", "Rate exceeded"),
        };
        if write_answer(&mut socket, &answer).await.is_err() {
            return;
        }
    }
}

/// Closes with a TCP reset, as a dropped connection looks to the client.
fn reset(socket: TcpStream) {
    let _ = socket.set_zero_linger();
    drop(socket);
}

fn conflict(request: &Request) -> Answer {
    if request.operation != "TransactWriteItems" {
        return refusal(
            400,
            "TransactionConflictException",
            "Transaction is ongoing for the item",
        );
    }
    let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
    let items = body["TransactItems"].as_array().map_or(1, Vec::len);
    let reasons: Vec<Value> = (0..items)
        .map(|i| {
            let code = if i == 0 {
                "TransactionConflict"
            } else {
                "None"
            };
            json!({"Code": code})
        })
        .collect();
    let body = json!({
        "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
        "message": "Transaction cancelled, please refer cancellation reasons for specific reasons",
        "CancellationReasons": reasons,
    });
    Answer {
        status: 400,
        headers: vec![("content-type".into(), "application/x-amz-json-1.0".into())],
        body: body.to_string().into_bytes(),
    }
}

fn refusal(status: u16, kind: &str, message: &str) -> Answer {
    let body = json!({
        "__type": format!("com.amazonaws.dynamodb.v20120810#{kind}"),
        "message": message,
    });
    Answer {
        status,
        headers: vec![("content-type".into(), "application/x-amz-json-1.0".into())],
        body: body.to_string().into_bytes(),
    }
}

/// The next request on the connection (the SDK sends a `content-length`
/// body), or `None` when the client closed it.
async fn read_request(socket: &mut TcpStream, buffer: &mut Vec<u8>) -> Option<Request> {
    let head_end = loop {
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        read_more(socket, buffer).await?;
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let path = lines.next()?.split(' ').nth(1)?.to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(name, _)| name == "content-length")
        .and_then(|(_, value)| value.parse().ok())
        .unwrap_or(0);
    let body_start = head_end + 4;
    while buffer.len() < body_start + length {
        read_more(socket, buffer).await?;
    }
    let body = buffer[body_start..body_start + length].to_vec();
    buffer.drain(..body_start + length);
    let operation = headers
        .iter()
        .find(|(name, _)| name == "x-amz-target")
        .and_then(|(_, target)| target.split('.').nth(1))
        .unwrap_or_default()
        .to_owned();
    Some(Request {
        path,
        headers,
        body,
        operation,
    })
}

async fn read_more(socket: &mut TcpStream, buffer: &mut Vec<u8>) -> Option<()> {
    let mut chunk = [0u8; 16 * 1024];
    match socket.read(&mut chunk).await {
        Ok(0) | Err(_) => None,
        Ok(n) => {
            buffer.extend_from_slice(&chunk[..n]);
            Some(())
        }
    }
}

async fn write_answer(socket: &mut TcpStream, answer: &Answer) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {} X\r\n", answer.status);
    for (name, value) in &answer.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("content-length: {}\r\n\r\n", answer.body.len()));
    socket.write_all(head.as_bytes()).await?;
    socket.write_all(&answer.body).await?;
    socket.flush().await
}
