//! What the writes left: acknowledged ones present, none half-written, one
//! account per name and email, statuses along the state machine, one order
//! per idempotency key.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::{Run, Violation, reachable, violation};
use crate::history::{Event, Outcome, Request};

impl Run<'_> {
    pub(super) fn acknowledged_writes_are_there(&self) -> Vec<Violation> {
        let table = self.table;
        let mut found = Vec::new();
        for e in self.events {
            let Some(body) = e.acked() else { continue };
            match &e.request {
                Request::Register {
                    username, email, ..
                } => {
                    if self.may_land_after(self.deletes_of(username), self.began_op(e)) {
                        continue;
                    }
                    let kept = table.profiles.get(username.as_str());
                    if kept.is_none_or(|p| p.deleting || p.email != *email) {
                        found.push(violation(
                            "every acknowledged write is there",
                            format!("registration op {} of {username} with {email}: the table has {kept:?}", e.op),
                            &[username, email],
                        ));
                    }
                }
                Request::Place { username, .. } => {
                    let id = body["data"]["OrderId"].as_str().unwrap_or_default();
                    if self.may_land_after(self.deletes_of(username), self.began_op(e)) {
                        continue;
                    }
                    if table.orders.get(id).is_none_or(|o| o.owner != *username) {
                        found.push(violation(
                            "every acknowledged write is there",
                            format!(
                                "order {id} of {username}, placed by op {}, is missing",
                                e.op
                            ),
                            &[username, id],
                        ));
                    }
                }
                Request::Move {
                    username, order, ..
                } => {
                    let moved_to = body["data"]["Status"].as_str().unwrap_or_default();
                    match table.orders.get(order.as_str()) {
                        Some(stored) if !reachable(moved_to, &stored.status) => {
                            found.push(violation(
                                "every acknowledged write is there",
                                format!(
                                    "op {} moved {order} to {moved_to}; the table has {}",
                                    e.op, stored.status
                                ),
                                &[username, order],
                            ));
                        }
                        None if !self
                            .may_land_after(self.deletes_of(username), self.began_op(e)) =>
                        {
                            found.push(violation(
                                "every acknowledged write is there",
                                format!("op {} moved {order}, which is gone though {username} was never deleted after", e.op),
                                &[username, order],
                            ));
                        }
                        _ => {}
                    }
                }
                Request::Delete { username } => {
                    if self.may_land_after(self.registrations_of(username), self.began_op(e)) {
                        continue;
                    }
                    let orders: Vec<&String> = table
                        .orders
                        .iter()
                        .filter(|(_, o)| o.owner == *username)
                        .map(|(id, _)| id)
                        .collect();
                    let reserved = table.reservations.values().any(|u| u == username);
                    if table.profiles.contains_key(username.as_str())
                        || !orders.is_empty()
                        || reserved
                    {
                        found.push(violation(
                            "every acknowledged write is there",
                            format!("op {} deleted {username}; left: profile {}, orders {orders:?}, a reservation {reserved}", e.op, table.profiles.contains_key(username.as_str())),
                            &[username],
                        ));
                    }
                }
                Request::Read { .. } | Request::QueuePage { .. } => {}
            }
        }
        found
    }

    /// Whatever answer a write got, the table holds all of it or none: a
    /// profile and its reservation, orders and their customer, a key's
    /// record and its order.
    pub(super) fn nothing_is_half_written(&self) -> Vec<Violation> {
        let table = self.table;
        let invariant = "no write half-happened";
        let mut found = Vec::new();
        for (user, profile) in &table.profiles {
            if !profile.deleting && table.reservations.get(&profile.email) != Some(user) {
                found.push(violation(
                    invariant,
                    format!("profile {user} has no reservation of {}", profile.email),
                    &[user, &profile.email],
                ));
            }
        }
        for (email, user) in &table.reservations {
            if table
                .profiles
                .get(user)
                .is_none_or(|p| p.email != *email && !p.deleting)
            {
                found.push(violation(
                    invariant,
                    format!("the reservation of {email} names {user}, who does not hold it"),
                    &[user, email],
                ));
            }
        }
        for (id, order) in &table.orders {
            if !table.profiles.contains_key(&order.owner) {
                found.push(violation(
                    invariant,
                    format!("order {id}'s customer {} is gone", order.owner),
                    &[id, &order.owner],
                ));
            }
            let queue = format!("STATUS#{}#", order.status);
            if order
                .queue
                .as_deref()
                .is_none_or(|q| !q.starts_with(&queue))
            {
                found.push(violation(
                    invariant,
                    format!(
                        "order {id} in {} is queued as {:?}",
                        order.status, order.queue
                    ),
                    &[id],
                ));
            }
        }
        for record in &table.idempotency {
            let owner = record.original_pk.trim_start_matches("CUSTOMER#");
            let deleted_ever = self.deletes_of(owner).next().is_some();
            let written = match record.original_sk.strip_prefix("#ORDER#") {
                Some(id) => table.orders.contains_key(id),
                None => table.profiles.contains_key(owner),
            };
            if !written && !deleted_ever {
                found.push(violation(
                    invariant,
                    format!(
                        "the key record {} names {} {}, which is not there",
                        record.pk, record.original_pk, record.original_sk
                    ),
                    &[owner],
                ));
            }
        }
        found
    }

    pub(super) fn one_account_per_username_and_email(&self) -> Vec<Violation> {
        let invariant = "one account per username and per email";
        let mut found = Vec::new();
        let mut emails: BTreeMap<&str, &str> = BTreeMap::new();
        for (user, profile) in &self.table.profiles {
            if let Some(other) = emails.insert(&profile.email, user) {
                found.push(violation(
                    invariant,
                    format!("{user} and {other} both hold {}", profile.email),
                    &[user, other, &profile.email],
                ));
            }
        }
        let registered: Vec<(&Event, &str, &str)> = self
            .events
            .iter()
            .filter(|e| matches!(e.outcome, Outcome::Answered { status: 201, .. }))
            .filter_map(|e| match &e.request {
                Request::Register {
                    username, email, ..
                } => Some((e, username.as_str(), email.as_str())),
                _ => None,
            })
            .collect();
        for (first, first_user, first_email) in &registered {
            for (second, user, email) in &registered {
                let same = first_user == user || first_email == email;
                if first.op >= second.op || !same {
                    continue;
                }
                // Each landed somewhere between its operation's first
                // attempt and its answer; whichever landed first must have
                // been deleted before the other landed.
                let (first_began, second_began) = (self.began_op(first), self.began_op(second));
                let freed_between = |user: &str, from: Duration, to: Duration| {
                    from < to
                        && self
                            .deletes_of(user)
                            .any(|d| d.ended > from && d.started < to)
                };
                if !freed_between(first_user, first_began, second.ended)
                    && !freed_between(user, second_began, first.ended)
                {
                    found.push(violation(invariant, format!("op {} registered {first_user} with {first_email}, op {} {user} with {email}, and neither account was deleted between", first.op, second.op), &[first_user, user, email]));
                }
            }
        }
        found
    }

    /// Consistent reads (placements, moves, reads by id) of one order, one
    /// after another in real time, never go back in the life cycle; nor
    /// does the table after them.
    pub(super) fn statuses_follow_the_state_machine(&self) -> Vec<Violation> {
        let mut seen: BTreeMap<&str, Vec<(&Event, &str)>> = BTreeMap::new();
        for e in self.events {
            let Some(body) = e.acked() else { continue };
            // The index is eventually consistent (README, "The work queue"),
            // and a replay is the first answer, as of then.
            if matches!(e.request, Request::QueuePage { .. })
                || matches!(e.outcome, Outcome::Answered { replayed: true, .. })
            {
                continue;
            }
            if let (Some(id), Some(status)) = (
                body["data"]["OrderId"].as_str(),
                body["data"]["Status"].as_str(),
            ) {
                seen.entry(id).or_default().push((e, status));
            }
        }
        let mut found = Vec::new();
        for (id, seen) in &seen {
            for (a, from) in seen {
                for (b, to) in seen {
                    if a.ended < b.started && !reachable(from, to) {
                        found.push(violation(
                            "statuses follow the state machine",
                            format!("{id} was {from} (op {}), then {to} (op {})", a.op, b.op),
                            &[id],
                        ));
                    }
                }
                if let Some(stored) = self.table.orders.get(*id)
                    && !reachable(from, &stored.status)
                {
                    found.push(violation(
                        "statuses follow the state machine",
                        format!(
                            "{id} was {from} (op {}), and the table ends with {}",
                            a.op, stored.status
                        ),
                        &[id],
                    ));
                }
            }
        }
        found
    }

    pub(super) fn one_order_per_idempotency_key(&self) -> Vec<Violation> {
        let invariant = "one order per idempotency key";
        let mut found = Vec::new();
        // Per operation (one key): the orders its answers named; per user,
        // the operations that may have written an order no answer named
        // (an attempt without a definite answer).
        let mut answered: BTreeMap<usize, BTreeSet<&str>> = BTreeMap::new();
        let mut uncertain: BTreeMap<&str, BTreeSet<usize>> = BTreeMap::new();
        for e in self.events {
            if let Request::Place { username, .. } = &e.request {
                let ops = uncertain.entry(username).or_default();
                if !matches!(
                    e.outcome,
                    Outcome::Answered {
                        status: 200..=499,
                        ..
                    }
                ) {
                    ops.insert(e.op);
                }
                if let Some(id) = e.acked().and_then(|b| b["data"]["OrderId"].as_str()) {
                    answered.entry(e.op).or_default().insert(id);
                }
            }
        }
        for (op, ids) in &answered {
            if ids.len() > 1 {
                let ids: Vec<&str> = ids.iter().copied().collect();
                found.push(violation(
                    invariant,
                    format!("op {op}'s retries were answered with {ids:?}"),
                    &ids,
                ));
            }
        }
        let claimed: BTreeSet<&str> = answered.values().flatten().copied().collect();
        for (user, ops) in &uncertain {
            let unanswered = ops.iter().filter(|op| !answered.contains_key(op)).count();
            let unclaimed: Vec<&str> = self
                .table
                .orders
                .iter()
                .filter(|(id, o)| o.owner == *user && !claimed.contains(id.as_str()))
                .map(|(id, _)| id.as_str())
                .collect();
            if unclaimed.len() > unanswered {
                let mut entities = unclaimed.clone();
                entities.push(user);
                found.push(violation(invariant, format!("{user} has orders no answer named, {unclaimed:?}, more than its {unanswered} unanswered placements"), &entities));
            }
        }
        found
    }
}
