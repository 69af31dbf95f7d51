//! The real binary as an operator runs it: started with settings in its
//! environment, read through its JSON log, stopped with signals.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;
use tempfile::TempDir;

use super::Api;

/// The service binary cargo built for the test that runs: beside the
/// test's own executable's directory (`target/<profile>/deps/<test>`), as
/// `target/<profile>/ecommerce-service`. Cargo builds a package's binaries
/// before its integration tests; only those tests see `CARGO_BIN_EXE_*`,
/// not this library they share.
pub fn binary() -> &'static str {
    static BINARY: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        let test = std::env::current_exe().expect("the test's own path");
        let profile_dir = test
            .parent()
            .and_then(std::path::Path::parent)
            .expect("a test executable in target/<profile>/deps");
        let binary = profile_dir.join("ecommerce-service");
        assert!(binary.is_file(), "{} was not built", binary.display());
        binary.to_string_lossy().into_owned()
    });
    &BINARY
}

pub struct Running {
    child: Child,
    pub address: String,
    log: mpsc::Receiver<Value>,
}

/// Starts the binary on port 0 and reads the chosen port from its JSON log.
pub fn start(data_dir: &TempDir) -> Running {
    start_with(data_dir, &[])
}

pub fn start_with(data_dir: &TempDir, settings: &[(&str, &str)]) -> Running {
    let budget = super::EMULATOR_TIMEOUTS;
    let mut child = Command::new(binary())
        // As the in-process apps: a slow emulator is not a fault, unless a
        // test sets its own budget.
        .env(
            "DYNAMODB_ATTEMPT_TIMEOUT_MS",
            budget.attempt.as_millis().to_string(),
        )
        .env("DYNAMODB_TIMEOUT_MS", budget.call.as_millis().to_string())
        // As the in-process apps: the suite races the service from one
        // address on a busy debug build, which the overload gates would
        // rightly refuse; tests/api/overload.rs and the gates' own tests
        // turn them on.
        .env("ADMISSION", "off")
        .env("RATE_LIMIT", "off")
        .envs(settings.iter().copied())
        .env("PORT", "0")
        .env("HOST", "127.0.0.1")
        .env("DATA_DIR", data_dir.path())
        .env("LOG_FORMAT", "json")
        .env("SHUTDOWN_TIMEOUT", "5")
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let stdout = child.stdout.take().unwrap();
    let (line_tx, log) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = line_tx.send(serde_json::from_str(&line).unwrap_or_default());
        }
    });
    let mut running = Running {
        child,
        address: String::new(),
        log,
    };
    let listening = running.wait_for_log(|event| event["message"] == "listening");
    running.address = format!("http://127.0.0.1:{}", listening["port"]);
    running
}

/// Starts the binary on the DynamoDB engine, with a table of its own
/// (created at start-up) behind `endpoint` (the emulator, or a proxy in
/// front of it). Returns the table's name with it.
pub fn start_on_dynamodb(
    data_dir: &TempDir,
    endpoint: &str,
    settings: &[(&str, &str)],
) -> (Running, String) {
    let table = super::unique("table");
    let mut all = vec![
        ("STORE", "dynamodb"),
        ("CREATE_TABLE", "true"),
        ("TABLE_NAME", table.as_str()),
        ("AWS_ENDPOINT_URL_DYNAMODB", endpoint),
        ("NOTIFICATIONS_SOURCE", "off"),
    ];
    all.extend_from_slice(settings);
    (start_with(data_dir, &all), table)
}

impl Running {
    /// Its API, as a client sees it.
    pub fn api(&self) -> Api {
        Api::new(self.address.clone())
    }

    /// The next JSON log line that `wanted` accepts, within 20 s.
    pub fn wait_for_log(&self, wanted: impl Fn(&Value) -> bool) -> Value {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let event = self.log.recv_timeout(left).expect("the awaited log line");
            if wanted(&event) {
                return event;
            }
        }
    }

    pub fn terminate(mut self) -> std::process::ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        self.child.wait().unwrap()
    }

    /// SIGTERM, then every JSON log line written since the last one read.
    pub fn terminate_and_read_log(mut self) -> (std::process::ExitStatus, Vec<Value>) {
        let log = std::mem::replace(&mut self.log, mpsc::channel().1);
        let status = self.terminate();
        // The reader thread ends with the process's stdout.
        (status, log.iter().collect())
    }

    /// `kill -9`: no chance to finish anything.
    pub fn crash(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}
