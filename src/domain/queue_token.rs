//! The page token of a status queue (`GET /orders?status=`): for each shard
//! of the status, the last order a page returned from it, if any. Read back
//! only for the status it was issued for.

use serde::{Deserialize, Serialize};

use super::token::{self, Decoded, exactly};
use super::{OrderId, OrderStatus, ParseError, Timestamp, Username};

/// Where a walk stands in one shard: the last order it returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuePosition {
    pub entered: Timestamp,
    pub id: OrderId,
    pub owner: Username,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueToken {
    pub status: OrderStatus,
    /// One per shard, in shard order.
    pub positions: Vec<Option<QueuePosition>>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Queue {
    status: String,
    positions: Vec<Option<Position>>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Position {
    entered: String,
    id: String,
    /// The owner's canonical username.
    owner: String,
}

/// More shards than any table has: a token claiming more is forged.
const MAX_SHARDS: usize = 64;

impl QueueToken {
    /// Reads a token issued for `status`; any other is refused, so a token
    /// of another queue (or a customer listing) cannot be replayed here.
    pub fn parse(raw: &str, status: OrderStatus) -> Result<Self, ParseError> {
        let positions = match token::decode::<Queue>(raw)? {
            Decoded::Current(queue) => {
                let issued_for =
                    exactly(&queue.status, OrderStatus::parse, |s| s.as_str().to_owned())?;
                if issued_for != status {
                    return Err(token::invalid());
                }
                queue
                    .positions
                    .iter()
                    .map(|position| position.as_ref().map(read_position).transpose())
                    .collect::<Result<Vec<_>, _>>()?
            }
            Decoded::Legacy(bytes) => {
                token::legacy::queue(&bytes, status).ok_or_else(token::invalid)?
            }
        };
        if positions.is_empty() || positions.len() > MAX_SHARDS {
            return Err(token::invalid());
        }
        Ok(Self { status, positions })
    }

    pub fn encode(&self) -> String {
        token::encode(Queue {
            status: self.status.as_str().to_owned(),
            positions: self
                .positions
                .iter()
                .map(|position| {
                    position.as_ref().map(|position| Position {
                        entered: position.entered.to_string(),
                        id: position.id.to_string(),
                        owner: position.owner.canonical().as_str().to_owned(),
                    })
                })
                .collect(),
        })
    }
}

fn read_position(position: &Position) -> Result<QueuePosition, ParseError> {
    Ok(QueuePosition {
        entered: exactly(&position.entered, Timestamp::parse, Timestamp::to_string)?,
        id: exactly(&position.id, OrderId::parse, OrderId::to_string)?,
        owner: exactly(&position.owner, Username::parse, |owner| {
            owner.canonical().as_str().to_owned()
        })?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::PageToken;

    fn token() -> QueueToken {
        QueueToken {
            status: OrderStatus::Shipped,
            positions: vec![
                None,
                Some(QueuePosition {
                    entered: Timestamp::parse("2026-11-30T09:00:00.123456Z").unwrap(),
                    id: OrderId::parse("01ARZ3NDEKTSV4RRFFQ69G5FAV").unwrap(),
                    owner: Username::parse("john").unwrap(),
                }),
                Some(QueuePosition {
                    entered: Timestamp::parse("2023-08-21T22:21:34.811747").unwrap(),
                    id: OrderId::parse("2UJT4m2UkBAWG7DHDLfkXxbMN04").unwrap(),
                    owner: Username::parse("ann").unwrap(),
                }),
            ],
        }
    }

    #[test]
    fn round_trips_for_its_own_status() {
        let token = token();
        let raw = token.encode();
        assert_eq!(QueueToken::parse(&raw, OrderStatus::Shipped), Ok(token));
    }

    #[test]
    fn round_trips_the_longest_name_the_original_could_store() {
        let mut token = token();
        let long = "a".repeat(Username::MAX_BYTES);
        for position in token.positions.iter_mut().flatten() {
            position.owner = Username::parse(&long).unwrap();
        }
        let raw = token.encode();
        assert_eq!(QueueToken::parse(&raw, OrderStatus::Shipped), Ok(token));
    }

    #[test]
    fn a_token_issued_before_the_json_format_still_reads() {
        let mut token = token();
        let long = "a".repeat(Username::MAX_BYTES);
        if let Some(Some(position)) = token.positions.last_mut() {
            position.owner = Username::parse(&long).unwrap();
        }
        let raw = token::legacy::written::queue(token.status, &token.positions);
        assert_eq!(QueueToken::parse(&raw, OrderStatus::Shipped), Ok(token));
        assert!(QueueToken::parse(&raw, OrderStatus::Placed).is_err());
    }

    #[test]
    fn refuses_another_status_forged_values_and_listing_tokens() {
        let raw = token().encode();
        assert!(QueueToken::parse(&raw, OrderStatus::Placed).is_err());
        let mixed_case_owner = token::encode(Queue {
            status: "SHIPPED".into(),
            positions: vec![Some(Position {
                entered: "2026-11-30T09:00:00.123456Z".into(),
                id: "01ARZ3NDEKTSV4RRFFQ69G5FAV".into(),
                owner: "John".into(),
            })],
        });
        assert!(QueueToken::parse(&mixed_case_owner, OrderStatus::Shipped).is_err());
        let no_shards = token::encode(Queue {
            status: "SHIPPED".into(),
            positions: vec![],
        });
        assert!(QueueToken::parse(&no_shards, OrderStatus::Shipped).is_err());
        let john = Username::parse("john").unwrap();
        let listing =
            PageToken::after(OrderId::parse("01ARZ3NDEKTSV4RRFFQ69G5FAV").unwrap()).encode(&john);
        assert!(QueueToken::parse(&listing, OrderStatus::Shipped).is_err());
        for bad in ["", "abc", "not base64!", "AgMA"] {
            assert!(
                QueueToken::parse(bad, OrderStatus::Shipped).is_err(),
                "{bad:?}"
            );
        }
    }
}
