//! `migrate` in the service's process, beside its requests.

use std::sync::Arc;

use ecommerce_service::migrate::{Kind, MigrateOptions, MigrationProgress, MigrationSummary};
use ecommerce_service::store::Store;
use reqwest::StatusCode;

use super::fixture::{self, *};
use super::{listing, move_order};
use crate::helpers::{EngineKind, spawn_app, status_and_code, status_and_json};
use crate::on_both_engines;

on_both_engines!(
    migrate_brings_the_original_shapes_into_todays_once,
    a_request_served_while_migrate_runs_is_not_lost,
);

pub async fn migrate(store: &Store, dry_run: bool, delete_orphans: bool) -> MigrationSummary {
    let options = MigrateOptions {
        dry_run,
        delete_orphans,
        max_writes_per_second: None,
        segments: 2,
    };
    let progress = Arc::new(MigrationProgress::default());
    ecommerce_service::migrate::run(store, options, progress)
        .await
        .expect("the migration runs")
}

fn counted(summary: &MigrationSummary, kinds: &[Kind]) -> Vec<u64> {
    kinds.iter().map(|&kind| summary.counts.get(kind)).collect()
}

async fn migrate_brings_the_original_shapes_into_todays_once(kind: EngineKind) {
    let app = spawn_app(kind).await;
    app.store.put_raw_items(&fixture::items()).await.unwrap();

    let dry = migrate(&app.store, true, false).await;
    assert!(dry.counts.get(Kind::Writes) > 0, "{dry:?}");
    let (status, _) = status_and_code(app.get("/users/maria").await).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a dry run writes nothing");

    let first = migrate(&app.store, false, false).await;
    let kinds = [
        Kind::UsersMoved,
        Kind::OrdersMoved,
        Kind::CaseCollisions,
        Kind::UsersNormalized,
        Kind::OrdersNormalized,
        Kind::ReservationsLinked,
        Kind::ReservationsMoved,
        Kind::PartialUsers,
        Kind::OrphanOrders,
        Kind::OrphanReservations,
        Kind::Unreadable,
        Kind::ChangedMeanwhile,
    ];
    // Maria and her 120 orders moved; Bob stays (bob has the key); ann's
    // address renamed; ann's 3, cy's and bob's orders indexed; ann's, cy's,
    // bob's and Bob's reservations linked, Maria's moved; ghost and wisp
    // are partial items; gone's order and reservation are orphans.
    assert_eq!(
        counted(&first, &kinds),
        [1, 120, 1, 1, 5, 4, 1, 2, 1, 1, 0, 0],
        "{first:?}"
    );
    assert_eq!(
        counted(&dry, &kinds),
        counted(&first, &kinds),
        "the dry run counted what the run did"
    );

    let (status, maria) = status_and_json(app.get("/users/maria").await).await;
    assert_eq!(status, StatusCode::OK, "{maria}");
    assert_eq!(maria["data"]["Username"], "Maria");
    assert_eq!(maria["data"]["PK"], "CUSTOMER#maria");
    let (_, orders) = listing(&app, "maria").await;
    assert_eq!(orders.len(), MARIA_ORDERS);
    // Found by id alone now, in the lower-case partition.
    for id in [maria_order_id(7), ANN_SHIPPED.to_owned()] {
        let (status, order) = status_and_json(app.get(&format!("/orders/{id}")).await).await;
        assert_eq!(status, StatusCode::OK, "{order}");
        assert_eq!(order["data"]["OrderId"], id.as_str());
    }
    // On the work queue.
    let (status, queue) = status_and_json(app.get("/orders?status=PLACED&limit=100").await).await;
    assert_eq!(status, StatusCode::OK, "{queue}");
    let queued: Vec<&str> = queue["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|order| order["OrderId"].as_str())
        .collect();
    // Oldest first: cy's and bob's orders, then Maria's.
    assert_eq!(queued.len(), 100);
    assert!(queued.contains(&maria_order_id(0).as_str()), "{queued:?}");
    // Maria's address is reserved in any case now.
    let (status, code) = status_and_code(app.add_user("mimi", "maria@example.com").await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::CONFLICT, "EMAIL_TAKEN")
    );
    let (_, bob) = status_and_json(app.get("/users/bob").await).await;
    assert_eq!(bob["data"]["Email"], "bob.two@example.com");
    // ann reads as before, her address now where this service writes it.
    let (_, ann) = status_and_json(app.get("/users/ann").await).await;
    assert_eq!(ann["data"]["Address"], "1 Queen St Akl NZ");

    // Moves and deletion after the migration, as before it.
    let (status, body) = move_order(&app, &maria_order_id(3), "maria", "CANCEL").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = status_and_json(app.delete("/users/ann").await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = status_and_code(app.get(&format!("/orders/{ANN_SHIPPED}")).await).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "deleted with its customer");

    let second = migrate(&app.store, false, false).await;
    assert_eq!(second.counts.get(Kind::Writes), 0, "{second:?}");
    assert_eq!(
        counted(
            &second,
            &[
                Kind::CaseCollisions,
                Kind::PartialUsers,
                Kind::OrphanOrders,
                Kind::OrphanReservations
            ]
        ),
        [1, 2, 1, 1],
        "still reported, still kept"
    );

    // The original system, still serving, edits Maria's address under the
    // name as typed: it writes an item holding only that address at the
    // old key. The next run carries it over.
    let s = |value: &str| serde_json::json!({ "S": value });
    app.store
        .put_raw_items(&[
            serde_json::json!({"PK": s("CUSTOMER#Maria"), "SK": s("CUSTOMER#Maria"),
            "address": s("5 New St Akl NZ")}),
        ])
        .await
        .unwrap();
    let carried = migrate(&app.store, false, false).await;
    assert_eq!(carried.counts.get(Kind::UsersNormalized), 1, "{carried:?}");
    assert_eq!(
        carried.counts.get(Kind::PartialUsers),
        2,
        "ghost and wisp only: {carried:?}"
    );
    let (_, maria) = status_and_json(app.get("/users/maria").await).await;
    assert_eq!(maria["data"]["Address"], "5 New St Akl NZ", "{maria}");

    // The original system, still serving, registers Maria again: another
    // customer under the name that moved. Reported, nothing merged.
    let again_id = "2UJT4m2UkBAWG7DHDLfkXxbMN0D";
    app.store
        .put_raw_items(&[
            serde_json::json!({"PK": s("CUSTOMER#Maria"), "SK": s("CUSTOMER#Maria"),
                "Username": s("Maria"), "Name": s("maria two"), "Email": s("maria.two@example.com")}),
            serde_json::json!({"PK": s("CUSTOMER#Maria"), "SK": s(&format!("#ORDER#{again_id}")),
                "OrderId": s(again_id), "Status": s("PLACED"), "Amount": {"N": "1"},
                "NumberItems": {"N": "1"}, "CreatedAt": s("2023-09-01T00:00:00")}),
        ])
        .await
        .unwrap();
    let registered_again = migrate(&app.store, false, false).await;
    assert_eq!(
        counted(
            &registered_again,
            &[Kind::CaseCollisions, Kind::OrdersMoved, Kind::UsersMoved]
        ),
        [2, 0, 0],
        "{registered_again:?}"
    );
    let (_, orders) = listing(&app, "maria").await;
    assert_eq!(orders.len(), MARIA_ORDERS, "not merged");

    let cleaned = migrate(&app.store, false, true).await;
    assert_eq!(
        counted(
            &cleaned,
            &[
                Kind::PartialUsersDeleted,
                Kind::OrphanOrdersDeleted,
                Kind::OrphanReservationsDeleted
            ]
        ),
        [2, 1, 1],
        "{cleaned:?}"
    );
    let (status, _) = status_and_code(
        app.get(&format!("/orders/{GONE_ORDER}?customer_id=gone"))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let after = migrate(&app.store, false, true).await;
    assert_eq!(after.counts.get(Kind::Writes), 0, "{after:?}");
    assert_eq!(after.counts.get(Kind::OrphanOrders), 0, "{after:?}");
}

/// Requests change the items `migrate` is rewriting (paced, so it holds
/// each item a while between its read and its write): every request's
/// change is there afterwards.
async fn a_request_served_while_migrate_runs_is_not_lost(kind: EngineKind) {
    let app = spawn_app(kind).await;
    app.store.put_raw_items(&fixture::items()).await.unwrap();
    let store = app.store.clone();
    let migration = tokio::spawn(async move {
        let options = MigrateOptions {
            dry_run: false,
            delete_orphans: false,
            max_writes_per_second: Some(40),
            segments: 1,
        };
        ecommerce_service::migrate::run(&store, options, Arc::new(MigrationProgress::default()))
            .await
    });

    let path = "/edit-address?username=ann&new_address=2%20Queen%20St%20Akl%20NZ";
    let (status, body) =
        status_and_json(app.client.post(app.url(path)).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = move_order(&app, ANN_SHIPPED, "ann", "DELIVERED").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut placed = Vec::new();
    for _ in 0..3 {
        placed.push(app.given_order("ann").await);
    }
    // Maria's orders follow her profile: once it has moved, a move of one
    // of her orders that has arrived is kept too.
    let moved_first = maria_order_id(0);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let path = format!("/orders/{moved_first}?customer_id=maria");
        if app.get(&path).await.status() == StatusCode::OK {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "Maria's first order never moved"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let (status, body) = move_order(&app, &moved_first, "maria", "CANCEL").await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let summary = migration.await.unwrap().expect("the migration runs");
    assert_eq!(summary.counts.get(Kind::Unreadable), 0, "{summary:?}");

    let (_, ann) = status_and_json(app.get("/users/ann").await).await;
    assert_eq!(ann["data"]["Address"], "2 Queen St Akl NZ", "{ann}");
    let (_, orders) = listing(&app, "ann").await;
    let status_of = |orders: &[serde_json::Value], id: &str| {
        orders
            .iter()
            .find(|order| order["OrderId"] == id)
            .map(|order| order["Status"].clone())
    };
    assert_eq!(status_of(&orders, ANN_SHIPPED), Some("DELIVERED".into()));
    for id in &placed {
        assert_eq!(status_of(&orders, id), Some("PLACED".into()), "{id}");
    }
    let (_, maria) = listing(&app, "maria").await;
    assert_eq!(maria.len(), MARIA_ORDERS);
    assert_eq!(status_of(&maria, &moved_first), Some("CANCEL".into()));
    // And nothing is left to do.
    let again = migrate(&app.store, false, false).await;
    assert_eq!(again.counts.get(Kind::Writes), 0, "{again:?}");
}
