//! Queries over a read snapshot: one partition of the table, or of an index.

use std::ops::Bound;

use super::internal;
use super::tables::decode;
use crate::store::engine::{Direction, EngineError, Item, Query, text};
use crate::store::keys::{PK, SK};

pub(super) type ItemsTable = redb::ReadOnlyTable<(&'static str, &'static str), &'static [u8]>;
pub(super) type IndexTable =
    redb::ReadOnlyTable<(&'static str, &'static str, &'static str, &'static str), ()>;

pub(super) fn query_table(items: &ItemsTable, query: &Query) -> Result<Vec<Item>, EngineError> {
    let pk = query.partition.as_str();
    // The smallest string greater than `pk`: every key of the partition is below it.
    let next_partition = format!("{pk}\0");
    let end = Bound::Excluded((next_partition.as_str(), ""));
    let start_sk = query.start_after.as_ref().and_then(|item| text(item, SK));
    let bounds = match (query.direction, start_sk) {
        (Direction::Ascending, Some(sk)) => (Bound::Excluded((pk, sk)), end),
        (Direction::Descending, Some(sk)) => (Bound::Included((pk, "")), Bound::Excluded((pk, sk))),
        (_, None) => (Bound::Included((pk, "")), end),
    };
    let range = items.range::<(&str, &str)>(bounds).map_err(internal)?;
    let entries: Box<dyn Iterator<Item = _>> = match query.direction {
        Direction::Ascending => Box::new(range),
        Direction::Descending => Box::new(range.rev()),
    };
    entries
        .take(query.limit)
        .map(|entry| {
            let (_, bytes) = entry.map_err(internal)?;
            decode(bytes.value())
        })
        .collect()
}

/// A query of an index whose sort key is the item attribute `sort_key`.
pub(super) fn query_index(
    items: &ItemsTable,
    index: &IndexTable,
    sort_key: &str,
    query: &Query,
) -> Result<Vec<Item>, EngineError> {
    let gpk = query.partition.as_str();
    let next_partition = format!("{gpk}\0");
    let end = Bound::Excluded((next_partition.as_str(), "", "", ""));
    let start = query
        .start_after
        .as_ref()
        .and_then(|item| Some((text(item, sort_key)?, text(item, PK)?, text(item, SK)?)));
    let bounds = match (query.direction, start) {
        (Direction::Ascending, Some((gsk, pk, sk))) => (Bound::Excluded((gpk, gsk, pk, sk)), end),
        (Direction::Descending, Some((gsk, pk, sk))) => (
            Bound::Included((gpk, "", "", "")),
            Bound::Excluded((gpk, gsk, pk, sk)),
        ),
        (_, None) => (Bound::Included((gpk, "", "", "")), end),
    };
    let range = index
        .range::<(&str, &str, &str, &str)>(bounds)
        .map_err(internal)?;
    let entries: Box<dyn Iterator<Item = _>> = match query.direction {
        Direction::Ascending => Box::new(range),
        Direction::Descending => Box::new(range.rev()),
    };
    let mut found = Vec::new();
    for entry in entries.take(query.limit) {
        let (entry, _) = entry.map_err(internal)?;
        let (_, _, pk, sk) = entry.value();
        let bytes = items.get((pk, sk)).map_err(internal)?.ok_or_else(|| {
            EngineError::Internal(anyhow::anyhow!("an index entry without its item"))
        })?;
        found.push(decode(bytes.value())?);
    }
    Ok(found)
}
