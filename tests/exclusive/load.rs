//! Load without loss on the embedded engine, through the real binary: 200
//! clients place 50 orders each and read them all back page by page; and a
//! SIGTERM in the middle of that loses no order that was answered 201.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::sync::Notify;

use crate::helpers::process::start_with;
use crate::helpers::{http_client, status_and_json};

const CLIENTS: usize = 200;
const ORDERS_EACH: usize = 50;

fn client_name(i: usize) -> String {
    format!("loader{i:03}")
}

async fn register_all(client: &reqwest::Client, address: &str) {
    let registrations = (0..CLIENTS).map(|i| {
        let name = client_name(i);
        let body = json!({"email": format!("{name}@example.com"), "name": "L", "username": name});
        client
            .post(format!("{address}/add_user"))
            .json(&body)
            .send()
    });
    for response in join_all(registrations).await {
        assert_eq!(response.unwrap().status(), StatusCode::CREATED);
    }
}

/// One client's orders: those answered 201. It stops at the first request
/// the service could not answer (it is shutting down).
async fn place_orders(
    client: reqwest::Client,
    address: String,
    name: String,
    placed: Arc<AtomicUsize>,
    enough: Arc<Notify>,
    notify_at: usize,
) -> Vec<String> {
    let mut ids = Vec::new();
    for n in 0..ORDERS_EACH {
        let body = json!({"amount": format!("{}.25", n + 1).parse::<f64>().unwrap(), "numItems": 1, "username": name});
        let Ok(response) = client
            .post(format!("{address}/orders"))
            .json(&body)
            .send()
            .await
        else {
            break;
        };
        let status = response.status();
        let Ok(answer) = response.json::<Value>().await else {
            break;
        };
        assert_eq!(status, StatusCode::CREATED, "{answer}");
        ids.push(answer["data"]["OrderId"].as_str().unwrap().to_owned());
        if placed.fetch_add(1, Ordering::SeqCst) + 1 == notify_at {
            enough.notify_one();
        }
    }
    ids
}

/// Every order id of `name`, following nextToken; panics on a duplicate.
async fn list_all(client: &reqwest::Client, address: &str, name: &str) -> HashSet<String> {
    let mut ids = HashSet::new();
    let mut next: Option<String> = None;
    loop {
        let mut url = format!("{address}/orders?username={name}&limit=20");
        if let Some(token) = &next {
            url.push_str(&format!("&nextToken={token}"));
        }
        let (status, page) = status_and_json(client.get(url).send().await.unwrap()).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        for entry in page["data"].as_array().unwrap() {
            if let Some(id) = entry["OrderId"].as_str() {
                assert!(ids.insert(id.to_owned()), "{id} listed twice for {name}");
            }
        }
        match page["nextToken"].as_str() {
            Some(token) => next = Some(token.to_owned()),
            None => return ids,
        }
    }
}

async fn run_clients(
    address: &str,
    notify_at: usize,
) -> (Vec<tokio::task::JoinHandle<Vec<String>>>, Arc<Notify>) {
    let placed = Arc::new(AtomicUsize::new(0));
    let enough = Arc::new(Notify::new());
    let tasks = (0..CLIENTS)
        .map(|i| {
            tokio::spawn(place_orders(
                http_client(),
                address.to_owned(),
                client_name(i),
                Arc::clone(&placed),
                Arc::clone(&enough),
                notify_at,
            ))
        })
        .collect();
    (tasks, enough)
}

/// Every 201 is listed exactly once. With `exactly`, nothing else is either;
/// without, an order whose answer was lost on the wire may also be there.
async fn assert_every_201_is_listed_once(
    address: &str,
    placed: HashMap<String, Vec<String>>,
    exactly: bool,
) -> usize {
    let client = http_client();
    let mut total = 0;
    for (name, ids) in placed {
        let listed = list_all(&client, address, &name).await;
        let expected: HashSet<String> = ids.into_iter().collect();
        if exactly {
            assert_eq!(listed, expected, "{name}'s orders");
        } else {
            let missing: Vec<_> = expected.difference(&listed).collect();
            assert!(
                missing.is_empty(),
                "{name} lost answered orders: {missing:?}"
            );
        }
        total += listed.len();
    }
    total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_clients_place_fifty_orders_each_and_list_every_one_once() {
    let _alone = crate::alone().await;
    let data_dir = TempDir::new().unwrap();
    let running = start_with(
        &data_dir,
        &[("RUST_LOG", "warn"), ("NOTIFICATIONS_SOURCE", "off")],
    );
    register_all(&http_client(), &running.address).await;
    let (tasks, _) = run_clients(&running.address, usize::MAX).await;
    let mut placed = HashMap::new();
    for (i, task) in tasks.into_iter().enumerate() {
        let ids = task.await.unwrap();
        assert_eq!(
            ids.len(),
            ORDERS_EACH,
            "every request of a running service is answered"
        );
        placed.insert(client_name(i), ids);
    }
    let total = assert_every_201_is_listed_once(&running.address, placed, true).await;
    assert_eq!(total, CLIENTS * ORDERS_EACH);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sigterm_under_load_loses_no_answered_order() {
    let _alone = crate::alone().await;
    let data_dir = TempDir::new().unwrap();
    let settings = [("RUST_LOG", "warn"), ("NOTIFICATIONS_SOURCE", "off")];
    let running = start_with(&data_dir, &settings);
    register_all(&http_client(), &running.address).await;
    let (tasks, enough) = run_clients(&running.address, 2_000).await;
    enough.notified().await;
    let exit = tokio::task::spawn_blocking(move || running.terminate())
        .await
        .unwrap();
    assert_eq!(
        exit.code(),
        Some(0),
        "in-flight requests drained, then a clean exit"
    );
    let mut placed = HashMap::new();
    for (i, task) in tasks.into_iter().enumerate() {
        placed.insert(client_name(i), task.await.unwrap());
    }
    let answered: usize = placed.values().map(Vec::len).sum();
    assert!(answered >= 2_000, "{answered}");
    assert!(
        answered < CLIENTS * ORDERS_EACH,
        "the stop came mid-run: {answered}"
    );

    let restarted = start_with(&data_dir, &settings);
    let listed = assert_every_201_is_listed_once(&restarted.address, placed, false).await;
    assert!(listed >= answered, "{listed} listed, {answered} answered");
}
