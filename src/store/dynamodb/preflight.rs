//! Whether the table is what the service needs, read with `DescribeTable`
//! and `DescribeTimeToLive`: the key schema, GSI1 and GSI2 (present, ACTIVE,
//! keyed and projected as the service reads them), a `NEW_AND_OLD_IMAGES`
//! stream, TTL on `ExpiresAt`, and a KMS key the roles are granted. Each
//! finding says what fixes it. `ecommerce-service preflight` prints them; a
//! serving task keeps them (see [`TableHealth`]) so that a missing index is
//! a 503 on the routes that need it and on `/health/ready`, never a 500.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    IndexStatus, KeySchemaElement, KeyType, ProjectionType, SseType, StreamViewType,
    TableDescription, TimeToLiveStatus,
};

use crate::store::engine::Index;
use crate::store::keys::{EXPIRES_AT, GSI1, GSI1PK, GSI1SK, GSI2, GSI2PK, GSI2SK, PK, SK};

/// How long findings stand before a request that meets one checks again:
/// an index being created (it backfills first: "Adding a global secondary
/// index to an existing table" in the DynamoDB Developer Guide) is used as
/// soon as it is ACTIVE, without a restart.
const RECHECK_AFTER: Duration = Duration::from_secs(30);

/// One thing the table lacks, and the change that gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub problem: String,
    pub fix: String,
    /// The index a route cannot query until this is fixed.
    pub index: Option<Index>,
    /// Requests fail until it is fixed (the keys, an index): `/health/ready`
    /// says so. The others (the stream, TTL, the key's grant, which the
    /// readiness probe's own read proves or not) are logged and printed.
    pub serving: bool,
}

/// Checks `table`; `key_arn` is the KMS key the deployment grants its roles.
pub async fn check(
    client: &Client,
    table: &str,
    key_arn: Option<&str>,
) -> anyhow::Result<Vec<Finding>> {
    let described = client
        .describe_table()
        .table_name(table)
        .send()
        .await
        .map_err(|error| {
            anyhow::anyhow!(
                "DescribeTable {table}: {}",
                aws_sdk_dynamodb::error::DisplayErrorContext(error)
            )
        })?;
    let Some(description) = described.table else {
        anyhow::bail!("DescribeTable {table} answered without a table");
    };
    let ttl = client
        .describe_time_to_live()
        .table_name(table)
        .send()
        .await
        .map_err(|error| {
            anyhow::anyhow!(
                "DescribeTimeToLive {table}: {}",
                aws_sdk_dynamodb::error::DisplayErrorContext(error)
            )
        })?
        .time_to_live_description;
    let mut findings = Vec::new();
    key_schema(table, &description, &mut findings);
    for (name, pk, sk, index) in [
        (GSI1, GSI1PK, GSI1SK, Index::Gsi1),
        (GSI2, GSI2PK, GSI2SK, Index::Gsi2),
    ] {
        global_index(table, &description, name, pk, sk, index, &mut findings);
    }
    stream(table, &description, &mut findings);
    let ttl_status = ttl.as_ref().and_then(|ttl| ttl.time_to_live_status());
    let ttl_attribute = ttl.as_ref().and_then(|ttl| ttl.attribute_name());
    let ttl_on = matches!(
        ttl_status,
        Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling)
    );
    if !(ttl_on && ttl_attribute == Some(EXPIRES_AT)) {
        let problem = match (ttl_on, ttl_attribute) {
            (true, Some(other)) => format!(
                "TTL is on another attribute ({other}): idempotency records (`{EXPIRES_AT}`) never expire"
            ),
            _ => format!("TTL is off: idempotency records (`{EXPIRES_AT}`) never expire"),
        };
        findings.push(Finding {
            problem,
            fix: format!(
                "aws dynamodb update-time-to-live --table-name {table} \
                 --time-to-live-specification Enabled=true,AttributeName={EXPIRES_AT} \
                 (a table has one TTL attribute: disable the other first)"
            ),
            index: None,
            serving: false,
        });
    }
    encryption(&description, key_arn, &mut findings);
    Ok(findings)
}

fn key_schema(table: &str, description: &TableDescription, findings: &mut Vec<Finding>) {
    if !keyed_by(description.key_schema(), PK, SK) {
        findings.push(Finding {
            problem: format!("{table} is not keyed by {PK} (hash) and {SK} (range)"),
            fix: "a table's keys cannot change: serve the table the replaced system used, \
                  whose keys are these"
                .into(),
            index: None,
            serving: true,
        });
    }
}

fn global_index(
    table: &str,
    description: &TableDescription,
    name: &str,
    pk: &str,
    sk: &str,
    index: Index,
    findings: &mut Vec<Finding>,
) {
    let create = format!(
        "aws dynamodb update-table --table-name {table} \
         --attribute-definitions AttributeName={pk},AttributeType=S AttributeName={sk},AttributeType=S \
         --global-secondary-index-updates \
         '[{{\"Create\":{{\"IndexName\":\"{name}\",\"KeySchema\":[{{\"AttributeName\":\"{pk}\",\"KeyType\":\"HASH\"}},\
         {{\"AttributeName\":\"{sk}\",\"KeyType\":\"RANGE\"}}],\"Projection\":{{\"ProjectionType\":\"ALL\"}}}}}}]' \
         (a provisioned table also needs ProvisionedThroughput in Create)"
    );
    let Some(found) = description
        .global_secondary_indexes()
        .iter()
        .find(|gsi| gsi.index_name() == Some(name))
    else {
        findings.push(Finding {
            problem: format!("{name} is missing"),
            fix: create,
            index: Some(index),
            serving: true,
        });
        return;
    };
    if !keyed_by(found.key_schema(), pk, sk) {
        findings.push(Finding {
            problem: format!("{name} is not keyed by {pk} (hash) and {sk} (range)"),
            fix: format!("delete {name} (update-table ... Delete), then: {create}"),
            index: Some(index),
            serving: true,
        });
    } else if found
        .projection()
        .and_then(|projection| projection.projection_type())
        != Some(&ProjectionType::All)
    {
        findings.push(Finding {
            problem: format!("{name} does not project ALL attributes"),
            fix: format!("delete {name} (update-table ... Delete), then: {create}"),
            index: Some(index),
            serving: true,
        });
    } else if found.index_status() != Some(&IndexStatus::Active) {
        let status = found
            .index_status()
            .map_or("unknown", |status| status.as_str());
        findings.push(Finding {
            problem: format!("{name} is {status}, not ACTIVE"),
            fix: format!(
                "wait until it is ACTIVE: aws dynamodb describe-table --table-name {table} \
                 --query \"Table.GlobalSecondaryIndexes[?IndexName=='{name}'].IndexStatus\""
            ),
            index: Some(index),
            serving: true,
        });
    }
}

fn stream(table: &str, description: &TableDescription, findings: &mut Vec<Finding>) {
    let spec = description.stream_specification();
    let enabled = spec.is_some_and(|spec| spec.stream_enabled());
    let view = spec.and_then(|spec| spec.stream_view_type());
    if enabled && view == Some(&StreamViewType::NewAndOldImages) {
        return;
    }
    let enable = format!(
        "aws dynamodb update-table --table-name {table} \
         --stream-specification StreamEnabled=true,StreamViewType=NEW_AND_OLD_IMAGES"
    );
    let (problem, fix) = if enabled {
        let view = view.map_or("unknown", |view| view.as_str());
        (
            format!(
                "the stream's view type is {view}: a status move needs the old image, so every MODIFY would go to the dead-letter queue"
            ),
            format!(
                "a stream's view type cannot change in place: \
                 aws dynamodb update-table --table-name {table} --stream-specification StreamEnabled=false, \
                 then {enable}; the stream gets a new ARN, which the stack's existingTableStreamArn must name"
            ),
        )
    } else {
        (
            "the table has no stream: no notification is sent".to_owned(),
            enable,
        )
    };
    findings.push(Finding {
        problem,
        fix,
        index: None,
        serving: false,
    });
}

fn encryption(description: &TableDescription, key_arn: Option<&str>, findings: &mut Vec<Finding>) {
    let Some(sse) = description.sse_description() else {
        return;
    };
    let table_key = sse.kms_master_key_arn();
    if sse.sse_type() != Some(&SseType::Kms) || table_key.is_none() || table_key == key_arn {
        return;
    }
    let table_key = table_key.unwrap_or_default();
    // DescribeTable names the AWS managed key (aws/dynamodb) as it names a
    // customer managed one: which it is takes kms:DescribeKey, which the
    // task may not call. Naming either in the deployment settles it (a
    // grant on the AWS managed key is harmless).
    findings.push(Finding {
        problem: format!(
            "the table is encrypted with the KMS key {table_key}, which this deployment does not name: \
             if it is a customer managed key, every read and write is refused"
        ),
        fix: format!(
            "put \"tableKeyArn\": \"{table_key}\" in infra/deployment.json and deploy (the stack's \
             TableKeyArn grants the task and Pipe roles the key and sets TABLE_KEY_ARN); \
             run preflight with TABLE_KEY_ARN={table_key}"
        ),
        index: None,
        serving: false,
    });
}

fn keyed_by(schema: &[KeySchemaElement], hash: &str, range: &str) -> bool {
    let key = |name: &str, key_type: KeyType| {
        schema
            .iter()
            .any(|element| element.attribute_name() == name && element.key_type() == &key_type)
    };
    schema.len() == 2 && key(hash, KeyType::Hash) && key(range, KeyType::Range)
}

/// What the last check found, for a serving task: consulted before each
/// index query, refreshed when stale while something is missing.
pub struct TableHealth {
    table: String,
    key_arn: Option<String>,
    last: RwLock<Checked>,
    refreshing: tokio::sync::Mutex<()>,
}

#[derive(Clone)]
struct Checked {
    at: Instant,
    /// `None`: the table could not be described (no permission, say);
    /// nothing is assumed missing then.
    findings: Option<Arc<Vec<Finding>>>,
}

impl TableHealth {
    /// Not checked yet: nothing is assumed missing until [`Self::refresh`].
    pub fn new(table: &str, key_arn: Option<String>) -> Self {
        Self {
            table: table.to_owned(),
            key_arn,
            last: RwLock::new(Checked {
                at: Instant::now(),
                findings: None,
            }),
            refreshing: tokio::sync::Mutex::new(()),
        }
    }

    pub fn key_arn(&self) -> Option<&str> {
        self.key_arn.as_deref()
    }

    /// Checks the table now; each thing missing is logged with its fix.
    pub async fn refresh(&self, client: &Client) {
        let findings = match check(client, &self.table, self.key_arn.as_deref()).await {
            Ok(findings) => {
                for finding in &findings {
                    tracing::warn!(
                        table = self.table,
                        problem = finding.problem,
                        fix = finding.fix,
                        "the table lacks what the service needs"
                    );
                }
                Some(Arc::new(findings))
            }
            Err(error) => {
                tracing::warn!(table = self.table, error = %error, "cannot check the table");
                None
            }
        };
        *self.last.write().unwrap_or_else(|e| e.into_inner()) = Checked {
            at: Instant::now(),
            findings,
        };
    }

    /// The current findings, checked again first if they are stale and
    /// name something requests need.
    pub async fn findings(&self, client: &Client) -> Arc<Vec<Finding>> {
        let last = self.last.read().unwrap_or_else(|e| e.into_inner()).clone();
        let findings = last.findings.unwrap_or_default();
        if !findings.iter().any(|f| f.serving) || last.at.elapsed() < RECHECK_AFTER {
            return findings;
        }
        // One check at a time; the others use what it finds.
        let _refreshing = self.refreshing.lock().await;
        if self.last.read().unwrap_or_else(|e| e.into_inner()).at == last.at {
            self.refresh(client).await;
        }
        let last = self.last.read().unwrap_or_else(|e| e.into_inner()).clone();
        last.findings.unwrap_or_default()
    }

    /// Whether `index` may be queried, as far as the last check knows.
    pub async fn usable(&self, index: Index, client: &Client) -> bool {
        let blocked = |findings: &Vec<Finding>| findings.iter().any(|f| f.index == Some(index));
        let last = self.last.read().unwrap_or_else(|e| e.into_inner()).clone();
        if !last.findings.as_deref().is_some_and(blocked) {
            return true;
        }
        !blocked(self.findings(client).await.as_ref())
    }
}
