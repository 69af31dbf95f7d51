//! Stored items that cannot be read as what their key says they are: not a
//! shape this service or the system it replaced wrote. Each is logged once
//! per process with its key (so an operator can find it, and `migrate`
//! lists them too) and counted in the `UnreadableItems` metric every time a
//! read meets it. A single-item read answers with a clear error; a listing
//! passes over it, so one bad order never hides a customer's other orders.

use std::collections::HashSet;
use std::sync::{LazyLock, Mutex};

use super::StoreError;
use super::engine::{Item, text};
use super::keys::{PK, SK};

/// Keys already logged. Bounded: past this many it starts over, and an
/// item may be logged again.
const REMEMBERED: usize = 10_000;

static LOGGED: LazyLock<Mutex<HashSet<(String, String)>>> =
    LazyLock::new(|| Mutex::new(HashSet::new()));

/// Logs (once) and counts an item whose `attribute` is missing or invalid,
/// and returns the error a reader answers with.
pub(super) fn report(item: &Item, kind: &'static str, attribute: &'static str) -> StoreError {
    let pk = text(item, PK).unwrap_or_default();
    let sk = text(item, SK).unwrap_or_default();
    crate::telemetry::metrics::unreadable_item(kind);
    let first_time = {
        let mut logged = LOGGED.lock().unwrap_or_else(|e| e.into_inner());
        if logged.len() >= REMEMBERED {
            logged.clear();
        }
        logged.insert((pk.to_owned(), sk.to_owned()))
    };
    if first_time {
        tracing::error!(
            pk,
            sk,
            kind,
            attribute,
            "a stored item cannot be read: its attribute is missing or invalid"
        );
    }
    StoreError::Unreadable { kind, attribute }
}
