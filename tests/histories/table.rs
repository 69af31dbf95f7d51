//! The table as it is at the end of a run, read straight from DynamoDB
//! Local (no front, no service): what the invariants hold the history to.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::AttributeValue;

#[derive(Debug, Clone)]
pub struct Profile {
    pub email: String,
    /// Marked by a deletion that has not finished (hidden from clients).
    pub deleting: bool,
}

#[derive(Debug, Clone)]
pub struct StoredOrder {
    pub owner: String,
    pub status: String,
    /// The status queue's partition it is on (`STATUS#<status>#<shard>`).
    pub queue: Option<String>,
}

#[derive(Debug, Clone)]
pub struct IdempotencyRecord {
    pub pk: String,
    /// The item the first write wrote.
    pub original_pk: String,
    pub original_sk: String,
}

#[derive(Debug, Default)]
pub struct Table {
    /// By canonical (lower-case) username.
    pub profiles: BTreeMap<String, Profile>,
    /// Lower-case email to the username its reservation names.
    pub reservations: BTreeMap<String, String>,
    /// By order id.
    pub orders: BTreeMap<String, StoredOrder>,
    pub idempotency: Vec<IdempotencyRecord>,
}

pub async fn read(table: &str) -> Table {
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(crate::helpers::dynamodb_endpoint())
        .load()
        .await;
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let page = client
            .scan()
            .table_name(table)
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("the table scans");
        items.extend(page.items.unwrap_or_default());
        start = page.last_evaluated_key;
        if start.is_none() {
            break;
        }
    }
    let mut read = Table::default();
    for item in items {
        let text = |name: &str| match item.get(name) {
            Some(AttributeValue::S(value)) => Some(value.clone()),
            _ => None,
        };
        let (Some(pk), Some(sk)) = (text("PK"), text("SK")) else {
            continue;
        };
        if let Some(email) = pk.strip_prefix("CUSTOMEREMAIL#") {
            read.reservations.insert(
                email.to_owned(),
                text("Username").unwrap_or_default().to_lowercase(),
            );
        } else if pk.starts_with("IDEMPOTENCY#") {
            read.idempotency.push(IdempotencyRecord {
                pk,
                original_pk: text("OriginalPK").unwrap_or_default(),
                original_sk: text("OriginalSK").unwrap_or_default(),
            });
        } else if let Some(owner) = pk.strip_prefix("CUSTOMER#") {
            if let Some(id) = sk.strip_prefix("#ORDER#") {
                read.orders.insert(
                    id.to_owned(),
                    StoredOrder {
                        owner: owner.to_owned(),
                        status: text("Status").unwrap_or_default(),
                        queue: text("GSI2PK"),
                    },
                );
            } else if sk == pk {
                read.profiles.insert(
                    owner.to_owned(),
                    Profile {
                        email: text("Email").unwrap_or_default().to_lowercase(),
                        deleting: item.contains_key("Deleting"),
                    },
                );
            }
        }
    }
    read
}
