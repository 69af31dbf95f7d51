//! The history checker: several service processes on one DynamoDB Local
//! table, each behind a fault front, and concurrent clients doing what the
//! README says, all recorded; then the invariants, on the history and on
//! the table it left. `make test` runs one short fixed-seed run;
//! `make check-histories` runs more seeds and longer (`HISTORY_SEEDS`,
//! `HISTORY_OPERATIONS`, `HISTORY_SECONDS`).
//!
//! On a failure it runs the seed again with fewer operations while it
//! still fails, and prints the shortest failing run's history of what
//! broke, with the command that runs it again.

// The black-box harness every test binary shares (tests/support).
pub use ecommerce_test_support as helpers;

mod check;
mod client;
mod dice;
mod front;
mod history;
mod table;

use std::collections::BTreeMap;
use std::time::Duration;

use tempfile::TempDir;

use check::Violation;
use client::{Client, STATUSES, Shared};
use front::FaultFront;
use helpers::process::{Running, start_with};
use history::{Event, History};

/// One run's shape.
#[derive(Debug, Clone)]
struct Config {
    seed: u64,
    tasks: usize,
    clients: usize,
    operations: usize,
    max_run: Duration,
    /// Percent of DynamoDB requests a front faults.
    fault_rate: u64,
}

/// The services' DynamoDB budget: short, so faults cost little time.
const ATTEMPT_TIMEOUT: Duration = Duration::from_millis(500);
const CALL_BUDGET: Duration = Duration::from_millis(2000);
/// What the service derives from the budget (config::INDEX_LAG_ALLOWANCE).
const SETTLE: Duration = Duration::from_millis(2000 + 2000);

impl Config {
    fn from_env() -> Vec<Config> {
        let number = |name: &str, default: u64| {
            std::env::var(name)
                .ok()
                .map(|raw| {
                    raw.parse::<u64>()
                        .unwrap_or_else(|_| panic!("{name}={raw:?} is not a number"))
                })
                .unwrap_or(default)
        };
        let seeds: Vec<u64> = match std::env::var("HISTORY_SEEDS") {
            Ok(raw) => raw
                .split(',')
                .map(|s| {
                    s.trim()
                        .parse()
                        .expect("HISTORY_SEEDS: numbers, comma-separated")
                })
                .collect(),
            Err(_) => vec![20261203],
        };
        seeds
            .into_iter()
            .map(|seed| Config {
                seed,
                tasks: 3,
                clients: number("HISTORY_CLIENTS", 6) as usize,
                operations: number("HISTORY_OPERATIONS", 240) as usize,
                max_run: Duration::from_secs(number("HISTORY_SECONDS", 60)),
                fault_rate: number("HISTORY_FAULT_PERCENT", 12),
            })
            .collect()
    }

    fn command(&self) -> String {
        format!(
            "HISTORY_SEEDS={} HISTORY_OPERATIONS={} HISTORY_CLIENTS={} HISTORY_FAULT_PERCENT={} make check-histories",
            self.seed, self.operations, self.clients, self.fault_rate
        )
    }
}

/// What one run left to judge.
struct Outcome {
    events: Vec<Event>,
    violations: Vec<Violation>,
    injected: BTreeMap<front::Fault, usize>,
    /// ERROR lines of the tasks' logs.
    errors: Vec<String>,
}

async fn run(config: &Config) -> Outcome {
    let table_name = helpers::unique("histories");
    let upstream = helpers::dynamodb_endpoint();
    let fronts: Vec<FaultFront> = (0..config.tasks)
        .map(|task| {
            let late_by = ATTEMPT_TIMEOUT + Duration::from_millis(250);
            FaultFront::start(
                upstream.clone(),
                config.seed.wrapping_add(task as u64),
                config.fault_rate,
                late_by,
            )
        })
        .collect();
    let data_dirs: Vec<TempDir> = (0..config.tasks).map(|_| TempDir::new().unwrap()).collect();
    let attempt = ATTEMPT_TIMEOUT.as_millis().to_string();
    let budget = CALL_BUDGET.as_millis().to_string();
    // One after another: the first creates the table.
    let tasks: Vec<Running> = fronts
        .iter()
        .zip(&data_dirs)
        .map(|(front, data_dir)| {
            start_with(
                data_dir,
                &[
                    ("STORE", "dynamodb"),
                    ("CREATE_TABLE", "true"),
                    ("TABLE_NAME", &table_name),
                    ("AWS_ENDPOINT_URL_DYNAMODB", &front.endpoint),
                    ("NOTIFICATIONS_SOURCE", "off"),
                    ("DYNAMODB_ATTEMPT_TIMEOUT_MS", &attempt),
                    ("DYNAMODB_TIMEOUT_MS", &budget),
                ],
            )
        })
        .collect();
    let servers: Vec<String> = tasks.iter().map(|task| task.address.clone()).collect();

    let history = History::new();
    let shared = Shared::new(servers, history.clone(), config.operations);
    fronts.iter().for_each(FaultFront::arm);
    let until = history.now() + config.max_run;
    let clients = (0..config.clients)
        .map(|id| Client::new(id, config.seed, std::sync::Arc::clone(&shared)).run(until));
    futures_util::future::join_all(clients).await;

    // Quiet: no faults, and every write that may still land has landed.
    fronts.iter().for_each(FaultFront::disarm);
    tokio::time::sleep(SETTLE + Duration::from_millis(500)).await;
    let mut final_walker = Client::new(usize::MAX, config.seed, std::sync::Arc::clone(&shared));
    for status in STATUSES {
        final_walker.walk(status, 3, false).await;
    }
    let events = history.events();
    let table = table::read(&table_name).await;
    let final_walks = final_walks(&events);
    let judged = check::Run::new(&events, &table, SETTLE, history.began());
    let mut violations = judged.check();
    violations.extend(judged.final_walks_hold_the_table(&final_walks));
    let injected = fronts.iter().fold(BTreeMap::new(), |mut all, front| {
        for (fault, n) in front.injected() {
            *all.entry(fault).or_insert(0) += n;
        }
        all
    });
    // What the tasks logged at ERROR: the cause behind a 500.
    let mut errors = Vec::new();
    for (index, task) in tasks.into_iter().enumerate() {
        let (_, log) = task.terminate_and_read_log();
        errors.extend(
            log.into_iter()
                .filter(|line| line["level"] == "ERROR")
                .map(|line| format!("task {index}: {line}")),
        );
    }
    Outcome {
        events,
        violations,
        injected,
        errors,
    }
}

/// The ids each final walk (the walker's, one per status) returned.
fn final_walks(events: &[Event]) -> BTreeMap<&'static str, Vec<String>> {
    let mut walks = BTreeMap::new();
    for event in events.iter().filter(|e| e.client == usize::MAX) {
        if let history::Request::QueuePage { status, .. } = &event.request {
            walks
                .entry(*status)
                .or_insert_with(Vec::new)
                .extend(check::page_ids(event));
        }
    }
    walks
}

/// Requests by kind and answer, for the log of a run.
fn tally(events: &[Event]) -> String {
    let mut counts: BTreeMap<(&str, String), usize> = BTreeMap::new();
    for event in events {
        let kind = match event.request {
            history::Request::Register { .. } => "register",
            history::Request::Place { .. } => "place",
            history::Request::Move { .. } => "move",
            history::Request::Read { .. } => "read",
            history::Request::QueuePage { .. } => "queue page",
            history::Request::Delete { .. } => "delete",
        };
        let answer = match &event.outcome {
            history::Outcome::Answered { status, body, .. } => match body["error"]["code"].as_str()
            {
                Some(code) => format!("{status} {code}"),
                None => status.to_string(),
            },
            history::Outcome::TimedOut => "timeout".to_owned(),
            history::Outcome::Failed(_) => "failed".to_owned(),
        };
        *counts.entry((kind, answer)).or_insert(0) += 1;
    }
    counts
        .iter()
        .map(|((kind, answer), n)| format!("  {kind:<10} {answer:<34} {n}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn report(config: &Config, outcome: &Outcome) -> String {
    let mut text = format!(
        "seed {} with {} operations broke {} invariant check(s); run it again with:\n  {}\n",
        config.seed,
        config.operations,
        outcome.violations.len(),
        config.command()
    );
    if !outcome.errors.is_empty() {
        text.push_str("\nThe tasks logged at ERROR:\n");
        for line in outcome.errors.iter().take(10) {
            text.push_str(&format!("  {line}\n"));
        }
    }
    for violation in outcome.violations.iter().take(5) {
        text.push_str(&format!(
            "\n{}: {}\n{}\n",
            violation.invariant,
            violation.detail,
            history::excerpt(&outcome.events, &violation.entities)
        ));
    }
    text
}

/// Runs `config`'s seed again with half the operations while it still
/// fails (a few times at most): the shortest failing run it found.
async fn shrink(config: &Config, failed: Outcome) -> (Config, Outcome) {
    let (mut best_config, mut best) = (config.clone(), failed);
    for _ in 0..3 {
        let mut smaller = best_config.clone();
        smaller.operations /= 2;
        if smaller.operations < 10 {
            break;
        }
        let outcome = run(&smaller).await;
        if outcome.violations.is_empty() {
            break;
        }
        (best_config, best) = (smaller, outcome);
    }
    (best_config, best)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn histories_of_several_tasks_behind_faults_keep_every_invariant() {
    for config in Config::from_env() {
        let outcome = run(&config).await;
        let answered = outcome
            .events
            .iter()
            .filter(|e| e.acked().is_some())
            .count();
        println!(
            "seed {}: {} requests ({} answered 2xx), faults injected {:?}\n{}",
            config.seed,
            outcome.events.len(),
            answered,
            outcome.injected,
            tally(&outcome.events)
        );
        // A run that did nothing, or met no fault, proves nothing.
        assert!(
            answered >= config.operations / 4,
            "too little got done: {answered} answered"
        );
        assert!(
            outcome.injected.len() >= 4,
            "too few kinds of fault: {:?}",
            outcome.injected
        );
        if !outcome.violations.is_empty() {
            let (config, outcome) = shrink(&config, outcome).await;
            panic!("{}", report(&config, &outcome));
        }
    }
}
