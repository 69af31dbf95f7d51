//! DynamoDB stream records, in the JSON shape an EventBridge Pipe delivers to
//! SQS (and the stream APIs return): `eventID`, `eventName`,
//! `dynamodb.{Keys, NewImage, OldImage, SequenceNumber, ApproximateCreationDateTime}`.

use serde::Deserialize;
use serde_json::Value as Json;

use crate::store::engine::Item;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ChangeKind {
    Insert,
    Modify,
    Remove,
}

/// One change of one item.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamRecord {
    pub event_id: String,
    pub kind: ChangeKind,
    pub keys: Item,
    pub new_image: Option<Item>,
    pub old_image: Option<Item>,
    pub sequence_number: Option<String>,
    /// Seconds since the epoch, when the change was made (approximately).
    pub created_at_epoch: Option<f64>,
}

#[derive(Debug, thiserror::Error)]
#[error("not a DynamoDB stream record: {0}")]
pub struct DecodeError(String);

#[derive(Deserialize)]
struct RawRecord {
    #[serde(rename = "eventID")]
    event_id: String,
    #[serde(rename = "eventName")]
    event_name: ChangeKind,
    dynamodb: RawChange,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawChange {
    keys: serde_json::Map<String, Json>,
    new_image: Option<serde_json::Map<String, Json>>,
    old_image: Option<serde_json::Map<String, Json>>,
    sequence_number: Option<String>,
    approximate_creation_date_time: Option<f64>,
}

/// Decodes a message body holding one record or an array of records.
pub fn decode_body(body: &str) -> Result<Vec<StreamRecord>, DecodeError> {
    let json: Json = serde_json::from_str(body).map_err(|e| DecodeError(e.to_string()))?;
    match json {
        Json::Array(records) => records.into_iter().map(decode_record).collect(),
        record => decode_record(record).map(|record| vec![record]),
    }
}

fn decode_record(json: Json) -> Result<StreamRecord, DecodeError> {
    let raw: RawRecord = serde_json::from_value(json).map_err(|e| DecodeError(e.to_string()))?;
    Ok(StreamRecord {
        event_id: raw.event_id,
        kind: raw.event_name,
        keys: decode_item(&raw.dynamodb.keys)?,
        new_image: raw
            .dynamodb
            .new_image
            .as_ref()
            .map(decode_item)
            .transpose()?,
        old_image: raw
            .dynamodb
            .old_image
            .as_ref()
            .map(decode_item)
            .transpose()?,
        sequence_number: raw.dynamodb.sequence_number,
        created_at_epoch: raw.dynamodb.approximate_creation_date_time,
    })
}

fn decode_item(attributes: &serde_json::Map<String, Json>) -> Result<Item, DecodeError> {
    crate::store::engine::item_from_json(attributes).map_err(|e| DecodeError(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::engine::Value;

    #[test]
    fn decodes_a_single_pipe_record() {
        let records = decode_body(include_str!("../../tests/fixtures/pipe-insert.json")).unwrap();
        assert_eq!(records.len(), 1);
        let record = &records[0];
        assert_eq!(record.event_id, "7de3041dd709b024af6f29e4fa13d34c");
        assert_eq!(record.kind, ChangeKind::Insert);
        assert_eq!(
            record.keys.get("PK"),
            Some(&Value::S("CUSTOMER#john".into()))
        );
        let image = record.new_image.as_ref().unwrap();
        assert_eq!(image.get("Amount"), Some(&Value::N("19.99".into())));
        assert!(record.old_image.is_none());
        assert_eq!(
            record.sequence_number.as_deref(),
            Some("4421584500000000017450439091")
        );
        assert_eq!(record.created_at_epoch, Some(1732560453.0));
    }

    #[test]
    fn decodes_an_array_of_records() {
        let records =
            decode_body(include_str!("../../tests/fixtures/pipe-modify-batch.json")).unwrap();
        assert_eq!(records.len(), 2);
        assert!(
            records
                .iter()
                .all(|r| r.kind == ChangeKind::Modify && r.old_image.is_some())
        );
    }

    #[test]
    fn refuses_what_is_not_a_record() {
        for body in [
            "",
            "{",
            "{}",
            "[{}]",
            r#"{"eventID":"x","eventName":"UPSERT","dynamodb":{"Keys":{}}}"#,
        ] {
            assert!(decode_body(body).is_err(), "{body:?}");
        }
    }
}
