//! Where the cut-over meets the original system still running, and a
//! deletion stopped half way: no older address over a newer one, no
//! reservation taken for an orphan while its profile cannot be judged, and
//! usernames no path can carry reported.

use ecommerce_service::migrate::Kind;
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::migration::migrate;
use crate::helpers::{EngineKind, spawn_app, status_and_code, status_and_json};
use crate::on_both_engines;

on_both_engines!(
    an_address_edited_here_after_a_move_is_never_overwritten_by_an_older_one,
    a_reservation_whose_profile_is_being_deleted_is_never_an_orphan,
    usernames_todays_rules_refuse_are_reported_and_served,
);

fn s(value: &str) -> Value {
    json!({ "S": value })
}

fn profile(typed: &str, email: &str) -> Value {
    let key = format!("CUSTOMER#{typed}");
    json!({
        "PK": s(&key), "SK": s(&key), "Username": s(typed), "Email": s(email), "Name": s("N"),
    })
}

/// What the original's `edit-address` writes for a name: an address at the
/// key as typed (after the move, an item holding only the address).
fn original_edit(typed: &str, address: &str) -> Value {
    let key = format!("CUSTOMER#{typed}");
    json!({ "PK": s(&key), "SK": s(&key), "address": s(address) })
}

async fn address(app: &crate::helpers::TestApp) -> Value {
    let (status, maria) = status_and_json(app.get("/users/maria").await).await;
    assert_eq!(status, StatusCode::OK, "{maria}");
    maria["data"]["Address"].clone()
}

async fn an_address_edited_here_after_a_move_is_never_overwritten_by_an_older_one(
    kind: EngineKind,
) {
    let app = spawn_app(kind).await;
    app.store
        .put_raw_items(&[profile("Maria", "maria@example.com")])
        .await
        .unwrap();
    migrate(&app.store, false, false).await;

    // The original (still serving "Maria") edits the address; then the
    // customer edits it here: this edit is the newest.
    app.store
        .put_raw_items(&[original_edit("Maria", "1 Old St")])
        .await
        .unwrap();
    let path = "/edit-address?username=maria&new_address=2%20New%20St";
    let edited = app.client.post(app.url(path)).send().await.unwrap();
    assert_eq!(edited.status(), StatusCode::OK);
    migrate(&app.store, false, false).await;
    assert_eq!(
        address(&app).await,
        "2 New St",
        "the older address stays out"
    );

    // An edit the original makes after this one is the newest: carried over.
    app.store
        .put_raw_items(&[original_edit("Maria", "3 Newest St")])
        .await
        .unwrap();
    migrate(&app.store, false, false).await;
    assert_eq!(address(&app).await, "3 Newest St");
}

/// A deletion that stopped after its mark (before this service's fix of a
/// wedged delete, say) holds its profile; the reservation that names nobody
/// is the profile's until the deletion finishes.
async fn a_reservation_whose_profile_is_being_deleted_is_never_an_orphan(kind: EngineKind) {
    let app = spawn_app(kind).await;
    let mut zed = profile("zed", "zed@example.com");
    zed["Deleting"] = s("01JDHZ4Q5T8V0K3M7N2P6R9S1W");
    let reservation = json!({
        "PK": s("CUSTOMEREMAIL#zed@example.com"), "SK": s("CUSTOMEREMAIL#zed@example.com"),
    });
    app.store.put_raw_items(&[zed, reservation]).await.unwrap();

    let summary = migrate(&app.store, false, true).await;
    assert_eq!(
        (
            summary.counts.get(Kind::DeletionsUnderWay),
            summary.counts.get(Kind::OrphanReservationsDeleted)
        ),
        (1, 0),
        "{summary:?}"
    );
    let (status, code) = status_and_code(app.add_user("zoe", "zed@example.com").await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::CONFLICT, "EMAIL_TAKEN")
    );
    // The next request finishes the deletion, reservation and all.
    assert_eq!(app.delete("/users/zed").await.status(), StatusCode::OK);
    assert_eq!(
        app.add_user("zoe", "zed@example.com").await.status(),
        StatusCode::CREATED
    );
}

async fn usernames_todays_rules_refuse_are_reported_and_served(kind: EngineKind) {
    let app = spawn_app(kind).await;
    app.store
        .put_raw_items(&[
            profile("ann smith", "ann@example.com"),
            profile("..", "dots@example.com"),
            profile("john", "john@example.com"),
        ])
        .await
        .unwrap();
    let summary = migrate(&app.store, false, false).await;
    assert_eq!(
        (
            summary.counts.get(Kind::LegacyUsernames),
            summary.counts.get(Kind::UsernamesUnreachableByPath)
        ),
        (2, 1),
        "{summary:?}"
    );
    // `..` is served where the name travels in the query.
    let (status, listing) = status_and_json(app.get("/orders?username=..").await).await;
    assert_eq!(status, StatusCode::OK, "{listing}");
    assert_eq!(listing["data"][0]["Username"], "..");
}
