//! Every attribute a store write leaves on the items of a customer partition
//! is one `migrate`'s "unchanged since read" condition checks
//! ([`records::CUSTOMER_ATTRIBUTES`]): a writer that adds one without
//! declaring it fails here, instead of being silently overwritten by a
//! migration that did not see it change.

use super::embedded::{ChangeFeed, EmbeddedEngine};
use super::engine::{Engine, Segment};
use super::keys::{PK, SK};
use super::{ScopedKey, Store, records};
use crate::domain::{
    Access, AccountId, Address, Amount, Email, IdempotencyKey, ItemCount, Name, NewOrder, NewUser,
    NewUsername, OrderStatus,
};

#[tokio::test]
async fn every_attribute_a_write_leaves_on_a_customer_item_is_declared() {
    let dir = tempfile::TempDir::new().unwrap();
    let engine = EmbeddedEngine::open(dir.path(), ChangeFeed::On).unwrap();
    let store = Store::new(Engine::Embedded(engine.clone()));
    let ann = NewUsername::parse("ann").unwrap();
    let username = ann.as_username().clone();
    let access = Access::Account {
        account: AccountId::parse("ann-account").unwrap(),
        verified_email: Some("ann@example.com".into()),
    };
    let key = IdempotencyKey::parse("first").unwrap();
    let scoped = || {
        Some(ScopedKey {
            caller: access.account(),
            key: &key,
        })
    };
    let new_user = NewUser {
        username: ann,
        email: Email::parse("ann@example.com").unwrap(),
        name: Name::parse("Ann").unwrap(),
    };
    store.register(new_user, &access, scoped()).await.unwrap();
    let address = Address::parse("1 Queen St").unwrap();
    store
        .set_address(&username, &address, &access)
        .await
        .unwrap();
    let new_order = NewOrder {
        username: username.clone(),
        amount: Amount::parse("5").unwrap(),
        items: ItemCount::parse("1").unwrap(),
    };
    let order = store.place_order(new_order, &access, scoped()).await;
    let id = order.unwrap().value.id;
    let to = OrderStatus::Shipped;
    store.move_order(&username, id, to, &access).await.unwrap();
    // The mark a deletion leaves while it runs.
    drop(store.begin_deletion(&username, &access).await.unwrap());

    let segment = Segment { index: 0, total: 1 };
    let (items, _) = Engine::Embedded(engine)
        .scan(segment, None, 1000)
        .await
        .unwrap();
    let customer_items: Vec<_> = items
        .iter()
        .filter(|item| {
            super::engine::text(item, PK)
                .is_some_and(|pk| pk.starts_with("CUSTOMER#") || pk.starts_with("CUSTOMEREMAIL#"))
        })
        .collect();
    assert_eq!(customer_items.len(), 3, "profile, reservation, order");
    for item in customer_items {
        for name in item.keys() {
            assert!(
                name == PK || name == SK || records::CUSTOMER_ATTRIBUTES.contains(&name.as_str()),
                "{name} is written but not in CUSTOMER_ATTRIBUTES: {item:?}"
            );
        }
    }
}
