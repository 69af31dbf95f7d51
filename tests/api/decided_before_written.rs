//! Every multi-step operation (a claim, an address edit, a status move, a
//! deletion) reads and decides before its first write, so a fault between
//! the task and DynamoDB after the decision leaves the item as it was, and
//! the retry finishes the job. The fault is DynamoDB's own 500
//! (`InternalServerError`, retried by the SDK and then a 503), injected by
//! a proxy in front of the emulator on the write operations only: the
//! reads that decide go through. DynamoDB engine only: the embedded engine
//! has no network between the task and its table.

use std::time::Duration;

use ecommerce_service::config::StoreSettings;
use ecommerce_service::store::Store;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::aws_proxy::{AwsProxy, Behaviour};
use crate::helpers::jwt::{CLIENT_ID, ISSUER, Jwks, SigningKey, account_claims, bearer, id_claims};
use crate::helpers::process::{Running, start_on_dynamodb};
use crate::helpers::{EMULATOR_TIMEOUTS, dynamodb_endpoint, status_and_json};

fn s(value: &str) -> Value {
    json!({ "S": value })
}

const ANN_ORDER: &str = "2UJT4m2UkBAWG7DHDLfkXxbMN51";

/// The table `table` as another writer sees it: straight to the emulator.
async fn beside(table: &str) -> Store {
    ecommerce_service::startup::open_store(&StoreSettings::DynamoDb {
        table_name: table.to_owned(),
        create_table: false,
        timeouts: EMULATOR_TIMEOUTS,
        queue_settle: Duration::ZERO,
        table_key_arn: None,
    })
    .await
    .expect("a store on the same table")
}

struct Setup {
    service: Running,
    proxy: AwsProxy,
    key: SigningKey,
    client: reqwest::Client,
    _jwks: Jwks,
    _data_dir: tempfile::TempDir,
}

impl Setup {
    async fn request(
        &self,
        token: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.service.address));
        if let Some(body) = body {
            request = request.json(&body);
        }
        status_and_json(bearer(request, token).send().await.unwrap()).await
    }
}

// Multi-threaded: starting the binary blocks this thread while the binary
// fetches its signing keys from the JWKS server on this runtime.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fault_after_the_decision_leaves_each_item_as_it_was() {
    let key = SigningKey::generate("key-1");
    let jwks = Jwks::serve(vec![key.jwk()]).await;
    let proxy = AwsProxy::serve(
        dynamodb_endpoint(),
        Behaviour::FailWrites {
            operations: &["UpdateItem", "TransactWriteItems"],
        },
    );
    let data_dir = tempfile::TempDir::new().unwrap();
    let (service, table) = start_on_dynamodb(
        &data_dir,
        &proxy.endpoint,
        &[
            ("AUTH_MODE", "jwt"),
            ("AUTH_ISSUER", ISSUER),
            ("AUTH_JWKS_URL", &jwks.url),
            ("AUTH_AUDIENCE", CLIENT_ID),
            // Past its retries, a write the proxy fails is a 503 at once.
            ("DYNAMODB_TIMEOUT_MS", "5000"),
        ],
    );
    let setup = Setup {
        service,
        proxy,
        key,
        client: crate::helpers::http_client(),
        _jwks: jwks,
        _data_dir: data_dir,
    };
    let raw = beside(&table).await;
    let ann_profile = json!({
        "PK": s("CUSTOMER#ann"), "SK": s("CUSTOMER#ann"), "Username": s("ann"),
        "Email": s("ann@example.com"), "Name": s("Ann"), "address": s("1 Queen St"),
    });
    let ann_order = json!({
        "PK": s("CUSTOMER#ann"), "SK": s(&format!("#ORDER#{ANN_ORDER}")),
        "OrderId": s(ANN_ORDER), "Status": s("PLACED"), "Amount": {"N": "5"},
        "NumberItems": {"N": "1"}, "CreatedAt": s("2023-08-21T22:21:34"),
    });
    raw.put_raw_items(&[ann_profile, ann_order]).await.unwrap();
    let ann_id = setup
        .key
        .sign(&id_claims("ann", "ann-account", "ann@example.com"));
    let ann = setup.key.sign(&account_claims("ann", "ann-account", &[]));

    each_write_after_its_decision_fails(&setup, &ann_id).await;
    ann_is_as_she_was(&setup, &ann, &ann_id).await;
    a_deletion_failed_half_way_is_finished_by_the_next(&setup, &ann).await;
}

/// Each write that follows its decision fails: a 503, nothing written.
async fn each_write_after_its_decision_fails(setup: &Setup, ann_id: &str) {
    let get = reqwest::Method::GET;
    // A claim: the profile is read, then the claim's write fails.
    setup.proxy.arm();
    let (status, body) = setup.request(ann_id, get.clone(), "/users/ann", None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "a claim: {body}");
    // An edit: its one-request try is refused (the profile is unclaimed),
    // the edit is decided on what that returned, and the next write fails.
    setup.proxy.arm_after(&["UpdateItem"], 1);
    let edit = "/edit-address?username=ann&new_address=2%20Queen%20St";
    let (status, body) = setup
        .request(ann_id, reqwest::Method::POST, edit, None)
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "an edit: {body}");
    // A move: its try is refused (the order has no account), the order and
    // the profile are read and the move decided, and the claim's write fails.
    setup.proxy.arm_after(&["UpdateItem"], 1);
    let cancel = json!({"username": "ann", "status": "CANCEL"});
    let move_path = format!("/orders/{ANN_ORDER}");
    let (status, body) = setup
        .request(
            ann_id,
            reqwest::Method::PUT,
            &move_path,
            Some(cancel.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "a move: {body}");
    // A deletion: the profile is read and decided, then the mark fails.
    setup.proxy.arm();
    let (status, body) = setup
        .request(ann_id, reqwest::Method::DELETE, "/users/ann", None)
        .await;
    assert_eq!(
        status,
        StatusCode::SERVICE_UNAVAILABLE,
        "a deletion: {body}"
    );
    setup.proxy.disarm();
    let reads = setup.proxy.count("GetItem");
    assert!(
        reads >= 4,
        "each decided on a read first: {:?}",
        setup.proxy.counts()
    );
}

/// As it was: unclaimed (an access token proves nothing), the old address,
/// PLACED, not marked for deletion; and the claim that was tried audited.
async fn ann_is_as_she_was(setup: &Setup, ann: &str, ann_id: &str) {
    let get = reqwest::Method::GET;
    let move_path = format!("/orders/{ANN_ORDER}");
    let (status, _) = setup.request(ann, get.clone(), "/users/ann", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "still unclaimed");
    let (status, profile) = setup.request(ann_id, get.clone(), "/users/ann", None).await;
    assert_eq!(status, StatusCode::OK, "{profile}");
    assert_eq!(profile["data"]["Address"], "1 Queen St");
    let (_, order) = setup
        .request(
            ann,
            get.clone(),
            &format!("{move_path}?customer_id=ann"),
            None,
        )
        .await;
    assert_eq!(order["data"]["Status"], "PLACED", "{order}");

    // The claim is audited: one line naming the profile and the account.
    let audit = setup
        .service
        .wait_for_log(|line| line["message"] == "an account claimed a profile");
    assert_eq!(
        (&audit["profile"], &audit["account"], &audit["claimed_by"]),
        (
            &json!("ann"),
            &json!("ann-account"),
            &json!("verified-email")
        ),
        "{audit}"
    );
}

/// A deletion that fails half way (marked, its orders not yet removed) is
/// finished by the next request, never wedged.
async fn a_deletion_failed_half_way_is_finished_by_the_next(setup: &Setup, ann: &str) {
    setup.proxy.arm_only(&["TransactWriteItems"]);
    let (status, body) = setup
        .request(ann, reqwest::Method::DELETE, "/users/ann", None)
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    setup.proxy.disarm();
    let (status, body) = setup
        .request(ann, reqwest::Method::DELETE, "/users/ann", None)
        .await;
    assert_eq!(status, StatusCode::OK, "the retry finishes it: {body}");
    let admin = setup.key.sign(&account_claims("root", "root", &["admin"]));
    let register = json!({"email": "ann@example.com", "name": "Ann", "username": "ann"});
    let (status, body) = setup
        .request(&admin, reqwest::Method::POST, "/add_user", Some(register))
        .await;
    assert_eq!(status, StatusCode::CREATED, "name and address free: {body}");
}
