//! The cut-over runbook (README, "Replacing the original deployment") runs
//! as written. Its `ecommerce-service` and `curl` lines run for real, in
//! the README's order, on both engines, over the original system's data;
//! the lines that need AWS (`aws`, `npx cdk`) and those that change the
//! repository (`make`, `git`, the deployment file) are checked for the
//! stacks, parameters, targets and files they name. A line of any other
//! kind fails the test: nothing in the runbook goes unchecked.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use ecommerce_service::config::StoreSettings;
use serde_json::Value;

use crate::helpers::process::{binary, start_with};
use crate::helpers::{EMULATOR_TIMEOUTS, EngineKind, dynamodb_endpoint, unique};
use crate::on_both_engines;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

on_both_engines!(the_cut_over_runbook_runs_as_written);

/// One command of a shell block: continuation lines joined, a heredoc's
/// body kept with the line that opens it.
#[derive(Debug)]
struct Line {
    command: String,
    heredoc: Option<String>,
    needs_aws: bool,
}

fn runbook() -> String {
    std::fs::read_to_string(Path::new(ROOT).join("docs/operations/cutover.md"))
        .expect("the cut-over runbook's page")
}

/// The commands of every `sh` block in `text`, in order.
fn commands(text: &str) -> Vec<Line> {
    let mut lines = Vec::new();
    let mut block: Option<Vec<String>> = None;
    for raw in text.lines() {
        let trimmed = raw.trim_start();
        match (&mut block, trimmed) {
            (None, "```sh") => block = Some(Vec::new()),
            (Some(body), "```") => {
                lines.extend(split_block(body));
                block = None;
            }
            (Some(body), _) => body.push(trimmed.to_owned()),
            (None, _) => {}
        }
    }
    lines
}

fn split_block(body: &[String]) -> Vec<Line> {
    let needs_aws = body.iter().any(|line| line == "# needs AWS");
    let mut lines = Vec::new();
    let mut rows = body.iter();
    while let Some(row) = rows.next() {
        if row.is_empty() || row.starts_with('#') {
            continue;
        }
        let mut command = row.clone();
        while command.ends_with('\\') {
            command.pop();
            command.push_str(rows.next().map_or("", String::as_str));
        }
        let heredoc = command.split_once("<<").map(|(_, word)| {
            let word = word.trim().trim_matches('\'');
            let body: Vec<&str> = rows
                .by_ref()
                .take_while(|row| row.as_str() != word)
                .map(String::as_str)
                .collect();
            body.join("\n")
        });
        lines.push(Line {
            command,
            heredoc,
            needs_aws,
        });
    }
    lines
}

/// The service's table as the original left it: its shapes (the legacy
/// fixture), in a table that passes pre-flight.
async fn original_data(kind: EngineKind, table: &str, data_dir: &Path) {
    let settings = match kind {
        EngineKind::Embedded => StoreSettings::Embedded {
            data_dir: data_dir.to_owned(),
        },
        EngineKind::DynamoDb => StoreSettings::DynamoDb {
            table_name: table.to_owned(),
            create_table: true,
            timeouts: EMULATOR_TIMEOUTS,
            queue_settle: std::time::Duration::ZERO,
            table_key_arn: None,
        },
    };
    let store = ecommerce_service::startup::open_store(&settings)
        .await
        .unwrap();
    store
        .put_raw_items(&crate::legacy::fixture::items())
        .await
        .unwrap();
}

fn run(command: &str, kind: EngineKind, env: &BTreeMap<&str, String>) -> (bool, String) {
    let store = match kind {
        EngineKind::Embedded => "embedded",
        EngineKind::DynamoDb => "dynamodb",
    };
    // The runbook names the production engine; the same line runs here on
    // each engine, with the binary this test built.
    let binary = binary();
    let script = format!(
        "set -euo pipefail\n\
         ecommerce-service() {{ env STORE={store} \"{binary}\" \"$@\"; }}\n\
         {command}\n"
    );
    let output = Command::new("bash")
        .arg("-c")
        .arg(script)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    (
        output.status.success(),
        format!("{stdout}\n--- stderr ---\n{stderr}"),
    )
}

/// What the committed templates declare: stack name to parameter names.
fn stacks() -> BTreeMap<String, Vec<String>> {
    let dir = Path::new(ROOT).join("infra/cloudformation");
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            let name = path.file_name()?.to_str()?.strip_suffix(".template.json")?;
            let template: Value =
                serde_json::from_str(&std::fs::read_to_string(&path).ok()?).ok()?;
            let parameters = template["Parameters"]
                .as_object()
                .map(|parameters| parameters.keys().cloned().collect())
                .unwrap_or_default();
            Some((name.to_owned(), parameters))
        })
        .collect()
}

/// A line that needs AWS or changes the repository: what it names exists.
fn check_static(line: &Line, values: &BTreeMap<&str, String>) {
    let words: Vec<&str> = line.command.split_whitespace().collect();
    let command = &line.command;
    if let Some(at) = words.iter().position(|w| *w == "cdk") {
        assert!(
            line.needs_aws,
            "{command}: a deploy is marked as needing AWS"
        );
        let stacks = stacks();
        let stack = words.get(at + 2).copied().unwrap_or_default();
        let parameters = stacks
            .get(stack)
            .unwrap_or_else(|| panic!("{command}: no stack {stack} in {:?}", stacks.keys()));
        assert!(
            !words
                .iter()
                .any(|w| *w == "-c" || w.starts_with("--context")),
            "{command}: what the stack serves is in infra/deployment.json, never a flag"
        );
        for (i, word) in words.iter().enumerate() {
            if *word == "--parameters" {
                let name = words[i + 1].split('=').next().unwrap_or_default();
                assert!(
                    parameters.iter().any(|p| p == name),
                    "{command}: no parameter {name}"
                );
            }
        }
    } else if words.first() == Some(&"aws") {
        assert!(line.needs_aws, "{command}: marked as needing AWS");
        match (words.get(1), words.get(2)) {
            (Some(&"pipes"), Some(&"stop-pipe")) => {
                assert!(words.contains(&"--name"), "{command}: names the Pipe")
            }
            other => panic!("{command}: an aws command this test does not know: {other:?}"),
        }
    } else if words.first() == Some(&"make") {
        let makefile = std::fs::read_to_string(Path::new(ROOT).join("Makefile")).unwrap();
        for target in &words[1..] {
            assert!(
                makefile
                    .lines()
                    .any(|l| l.starts_with(&format!("{target}:"))),
                "{command}: no make target {target}"
            );
        }
    } else if words.first() == Some(&"git") {
        for path in words.iter().filter(|w| w.starts_with("infra/")) {
            assert!(Path::new(ROOT).join(path).exists(), "{command}: no {path}");
        }
    } else if command.starts_with("python3 - ") && command.contains("<<") {
        check_deployment_edit(line, values);
    } else {
        panic!("a runbook command no test runs or checks: {command}");
    }
}

/// The runbook's edit of infra/deployment.json, run for real on a copy of
/// the committed file: the table's keys are set, every other setting stays.
fn check_deployment_edit(line: &Line, values: &BTreeMap<&str, String>) {
    let scratch = tempfile::TempDir::new().unwrap();
    std::fs::create_dir(scratch.path().join("infra")).unwrap();
    let committed_path = Path::new(ROOT).join("infra/deployment.json");
    std::fs::copy(
        &committed_path,
        scratch.path().join("infra/deployment.json"),
    )
    .unwrap();
    let script = format!(
        "{}\n{}\nEOF\n",
        line.command,
        line.heredoc.as_deref().unwrap_or_default()
    );
    let output = Command::new("bash")
        .arg("-c")
        .arg(script)
        .current_dir(scratch.path())
        .envs(values.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}: {}",
        line.command,
        String::from_utf8_lossy(&output.stderr)
    );
    let read = |path: &Path| -> BTreeMap<String, String> {
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    };
    let committed = read(&committed_path);
    let edited = read(&scratch.path().join("infra/deployment.json"));
    assert_eq!(
        edited.keys().collect::<Vec<_>>(),
        committed.keys().collect::<Vec<_>>(),
        "the keys infra/deployment.json has"
    );
    assert_eq!(edited["existingTableName"], values["ORIGINAL_TABLE"]);
    assert_eq!(
        edited["existingTableStreamArn"],
        values["ORIGINAL_STREAM_ARN"]
    );
    for (key, value) in &committed {
        if !["existingTableName", "existingTableStreamArn", "tableKeyArn"].contains(&key.as_str()) {
            assert_eq!(&edited[key], value, "{key} stays as committed");
        }
    }
}

async fn the_cut_over_runbook_runs_as_written(kind: EngineKind) {
    let lines = commands(&runbook());
    assert!(lines.len() >= 10, "{lines:?}");
    let data_dir = tempfile::TempDir::new().unwrap();
    let table = unique("runbook");
    original_data(kind, &table, data_dir.path()).await;
    let mut values: BTreeMap<&str, String> = BTreeMap::from([
        ("ORIGINAL_TABLE", table.clone()),
        (
            "ORIGINAL_STREAM_ARN",
            format!(
                "arn:aws:dynamodb:eu-west-1:111122223333:table/{table}/stream/2023-08-21T00:00:00.000"
            ),
        ),
        ("TABLE_KEY_ARN", String::new()),
        ("CUSTOMER", "ann".to_owned()),
        ("CUSTOMER_SUB", "ann-account".to_owned()),
        ("ADMIN_TOKEN", "unused-with-AUTH_MODE-off".to_owned()),
        ("DATA_DIR", data_dir.path().display().to_string()),
    ]);
    if kind == EngineKind::DynamoDb {
        values.insert("AWS_ENDPOINT_URL_DYNAMODB", dynamodb_endpoint());
    }
    let mut migrations = Vec::new();
    let mut curls = 0;
    for line in &lines {
        let command = &line.command;
        let is_assignment = command
            .split_once('=')
            .is_some_and(|(name, _)| name.chars().all(|c| c.is_ascii_uppercase() || c == '_'));
        if is_assignment && !command.contains(' ') {
            continue;
        }
        if command.contains("ecommerce-service ") && !line.needs_aws {
            let (ok, output) = run(command, kind, &values);
            assert!(ok, "{command}:\n{output}");
            if command.contains(" migrate") {
                migrations.push(output);
            }
        } else if command.starts_with("curl ") {
            // Against the service on the migrated data.
            let service = start_with(
                &data_dir,
                &[
                    (
                        "STORE",
                        if kind == EngineKind::Embedded {
                            "embedded"
                        } else {
                            "dynamodb"
                        },
                    ),
                    ("TABLE_NAME", &table),
                    ("NOTIFICATIONS_SOURCE", "off"),
                ],
            );
            values.insert("ENDPOINT", service.address.clone());
            let (ok, output) = run(command, kind, &values);
            assert!(ok, "{command}:\n{output}");
            assert!(
                output.contains("belongs to account ann-account"),
                "{output}"
            );
            curls += 1;
            // Stopped before the next command opens the same data.
            assert!(service.terminate().success());
        } else {
            check_static(line, &values);
        }
    }
    assert_eq!(
        migrations.len(),
        4,
        "dry run, run, run after the switch, orphans"
    );
    // The run after the switch finds nothing left to do, as step 5 says.
    let after_switch: Value = serde_json::from_str(
        migrations[2]
            .lines()
            .find(|line| line.starts_with('{'))
            .expect("a JSON summary"),
    )
    .unwrap();
    assert_eq!(after_switch["counts"]["writes"], 0, "{after_switch}");
    assert_eq!(curls, 1);
}
