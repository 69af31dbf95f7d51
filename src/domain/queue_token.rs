//! The page token of a status queue (`GET /orders?status=`): for each shard
//! of the status, the last order a page returned from it, if any. Opaque to
//! clients; read back only for the status it was issued for.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

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

/// Apart from [`super::PageToken`]'s version byte, so neither token reads as
/// the other.
const VERSION: u8 = 2;
const MAX_SHARDS: usize = 64;

impl QueueToken {
    /// Reads a token issued for `status`; any other is refused, so a token
    /// of another queue (or a customer listing) cannot be replayed here.
    pub fn parse(raw: &str, status: OrderStatus) -> Result<Self, ParseError> {
        let invalid = || ParseError::new("is not a token this service issued for this status");
        let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| invalid())?;
        let mut reader = Reader(&bytes);
        if reader.byte().ok_or_else(invalid)? != VERSION {
            return Err(invalid());
        }
        let issued_for = OrderStatus::ALL
            .get(usize::from(reader.byte().ok_or_else(invalid)?))
            .copied()
            .ok_or_else(invalid)?;
        let shards = usize::from(reader.byte().ok_or_else(invalid)?);
        if issued_for != status || shards == 0 || shards > MAX_SHARDS {
            return Err(invalid());
        }
        let mut positions = Vec::with_capacity(shards);
        for _ in 0..shards {
            let position = match reader.byte().ok_or_else(invalid)? {
                0 => None,
                kind @ 1..=4 => Some(reader.position(kind).ok_or_else(invalid)?),
                _ => return Err(invalid()),
            };
            positions.push(position);
        }
        if !reader.0.is_empty() {
            return Err(invalid());
        }
        Ok(Self { status, positions })
    }

    pub fn encode(&self) -> String {
        let mut bytes = vec![VERSION, status_index(self.status)];
        bytes.push(u8::try_from(self.positions.len()).unwrap_or(u8::MAX));
        for position in &self.positions {
            match position {
                None => bytes.push(0),
                Some(position) => {
                    let owner = position.owner.canonical();
                    let owner = owner.as_str().as_bytes();
                    // 1: a ULID follows, 2: a KSUID (an order the original
                    // system placed); 3 and 4 the same with an owner's name
                    // over 255 bytes (the original took any length), whose
                    // length takes two bytes.
                    let long = owner.len() > usize::from(u8::MAX);
                    bytes.push(match (&position.id, long) {
                        (OrderId::Ulid(_), false) => 1,
                        (OrderId::Ksuid(_), false) => 2,
                        (OrderId::Ulid(_), true) => 3,
                        (OrderId::Ksuid(_), true) => 4,
                    });
                    let micros = position.entered.as_datetime().unix_timestamp_nanos() / 1_000;
                    bytes.extend_from_slice(&(micros as i64).to_be_bytes());
                    bytes.extend_from_slice(&position.id.to_vec());
                    if long {
                        let length = u16::try_from(owner.len()).unwrap_or(u16::MAX);
                        bytes.extend_from_slice(&length.to_be_bytes());
                    } else {
                        bytes.push(owner.len() as u8);
                    }
                    bytes.extend_from_slice(owner);
                }
            }
        }
        URL_SAFE_NO_PAD.encode(bytes)
    }
}

fn status_index(status: OrderStatus) -> u8 {
    OrderStatus::ALL
        .iter()
        .position(|s| *s == status)
        .and_then(|i| u8::try_from(i).ok())
        .unwrap_or(u8::MAX)
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn byte(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    fn position(&mut self, kind: u8) -> Option<QueuePosition> {
        let micros = i64::from_be_bytes(self.take(8)?.try_into().ok()?);
        let at =
            time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1_000).ok()?;
        let ulid = kind == 1 || kind == 3;
        let id = OrderId::from_slice(self.take(if ulid { 16 } else { 20 })?)?;
        let length = if kind <= 2 {
            usize::from(self.byte()?)
        } else {
            usize::from(u16::from_be_bytes(self.take(2)?.try_into().ok()?))
        };
        let owner = std::str::from_utf8(self.take(length)?).ok()?;
        let owner = Username::parse(owner).ok()?;
        // Only the canonical form is ever written.
        if owner.canonical() != owner {
            return None;
        }
        Some(QueuePosition {
            entered: Timestamp::from_datetime(at),
            id,
            owner,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn refuses_another_status_forged_bytes_and_listing_tokens() {
        let raw = token().encode();
        assert!(QueueToken::parse(&raw, OrderStatus::Placed).is_err());
        let mut trailing = URL_SAFE_NO_PAD.decode(&raw).unwrap();
        trailing.push(0);
        assert!(
            QueueToken::parse(&URL_SAFE_NO_PAD.encode(&trailing), OrderStatus::Shipped).is_err()
        );
        let listing =
            super::super::PageToken::after(OrderId::parse("01ARZ3NDEKTSV4RRFFQ69G5FAV").unwrap());
        assert!(QueueToken::parse(&listing.encode(), OrderStatus::Shipped).is_err());
        for bad in ["", "abc", "not base64!", "AgMA"] {
            assert!(
                QueueToken::parse(bad, OrderStatus::Shipped).is_err(),
                "{bad:?}"
            );
        }
    }
}
