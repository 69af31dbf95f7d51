//! The engine's own rules, below the API: expiry, the expiry index of an
//! older file, the change feed's numbering and switch, DynamoDB's
//! transaction limits, and a dropped engine closing its file.

use std::time::SystemTime;

use redb::{Database, ReadableDatabase, ReadableTable};

use super::tables::{EXPIRIES, ITEMS, epoch_seconds};
use super::{ChangeFeed, EmbeddedEngine, FILE_NAME};
use crate::store::engine::{Condition, EngineError, Item, MAX_TRANSACTION_ITEMS, Value, WriteOp};
use crate::store::keys::{EXPIRES_AT, Key, PK, SK};

fn now() -> i64 {
    epoch_seconds(SystemTime::now()) as i64
}

fn item(pk: &str, expires_at: Option<i64>) -> Item {
    let mut item = Item::from([
        (PK.to_owned(), Value::S(pk.to_owned())),
        (SK.to_owned(), Value::S(pk.to_owned())),
    ]);
    if let Some(at) = expires_at {
        item.insert(EXPIRES_AT.to_owned(), Value::N(at.to_string()));
    }
    item
}

fn put(item: Item) -> WriteOp {
    WriteOp::Put {
        item,
        condition: Condition::Always,
    }
}

fn key(pk: &str) -> Key {
    Key {
        pk: pk.to_owned(),
        sk: pk.to_owned(),
    }
}

fn removals(engine: &EmbeddedEngine) -> Vec<String> {
    engine
        .pending_changes(100)
        .unwrap()
        .into_iter()
        .map(|(_, record)| serde_json::from_str::<serde_json::Value>(&record).unwrap())
        .filter(|record| record["eventName"] == "REMOVE")
        .map(|record| {
            record["dynamodb"]["Keys"]["PK"]["S"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

#[tokio::test]
async fn items_past_their_expiry_are_deleted_by_the_writer_and_others_kept() {
    let dir = tempfile::TempDir::new().unwrap();
    let engine = EmbeddedEngine::open(dir.path(), ChangeFeed::On).unwrap();
    let later = now() + 3600;
    engine
        .write(vec![
            put(item("EXPIRED", Some(now() - 10))),
            put(item("LATER", Some(later - 60))),
            put(item("FOREVER", None)),
        ])
        .await
        .unwrap();
    // A renewed item is indexed by its new expiry only; a deleted one not at all.
    engine
        .write(vec![put(item("RENEWED", Some(later + 3600)))])
        .await
        .unwrap();
    engine
        .write(vec![
            put(item("RENEWED", Some(later + 7200))),
            WriteOp::Delete {
                key: key("LATER"),
                condition: Condition::Always,
            },
        ])
        .await
        .unwrap();
    engine
        .write(vec![put(item("LATER", Some(later)))])
        .await
        .unwrap();

    assert_eq!(engine.get(&key("EXPIRED")).await.unwrap(), None);
    for kept in ["LATER", "FOREVER", "RENEWED"] {
        assert!(engine.get(&key(kept)).await.unwrap().is_some(), "{kept}");
    }
    assert_eq!(removals(&engine), ["EXPIRED", "LATER"]);
    assert_eq!(
        indexed_expiries(&engine),
        [
            ("LATER".to_owned(), later),
            ("RENEWED".to_owned(), later + 7200)
        ]
    );
}

fn indexed_expiries(engine: &EmbeddedEngine) -> Vec<(String, i64)> {
    let txn = engine.db.begin_read().unwrap();
    let expiries = txn.open_table(EXPIRIES).unwrap();
    expiries
        .iter()
        .unwrap()
        .map(|entry| {
            let (guard, _) = entry.unwrap();
            let (at, pk, _) = guard.value();
            (pk.to_owned(), at as i64)
        })
        .collect()
}

#[tokio::test]
async fn a_file_from_before_the_expiry_index_is_indexed_on_open() {
    let dir = tempfile::TempDir::new().unwrap();
    {
        // The layout of a file written before expiries were indexed.
        let db = Database::create(dir.path().join(FILE_NAME)).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut items = txn.open_table(ITEMS).unwrap();
            for (pk, at) in [("OLD", now() - 10), ("YOUNG", now() + 3600)] {
                let bytes = serde_json::to_vec(&item(pk, Some(at))).unwrap();
                items.insert((pk, pk), bytes.as_slice()).unwrap();
            }
        }
        txn.commit().unwrap();
    }
    let engine = EmbeddedEngine::open(dir.path(), ChangeFeed::On).unwrap();
    assert!(engine.get(&key("OLD")).await.unwrap().is_some());

    engine
        .write(vec![put(item("ANY WRITE", None))])
        .await
        .unwrap();

    assert_eq!(engine.get(&key("OLD")).await.unwrap(), None);
    assert!(engine.get(&key("YOUNG")).await.unwrap().is_some());
}

fn pending_sequences(engine: &EmbeddedEngine) -> Vec<u64> {
    engine
        .pending_changes(100)
        .unwrap()
        .into_iter()
        .map(|(sequence, _)| sequence)
        .collect()
}

/// A dropped engine has closed its file: the next open (here, in the same
/// process; `migrate` after a fixture, in another) finds it free at once,
/// every time, even with clones dropped on other threads and writes just
/// acknowledged. redb locks the file while a `Database` is open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_engine_has_closed_its_file_so_it_opens_again_at_once() {
    let dir = tempfile::TempDir::new().unwrap();
    for round in 0..50 {
        let engine = EmbeddedEngine::open(dir.path(), ChangeFeed::Off)
            .unwrap_or_else(|error| panic!("round {round}: {error:#}"));
        let clone = engine.clone();
        tokio::spawn(async move { clone.write(vec![put(item("A", None))]).await })
            .await
            .unwrap()
            .unwrap();
        engine.write(vec![put(item("B", None))]).await.unwrap();
        drop(engine);
    }
    let engine = EmbeddedEngine::open(dir.path(), ChangeFeed::Off).unwrap();
    assert_eq!(engine.item_count().unwrap(), 2);
}

#[tokio::test]
async fn change_numbers_only_grow_across_an_empty_feed_and_a_restart() {
    let dir = tempfile::TempDir::new().unwrap();
    let engine = EmbeddedEngine::open(dir.path(), ChangeFeed::On).unwrap();
    engine.write(vec![put(item("A", None))]).await.unwrap();
    engine.write(vec![put(item("B", None))]).await.unwrap();
    assert_eq!(pending_sequences(&engine), [1, 2]);
    engine.forget_changes(vec![1, 2]).await.unwrap();
    assert!(pending_sequences(&engine).is_empty());

    // An empty feed does not start over: an old acknowledgement of 1 or 2
    // can never forget a new record.
    engine.write(vec![put(item("C", None))]).await.unwrap();
    assert_eq!(pending_sequences(&engine), [3]);
    engine.forget_changes(vec![3]).await.unwrap();
    drop(engine);
    let engine = EmbeddedEngine::open(dir.path(), ChangeFeed::On).unwrap();
    engine.write(vec![put(item("D", None))]).await.unwrap();
    assert_eq!(pending_sequences(&engine), [4], "nor does a restart");
}

#[tokio::test]
async fn with_the_feed_off_writes_record_no_changes() {
    let dir = tempfile::TempDir::new().unwrap();
    let engine = EmbeddedEngine::open(dir.path(), ChangeFeed::Off).unwrap();
    engine.write(vec![put(item("A", None))]).await.unwrap();
    engine
        .write(vec![WriteOp::Delete {
            key: key("A"),
            condition: Condition::Always,
        }])
        .await
        .unwrap();
    assert!(pending_sequences(&engine).is_empty());
}

#[tokio::test]
async fn unpublished_changes_past_the_retention_are_dropped_and_counted() {
    let dir = tempfile::TempDir::new().unwrap();
    let engine = EmbeddedEngine::open(dir.path(), ChangeFeed::On).unwrap();
    engine.write(vec![put(item("A", None))]).await.unwrap();
    engine.write(vec![put(item("B", None))]).await.unwrap();
    // Age the first record past 24 hours.
    {
        let txn = engine.db.begin_write().unwrap();
        {
            let mut changes = txn.open_table(super::tables::CHANGES).unwrap();
            let mut record: serde_json::Value =
                serde_json::from_slice(changes.get(1).unwrap().unwrap().value()).unwrap();
            let old = epoch_seconds(SystemTime::now()) - 25.0 * 3600.0;
            record["dynamodb"]["ApproximateCreationDateTime"] = serde_json::json!(old);
            changes
                .insert(1, serde_json::to_vec(&record).unwrap().as_slice())
                .unwrap();
        }
        txn.commit().unwrap();
    }
    let txn = engine.db.begin_write().unwrap();
    assert_eq!(super::expiry::expire_changes(&txn).unwrap(), 1);
    txn.commit().unwrap();
    assert_eq!(pending_sequences(&engine), [2], "the young record stays");
}

#[tokio::test]
async fn transactions_keep_dynamodbs_limits() {
    let dir = tempfile::TempDir::new().unwrap();
    let engine = EmbeddedEngine::open(dir.path(), ChangeFeed::On).unwrap();
    let many: Vec<WriteOp> = (0..=MAX_TRANSACTION_ITEMS)
        .map(|i| put(item(&format!("K{i}"), None)))
        .collect();
    assert!(matches!(
        engine.write(many).await,
        Err(EngineError::Internal(_))
    ));
    let twice = vec![put(item("A", None)), put(item("A", None))];
    assert!(matches!(
        engine.write(twice).await,
        Err(EngineError::Internal(_))
    ));
    let most: Vec<WriteOp> = (0..MAX_TRANSACTION_ITEMS)
        .map(|i| put(item(&format!("K{i}"), None)))
        .collect();
    engine.write(most).await.unwrap();
}
