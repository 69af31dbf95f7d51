//! Domain events made from order changes: `OrderPlaced` on insert,
//! `OrderStatusChanged` when a modify changed the status, nothing otherwise.

use opentelemetry::trace::SpanContext;
use serde::Serialize;

use super::record::{ChangeKind, StreamRecord};
use crate::domain::{Order, StoredNumber, StoredStatus};
use crate::store::engine::Item;
use crate::store::{StoreError, keys, records};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    OrderPlaced,
    OrderStatusChanged,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::OrderPlaced => "OrderPlaced",
            EventType::OrderStatusChanged => "OrderStatusChanged",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct OrderEvent {
    /// The stream record's id: consumers deduplicate on it (delivery is at least once).
    pub event_id: String,
    pub event_type: EventType,
    pub order: Order,
    pub previous_status: Option<StoredStatus>,
    pub changed_at_epoch: Option<f64>,
    /// The trace of the request that made the change, when it was traced.
    pub cause: Option<SpanContext>,
}

#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error("the order change {event_id} has no {image} image")]
    MissingImage {
        event_id: String,
        image: &'static str,
    },
    #[error("the order change {event_id} has an unreadable {image} image")]
    Unreadable {
        event_id: String,
        image: &'static str,
        #[source]
        source: StoreError,
    },
}

impl OrderEvent {
    /// The event a change stands for, if any.
    pub fn from_record(record: &StreamRecord) -> Result<Option<Self>, EventError> {
        let sort_key = crate::store::engine::text(&record.keys, keys::SK).unwrap_or_default();
        if !keys::is_order_sort_key(sort_key) {
            return Ok(None);
        }
        let order_of = |image: Option<&Item>, name: &'static str| {
            let image = image.ok_or_else(|| EventError::MissingImage {
                event_id: record.event_id.clone(),
                image: name,
            })?;
            records::order_from_item(image).map_err(|source| EventError::Unreadable {
                event_id: record.event_id.clone(),
                image: name,
                source,
            })
        };
        let (event_type, order, previous_status) = match record.kind {
            // An order `migrate` moved to its canonical partition: no new order.
            ChangeKind::Insert
                if record
                    .new_image
                    .as_ref()
                    .is_some_and(|image| image.contains_key(records::MIGRATED_FROM)) =>
            {
                return Ok(None);
            }
            ChangeKind::Insert => {
                let order = order_of(record.new_image.as_ref(), "new")?;
                (EventType::OrderPlaced, order, None)
            }
            ChangeKind::Modify => {
                let order = order_of(record.new_image.as_ref(), "new")?;
                let before = order_of(record.old_image.as_ref(), "old")?;
                if before.status == order.status {
                    return Ok(None);
                }
                (EventType::OrderStatusChanged, order, Some(before.status))
            }
            ChangeKind::Remove => return Ok(None),
        };
        let cause = record
            .new_image
            .as_ref()
            .and_then(|image| crate::store::engine::text(image, records::TRACE_PARENT))
            .and_then(crate::telemetry::trace::parse_traceparent);
        Ok(Some(Self {
            event_id: record.event_id.clone(),
            event_type,
            order,
            previous_status,
            changed_at_epoch: record.created_at_epoch,
            cause,
        }))
    }

    /// The JSON every subscriber gets: the SNS message and the EventBridge detail.
    pub fn payload(&self) -> Result<String, serde_json::Error> {
        let order = &self.order;
        serde_json::to_string(&Payload {
            event_id: &self.event_id,
            event_type: self.event_type.as_str(),
            order_id: order.id.to_string(),
            username: order.owner.as_str(),
            status: order.status.as_str(),
            previous_status: self.previous_status.as_ref().map(StoredStatus::as_str),
            amount: &order.amount,
            num_items: &order.items,
            created_at: order.created_at.map(|at| at.to_string()),
            updated_at: order.updated_at.map(|at| at.to_string()),
            version: order.version,
        })
    }
}

/// An order event: the SNS message and the EventBridge event's `detail`
/// (source `ecommerce.orders`, detail-type the event type). Delivery is at
/// least once; `eventId` tells repeats apart and `version` orders one
/// order's events.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = OrderEvent, example = json!({
    "eventId": "7de3041dd709b024af6f29e4fa13d34c", "eventType": "OrderStatusChanged",
    "orderId": "01K9Z8Y7X6W5V4T3S2R1Q0P9N8", "username": "john", "status": "SHIPPED",
    "previousStatus": "PLACED", "amount": 5.5, "numItems": 2,
    "createdAt": "2026-11-25T10:00:00.000000Z", "updatedAt": "2026-11-25T11:00:00.000000Z", "version": 2
}))]
pub struct Payload<'a> {
    /// The change record's id: the same for every delivery of one change.
    event_id: &'a str,
    /// `OrderPlaced` or `OrderStatusChanged`.
    event_type: &'a str,
    order_id: String,
    username: &'a str,
    status: &'a str,
    /// The status before the move (`OrderStatusChanged` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    previous_status: Option<&'a str>,
    /// Exactly as stored.
    #[schema(value_type = f64)]
    amount: &'a StoredNumber,
    #[schema(value_type = u64)]
    num_items: &'a StoredNumber,
    #[serde(skip_serializing_if = "Option::is_none")]
    created_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    updated_at: Option<String>,
    /// The order's version after the change: 1 when placed, one more with
    /// each status move, written in the same write as the change itself.
    version: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::record::decode_body;

    fn events(fixture: &str) -> Vec<Option<OrderEvent>> {
        decode_body(fixture)
            .unwrap()
            .iter()
            .map(|record| OrderEvent::from_record(record).unwrap())
            .collect()
    }

    #[test]
    fn an_insert_is_an_order_placed() {
        let events = events(include_str!("../../tests/fixtures/pipe-insert.json"));
        let event = events[0].as_ref().unwrap();
        assert_eq!(event.event_type, EventType::OrderPlaced);
        assert_eq!(event.event_id, "7de3041dd709b024af6f29e4fa13d34c");
        let payload: serde_json::Value = serde_json::from_str(&event.payload().unwrap()).unwrap();
        assert_eq!(payload["eventType"], "OrderPlaced");
        assert_eq!(payload["orderId"], "01JDHZ4Q5T8V0K3M7N2P6R9S1W");
        assert_eq!(payload["username"], "john");
        assert_eq!(payload["amount"].to_string(), "19.99");
        assert!(payload.get("previousStatus").is_none());
        assert_eq!(
            payload["version"], 1,
            "an order from before versions counts as 1"
        );
    }

    #[test]
    fn an_order_migrate_moved_is_no_new_order() {
        let body = include_str!("../../tests/fixtures/pipe-insert.json");
        let mut record = decode_body(body).unwrap().remove(0);
        assert!(OrderEvent::from_record(&record).unwrap().is_some());
        record.new_image.as_mut().unwrap().insert(
            records::MIGRATED_FROM.to_owned(),
            crate::store::engine::Value::S("CUSTOMER#John".into()),
        );
        assert!(OrderEvent::from_record(&record).unwrap().is_none());
    }

    #[test]
    fn only_a_status_change_is_an_event() {
        let events = events(include_str!("../../tests/fixtures/pipe-modify-batch.json"));
        let changed = events[0].as_ref().unwrap();
        assert_eq!(changed.event_type, EventType::OrderStatusChanged);
        assert_eq!(
            changed.previous_status,
            Some(crate::domain::OrderStatus::Placed.into())
        );
        assert_eq!(changed.order.status, crate::domain::OrderStatus::Shipped);
        assert!(
            events[1].is_none(),
            "NumberItems changed, the status did not"
        );
    }

    #[test]
    fn changes_of_other_items_are_no_events() {
        let events = events(include_str!(
            "../../tests/fixtures/pipe-customer-insert.json"
        ));
        assert!(events[0].is_none());
    }
}
