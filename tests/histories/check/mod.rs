//! The invariants, checked on a run's history and the table it left.
//!
//! A write whose answer never came (a timeout, a 503) may have landed, and
//! as late as the service's DynamoDB budget plus the index allowance after
//! it was sent (`landing`): such a write is never held against an
//! acknowledged one it could have overlapped.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use super::history::{Event, Outcome, Request};
use super::table::Table;

mod walks;
mod writes;

pub use walks::page_ids;

#[derive(Debug)]
pub struct Violation {
    pub invariant: &'static str,
    pub detail: String,
    /// Usernames, emails and order ids involved: what the excerpt shows.
    pub entities: Vec<String>,
}

/// Everything the checks need.
pub struct Run<'a> {
    events: &'a [Event],
    table: &'a Table,
    /// The services' queue settle time.
    settle: Duration,
    /// When the history's clock started, on the wall clock.
    began: SystemTime,
    /// When each operation's first attempt started: its write may have
    /// landed from then on, whichever attempt was answered.
    op_started: BTreeMap<usize, Duration>,
}

fn violation(invariant: &'static str, detail: String, entities: &[&str]) -> Violation {
    Violation {
        invariant,
        detail,
        entities: entities.iter().map(|e| (*e).to_owned()).collect(),
    }
}

/// The state machine: whether an order in `from` can be in `to` later.
pub fn reachable(from: &str, to: &str) -> bool {
    let next: &[&str] = match from {
        "PLACED" => &["PROCESSING", "SHIPPED", "CANCEL"],
        "PROCESSING" => &["SHIPPED", "CANCEL"],
        "SHIPPED" => &["DELIVERED"],
        _ => &[],
    };
    from == to || next.iter().any(|n| reachable(n, to))
}

impl<'a> Run<'a> {
    pub fn new(events: &'a [Event], table: &'a Table, settle: Duration, began: SystemTime) -> Self {
        let mut op_started: BTreeMap<usize, Duration> = BTreeMap::new();
        for e in events {
            let first = op_started.entry(e.op).or_insert(e.started);
            *first = (*first).min(e.started);
        }
        Self {
            events,
            table,
            settle,
            began,
            op_started,
        }
    }

    /// When `e`'s operation began (its first attempt).
    fn began_op(&self, e: &Event) -> Duration {
        self.op_started.get(&e.op).copied().unwrap_or(e.started)
    }

    pub fn check(&self) -> Vec<Violation> {
        let mut found = Vec::new();
        found.extend(self.no_server_errors());
        found.extend(self.acknowledged_writes_are_there());
        found.extend(self.nothing_is_half_written());
        found.extend(self.one_account_per_username_and_email());
        found.extend(self.statuses_follow_the_state_machine());
        found.extend(self.one_order_per_idempotency_key());
        found.extend(self.walks_return_each_order_once());
        found.extend(self.walks_never_pass_an_order());
        found.extend(self.walks_find_every_settled_order());
        found
    }

    fn landing(&self) -> Duration {
        self.settle
    }

    fn of<'e>(&'e self, wanted: impl Fn(&Request) -> bool + 'e) -> impl Iterator<Item = &'e Event> {
        self.events.iter().filter(move |e| wanted(&e.request))
    }

    fn deletes_of<'e>(&'e self, user: &'e str) -> impl Iterator<Item = &'e Event> {
        self.of(move |r| matches!(r, Request::Delete { username } if username == user))
    }

    fn registrations_of<'e>(&'e self, user: &'e str) -> impl Iterator<Item = &'e Event> {
        self.of(move |r| matches!(r, Request::Register { username, .. } if username == user))
    }

    fn moves_of<'e>(&'e self, id: &'e str) -> impl Iterator<Item = &'e Event> {
        self.of(move |r| matches!(r, Request::Move { order, .. } if order == id))
    }

    /// Whether one of `events` could still have landed after `at`.
    fn may_land_after<'e>(
        &self,
        mut events: impl Iterator<Item = &'e Event>,
        at: Duration,
    ) -> bool {
        events.any(|e| e.ended + self.landing() > at)
    }

    fn no_server_errors(&self) -> Vec<Violation> {
        self.events
            .iter()
            .filter(|e| matches!(e.outcome, Outcome::Answered { status: 500.., .. }))
            .filter(|e| !matches!(e.outcome, Outcome::Answered { status: 503, .. }))
            .map(|e| {
                let mut entities = e.orders();
                entities.extend(e.username().map(str::to_owned));
                Violation {
                    invariant: "a fault between a task and DynamoDB is never a 500",
                    detail: format!("op {} answered {:?}", e.op, e.outcome),
                    entities,
                }
            })
            .collect()
    }
}
