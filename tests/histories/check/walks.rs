//! What the work-queue walks saw: each order once, none passed over, every
//! settled order found, and the final walks equal to the table.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::Value;
use time::format_description::well_known::Rfc3339;

use super::{Run, Violation, violation};
use crate::history::{Event, Request};

impl Run<'_> {
    /// Each walk's pages, in order, with the ids they returned.
    pub(super) fn walks(&self) -> BTreeMap<usize, (&'static str, Vec<&Event>)> {
        let mut walks: BTreeMap<usize, (&'static str, Vec<&Event>)> = BTreeMap::new();
        for e in self.events {
            if let (Request::QueuePage { walk, status, .. }, Some(_)) = (&e.request, e.acked()) {
                walks.entry(*walk).or_insert((status, Vec::new())).1.push(e);
            }
        }
        walks
    }

    pub(super) fn walks_return_each_order_once(&self) -> Vec<Violation> {
        let mut found = Vec::new();
        for (walk, (status, pages)) in self.walks() {
            let mut returned = BTreeSet::new();
            for id in pages.iter().flat_map(|page| page_ids(page)) {
                if !returned.insert(id.clone()) {
                    found.push(violation(
                        "one walk returns no order twice",
                        format!("walk {walk} of {status} returned {id} twice"),
                        &[&id],
                    ));
                }
            }
        }
        found
    }

    /// When a queue key's order entered its status, on the history's clock.
    pub(super) fn entered(&self, key: &str) -> Option<Duration> {
        let at = time::OffsetDateTime::parse(key.split('#').next()?, &Rfc3339).ok()?;
        Some(
            std::time::SystemTime::from(at)
                .duration_since(self.began)
                .unwrap_or_default(),
        )
    }

    /// Every order that entered `status` by an acknowledged placement or
    /// move: (the acknowledging event, its user, its id, its queue key).
    pub(super) fn entered_status(&self, status: &str) -> Vec<(&Event, &str, &str, String)> {
        let mut entered = Vec::new();
        for e in self.events {
            let Some(body) = e.acked() else { continue };
            let (user, id) = match &e.request {
                Request::Place { username, .. } if status == "PLACED" => (
                    username.as_str(),
                    body["data"]["OrderId"].as_str().unwrap_or_default(),
                ),
                Request::Move {
                    username, order, ..
                } if body["data"]["Status"] == status => (username.as_str(), order.as_str()),
                _ => continue,
            };
            if let Some(key) = queue_key(&body["data"], status) {
                entered.push((e, user, id, key));
            }
        }
        entered
    }

    /// Whether a request could have moved `id` out of its status (or
    /// deleted it) before `until`, other than `entering`'s own operation.
    pub(super) fn disturbed(
        &self,
        entering: &Event,
        user: &str,
        id: &str,
        until: Duration,
    ) -> bool {
        let from = self.began_op(entering);
        self.moves_of(id)
            .any(|m| m.op != entering.op && m.started < until && m.ended + self.landing() > from)
            || self
                .deletes_of(user)
                .any(|d| d.started < until && d.ended + self.landing() > from)
    }

    /// A walk never passes an order's place: when a page returns an order,
    /// every order before it in its shard of the queue that was in the
    /// status then (its write landed: it was acknowledged) has been
    /// returned. An order that lands behind a walk's position is never
    /// returned by that walk: what the settle time prevents.
    pub(super) fn walks_never_pass_an_order(&self) -> Vec<Violation> {
        let mut found = Vec::new();
        for (walk, (status, pages)) in self.walks() {
            let entered = self.entered_status(status);
            let all: BTreeSet<String> = pages.iter().flat_map(|page| page_ids(page)).collect();
            for page in &pages {
                let entries = page
                    .acked()
                    .and_then(|body| body["data"].as_array())
                    .cloned()
                    .unwrap_or_default();
                for entry in &entries {
                    let (Some(y), Some(y_key)) =
                        (entry["OrderId"].as_str(), queue_key(entry, status))
                    else {
                        continue;
                    };
                    for (e, user, x, x_key) in &entered {
                        if all.contains(*x) || shard(x) != shard(y) || *x_key >= y_key {
                            continue;
                        }
                        if self.disturbed(e, user, x, page.ended) {
                            continue;
                        }
                        found.push(violation(
                            "a walk from the head finds every order in its status",
                            format!(
                                "walk {walk} of {status} returned {y} ({y_key}) at {} ms and never {x} ({x_key}), before it in its shard, in the status since op {}",
                                page.started.as_millis(),
                                e.op
                            ),
                            &[x, y, user],
                        ));
                    }
                }
            }
        }
        found
    }

    /// A walk that reached its end returned every order that entered its
    /// status more than the settle time before its last page (an
    /// acknowledged placement or move, acknowledged before that page) and
    /// that no request could have moved or deleted before the walk ended.
    pub(super) fn walks_find_every_settled_order(&self) -> Vec<Violation> {
        let mut found = Vec::new();
        for (walk, (status, pages)) in self.walks() {
            let last = pages.last().expect("a walk has a page");
            if last
                .acked()
                .is_some_and(|body| body["nextToken"].is_string())
            {
                continue;
            }
            let walked: BTreeSet<String> = pages.iter().flat_map(|page| page_ids(page)).collect();
            for (e, user, id, key) in self.entered_status(status) {
                let Some(entered) = self.entered(&key) else {
                    continue;
                };
                let settled = entered + self.settle < last.started;
                if walked.contains(id) || e.ended >= last.started || !settled {
                    continue;
                }
                if self.disturbed(e, user, id, last.ended) {
                    continue;
                }
                found.push(violation(
                    "a walk from the head finds every order in its status",
                    format!(
                        "walk {walk} of {status} (last page at {} ms) missed {id}, in the status since {} ms by op {}, acknowledged at {} ms",
                        last.started.as_millis(),
                        entered.as_millis(),
                        e.op,
                        e.ended.as_millis()
                    ),
                    &[id, user],
                ));
            }
        }
        found
    }

    /// The walks made after the run, when nothing moves: each holds exactly
    /// the table's orders in its status.
    pub fn final_walks_hold_the_table(
        &self,
        walks: &BTreeMap<&'static str, Vec<String>>,
    ) -> Vec<Violation> {
        let mut found = Vec::new();
        for (status, walked) in walks {
            let walked_set: BTreeSet<&String> = walked.iter().collect();
            let stored: BTreeSet<&String> = self
                .table
                .orders
                .iter()
                .filter(|(_, o)| o.status == *status)
                .map(|(id, _)| id)
                .collect();
            if walked_set.len() != walked.len() || walked_set != stored {
                let missing: Vec<&str> =
                    stored.difference(&walked_set).map(|s| s.as_str()).collect();
                let extra: Vec<&str> = walked_set.difference(&stored).map(|s| s.as_str()).collect();
                let mut entities = missing.clone();
                entities.extend(&extra);
                found.push(violation("a walk from the head finds every order in its status", format!("the final walk of {status} missed {missing:?} and returned {extra:?} (of {} walked)", walked.len()), &entities));
            }
        }
        found
    }
}

/// An order's place in a status's queue, as the service keys it (GSI2SK):
/// when it entered the status (`CreatedAt` for PLACED, the move's
/// `UpdatedAt` for the others), then its id.
fn queue_key(order: &Value, status: &str) -> Option<String> {
    let field = if status == "PLACED" {
        "CreatedAt"
    } else {
        "UpdatedAt"
    };
    Some(format!(
        "{}#{}",
        order[field].as_str()?,
        order["OrderId"].as_str()?
    ))
}

/// The queue shard of an order: its id's last random byte over the 4
/// shards (README, "The work queue"; `keys::order_shard`).
fn shard(id: &str) -> Option<u8> {
    ulid::Ulid::from_string(id)
        .ok()
        .map(|ulid| ulid.to_bytes()[15] % 4)
}

/// The order ids a queue page returned.
pub fn page_ids(page: &Event) -> Vec<String> {
    page.acked()
        .and_then(|body| body["data"].as_array())
        .map(|entries| {
            entries
                .iter()
                .filter_map(|entry| entry["OrderId"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}
