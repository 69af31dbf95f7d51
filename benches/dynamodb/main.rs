//! A tool of the benchmark harness (benches/api.py), not of the service:
//!
//! - `bench-dynamodb serve`: a fake DynamoDB on a free loopback port, which
//!   it names on stdout ("listening on 127.0.0.1:<port>");
//! - `bench-dynamodb floor <endpoint> <calls> [no-timeouts]
//!   [no-stalled-stream-protection] [client-per-thread]`: the SDK's own cost per call against
//!   it, in a bare loop, configured as the service configures it unless told.
//!
//! Built as a Cargo example so it lands at a stable path
//! (target/<profile>/examples/bench-dynamodb).

mod expression;
mod fake;
mod floor;

/// The service's allocator, so the floor is measured as the service runs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["serve"] => Ok(fake::serve()?),
        ["floor", endpoint, calls, flags @ ..] => {
            let setup = floor::Setup {
                timeouts: !flags.contains(&"no-timeouts"),
                stalled_stream_protection: !flags.contains(&"no-stalled-stream-protection"),
                client_per_thread: flags.contains(&"client-per-thread"),
            };
            floor::run(endpoint, calls.parse()?, setup)?;
            Ok(())
        }
        _ => Err(
            "usage: bench-dynamodb serve | floor <endpoint> <calls> [no-timeouts] \
                  [no-stalled-stream-protection] [client-per-thread]"
                .into(),
        ),
    }
}
