//! What happened: every request a client sent, when, to which task, and
//! what came back. The invariants are checked on it, and a failure prints
//! the part of it that touches what broke.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde_json::Value;

/// What a client asked for.
#[derive(Debug, Clone)]
pub enum Request {
    Register {
        username: String,
        email: String,
        key: String,
    },
    Place {
        username: String,
        key: String,
    },
    Move {
        username: String,
        order: String,
        to: &'static str,
    },
    Read {
        username: String,
        order: String,
    },
    /// One page of a walk of a status queue.
    QueuePage {
        walk: usize,
        status: &'static str,
        token: Option<String>,
    },
    Delete {
        username: String,
    },
}

#[derive(Debug, Clone)]
pub enum Outcome {
    Answered {
        status: u16,
        body: Value,
        /// `Idempotent-Replayed: true`: the first answer of an earlier
        /// attempt's write, as it was then.
        replayed: bool,
    },
    /// No answer within the client's timeout.
    TimedOut,
    /// The connection failed.
    Failed(String),
}

#[derive(Debug, Clone)]
pub struct Event {
    /// The logical operation: a request and its retries share it.
    pub op: usize,
    pub client: usize,
    pub attempt: u32,
    pub server: usize,
    pub request: Request,
    /// Since the run started.
    pub started: Duration,
    pub ended: Duration,
    pub outcome: Outcome,
}

impl Event {
    /// The body of a 2xx answer.
    pub fn acked(&self) -> Option<&Value> {
        match &self.outcome {
            Outcome::Answered { status, body, .. } if (200..300).contains(status) => Some(body),
            _ => None,
        }
    }

    pub fn username(&self) -> Option<&str> {
        match &self.request {
            Request::Register { username, .. }
            | Request::Place { username, .. }
            | Request::Move { username, .. }
            | Request::Read { username, .. }
            | Request::Delete { username } => Some(username),
            Request::QueuePage { .. } => None,
        }
    }

    /// The order the request named, or the one its answer names.
    pub fn orders(&self) -> Vec<String> {
        let mut orders = Vec::new();
        if let Request::Move { order, .. } | Request::Read { order, .. } = &self.request {
            orders.push(order.clone());
        }
        if let Some(body) = self.acked() {
            match &body["data"] {
                Value::Array(entries) => orders.extend(
                    entries
                        .iter()
                        .filter_map(|entry| entry["OrderId"].as_str().map(str::to_owned)),
                ),
                data => orders.extend(data["OrderId"].as_str().map(str::to_owned)),
            }
        }
        orders
    }

    /// Whether it names any of `entities` (usernames, emails, order ids).
    pub fn touches(&self, entities: &[String]) -> bool {
        let mut named: Vec<String> = self.orders();
        named.extend(self.username().map(str::to_owned));
        if let Request::Register { email, .. } = &self.request {
            named.push(email.clone());
        }
        named.iter().any(|name| entities.contains(name))
    }

    fn line(&self) -> String {
        let request = match &self.request {
            Request::Register {
                username,
                email,
                key,
            } => format!("POST /add_user {username} {email} key={key:?}"),
            Request::Place { username, key } => format!("POST /orders {username} key={key:?}"),
            Request::Move {
                username,
                order,
                to,
            } => format!("PUT /orders/{order} {username} -> {to}"),
            Request::Read { username, order } => {
                format!("GET /orders/{order}?customer_id={username}")
            }
            Request::QueuePage {
                walk,
                status,
                token,
            } => format!(
                "GET /orders?status={status} (walk {walk}{})",
                if token.is_some() { ", next page" } else { "" }
            ),
            Request::Delete { username } => format!("DELETE /users/{username}"),
        };
        let outcome = match &self.outcome {
            Outcome::Answered {
                status,
                body,
                replayed,
            } => {
                let mut said = status.to_string();
                if *replayed {
                    said.push_str(" (replayed)");
                }
                if let Some(code) = body["error"]["code"].as_str() {
                    said.push_str(&format!(" {code}"));
                }
                match &body["data"] {
                    Value::Array(entries) => {
                        let ids: Vec<&str> = entries
                            .iter()
                            .filter_map(|entry| entry["OrderId"].as_str())
                            .collect();
                        said.push_str(&format!(" {ids:?}"));
                        if body["nextToken"].is_string() {
                            said.push_str(" +nextToken");
                        }
                    }
                    data => {
                        if let Some(id) = data["OrderId"].as_str() {
                            said.push_str(&format!(" {id}"));
                        }
                        if let Some(status) = data["Status"].as_str() {
                            said.push_str(&format!(" {status}"));
                        }
                    }
                }
                said
            }
            Outcome::TimedOut => "timed out".to_owned(),
            Outcome::Failed(why) => format!("failed: {why}"),
        };
        format!(
            "  {:>6}..{:<6} ms  client {} task {} op {} try {}  {request} -> {outcome}",
            self.started.as_millis(),
            self.ended.as_millis(),
            self.client,
            self.server,
            self.op,
            self.attempt
        )
    }
}

/// The run's record, shared by its clients.
#[derive(Clone)]
pub struct History {
    began: SystemTime,
    events: Arc<Mutex<Vec<Event>>>,
}

impl History {
    pub fn new() -> Self {
        Self {
            began: SystemTime::now(),
            events: Arc::default(),
        }
    }

    /// When the history's clock started.
    pub fn began(&self) -> SystemTime {
        self.began
    }

    /// Now, as the history counts time.
    pub fn now(&self) -> Duration {
        SystemTime::now()
            .duration_since(self.began)
            .unwrap_or_default()
    }

    pub fn record(&self, event: Event) {
        self.events.lock().unwrap().push(event);
    }

    pub fn events(&self) -> Vec<Event> {
        let mut events = self.events.lock().unwrap().clone();
        events.sort_by_key(|event| event.started);
        events
    }
}

/// The events that touch `entities`, one line each, in time order.
pub fn excerpt(events: &[Event], entities: &[String]) -> String {
    let lines: Vec<String> = events
        .iter()
        .filter(|event| event.touches(entities))
        .map(Event::line)
        .collect();
    lines.join("\n")
}
