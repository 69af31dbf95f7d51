//! `ecommerce-service migrate` as an operator runs it: killed midway, run
//! again, it continues from its checkpoint and ends complete.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use ecommerce_service::config::StoreSettings;
use reqwest::StatusCode;
use serde_json::Value;
use tempfile::TempDir;

use super::fixture::{self, *};
use super::listing;
use crate::helpers::process::{self, binary};
use crate::helpers::{EMULATOR_TIMEOUTS, EngineKind, dynamodb_endpoint, status_and_json, unique};
use crate::on_both_engines;

on_both_engines!(a_killed_migration_continues_from_its_checkpoint_and_ends_complete);

/// The environment that points the binary at the engine the fixture is in.
fn engine_env(kind: EngineKind, data_dir: &TempDir, table: &str) -> Vec<(String, String)> {
    let mut env = vec![
        ("DATA_DIR".to_owned(), data_dir.path().display().to_string()),
        ("NOTIFICATIONS_SOURCE".to_owned(), "off".to_owned()),
    ];
    if kind == EngineKind::DynamoDb {
        env.extend([
            ("STORE".to_owned(), "dynamodb".to_owned()),
            ("TABLE_NAME".to_owned(), table.to_owned()),
            ("AWS_ENDPOINT_URL_DYNAMODB".to_owned(), dynamodb_endpoint()),
        ]);
    }
    env
}

fn migrate_command(env: &[(String, String)], args: &[&str]) -> Command {
    let mut command = Command::new(binary());
    command
        .arg("migrate")
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("RUST_LOG", "error");
    command
}

fn summary_of(output: std::process::Output) -> Value {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("a JSON summary")
}

async fn a_killed_migration_continues_from_its_checkpoint_and_ends_complete(kind: EngineKind) {
    let data_dir = TempDir::new().unwrap();
    let table = unique("table");
    let settings = match kind {
        EngineKind::Embedded => StoreSettings::Embedded {
            data_dir: data_dir.path().to_owned(),
        },
        EngineKind::DynamoDb => StoreSettings::DynamoDb {
            table_name: table.clone(),
            create_table: true,
            timeouts: EMULATOR_TIMEOUTS,
            queue_settle: std::time::Duration::ZERO,
            table_key_arn: None,
        },
    };
    {
        let store = ecommerce_service::startup::open_store(&settings)
            .await
            .unwrap();
        store.put_raw_items(&fixture::items()).await.unwrap();
    } // The embedded database is closed again: the binary opens it.
    let env = engine_env(kind, &data_dir, &table);

    // Paced, so that it is still under way when it is killed.
    let mut running = migrate_command(
        &env,
        &[
            "--max-writes-per-second",
            "25",
            "--progress-interval-ms",
            "100",
        ],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let progress = BufReader::new(running.stderr.take().unwrap());
    let written = |line: &str| -> Option<u64> {
        let (before, _) = line.split_once(" items written")?;
        before.rsplit(' ').next()?.parse().ok()
    };
    let mut said_so_far = Vec::new();
    let mut under_way = false;
    for line in progress.lines() {
        let line = line.unwrap();
        // Past a second of writing: a checkpoint has been saved, and
        // Maria's 240 writes are under way.
        if written(&line).is_some_and(|n| n >= 60) {
            under_way = true;
            break;
        }
        said_so_far.push(line);
    }
    // Killed while under way, not ended first (on its own, or unable to
    // open the database the fixture had just closed).
    assert!(under_way, "it ended first: {said_so_far:#?}");
    running.kill().unwrap();
    running.wait().unwrap();

    // Resumed with other options it would act on part of the table only.
    let other = migrate_command(&env, &["--delete-orphans"])
        .output()
        .unwrap();
    assert!(!other.status.success(), "{other:?}");
    let said = String::from_utf8_lossy(&other.stderr);
    assert!(said.contains("without --delete-orphans"), "{said}");

    let resumed = summary_of(
        migrate_command(&env, &["--max-writes-per-second", "0"])
            .output()
            .unwrap(),
    );
    assert_eq!(resumed["resumed"], true, "{resumed}");
    let counts = &resumed["counts"];
    // Maria moved once, before the kill: counted by the killed run, whose
    // counts the checkpoint carries; her orders moved by both runs, none twice.
    assert_eq!(counts["users_moved"], 1, "{resumed}");
    let moved = counts["orders_moved"].as_u64().unwrap();
    assert!(moved <= MARIA_ORDERS as u64, "{resumed}");
    assert_eq!(counts["changed_meanwhile"], 0, "{resumed}");
    assert_eq!(counts["unreadable"], 0, "{resumed}");
    let complete = summary_of(migrate_command(&env, &[]).output().unwrap());
    assert_eq!(complete["resumed"], false, "{complete}");
    assert_eq!(complete["counts"]["writes"], 0, "nothing left: {complete}");

    // And the service serves the result.
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let service = process::start_with(&data_dir, &env);
    let api = service.api();
    let (status, maria) = status_and_json(api.get("/users/maria").await).await;
    assert_eq!(status, StatusCode::OK, "{maria}");
    let (_, orders) = listing(&api, "maria").await;
    assert_eq!(orders.len(), MARIA_ORDERS);
    let (status, _) = status_and_json(api.get(&format!("/orders/{ANN_SHIPPED}")).await).await;
    assert_eq!(status, StatusCode::OK);
}
