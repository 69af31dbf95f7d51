//! Clients that do what the README tells a client to do: register and
//! place with an `Idempotency-Key`, move, read, walk the work queue, delete.
//! Each request goes to any task (as behind the balancer); a `503` is
//! retried after its `Retry-After`, a timeout or a broken connection after
//! a short pause, with the same key and body.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

use super::dice::Dice;
use super::history::{Event, History, Outcome, Request};

const USERNAMES: [&str; 6] = ["ann", "bob", "cyd", "dee", "eve", "fay"];
/// Fewer emails than names: registrations race for emails too.
const EMAILS: [&str; 4] = [
    "one@example.com",
    "two@example.com",
    "three@example.com",
    "four@example.com",
];
pub const STATUSES: [&str; 5] = ["PLACED", "PROCESSING", "SHIPPED", "DELIVERED", "CANCEL"];
/// Attempts per operation (the first and its retries).
const ATTEMPTS: u32 = 5;
/// Shorter than the service's DynamoDB budget (2 s): a client that gives up
/// first retries while its first request may still be writing, on another
/// task.
const CLIENT_TIMEOUT: Duration = Duration::from_millis(1500);

/// What all clients share.
pub struct Shared {
    pub servers: Vec<String>,
    pub history: History,
    /// Operations left to start in this run.
    pub operations_left: AtomicUsize,
    next_op: AtomicUsize,
    next_walk: AtomicUsize,
    /// Orders some client saw placed, to move and read.
    orders: Mutex<Vec<(String, String)>>,
    /// Usernames some client saw registered: most orders are for them.
    registered: Mutex<Vec<String>>,
    http: reqwest::Client,
}

impl Shared {
    pub fn new(servers: Vec<String>, history: History, operations: usize) -> Arc<Self> {
        Arc::new(Self {
            servers,
            history,
            operations_left: AtomicUsize::new(operations),
            next_op: AtomicUsize::new(0),
            next_walk: AtomicUsize::new(0),
            orders: Mutex::default(),
            registered: Mutex::default(),
            http: crate::helpers::http_client_builder()
                .timeout(CLIENT_TIMEOUT)
                .build()
                .unwrap(),
        })
    }
}

pub struct Client {
    pub id: usize,
    dice: Dice,
    shared: Arc<Shared>,
}

impl Client {
    pub fn new(id: usize, seed: u64, shared: Arc<Shared>) -> Self {
        Self {
            id,
            dice: Dice::new(seed ^ (id as u64).wrapping_mul(0x0100_0000_01B3)),
            shared,
        }
    }

    /// Runs operations until the run's count is spent or `until` passes.
    pub async fn run(mut self, until: Duration) {
        while self.shared.history.now() < until
            && self
                .shared
                .operations_left
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
        {
            match self.dice.below(18) {
                0..=2 => self.register().await,
                3..=7 => self.place().await,
                8..=10 => self.move_one().await,
                11..=12 => self.read_one().await,
                13..=16 => {
                    let status = *self.dice.pick(&STATUSES);
                    let limit = 1 + self.dice.below(4) as usize;
                    self.walk(status, limit, true).await;
                }
                _ => self.delete().await,
            }
        }
    }

    async fn register(&mut self) {
        let username = self.dice.pick(&USERNAMES).to_string();
        let email = self.dice.pick(&EMAILS).to_string();
        let key = self.maybe_key("reg");
        let body = json!({"username": username, "email": email, "name": "History Client"});
        let request = Request::Register {
            username: username.clone(),
            email,
            key: key.clone().unwrap_or_default(),
        };
        let answer = self
            .send(
                request,
                reqwest::Method::POST,
                "/add_user",
                Some(body),
                key.as_deref(),
            )
            .await;
        if answer.is_some() {
            self.shared.registered.lock().unwrap().push(username);
        }
    }

    async fn place(&mut self) {
        let registered = self.shared.registered.lock().unwrap().clone();
        let username = if registered.is_empty() || self.dice.below(5) == 0 {
            self.dice.pick(&USERNAMES).to_string()
        } else {
            self.dice.pick(&registered).clone()
        };
        let key = self.maybe_key("ord");
        let body = json!({
            "username": username,
            "amount": 1 + self.dice.below(500),
            "numItems": 1 + self.dice.below(9),
        });
        let request = Request::Place {
            username: username.clone(),
            key: key.clone().unwrap_or_default(),
        };
        let answer = self
            .send(
                request,
                reqwest::Method::POST,
                "/orders",
                Some(body),
                key.as_deref(),
            )
            .await;
        if let Some(id) =
            answer.and_then(|body| body["data"]["OrderId"].as_str().map(str::to_owned))
        {
            self.shared.orders.lock().unwrap().push((username, id));
        }
    }

    /// An `Idempotency-Key` for most writes; a quarter go without one (it
    /// is optional), and are then never retried, as the README says.
    fn maybe_key(&mut self, prefix: &str) -> Option<String> {
        (self.dice.below(4) != 0).then(|| format!("{prefix}-{}-{}", self.id, self.dice.next()))
    }

    fn known_order(&mut self) -> Option<(String, String)> {
        let orders = self.shared.orders.lock().unwrap();
        if orders.is_empty() {
            return None;
        }
        // The newer orders more often: they have moves left.
        let n = orders.len() as u64;
        let at = n - 1 - self.dice.below(n.min(12));
        Some(orders[at as usize].clone())
    }

    async fn move_one(&mut self) {
        let Some((username, order)) = self.known_order() else {
            return;
        };
        let to = *self.dice.pick(&STATUSES[1..]);
        let body = json!({"username": username, "status": to});
        let path = format!("/orders/{order}");
        let request = Request::Move {
            username,
            order,
            to,
        };
        self.send(request, reqwest::Method::PUT, &path, Some(body), None)
            .await;
    }

    async fn read_one(&mut self) {
        let Some((username, order)) = self.known_order() else {
            return;
        };
        let path = format!("/orders/{order}?customer_id={username}");
        let request = Request::Read { username, order };
        self.send(request, reqwest::Method::GET, &path, None, None)
            .await;
    }

    async fn delete(&mut self) {
        let username = self.dice.pick(&USERNAMES).to_string();
        let path = format!("/users/{username}");
        let request = Request::Delete { username };
        self.send(request, reqwest::Method::DELETE, &path, None, None)
            .await;
    }

    /// A walk from the head of `status`'s queue, page by page, to its end
    /// (or until a page cannot be had), as a worker walks it: it takes a
    /// while over each page, and moves most orders it was given on to the
    /// next status. `working: false` only reads.
    pub async fn walk(&mut self, status: &'static str, limit: usize, working: bool) {
        let walk = self.shared.next_walk.fetch_add(1, Ordering::SeqCst);
        let mut token: Option<String> = None;
        for _ in 0..200 {
            let mut path = format!("/orders?status={status}&limit={limit}");
            if let Some(token) = &token {
                path.push_str(&format!("&nextToken={token}"));
            }
            let request = Request::QueuePage {
                walk,
                status,
                token: token.clone(),
            };
            let Some(page) = self
                .send(request, reqwest::Method::GET, &path, None, None)
                .await
            else {
                return;
            };
            if working {
                self.work_on(status, &page).await;
            }
            match page["nextToken"].as_str() {
                Some(next) => token = Some(next.to_owned()),
                None => return,
            }
        }
    }

    async fn work_on(&mut self, status: &str, page: &Value) {
        let next = match status {
            "PLACED" => "PROCESSING",
            "PROCESSING" => "SHIPPED",
            "SHIPPED" => "DELIVERED",
            _ => return,
        };
        let entries = page["data"].as_array().cloned().unwrap_or_default();
        for entry in entries {
            let (Some(order), Some(username)) =
                (entry["OrderId"].as_str(), entry["Username"].as_str())
            else {
                continue;
            };
            if self.dice.below(3) == 0 {
                continue;
            }
            let body = json!({"username": username, "status": next});
            let path = format!("/orders/{order}");
            let request = Request::Move {
                username: username.to_owned(),
                order: order.to_owned(),
                to: next,
            };
            self.send(request, reqwest::Method::PUT, &path, Some(body), None)
                .await;
        }
        tokio::time::sleep(Duration::from_millis(100 + self.dice.below(200))).await;
    }

    /// One operation: the request and its retries, each recorded. The
    /// answer's body when it was a 2xx.
    async fn send(
        &mut self,
        request: Request,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        key: Option<&str>,
    ) -> Option<Value> {
        let op = self.shared.next_op.fetch_add(1, Ordering::SeqCst);
        let attempts = if key.is_none() && method == reqwest::Method::POST {
            1
        } else {
            ATTEMPTS
        };
        for attempt in 1..=attempts {
            let server = self.dice.below(self.shared.servers.len() as u64) as usize;
            let mut call = self.shared.http.request(
                method.clone(),
                format!("{}{path}", self.shared.servers[server]),
            );
            if let Some(body) = &body {
                call = call.json(body);
            }
            if let Some(key) = key {
                call = call.header("Idempotency-Key", key);
            }
            let started = self.shared.history.now();
            let (outcome, retry_after) = match call.send().await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    let retry_after = response
                        .headers()
                        .get("retry-after")
                        .and_then(|value| value.to_str().ok()?.parse::<u64>().ok());
                    let replayed = response.headers().contains_key("idempotent-replayed");
                    let body = response.json::<Value>().await.unwrap_or(Value::Null);
                    let answered = Outcome::Answered {
                        status,
                        body,
                        replayed,
                    };
                    (answered, retry_after)
                }
                Err(error) if error.is_timeout() => (Outcome::TimedOut, None),
                Err(error) => (Outcome::Failed(error.to_string()), None),
            };
            let event = Event {
                op,
                client: self.id,
                attempt,
                server,
                request: request.clone(),
                started,
                ended: self.shared.history.now(),
                outcome: outcome.clone(),
            };
            self.shared.history.record(event);
            let pause = match outcome {
                Outcome::Answered { status: 503, .. } => {
                    // As the README says: after Retry-After (capped, so a
                    // run stays short).
                    Duration::from_secs(retry_after.unwrap_or(1)).min(Duration::from_secs(1))
                }
                Outcome::Answered { status, body, .. } => {
                    return (200..300).contains(&status).then_some(body);
                }
                Outcome::TimedOut | Outcome::Failed(_) => Duration::from_millis(100),
            };
            tokio::time::sleep(pause).await;
        }
        None
    }
}
