//! A fake DynamoDB for measuring the service's own cost on its production
//! engine: it holds the table in memory, keeps connections open (as
//! DynamoDB does; moto closes every one) and answers at once. It speaks the
//! JSON protocol for the operations the service sends (GetItem, Query on
//! the table, GSI1 and GSI2, UpdateItem, TransactWriteItems) with their
//! conditions, so the service runs its real success and failure paths.
//!
//! `FAKE_DYNAMODB_LATENCY_MS=<p50>,<p99>` delays every answer by a draw from
//! a log-normal distribution with that median and 99th percentile, so the
//! service's cost per call can be measured at DynamoDB's real latency: AWS
//! expects an average "in single-digit milliseconds" for GetItem and PutItem
//! (Knowledge Center, "dynamodb-high-latency"); `3,10` puts the median there
//! and the tail at the top of that range (our assumption: AWS states no
//! percentile). `PUT /fake/latency` with `<p50>,<p99>` (or `off`) in the body
//! changes it while the fake runs: a brownout, and its end.

use std::collections::BTreeMap;
use std::sync::Mutex;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Map, Value, json};

use crate::expression::{Item, Placeholders, apply_update, holds};

/// Each index with the attributes that key it.
const INDEXES: [(&str, &str, &str); 2] =
    [("GSI1", "GSI1PK", "GSI1SK"), ("GSI2", "GSI2PK", "GSI2SK")];

type IndexEntries = BTreeMap<String, BTreeMap<(String, String, String), ()>>;

#[derive(Default)]
struct Table {
    /// PK → SK → item.
    items: BTreeMap<String, BTreeMap<String, Item>>,
    /// Per index (in the order of [`INDEXES`]): partition → (sort key, PK, SK).
    indexes: [IndexEntries; 2],
}

fn text(item: &Item, name: &str) -> Option<String> {
    item.get(name)?["S"].as_str().map(str::to_owned)
}

fn key_of(item: &Item) -> Option<(String, String)> {
    Some((text(item, "PK")?, text(item, "SK")?))
}

impl Table {
    fn get(&self, pk: &str, sk: &str) -> Option<&Item> {
        self.items.get(pk)?.get(sk)
    }

    fn index_entry(
        item: &Item,
        (_, pk_name, sk_name): (&str, &str, &str),
    ) -> Option<(String, (String, String, String))> {
        let (pk, sk) = key_of(item)?;
        Some((text(item, pk_name)?, (text(item, sk_name)?, pk, sk)))
    }

    fn remove(&mut self, pk: &str, sk: &str) {
        let Some(old) = self.items.get_mut(pk).and_then(|rows| rows.remove(sk)) else {
            return;
        };
        for (index, names) in self.indexes.iter_mut().zip(INDEXES) {
            if let Some((partition, entry)) = Self::index_entry(&old, names)
                && let Some(entries) = index.get_mut(&partition)
            {
                entries.remove(&entry);
            }
        }
    }

    fn put(&mut self, item: Item) {
        let Some((pk, sk)) = key_of(&item) else {
            return;
        };
        self.remove(&pk, &sk);
        for (index, names) in self.indexes.iter_mut().zip(INDEXES) {
            if let Some((partition, entry)) = Self::index_entry(&item, names) {
                index.entry(partition).or_default().insert(entry, ());
            }
        }
        self.items.entry(pk).or_default().insert(sk, item);
    }
}

pub struct Fake {
    table: Mutex<Table>,
    latency: Mutex<Option<Latency>>,
}

/// A log-normal latency: `exp(mu + sigma * z)` milliseconds, z standard normal.
#[derive(Debug, Clone, Copy)]
struct Latency {
    mu: f64,
    sigma: f64,
}

impl Latency {
    /// From "<p50>,<p99>" in milliseconds; z of the 99th percentile is 2.326.
    fn parse(raw: &str) -> Option<Self> {
        let (p50, p99) = raw.split_once(',')?;
        let (p50, p99): (f64, f64) = (p50.trim().parse().ok()?, p99.trim().parse().ok()?);
        (p50 > 0.0 && p99 >= p50).then(|| Self {
            mu: p50.ln(),
            sigma: (p99 / p50).ln() / 2.326,
        })
    }

    fn sample(self) -> std::time::Duration {
        // Box-Muller: two uniform draws in (0, 1] make one standard normal.
        let (u1, u2) = (1.0 - fastrand::f64(), fastrand::f64());
        let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        let millis = (self.mu + self.sigma * z).exp().min(1_000.0);
        std::time::Duration::from_secs_f64(millis / 1_000.0)
    }
}

/// A DynamoDB error answer.
fn error(kind: &str, message: &str, extra: Value) -> HttpResponse {
    let mut body =
        json!({"__type": format!("com.amazonaws.dynamodb.v20120810#{kind}"), "message": message});
    if let (Some(body), Value::Object(extra)) = (body.as_object_mut(), extra) {
        body.extend(extra);
    }
    HttpResponse::BadRequest()
        .content_type("application/x-amz-json-1.0")
        .body(body.to_string())
}

fn ok(body: Value) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/x-amz-json-1.0")
        .body(body.to_string())
}

fn object(value: &Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap_or_default()
}

fn key(request: &Value) -> (String, String) {
    let key = object(&request["Key"]);
    key_of(&key).unwrap_or_default()
}

impl Fake {
    fn handle(&self, operation: &str, request: &Value) -> HttpResponse {
        let names = object(&request["ExpressionAttributeNames"]);
        let values = object(&request["ExpressionAttributeValues"]);
        let placeholders = Placeholders {
            names: &names,
            values: &values,
        };
        let mut table = self.table.lock().unwrap();
        match operation {
            "GetItem" => {
                let (pk, sk) = key(request);
                match table.get(&pk, &sk) {
                    Some(item) => ok(json!({"Item": item})),
                    None => ok(json!({})),
                }
            }
            "Query" => query(&table, request, &placeholders),
            "UpdateItem" => {
                let (pk, sk) = key(request);
                let current = table.get(&pk, &sk).cloned();
                let empty = Item::new();
                if let Some(condition) = request["ConditionExpression"].as_str() {
                    match holds(condition, current.as_ref().unwrap_or(&empty), &placeholders) {
                        Ok(true) => {}
                        Ok(false) => {
                            let extra = match &current {
                                Some(item)
                                    if request["ReturnValuesOnConditionCheckFailure"]
                                        == "ALL_OLD" =>
                                {
                                    json!({"Item": item})
                                }
                                _ => json!({}),
                            };
                            return error(
                                "ConditionalCheckFailedException",
                                "The conditional request failed",
                                extra,
                            );
                        }
                        Err(problem) => return error("ValidationException", &problem, json!({})),
                    }
                }
                let mut item = current.unwrap_or_else(|| object(&request["Key"]));
                let update = request["UpdateExpression"].as_str().unwrap_or_default();
                if let Err(problem) = apply_update(update, &mut item, &placeholders) {
                    return error("ValidationException", &problem, json!({}));
                }
                table.put(item.clone());
                ok(json!({"Attributes": item}))
            }
            "TransactWriteItems" => transact(&mut table, request),
            // As the stack creates it: the service checks it at start-up.
            "DescribeTable" => {
                let key = |hash: &str, range: &str| {
                    json!([{"AttributeName": hash, "KeyType": "HASH"},
                           {"AttributeName": range, "KeyType": "RANGE"}])
                };
                let index = |name: &str, hash: &str, range: &str| {
                    json!({"IndexName": name, "KeySchema": key(hash, range),
                           "Projection": {"ProjectionType": "ALL"}, "IndexStatus": "ACTIVE"})
                };
                ok(json!({"Table": {
                    "TableName": request["TableName"], "TableStatus": "ACTIVE",
                    "KeySchema": key("PK", "SK"),
                    "GlobalSecondaryIndexes": [index("GSI1", "GSI1PK", "GSI1SK"),
                                               index("GSI2", "GSI2PK", "GSI2SK")],
                    "StreamSpecification": {"StreamEnabled": true, "StreamViewType": "NEW_AND_OLD_IMAGES"},
                }}))
            }
            "DescribeTimeToLive" => ok(json!({"TimeToLiveDescription": {
                "TimeToLiveStatus": "ENABLED", "AttributeName": "ExpiresAt",
            }})),
            other => error(
                "UnknownOperationException",
                &format!("{other} is not faked"),
                json!({}),
            ),
        }
    }
}

fn query(table: &Table, request: &Value, placeholders: &Placeholders) -> HttpResponse {
    let Some(partition) = placeholders.values.get(":p").and_then(|p| p["S"].as_str()) else {
        return error(
            "ValidationException",
            "only `#p = :p` key conditions",
            json!({}),
        );
    };
    let forward = request["ScanIndexForward"].as_bool().unwrap_or(true);
    let limit = request["Limit"].as_u64().unwrap_or(u64::MAX) as usize;
    let start = request["ExclusiveStartKey"].as_object().and_then(key_of);
    let on_index = INDEXES
        .iter()
        .position(|(name, _, _)| request["IndexName"] == *name);
    // Every item of the partition in the index's order, as table keys.
    let mut keys: Vec<(String, String)> = if let Some(index) = on_index {
        table.indexes[index]
            .get(partition)
            .map(|entries| {
                entries
                    .keys()
                    .map(|(_, pk, sk)| (pk.clone(), sk.clone()))
                    .collect()
            })
            .unwrap_or_default()
    } else {
        table
            .items
            .get(partition)
            .map(|rows| {
                rows.keys()
                    .map(|sk| (partition.to_owned(), sk.clone()))
                    .collect()
            })
            .unwrap_or_default()
    };
    if !forward {
        keys.reverse();
    }
    let after = match &start {
        Some(start) => keys
            .iter()
            .position(|key| key == start)
            .map_or(0, |at| at + 1),
        None => 0,
    };
    let page: Vec<&Item> = keys[after..]
        .iter()
        .take(limit)
        .filter_map(|(pk, sk)| table.get(pk, sk))
        .collect();
    let mut answer = json!({"Count": page.len(), "ScannedCount": page.len(), "Items": page});
    if page.len() == limit && after + limit < keys.len() {
        let last = page[page.len() - 1];
        let names: Vec<&str> = match on_index {
            Some(index) => vec!["PK", "SK", INDEXES[index].1, INDEXES[index].2],
            None => vec!["PK", "SK"],
        };
        let last_key: Item = names
            .iter()
            .filter_map(|name| Some(((*name).to_owned(), last.get(*name)?.clone())))
            .collect();
        answer["LastEvaluatedKey"] = Value::Object(last_key);
    }
    ok(answer)
}

/// All conditions first, then all writes: one atomic step under the lock.
fn transact(table: &mut Table, request: &Value) -> HttpResponse {
    let entries = request["TransactItems"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut reasons = Vec::new();
    let mut cancelled = false;
    for entry in &entries {
        let Some((kind, action)) = entry.as_object().and_then(|e| e.iter().next()) else {
            return error("ValidationException", "empty transaction item", json!({}));
        };
        let (pk, sk) = if kind == "Put" {
            key_of(&object(&action["Item"])).unwrap_or_default()
        } else {
            key(action)
        };
        let current = table.get(&pk, &sk);
        let empty = Item::new();
        let names = object(&action["ExpressionAttributeNames"]);
        let values = object(&action["ExpressionAttributeValues"]);
        let placeholders = Placeholders {
            names: &names,
            values: &values,
        };
        let held = match action["ConditionExpression"].as_str() {
            None => Ok(true),
            Some(condition) => holds(condition, current.unwrap_or(&empty), &placeholders),
        };
        match held {
            Ok(true) => reasons.push(json!({"Code": "None"})),
            Ok(false) => {
                cancelled = true;
                let mut reason = json!({"Code": "ConditionalCheckFailed", "Message": "The conditional request failed"});
                if let Some(item) = current {
                    reason["Item"] = Value::Object(item.clone());
                }
                reasons.push(reason);
            }
            Err(problem) => return error("ValidationException", &problem, json!({})),
        }
    }
    if cancelled {
        let codes: Vec<&str> = reasons
            .iter()
            .map(|r| r["Code"].as_str().unwrap_or("None"))
            .collect();
        return error(
            "TransactionCanceledException",
            &format!(
                "Transaction cancelled, please refer cancellation reasons for specific reasons [{}]",
                codes.join(", ")
            ),
            json!({"CancellationReasons": reasons}),
        );
    }
    for entry in entries {
        let Some((kind, action)) = entry.as_object().and_then(|e| e.iter().next()) else {
            continue;
        };
        match kind.as_str() {
            "Put" => table.put(object(&action["Item"])),
            "Delete" => {
                let (pk, sk) = key(action);
                table.remove(&pk, &sk);
            }
            _ => {}
        }
    }
    ok(json!({}))
}

/// `PUT /fake/latency`: `<p50>,<p99>` in milliseconds, or `off`.
async fn set_latency(body: String, fake: web::Data<Fake>) -> HttpResponse {
    let latency = match body.trim() {
        "off" => None,
        raw => match Latency::parse(raw) {
            Some(latency) => Some(latency),
            None => return HttpResponse::BadRequest().body("expected <p50>,<p99> or off"),
        },
    };
    *fake.latency.lock().unwrap() = latency;
    HttpResponse::NoContent().finish()
}

/// Serves the fake on a port of its own choosing and names it on stdout.
pub fn serve() -> std::io::Result<()> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    println!("listening on {}", listener.local_addr()?);
    let latency = match std::env::var("FAKE_DYNAMODB_LATENCY_MS") {
        Ok(raw) => Some(Latency::parse(&raw).ok_or_else(|| {
            std::io::Error::other(format!(
                "FAKE_DYNAMODB_LATENCY_MS={raw:?}: expected <p50>,<p99>"
            ))
        })?),
        Err(_) => None,
    };
    let fake = web::Data::new(Fake {
        table: Mutex::default(),
        latency: Mutex::new(latency),
    });
    actix_web::rt::System::new().block_on(async move {
        HttpServer::new(move || {
            App::new()
                .app_data(fake.clone())
                .app_data(web::PayloadConfig::new(16 * 1024 * 1024))
                .route("/fake/latency", web::put().to(set_latency))
                .default_service(web::to(
                    |request: HttpRequest, body: web::Bytes, fake: web::Data<Fake>| async move {
                        let operation = request
                            .headers()
                            .get("x-amz-target")
                            .and_then(|target| target.to_str().ok())
                            .and_then(|target| target.rsplit('.').next())
                            .unwrap_or_default()
                            .to_owned();
                        let Ok(parsed) = serde_json::from_slice::<Value>(&body) else {
                            return error("SerializationException", "not JSON", json!({}));
                        };
                        let latency = *fake.latency.lock().unwrap();
                        if let Some(latency) = latency {
                            actix_web::rt::time::sleep(latency.sample()).await;
                        }
                        fake.handle(&operation, &parsed)
                    },
                ))
        })
        .workers(1)
        .listen(listener)?
        .run()
        .await
    })
}
