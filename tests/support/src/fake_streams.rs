//! A DynamoDB Streams endpoint that serves scripted shards, doing what the
//! service's documentation says a stream may do and moto never does
//! ("DynamoDB Streams low-level API"): answer empty pages before records,
//! split a shard into a child, fail one shard, and trim records away.

use std::sync::{Arc, Mutex};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};

/// One GetRecords answer.
#[derive(Debug, Clone)]
pub enum Page {
    Records(Vec<Value>),
    Empty,
    /// A 500, every time it is asked for.
    Fail,
    /// `TrimmedDataAccessException` the first time, then the page after.
    TrimmedOnce,
}

/// What a shard answers once its pages are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// Closed after a split: no `NextShardIterator`.
    Closed,
    /// Still open: empty pages from then on.
    Open,
}

#[derive(Debug, Clone)]
pub struct Shard {
    pub id: &'static str,
    pub parent: Option<&'static str>,
    pub pages: Vec<Page>,
    pub end: End,
    /// Positions (`AFTER_SEQUENCE_NUMBER`) older than the stream keeps.
    pub trimmed_positions: Vec<&'static str>,
}

pub struct FakeStreams {
    pub endpoint: String,
}

struct State {
    shards: Vec<Shard>,
    /// Pages that answered their one trim already: (shard, page).
    trimmed: Mutex<Vec<(String, usize)>>,
}

impl FakeStreams {
    pub fn serve(shards: Vec<Shard>) -> Self {
        let state = Arc::new(State {
            shards,
            trimmed: Mutex::default(),
        });
        let (listener, endpoint) = super::loopback();
        let server = HttpServer::new(move || {
            let state = Arc::clone(&state);
            App::new().default_service(web::to(move |request: HttpRequest, body: web::Bytes| {
                let state = Arc::clone(&state);
                async move { state.answer(&request, &body) }
            }))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .expect("the fake listens")
        .run();
        super::run_in_background(server);
        Self { endpoint }
    }
}

impl State {
    fn answer(&self, request: &HttpRequest, body: &[u8]) -> HttpResponse {
        let target = request
            .headers()
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let input: Value = serde_json::from_slice(body).unwrap_or_default();
        match target.rsplit('.').next().unwrap_or_default() {
            "DescribeStream" => ok(json!({"StreamDescription": {
                "StreamArn": input["StreamArn"],
                "StreamStatus": "ENABLED",
                "StreamViewType": "NEW_AND_OLD_IMAGES",
                "Shards": self.shards.iter().map(|shard| {
                    let mut described = json!({"ShardId": shard.id,
                        "SequenceNumberRange": {"StartingSequenceNumber": "1"}});
                    if let Some(parent) = shard.parent {
                        described["ParentShardId"] = json!(parent);
                    }
                    described
                }).collect::<Vec<_>>(),
            }})),
            "GetShardIterator" => self.iterator(&input),
            "GetRecords" => self.records(&input),
            other => error(400, "UnknownOperationException", other),
        }
    }

    fn shard(&self, id: &str) -> Option<&Shard> {
        self.shards.iter().find(|shard| shard.id == id)
    }

    fn iterator(&self, input: &Value) -> HttpResponse {
        let Some(shard) = input["ShardId"].as_str().and_then(|id| self.shard(id)) else {
            return error(400, "ResourceNotFoundException", "no such shard");
        };
        let page = match (
            input["ShardIteratorType"].as_str(),
            input["SequenceNumber"].as_str(),
        ) {
            (Some("AFTER_SEQUENCE_NUMBER"), Some(sequence)) => {
                if shard.trimmed_positions.contains(&sequence) {
                    return error(
                        400,
                        "TrimmedDataAccessException",
                        "the position was trimmed",
                    );
                }
                page_after(shard, sequence)
            }
            _ => 0,
        };
        ok(json!({"ShardIterator": format!("{}:{page}", shard.id)}))
    }

    fn records(&self, input: &Value) -> HttpResponse {
        let iterator = input["ShardIterator"].as_str().unwrap_or_default();
        let Some((id, page)) = iterator.rsplit_once(':') else {
            return error(400, "ValidationException", "not an iterator of this stream");
        };
        let (Some(shard), Ok(page)) = (self.shard(id), page.parse::<usize>()) else {
            return error(400, "ValidationException", "not an iterator of this stream");
        };
        let next = json!(format!("{id}:{}", page + 1));
        match shard.pages.get(page) {
            Some(Page::Records(records)) => {
                ok(json!({"Records": records, "NextShardIterator": next}))
            }
            Some(Page::Empty) => ok(json!({"Records": [], "NextShardIterator": next})),
            Some(Page::Fail) => error(500, "InternalServerError", "the shard is failing"),
            Some(Page::TrimmedOnce) => {
                let mut trimmed = self.trimmed.lock().unwrap();
                if trimmed.contains(&(id.to_owned(), page)) {
                    ok(json!({"Records": [], "NextShardIterator": next}))
                } else {
                    trimmed.push((id.to_owned(), page));
                    error(
                        400,
                        "TrimmedDataAccessException",
                        "the records were trimmed",
                    )
                }
            }
            None if shard.end == End::Closed => ok(json!({"Records": []})),
            None => ok(json!({"Records": [], "NextShardIterator": format!("{id}:{page}")})),
        }
    }
}

/// The page after the one holding `sequence`.
fn page_after(shard: &Shard, sequence: &str) -> usize {
    shard
        .pages
        .iter()
        .position(|page| match page {
            Page::Records(records) => records
                .iter()
                .any(|r| r["dynamodb"]["SequenceNumber"] == sequence),
            _ => false,
        })
        .map_or(0, |page| page + 1)
}

/// An INSERT of an order item, as a stream record.
pub fn order_insert(order_id: &str, sequence: &str) -> Value {
    json!({
        "eventID": format!("event-{order_id}"),
        "eventName": "INSERT",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": {
            "ApproximateCreationDateTime": 1_764_000_000,
            "Keys": {"PK": {"S": "CUSTOMER#john"}, "SK": {"S": format!("#ORDER#{order_id}")}},
            "NewImage": {
                "PK": {"S": "CUSTOMER#john"}, "SK": {"S": format!("#ORDER#{order_id}")},
                "OrderId": {"S": order_id}, "Status": {"S": "PLACED"},
                "Amount": {"N": "5.5"}, "NumberItems": {"N": "2"},
                "CreatedAt": {"S": "2026-11-25T10:00:00.000000Z"}, "Version": {"N": "1"}
            },
            "SequenceNumber": sequence,
            "SizeBytes": 200,
            "StreamViewType": "NEW_AND_OLD_IMAGES"
        }
    })
}

fn ok(body: Value) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/x-amz-json-1.0")
        .body(body.to_string())
}

fn error(status: u16, code: &str, message: &str) -> HttpResponse {
    let body =
        json!({"__type": format!("com.amazonaws.dynamodb.v20120810#{code}"), "message": message});
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap_or_default())
        .content_type("application/x-amz-json-1.0")
        .body(body.to_string())
}
