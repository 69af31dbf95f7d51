//! Tokens issued before the JSON format (versions 1 to 3, binary): read,
//! never written, so a client paging across a deploy goes on where it was.
//! Version 1 is a listing's last ULID, 3 its last KSUID; 2 a status queue's
//! positions.

use crate::domain::{OrderId, OrderStatus, QueuePosition, Timestamp, Username};

const LISTING_ULID: u8 = 1;
const QUEUE: u8 = 2;
const LISTING_KSUID: u8 = 3;
const MAX_SHARDS: usize = 64;

/// The last order of a listing page.
pub(in crate::domain) fn listing(bytes: &[u8]) -> Option<OrderId> {
    match bytes.split_first()? {
        (&LISTING_ULID, id) if id.len() == 16 => OrderId::from_slice(id),
        (&LISTING_KSUID, id) if id.len() == 20 => OrderId::from_slice(id),
        _ => None,
    }
}

/// A status queue's positions, if the token was issued for `status`.
pub(in crate::domain) fn queue(
    bytes: &[u8],
    status: OrderStatus,
) -> Option<Vec<Option<QueuePosition>>> {
    let mut reader = Reader(bytes);
    if reader.byte()? != QUEUE {
        return None;
    }
    let issued_for = *OrderStatus::ALL.get(usize::from(reader.byte()?))?;
    let shards = usize::from(reader.byte()?);
    if issued_for != status || shards == 0 || shards > MAX_SHARDS {
        return None;
    }
    let mut positions = Vec::with_capacity(shards);
    for _ in 0..shards {
        positions.push(match reader.byte()? {
            0 => None,
            kind @ 1..=4 => Some(reader.position(kind)?),
            _ => return None,
        });
    }
    reader.0.is_empty().then_some(positions)
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

    /// Kinds 1 and 3: a ULID; 2 and 4: a KSUID. 1 and 2 have an owner's name
    /// of at most 255 bytes (a one-byte length), 3 and 4 a two-byte length.
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
        let owner = Username::parse(std::str::from_utf8(self.take(length)?).ok()?).ok()?;
        // Only the canonical form was ever written.
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

/// The binary forms as they were written, for the tests that show such
/// tokens still read.
#[cfg(test)]
pub(in crate::domain) mod written {
    use super::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    pub fn listing(last: OrderId) -> String {
        let mut bytes = vec![match last {
            OrderId::Ulid(_) => LISTING_ULID,
            OrderId::Ksuid(_) => LISTING_KSUID,
        }];
        bytes.extend_from_slice(&last.to_vec());
        URL_SAFE_NO_PAD.encode(bytes)
    }

    pub fn queue(status: OrderStatus, positions: &[Option<QueuePosition>]) -> String {
        let index = OrderStatus::ALL.iter().position(|s| *s == status).unwrap();
        let mut bytes = vec![QUEUE, index as u8, positions.len() as u8];
        for position in positions {
            let Some(position) = position else {
                bytes.push(0);
                continue;
            };
            let owner = position.owner.as_str().as_bytes();
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
                bytes.extend_from_slice(&(owner.len() as u16).to_be_bytes());
            } else {
                bytes.push(owner.len() as u8);
            }
            bytes.extend_from_slice(owner);
        }
        URL_SAFE_NO_PAD.encode(bytes)
    }
}
