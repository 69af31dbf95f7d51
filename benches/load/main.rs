//! A load generator for benches/overload.py that behaves as a well-behaved
//! client does: a 503 or 429 makes the connection wait the answer's
//! `Retry-After` before its next request. wrk cannot measure that at scale:
//! its `delay()` puts every request on its event loop's timer list, which it
//! walks on every turn, so thousands of waiting connections cost wrk more
//! than the service (the first overload runs showed wrk, not the service,
//! as the bottleneck).
//!
//! ```text
//! bench-load <host:port> <data file> <connections> <warm-up s> <seconds> <pace ms> <tokens file | -> <honour 1 | 0>
//! ```
//!
//! Each connection sends `GET /users/<a seeded user>` over one keep-alive
//! connection, waiting `pace ms` before each request; with a tokens file,
//! connection n sends the n-th token (round robin), so each connection is a
//! caller. Answers during the warm-up (which opens the connections: thousands
//! opened at once wait in the listen backlog) are not counted. Prints one
//! JSON line: every answer's latency percentiles, the
//! admitted (2xx) ones', refusals, socket errors (a connect or read that
//! failed, or an answer slower than 2 s), and the same per second.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// As wrk's default: an answer slower than this is a socket error.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(2);

struct Plan {
    address: String,
    users: Vec<String>,
    tokens: Vec<String>,
    pace: Duration,
    honour: bool,
    /// When counting starts (after the warm-up).
    started: Instant,
    until: Instant,
}

/// One answer: the second it came in, its latency and its status (0: a
/// socket error).
type Answer = (u32, u32, u16);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [
        address,
        data,
        connections,
        warmup,
        seconds,
        pace,
        tokens,
        honour,
    ] = args.as_slice()
    else {
        return Err(
            "usage: bench-load <host:port> <data file> <connections> <warm-up s> <seconds> \
                    <pace ms> <tokens file | -> <honour 1 | 0>"
                .into(),
        );
    };
    let users = std::fs::read_to_string(data)?
        .lines()
        .filter_map(|line| line.strip_prefix("user "))
        .map(str::to_owned)
        .collect();
    let tokens = match tokens.as_str() {
        "-" => Vec::new(),
        path => std::fs::read_to_string(path)?
            .lines()
            .map(str::to_owned)
            .collect(),
    };
    let connections: usize = connections.parse()?;
    let started = Instant::now() + Duration::from_secs(warmup.parse()?);
    let plan = Arc::new(Plan {
        address: address.clone(),
        users,
        tokens,
        pace: Duration::from_millis(pace.parse()?),
        honour: honour == "1",
        started,
        until: started + Duration::from_secs(seconds.parse()?),
    });
    // Two threads, as the other benchmarks give wrk.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let answers: Vec<Answer> = runtime.block_on(async {
        let tasks: Vec<_> = (0..connections)
            .map(|n| tokio::spawn(connection(Arc::clone(&plan), n)))
            .collect();
        let mut all = Vec::new();
        for task in tasks {
            all.extend(task.await.unwrap_or_default());
        }
        all
    });
    println!("{}", summary(&answers, plan.until - plan.started));
    Ok(())
}

async fn connection(plan: Arc<Plan>, n: usize) -> Vec<Answer> {
    let token = (!plan.tokens.is_empty()).then(|| plan.tokens[n % plan.tokens.len()].clone());
    let mut answers = Vec::new();
    let mut stream: Option<BufReader<TcpStream>> = None;
    while Instant::now() < plan.until {
        if !plan.pace.is_zero() {
            tokio::time::sleep(plan.pace).await;
        }
        let sent = Instant::now();
        let counted = sent >= plan.started;
        let second = sent.saturating_duration_since(plan.started).as_secs() as u32;
        let open = match stream.take() {
            Some(open) => Ok(open),
            None => TcpStream::connect(&plan.address).await.map(BufReader::new),
        };
        let outcome = match open {
            Ok(mut open) => {
                let user = &plan.users[fastrand::usize(..plan.users.len())];
                let answer =
                    tokio::time::timeout(ANSWER_TIMEOUT, ask(&mut open, user, token.as_deref()))
                        .await;
                match answer {
                    Ok(Ok(answer)) => {
                        stream = Some(open);
                        Some(answer)
                    }
                    _ => None,
                }
            }
            Err(_) => None,
        };
        let latency = sent.elapsed().as_micros() as u32;
        match outcome {
            Some((status, retry_after)) => {
                if counted {
                    answers.push((second, latency, status));
                }
                if plan.honour && (status == 503 || status == 429) {
                    let wait = Duration::from_secs(retry_after.unwrap_or(1));
                    tokio::time::sleep(
                        wait.min(plan.until.saturating_duration_since(Instant::now())),
                    )
                    .await;
                }
            }
            None if counted => answers.push((second, latency, 0)),
            None => {}
        }
    }
    answers
}

/// One request on an open connection: its status and `Retry-After`.
async fn ask(
    stream: &mut BufReader<TcpStream>,
    user: &str,
    token: Option<&str>,
) -> std::io::Result<(u16, Option<u64>)> {
    let authorization = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let request = format!("GET /users/{user} HTTP/1.1\r\nHost: bench\r\n{authorization}\r\n");
    stream.get_mut().write_all(request.as_bytes()).await?;
    let mut line = String::new();
    let (mut status, mut length, mut retry_after) = (0u16, 0usize, None);
    loop {
        line.clear();
        if stream.read_line(&mut line).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some(rest) = header.strip_prefix("HTTP/1.1 ") {
            status = rest
                .get(..3)
                .and_then(|code| code.parse().ok())
                .unwrap_or(0);
        } else if let Some((name, value)) = header.split_once(':') {
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = value.parse().unwrap_or(0);
            } else if name.eq_ignore_ascii_case("retry-after") {
                retry_after = value.parse().ok();
            }
        }
    }
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).await?;
    Ok((status, retry_after))
}

fn percentiles(mut latencies: Vec<u32>) -> serde_json::Value {
    if latencies.is_empty() {
        return serde_json::Value::Null;
    }
    latencies.sort_unstable();
    let at =
        |share: f64| latencies[((latencies.len() - 1) as f64 * share) as usize] as f64 / 1000.0;
    let mean = latencies.iter().map(|&l| f64::from(l)).sum::<f64>() / latencies.len() as f64;
    json!({
        "p50_ms": at(0.50), "p99_ms": at(0.99), "p999_ms": at(0.999), "max_ms": at(1.0),
        "mean_ms": mean / 1000.0,
    })
}

fn summary(answers: &[Answer], duration: Duration) -> serde_json::Value {
    let seconds = duration.as_secs_f64();
    let ok = |status: u16| (200..300).contains(&status);
    let refused = |status: u16| status == 503 || status == 429;
    let count = |wanted: &dyn Fn(u16) -> bool| answers.iter().filter(|a| wanted(a.2)).count();
    let mut per_second: BTreeMap<u32, Vec<Answer>> = BTreeMap::new();
    for answer in answers {
        per_second.entry(answer.0).or_default().push(*answer);
    }
    let series: Vec<_> = per_second
        .into_iter()
        .map(|(second, answers)| {
            let admitted: Vec<u32> = answers.iter().filter(|a| ok(a.2)).map(|a| a.1).collect();
            json!({
                "second": second,
                "ok": admitted.len(),
                "refused": answers.iter().filter(|a| refused(a.2)).count(),
                "socket_errors": answers.iter().filter(|a| a.2 == 0).count(),
                "admitted": percentiles(admitted),
            })
        })
        .collect();
    let answered: Vec<u32> = answers.iter().filter(|a| a.2 != 0).map(|a| a.1).collect();
    let admitted: Vec<u32> = answers.iter().filter(|a| ok(a.2)).map(|a| a.1).collect();
    json!({
        "ok_per_second": (count(&ok) as f64 / seconds).round(),
        "refused_per_second": (count(&refused) as f64 / seconds).round(),
        "other_statuses": count(&|s| s != 0 && !ok(s) && !refused(s)),
        "socket_errors": count(&|s| s == 0),
        "answered": percentiles(answered),
        "admitted": percentiles(admitted),
        "series": series,
    })
}
