//! An HTTP proxy in front of moto that behaves as AWS does where moto is
//! kinder, and counts what goes through it by operation:
//!
//! - `StaleIndex`: DynamoDB's global secondary indexes are eventually
//!   consistent ("Read consistency for global secondary indexes"); moto's
//!   never lag. Every query of an index (GSI1, GSI2) is answered with the
//!   first answer it got.
//! - `Outage`: the service behind it is down (a 5xx answer) for a while,
//!   counted from the first request it refuses.
//! - `Refuse`: the service refuses every request for good (a 4xx answer).
//! - `ConflictFirst`: DynamoDB cancels a `TransactWriteItems` that meets an
//!   ongoing transaction on one of its items ("TransactionCanceledException":
//!   "an ongoing TransactWriteItems operation that conflicts with a
//!   concurrent TransactWriteItems request", reason `TransactionConflict`);
//!   moto, which applies DynamoDB requests one at a time, never does. The
//!   first `n` transactions touching each item are cancelled so, then
//!   forwarded.
//!
//! - `FailWrites`: DynamoDB answers the named write operations with a 500
//!   while the fault is armed ([`AwsProxy::arm`], [`AwsProxy::disarm`]): a
//!   fault between a task and DynamoDB that lands after the task read and
//!   decided.
//!
//! - `LateThenConflict`: the first transaction whose body holds `marker`
//!   (`#ORDER#`: a placement; `CUSTOMEREMAIL#`: a registration) reaches
//!   DynamoDB `late_by` after it was sent, when the SDK has given up on
//!   that attempt (it answers the SDK never); the next one, the SDK's retry,
//!   is cancelled by a conflict once the first has landed; the rest pass.
//!
//! Requests are forwarded byte for byte (the emulators check no signature).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};

#[derive(Debug, Clone)]
pub enum Behaviour {
    Pass,
    StaleIndex,
    Outage {
        lasting: Duration,
        status: u16,
        body: &'static str,
    },
    Refuse {
        status: u16,
        body: &'static str,
    },
    ConflictFirst {
        n: usize,
    },
    FailWrites {
        operations: &'static [&'static str],
    },
    LateThenConflict {
        late_by: Duration,
        marker: &'static str,
    },
}

/// DynamoDB's answer to a request it failed on its side: the SDK retries it
/// and, past its attempts, the service answers 503.
const INTERNAL_SERVER_ERROR: &str = r#"{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"Internal server error"}"#;

pub struct AwsProxy {
    pub endpoint: String,
    counts: Arc<Mutex<HashMap<String, usize>>>,
    refused: Arc<Mutex<usize>>,
    failing: Arc<Mutex<Option<Fault>>>,
    operations: &'static [&'static str],
}

/// What `FailWrites` fails now: these operations, after letting the first
/// `pass_first` of them through.
#[derive(Debug, Clone)]
struct Fault {
    operations: Vec<&'static str>,
    pass_first: usize,
}

struct State {
    upstream: String,
    behaviour: Behaviour,
    client: reqwest::Client,
    answers: Mutex<HashMap<Vec<u8>, Vec<u8>>>,
    counts: Arc<Mutex<HashMap<String, usize>>>,
    refused: Arc<Mutex<usize>>,
    failing: Arc<Mutex<Option<Fault>>>,
    outage_began: Mutex<Option<Instant>>,
    /// Transactions seen per item (table, key), for `ConflictFirst`.
    transactions_per_item: Mutex<HashMap<String, usize>>,
    /// For `LateThenConflict`: transactions marked so far, and whether the
    /// late one landed.
    placements: Mutex<usize>,
    landed: Arc<tokio::sync::watch::Sender<bool>>,
}

impl AwsProxy {
    pub fn serve(upstream: String, behaviour: Behaviour) -> Self {
        let counts: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
        let refused: Arc<Mutex<usize>> = Arc::default();
        let failing: Arc<Mutex<Option<Fault>>> = Arc::default();
        let operations = match &behaviour {
            Behaviour::FailWrites { operations } => *operations,
            _ => &[],
        };
        let state = Arc::new(State {
            upstream,
            behaviour,
            client: super::http_client(),
            answers: Mutex::default(),
            counts: Arc::clone(&counts),
            refused: Arc::clone(&refused),
            failing: Arc::clone(&failing),
            outage_began: Mutex::default(),
            transactions_per_item: Mutex::default(),
            placements: Mutex::default(),
            landed: Arc::new(tokio::sync::watch::Sender::new(false)),
        });
        let (listener, endpoint) = super::loopback();
        let server = HttpServer::new(move || {
            let state = Arc::clone(&state);
            App::new().default_service(web::to(move |request: HttpRequest, body: web::Bytes| {
                let state = Arc::clone(&state);
                async move { state.handle(request, body).await }
            }))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .expect("the proxy listens")
        .run();
        super::run_in_background(server);
        Self {
            endpoint,
            counts,
            refused,
            failing,
            operations,
        }
    }

    /// Starts a `FailWrites` fault on all its operations.
    pub fn arm(&self) {
        self.arm_only(self.operations);
    }

    /// Starts a `FailWrites` fault on these operations only.
    pub fn arm_only(&self, operations: &[&'static str]) {
        self.arm_after(operations, 0);
    }

    /// Starts a `FailWrites` fault on these operations, after the first
    /// `pass_first` of them: the write after a decision, not the first.
    pub fn arm_after(&self, operations: &[&'static str], pass_first: usize) {
        *self.failing.lock().unwrap() = Some(Fault {
            operations: operations.to_vec(),
            pass_first,
        });
    }

    /// Ends a `FailWrites` fault: from now on every request goes through.
    pub fn disarm(&self) {
        *self.failing.lock().unwrap() = None;
    }

    /// Requests by operation (`GetRecords`, `UpdateItem`, `PublishBatch`...).
    pub fn counts(&self) -> HashMap<String, usize> {
        self.counts.lock().unwrap().clone()
    }

    pub fn count(&self, operation: &str) -> usize {
        self.counts().get(operation).copied().unwrap_or(0)
    }

    /// Requests answered with the outage's or the refusal's error.
    pub fn refused(&self) -> usize {
        *self.refused.lock().unwrap()
    }
}

impl State {
    async fn handle(&self, request: HttpRequest, body: web::Bytes) -> HttpResponse {
        let operation = operation(&request, &body);
        *self
            .counts
            .lock()
            .unwrap()
            .entry(operation.clone())
            .or_insert(0) += 1;
        match &self.behaviour {
            Behaviour::Refuse { status, body } => return self.refuse(*status, body),
            Behaviour::Outage {
                lasting,
                status,
                body,
            } => {
                let began = *self
                    .outage_began
                    .lock()
                    .unwrap()
                    .get_or_insert_with(Instant::now);
                if began.elapsed() < *lasting {
                    return self.refuse(*status, body);
                }
            }
            Behaviour::StaleIndex if is_index_query(&operation, &body) => {
                if let Some(stale) = self.answers.lock().unwrap().get(body.as_ref()) {
                    return reply(200, "application/x-amz-json-1.0", stale.clone());
                }
            }
            Behaviour::FailWrites { .. } if self.fails(&operation) => {
                return self.refuse(500, INTERNAL_SERVER_ERROR);
            }
            Behaviour::LateThenConflict { late_by, marker }
                if operation == "TransactWriteItems"
                    && String::from_utf8_lossy(&body).contains(marker) =>
            {
                let nth = {
                    let mut placements = self.placements.lock().unwrap();
                    *placements += 1;
                    *placements
                };
                match nth {
                    1 => {
                        // A task of its own: it lands even if the SDK's
                        // hang-up drops this handler.
                        let late = self.prepared(&request, body);
                        let (landed, late_by) = (Arc::clone(&self.landed), *late_by);
                        actix_web::rt::spawn(async move {
                            tokio::time::sleep(late_by).await;
                            let _ = late.send().await;
                            landed.send_replace(true);
                        });
                        // The SDK stops listening long before this.
                        tokio::time::sleep(late_by * 4).await;
                        return HttpResponse::GatewayTimeout().finish();
                    }
                    2 => {
                        let mut landed = self.landed.subscribe();
                        let _ = landed.wait_for(|landed| *landed).await;
                        *self.refused.lock().unwrap() += 1;
                        let cancelled = self.conflict(usize::MAX, &body).unwrap_or_default();
                        return reply(400, "application/x-amz-json-1.0", cancelled);
                    }
                    _ => {}
                }
            }
            Behaviour::ConflictFirst { n } if operation == "TransactWriteItems" => {
                if let Some(cancelled) = self.conflict(*n, &body) {
                    *self.refused.lock().unwrap() += 1;
                    return reply(400, "application/x-amz-json-1.0", cancelled);
                }
            }
            _ => {}
        }
        let Some((status, content_type, bytes)) = self.forward(&request, body.clone()).await else {
            return HttpResponse::BadGateway().finish();
        };
        if matches!(self.behaviour, Behaviour::StaleIndex)
            && is_index_query(&operation, &body)
            && status == 200
        {
            self.answers
                .lock()
                .unwrap()
                .insert(body.to_vec(), bytes.clone());
        }
        reply(status, &content_type, bytes)
    }

    /// The request as it goes upstream.
    fn prepared(&self, request: &HttpRequest, body: web::Bytes) -> reqwest::RequestBuilder {
        let mut forwarded = self.client.request(
            reqwest::Method::from_bytes(request.method().as_str().as_bytes())
                .unwrap_or(reqwest::Method::POST),
            format!("{}{}", self.upstream, request.uri()),
        );
        for (name, value) in request.headers() {
            if name != "host" {
                forwarded = forwarded.header(name.as_str(), value.as_bytes());
            }
        }
        forwarded.body(body.to_vec())
    }

    /// The upstream's answer: status, content type and body.
    async fn forward(
        &self,
        request: &HttpRequest,
        body: web::Bytes,
    ) -> Option<(u16, String, Vec<u8>)> {
        let answer = self.prepared(request, body).send().await.ok()?;
        let status = answer.status().as_u16();
        let content_type = answer
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/octet-stream")
            .to_owned();
        let bytes = answer.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
        Some((status, content_type, bytes))
    }

    /// Whether an armed `FailWrites` fault fails this request.
    fn fails(&self, operation: &str) -> bool {
        let mut failing = self.failing.lock().unwrap();
        let Some(fault) = failing.as_mut() else {
            return false;
        };
        if !fault.operations.contains(&operation) {
            return false;
        }
        if fault.pass_first > 0 {
            fault.pass_first -= 1;
            return false;
        }
        true
    }

    /// The cancellation DynamoDB answers when one of the transaction's items
    /// has met fewer than `n` transactions before this one, with a reason per
    /// item in request order; `None` when the transaction may go through.
    fn conflict(&self, n: usize, body: &[u8]) -> Option<Vec<u8>> {
        let request: serde_json::Value = serde_json::from_slice(body).ok()?;
        let items = request["TransactItems"].as_array()?;
        let mut seen = self.transactions_per_item.lock().unwrap();
        let reasons: Vec<serde_json::Value> = items
            .iter()
            .map(|item| {
                let count = seen.entry(item_identity(item)).or_insert(0);
                *count += 1;
                if *count <= n {
                    serde_json::json!({
                        "Code": "TransactionConflict",
                        "Message": "Transaction is ongoing for the item",
                    })
                } else {
                    serde_json::json!({"Code": "None"})
                }
            })
            .collect();
        if reasons.iter().all(|reason| reason["Code"] == "None") {
            return None;
        }
        let codes: Vec<&str> = reasons
            .iter()
            .map(|reason| reason["Code"].as_str().unwrap_or_default())
            .collect();
        let answer = serde_json::json!({
            "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
            "Message": format!(
                "Transaction cancelled, please refer cancellation reasons for specific reasons [{}]",
                codes.join(", ")
            ),
            "CancellationReasons": reasons,
        });
        Some(answer.to_string().into_bytes())
    }

    fn refuse(&self, status: u16, body: &'static str) -> HttpResponse {
        *self.refused.lock().unwrap() += 1;
        let content_type = if body.starts_with('<') {
            "text/xml"
        } else {
            "application/x-amz-json-1.0"
        };
        reply(status, content_type, body.as_bytes().to_vec())
    }
}

/// The operation a request names: `X-Amz-Target` for JSON protocols,
/// `Action=` for the query protocol (SNS).
fn operation(request: &HttpRequest, body: &[u8]) -> String {
    if let Some(target) = request
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
    {
        return target.rsplit('.').next().unwrap_or(target).to_owned();
    }
    String::from_utf8_lossy(body)
        .split('&')
        .find_map(|pair| pair.strip_prefix("Action="))
        .unwrap_or("?")
        .to_owned()
}

/// The table and primary key one `TransactItems` entry writes or checks.
fn item_identity(entry: &serde_json::Value) -> String {
    let Some((_, action)) = entry.as_object().and_then(|actions| actions.iter().next()) else {
        return String::new();
    };
    let key = if action["Key"].is_object() {
        (action["Key"]["PK"].clone(), action["Key"]["SK"].clone())
    } else {
        (action["Item"]["PK"].clone(), action["Item"]["SK"].clone())
    };
    format!("{}|{}|{}", action["TableName"], key.0, key.1)
}

fn is_index_query(operation: &str, body: &[u8]) -> bool {
    operation == "Query"
        && serde_json::from_slice::<serde_json::Value>(body)
            .is_ok_and(|query| query["IndexName"].is_string())
}

fn reply(status: u16, content_type: &str, body: Vec<u8>) -> HttpResponse {
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap_or_default())
        .content_type(content_type)
        .body(body)
}
